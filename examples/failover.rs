//! Failover with many finished offboardings: two replicas of the REAL release binary with leader
//! election against the fake API server holding `--resources` `Ready` offboardings (default
//! 10,000, arranged as in `examples/memory.rs`). Once the first replica leads and the second has
//! stood by for `--standby-secs`, the leader is killed with SIGKILL (it cannot release the
//! Lease) and a new offboarding is applied at once. Prints the time from the kill until the new
//! resource is `Ready` (target: at most the lease duration + 10 s), the Genesys calls made for
//! the already-Ready resources from the kill until `--settle-secs` after that (target: 0), and
//! the standby's resident memory before and after it took over (its cache is kept warm).
//!
//! ```text
//! cargo build --release --bin genesys-offboarding
//! cargo run --release --example failover -- --resources 10000
//! ```
//!
//! The Lease settings are the operator's: 15 s leases, renewed 5 s before they expire.

// A benchmark: long straight-line mains.
#![allow(clippy::too_many_lines, clippy::cast_precision_loss)]

#[path = "support/org.rs"]
mod org;
#[path = "support/ready.rs"]
mod ready;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use fake_apiserver::FakeApiServer;
use genesys_cloud::AllowedEndpoint;
use genesys_emulator::{RecordedRequest, Sim};
use genesys_offboarding_operator::crd::{GenesysUserOffboarding, condition};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::process::{Child, Command};

const NS: &str = "default";
const SECRET: &str = "genesys-credentials";
/// The operator's default Lease name.
const LEASE: &str = "genesys-offboarding-operator";
/// The operator's lease duration (`LeaderElection::new`).
const LEASE_DURATION: Duration = Duration::from_secs(15);

#[derive(Debug, Parser)]
#[command(about = "Failover time and Genesys calls with many Ready offboardings")]
struct Args {
    /// Ready offboardings in the API server.
    #[arg(long, default_value_t = 10_000)]
    resources: usize,
    /// How long the standby runs before the leader is killed (its cache fills meanwhile).
    #[arg(long, default_value_t = 30)]
    standby_secs: u64,
    /// How long to keep counting Genesys calls after the new offboarding is Ready.
    #[arg(long, default_value_t = 20)]
    settle_secs: u64,
}

/// One replica of the real binary.
struct Replica {
    name: &'static str,
    child: Child,
    admin: SocketAddr,
}

