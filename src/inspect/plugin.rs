//! The kubectl plugin: the operator's binary, installed (a copy or a symlink) as
//! `kubectl-offboard` on `PATH`, answers `kubectl offboard plan -f FILE` and `kubectl offboard
//! status NAME`. kubectl runs a plugin with the path it found as `argv[0]`, so the name the
//! binary was invoked under decides which command line it reads ([`invoked_as_plugin`]).

use std::ffi::OsStr;
use std::path::Path;

use clap::{Parser, Subcommand};

use super::plan::PlanArgs;
use super::status::StatusArgs;

/// The plugin's executable name: kubectl maps `kubectl offboard` to it.
pub const PLUGIN_NAME: &str = "kubectl-offboard";

/// Whether `argv0` names the plugin (`kubectl-offboard`, with any directory or extension).
pub fn invoked_as_plugin(argv0: &OsStr) -> bool {
    Path::new(argv0)
        .file_stem()
        .is_some_and(|stem| stem == PLUGIN_NAME)
}

/// `kubectl offboard`: read an offboarding before and after applying it.
#[derive(Debug, Parser)]
#[command(name = "kubectl offboard", bin_name = "kubectl offboard", version)]
pub struct PluginCli {
    #[command(subcommand)]
    pub command: PluginCommand,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Print what applying the offboardings of a file would do, writing nothing to Genesys
    /// Cloud (--from-cluster takes the credentials from the Secret each resource names).
    Plan(PlanArgs),
    /// Print an offboarding of the cluster: its conditions and its action timeline.
    Status(StatusArgs),
}

/// Runs the plugin's command; the exit code.
pub async fn run(cli: PluginCli) -> i32 {
    match cli.command {
        PluginCommand::Plan(args) => super::plan::run_stdio(&args).await,
        PluginCommand::Status(args) => super::status::run_stdio(&args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_is_recognised_by_its_file_name_only() {
        assert!(invoked_as_plugin(OsStr::new(
            "/usr/local/bin/kubectl-offboard"
        )));
        assert!(invoked_as_plugin(OsStr::new("kubectl-offboard")));
        assert!(invoked_as_plugin(OsStr::new(r"kubectl-offboard.exe")));
        assert!(!invoked_as_plugin(OsStr::new("genesys-offboarding")));
        assert!(!invoked_as_plugin(OsStr::new(
            "/opt/kubectl-offboard/genesys-offboarding"
        )));
    }
}
