//! `genesys-offboarding`: parses arguments, starts telemetry, runs a subcommand. It wires, never
//! decides.

use clap::{Parser, Subcommand};
use genesys_offboarding_operator::inspect;

#[derive(Parser)]
#[command(name = "genesys-offboarding", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the custom resource definition of the offboarding resource (YAML) to standard output.
    Crd,
    /// Run the Genesys Cloud emulator (the embedded demo org unless --fixture is given).
    #[cfg(feature = "emulator")]
    Sim(genesys_emulator::cli::SimArgs),
    /// Run the offboarding resources of a file once, without a cluster, and print them with
    /// their status (--sim runs against the embedded Genesys Cloud emulator).
    Reconcile(genesys_offboarding_operator::oneshot::ReconcileArgs),
    /// Print what applying the offboardings of a file would do: the resolved user, each step,
    /// the memberships only reported. Nothing is written to Genesys Cloud (Observe mode).
    Plan(genesys_offboarding_operator::inspect::plan::PlanArgs),
    /// Run the operator: watch `GenesysUserOffboarding` resources in the cluster and reconcile them.
    Run(genesys_offboarding_operator::controller::cli::RunArgs),
}

fn main() -> anyhow::Result<()> {
    // Installed as `kubectl-offboard`, the binary is the kubectl plugin.
    if std::env::args_os()
        .next()
        .is_some_and(|argv0| inspect::plugin::invoked_as_plugin(&argv0))
    {
        let cli = inspect::plugin::PluginCli::parse();
        init_tracing("error");
        let code = tokio::runtime::Runtime::new()?.block_on(inspect::plugin::run(cli));
        std::process::exit(code);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => print!("{}", genesys_offboarding_operator::crd::crd_yaml()?),
        #[cfg(feature = "emulator")]
        Command::Sim(args) => {
            init_tracing("info");
            tokio::runtime::Runtime::new()?.block_on(genesys_emulator::cli::run(args))?;
        }
        Command::Reconcile(args) => {
            init_tracing("info");
            let ok = tokio::runtime::Runtime::new()?
                .block_on(genesys_offboarding_operator::oneshot::run_stdio(&args))?;
            if !ok {
                std::process::exit(1);
            }
        }
        Command::Plan(args) => {
            init_tracing("error");
            let code = tokio::runtime::Runtime::new()?.block_on(inspect::plan::run_stdio(&args));
            std::process::exit(code);
        }
        Command::Run(args) => {
            genesys_offboarding_operator::telemetry::init_logs(args.log_format, &args.log_level)?;
            tokio::runtime::Runtime::new()?
                .block_on(genesys_offboarding_operator::controller::cli::run(args))?;
        }
    }
    Ok(())
}

/// Logs to stderr; `RUST_LOG` filters (default `level`: the commands that print for a person
/// log errors only: they print every outcome themselves, and their output is not buried).
fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}
