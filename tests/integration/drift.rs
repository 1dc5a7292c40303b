//! Batched drift checks proven with the REAL controller
//! ([`Operator::run`]) against the fake Kubernetes API server and the Genesys Cloud emulator,
//! over real HTTP on loopback, on tokio's PAUSED clock (see `controller.rs`'s quiet-period test
//! for why that works with real sockets): an hour of `driftCheckInterval: 1m` takes seconds.
//!
//! What is counted is requests, never time: `Ready` resources cost one
//! `GET /api/v2/users?id=…&state=any` per 100 users per check, not a full pass each.
#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use crate::support::org;

use std::time::Duration;

use fake_apiserver::{FakeApiServer, FakeApiServerHandle};
use genesys_cloud::{
    AllowedEndpoints, ClientConfig, ClientCredentials, Endpoints, GenesysClient, UserId, UserState,
};
use genesys_emulator::{RecordedRequest, Sim, SimHandle};
use genesys_offboarding_operator::controller::{BackoffPolicy, Operator, Settings};
use genesys_offboarding_operator::crd::{GenesysUserOffboarding, condition};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::oneshot;

use crate::support::hanging::Hanging;
use crate::support::invariants::never_deletes_a_user;

const NS: &str = "default";
const SECRET: &str = "genesys-credentials";

struct World {
    api: FakeApiServerHandle,
    sim: SimHandle,
    client: Client,
}

