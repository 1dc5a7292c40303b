//! `GitOps` health: what Argo CD and Flux make of an offboarding in each phase.
//!
//! - Argo CD: `deploy/argocd/health.lua` runs in Lua 5.1 (mlua; Argo CD's gopher-lua speaks the
//!   same dialect) with `obj` set to the resource, as Argo CD runs it.
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

const HEALTH_LUA: &str = include_str!("../../deploy/argocd/health.lua");

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

/// Runs `deploy/argocd/health.lua` with `obj` = `resource`; Argo CD's (status, message).
fn argo_health(resource: &Value) -> (String, String) {
    let lua = Lua::new();
    lua.globals().set("obj", to_lua(&lua, resource)).unwrap();
    let hs: Table = lua
        .load(HEALTH_LUA)
        .set_name("deploy/argocd/health.lua")
        .eval()
        .unwrap();
    (hs.get("status").unwrap(), hs.get("message").unwrap())
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
