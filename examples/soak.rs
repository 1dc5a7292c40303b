//! The chaos soak at scale: 500 offboardings through two replicas of the real binary with
//! leader election, against the Genesys emulator on its realistic profile and the fake
//! Kubernetes API server, with seeded random faults on both and the leader killed (`SIGKILL`) at random
//! moments (`tests/support/soak.rs` says what it injects and checks; `tests/soak.rs` is the
//! small version in the test suite). Prints the figures and exits non-zero when a check fails.
//!
//! ```text
//! cargo build --release --bin genesys-offboarding
//! cargo run --release --example soak -- --resources 500 --seed 14
//! ```
//! The operator binary is looked up next to the example (`target/release/`), or given with
//! `--binary`.

#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;

/// The soak's knobs.
#[derive(Parser)]
struct Args {
    /// Offboardings.
    #[arg(long, default_value_t = 500)]
    resources: usize,
    /// The seed of the faults and kills (a failure prints it; the same seed replays the run).
    #[arg(long, default_value_t = 14)]
    seed: u64,
    /// Leader kills (SIGKILL).
    #[arg(long, default_value_t = 6)]
    leader_kills: usize,
    /// One Genesys fault per this many Genesys requests on average (one API server fault per
    /// three times as many API requests).
    #[arg(long, default_value_t = 10)]
    fault_every: usize,
    /// Latency the emulator adds to each request.
    #[arg(long, default_value_t = 5)]
    latency_ms: u64,
    /// Passes at once per replica.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
    /// How long the run may take.
    #[arg(long, default_value_t = 1800)]
    patience_s: u64,
    /// The operator binary (default: `genesys-offboarding` next to this example's folder).
    #[arg(long)]
    binary: Option<PathBuf>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binary = match args.binary {
        Some(binary) => binary,
        None => std::env::current_exe()?
            .parent()
            .and_then(|examples| examples.parent())
            .context("no folder above the example")?
            .join("genesys-offboarding"),
    };
    if !binary.is_file() {
        bail!(
            "{} is missing: cargo build --release --bin genesys-offboarding",
            binary.display()
        );
    }
    let config = support::soak::SoakConfig {
        seed: args.seed,
        resources: args.resources,
        leader_kills: args.leader_kills,
        fault_every: args.fault_every,
        client_timeouts: true,
        latency_ms: args.latency_ms,
        binary,
        patience: Duration::from_secs(args.patience_s),
        concurrency: args.concurrency,
    };
    let uptime = |when: &str| {
        let out = std::process::Command::new("uptime").output();
        let text = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        println!("uptime {when}: {}", text.unwrap_or_default());
    };
    uptime("before");
    let report = support::soak::run(&config).await;
    uptime("after");
    match report {
        Ok(report) => {
            println!("{}", report.render(args.seed));
            println!("every check passed");
            Ok(())
        }
        Err(problem) => bail!("{problem}"),
    }
}
