//! Operator memory with many finished offboardings watched (target: under 64 MiB with 10,000).
//!
//! Offboards one agent for real (in this process: fake API server, emulator, operator) to get a
//! genuine `Ready` status, copies that status onto `--resources` offboardings (default 10,000)
//! with the next drift check a month away, then runs the REAL binary
//! (`target/release/genesys-offboarding run`, build it first) against the fake API server and
//! prints its resident memory (`VmRSS`, and the peak `VmHWM`, from `/proc/<pid>/status`) once
//! its cache has synced (`/readyz`) and again after `--settle-secs` (default 60), plus the
//! Genesys requests it made (none are needed: the batched drift checks stand in for the
//! finished offboardings' passes).
//!
//! ```text
//! cargo build --release --bin genesys-offboarding
//! cargo run --release --example memory -- --resources 10000
//! cargo run --release --example memory -- --resources 10000 --image-env
//! ```
//!
//! The operator runs with this process's environment; `--image-env` adds the glibc malloc
//! settings of the image and the Helm chart ([`IMAGE_ENV`]). To profile, `--hold PATH` arranges
//! the resources and serves them until Ctrl-C without starting the operator: run it yourself
//! with `KUBECONFIG=PATH`, e.g. under heaptrack.

// A benchmark: long straight-line mains, counts printed as floats.
#![allow(clippy::too_many_lines, clippy::cast_precision_loss)]

#[path = "support/org.rs"]
mod org;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use fake_apiserver::FakeApiServer;
use futures::{StreamExt, TryStreamExt};
use genesys_cloud::{AllowedEndpoint, AllowedEndpoints};
use genesys_emulator::Sim;
use genesys_offboarding_operator::controller::{Operator, Settings};
use genesys_offboarding_operator::crd::{GenesysUserOffboarding, condition};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

const NS: &str = "default";

/// The malloc settings of the Dockerfile and the Helm chart.
const IMAGE_ENV: [(&str, &str); 2] = [
    ("MALLOC_ARENA_MAX", "2"),
    ("MALLOC_MMAP_THRESHOLD_", "131072"),
];
const SECRET: &str = "genesys-credentials";

