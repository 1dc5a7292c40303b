//! The one-shot CLI, `genesys-offboarding reconcile -f FILE`, as a user meets it: the file is
//! checked as a whole before anything reaches Genesys (a misspelt field, a wrong type, a wrong
//! apiVersion or kind refuses it, naming the document and the field), YAML errors name their
//! document, and `--max-wait` bounds the whole run, waits inside a pass included.
//!
//! The tests that must see what reached Genesys run the real binary against an emulator the
//! test owns (its request log is the witness), with the credentials in the child's environment;
//! the others call [`run`] with `--sim`. Arguments go through clap as on the command line.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::genesys::{JANE, demo_org, is_user_path, is_write};
use crate::support::invariants::{
    never_deletes_a_user, state_patches_carry_only_state_and_version,
};
use clap::Parser;
use genesys_emulator::fixture::Fixture;
use genesys_emulator::{Fault, Sim, SimHandle};
use genesys_offboarding_operator::crd::{GenesysUserOffboarding, condition};
use genesys_offboarding_operator::oneshot::{ReconcileArgs, Summary, run};

/// The demo org's Jane Doe, valid: the first document of most files here.
const JANE_DOC: &str = "\
apiVersion: offboarding.genesys-operator.io/v1alpha1
kind: GenesysUserOffboarding
metadata:
  name: jane-doe
  namespace: default
spec:
  user:
    email: jane.doe@example.com
  credentialsSecretRef:
    name: genesys-credentials
  region: us_east_1
";

/// How long a run may take before the test calls it hung. Only a guard: without the bound
/// under test the runs below take minutes; with it they end in seconds.
const HUNG: Duration = Duration::from_secs(60);

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ReconcileArgs,
}

