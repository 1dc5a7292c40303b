//! `GitOps` health: what Argo CD and Flux make of an offboarding in each phase.
//!
//! - Argo CD: the check in Argo CD's own layout, [`ARGO_DIR`] (`health.lua`, `health_test.yaml`,
//!   `testdata/`), runs in Lua 5.1 (mlua's vendored interpreter; Argo CD's gopher-lua speaks the
//!   same dialect) with `obj` set to the resource and the libraries Argo CD opens for a script of
//!   `argocd-cm`. `health_test.yaml` is run as Argo CD's own test (`util/lua/health_test.go`)
//!   runs it: each `inputPath` object must get exactly its `healthStatus`.
//! - Flux: [`kstatus`] implements the kstatus rules (`sigs.k8s.io/cli-utils/pkg/kstatus`) that
//!   Flux's `wait` and `healthChecks` apply.
//!
//! Both are applied to the REAL status the operator writes: [`phases`] runs the one-shot reconciler
//! (`genesys-offboarding reconcile --sim -o json`) once against the embedded Genesys Cloud
//! emulator, with one resource per phase. Statuses the emulator cannot reach in one run
//! (restoring, drift, retrying) are built with the `GenesysUserOffboardingStatus` helpers. The
//! last tests check the shipped Argo CD and Flux examples.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use genesys_offboarding_operator::crd::{
    API_GROUP, ConditionStatus, GenesysUserOffboardingStatus, condition, reason,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use mlua::{Lua, Table};
use serde_json::{Value, json};

/// Where Argo CD keeps the checks it ships: `resource_customizations/<group>/<Kind>/`.
const ARGO_DIR: &str =
    "resource_customizations/offboarding.genesys-operator.io/GenesysUserOffboarding";
const HEALTH_LUA: &str = include_str!(
    "../../resource_customizations/offboarding.genesys-operator.io/GenesysUserOffboarding/health.lua"
);

/// One resource per phase, in one file: jane is offboarded, omar is on a live conversation
/// (`activeConversations: Wait`), alex's email matches two users, maria's `effectiveAt` is far
/// away, priya is suspended and ken is offboarded in Observe mode (a dry run).
const PHASES: &str = r#"
apiVersion: offboarding.genesys-operator.io/v1alpha1
kind: GenesysUserOffboarding
metadata: {name: done, namespace: default}
spec: {user: {email: jane.doe@example.com}, credentialsSecretRef: {name: genesys-credentials}, region: us_east_1}
---
apiVersion: offboarding.genesys-operator.io/v1alpha1
kind: GenesysUserOffboarding
metadata: {name: waiting, namespace: default}
spec: {user: {email: omar.haddad@example.com}, credentialsSecretRef: {name: genesys-credentials}, region: us_east_1}
---
apiVersion: offboarding.genesys-operator.io/v1alpha1
kind: GenesysUserOffboarding
metadata: {name: ambiguous, namespace: default}
spec: {user: {email: alex.morgan@example.com}, credentialsSecretRef: {name: genesys-credentials}, region: us_east_1}
---
apiVersion: offboarding.genesys-operator.io/v1alpha1
kind: GenesysUserOffboarding
metadata: {name: scheduled, namespace: default}
spec: {user: {email: maria.garcia@example.com}, credentialsSecretRef: {name: genesys-credentials}, region: us_east_1, effectiveAt: "2099-01-01T00:00:00Z"}
---
apiVersion: offboarding.genesys-operator.io/v1alpha1
kind: GenesysUserOffboarding
metadata: {name: suspended, namespace: default}
spec: {user: {email: priya.patel@example.com}, credentialsSecretRef: {name: genesys-credentials}, region: us_east_1, suspend: true}
---
apiVersion: offboarding.genesys-operator.io/v1alpha1
kind: GenesysUserOffboarding
metadata: {name: observed, namespace: default}
spec: {user: {email: ken.sato@example.com}, credentialsSecretRef: {name: genesys-credentials}, region: us_east_1, managementPolicy: Observe}
"#;

