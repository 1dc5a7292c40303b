//! The one way the tests run the real `kubectl`: against the fake API server (with a kubeconfig,
//! cache and home of its own in a temporary folder, so the developer's are never read or
//! written), or against the current context of a real cluster.
//!
//! The binary is `$KUBECTL` when set, else `.tools/bin/kubectl` (1.35, installed by
//! `scripts/test`), else `kubectl` on `PATH`. A missing kubectl fails the test, since a kubectl
//! test that passes without running proves nothing; `GENESYS_KUBECTL_TESTS=skip` skips the
//! kubectl tests on purpose (each says so on stderr).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fake_apiserver::FakeApiServerHandle;

/// How long one [`Kubectl::run`] may take before the test fails: longer than any `--timeout`
/// the tests pass to kubectl, so a kubectl that times out reports it itself.
const GUARD: Duration = Duration::from_secs(120);

/// kubectl, set up for one API server.
pub struct Kubectl {
    binary: PathBuf,
    /// The kubeconfig, cache and home of a fake API server's kubectl; `None` for the current
    /// context, whose environment is left as it is.
    home: Option<tempfile::TempDir>,
}

impl Kubectl {
    /// kubectl against `server`, or `None` when `GENESYS_KUBECTL_TESTS=skip`. Panics when there
    /// is no kubectl.
    pub fn for_server(server: &FakeApiServerHandle) -> Option<Self> {
        let binary = binary()?;
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("config"), server.kubeconfig_yaml()).unwrap();
        Some(Self {
            binary,
            home: Some(home),
        })
    }

    /// kubectl against the current context (`KUBECONFIG` or `~/.kube/config`), for the tests
    /// against a real cluster, or `None` when `GENESYS_KUBECTL_TESTS=skip`. Panics when there is
    /// no kubectl.
    pub fn for_current_context() -> Option<Self> {
        Some(Self {
            binary: binary()?,
            home: None,
        })
    }

    /// A kubectl command with `args`, run from the repository root (so relative paths such as
    /// `crds/` work) and killed when dropped.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.binary);
        command.args(args).current_dir(repo()).kill_on_drop(true);
        if let Some(home) = &self.home {
            command
                .env("KUBECONFIG", home.path().join("config"))
                .env("KUBECACHEDIR", home.path().join("cache"))
                .env("HOME", home.path());
        }
        command
    }

    /// Runs kubectl (standard input empty) and returns its stdout; panics with stdout and
    /// stderr when it fails.
    pub async fn run(&self, args: &[&str]) -> String {
        let mut command = self.command(args);
        command.stdin(Stdio::null());
        let output = tokio::time::timeout(GUARD, command.output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} still running after {GUARD:?}"))
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "kubectl {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        stdout
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The kubectl binary, or `None` when `GENESYS_KUBECTL_TESTS=skip`; panics when there is none.
fn binary() -> Option<PathBuf> {
    if std::env::var("GENESYS_KUBECTL_TESTS").is_ok_and(|v| v == "skip") {
        eprintln!("skipped: GENESYS_KUBECTL_TESTS=skip");
        return None;
    }
    if let Some(chosen) = std::env::var_os("KUBECTL") {
        let chosen = PathBuf::from(chosen);
        // A bare name is looked up on PATH, as a shell would.
        let found = if chosen.components().count() == 1 {
            on_path(&chosen)
        } else {
            chosen.is_file().then(|| chosen.clone())
        };
        return Some(found.unwrap_or_else(|| {
            panic!(
                "KUBECTL={} is not a kubectl binary (unset it to use .tools/bin/kubectl, or set \
                 GENESYS_KUBECTL_TESTS=skip to skip the kubectl tests)",
                chosen.display()
            )
        }));
    }
    let local = repo().join(".tools/bin/kubectl");
    if local.is_file() {
        return Some(local);
    }
    Some(on_path(Path::new("kubectl")).unwrap_or_else(|| {
        panic!(
            "no kubectl in .tools/bin or on PATH: run `scripts/test` once, which installs it \
             into .tools/ (or set GENESYS_KUBECTL_TESTS=skip to skip the kubectl tests)"
        )
    }))
}

fn on_path(name: &Path) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}