/// `genesys-offboarding reconcile <argv>`, parsed as the binary parses it.
fn args(argv: &[&str]) -> ReconcileArgs {
    Cli::try_parse_from(std::iter::once("reconcile").chain(argv.iter().copied()))
        .unwrap()
        .args
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn shown(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// [`run`] in-process: its result, the printed resources and the notes.
async fn run_in_process(
    args: &ReconcileArgs,
) -> (
    Result<Vec<Summary>, genesys_offboarding_operator::oneshot::OneShotError>,
    String,
    String,
) {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let result = tokio::time::timeout(HUNG, Box::pin(run(args, &mut out, &mut notes)))
        .await
        .unwrap_or_else(|_| panic!("the run did not return although --max-wait bounds it"));
    (
        result,
        String::from_utf8(out).unwrap(),
        String::from_utf8(notes).unwrap(),
    )
}

/// What the binary did: exit code, stdout, stderr.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The binary, `reconcile -f file <extra>`, against `sim` with the demo org's OAuth client in
/// its environment.
async fn run_binary(sim: &SimHandle, file: &Path, extra: &[&str]) -> Ran {
    let base = sim.base_url().to_string();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_genesys-offboarding"));
    command
        .args(["reconcile", "-f", shown(file), "--api-url", &base])
        .args(["--login-url", &base])
        .args(extra)
        .env("GENESYS_CLIENT_ID", "demo-client")
        .env("GENESYS_CLIENT_SECRET", "demo-secret")
        .env_remove("GENESYS_REGION")
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .kill_on_drop(true);
    let output = tokio::time::timeout(HUNG, command.output())
        .await
        .unwrap_or_else(|_| panic!("the run did not return although --max-wait bounds it"))
        .unwrap();
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn ready(resource: &GenesysUserOffboarding) -> bool {
    resource
        .status
        .as_ref()
        .is_some_and(|s| s.is_true(condition::READY))
}

// ---------------------------------------------------------------------------------------------
// The whole file is checked first
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_misspelt_field_in_any_document_refuses_the_file_and_nothing_reaches_genesys() {
    // Arrange: Jane is valid; Priya's and Maria's typos would, if ignored, turn an Observe or a
    // dry run into a real offboarding.
    let sim = Sim::start(demo_org()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "three.yaml",
        &format!(
            "{JANE_DOC}---
apiVersion: offboarding.genesys-operator.io/v1alpha1
kind: GenesysUserOffboarding
metadata: {{name: priya-patel, namespace: default}}
spec:
  user: {{email: priya.patel@example.com}}
  credentialsSecretRef: {{name: genesys-credentials}}
  region: us_east_1
  managementpolicy: Observe
---
apiVersion: offboarding.genesys-operator.io/v1alpha1
kind: GenesysUserOffboarding
metadata: {{name: maria-garcia, namespace: default}}
spec:
  user: {{email: maria.garcia@example.com}}
  credentialsSecretRef: {{name: genesys-credentials}}
  region: us_east_1
  dryRun: true
"
        ),
    );

    // Act
    let ran = run_binary(&sim, &file, &[]).await;

    // Assert: refused, both typos named with their document, not one request to Genesys.
    assert_ne!(ran.code, Some(0), "{}", ran.stderr);
    for expected in [
        r#"document 2 (priya-patel): unknown field "spec.managementpolicy""#,
        r#"document 3 (maria-garcia): unknown field "spec.dryRun""#,
        "nothing was sent to Genesys",
    ] {
        assert!(
            ran.stderr.contains(expected),
            "{expected:?} in {}",
            ran.stderr
        );
    }
    assert!(ran.stdout.is_empty(), "nothing printed: {}", ran.stdout);
    assert_eq!(
        sim.requests(),
        [],
        "no Genesys request at all, not even for the valid document"
    );
    assert_eq!(sim.user(JANE).unwrap()["state"], "active");
}

#[tokio::test]
async fn every_mistake_kubectl_strict_refuses_is_refused_naming_its_document_and_field() {
    let offboarding = |api_version: &str, kind: &str, metadata: &str, rest: &str| {
        format!(
            "apiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: bad\n{metadata}spec:\n  \
             user: {{email: priya.patel@example.com}}\n  credentialsSecretRef: {{name: x}}\n  \
             region: us_east_1\n{rest}"
        )
    };
    let ours = "offboarding.genesys-operator.io/v1alpha1";
    let kind = "GenesysUserOffboarding";
    let cases = [
        (
            offboarding(ours, kind, "", "  managementpolicy: Observe\n"),
            r#"unknown field "spec.managementpolicy""#,
        ),
        (
            offboarding(ours, kind, "", "  routing: {setOffQeue: false}\n"),
            r#"unknown field "spec.routing.setOffQeue""#,
        ),
        (
            offboarding(ours, kind, "  labes: {team: billing}\n", ""),
            r#"unknown field "metadata.labes""#,
        ),
        (
            offboarding(ours, kind, "", "status: {phase: Done}\n"),
            r#"unknown field "status.phase""#,
        ),
        (
            offboarding(ours, kind, "", "  history: {lookbackDays: \"90\"}\n"),
            "spec.history.lookbackDays: must be of type integer, not string",
        ),
        (
            offboarding(ours, kind, "", "  suspend: \"no\"\n"),
            "spec.suspend: must be of type boolean, not string",
        ),
        (
            offboarding("offboarding.genesys-operator.io/v1", kind, "", ""),
            "apiVersion offboarding.genesys-operator.io/v1 is not served",
        ),
        (
            offboarding(ours, "GenesysUserOffboardings", "", ""),
            r#"no kind "GenesysUserOffboardings" in offboarding.genesys-operator.io"#,
        ),
        (
            offboarding("offboarding.genesys-operator.com/v1alpha1", kind, "", ""),
            "kind GenesysUserOffboarding with apiVersion offboarding.genesys-operator.com/v1alpha1",
        ),
        (
            offboarding(ours, "genesysuseroffboarding", "", ""),
            r#"no kind "genesysuseroffboarding" in offboarding.genesys-operator.io"#,
        ),
        (
            offboarding("v1", "genesysuseroffboarding", "", ""),
            "kind genesysuseroffboarding with apiVersion v1",
        ),
        (
            "metadata: {name: bad}\nspec: {}\n".to_owned(),
            "apiVersion not set",
        ),
        (
            format!("apiVersion: {ours}\nmetadata: {{name: bad}}\n"),
            "kind not set",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();

    for (bad, expected) in cases {
        let file = write(&dir, "file.yaml", &format!("{JANE_DOC}---\n{bad}"));

        let (result, out, notes) = run_in_process(&args(&["-f", shown(&file), "--sim"])).await;

        let error = result
            .map(|s| format!("ran: {s:?}, notes: {notes}"))
            .unwrap_err()
            .to_string();
        let expected = format!("document 2 (bad): {expected}");
        assert!(error.contains(&expected), "{expected:?} in {error}");
        assert!(
            !error.contains("document 1"),
            "Jane's document is valid: {error}"
        );
        assert!(out.is_empty(), "{out}");
    }
}

#[tokio::test]
async fn a_secret_in_the_file_is_skipped_with_a_note_and_the_offboarding_runs() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/offboarding-local.yaml"
    );

    let (result, out, notes) = run_in_process(&args(&["-f", file, "--sim"])).await;

    let summaries = result.unwrap();
    assert!(
        summaries.iter().all(|s| s.ready && !s.failed),
        "{summaries:?}"
    );
    assert!(
        notes.contains(
            "document 1 (genesys-sim-credentials): skipped v1 Secret: the one-shot mode runs only \
             GenesysUserOffboarding resources"
        ),
        "{notes}"
    );
    let printed: GenesysUserOffboarding = serde_yaml::from_str(&out).unwrap();
    assert!(ready(&printed));
}

#[tokio::test]
async fn a_yaml_error_names_its_document_and_line() {
    let dir = tempfile::tempdir().unwrap();
    // Jane's document takes lines 1-11; the second one starts on line 13 and repeats a key
    // (serde_yaml points at the mapping that holds it).
    let file = write(
        &dir,
        "broken.yaml",
        &format!(
            "{JANE_DOC}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\n\
             metadata: {{name: b}}\n"
        ),
    );

    let (result, _, _) = run_in_process(&args(&["-f", shown(&file), "--sim"])).await;

    let error = result.unwrap_err().to_string();
    assert!(
        error.contains("document 2 is not valid YAML (line 13, column 1)"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// --max-wait bounds the whole run
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn max_wait_ends_a_pass_held_up_by_rate_limits_and_says_so() {
    // Arrange: an org that answers 429 after three requests, for a minute; the client waits a
    // Retry-After of up to 180 s in-line, inside the pass. Priya comes after Jane.
    let mut fixture = Fixture::demo();
    fixture.requests_per_minute = 3;
    let dir = tempfile::tempdir().unwrap();
    let fixture_file = write(&dir, "org.yaml", &serde_yaml::to_string(&fixture).unwrap());
    let priya = JANE_DOC
        .replace("jane-doe", "priya-patel")
        .replace("jane.doe", "priya.patel");
    let file = write(&dir, "two.yaml", &format!("{JANE_DOC}---\n{priya}"));

    // Act
    let (result, out, notes) = run_in_process(&args(&[
        "-f",
        shown(&file),
        "--sim",
        shown(&fixture_file),
        "--max-wait",
        "2s",
    ]))
    .await;

    // Assert: the run returned, said why for each, counts both as failed, and printed both.
    let summaries = result.unwrap();
    assert_eq!(summaries.len(), 2);
    assert!(
        summaries.iter().all(|s| s.failed && !s.ready),
        "{summaries:?}"
    );
    for expected in [
        "jane-doe: stopped: --max-wait 2s ended the run in the middle of a pass",
        "priya-patel: stopped: --max-wait 2s ended the run before its first pass could start",
    ] {
        assert!(notes.contains(expected), "{expected:?} in {notes}");
    }
    let printed: Vec<GenesysUserOffboarding> = serde_yaml::Deserializer::from_str(&out)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect();
    assert_eq!(printed.len(), 2);
    assert!(!ready(&printed[0]));
    assert_eq!(printed[1].status, None, "Priya was never reconciled");
}

#[tokio::test]
async fn max_wait_ends_a_pass_on_a_slow_call_and_the_printed_resource_finishes_the_job_on_rerun() {
    // Arrange: revoking Jane's tokens is served but never answered (the answer would come in
    // ten minutes); the client's own timeout and retries would take minutes.
    let sim = Sim::start(demo_org()).await.unwrap();
    sim.inject(
        Fault::new("DELETE", "/api/v2/tokens/*")
            .after_serve()
            .delay_ms(600_000)
            .times(10),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "jane.yaml", JANE_DOC);

    // Act: the first run, cut by --max-wait on the revoke.
    let first = run_binary(&sim, &file, &["--max-wait", "10s"]).await;

    // Assert: it returned, failed, said why, and printed what was confirmed.
    assert_eq!(first.code, Some(1), "{}", first.stderr);
    assert!(
        first
            .stderr
            .contains("jane-doe: stopped: --max-wait 10s ended the run in the middle of a pass"),
        "{}",
        first.stderr
    );
    let cut: GenesysUserOffboarding = serde_yaml::from_str(&first.stdout).unwrap();
    assert!(!ready(&cut), "{:?}", cut.status);
    let snapshot = cut.status.as_ref().unwrap().snapshot.clone().unwrap();
    assert_eq!(sim.user(JANE).unwrap()["state"], "inactive");

    // Act: the printed resource, status included, is the file of the second run.
    let client = reqwest::Client::new();
    let disarm = client
        .delete(sim.base_url().join("__sim/faults").unwrap())
        .send()
        .await
        .unwrap();
    assert!(disarm.status().is_success());
    let printed = write(&dir, "printed.yaml", &first.stdout);
    let second = run_binary(&sim, &printed, &[]).await;

    // Assert: done from the saved status: the first snapshot kept, Jane deactivated once.
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let done: GenesysUserOffboarding = serde_yaml::from_str(&second.stdout).unwrap();
    assert!(ready(&done), "{:?}", done.status);
    assert_eq!(done.status.as_ref().unwrap().snapshot, Some(snapshot));
    let requests = sim.requests();
    let deactivations = requests
        .iter()
        .filter(|r| r.method == "PATCH" && is_user_path(&r.path))
        .filter(|r| r.body.as_ref().is_some_and(|b| b["state"] == "inactive"))
        .count();
    assert_eq!(deactivations, 1, "{requests:?}");
    assert!(requests.iter().any(is_write));
    never_deletes_a_user(&requests).unwrap();
    state_patches_carry_only_state_and_version(&requests).unwrap();
}
