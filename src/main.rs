//! `genesys-offboarding`: parses arguments, starts telemetry, runs a subcommand. It wires, never
//! decides.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "genesys-offboarding", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() {
    let _cli = Cli::parse();
}
