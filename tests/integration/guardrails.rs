//! The guardrails against a bad HR feed, with the REAL controller (`Operator::run`, in-process)
//! against the fake API server and the Genesys emulator: the deactivation cap per organization
//! (counted from the resources' status, so a restarted operator keeps to it), protected users,
//! and the approval gate. The approval gate's admission policy, rendered from the chart, is
//! evaluated with a CEL engine as the API server would, with the request's user.
//!
//! Each operator test ends with the safety checks of `support::k8s`: no user deleted, every
//! snapshot stored before its user's first write and never replaced.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::support::genesys::is_write;
use crate::support::k8s::{self, NS, World, check_invariants, is_offboarded, touches};
use crate::support::org;
use genesys_offboarding_operator::controller::{
    BackoffPolicy, DeactivationCapSettings, GuardrailSettings, Operator, RunError, Settings,
};
use genesys_offboarding_operator::crd::{GenesysUserOffboarding, annotation, condition, reason};
use genesys_offboarding_operator::reconcile::ProtectedUsers;
use genesys_offboarding_operator::telemetry::Metrics;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const PATIENCE: Duration = Duration::from_secs(60);

fn settings(guardrails: GuardrailSettings) -> Settings {
    Settings {
        genesys_rate_limit: 1_000_000,
        backoff: BackoffPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        },
        drain_timeout: Duration::from_secs(5),
        allowed_endpoints: k8s::allowed_endpoints(),
        guardrails,
        ..Settings::default()
    }
}

/// The operator in this process.
struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), RunError>>,
    metrics: Arc<Metrics>,
}

