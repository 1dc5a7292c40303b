//! `genesys-offboarding sim`: serve a fixture (the embedded demo org by default) until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::fixture::{DEMO_ORG_YAML, Fixture, Profile};
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
    /// Behaviour profile, in place of the fixture's `profile`: `realistic` turns on every
    /// unkind behaviour of the real service (asynchronous changes, best-effort expands, roles
    /// removed on deactivation, ...), with small delays; the fixture's `behavior` entries still
    /// override single switches.
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
}

/// Runs the emulator until Ctrl-C.
pub async fn run(args: SimArgs) -> Result<(), SimError> {
    let fixture = match &args.fixture {
        Some(path) => Fixture::from_file_with_profile(path, args.profile)?,
        None => Fixture::from_yaml_with_profile(DEMO_ORG_YAML, args.profile)?,
    };
    let credentials = fixture
        .oauth_clients
        .first()
        .map(|c| format!(" ({} / {})", c.client_id, c.client_secret))
        .unwrap_or_default();
    let profile = match fixture.profile {
        Profile::Default => "",
        Profile::Realistic => ", realistic profile",
    };
    let sim = Sim::start_on(args.listen, fixture).await?;
    println!(
        "Genesys Cloud emulator listening on {}{credentials}{profile}",
        sim.base_url()
    );
    tokio::signal::ctrl_c().await.map_err(SimError::Signal)?;
    tracing::info!("Ctrl-C: stopping the Genesys Cloud emulator");
    sim.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[test]
    fn sim_takes_a_profile_that_the_demo_org_loads_with() {
        let plain = Command::try_parse_from(["sim"]).unwrap().sim;
        let realistic = Command::try_parse_from(["sim", "--profile", "realistic"])
            .unwrap()
            .sim;

        assert_eq!(plain.profile, None);
        assert_eq!(realistic.profile, Some(Profile::Realistic));
        let demo = Fixture::from_yaml_with_profile(DEMO_ORG_YAML, realistic.profile).unwrap();
        assert_eq!(demo.behavior, super::super::fixture::Behavior::realistic());
        assert!(Command::try_parse_from(["sim", "--profile", "kindest"]).is_err());
    }
}
