//! `genesys-offboarding sim`: serve a fixture (the embedded demo org by default) until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::fixture::Fixture;
use super::sim::{Sim, SimError};

/// Arguments of `genesys-offboarding sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Fixture YAML (see crates/genesys-emulator/demo-org.yaml); the embedded demo org when absent.
    #[arg(long)]
    pub fixture: Option<PathBuf>,
}

/// Runs the emulator until Ctrl-C.
pub async fn run(args: SimArgs) -> Result<(), SimError> {
    let fixture = match &args.fixture {
        Some(path) => Fixture::from_file(path)?,
        None => Fixture::demo(),
    };
    let credentials = fixture
        .oauth_clients
        .first()
        .map(|c| format!(" ({} / {})", c.client_id, c.client_secret))
        .unwrap_or_default();
    let sim = Sim::start_on(args.listen, fixture).await?;
    println!(
        "Genesys Cloud emulator listening on {}{credentials}",
        sim.base_url()
    );
    tokio::signal::ctrl_c().await.map_err(SimError::Signal)?;
    tracing::info!("Ctrl-C: stopping the Genesys Cloud emulator");
    sim.shutdown().await;
    Ok(())
}
