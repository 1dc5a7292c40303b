//! Bulk offboarding through the real operator at the rate-limit bound (throughput at the bound,
//! calls per offboarding, and a race with the tutorial script). Starts the fake Kubernetes API server, the Genesys Cloud emulator with a
//! demo-org-like organization of N agents (per-token limit `--rate-limit` per minute, optional
//! `--latency-ms`), and the real operator in this process (one OAuth client: every offboarding
//! shares its one budget, and the client's limiter paces them); creates N offboardings, waits
//! until all are Ready (or the deadline), and prints the calls per offboarding (by operation),
//! the failures (resources not Ready, 429 answers), the time taken, the bound (API calls ÷ rate
//! limit) and, last, `ratio-to-bound: R` (bound ÷ time taken).
//!
//! ```text
//! cargo run --release --example bulk -- --resources 1000 --rate-limit 6000
//! cargo run --release --example bulk -- --resources 50 --rate-limit 300 --latency-ms 100 --peer
//! ```
//! `--peer` then runs `tests/sdk/peer_offboard.py` (the tutorial's way, with the official Python
//! SDK, from `.tools/venv`; `scripts/test` installs it) on a fresh emulator with the same
//! settings, and prints both times, the peer's failures and the ratio.

// A benchmark: long straight-line mains, counts printed as floats.
#![allow(clippy::too_many_lines, clippy::cast_precision_loss)]

#[path = "support/org.rs"]
mod org;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use fake_apiserver::FakeApiServer;
use futures::{StreamExt, TryStreamExt};
use genesys_cloud::AllowedEndpoint;
use genesys_emulator::{RecordedRequest, Sim};
use genesys_offboarding_operator::controller::{Operator, Settings};
use genesys_offboarding_operator::crd::{GenesysUserOffboarding, condition};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use serde_json::json;

const NS: &str = "default";
const SECRET: &str = "genesys-credentials";

#[derive(Debug, Parser)]
#[command(about = "Bulk offboarding through the real operator at the rate-limit bound")]
struct Args {
    /// Offboardings to run (agents in the emulated org).
    #[arg(long)]
    resources: usize,
    /// The emulator's per-token limit, and the operator's budget per OAuth client, per minute.
    #[arg(long, default_value_t = 300)]
    rate_limit: u32,
    /// Latency the emulator adds to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The operator's `--concurrency`.
    #[arg(long, default_value_t = 32)]
    concurrency: u16,
    /// The operator's `--max-passes-per-org` (default: half of `--concurrency`). Every
    /// offboarding here is of one organization, so this bounds the passes in flight.
    #[arg(long)]
    max_passes_per_org: Option<u16>,
    /// Give up waiting after this many seconds (default: three times the bound, plus a minute).
    #[arg(long)]
    deadline_secs: Option<u64>,
    /// Also run the Python-SDK peer on a fresh emulator and compare.
    #[arg(long)]
    peer: bool,
    /// Run the emulator on its realistic profile (every unkind behaviour of the real service on).
    #[arg(long)]
    realistic: bool,
    /// Every offboarding hands the agent's work to one successor (`spec.handoff.successor`, a
    /// user of the org who is not offboarded); the agents have nothing to hand off, so this
    /// measures what looking for it costs.
    #[arg(long)]
    handoff: bool,
}

/// The successor of `--handoff`.
const SUCCESSOR_EMAIL: &str = "successor@bulk.example.com";

/// What the emulator saw during one run.
struct Calls {
    api: usize,
    oauth: usize,
    rate_limited: usize,
    by_operation: BTreeMap<String, usize>,
}

impl Calls {
    fn of(requests: &[RecordedRequest]) -> Self {
        let mut by_operation = BTreeMap::new();
        let mut api = 0;
        for r in requests.iter().filter(|r| r.path.starts_with("/api/v2/")) {
            api += 1;
            let name = r
                .operation
                .clone()
                .unwrap_or_else(|| format!("{} {}", r.method, r.path));
            *by_operation.entry(name).or_insert(0) += 1;
        }
        Self {
            api,
            oauth: requests
                .iter()
                .filter(|r| r.path.starts_with("/oauth/"))
                .count(),
            rate_limited: requests.iter().filter(|r| r.status == 429).count(),
            by_operation,
        }
    }