#[derive(Debug, Parser)]
#[command(about = "Operator RSS with many Ready offboardings watched")]
struct Args {
    /// Ready offboardings in the API server.
    #[arg(long, default_value_t = 10_000)]
    resources: usize,
    /// How long to watch after the cache synced.
    #[arg(long, default_value_t = 60)]
    settle_secs: u64,
    /// Profiling: after arranging the resources, write a kubeconfig for the fake API server to
    /// PATH and serve until Ctrl-C instead of starting the operator (run it yourself, e.g. under
    /// heaptrack, as often as you like).
    #[arg(long, value_name = "PATH")]
    hold: Option<PathBuf>,
    /// Run the operator with the malloc settings of the image and the Helm chart.
    #[arg(long)]
    image_env: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binary = repo().join("target/release/genesys-offboarding");
    if !binary.exists() {
        bail!(
            "{} is missing: cargo build --release --bin genesys-offboarding",
            binary.display()
        );
    }
    let sim = Sim::start(org::fixture(1, 0, 0)?).await?;
    let api = FakeApiServer::start().await?;
    api.load_yaml(&std::fs::read_to_string(
        repo().join("crds/genesysuseroffboardings.yaml"),
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
    let resources: Api<GenesysUserOffboarding> = Api::namespaced(client.clone(), NS);
    let base = sim.base_url().to_string();
    let spec = json!({
        "user": {"email": org::email(0)},
        "credentialsSecretRef": {"name": SECRET},
        "apiBaseUrl": base, "loginBaseUrl": base,
    });

    // A genuine Ready status: offboard agent 0 with the operator in this process.
    let status = template_status(&client, &resources, &spec).await?;

    // Arrange: N offboardings with that status, the next drift check a month away.
    let started = Instant::now();
    let next_check = (chrono::Utc::now() + chrono::Duration::days(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    futures::stream::iter(1..args.resources)
        .map(|i| {
            let (resources, spec, status, next_check) = (&resources, &spec, &status, &next_check);
            async move {
                let name = format!("agent-{i}");
                let resource: GenesysUserOffboarding = serde_json::from_value(json!({
                    "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
                    "kind": "GenesysUserOffboarding",
                    "metadata": {"name": name, "namespace": NS},
                    "spec": spec,
                }))?;
                resources.create(&PostParams::default(), &resource).await?;
                let mut status = status.clone();
                status["nextDriftCheck"] = json!(next_check);
                resources
                    .patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"status": status})),
                    )
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    println!(
        "memory: {} Ready offboardings created in {:.1} s",
        args.resources,
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.hold {
        std::fs::write(path, api.kubeconfig_yaml())?;
        println!("holding: KUBECONFIG={} (Ctrl-C ends)", path.display());
        tokio::signal::ctrl_c().await?;
        return Ok(());
    }
    let before = sim.requests().len();

    // Act: the real binary against the fake API server.
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig_yaml())?;
    let admin = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?
    };
    // The resources name the emulator's base URL: allow exactly its host and port.
    let allowed = AllowedEndpoint::of(&sim.base_url())
        .context("the emulator's URL has no host")?
        .to_string();
    let mut child = tokio::process::Command::new(&binary)
        .args([
            "run",
            "--namespace",
            NS,
            "--admin-listen",
            &admin.to_string(),
            "--allowed-endpoint",
            &allowed,
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "warn")
        .env_remove("ALLOWED_ENDPOINTS")
        .envs(IMAGE_ENV.iter().filter(|_| args.image_env).copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("failed to start the operator")?;
    let pid = child.id().context("the operator has no pid")?;
    let malloc: Vec<String> = IMAGE_ENV
        .iter()
        .filter_map(|(name, image)| {
            let value = if args.image_env {
                Some((*image).to_owned())
            } else {
                std::env::var(name).ok()
            };
            value.map(|v| format!("{name}={v}"))
        })
        .collect();
    println!(
        "operator malloc settings: {}",
        if malloc.is_empty() {
            "glibc defaults".to_owned()
        } else {
            malloc.join(" ")
        }
    );
    let launched = Instant::now();
    let ready = format!("http://{admin}/readyz");
    loop {
        if reqwest::get(&ready)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        if launched.elapsed() > Duration::from_secs(120) {
            bail!("the operator never became ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let synced = launched.elapsed();
    // Let the initial triggers (one per resource) drain.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss, hwm) = memory(pid)?;
    println!(
        "synced after {:.1} s: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        synced.as_secs_f64(),
        mib(rss),
        mib(hwm)
    );
    tokio::time::sleep(Duration::from_secs(args.settle_secs)).await;
    let (rss, hwm) = memory(pid)?;
    let genesys = sim.requests().len() - before;
    let _ = child.start_kill();
    let _ = child.wait().await;
    println!(
        "after {} s more: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        args.settle_secs,
        mib(rss),
        mib(hwm)
    );
    println!("Genesys requests by the operator: {genesys}");
    println!("target: < 64 MiB; peak RSS: {:.1} MiB", mib(hwm));
    Ok(())
}

/// Offboards agent 0 (resource `agent-0`, kept as one of the N) with an in-process operator
/// and returns its `Ready` status.
async fn template_status(
    client: &kube::Client,
    resources: &Api<GenesysUserOffboarding>,
    spec: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let operator = Operator::new(
        client.clone(),
        Settings {
            genesys_rate_limit: 100_000,
            allowed_endpoints: AllowedEndpoints::parse(["127.0.0.1"])?,
            ..Settings::default()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(operator.run(async move {
        let _ = stopped.await;
    }));
    let resource: GenesysUserOffboarding = serde_json::from_value(json!({
        "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
        "kind": "GenesysUserOffboarding",
        "metadata": {"name": "agent-0", "namespace": NS},
        "spec": spec,
    }))?;
    resources.create(&PostParams::default(), &resource).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let current = resources.get("agent-0").await?;
        if let Some(status) = &current.status
            && status
                .condition(condition::READY)
                .is_some_and(|c| c.status == "True")
        {
            break serde_json::to_value(status)?;
        }
        if Instant::now() > deadline {
            bail!("the template offboarding never became Ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), running).await;
    Ok(status)
}

/// `VmRSS` and `VmHWM` of a process, in bytes.
fn memory(pid: u32) -> anyhow::Result<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .context("no value")?
            .parse()?;
        Ok(kib * 1024)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

#[allow(clippy::cast_precision_loss)]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}