/// The resources of [`PHASES`] as the operator left them, by name. Runs the binary once per test
/// process; no wait fits in `--max-wait 20s` (a live conversation is checked again after a
/// minute, the schedule is in 2099), so waiting resources come back waiting after one pass. The
/// bound covers the whole run, so it leaves room for six passes on a busy machine.
fn phases() -> &'static BTreeMap<String, Value> {
    static PHASES_OUT: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    PHASES_OUT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("phases.yaml");
        std::fs::write(&file, PHASES).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_genesys-offboarding"))
            .args([
                "reconcile",
                "--sim",
                "-o",
                "json",
                "--max-wait",
                "20s",
                "-f",
            ])
            .arg(&file)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let resources: BTreeMap<String, Value> = serde_json::Deserializer::from_str(&stdout)
            .into_iter::<Value>()
            .map(|r| {
                let r = r.unwrap();
                (r["metadata"]["name"].as_str().unwrap().to_owned(), r)
            })
            .collect();
        assert_eq!(
            resources.len(),
            6,
            "the one-shot reconciler printed {} resources; stderr:\n{}",
            resources.len(),
            String::from_utf8_lossy(&out.stderr)
        );
        resources
    })
}

fn phase(name: &str) -> Value {
    phases()[name].clone()
}

// --- What Argo CD and Flux compute -------------------------------------------------------------

/// Runs `health.lua` with `obj` = `resource`; Argo CD's (status, message).
fn argo_health(resource: &Value) -> (String, String) {
    run_health_script(HEALTH_LUA, resource).unwrap()
}

/// The health statuses Argo CD accepts from a script; any other becomes `Unknown`.
const ARGO_HEALTH_CODES: [&str; 6] = [
    "Unknown",
    "Progressing",
    "Suspended",
    "Healthy",
    "Degraded",
    "Missing",
];

/// Runs a health `script` as Argo CD's `ExecuteHealthLua` does for a script of `argocd-cm`: the
/// base, package and table libraries only (no `string`, `io` or `debug`: a check that needs them
/// would fail in Argo CD unless `useOpenLibs` is set), `obj` a global, the returned table read as
/// `{status, message}`, and a status Argo CD does not know replaced by `Unknown`.
fn run_health_script(script: &str, resource: &Value) -> Result<(String, String), mlua::Error> {
    let lua = Lua::new_with(
        mlua::StdLib::TABLE | mlua::StdLib::PACKAGE,
        mlua::LuaOptions::new(),
    )?;
    lua.globals().set("obj", to_lua(&lua, resource))?;
    let hs: Table = lua.load(script).set_name("health.lua").eval()?;
    let status: Option<String> = hs.get("status")?;
    let message: Option<String> = hs.get("message")?;
    let status = status.unwrap_or_default();
    if !ARGO_HEALTH_CODES.contains(&status.as_str()) {
        return Ok((
            "Unknown".to_owned(),
            "Lua returned an invalid health status".to_owned(),
        ));
    }
    Ok((status, message.unwrap_or_default()))
}

/// JSON to Lua the way Argo CD hands `obj` over: objects and arrays become tables (arrays
/// 1-based), numbers are Lua numbers, null is nil.
fn to_lua(lua: &Lua, value: &Value) -> mlua::Value {
    match value {
        Value::Null => mlua::Value::Nil,
        Value::Bool(b) => mlua::Value::Boolean(*b),
        Value::Number(n) => mlua::Value::Number(n.as_f64().unwrap()),
        Value::String(s) => mlua::Value::String(lua.create_string(s).unwrap()),
        Value::Array(items) => {
            let table = lua.create_table().unwrap();
            for (i, item) in items.iter().enumerate() {
                table.set(i + 1, to_lua(lua, item)).unwrap();
            }
            mlua::Value::Table(table)
        }
        Value::Object(fields) => {
            let table = lua.create_table().unwrap();
            for (key, item) in fields {
                table.set(key.as_str(), to_lua(lua, item)).unwrap();
            }
            mlua::Value::Table(table)
        }
    }
}