impl World {
    /// The fake API server with the CRD and the Secret, and an emulated org of `users` agents
    /// without a request limit.
    async fn new(users: usize) -> Self {
        let api = FakeApiServer::start().await.unwrap();
        let crd = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("crds/genesysuseroffboardings.yaml"),
        )
        .unwrap();
        api.load_yaml(&crd).unwrap();
        let client = api.kube_client();
        let sim = Sim::start(
            org::fixture(users, 0, 0)
                .unwrap()
                .with_profile(genesys_emulator::fixture::Profile::Realistic),
        )
        .await
        .unwrap();
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": SECRET, "namespace": NS},
            "stringData": {"clientId": "demo-client", "clientSecret": "demo-secret"},
        }))
        .unwrap();
        Api::<Secret>::namespaced(client.clone(), NS)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
        Self { api, sim, client }
    }

    fn offboardings(&self) -> Api<GenesysUserOffboarding> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// Offboards agents `0..n` with `driftCheckInterval: 1m`.
    async fn offboard(&self, n: usize) {
        let base = self.sim.base_url().to_string();
        for i in 0..n {
            let resource: GenesysUserOffboarding = serde_json::from_value(json!({
                "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
                "kind": "GenesysUserOffboarding",
                "metadata": {"name": format!("agent-{i}"), "namespace": NS},
                "spec": {
                    "user": {"email": org::email(i)},
                    "credentialsSecretRef": {"name": SECRET},
                    "apiBaseUrl": base, "loginBaseUrl": base,
                    "driftCheckInterval": "1m",
                },
            }))
            .unwrap();
            self.offboardings()
                .create(&PostParams::default(), &resource)
                .await
                .unwrap();
        }
    }

    /// A resource of another organization, at `base`, as a finished offboarding left it
    /// (`Ready=True`, `Offboarded`, its user resolved): the drift checks watch it from the start.
    async fn finished_at(&self, name: &str, base: &str, user: &str) {
        let resource: GenesysUserOffboarding = serde_json::from_value(json!({
            "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
            "kind": "GenesysUserOffboarding",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "user": {"email": format!("{name}@example.com")},
                "credentialsSecretRef": {"name": SECRET},
                "apiBaseUrl": base, "loginBaseUrl": base,
                "driftCheckInterval": "1m",
            },
        }))
        .unwrap();
        let created = self
            .offboardings()
            .create(&PostParams::default(), &resource)
            .await
            .unwrap();
        let status = json!({
            "status": {
                "observedGeneration": created.metadata.generation,
                "user": {"id": user},
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "Offboarded",
                    "message": "offboarded", "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "observedGeneration": created.metadata.generation,
                }],
            }
        });
        self.offboardings()
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }

    async fn ready(&self) -> usize {
        self.offboardings()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|r| {
                r.status
                    .as_ref()
                    .and_then(|s| s.condition(condition::READY))
                    .is_some_and(|c| c.status == "True" && c.reason == "Offboarded")
            })
            .count()
    }

    async fn wait_until_ready(&self, n: usize) {
        for _ in 0..600 {
            if self.ready().await == n {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!("never Ready: {} of {n}", self.ready().await);
    }

    fn requests(&self) -> Vec<RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/api/v2/"))
            .collect()
    }

    fn user_state(&self, id: &str) -> String {
        self.sim.user(id).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn event_reasons(&self, name: &str) -> Vec<String> {
        Api::<KubeEvent>::namespaced(self.client.clone(), NS)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .filter_map(|e| e.reason)
            .collect()
    }

    /// Someone re-activates a user in Genesys Cloud, outside the operator.
    async fn reactivate(&self, id: &str) {
        let base = self.sim.base_url();
        let config = ClientConfig::new(
            Endpoints::custom(base.clone(), base).unwrap(),
            ClientCredentials::new("demo-client", "demo-secret".to_owned()),
        );
        GenesysClient::new(config)
            .unwrap()
            .set_user_state(&UserId::new(id), UserState::Active)
            .await
            .unwrap();
    }

    fn assert_no_user_was_deleted(&self) {
        never_deletes_a_user(&self.sim.requests()).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The drift sweep's read: users by id with `state=any` and no `expand` (a full pass's user
/// reads, coalesced, carry `expand`).
fn is_batched_check(r: &RecordedRequest) -> bool {
    r.method == "GET"
        && r.path == "/api/v2/users"
        && r.query.contains("state=any")
        && !r.query.contains("expand=")
}

fn settings() -> Settings {
    Settings {
        concurrency: 16,
        genesys_rate_limit: 1_000_000,
        backoff: BackoffPolicy {
            base: Duration::from_millis(200),
            max: Duration::from_secs(2),
        },
        drain_timeout: Duration::from_secs(5),
        // The emulator's loopback port, as an administrator allows it with --allowed-endpoint.
        allowed_endpoints: AllowedEndpoints::parse(["127.0.0.1"]).unwrap(),
        ..Settings::default()
    }
}

/// 150 `Ready` resources with `driftCheckInterval: 1m` over an hour: the checks cost
/// `ceil(150 / 100) = 2` requests a minute and no full pass; then a user re-activated in Genesys
/// is found by the next check and deactivated again, with a `DriftCorrected` Event.
#[tokio::test(start_paused = true)]
async fn ready_resources_are_checked_in_batches_of_a_hundred_and_only_drift_runs_a_full_pass() {
    const N: usize = 150;
    let world = World::new(N).await;
    let operator = Operator::new(world.client.clone(), settings());
    let metrics = operator.metrics();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(operator.run(async move {
        let _ = stopped.await;
    }));
    world.offboard(N).await;
    world.wait_until_ready(N).await;
    let passes = |text: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with("genesys_offboarding_reconciles_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|v| v as u64)
            .sum()
    };
    // Let the last passes finish and their status reach the reflector.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = world.requests().len();
    let passes_before = passes(&metrics.encode().unwrap());

    tokio::time::sleep(Duration::from_secs(3600)).await;

    let hour: Vec<RecordedRequest> = world.requests().split_off(before);
    let checks = hour.iter().filter(|r| is_batched_check(r)).count();
    let others: Vec<String> = hour
        .iter()
        .filter(|r| !is_batched_check(r))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let per_check = N.div_ceil(100);
    println!(
        "{N} Ready resources, driftCheckInterval 1m, one hour: {checks} batched checks ({} per minute), {} other requests",
        checks as f64 / 60.0,
        others.len()
    );
    assert!(
        (per_check * 58..=per_check * 62).contains(&checks),
        "about {per_check} checks a minute for an hour, got {checks}"
    );
    assert!(
        others.is_empty(),
        "no full pass while nothing drifted: {others:?}"
    );
    assert_eq!(
        passes(&metrics.encode().unwrap()),
        passes_before,
        "no reconcile pass while nothing drifted"
    );
    for r in hour.iter().filter(|r| is_batched_check(r)) {
        let ids: usize = url::form_urlencoded::parse(r.query.as_bytes())
            .filter(|(k, _)| k == "id")
            .map(|(_, v)| v.split(',').count())
            .sum();
        assert!(ids <= 100, "at most 100 ids per request, got {ids}");
    }

    // Act: someone re-activates agent 7.
    let agent = org::user_id(7);
    world.reactivate(&agent).await;
    assert_eq!(world.user_state(&agent), "active");
    tokio::time::sleep(Duration::from_secs(90)).await;

    assert_eq!(world.user_state(&agent), "inactive");
    let reasons = world.event_reasons("agent-7").await;
    assert!(
        reasons.iter().any(|r| r == "DriftCorrected"),
        "a DriftCorrected Event: {reasons:?}"
    );
    let text = metrics.encode().unwrap();
    assert!(
        text.contains("genesys_offboarding_drift_corrections_total 1"),
        "the correction is counted once: {text}"
    );
    let corrected = world.requests().len();
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(
        world.requests()[corrected..].iter().all(is_batched_check),
        "after the correction, only batched checks again"
    );
    assert_eq!(
        world
            .offboardings()
            .get("agent-7")
            .await
            .unwrap()
            .name_any(),
        "agent-7"
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    world.assert_no_user_was_deleted();
    drop(world.api);
}

/// For comparison, the per-resource full pass (batched checks off, `drift_sweep: None`): every
/// `Ready` resource re-reads everything each `driftCheckInterval`. Prints the requests one such
/// pass costs (the "before" figure of docs/performance.md).
#[tokio::test(start_paused = true)]
async fn without_batched_checks_every_ready_resource_runs_a_full_pass_each_interval() {
    const N: usize = 20;
    let world = World::new(N).await;
    let operator = Operator::new(
        world.client.clone(),
        Settings {
            drift_sweep: None,
            ..settings()
        },
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(operator.run(async move {
        let _ = stopped.await;
    }));
    world.offboard(N).await;
    world.wait_until_ready(N).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = world.requests().len();

    tokio::time::sleep(Duration::from_secs(10 * 60)).await;

    let calls = world.requests().len() - before;
    let batched = world.requests()[before..]
        .iter()
        .filter(|r| is_batched_check(r))
        .count();
    println!(
        "{N} Ready resources, driftCheckInterval 1m, ten minutes of full passes: {calls} requests, {:.1} per resource per check",
        calls as f64 / (N as f64 * 10.0)
    );
    assert!(
        calls >= N * 9,
        "a full pass per resource per minute: {calls}"
    );
    assert_eq!(batched, 0, "no batched check when they are off");
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    world.assert_no_user_was_deleted();
}

/// Two organizations whose endpoint accepts connections and never answers (each with a `Ready`
/// resource the checks watch) do not hold up the drift check of a third: its re-activated user
/// is found and deactivated again within the usual interval, while the two are being checked
/// too, not after their checks have given up one after the other.
#[tokio::test(start_paused = true)]
async fn organizations_that_never_answer_do_not_delay_the_drift_checks_of_another() {
    let world = World::new(1).await;
    let hanging = [Hanging::start().await, Hanging::start().await];
    for (i, endpoint) in hanging.iter().enumerate() {
        world
            .finished_at(
                &format!("stuck-{i}"),
                &endpoint.url,
                &format!("stuck-user-{i}"),
            )
            .await;
    }
    let operator = Operator::new(world.client.clone(), settings());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(operator.run(async move {
        let _ = stopped.await;
    }));
    world.offboard(1).await;
    world.wait_until_ready(3).await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    let agent = org::user_id(0);
    world.reactivate(&agent).await;
    let reactivated = tokio::time::Instant::now();
    // One interval (1m), one sweep (10s) and the pass: well within two minutes. Checked one
    // after the other, each hanging organization would first take its client's five attempts
    // of 30 s (2.5 min) before the third's drift could be acted on.
    while world.user_state(&agent) != "inactive" {
        assert!(
            reactivated.elapsed() < Duration::from_secs(120),
            "the drift of agent-0 was not corrected within 2 min: the hanging organizations held it up"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    for (i, endpoint) in hanging.iter().enumerate() {
        assert!(
            endpoint.accepted() >= 1,
            "stuck-{i}'s organization was checked as well"
        );
    }
    let reasons = world.event_reasons("agent-0").await;
    assert!(
        reasons.iter().any(|r| r == "DriftCorrected"),
        "a DriftCorrected Event: {reasons:?}"
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    world.assert_no_user_was_deleted();
}