impl Replica {
    fn start(
        name: &'static str,
        binary: &std::path::Path,
        kubeconfig: &std::path::Path,
        allowed: &str,
    ) -> anyhow::Result<Self> {
        let admin = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.local_addr()?
        };
        let child = Command::new(binary)
            .args([
                "run",
                "--namespace",
                NS,
                "--leader-election",
                "--lease-namespace",
                NS,
                "--admin-listen",
                &admin.to_string(),
                "--allowed-endpoint",
                allowed,
            ])
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", name)
            .env("RUST_LOG", "warn")
            .env("MALLOC_ARENA_MAX", "2")
            .env("MALLOC_MMAP_THRESHOLD_", "131072")
            .env_remove("ALLOWED_ENDPOINTS")
            .env_remove("WATCH_NAMESPACES")
            .env_remove("LEADER_ELECTION")
            .env_remove("POD_NAMESPACE")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("failed to start {name}"))?;
        Ok(Self { name, child, admin })
    }

    fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the replica has exited")
    }

    /// Waits until `/readyz` answers 200 (a leader: cache synced; a standby: at once).
    async fn ready(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let url = format!("http://{}/readyz", self.admin);
        loop {
            if reqwest::get(&url)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(180) {
                bail!("{} never became ready", self.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binary = ready::operator_binary()?;
    // Agent 0 is the user of every Ready offboarding; agent 1 is offboarded after the kill.
    let sim = Sim::start(org::fixture(2, 0, 0)?).await?;
    let api = FakeApiServer::start().await?;
    api.load_yaml(&std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/genesysuseroffboardings.yaml"),
    )?)?;
    let client = api.kube_client();
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": NS},
        "stringData": {"clientId": "demo-client", "clientSecret": "demo-secret"},
    }))?;
    Api::<Secret>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &secret)
        .await?;
    let base = sim.base_url().to_string();
    let spec = |agent: usize| {
        json!({
            "user": {"email": org::email(agent)},
            "credentialsSecretRef": {"name": SECRET},
            "apiBaseUrl": base, "loginBaseUrl": base,
        })
    };
    let started = Instant::now();
    ready::create(&client, NS, &spec(0), args.resources).await?;
    println!(
        "failover: {} Ready offboardings created in {:.1} s",
        args.resources,
        started.elapsed().as_secs_f64()
    );

    // Two replicas: the first leads once its cache synced; the second stands by.
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig_yaml())?;
    let allowed = AllowedEndpoint::of(&sim.base_url())
        .context("the emulator's URL has no host")?
        .to_string();
    let leases: Api<Lease> = Api::namespaced(client.clone(), NS);
    let mut first = Replica::start("replica-a", &binary, &kubeconfig, &allowed)?;
    let launched = Instant::now();
    while holder(&leases).await?.as_deref() != Some(first.name) {
        if launched.elapsed() > Duration::from_secs(60) {
            bail!("the first replica never took the Lease");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A leader is ready once its cache has synced.
    first.ready().await?;
    let synced = launched.elapsed();
    println!(
        "{} leads, cache synced after {:.1} s",
        first.name,
        synced.as_secs_f64()
    );
    let second = Replica::start("replica-b", &binary, &kubeconfig, &allowed)?;
    second.ready().await?;
    tokio::time::sleep(Duration::from_secs(args.standby_secs)).await;
    let (rss, hwm) = ready::memory(second.pid()?)?;
    println!(
        "{} stood by for {} s: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        second.name,
        args.standby_secs,
        ready::mib(rss),
        ready::mib(hwm)
    );

    // Act: SIGKILL the leader, apply a new offboarding at once.
    let before = sim.requests().len();
    first.child.start_kill()?;
    let killed = Instant::now();
    let resources: Api<GenesysUserOffboarding> = Api::namespaced(client.clone(), NS);
    let resource: GenesysUserOffboarding = serde_json::from_value(json!({
        "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
        "kind": "GenesysUserOffboarding",
        "metadata": {"name": "after-failover", "namespace": NS},
        "spec": spec(1),
    }))?;
    resources.create(&PostParams::default(), &resource).await?;
    let mut took_over = None;
    let reconciled = loop {
        if took_over.is_none() && holder(&leases).await?.as_deref() == Some(second.name) {
            took_over = Some(killed.elapsed());
        }
        let current = resources.get("after-failover").await?;
        if current
            .status
            .as_ref()
            .and_then(|s| s.condition(condition::READY))
            .is_some_and(|c| c.status == "True")
        {
            break killed.elapsed();
        }
        if killed.elapsed() > Duration::from_secs(180) {
            bail!("the new offboarding was not Ready 180 s after the kill");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = first.child.wait().await;
    tokio::time::sleep(Duration::from_secs(args.settle_secs)).await;
    let (rss, hwm) = ready::memory(second.pid()?)?;
    let requests: Vec<RecordedRequest> = sim.requests().into_iter().skip(before).collect();
    let api_calls = |keep: &dyn Fn(&RecordedRequest) -> bool| {
        requests
            .iter()
            .filter(|r| r.path.starts_with("/api/v2/") && keep(r))
            .count()
    };
    let (id0, email0) = (org::user_id(0), org::email(0));
    let for_ready = api_calls(&|r| touches(r, &id0) || touches(r, &email0));
    let total = api_calls(&|_| true);
    drop(second);

    println!(
        "lease: {} s, renewed 5 s before it expires",
        LEASE_DURATION.as_secs()
    );
    println!(
        "standby took the Lease {:.1} s after the kill",
        took_over.unwrap_or(reconciled).as_secs_f64()
    );
    println!(
        "new offboarding Ready {:.1} s after the kill (target: at most {} s)",
        reconciled.as_secs_f64(),
        (LEASE_DURATION + Duration::from_secs(10)).as_secs()
    );
    println!(
        "Genesys API calls from the kill until {} s after: {total}, of which for the {} already-Ready offboardings: {for_ready} (target: 0)",
        args.settle_secs, args.resources
    );
    println!(
        "standby after taking over: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        ready::mib(rss),
        ready::mib(hwm)
    );
    Ok(())
}

/// The Lease's holder.
async fn holder(leases: &Api<Lease>) -> anyhow::Result<Option<String>> {
    Ok(leases
        .get_opt(LEASE)
        .await?
        .and_then(|lease| lease.spec)
        .and_then(|spec| spec.holder_identity))
}

/// Whether a Genesys request names `what` (in its path, query or body).
fn touches(request: &RecordedRequest, what: &str) -> bool {
    request.path.contains(what)
        || request.query.contains(what)
        || request.query.contains(&what.replace('@', "%40"))
        || request
            .body
            .as_ref()
            .is_some_and(|b| b.to_string().contains(what))
}