    #[allow(clippy::cast_precision_loss)]
    fn per_offboarding(&self, n: usize) -> String {
        let n = n.max(1) as f64;
        let steps: Vec<String> = self
            .by_operation
            .iter()
            .map(|(op, count)| format!("{op} {:.2}", *count as f64 / n))
            .collect();
        format!("{:.2} ({})", self.api as f64 / n, steps.join(", "))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let n = args.resources;
    let mut fixture = org::fixture(n, args.rate_limit, args.latency_ms)?;
    if args.realistic {
        fixture = fixture.with_profile(genesys_emulator::fixture::Profile::Realistic);
    }
    if args.handoff {
        fixture.users.push(serde_json::from_value(json!({
            "id": "6b000000-0000-4000-8000-5cce55000000",
            "name": "Successor",
            "email": SUCCESSOR_EMAIL,
            "version": 1,
        }))?);
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "bulk: {n} offboardings, rate limit {}/min, latency {} ms, concurrency {}, {cores} cores{}",
        args.rate_limit,
        args.latency_ms,
        args.concurrency,
        if args.handoff { ", handoff to one successor" } else { "" }
    );

    // Arrange: the API server with the CRD and the Secret, the emulator, the operator.
    let sim = Sim::start(fixture.clone()).await?;
    let api = FakeApiServer::start().await?;
    let crd = std::fs::read_to_string(repo().join("crds/genesysuseroffboardings.yaml"))?;
    api.load_yaml(&crd)?;
    let client = api.kube_client();
    create_secret(&client).await?;
    let operator = Operator::new(
        client.clone(),
        Settings {
            concurrency: args.concurrency,
            genesys_rate_limit: args.rate_limit,
            // The resources name the emulator's base URL: allow exactly its host and port.
            allowed_endpoints: AllowedEndpoint::of(&sim.base_url()).into_iter().collect(),
            max_passes_per_org: args.max_passes_per_org,
            ..Settings::default()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(operator.run(async move {
        let _ = stopped.await;
    }));

    // Act: apply N offboardings, wait until every one is Ready.
    let started = Instant::now();
    let base = sim.base_url().to_string();
    let handoff = args
        .handoff
        .then(|| json!({"successor": {"email": SUCCESSOR_EMAIL}}));
    let resources: Api<GenesysUserOffboarding> = Api::namespaced(client.clone(), NS);
    futures::stream::iter(0..n)
        .map(|i| {
            let (resources, base, handoff) = (&resources, &base, &handoff);
            async move {
                let mut resource = json!({
                    "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
                    "kind": "GenesysUserOffboarding",
                    "metadata": {"name": format!("agent-{i}"), "namespace": NS},
                    "spec": {
                        "user": {"email": org::email(i)},
                        "credentialsSecretRef": {"name": SECRET},
                        "apiBaseUrl": base, "loginBaseUrl": base,
                    },
                });
                if let Some(handoff) = handoff {
                    resource["spec"]["handoff"] = handoff.clone();
                }
                let resource: GenesysUserOffboarding = serde_json::from_value(resource)?;
                resources.create(&PostParams::default(), &resource).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    let applied = started.elapsed();
    // Printed at once: a run that never finishes still shows how far it got.
    println!("applied: {n} resources in {:.1} s", applied.as_secs_f64());
    let bound_estimate =
        Duration::from_secs_f64(n as f64 * 15.0 * 60.0 / f64::from(args.rate_limit));
    let deadline = args.deadline_secs.map_or(
        bound_estimate * 3 + Duration::from_secs(60),
        Duration::from_secs,
    );
    let ready = AtomicUsize::new(0);
    let _ = tokio::time::timeout_at(
        tokio::time::Instant::from_std(started + deadline),
        wait_ready(&resources, n, &ready),
    )
    .await;
    let ready = ready.load(Ordering::Relaxed);
    let taken = started.elapsed();
    let _ = stop.send(());
    match tokio::time::timeout(Duration::from_secs(30), running).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => bail!("the operator failed: {e}"),
        Ok(Err(e)) => bail!("the operator panicked: {e}"),
        Err(_) => eprintln!("the operator did not stop within 30 s"),
    }

    // Assert (print): calls, failures, time, bound.
    let calls = Calls::of(&sim.requests());
    let bound = Duration::from_secs_f64(calls.api as f64 * 60.0 / f64::from(args.rate_limit));
    let ratio = bound.as_secs_f64() / taken.as_secs_f64();
    println!("calls per offboarding: {}", calls.per_offboarding(n));
    println!(
        "calls: {} API calls, {} token requests",
        calls.api, calls.oauth
    );
    println!(
        "failed: {} not Ready, {} responses 429",
        n - ready,
        calls.rate_limited
    );
    println!("time taken: {:.1} s", taken.as_secs_f64());
    println!(
        "bound: {:.1} s ({} API calls / {} per minute)",
        bound.as_secs_f64(),
        calls.api,
        args.rate_limit
    );
    sim.shutdown().await;
    api.shutdown().await;

    if args.peer {
        peer(n, fixture, taken).await?;
    }
    println!("ratio-to-bound: {ratio:.3}");
    Ok(())
}

/// The tutorial's way, on a fresh emulator with the same settings.
async fn peer(
    n: usize,
    fixture: genesys_emulator::fixture::Fixture,
    operator_took: Duration,
) -> anyhow::Result<()> {
    let python = repo().join(".tools/venv/bin/python");
    if !python.exists() {
        bail!(
            "{} is missing: run scripts/test once to install the Python SDK",
            python.display()
        );
    }
    let sim = Sim::start(fixture).await?;
    let started = Instant::now();
    let output = tokio::process::Command::new(&python)
        .arg(repo().join("tests/sdk/peer_offboard.py"))
        .arg("--base-url")
        .arg(sim.base_url().as_str())
        .arg("--users")
        .arg(n.to_string())
        .output()
        .await
        .context("failed to run the Python peer")?;
    let taken = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .with_context(|| {
            format!(
                "the peer printed no summary; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let calls = Calls::of(&sim.requests());
    let inactive = (0..n)
        .filter(|i| {
            sim.user(&org::user_id(*i))
                .is_some_and(|u| u["state"] == "inactive")
        })
        .count();
    sim.shutdown().await;
    println!("peer calls per offboarding: {}", calls.per_offboarding(n));
    println!(
        "peer failed: {} of {n} (of which 429: {}); users inactive after the peer: {inactive}; 429 responses seen: {}",
        summary["failed"], summary["rate_limited"], calls.rate_limited
    );
    println!(
        "peer time taken: {:.1} s; operator: {:.1} s; peer ÷ operator: {:.2}",
        taken.as_secs_f64(),
        operator_took.as_secs_f64(),
        taken.as_secs_f64() / operator_took.as_secs_f64()
    );
    Ok(())
}

async fn create_secret(client: &kube::Client) -> anyhow::Result<()> {
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": NS},
        "stringData": {"clientId": "demo-client", "clientSecret": "demo-secret"},
    }))?;
    Api::<Secret>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &secret)
        .await?;
    Ok(())
}

/// Waits until `n` offboardings are Ready, from one watch of the resources: each change is
/// read once. (Listing every resource with its status four times a second cost a core at
/// N=1000 and slowed the operator it measures.)
async fn wait_ready(resources: &Api<GenesysUserOffboarding>, n: usize, count: &AtomicUsize) {
    let mut ready = std::collections::HashSet::new();
    let mut events = std::pin::pin!(watcher(resources.clone(), watcher::Config::default()));
    while let Some(event) = events.next().await {
        let mut note = |r: &GenesysUserOffboarding| {
            let done = r
                .status
                .as_ref()
                .and_then(|s| s.condition(condition::READY))
                .is_some_and(|c| c.status == "True");
            let name = r.metadata.name.clone().unwrap_or_default();
            if done {
                ready.insert(name);
            } else {
                ready.remove(&name);
            }
        };
        match event {
            Ok(watcher::Event::Apply(r) | watcher::Event::InitApply(r)) => note(&r),
            Ok(watcher::Event::Delete(r)) => {
                ready.remove(&r.metadata.name.clone().unwrap_or_default());
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => {}
            Err(e) => eprintln!("watch: {e}"),
        }
        count.store(ready.len(), Ordering::Relaxed);
        if ready.len() == n {
            return;
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}