/// The kstatus statuses Flux waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KStatus {
    InProgress,
    Failed,
    Current,
    Terminating,
}

/// kstatus `Compute` for a custom resource, rule by rule: a `deletionTimestamp` means
/// `Terminating`; an `observedGeneration` other than the generation means `InProgress`; then, in
/// list order, `Reconciling=True` means `InProgress` and `Stalled=True` means `Failed`; then
/// `Ready=True` means `Current` and `Ready=False` or `Unknown` means `InProgress`; and a resource
/// with none of these is `Current`.
fn kstatus(resource: &Value) -> KStatus {
    let metadata = &resource["metadata"];
    if metadata["deletionTimestamp"]
        .as_str()
        .is_some_and(|t| !t.is_empty())
    {
        return KStatus::Terminating;
    }
    let status = &resource["status"];
    if let (Some(generation), Some(observed)) = (
        metadata["generation"].as_i64(),
        status["observedGeneration"].as_i64(),
    ) && generation != observed
    {
        return KStatus::InProgress;
    }
    let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    for c in &conditions {
        match (c["type"].as_str(), c["status"].as_str()) {
            (Some("Reconciling"), Some("True")) => return KStatus::InProgress,
            (Some("Stalled"), Some("True")) => return KStatus::Failed,
            _ => {}
        }
    }
    for c in &conditions {
        if c["type"] == "Ready" {
            match c["status"].as_str() {
                Some("True") => return KStatus::Current,
                Some("False" | "Unknown") => return KStatus::InProgress,
                _ => {}
            }
        }
    }
    KStatus::Current
}

