//! The official Genesys Cloud Python SDK (`purecloudplatformclientv2`, pinned in
//! `tests/sdk/requirements.txt`) works against the emulator: `tests/sdk/sdk_check.py` logs in,
//! lists and searches users, reads a user with expand, routing status, queues and analytics, and
//! gets a 409 on a stale PATCH; nothing may deserialize to `outdated_sdk_version`. It runs once
//! against the default emulator and once against the realistic profile, which renders shapes
//! the default never does. It also checks
//! that the contract's models are those of the SDK it names. Afterwards the requests the SDK
//! made, and the emulator's answers, are checked against the contract too.
//!
//! `scripts/test` installs the SDK into `.tools/venv`. Without it this test fails and says so,
//! unless `GENESYS_SDK_TESTS=skip` is set.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::support::contract::{Contract, Exchange, report};
use genesys_emulator::Sim;
use genesys_emulator::fixture::{Fixture, Profile};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_reads_and_deactivates_users_on_the_emulator() {
    sdk_check(Fixture::demo(), &[]).await;
}

/// The realistic profile renders fields and enum values the default one never does (typed
/// `memberGroups`, a group as a grant's subject, `sourceId`, `PENDING`); the SDK must know them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_reads_the_realistic_emulator() {
    sdk_check(
        Fixture::demo().with_profile(Profile::Realistic),
        &["--realistic"],
    )
    .await;
}

/// Runs `tests/sdk/sdk_check.py` against `fixture`, then checks the SDK's traffic against the
/// contract.
async fn sdk_check(fixture: Fixture, extra_args: &[&str]) {
    if std::env::var("GENESYS_SDK_TESTS").as_deref() == Ok("skip") {
        println!("skipped: GENESYS_SDK_TESTS=skip");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".tools/venv/bin/python");
    assert!(
        python.exists(),
        "the official SDK test needs {}: run scripts/test, which installs the Genesys Cloud \
         Python SDK there (or set GENESYS_SDK_TESTS=skip to skip this test)",
        python.display()
    );
    let sim = Sim::start(fixture).await.unwrap();
    // The SDK reads (and watches) ~/.genesyscloudpython/config: keep a developer's own out.
    let home = tempfile::tempdir().unwrap();

    let output = tokio::process::Command::new(&python)
        .arg(root.join("tests/sdk/sdk_check.py"))
        .arg("--base-url")
        .arg(sim.base_url().as_str())
        .args([
            "--client-id",
            "demo-client",
            "--client-secret",
            "demo-secret",
        ])
        .args(extra_args)
        .env("HOME", home.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .await
        .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tests/sdk/sdk_check.py failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let contract = Contract::load();
    let requests = sim.requests();
    let mut violations = Vec::new();
    for r in requests.iter().filter(|r| r.path.starts_with("/api/")) {
        violations.extend(contract.check_exchange(&Exchange {
            method: r.method.as_str(),
            path: &r.path,
            query: &r.query,
            body: r.body.as_ref(),
            status: r.status,
            response_body: r.response_body.as_ref(),
        }));
    }
    assert!(
        violations.is_empty(),
        "the SDK's traffic departs from the contract:\n{}",
        report(&violations)
    );
    assert!(requests.iter().any(|r| r.path == "/oauth/token"));
    if extra_args.is_empty() {
        // What a restore puts back, written as the SDK writes it.
        for operation in [
            "get_routing_user_utilization",
            "put_routing_user_utilization",
            "get_user_callforwarding",
            "put_user_callforwarding",
            "get_group",
            "post_group_members",
            "post_team_members",
        ] {
            assert!(
                requests
                    .iter()
                    .any(|r| r.operation.as_deref() == Some(operation) && r.status < 300),
                "the SDK check never called {operation} successfully"
            );
        }
    }
    sim.shutdown().await;
}
