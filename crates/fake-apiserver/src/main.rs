//! A fake Kubernetes API server for local demos and manual testing with `kubectl`.
//!
//! TEST TOOL, NOT A CLUSTER: plain HTTP, no authentication, no authorization, everything in
//! memory (gone when it stops). Start with `cargo run -p fake-apiserver -- --listen
//! 127.0.0.1:6443`; see `--help`. The logic lives in this crate's library.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use fake_apiserver::FakeApiServer;

/// A fake Kubernetes API server — a TEST TOOL, not a cluster.
///
/// Plain HTTP, no authentication or authorization, all state in memory and lost on exit. It
/// serves discovery, CRDs, custom resources (validated against their schemas), namespaces,
/// secrets, config maps, services, events and leases well enough for the operator and for
/// `kubectl`. Never expose it beyond localhost and never put real secrets in it.
#[derive(Debug, Parser)]
#[command(name = "fake-apiserver", version, about, long_about)]
struct Args {
    /// Address to listen on (plain HTTP).
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// YAML file or directory of YAML files to server-side apply at startup (repeatable), e.g.
    /// `--load crds/`.
    #[arg(long, value_name = "PATH")]
    load: Vec<PathBuf>,
    /// Write a kubeconfig for this server to PATH (use with `KUBECONFIG=PATH kubectl ...`).
    #[arg(long, value_name = "PATH")]
    write_kubeconfig: Option<PathBuf>,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 10)]
    bookmark_interval: u64,
}

fn yaml_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("failed to read directory {}", path.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        files.sort();
        Ok(files)
    } else {
        Ok(vec![path.to_owned()])
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let server = FakeApiServer::builder()
        .listen(args.listen)
        .bookmark_interval(Duration::from_secs(args.bookmark_interval))
        .start()
        .await
        .context("failed to start the fake API server")?;
    for path in &args.load {
        for file in yaml_files(path)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("failed to read {}", file.display()))?;
            let count = server
                .load_yaml(&text)
                .with_context(|| format!("failed to load {}", file.display()))?;
            eprintln!(
                "fake-apiserver: loaded {count} object(s) from {}",
                file.display()
            );
        }
    }
    if let Some(path) = &args.write_kubeconfig {
        std::fs::write(path, server.kubeconfig_yaml())
            .with_context(|| format!("failed to write {}", path.display()))?;
        eprintln!("fake-apiserver: wrote kubeconfig to {}", path.display());
    }
    eprintln!(
        "fake-apiserver: TEST TOOL, not a Kubernetes cluster (plain HTTP, no authentication, in memory). Listening on {}",
        server.url()
    );
    tokio::signal::ctrl_c()
        .await
        .context("failed to wait for Ctrl-C")?;
    eprintln!("fake-apiserver: stopping; all state is discarded");
    server.shutdown().await;
    Ok(())
}