impl Running {
    fn start(client: Client, guardrails: GuardrailSettings) -> Self {
        let operator = Operator::new(client, settings(guardrails));
        let metrics = operator.metrics();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(operator.run(async move {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            task,
            metrics,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }

    /// The value of one metric line (`name{labels}`), 0 when absent.
    fn metric(&self, series: &str) -> f64 {
        self.metrics
            .encode()
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

fn cap(max: u32) -> GuardrailSettings {
    GuardrailSettings {
        deactivation_cap: Some(DeactivationCapSettings {
            cap: max,
            window: Duration::from_secs(3600),
        }),
        ..GuardrailSettings::default()
    }
}

fn ready_reason(resource: &GenesysUserOffboarding) -> Option<(String, String)> {
    let c = resource.status.as_ref()?.condition(condition::READY)?;
    Some((c.status.clone(), c.reason.clone()))
}

/// Waits until every resource of `names` satisfies `done`; fails with the last statuses.
async fn wait_all(
    world: &World,
    names: &[String],
    what: &str,
    done: impl Fn(&GenesysUserOffboarding) -> bool,
) -> Vec<GenesysUserOffboarding> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut all = Vec::new();
        for name in names {
            if let Ok(Some(r)) = world.offboardings().get_opt(name).await {
                all.push(r);
            }
        }
        if all.len() == names.len() && all.iter().all(&done) {
            return all;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all {what} within {PATIENCE:?}: {:?}",
            all.iter()
                .map(|r| (r.name_any(), ready_reason(r)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The reasons of the Events about `name`.
async fn event_reasons(world: &World, name: &str) -> Vec<String> {
    let events: Api<KubeEvent> = Api::namespaced(world.client.clone(), NS);
    events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reason)
        .collect()
}

fn inactive(world: &World, n: usize) -> usize {
    (0..n)
        .filter(|i| world.user_state(&org::user_id(*i)) == "inactive")
        .count()
}

fn genesys_writes_touching(world: &World, user: &str) -> usize {
    world
        .sim
        .requests()
        .iter()
        .filter(|r| is_write(r) && touches(r, user))
        .count()
}

fn held_by_cap(r: &GenesysUserOffboarding) -> bool {
    ready_reason(r).is_some_and(|(s, why)| s == "False" && why == reason::DEACTIVATION_CAP_REACHED)
        && r.status
            .as_ref()
            .is_some_and(|s| s.is_true(condition::RECONCILING))
}

#[tokio::test]
async fn a_wrong_export_deactivates_at_most_the_cap_and_the_rest_wait_even_across_a_restart() {
    const N: usize = 5;
    let world = World::new(org::fixture(N, 0, 0).unwrap()).await;
    let operator = Running::start(world.client.clone(), cap(2));
    let names: Vec<String> = (0..N).map(|i| format!("agent{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        world.offboard(name, &org::email(i), "").await;
    }

    // Two are offboarded, three wait with the reason, and Genesys saw no write for those three.
    let all = wait_all(&world, &names, "offboarded or held by the cap", |r| {
        is_offboarded(r) || held_by_cap(r)
    })
    .await;
    let (done, held): (Vec<_>, Vec<_>) = all.iter().partition(|r| is_offboarded(r));
    assert_eq!((done.len(), held.len()), (2, 3), "cap of 2 per hour");
    assert_eq!(inactive(&world, N), 2);
    for r in &done {
        assert!(
            r.status
                .as_ref()
                .unwrap()
                .deactivation_admitted_at
                .is_some(),
            "the admission is persisted"
        );
    }
    for r in &held {
        let i: usize = r.name_any()["agent".len()..].parse().unwrap();
        assert_eq!(genesys_writes_touching(&world, &org::user_id(i)), 0);
        let message = &r
            .status
            .as_ref()
            .unwrap()
            .condition(condition::READY)
            .unwrap()
            .message;
        assert!(message.contains("--deactivation-cap 2"), "{message}");
        assert!(
            event_reasons(&world, &r.name_any())
                .await
                .iter()
                .any(|e| e == reason::DEACTIVATION_CAP_REACHED),
            "an Event says why"
        );
    }
    assert!(
        operator.metric(
            r#"genesys_offboarding_guardrail_holds_total{reason="DeactivationCapReached"}"#
        ) >= 3.0
    );
    assert!(
        (operator.metric("genesys_offboarding_deactivations_admitted_total") - 2.0).abs()
            < f64::EPSILON
    );
    operator.stop().await;

    // A new operator (nothing in memory) counts the two from their status: the three still wait.
    let restarted = Running::start(world.client.clone(), cap(2));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while restarted
        .metric(r#"genesys_offboarding_guardrail_holds_total{reason="DeactivationCapReached"}"#)
        < 3.0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restarted operator never held the three"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(inactive(&world, N), 2, "a restart does not reset the cap");
    restarted.stop().await;

    // A human raises the cap: the rest go through.
    let raised = Running::start(world.client.clone(), cap(10));
    wait_all(&world, &names, "offboarded", is_offboarded).await;
    assert_eq!(inactive(&world, N), N);
    raised.stop().await;
    let users: Vec<(String, String)> = (0..N)
        .map(|i| (names[i].clone(), org::user_id(i)))
        .collect();
    let users: Vec<(&str, &str)> = users
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    check_invariants(&world, &users).await.unwrap();
}

#[tokio::test]
async fn protected_users_stall_with_the_reason_and_nothing_is_written_to_them() {
    const N: usize = 3;
    let world = World::new(org::fixture(N, 0, 0).unwrap()).await;
    let guardrails = GuardrailSettings {
        protected: ProtectedUsers::new(
            [org::user_id(2)],
            [org::email(1).to_uppercase()],
            ["Executives".to_owned()],
        ),
        ..GuardrailSettings::default()
    };
    let operator = Running::start(world.client.clone(), guardrails);
    let names: Vec<String> = (0..N).map(|i| format!("agent{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        world.offboard(name, &org::email(i), "").await;
    }

    let stalled = |r: &GenesysUserOffboarding| {
        ready_reason(r).is_some_and(|(_, why)| why == reason::PROTECTED_USER)
            && r.status
                .as_ref()
                .is_some_and(|s| s.is_true(condition::STALLED))
    };
    wait_all(&world, &names[..1], "offboarded", is_offboarded).await;
    let protected = wait_all(&world, &names[1..], "stalled as protected", stalled).await;

    for (r, user) in protected.iter().zip([org::user_id(1), org::user_id(2)]) {
        assert_eq!(world.user_state(&user), "active");
        assert_eq!(genesys_writes_touching(&world, &user), 0, "nothing changed");
        let status = r.status.as_ref().unwrap();
        assert!(status.snapshot.is_none() && status.deactivation_admitted_at.is_none());
        assert!(
            event_reasons(&world, &r.name_any())
                .await
                .iter()
                .any(|e| e == reason::PROTECTED_USER)
        );
    }
    let message = &protected[0]
        .status
        .as_ref()
        .unwrap()
        .condition(condition::STALLED)
        .unwrap()
        .message;
    assert!(message.contains(&org::email(1)), "{message}");
    assert!(
        operator.metric(r#"genesys_offboarding_guardrail_holds_total{reason="ProtectedUser"}"#)
            >= 2.0
    );
    operator.stop().await;
    check_invariants(&world, &[("agent0", &org::user_id(0))])
        .await
        .unwrap();
}

#[tokio::test]
async fn an_offboarding_waits_for_an_approval_by_someone_other_than_its_requester() {
    let world = World::new(org::fixture(1, 0, 0).unwrap()).await;
    let operator = Running::start(
        world.client.clone(),
        GuardrailSettings {
            require_approval: true,
            ..GuardrailSettings::default()
        },
    );
    world.offboard("agent0", &org::email(0), "").await;
    let names = ["agent0".to_owned()];
    let awaiting = |r: &GenesysUserOffboarding| {
        ready_reason(r).is_some_and(|(s, why)| s == "False" && why == reason::AWAITING_APPROVAL)
            && r.status
                .as_ref()
                .is_some_and(|s| s.is_true(condition::RECONCILING))
    };
    wait_all(&world, &names, "awaiting approval", awaiting).await;
    assert!(
        world.sim.requests().is_empty(),
        "no Genesys call before the approval"
    );
    assert!(
        event_reasons(&world, "agent0")
            .await
            .iter()
            .any(|e| e == reason::AWAITING_APPROVAL)
    );

    // The requester approving their own offboarding does not count.
    let offboardings = world.offboardings();
    let annotate = |pairs: Value| {
        let offboardings = offboardings.clone();
        async move {
            offboardings
                .patch(
                    "agent0",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"annotations": pairs}})),
                )
                .await
                .unwrap();
        }
    };
    annotate(json!({annotation::REQUESTED_BY: "alice", annotation::APPROVED_BY: "alice"})).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let r = world.offboardings().get("agent0").await.unwrap();
        let message = r
            .status
            .as_ref()
            .unwrap()
            .condition(condition::READY)
            .unwrap()
            .message
            .clone();
        if message.contains("cannot approve") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{message}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(world.sim.requests().is_empty());

    // Another approver: the offboarding goes on at once (the annotation change is a trigger).
    annotate(json!({annotation::APPROVED_BY: "bob"})).await;
    wait_all(&world, &names, "offboarded", is_offboarded).await;
    assert_eq!(world.user_state(&org::user_id(0)), "inactive");
    assert!(
        operator.metric(r#"genesys_offboarding_guardrail_holds_total{reason="AwaitingApproval"}"#)
            >= 2.0
    );
    operator.stop().await;
    check_invariants(&world, &[("agent0", &org::user_id(0))])
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// The admission policy of the approval gate, rendered from the chart and evaluated with CEL

/// The chart's `ValidatingAdmissionPolicy` with approvals on and the group `approvers`, rendered
/// by helm (installed by `scripts/test`), or `None` when `GENESYS_CHART_TESTS=skip`.
fn approval_policy() -> Option<Value> {
    if std::env::var("GENESYS_CHART_TESTS").is_ok_and(|v| v == "skip") {
        eprintln!("skipped: GENESYS_CHART_TESTS=skip");
        return None;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let helm = root.join(".tools/bin/helm");
    assert!(
        helm.is_file(),
        "{} is missing: run `scripts/test` once",
        helm.display()
    );
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("helm-home");
    let out = Command::new(&helm)
        .args([
            "template",
            "gofb",
            "charts/genesys-offboarding-operator",
            "--set",
            "guardrails.approval.enabled=true",
            "--set",
            "guardrails.approval.approverGroups={approvers}",
        ])
        .current_dir(root)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("KUBECONFIG", home.join("no-kubeconfig"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .find(|v: &Value| v["kind"] == "ValidatingAdmissionPolicy")
}

/// An offboarding with these annotations and this user.
fn object(annotations: &[(&str, &str)], email: &str) -> Value {
    let annotations: BTreeMap<&str, &str> = annotations.iter().copied().collect();
    json!({
        "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
        "kind": "GenesysUserOffboarding",
        "metadata": {"name": "jane", "namespace": "hr", "annotations": annotations},
        "spec": {"user": {"email": email}, "credentialsSecretRef": {"name": "c"}, "region": "us_east_1"},
    })
}

/// The messages of the policy's validations that deny the request (empty: admitted), each
/// expression evaluated by the CEL engine with the variables the API server binds: `object`,
/// `oldObject` (null on CREATE) and `request` with the requesting user's name and groups.
///
/// The variables are bound as plain JSON values: map keys such as the annotation names stay
/// as they are, as the API server keeps the keys of `metadata.annotations` (kube-cel's
/// `VapEvaluator` escapes every object key as if it were a declared property, so an
/// annotation lookup would fail there).
fn denials(
    policy: &Value,
    operation: &str,
    user: &str,
    groups: &[&str],
    new: &Value,
    old: Option<&Value>,
) -> Vec<String> {
    use kube_cel::KubeCelExt;
    use kube_cel::cel::{Context, Program, Value as Cel};
    let mut context = Context::default().with_all();
    let bind = |value: &Value| kube_cel::cel::to_value(value).unwrap();
    context.add_variable_from_value("object", bind(new));
    context.add_variable_from_value("oldObject", old.map_or(Cel::Null, bind));
    context.add_variable_from_value(
        "request",
        bind(&json!({
            "operation": operation,
            "name": "jane",
            "namespace": "hr",
            "userInfo": {"username": user, "groups": groups},
        })),
    );
    let eval = |source: &str| {
        Program::compile(source)
            .unwrap_or_else(|e| panic!("{source}: {e}"))
            .execute(&context)
    };
    let mut denied = Vec::new();
    for validation in policy["spec"]["validations"].as_array().unwrap() {
        let expression = validation["expression"].as_str().unwrap();
        match eval(expression) {
            Ok(Cel::Bool(true)) => {}
            Ok(Cel::Bool(false)) => {
                let message = match validation["messageExpression"].as_str().map(eval) {
                    Some(Ok(Cel::String(text))) => text.to_string(),
                    _ => validation["message"]
                        .as_str()
                        .unwrap_or(expression)
                        .to_owned(),
                };
                denied.push(message);
            }
            // An error denies too (failurePolicy: Fail).
            other => denied.push(format!("{expression}: {other:?}")),
        }
    }
    denied
}

#[test]
fn the_admission_policy_lets_only_another_approver_approve_and_records_the_requester() {
    let Some(policy) = approval_policy() else {
        return;
    };
    assert_eq!(policy["spec"]["failurePolicy"], "Fail");
    let (req, app) = (annotation::REQUESTED_BY, annotation::APPROVED_BY);
    let jane = "jane.doe@example.com";
    let requested = object(&[(req, "alice")], jane);
    let ok = |d: Vec<String>| assert!(d.is_empty(), "denied: {d:?}");
    // Denied by a rule that evaluated to false, not by an evaluation error.
    let denied = |d: Vec<String>| {
        assert!(!d.is_empty(), "admitted");
        assert!(d.iter().all(|m| !m.contains(": Err(")), "{d:?}");
    };

    // CREATE: the requester is whoever sends the request, and nobody approves at creation.
    ok(denials(&policy, "CREATE", "alice", &[], &requested, None));
    denied(denials(
        &policy,
        "CREATE",
        "alice",
        &[],
        &object(&[], jane),
        None,
    ));
    let impostor = denials(&policy, "CREATE", "mallory", &[], &requested, None);
    assert!(
        impostor.iter().any(|m| m.contains("mallory")),
        "{impostor:?}"
    );
    denied(denials(
        &policy,
        "CREATE",
        "alice",
        &["approvers"],
        &object(&[(req, "alice"), (app, "bob")], jane),
        None,
    ));

    // Approving: only a member of an approver group, naming themselves, not the requester.
    let approved_by = |who: &str| object(&[(req, "alice"), (app, who)], jane);
    ok(denials(
        &policy,
        "UPDATE",
        "bob",
        &["approvers"],
        &approved_by("bob"),
        Some(&requested),
    ));
    denied(denials(
        &policy,
        "UPDATE",
        "bob",
        &["staff"],
        &approved_by("bob"),
        Some(&requested),
    ));
    denied(denials(
        &policy,
        "UPDATE",
        "bob",
        &["approvers"],
        &approved_by("carol"),
        Some(&requested),
    ));
    denied(denials(
        &policy,
        "UPDATE",
        "alice",
        &["approvers"],
        &approved_by("alice"),
        Some(&requested),
    ));

    // The spec changes only with a new requester (the writer) and without an approval: an
    // approved offboarding cannot be pointed at another user.
    let approved = approved_by("bob");
    let retargeted = object(&[(req, "alice"), (app, "bob")], "ceo@example.com");
    denied(denials(
        &policy,
        "UPDATE",
        "alice",
        &[],
        &retargeted,
        Some(&approved),
    ));
    denied(denials(
        &policy,
        "UPDATE",
        "bob",
        &["approvers"],
        &retargeted,
        Some(&approved),
    ));
    let rewritten = object(&[(req, "bob")], "ceo@example.com");
    ok(denials(
        &policy,
        "UPDATE",
        "bob",
        &["approvers"],
        &rewritten,
        Some(&approved),
    ));
    // ... and that writer cannot approve it themselves afterwards.
    let self_approved = object(&[(req, "bob"), (app, "bob")], "ceo@example.com");
    denied(denials(
        &policy,
        "UPDATE",
        "bob",
        &["approvers"],
        &self_approved,
        Some(&rewritten),
    ));
    // The requester annotation does not change without the spec.
    denied(denials(
        &policy,
        "UPDATE",
        "carol",
        &[],
        &object(&[(req, "carol")], jane),
        Some(&requested),
    ));

    // The operator's own updates (finalizers) change neither spec nor annotations: admitted.
    let mut finalized = approved.clone();
    finalized["metadata"]["finalizers"] = json!(["offboarding.genesys-operator.io/restore"]);
    ok(denials(
        &policy,
        "UPDATE",
        "system:serviceaccount:genesys-offboarding:gofb",
        &["system:serviceaccounts"],
        &finalized,
        Some(&approved),
    ));
}
