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
#[path = "support/ready.rs"]
mod ready;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use fake_apiserver::FakeApiServer;
use genesys_cloud::AllowedEndpoint;
use genesys_emulator::Sim;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
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
    let binary = ready::operator_binary()?;
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
    let base = sim.base_url().to_string();
    let spec = json!({
        "user": {"email": org::email(0)},
        "credentialsSecretRef": {"name": SECRET},
        "apiBaseUrl": base, "loginBaseUrl": base,
    });

    // Arrange: N offboardings with a genuine Ready status, the next drift check a month away.
    let started = Instant::now();
    ready::create(&client, NS, &spec, args.resources).await?;
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
    let (rss, hwm) = ready::memory(pid)?;
    println!(
        "synced after {:.1} s: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        synced.as_secs_f64(),
        ready::mib(rss),
        ready::mib(hwm)
    );
    tokio::time::sleep(Duration::from_secs(args.settle_secs)).await;
    let (rss, hwm) = ready::memory(pid)?;
    let genesys = sim.requests().len() - before;
    let _ = child.start_kill();
    let _ = child.wait().await;
    println!(
        "after {} s more: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        args.settle_secs,
        ready::mib(rss),
        ready::mib(hwm)
    );
    println!("Genesys requests by the operator: {genesys}");
    println!("target: < 64 MiB; peak RSS: {:.1} MiB", ready::mib(hwm));
    Ok(())
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}
