//! The operator as it runs in a cluster, proven in-process: the REAL `kube_runtime::Controller`
//! (through [`Operator::run`]) against the project's fake Kubernetes API server
//! (`fake_apiserver`) and the Genesys Cloud emulator (`sim`), both over real HTTP on loopback.
//! Assertions read the API server (status, finalizers, Events), the emulator's stored users and
//! request log, and the operator's `/metrics`. The last test drives the real `kubectl`.
//!
//! Every test checks the safety invariant that no request to Genesys deletes a user.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fake_apiserver::{FakeApiServer, FakeApiServerHandle};
use genesys_cloud::{AllowedEndpoint, AllowedEndpoints};
use genesys_emulator::faults::Fault;
use genesys_emulator::fixture::Fixture;
use genesys_emulator::{Sim, SimHandle};
use genesys_offboarding_operator::admin::Health;
use genesys_offboarding_operator::controller::{
    BackoffPolicy, LeaderElection, Operator, RunError, Settings,
};
use genesys_offboarding_operator::crd::{
    EFFECTIVE_AT_MAX, FINALIZER, GenesysUserOffboarding, condition, reason,
};
use genesys_offboarding_operator::telemetry::{LogFormat, Metrics};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::events::v1::Event as KubeEvent;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::genesys::is_write;
use crate::support::hanging::Hanging;
use crate::support::invariants::never_deletes_a_user;
use crate::support::kubectl::Kubectl;

const JANE: &str = "6a1b0c3e-0000-4000-8000-000000000001";
const PRIYA: &str = "6a1b0c3e-0000-4000-8000-000000000007";
const MARIA: &str = "6a1b0c3e-0000-4000-8000-000000000008";
const SECRET: &str = "genesys-credentials";
const NS: &str = "default";
/// How long a test waits for a condition before it fails.
const PATIENCE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A fake API server with the committed CRD loaded (the kubectl test applies it with kubectl) and
/// the emulator's demo org (without its request limit), plus the Secret with its OAuth client.
struct World {
    api: FakeApiServerHandle,
    sim: SimHandle,
    client: Client,
}

impl World {
    async fn new() -> Self {
        let world = Self::without_crd().await;
        let crd =
            std::fs::read_to_string(repo().join("crds/genesysuseroffboardings.yaml")).unwrap();
        world.api.load_yaml(&crd).unwrap();
        world
    }

    /// A world whose API server serves `crd` (YAML) instead of the committed one.
    async fn with_crd(crd: &str) -> Self {
        let world = Self::without_crd().await;
        world.api.load_yaml(crd).unwrap();
        world
    }

    async fn without_crd() -> Self {
        let api = FakeApiServer::start().await.unwrap();
        let client = api.kube_client();
        let mut fixture = Fixture::demo();
        fixture.requests_per_minute = 0;
        let sim = Sim::start(fixture).await.unwrap();
        Self { api, sim, client }
    }

    async fn with_secret(self) -> Self {
        self.create_secret(NS, SECRET).await;
        self
    }