fn ready_reason(resource: &Value) -> String {
    resource["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .map(|c| c["reason"].as_str().unwrap().to_owned())
        .unwrap()
}

// --- The real statuses, phase by phase ---------------------------------------------------------

#[test]
fn an_offboarded_user_is_current_for_flux_and_healthy_for_argo() {
    let done = phase("done");

    assert_eq!(ready_reason(&done), reason::OFFBOARDED);
    assert_eq!(kstatus(&done), KStatus::Current);
    let (health, message) = argo_health(&done);
    assert_eq!(health, "Healthy");
    assert!(message.starts_with("Offboarded: "), "{message}");
}

#[test]
fn a_user_on_a_live_conversation_is_in_progress_for_flux_and_progressing_for_argo() {
    let waiting = phase("waiting");

    assert_eq!(
        ready_reason(&waiting),
        reason::WAITING_FOR_ACTIVE_CONVERSATION
    );
    assert_eq!(kstatus(&waiting), KStatus::InProgress);
    let (health, message) = argo_health(&waiting);
    assert_eq!(health, "Progressing");
    assert!(
        message.starts_with("WaitingForActiveConversation: "),
        "{message}"
    );
}

#[test]
fn a_scheduled_offboarding_is_in_progress_for_flux_and_progressing_for_argo() {
    let scheduled = phase("scheduled");

    assert_eq!(ready_reason(&scheduled), reason::SCHEDULED);
    assert_eq!(kstatus(&scheduled), KStatus::InProgress);
    let (health, message) = argo_health(&scheduled);
    assert_eq!(health, "Progressing");
    assert!(message.starts_with("Scheduled: "), "{message}");
}

#[test]
fn an_ambiguous_user_is_failed_for_flux_and_degraded_for_argo() {
    let ambiguous = phase("ambiguous");

    assert_eq!(ready_reason(&ambiguous), reason::AMBIGUOUS_USER);
    assert_eq!(kstatus(&ambiguous), KStatus::Failed);
    let (health, message) = argo_health(&ambiguous);
    assert_eq!(health, "Degraded");
    assert!(message.starts_with("AmbiguousUser: "), "{message}");
    assert!(message.contains("alex.morgan@example.com"), "{message}");
}

#[test]
fn a_suspended_offboarding_is_suspended_for_argo_and_in_progress_for_flux() {
    let suspended = phase("suspended");

    let (health, _) = argo_health(&suspended);
    assert_eq!(health, "Suspended");
    // kstatus has no "suspended": Ready=Unknown reads as InProgress, so a Flux Kustomization
    // that waits on a suspended offboarding waits until its timeout.
    assert_eq!(ready_reason(&suspended), reason::SUSPENDED);
    assert_eq!(kstatus(&suspended), KStatus::InProgress);
}

#[test]
fn an_observe_mode_dry_run_is_current_and_healthy_once_the_plan_is_reported() {
    let observed = phase("observed");

    assert_eq!(ready_reason(&observed), reason::OBSERVING);
    assert_eq!(kstatus(&observed), KStatus::Current);
    assert_eq!(argo_health(&observed).0, "Healthy");
}

#[test]
fn an_edit_the_operator_has_not_seen_yet_is_in_progress_for_both() {
    let mut edited = phase("done");
    edited["metadata"]["generation"] = json!(2);

    assert_eq!(kstatus(&edited), KStatus::InProgress);
    let (health, message) = argo_health(&edited);
    assert_eq!(health, "Progressing");
    assert_eq!(message, "Waiting for the operator to observe generation 2");
}

#[test]
fn a_resource_being_deleted_is_terminating_for_flux() {
    let mut deleted = phase("done");
    deleted["metadata"]["deletionTimestamp"] = json!("2026-11-22T08:00:00Z");

    assert_eq!(kstatus(&deleted), KStatus::Terminating);
}

#[test]
fn every_phase_writes_observed_generation_and_never_both_reconciling_and_stalled() {
    // kstatus reads Reconciling and Stalled in list order; the operator never sets both, so the
    // order cannot change the answer.
    for (name, resource) in phases() {
        assert_eq!(
            resource["status"]["observedGeneration"], resource["metadata"]["generation"],
            "{name}"
        );
        let is_true = |type_: &str| {
            resource["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["type"] == type_ && c["status"] == "True")
        };
        assert!(
            !(is_true(condition::RECONCILING) && is_true(condition::STALLED)),
            "{name}"
        );
    }
}

// --- Statuses one run cannot reach, built with the status helpers -------------------------------

fn resource_with(status: &GenesysUserOffboardingStatus) -> Value {
    json!({
        "apiVersion": format!("{API_GROUP}/v1alpha1"),
        "kind": "GenesysUserOffboarding",
        "metadata": {"name": "jane-doe", "namespace": "default", "generation": 1},
        "spec": {"user": {"email": "jane.doe@example.com"}, "credentialsSecretRef": {"name": "genesys-credentials"}, "region": "us_east_1"},
        "status": status,
    })
}

fn status_with(
    ready: (ConditionStatus, &str),
    reconciling: (bool, &str),
    stalled: (bool, &str),
) -> GenesysUserOffboardingStatus {
    let now = Time(k8s_openapi::jiff::Timestamp::from_second(1_800_000_000).unwrap());
    let mut status = GenesysUserOffboardingStatus {
        observed_generation: Some(1),
        ..Default::default()
    };
    for (type_, value, why) in [
        (condition::READY, ready.0, ready.1),
        (condition::RECONCILING, reconciling.0.into(), reconciling.1),
        (condition::STALLED, stalled.0.into(), stalled.1),
    ] {
        status.set_condition(type_, value, why, format!("{why} message"), Some(1), &now);
    }
    status
}

#[test]
fn restoring_retrying_and_awaiting_an_impact_acknowledgement_are_progressing() {
    for why in [
        reason::RESTORING,
        "RateLimited",
        reason::AWAITING_IMPACT_ACKNOWLEDGEMENT,
    ] {
        let resource = resource_with(&status_with(
            (ConditionStatus::False, why),
            (true, why),
            (false, reason::IDLE),
        ));

        assert_eq!(kstatus(&resource), KStatus::InProgress, "{why}");
        assert_eq!(
            argo_health(&resource),
            ("Progressing".to_owned(), format!("{why}: {why} message"))
        );
    }
}

#[test]
fn drift_reported_in_observe_mode_is_degraded_for_argo() {
    let resource = resource_with(&status_with(
        (ConditionStatus::False, reason::DRIFT_DETECTED),
        (false, reason::IDLE),
        (false, reason::IDLE),
    ));

    assert_eq!(argo_health(&resource).0, "Degraded");
    assert_eq!(kstatus(&resource), KStatus::InProgress);
}

#[test]
fn every_stall_reason_is_degraded_for_argo_and_failed_for_flux() {
    for why in [
        reason::AMBIGUOUS_USER,
        reason::USER_NOT_FOUND,
        reason::USER_DELETED,
        reason::ID_EMAIL_MISMATCH,
        reason::INVALID_SPEC,
        reason::CREDENTIALS_MISSING,
        reason::CREDENTIALS_REJECTED,
        reason::HISTORY_LOST,
    ] {
        let resource = resource_with(&status_with(
            (ConditionStatus::False, why),
            (false, reason::IDLE),
            (true, why),
        ));

        assert_eq!(kstatus(&resource), KStatus::Failed, "{why}");
        assert_eq!(argo_health(&resource).0, "Degraded", "{why}");
    }
}

#[test]
fn a_resource_the_operator_has_not_reported_on_is_progressing_for_argo() {
    let mut fresh = resource_with(&GenesysUserOffboardingStatus::default());
    fresh.as_object_mut().unwrap().remove("status");
    assert_eq!(argo_health(&fresh).0, "Progressing");

    // An empty status (no conditions yet) is not healthy either.
    let empty = resource_with(&GenesysUserOffboardingStatus::default());
    assert_eq!(argo_health(&empty).0, "Progressing");
    // kstatus counts a custom resource without conditions as Current: Flux relies on the
    // operator writing Reconciling=True on its first visit, which it does (see the phases).
    assert_eq!(kstatus(&fresh), KStatus::Current);
}

#[test]
fn suspend_wins_over_a_finished_offboarding_for_argo() {
    let mut resource = resource_with(&status_with(
        (ConditionStatus::True, reason::OFFBOARDED),
        (false, reason::SUSPENDED),
        (false, reason::IDLE),
    ));
    resource["spec"]["suspend"] = json!(true);

    assert_eq!(argo_health(&resource).0, "Suspended");
}

// --- Argo CD's own test file --------------------------------------------------------------------

/// `health_test.yaml`, as Argo CD's `TestStructure` reads it.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ArgoHealthTests {
    tests: Vec<ArgoHealthTest>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ArgoHealthTest {
    health_status: ArgoHealthStatus,
    input_path: String,
}

/// Argo CD's `health.HealthStatus`: both fields are compared, an absent message is empty.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ArgoHealthStatus {
    status: String,
    #[serde(default)]
    message: String,
}

fn read_in(dir: &Path, relative: &str) -> String {
    let path = dir.join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn argo_tests(dir: &Path) -> ArgoHealthTests {
    serde_yaml::from_str(&read_in(dir, "health_test.yaml")).unwrap()
}

/// An `inputPath` object as Argo CD's test loads it (YAML to JSON to the Lua `obj`).
fn argo_testdata(dir: &Path, input_path: &str) -> Value {
    serde_yaml::from_str(&read_in(dir, input_path)).unwrap()
}

/// Runs every case of `dir/health_test.yaml` against `dir/health.lua` as Argo CD's
/// `TestLuaHealthScript` does; one line per case whose status or message differs, or whose
/// script failed.
fn argo_test_failures(dir: &Path) -> Vec<String> {
    let script = read_in(dir, "health.lua");
    let mut failures = Vec::new();
    for test in argo_tests(dir).tests {
        let object = argo_testdata(dir, &test.input_path);
        let expected = (test.health_status.status, test.health_status.message);
        match run_health_script(&script, &object) {
            Ok(got) if got == expected => {}
            Ok(got) => failures.push(format!(
                "{}: expected {expected:?}, got {got:?}",
                test.input_path
            )),
            Err(error) => failures.push(format!("{}: the script failed: {error}", test.input_path)),
        }
    }
    failures
}

fn argo_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(ARGO_DIR)
}

#[test]
fn every_case_of_the_argo_cd_health_test_file_gets_exactly_its_status_and_message() {
    let dir = argo_dir();
    assert!(
        argo_tests(&dir).tests.len() >= 10,
        "health_test.yaml holds too few cases to cover the phases"
    );

    let failures = argo_test_failures(&dir);

    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_argo_cd_test_file_covers_each_health_and_uses_every_testdata_file_once() {
    let dir = argo_dir();
    let tests = argo_tests(&dir).tests;
    let healths: std::collections::BTreeSet<&str> = tests
        .iter()
        .map(|t| t.health_status.status.as_str())
        .collect();
    let mut inputs: Vec<String> = tests.iter().map(|t| t.input_path.clone()).collect();
    inputs.sort();
    let mut files: Vec<String> = std::fs::read_dir(dir.join("testdata"))
        .unwrap()
        .map(|e| format!("testdata/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    files.sort();

    assert_eq!(
        healths,
        ["Degraded", "Healthy", "Progressing", "Suspended"].into()
    );
    assert_eq!(
        inputs, files,
        "each testdata file is one case, and only once"
    );
    // The phases a reader looks for: nothing reported yet, an edit not yet seen, a change held
    // until a read confirms it, a live conversation, a schedule, a retry, a stall, a dry run.
    for case in [
        "testdata/progressing_noStatus.yaml",
        "testdata/progressing_generationNotObserved.yaml",
        "testdata/progressing_awaitingConfirmation.yaml",
        "testdata/progressing_waitingForActiveConversation.yaml",
        "testdata/progressing_scheduled.yaml",
        "testdata/progressing_retryingTransientError.yaml",
        "testdata/degraded_historyLost.yaml",
        "testdata/healthy_observing.yaml",
    ] {
        assert!(inputs.iter().any(|i| i == case), "no case {case}");
    }
}

#[test]
fn every_argo_cd_testdata_object_is_an_offboarding_the_api_server_would_store() {
    let dir = argo_dir();
    for test in argo_tests(&dir).tests {
        let object = argo_testdata(&dir, &test.input_path);

        let errors = crate::crd::schema_errors(&object);
        assert!(errors.is_empty(), "{}: {errors:?}", test.input_path);
        let decoded: Result<genesys_offboarding_operator::crd::GenesysUserOffboarding, _> =
            serde_json::from_value(object);
        assert!(decoded.is_ok(), "{}: {decoded:?}", test.input_path);
    }
}

#[test]
fn the_argo_cd_testdata_of_real_phases_carry_the_conditions_the_operator_writes() {
    // Taken from a run of the operator and trimmed; the conditions must stay what it writes.
    let conditions = |resource: &Value| -> Vec<(String, String, String)> {
        resource["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["type"].as_str().unwrap().to_owned(),
                    c["status"].as_str().unwrap().to_owned(),
                    c["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let dir = argo_dir();
    for (file, phase_name) in [
        ("testdata/healthy_offboarded.yaml", "done"),
        ("testdata/healthy_observing.yaml", "observed"),
        (
            "testdata/progressing_waitingForActiveConversation.yaml",
            "waiting",
        ),
        ("testdata/progressing_scheduled.yaml", "scheduled"),
        ("testdata/degraded_ambiguousUser.yaml", "ambiguous"),
        ("testdata/suspended.yaml", "suspended"),
    ] {
        assert_eq!(
            conditions(&argo_testdata(&dir, file)),
            conditions(&phase(phase_name)),
            "{file}"
        );
    }
}

#[test]
fn the_argo_cd_test_runner_reports_a_wrong_expectation_and_a_script_argo_cd_could_not_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("testdata")).unwrap();
    std::fs::write(
        dir.path().join("testdata/done.yaml"),
        read_in(&argo_dir(), "testdata/healthy_offboarded.yaml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("health_test.yaml"),
        "tests:\n- healthStatus: {status: Healthy, message: Offboarded}\n  inputPath: testdata/done.yaml\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("health.lua"), HEALTH_LUA).unwrap();

    let wrong_message = argo_test_failures(dir.path());

    assert_eq!(wrong_message.len(), 1, "{wrong_message:?}");
    assert!(
        wrong_message[0].starts_with("testdata/done.yaml: expected (\"Healthy\", \"Offboarded\"), got (\"Healthy\", \"Offboarded: Jane Doe"),
        "{wrong_message:?}"
    );

    // Argo CD opens no string library for a script of argocd-cm.
    std::fs::write(
        dir.path().join("health.lua"),
        "return {status = \"Healthy\", message = string.format(\"%s\", \"Offboarded\")}",
    )
    .unwrap();

    let no_string_library = argo_test_failures(dir.path());

    assert_eq!(no_string_library.len(), 1, "{no_string_library:?}");
    assert!(
        no_string_library[0].contains("the script failed"),
        "{no_string_library:?}"
    );

    // A status Argo CD does not know becomes Unknown, as in Argo CD.
    let odd = run_health_script("return {status = \"Fine\"}", &json!({})).unwrap();
    assert_eq!(
        odd,
        (
            "Unknown".to_owned(),
            "Lua returned an invalid health status".to_owned()
        )
    );
}

// --- The shipped examples ----------------------------------------------------------------------

fn yaml_documents(path: &str) -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

fn find<'a>(docs: &'a [serde_yaml::Value], kind: &str, name: &str) -> &'a serde_yaml::Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn the_health_check_names_the_argocd_cm_key_of_this_resource() {
    let key = format!("resource.customizations.health.{API_GROUP}_GenesysUserOffboarding");

    assert!(HEALTH_LUA.contains(&key), "health.lua should name {key}");
}

#[test]
fn the_flux_example_waits_on_offboardings_and_never_prunes_them() {
    let docs = yaml_documents("examples/flux-kustomization.yaml");
    let kustomization = find(&docs, "Kustomization", "genesys-offboardings");

    assert_eq!(
        kustomization["apiVersion"],
        "kustomize.toolkit.fluxcd.io/v1"
    );
    assert_eq!(kustomization["spec"]["wait"], true);
    assert!(kustomization["spec"]["timeout"].as_str().is_some());
    assert_eq!(kustomization["spec"]["prune"], false);
    let source = &kustomization["spec"]["sourceRef"];
    find(
        &docs,
        source["kind"].as_str().unwrap(),
        source["name"].as_str().unwrap(),
    );
}

#[test]
fn the_flux_helm_release_installs_this_chart_and_keeps_its_crd_up_to_date() {
    let docs = yaml_documents("deploy/flux/genesys-offboarding-operator.yaml");
    let release = find(&docs, "HelmRelease", "genesys-offboarding-operator");
    let chart = release["spec"]["chart"]["spec"]["chart"].as_str().unwrap();

    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(chart)
            .join("Chart.yaml")
            .is_file(),
        "{chart}"
    );
    assert_eq!(release["spec"]["install"]["crds"], "CreateReplace");
    assert_eq!(release["spec"]["upgrade"]["crds"], "CreateReplace");
    let source = &release["spec"]["chart"]["spec"]["sourceRef"];
    find(
        &docs,
        source["kind"].as_str().unwrap(),
        source["name"].as_str().unwrap(),
    );
}

#[test]
fn the_argocd_example_deploys_this_chart_and_never_prunes_offboardings() {
    let docs = yaml_documents("examples/argocd-application.yaml");
    let operator = find(&docs, "Application", "genesys-offboarding-operator");
    let offboardings = find(&docs, "Application", "genesys-offboardings");
    let path = operator["spec"]["source"]["path"].as_str().unwrap();

    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(path)
            .join("Chart.yaml")
            .is_file(),
        "{path}"
    );
    assert_eq!(
        offboardings["spec"]["syncPolicy"]["automated"]["prune"],
        false
    );
}