    async fn create_secret(&self, namespace: &str, name: &str) {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "type": "Opaque",
            "stringData": {"clientId": "demo-client", "clientSecret": "demo-secret"},
        }))
        .unwrap();
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }

    async fn create_namespace(&self, name: &str) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let namespace: Namespace = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        )
        .unwrap();
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap();
    }

    fn offboardings(&self, namespace: &str) -> Api<GenesysUserOffboarding> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Creates an offboarding of `email` pointed at the emulator; `extra` adds spec lines.
    async fn offboard(&self, namespace: &str, name: &str, email: &str, extra: &str) {
        let base = self.sim.base_url().to_string();
        self.offboard_at(namespace, name, email, &base, extra).await;
    }

    /// Creates an offboarding of `email` whose API and login base URL are `base`.
    async fn offboard_at(&self, namespace: &str, name: &str, email: &str, base: &str, extra: &str) {
        self.create_offboarding(namespace, name, email, base, SECRET, extra)
            .await;
    }

    /// Creates an offboarding of `email` at `base` with the credentials of the Secret `secret`;
    /// `extra` adds spec lines.
    async fn create_offboarding(
        &self,
        namespace: &str,
        name: &str,
        email: &str,
        base: &str,
        secret: &str,
        extra: &str,
    ) {
        let spec: serde_json::Value = serde_yaml::from_str(&format!(
            "user: {{email: {email}}}\ncredentialsSecretRef: {{name: {secret}}}\napiBaseUrl: {base}\nloginBaseUrl: {base}\n{extra}"
        ))
        .unwrap();
        let resource: GenesysUserOffboarding = serde_json::from_value(json!({
            "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
            "kind": "GenesysUserOffboarding",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }))
        .unwrap();
        self.offboardings(namespace)
            .create(&PostParams::default(), &resource)
            .await
            .unwrap();
    }

    /// The offboardings of `namespace` as JSON: what an older CRD admitted may not decode.
    fn offboardings_json(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            namespace,
            &ApiResource::erase::<GenesysUserOffboarding>(&()),
        )
    }

    /// Creates an offboarding of `email` as JSON, without decoding it first (`extra` adds spec
    /// lines); the API server's answer is returned.
    async fn offboard_json(
        &self,
        namespace: &str,
        name: &str,
        email: &str,
        extra: &str,
    ) -> Result<DynamicObject, kube::Error> {
        let base = self.sim.base_url().to_string();
        let spec: serde_json::Value = serde_yaml::from_str(&format!(
            "user: {{email: {email}}}\ncredentialsSecretRef: {{name: {SECRET}}}\napiBaseUrl: {base}\nloginBaseUrl: {base}\n{extra}"
        ))
        .unwrap();
        let resource: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
            "kind": "GenesysUserOffboarding",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }))
        .unwrap();
        self.offboardings_json(namespace)
            .create(&PostParams::default(), &resource)
            .await
    }

    /// Waits until the resource, read as JSON, satisfies `done`; fails with its last state.
    async fn wait_for_json(
        &self,
        namespace: &str,
        name: &str,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let api = self.offboardings_json(namespace);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let current = api
                .get_opt(name)
                .await
                .unwrap()
                .map(|r| serde_json::to_value(r).unwrap());
            if let Some(resource) = &current
                && done(resource)
            {
                return resource.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{namespace}/{name} never became {what}; last seen:\n{}",
                serde_yaml::to_string(&current).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates an offboarding of `email` whose Genesys organization is at `base` (API and login),
    /// with the credentials of the Secret `secret` (created when missing).
    async fn offboard_with_secret_at(&self, name: &str, email: &str, base: &str, secret: &str) {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), NS);
        if secrets.get_opt(secret).await.unwrap().is_none() {
            self.create_secret(NS, secret).await;
        }
        self.create_offboarding(NS, name, email, base, secret, "")
            .await;
    }

    /// Waits until the resource satisfies `done`; fails with its last state.
    async fn wait_for(
        &self,
        namespace: &str,
        name: &str,
        what: &str,
        done: impl Fn(&GenesysUserOffboarding) -> bool,
    ) -> GenesysUserOffboarding {
        let api = self.offboardings(namespace);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let current = api.get_opt(name).await.unwrap();
            if let Some(resource) = &current
                && done(resource)
            {
                return resource.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{namespace}/{name} never became {what}; last seen:\n{}",
                serde_yaml::to_string(&current).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_until_gone(&self, namespace: &str, name: &str) {
        let api = self.offboardings(namespace);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while api.get_opt(name).await.unwrap().is_some() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{namespace}/{name} was never deleted"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The emulator's stored state of a user (`active` / `inactive`).
    fn user_state(&self, id: &str) -> String {
        self.sim.user(id).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Requests to Genesys that change something (every method but GET, except the token, the
    /// user search and the analytics queries, which are reads sent as POST).
    fn genesys_writes(&self) -> Vec<String> {
        self.sim
            .requests()
            .iter()
            .filter(|r| is_write(r))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// Status writes (`PATCH .../status`) of one resource seen by the API server so far.
    fn status_writes(&self, name: &str) -> usize {
        self.api.count_requests(|r| {
            r.is_status_write()
                && r.is_on("genesysuseroffboardings")
                && r.name.as_deref() == Some(name)
        })
    }

    /// The Events recorded about one resource: `(type, reason, note, reportingInstance)`.
    async fn events(&self, namespace: &str, name: &str) -> Vec<(String, String, String, String)> {
        let events: Api<KubeEvent> = Api::namespaced(self.client.clone(), namespace);
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.note.unwrap_or_default(),
                    e.reporting_instance.unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Every test ends here: nothing ever deleted a Genesys user.
    fn assert_no_user_was_deleted(&self) {
        never_deletes_a_user(&self.sim.requests()).unwrap_or_else(|e| panic!("{e}"));
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn committed_crd() -> String {
    std::fs::read_to_string(repo().join("crds/genesysuseroffboardings.yaml")).unwrap()
}

/// The committed CRD as a release before the rules on `spec.effectiveAt` had it: its API server
/// stores dates the operator cannot decode (and keeps them after the CRD is upgraded; Helm
/// never upgrades a chart's CRDs either).
fn crd_without_effective_at_rules() -> String {
    let mut crd: serde_json::Value = serde_yaml::from_str(&committed_crd()).unwrap();
    let effective_at = crd
        .pointer_mut(
            "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/effectiveAt",
        )
        .unwrap()
        .as_object_mut()
        .unwrap();
    assert!(
        effective_at.remove("x-kubernetes-validations").is_some(),
        "the committed CRD bounds effectiveAt"
    );
    effective_at.remove("pattern");
    serde_yaml::to_string(&crd).unwrap()
}

/// The condition of type `type_` of a resource read as JSON.
fn json_condition<'a>(
    resource: &'a serde_json::Value,
    type_: &str,
) -> Option<&'a serde_json::Value> {
    resource["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Stalled=True and Ready=False with reason `Undecodable`, naming `spec.effectiveAt`.
fn reported_undecodable(resource: &serde_json::Value) -> bool {
    let says = |type_: &str, status: &str| {
        json_condition(resource, type_).is_some_and(|c| {
            c["status"] == status
                && c["reason"] == reason::UNDECODABLE
                && c["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("spec.effectiveAt"))
                && c["observedGeneration"] == resource["metadata"]["generation"]
        })
    };
    says(condition::STALLED, "True") && says(condition::READY, "False")
}

/// Settings for tests: a Genesys budget that never throttles, short backoffs, short leases, and
/// custom endpoints allowed on 127.0.0.1 (every port: the emulator picks its own), as an
/// administrator allows them with `--allowed-endpoint 127.0.0.1`.
fn settings() -> Settings {
    Settings {
        genesys_rate_limit: 1_000_000,
        backoff: BackoffPolicy {
            base: Duration::from_millis(200),
            max: Duration::from_secs(2),
        },
        drain_timeout: Duration::from_secs(5),
        allowed_endpoints: AllowedEndpoints::parse(["127.0.0.1"]).unwrap(),
        ..Settings::default()
    }
}

/// An operator running in this process, with its admin server on a free port.
struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), RunError>>,
    metrics: Arc<Metrics>,
    health: Health,
    admin: SocketAddr,
}

impl Running {
    async fn start(client: Client, settings: Settings) -> Self {
        // `RUST_LOG=debug cargo test --test integration controller:: -- --nocapture` shows the
        // operator's logs.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let operator = Operator::new(client, settings);
        let (metrics, health) = (operator.metrics(), operator.health());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = listener.local_addr().unwrap();
        tokio::spawn(genesys_offboarding_operator::admin::serve(
            listener,
            metrics.clone(),
            health.clone(),
            std::future::pending(),
        ));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(operator.run(async move {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            task,
            metrics,
            health,
            admin,
        }
    }

    /// Sends the shutdown signal and waits for the operator to end.
    async fn stop(mut self) -> Result<(), RunError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("the operator did not stop")
            .unwrap()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("http://{}{path}", self.admin))
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The value of one integer metric series (0 when absent).
    fn metric(&self, series: &str) -> u64 {
        metric(&self.metrics.encode().unwrap(), series)
    }
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map_or(0, |value| value.trim().parse().unwrap())
}

fn condition_of<'a>(
    resource: &'a GenesysUserOffboarding,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    resource.status.as_ref()?.condition(type_)
}

fn ready_with(reason: &'static str) -> impl Fn(&GenesysUserOffboarding) -> bool {
    move |r| {
        condition_of(r, condition::READY).is_some_and(|c| c.status == "True" && c.reason == reason)
    }
}

async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The operator
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_reaches_ready_with_full_status_and_the_user_is_inactive_in_genesys() {
    let world = World::new().await.with_secret().await;
    let operator = Running::start(world.client.clone(), settings()).await;

    world.offboard(NS, "jane", "jane.doe@example.com", "").await;
    // The in-progress finalizer held while Genesys was being changed goes once it is finished.
    let jane = world
        .wait_for(NS, "jane", "Ready=True without a finalizer", |r| {
            ready_with("Offboarded")(r) && r.finalizers().is_empty()
        })
        .await;

    let status = jane.status.clone().unwrap();
    assert_eq!(status.observed_generation, jane.metadata.generation);
    for type_ in condition::ALL {
        let c = status
            .condition(type_)
            .unwrap_or_else(|| panic!("no {type_} condition"));
        assert_eq!(c.observed_generation, jane.metadata.generation, "{type_}");
    }
    for (type_, value) in [
        (condition::RECONCILING, "False"),
        (condition::STALLED, "False"),
        (condition::USER_RESOLVED, "True"),
        (condition::ROUTING_DRAINED, "True"),
        (condition::DEACTIVATED, "True"),
        // No API reads another user's tokens: accepted, never claimed True.
        (condition::SESSIONS_REVOKED, "Unknown"),
        (condition::HISTORY_VERIFIED, "True"),
    ] {
        assert_eq!(status.condition(type_).unwrap().status, value, "{type_}");
    }
    let user = status.user.as_ref().unwrap();
    assert_eq!(user.id, JANE);
    assert_eq!(user.state_now.as_ref().unwrap().as_str(), "inactive");
    assert_eq!(status.snapshot.as_ref().unwrap().state.as_str(), "active");
    assert!(status.history.is_some() && !status.actions.is_empty() && status.plan.is_empty());
    assert!(status.next_drift_check.is_some());
    assert!(
        jane.finalizers().is_empty(),
        "finished Orphan resources carry no finalizer"
    );
    assert_eq!(world.user_state(JANE), "inactive");

    // Events follow the status write that made the resource Ready.
    eventually("an Offboarded Event", || async {
        world
            .events(NS, "jane")
            .await
            .iter()
            .any(|e| e.1 == "Offboarded")
    })
    .await;
    let events = world.events(NS, "jane").await;
    let reasons: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert!(
        reasons.contains(&"Deactivate"),
        "a step Event per step: {reasons:?}"
    );
    assert!(
        events.iter().all(|e| !e.2.contains("demo-secret")),
        "no secret in Events"
    );
    let status_text = serde_json::to_string(&status).unwrap();
    assert!(!status_text.contains("demo-secret"), "no secret in status");

    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_change_from_observe_to_enforce_is_followed_and_observed_generation_tracks_it() {
    let world = World::new().await.with_secret().await;
    let operator = Running::start(world.client.clone(), settings()).await;

    world
        .offboard(
            NS,
            "jane",
            "jane.doe@example.com",
            "managementPolicy: Observe",
        )
        .await;
    let observed = world
        .wait_for(
            NS,
            "jane",
            "Ready=True (Observing)",
            ready_with("Observing"),
        )
        .await;
    assert_eq!(observed.metadata.generation, Some(1));
    assert_eq!(
        observed.status.as_ref().unwrap().observed_generation,
        Some(1)
    );
    assert!(
        !observed.status.as_ref().unwrap().plan.is_empty(),
        "Observe reports the plan"
    );
    assert_eq!(world.user_state(JANE), "active");
    assert_eq!(
        world.genesys_writes(),
        Vec::<String>::new(),
        "Observe writes nothing to Genesys"
    );

    world
        .offboardings(NS)
        .patch(
            "jane",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"managementPolicy": "Enforce"}})),
        )
        .await
        .unwrap();
    let enforced = world
        .wait_for(NS, "jane", "Ready=True (Offboarded) at generation 2", |r| {
            ready_with("Offboarded")(r) && r.status.as_ref().unwrap().observed_generation == Some(2)
        })
        .await;

    assert_eq!(enforced.metadata.generation, Some(2));
    assert_eq!(
        condition_of(&enforced, condition::READY)
            .unwrap()
            .observed_generation,
        Some(2)
    );
    assert_eq!(world.user_state(JANE), "inactive");
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_resource_with_restore_runs_the_finalizer_and_the_user_is_active_again() {
    let world = World::new().await.with_secret().await;
    let operator = Running::start(world.client.clone(), settings()).await;

    world
        .offboard(
            NS,
            "jane",
            "jane.doe@example.com",
            "deletionPolicy: Restore",
        )
        .await;
    let jane = world
        .wait_for(NS, "jane", "Ready=True", ready_with("Offboarded"))
        .await;
    assert_eq!(jane.finalizers(), [FINALIZER.to_owned()]);
    assert_eq!(world.user_state(JANE), "inactive");

    world
        .offboardings(NS)
        .delete("jane", &DeleteParams::default())
        .await
        .unwrap();
    world.wait_until_gone(NS, "jane").await;

    assert_eq!(
        world.user_state(JANE),
        "active",
        "Restore re-activated the user"
    );
    eventually("a Restored Event", || async {
        world
            .events(NS, "jane")
            .await
            .iter()
            .any(|e| e.1 == "Restored")
    })
    .await;
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_restore_to_orphan_removes_the_finalizer_and_deletion_leaves_the_user_inactive() {
    let world = World::new().await.with_secret().await;
    let operator = Running::start(world.client.clone(), settings()).await;
    world
        .offboard(
            NS,
            "jane",
            "jane.doe@example.com",
            "deletionPolicy: Restore",
        )
        .await;
    world
        .wait_for(NS, "jane", "Ready=True with the finalizer", |r| {
            ready_with("Offboarded")(r) && !r.finalizers().is_empty()
        })
        .await;

    world
        .offboardings(NS)
        .patch(
            "jane",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"deletionPolicy": "Orphan"}})),
        )
        .await
        .unwrap();
    world
        .wait_for(NS, "jane", "without the finalizer", |r| {
            r.finalizers().is_empty()
        })
        .await;
    world
        .offboardings(NS)
        .delete("jane", &DeleteParams::default())
        .await
        .unwrap();
    world.wait_until_gone(NS, "jane").await;

    assert_eq!(
        world.user_state(JANE),
        "inactive",
        "Orphan never re-activates"
    );
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_orphan_resource_mid_offboarding_finishes_the_offboarding_and_leaves_an_event()
{
    let world = World::new().await.with_secret().await;
    // Hold the pass right after its first Genesys write: the presence is set Offline, and the
    // answer reaches the operator three seconds later.
    world.sim.inject(
        Fault::new("PATCH", "/api/v2/users/*/presences/*")
            .after_serve()
            .delay_ms(3000),
    );
    let operator = Running::start(world.client.clone(), settings()).await;
    world.offboard(NS, "jane", "jane.doe@example.com", "").await;
    eventually("the first write reached Genesys", || async {
        world
            .sim
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.contains("/presences/"))
    })
    .await;

    // Deleted while the user is half drained and still active.
    assert_eq!(world.user_state(JANE), "active");
    world
        .offboardings(NS)
        .delete("jane", &DeleteParams::default())
        .await
        .unwrap();
    world.wait_until_gone(NS, "jane").await;

    // The offboarding was finished, not left half done.
    assert_eq!(
        world.user_state(JANE),
        "inactive",
        "finished before it went"
    );
    let requests = world.sim.requests();
    assert!(
        requests.iter().any(|r| r.method == "DELETE"
            && r.path == format!("/api/v2/tokens/{JANE}")
            && (200..300).contains(&r.status)),
        "sessions revoked"
    );
    // ... and no Genesys write came after the resource was gone: the last request that touched
    // it is the one that took the finalizer off.
    let gone_at = world
        .api
        .requests()
        .iter()
        .filter(|r| {
            r.is_write()
                && r.is_on("genesysuseroffboardings")
                && r.name.as_deref() == Some("jane")
                && (200..300).contains(&r.status)
        })
        .map(|r| r.time)
        .max()
        .unwrap();
    for write in requests.iter().filter(|r| is_write(r)) {
        assert!(
            std::time::SystemTime::from(write.time) <= gone_at,
            "{} {} after the resource was gone",
            write.method,
            write.path
        );
    }
    // A record of what was done.
    eventually("a FinishedBeforeDeletion Event", || async {
        world
            .events(NS, "jane")
            .await
            .iter()
            .any(|e| e.1 == "FinishedBeforeDeletion")
    })
    .await;
    let events = world.events(NS, "jane").await;
    let note = &events
        .iter()
        .find(|e| e.1 == "FinishedBeforeDeletion")
        .unwrap()
        .2;
    for step in ["SetPresenceOffline", "Deactivate", "RevokeSessions"] {
        assert!(note.contains(step), "{step} listed as done: {note}");
    }
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_resource_deleted_mid_offboarding_that_cannot_finish_goes_with_a_warning_listing_what_is_left()
 {
    let world = World::new().await.with_secret().await;
    // The pass is held after its first write (presence Offline, answered 3 s late), and the
    // OAuth client may not deactivate users: the offboarding stalls at Deactivate.
    world.sim.inject(
        Fault::new("PATCH", "/api/v2/users/*/presences/*")
            .after_serve()
            .delay_ms(3000),
    );
    world.sim.inject(
        Fault::new("PATCH", "/api/v2/users/*")
            .status(403)
            .times(100),
    );
    let operator = Running::start(world.client.clone(), settings()).await;
    world.offboard(NS, "jane", "jane.doe@example.com", "").await;
    eventually("the first write reached Genesys", || async {
        world
            .sim
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.contains("/presences/"))
    })
    .await;

    world
        .offboardings(NS)
        .delete("jane", &DeleteParams::default())
        .await
        .unwrap();
    // Not held forever: it goes once the offboarding cannot be finished.
    world.wait_until_gone(NS, "jane").await;

    assert_eq!(
        world.user_state(JANE),
        "active",
        "the deactivation was refused"
    );
    eventually("a DeletedUnfinished Warning", || async {
        world
            .events(NS, "jane")
            .await
            .iter()
            .any(|e| e.0 == "Warning" && e.1 == "DeletedUnfinished")
    })
    .await;
    let events = world.events(NS, "jane").await;
    let note = &events
        .iter()
        .find(|e| e.1 == "DeletedUnfinished")
        .unwrap()
        .2;
    let (done, left) = note.split_once("Not done:").unwrap();
    assert!(done.contains("SetPresenceOffline"), "{note}");
    assert!(
        left.contains("Deactivate") && left.contains("RevokeSessions"),
        "{note}"
    );
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_resource_deleted_before_any_write_goes_at_once_and_nothing_is_written() {
    let world = World::new().await.with_secret().await;
    let operator = Running::start(world.client.clone(), settings()).await;
    world
        .offboard(
            NS,
            "jane",
            "jane.doe@example.com",
            "effectiveAt: '2099-01-01T00:00:00Z'",
        )
        .await;
    world
        .wait_for(NS, "jane", "scheduled", |r| {
            condition_of(r, condition::READY).is_some_and(|c| c.reason == "Scheduled")
        })
        .await;
    assert!(
        world
            .offboardings(NS)
            .get("jane")
            .await
            .unwrap()
            .finalizers()
            .is_empty(),
        "no finalizer before the first write"
    );

    world
        .offboardings(NS)
        .delete("jane", &DeleteParams::default())
        .await
        .unwrap();
    world.wait_until_gone(NS, "jane").await;

    assert!(
        world.genesys_writes().is_empty(),
        "{:?}",
        world.genesys_writes()
    );
    assert_eq!(world.user_state(JANE), "active");
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_whose_endpoint_never_answers_cannot_take_every_worker() {
    let world = World::new().await.with_secret().await;
    let hanging = Hanging::start().await;
    // Four workers, and passes are never abandoned here: only the cap per organization (half
    // the workers by default) can leave a worker for another tenant.
    let operator = Running::start(
        world.client.clone(),
        Settings {
            concurrency: 4,
            pass_timeout: Duration::from_secs(600),
            ..settings()
        },
    )
    .await;
    for i in 0..6 {
        world
            .offboard_with_secret_at(
                &format!("stuck-{i}"),
                &format!("agent{i}@example.com"),
                &hanging.url,
                "stuck-credentials",
            )
            .await;
    }
    eventually(
        "the hanging organization's passes are under way",
        || async { hanging.accepted() >= 1 },
    )
    .await;

    world.offboard(NS, "jane", "jane.doe@example.com", "").await;
    world
        .wait_for(NS, "jane", "Ready=True", ready_with("Offboarded"))
        .await;

    // The hanging organization's passes are still blocked: none has ended, in error or else.
    assert_eq!(
        operator.metric(r#"genesys_offboarding_reconciles_total{outcome="Error"}"#),
        0
    );
    assert!(operator.metric(r#"genesys_offboarding_reconciles_total{outcome="OrgBusy"}"#) >= 1);
    for i in 0..6 {
        let stuck = world
            .offboardings(NS)
            .get(&format!("stuck-{i}"))
            .await
            .unwrap();
        assert!(!ready_with("Offboarded")(&stuck), "stuck-{i}");
    }
    assert_eq!(world.user_state(JANE), "inactive");
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_longer_than_the_pass_timeout_is_abandoned_and_retried_so_other_tenants_progress() {
    let world = World::new().await.with_secret().await;
    let hanging = Hanging::start().await;
    // Two workers and two organizations whose endpoint never answers (one pass each at most, so
    // both workers are theirs): only the deadline of a pass frees a worker.
    let operator = Running::start(
        world.client.clone(),
        Settings {
            concurrency: 2,
            pass_timeout: Duration::from_secs(3),
            ..settings()
        },
    )
    .await;
    for (i, secret) in ["stuck-a", "stuck-b"].into_iter().enumerate() {
        world
            .offboard_with_secret_at(
                secret,
                &format!("agent{i}@example.com"),
                &hanging.url,
                secret,
            )
            .await;
    }
    eventually(
        "the hanging organizations' passes are under way",
        || async { hanging.accepted() >= 2 },
    )
    .await;

    world.offboard(NS, "jane", "jane.doe@example.com", "").await;
    world
        .wait_for(NS, "jane", "Ready=True", ready_with("Offboarded"))
        .await;

    // The hanging passes were abandoned, reported, and tried again.
    eventually("abandoned passes retried", || async {
        operator.metric(r#"genesys_offboarding_reconcile_failures_total{reason="PassTimedOut"}"#)
            >= 3
    })
    .await;
    eventually("a PassTimedOut Event", || async {
        world
            .events(NS, "stuck-a")
            .await
            .iter()
            .any(|e| e.0 == "Warning" && e.1 == "PassTimedOut")
    })
    .await;
    assert_eq!(world.user_state(JANE), "inactive");
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_stalls_with_credentials_missing_and_creating_it_makes_the_resource_converge()
 {
    let world = World::new().await;
    let operator = Running::start(world.client.clone(), settings()).await;

    world.offboard(NS, "jane", "jane.doe@example.com", "").await;
    let stalled = world
        .wait_for(NS, "jane", "Stalled=True (CredentialsMissing)", |r| {
            condition_of(r, condition::STALLED)
                .is_some_and(|c| c.status == "True" && c.reason == "CredentialsMissing")
        })
        .await;

    let ready = condition_of(&stalled, condition::READY).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "CredentialsMissing")
    );
    assert!(ready.message.contains(SECRET), "{}", ready.message);
    assert!(
        world.sim.requests().is_empty(),
        "no Genesys request without credentials"
    );
    // The pass is counted after it persisted the status.
    eventually("the stall counted as a failure", || async {
        operator
            .metric(r#"genesys_offboarding_reconcile_failures_total{reason="CredentialsMissing"}"#)
            >= 1
    })
    .await;

    // The Secret watch: creating the Secret reconciles the resource that references it.
    world.create_secret(NS, SECRET).await;
    world
        .wait_for(NS, "jane", "Ready=True", ready_with("Offboarded"))
        .await;

    assert_eq!(world.user_state(JANE), "inactive");
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

/// A loopback listener that only counts the connections it accepts (and drops them).
struct Listener {
    base: String,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Listener {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { base, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Waits until `name` is `Stalled=True` with `EndpointNotAllowed`, and checks that the message
/// tells nothing of the URL and that the Secret was never read for it.
async fn wait_until_endpoint_not_allowed(world: &World, name: &str, listener: &Listener) {
    let stalled = world
        .wait_for(NS, name, "Stalled=True (EndpointNotAllowed)", |r| {
            condition_of(r, condition::STALLED)
                .is_some_and(|c| c.status == "True" && c.reason == "EndpointNotAllowed")
        })
        .await;
    let ready = condition_of(&stalled, condition::READY).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "EndpointNotAllowed")
    );
    let port = listener
        .base
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/');
    assert!(
        !ready.message.contains("127.0.0.1") && !ready.message.contains(port),
        "{}",
        ready.message
    );
    assert!(
        ready.message.contains("--allowed-endpoint"),
        "{}",
        ready.message
    );
    // Events follow the status write.
    eventually("an EndpointNotAllowed Warning", || async {
        world
            .events(NS, name)
            .await
            .iter()
            .any(|(kind, reason, _, _)| kind == "Warning" && reason == "EndpointNotAllowed")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_endpoints_are_refused_by_default_without_reading_the_secret_or_connecting() {
    let world = World::new().await.with_secret().await;
    let listener = Listener::start().await;
    let operator = Running::start(
        world.client.clone(),
        Settings {
            allowed_endpoints: AllowedEndpoints::default(),
            ..settings()
        },
    )
    .await;

    // Observe mode is enough to have credentials sent, were the endpoint used.
    world
        .offboard_at(
            NS,
            "jane",
            "jane.doe@example.com",
            &listener.base,
            "managementPolicy: Observe",
        )
        .await;
    wait_until_endpoint_not_allowed(&world, "jane", &listener).await;

    assert_eq!(listener.connections(), 0, "nothing connected to the URL");
    assert!(world.sim.requests().is_empty());
    let secret_reads = world
        .api
        .count_requests(|r| r.is_on("secrets") && r.name.as_deref() == Some(SECRET));
    assert_eq!(secret_reads, 0, "the Secret was not read");
    eventually("the stall counted as a failure", || async {
        operator
            .metric(r#"genesys_offboarding_reconcile_failures_total{reason="EndpointNotAllowed"}"#)
            >= 1
    })
    .await;
    operator.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_host_and_port_is_used_and_another_port_of_the_same_host_is_not() {
    let world = World::new().await.with_secret().await;
    let listener = Listener::start().await;
    let emulator = AllowedEndpoint::of(&world.sim.base_url()).unwrap();
    let operator = Running::start(
        world.client.clone(),
        Settings {
            allowed_endpoints: [emulator].into_iter().collect(),
            ..settings()
        },
    )
    .await;

    world.offboard(NS, "jane", "jane.doe@example.com", "").await;
    world
        .offboard_at(
            NS,
            "priya",
            "priya.patel@example.com",
            &listener.base,
            "managementPolicy: Observe",
        )
        .await;

    world
        .wait_for(NS, "jane", "Ready=True", ready_with("Offboarded"))
        .await;
    assert_eq!(world.user_state(JANE), "inactive");
    wait_until_endpoint_not_allowed(&world, "priya", &listener).await;
    assert_eq!(listener.connections(), 0, "another port of an allowed host");
    assert_eq!(world.user_state(PRIYA), "active");
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_controllers_and_leader_election_only_the_leader_reconciles_and_the_other_takes_over()
 {
    let world = World::new().await.with_secret().await;
    let replica = |name: &str| Settings {
        instance: name.to_owned(),
        leader_election: Some(LeaderElection {
            lease_duration: Duration::from_secs(3),
            renew_before: Duration::from_secs(1),
            ..LeaderElection::new("genesys-offboarding-operator", NS, name)
        }),
        ..settings()
    };
    let a = Running::start(world.client.clone(), replica("replica-a")).await;
    let b = Running::start(world.client.clone(), replica("replica-b")).await;
    eventually("one replica leads", || async {
        a.metric("genesys_offboarding_leader") + b.metric("genesys_offboarding_leader") == 1
    })
    .await;
    let (leader, standby, leader_name) = if a.metric("genesys_offboarding_leader") == 1 {
        (a, b, "replica-a")
    } else {
        (b, a, "replica-b")
    };
    assert!(
        standby.health.is_ready(),
        "a standby is ready (it serves probes)"
    );

    world.offboard(NS, "jane", "jane.doe@example.com", "").await;
    world
        .wait_for(NS, "jane", "Ready=True", ready_with("Offboarded"))
        .await;

    eventually("the leader counted its pass", || async {
        leader.metric(r#"genesys_offboarding_reconciles_total{outcome="Done"}"#) >= 1
    })
    .await;
    assert!(
        !standby
            .metrics
            .encode()
            .unwrap()
            .contains("genesys_offboarding_reconciles_total{"),
        "the standby never reconciled"
    );
    eventually("an Event of the pass", || async {
        !world.events(NS, "jane").await.is_empty()
    })
    .await;
    let instances: Vec<String> = world
        .events(NS, "jane")
        .await
        .into_iter()
        .map(|e| e.3)
        .collect();
    assert!(
        !instances.is_empty() && instances.iter().all(|i| i == leader_name),
        "{instances:?}"
    );

    // The leader shuts down and releases the lease: the standby takes over.
    leader.stop().await.unwrap();
    eventually("the standby leads", || async {
        standby.metric("genesys_offboarding_leader") == 1
    })
    .await;
    world
        .offboard(NS, "priya", "priya.patel@example.com", "")
        .await;
    world
        .wait_for(NS, "priya", "Ready=True", |r| {
            condition_of(r, condition::READY).is_some_and(|c| c.status == "True")
        })
        .await;
    assert_eq!(world.user_state(PRIYA), "inactive");
    standby.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

/// `Stalled=True` with reason `DuplicateOffboarding`, naming `owner` (`namespace/name`).
fn duplicate_of(owner: &str) -> impl Fn(&GenesysUserOffboarding) -> bool + '_ {
    move |r| {
        condition_of(r, condition::STALLED).is_some_and(|c| {
            c.status == "True" && c.reason == "DuplicateOffboarding" && c.message.contains(owner)
        })
    }
}

/// Genesys writes to one user's state (`PATCH /api/v2/users/{id}`) and tokens so far.
fn writes_to(world: &World, id: &str) -> (usize, usize) {
    let writes = world.genesys_writes();
    let patches = writes
        .iter()
        .filter(|w| *w == &format!("PATCH /api/v2/users/{id}"))
        .count();
    let revocations = writes
        .iter()
        .filter(|w| *w == &format!("DELETE /api/v2/tokens/{id}"))
        .count();
    (patches, revocations)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_resources_for_one_user_leave_one_owner_and_the_user_is_deactivated_once() {
    let world = World::new().await.with_secret().await;
    let names: Vec<String> = (0..12).map(|i| format!("jane-{i:02}")).collect();
    // Created before the operator starts: its first passes run concurrently (8 at once).
    for name in &names {
        world.offboard(NS, name, "jane.doe@example.com", "").await;
    }
    let operator = Running::start(world.client.clone(), settings()).await;

    let mut settled = Vec::new();
    for name in &names {
        settled.push(
            world
                .wait_for(NS, name, "Ready or Stalled", |r| {
                    condition_of(r, condition::READY).is_some_and(|c| c.status == "True")
                        || condition_of(r, condition::STALLED).is_some_and(|c| c.status == "True")
                })
                .await,
        );
    }

    let owners: Vec<&GenesysUserOffboarding> = settled
        .iter()
        .filter(|r| ready_with("Offboarded")(r))
        .collect();
    assert_eq!(owners.len(), 1, "exactly one owner");
    let owner = format!("{NS}/{}", owners[0].name_any());
    for resource in &settled {
        if resource.name_any() != owners[0].name_any() {
            assert!(
                duplicate_of(&owner)(resource),
                "{} is not a duplicate of {owner}: {:?}",
                resource.name_any(),
                resource.status
            );
            let status = resource.status.as_ref().unwrap();
            assert!(status.snapshot.is_none() && status.user.is_none());
        }
    }
    assert_eq!(world.user_state(JANE), "inactive");
    assert_eq!(
        writes_to(&world, JANE),
        (1, 1),
        "{:?}",
        world.genesys_writes()
    );
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_duplicate_with_restore_leaves_the_user_inactive_and_lets_the_resource_go() {
    let world = World::new().await.with_secret().await;
    let operator = Running::start(world.client.clone(), settings()).await;
    world
        .offboard(
            NS,
            "jane",
            "jane.doe@example.com",
            "deletionPolicy: Restore",
        )
        .await;
    world
        .wait_for(NS, "jane", "Ready=True", ready_with("Offboarded"))
        .await;
    world
        .offboard(
            NS,
            "jane-again",
            "jane.doe@example.com",
            "deletionPolicy: Restore",
        )
        .await;
    let again = world
        .wait_for(
            NS,
            "jane-again",
            "a duplicate",
            duplicate_of("default/jane"),
        )
        .await;
    assert_eq!(again.finalizers(), [FINALIZER.to_owned()]);
    let writes = world.genesys_writes().len();

    world
        .offboardings(NS)
        .delete("jane-again", &DeleteParams::default())
        .await
        .unwrap();
    world.wait_until_gone(NS, "jane-again").await;

    assert_eq!(world.user_state(JANE), "inactive", "nothing was restored");
    assert_eq!(
        world.genesys_writes().len(),
        writes,
        "{:?}",
        world.genesys_writes()
    );
    let jane = world.offboardings(NS).get("jane").await.unwrap();
    assert!(ready_with("Offboarded")(&jane));

    // The owner's deletion restores, and nothing else still claims the user.
    world
        .offboardings(NS)
        .delete("jane", &DeleteParams::default())
        .await
        .unwrap();
    world.wait_until_gone(NS, "jane").await;
    assert_eq!(world.user_state(JANE), "active");
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_owner_keeps_its_user_and_the_duplicates_stay_duplicates() {
    let world = World::new().await.with_secret().await;
    let operator = Running::start(world.client.clone(), settings()).await;
    world
        .offboard(NS, "owner", "jane.doe@example.com", "")
        .await;
    world
        .wait_for(NS, "owner", "Ready=True", ready_with("Offboarded"))
        .await;
    world
        .offboard(NS, "second", "jane.doe@example.com", "")
        .await;
    world
        .wait_for(NS, "second", "a duplicate", duplicate_of("default/owner"))
        .await;
    operator.stop().await.unwrap();
    let writes = world.genesys_writes();

    // A new process knows no claim in flight: the owner's persisted claim decides. The owner is
    // watched by the drift checks and runs no pass; the duplicate and a new resource do.
    let operator = Running::start(world.client.clone(), settings()).await;
    world
        .offboard(NS, "third", "jane.doe@example.com", "")
        .await;
    world
        .wait_for(NS, "third", "a duplicate", duplicate_of("default/owner"))
        .await;
    eventually(
        "the restarted operator passed over the old duplicate",
        || async {
            operator.metric(r#"genesys_offboarding_reconciles_total{outcome="Stalled"}"#) >= 2
        },
    )
    .await;

    let second = world.offboardings(NS).get("second").await.unwrap();
    assert!(
        duplicate_of("default/owner")(&second),
        "{:?}",
        second.status
    );
    let owner = world.offboardings(NS).get("owner").await.unwrap();
    assert!(ready_with("Offboarded")(&owner));
    assert_eq!(
        world.genesys_writes(),
        writes,
        "nothing written after the restart"
    );
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

/// Over a quiet period the status is not rewritten, although the drift re-check runs.
///
/// Time: this test runs on tokio's PAUSED clock, and that works with the real sockets here: the
/// operator, the fake API server and the emulator share the test's single-threaded runtime, and
/// the paused clock only jumps when every task waits on a timer (a request in flight on
/// loopback keeps a task ready, so no timer fires in the middle of one). Five quiet minutes with
/// `driftCheckInterval: 1m` take well under a second of real time and run at least four drift
/// re-checks, each a batched read of the user (no full pass); none of them writes the status (only
/// `lastDriftCheck`/`nextDriftCheck` would change), which the API server's request log and the
/// unchanged `resourceVersion` show.
#[tokio::test(start_paused = true)]
async fn over_a_quiet_period_of_paused_time_the_status_is_not_rewritten() {
    let world = World::new().await.with_secret().await;
    let operator = Running::start(world.client.clone(), settings()).await;
    world
        .offboard(NS, "jane", "jane.doe@example.com", "driftCheckInterval: 1m")
        .await;
    let ready = world
        .wait_for(NS, "jane", "Ready=True", ready_with("Offboarded"))
        .await;
    let done = r#"genesys_offboarding_reconciles_total{outcome="Done"}"#;
    eventually("the first pass is counted", || async {
        operator.metric(done) >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let writes = world.status_writes("jane");
    let passes = operator.metric(done);
    assert!(
        writes >= 2,
        "the offboarding wrote its status ({writes} writes)"
    );
    assert_eq!(
        passes, 1,
        "the pass's own status writes triggered no other pass"
    );

    tokio::time::sleep(Duration::from_secs(5 * 60)).await;

    // The re-check is the controller's batched drift check (one `GET /users?id=…&state=any`),
    // not a full pass.
    let rechecks = world
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v2/users" && r.query.contains("state=any"))
        .count();
    assert!(
        rechecks >= 4,
        "the drift re-check ran every minute ({rechecks} checks)"
    );
    assert_eq!(
        operator.metric(done),
        passes,
        "no full pass while nothing drifted"
    );
    assert_eq!(
        world.status_writes("jane"),
        writes,
        "no status write while nothing changed"
    );
    let after = world.offboardings(NS).get("jane").await.unwrap();
    assert_eq!(
        after.resource_version(),
        ready.resource_version(),
        "the object did not change"
    );
    assert_eq!(world.user_state(JANE), "inactive");
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

/// A change to the credentials Secret reconciles the resources that use it (the Secret watch),
/// and that pass, like every pass with nothing to change, writes no status either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_change_reconciles_its_resources_without_rewriting_their_status() {
    let world = World::new().await.with_secret().await;
    let operator = Running::start(world.client.clone(), settings()).await;
    world.offboard(NS, "jane", "jane.doe@example.com", "").await;
    world
        .wait_for(NS, "jane", "Ready=True", ready_with("Offboarded"))
        .await;
    let done = r#"genesys_offboarding_reconciles_total{outcome="Done"}"#;
    eventually("the first pass is counted", || async {
        operator.metric(done) >= 1
    })
    .await;
    let writes = world.status_writes("jane");
    let passes = operator.metric(done);

    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), NS);
    secrets
        .patch(
            SECRET,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"rotated": "yes"}}})),
        )
        .await
        .unwrap();

    eventually("a pass triggered by the Secret", || async {
        operator.metric(done) > passes
    })
    .await;
    assert_eq!(world.status_writes("jane"), writes, "no status write");
    operator.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_shows_the_counters_and_the_info_gauge_and_forgets_deleted_resources()
{
    let world = World::new().await.with_secret().await;
    let operator = Running::start(world.client.clone(), settings()).await;
    eventually("ready", || async { operator.get("/readyz").await.0 == 200 }).await;
    assert_eq!(operator.get("/livez").await.0, 200);

    world.offboard(NS, "jane", "jane.doe@example.com", "").await;
    world
        .wait_for(NS, "jane", "Ready=True", ready_with("Offboarded"))
        .await;
    // The pass is counted once it returns, a moment after its last status write.
    let info = r#"genesys_offboarding_resource_info{namespace="default",name="jane",state="Ready",ready="True",reason="Offboarded"}"#;
    eventually("the pass counted and the info gauge set", || async {
        let text = operator.get("/metrics").await.1;
        metric(&text, info) == 1
            && metric(
                &text,
                r#"genesys_offboarding_reconciles_total{outcome="Done"}"#,
            ) >= 1
    })
    .await;
    let (code, text) = operator.get("/metrics").await;

    assert_eq!(code, 200);
    assert!(
        metric(
            &text,
            r#"genesys_offboarding_reconciles_total{outcome="Done"}"#
        ) >= 1,
        "{text}"
    );
    assert!(
        metric(
            &text,
            "genesys_offboarding_reconcile_duration_seconds_count"
        ) >= 1,
        "{text}"
    );
    assert!(
        metric(
            &text,
            r#"genesys_offboarding_genesys_calls_total{operation="patch_user",status="200"}"#
        ) >= 1,
        "{text}"
    );
    assert!(
        metric(
            &text,
            r#"genesys_offboarding_genesys_calls_total{operation="post_oauth_token",status="200"}"#
        ) >= 1,
        "{text}"
    );
    assert!(
        text.contains("genesys_offboarding_genesys_rate_limit_waits_total"),
        "{text}"
    );
    assert_eq!(metric(&text, "genesys_offboarding_leader"), 1);
    assert!(!text.contains("demo-secret"));

    world
        .offboardings(NS)
        .delete("jane", &DeleteParams::default())
        .await
        .unwrap();
    world.wait_until_gone(NS, "jane").await;
    eventually("the info series is removed", || async {
        !operator.get("/metrics").await.1.contains(r#"name="jane""#)
    })
    .await;
    operator.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_deleted_while_its_pass_runs_leaves_no_info_series_behind() {
    let world = World::new().await.with_secret().await;
    let operator = Running::start(world.client.clone(), settings()).await;
    eventually("ready", || async { operator.get("/readyz").await.0 == 200 }).await;
    // The pass waits seconds for the user search: the resource is deleted meanwhile.
    world
        .sim
        .inject(Fault::new("POST", "/api/v2/users/search").delay_ms(3000));

    world.offboard(NS, "jane", "jane.doe@example.com", "").await;
    eventually("the pass read the resource", || async {
        world.api.count_requests(|r| {
            r.verb == "get"
                && r.is_on("genesysuseroffboardings")
                && r.name.as_deref() == Some("jane")
        }) > 0
    })
    .await;
    world
        .offboardings(NS)
        .delete("jane", &DeleteParams::default())
        .await
        .unwrap();
    world.wait_until_gone(NS, "jane").await;
    eventually("the pass ended", || async {
        operator
            .get("/metrics")
            .await
            .1
            .lines()
            .any(|l| l.starts_with("genesys_offboarding_reconciles_total{"))
    })
    .await;

    let text = operator.get("/metrics").await.1;
    assert!(!text.contains(r#"name="jane""#), "{text}");
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_resource_is_reported_on_itself_and_holds_up_no_other_resource() {
    let world = World::with_crd(&crd_without_effective_at_rules())
        .await
        .with_secret()
        .await;
    let operator = Running::start(world.client.clone(), settings()).await;
    eventually("ready", || async { operator.get("/readyz").await.0 == 200 }).await;

    world.offboard(NS, "jane", "jane.doe@example.com", "").await;
    world
        .offboard_json(
            NS,
            "maria",
            "maria.garcia@example.com",
            "effectiveAt: '9999-12-31T23:59:59Z'",
        )
        .await
        .unwrap();
    world
        .offboard(NS, "priya", "priya.patel@example.com", "")
        .await;

    world
        .wait_for(NS, "jane", "Ready=True", ready_with("Offboarded"))
        .await;
    world
        .wait_for(NS, "priya", "Ready=True", ready_with("Offboarded"))
        .await;
    world
        .wait_for_json(NS, "maria", "reported Undecodable", reported_undecodable)
        .await;
    eventually("a Warning Event naming the field", || async {
        world.events(NS, "maria").await.iter().any(|e| {
            e.0 == "Warning" && e.1 == reason::UNDECODABLE && e.2.contains("spec.effectiveAt")
        })
    })
    .await;
    let info = r#"genesys_offboarding_resource_info{namespace="default",name="maria",state="Stalled",ready="False",reason="Undecodable"}"#;
    eventually("the info gauge says so", || async {
        metric(&operator.get("/metrics").await.1, info) == 1
    })
    .await;
    assert_eq!(operator.get("/readyz").await.0, 200);
    assert_eq!(world.user_state(MARIA), "active");
    assert!(
        !world.sim.requests().iter().any(|r| r.path.contains(MARIA)
            || r.body
                .as_ref()
                .is_some_and(|b| b.to_string().contains("maria.garcia"))),
        "nothing was asked of Genesys for the undecodable resource"
    );

    // Fixed, it is offboarded like any other.
    world
        .offboardings_json(NS)
        .patch(
            "maria",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"effectiveAt": "2020-01-01T00:00:00Z"}})),
        )
        .await
        .unwrap();
    let maria = world
        .wait_for(NS, "maria", "Ready=True", ready_with("Offboarded"))
        .await;
    assert_eq!(
        condition_of(&maria, condition::STALLED).unwrap().status,
        "False"
    );
    assert_eq!(world.user_state(MARIA), "inactive");
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_started_with_an_undecodable_resource_stored_becomes_ready_and_reconciles_the_rest()
 {
    let world = World::with_crd(&crd_without_effective_at_rules())
        .await
        .with_secret()
        .await;
    world.offboard(NS, "jane", "jane.doe@example.com", "").await;
    world
        .offboard_json(
            NS,
            "maria",
            "maria.garcia@example.com",
            "effectiveAt: '9999-12-31T23:59:59Z'",
        )
        .await
        .unwrap();
    // The CRD is upgraded: the stored resource stays, a new one like it is refused, and the
    // latest date the operator handles is admitted.
    world.api.load_yaml(&committed_crd()).unwrap();
    let refused = world
        .offboard_json(
            NS,
            "refused",
            "priya.patel@example.com",
            "effectiveAt: '9999-12-31T23:59:59Z'",
        )
        .await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(s)) if s.code == 422 && s.message.contains(EFFECTIVE_AT_MAX)),
        "{refused:?}"
    );
    world
        .offboard_json(
            NS,
            "latest",
            "priya.patel@example.com",
            &format!("effectiveAt: '{EFFECTIVE_AT_MAX}'"),
        )
        .await
        .unwrap();

    let operator = Running::start(world.client.clone(), settings()).await;

    eventually("ready", || async { operator.get("/readyz").await.0 == 200 }).await;
    world
        .wait_for(NS, "jane", "Ready=True", ready_with("Offboarded"))
        .await;
    world
        .wait_for_json(NS, "maria", "reported Undecodable", reported_undecodable)
        .await;
    world
        .wait_for(NS, "latest", "Reconciling=True Scheduled", |r| {
            condition_of(r, condition::RECONCILING)
                .is_some_and(|c| c.status == "True" && c.reason == reason::SCHEDULED)
        })
        .await;
    assert_eq!(world.user_state(PRIYA), "active");
    eventually("a Warning Event", || async {
        world
            .events(NS, "maria")
            .await
            .iter()
            .any(|e| e.0 == "Warning" && e.1 == reason::UNDECODABLE)
    })
    .await;
    operator.stop().await.unwrap();

    // Started again, it finds the report written: it becomes ready and writes nothing new.
    let writes = world.status_writes("maria");
    let operator = Running::start(world.client.clone(), settings()).await;
    eventually("ready again", || async {
        operator.get("/readyz").await.0 == 200
    })
    .await;
    let info = r#"genesys_offboarding_resource_info{namespace="default",name="maria",state="Stalled",ready="False",reason="Undecodable"}"#;
    eventually("the undecodable resource's pass ran", || async {
        metric(&operator.get("/metrics").await.1, info) == 1
    })
    .await;
    assert_eq!(world.status_writes("maria"), writes, "no status write");
    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_named_namespaces_are_watched() {
    let world = World::new().await;
    for namespace in ["team-a", "team-b"] {
        world.create_namespace(namespace).await;
        world.create_secret(namespace, SECRET).await;
    }
    let operator = Running::start(
        world.client.clone(),
        Settings {
            namespaces: vec!["team-a".into()],
            ..settings()
        },
    )
    .await;

    world
        .offboard("team-b", "priya", "priya.patel@example.com", "")
        .await;
    world
        .offboard("team-a", "jane", "jane.doe@example.com", "")
        .await;
    world
        .wait_for("team-a", "jane", "Ready=True", ready_with("Offboarded"))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let li = world.offboardings("team-b").get("priya").await.unwrap();
    assert!(li.status.is_none(), "team-b is not watched");
    assert_eq!(world.user_state(PRIYA), "active");
    operator.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_refuses_to_start_without_the_crd_and_says_how_to_install_it() {
    let world = World::without_crd().await;

    let result = Operator::new(world.client.clone(), settings())
        .run(std::future::pending())
        .await;

    let error = result.unwrap_err();
    assert!(matches!(error, RunError::CrdNotInstalled));
    assert_eq!(
        error.to_string(),
        "CRD genesysuseroffboardings.offboarding.genesys-operator.io is not installed: run `kubectl apply --server-side -f crds/`"
    );
}

/// A log writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The JSON log format of `--log-format json`, captured on this single-threaded test runtime
/// (every task of the operator runs on the test's thread, where the subscriber is the default).
#[tokio::test]
async fn json_logs_carry_the_object_key_on_every_line_of_a_pass_and_never_a_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = genesys_offboarding_operator::telemetry::subscriber(
        LogFormat::Json,
        tracing_subscriber::EnvFilter::new("info,genesys_offboarding_operator=debug"),
        false,
        move || writer.clone(),
    );
    let _default = tracing::subscriber::set_default(subscriber);
    let world = World::new().await.with_secret().await;
    let operator = Running::start(world.client.clone(), settings()).await;

    world.offboard(NS, "jane", "jane.doe@example.com", "").await;
    world
        .wait_for(NS, "jane", "Ready=True", ready_with("Offboarded"))
        .await;
    operator.stop().await.unwrap();

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let steps: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "running step")
        .collect();
    assert!(steps.len() >= 5, "{text}");
    for line in &steps {
        assert_eq!(line["span"]["object"], "default/jane", "{line}");
    }
    let pass_lines = lines.iter().filter(|l| {
        l["target"]
            .as_str()
            .is_some_and(|t| t.contains("reconcile"))
    });
    for line in pass_lines {
        assert_eq!(line["span"]["object"], "default/jane", "{line}");
    }
    assert!(!text.contains("demo-secret"), "a secret in the logs");
}

// ---------------------------------------------------------------------------------------------
// End to end with the real kubectl
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_real_kubectl_an_offboarding_is_applied_waited_for_listed_and_described() {
    let world = World::without_crd().await;
    let Some(kubectl) = Kubectl::for_server(&world.api) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let crds = repo().join("crds");
    kubectl
        .run(&["apply", "--server-side", "-f", crds.to_str().unwrap()])
        .await;
    let operator = Running::start(world.client.clone(), settings()).await;

    // The Secret as `kubectl create secret` writes it, applied (kubectl 1.35 sends `create` in
    // protobuf, which the fake API server does not decode; `apply` sends JSON).
    let secret = kubectl
        .run(&[
            "create",
            "secret",
            "generic",
            "genesys-sim-credentials",
            "--from-literal=clientId=demo-client",
            "--from-literal=clientSecret=demo-secret",
            "--dry-run=client",
            "-o",
            "yaml",
        ])
        .await;
    let secret_file = dir.path().join("secret.yaml");
    std::fs::write(&secret_file, secret).unwrap();
    kubectl
        .run(&["apply", "-f", secret_file.to_str().unwrap()])
        .await;
    let example = std::fs::read_to_string(repo().join("examples/offboarding-local.yaml")).unwrap();
    let port = world.sim.base_url().port().unwrap();
    assert!(
        example.contains("http://127.0.0.1:8080/"),
        "the example points at the default port"
    );
    let manifest = dir.path().join("offboarding-local.yaml");
    std::fs::write(
        &manifest,
        example.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    kubectl
        .run(&["apply", "-f", manifest.to_str().unwrap()])
        .await;
    kubectl
        .run(&[
            "wait",
            "--for=condition=Ready",
            "genesysuseroffboarding/jane-doe-local",
            "--timeout=60s",
        ])
        .await;

    let table = kubectl.run(&["get", "offboardings"]).await;
    let header = table.lines().next().unwrap();
    for column in ["NAME", "USER", "GENESYS STATE", "READY", "REASON", "AGE"] {
        assert!(header.contains(column), "no {column} column:\n{table}");
    }
    let row = table
        .lines()
        .find(|l| l.starts_with("jane-doe-local"))
        .unwrap();
    for cell in ["jane.doe@example.com", "inactive", "True", "Offboarded"] {
        assert!(row.contains(cell), "no {cell} in:\n{table}");
    }
    let wide = kubectl.run(&["get", "offboardings", "-o", "wide"]).await;
    assert!(
        wide.contains(JANE),
        "the User ID column (priority 1) shows with -o wide:\n{wide}"
    );
    let category = kubectl.run(&["get", "genesys"]).await;
    assert!(category.contains("jane-doe-local"), "{category}");
    let described = kubectl
        .run(&["describe", "offboarding", "jane-doe-local"])
        .await;
    assert!(described.contains("Events:"), "{described}");
    for reason in ["Offboarded", "Deactivate"] {
        assert!(
            described.contains(reason),
            "no {reason} Event in:\n{described}"
        );
    }
    assert!(!described.contains("demo-secret"), "no secret in describe");
    assert_eq!(world.user_state(JANE), "inactive");

    operator.stop().await.unwrap();
    world.assert_no_user_was_deleted();
}
