//! Several Genesys organizations at once, each its own OAuth client, Secret and emulator, through
//! the REAL controller ([`Operator::run`]) and the fake Kubernetes API server: one organization
//! that is throttled (429 with a long `Retry-After`, which the client waits out inside the pass)
//! and one that answers 503 slowly must not hold up the others' offboardings.
//!
//! What is asserted is who finished before whom and how many, never how long anything took.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use fake_apiserver::{FakeApiServer, FakeApiServerHandle};
use genesys_emulator::faults::Fault;
use genesys_emulator::{Sim, SimHandle};
use genesys_offboarding_operator::controller::{BackoffPolicy, Operator, Settings};
use genesys_offboarding_operator::crd::{GenesysUserOffboarding, condition};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::support::invariants::never_deletes_a_user;
use crate::support::k8s::{NS, PATIENCE, allowed_endpoints, repo};
use crate::support::org;

/// Offboardings per organization.
const PER_ORG: usize = 4;

/// One emulated organization: its emulator and the Secret of its OAuth client.
struct Org {
    name: &'static str,
    sim: SimHandle,
    /// Its agents' numbers (agent `i` is `org::email(i)`).
    agents: std::ops::Range<usize>,
}

impl Org {
    async fn start(name: &'static str, number: usize, client: &Client) -> Self {
        let agents = number * PER_ORG..(number + 1) * PER_ORG;
        let sim = Sim::start(org::fixture_of(agents.clone(), 0, 0).unwrap())
            .await
            .unwrap();
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": NS},
            "stringData": {"clientId": "demo-client", "clientSecret": "demo-secret"},
        }))
        .unwrap();
        Api::<Secret>::namespaced(client.clone(), NS)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
        Self { name, sim, agents }
    }

    /// Applies one offboarding per agent.
    async fn offboard(&self, resources: &Api<GenesysUserOffboarding>) {
        let base = self.sim.base_url().to_string();
        for i in self.agents.clone() {
            let resource: GenesysUserOffboarding = serde_json::from_value(json!({
                "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
                "kind": "GenesysUserOffboarding",
                "metadata": {"name": format!("{}-{i}", self.name), "namespace": NS},
                "spec": {
                    "user": {"email": org::email(i)},
                    "credentialsSecretRef": {"name": self.name},
                    "apiBaseUrl": base, "loginBaseUrl": base,
                },
            }))
            .unwrap();
            resources
                .create(&PostParams::default(), &resource)
                .await
                .unwrap();
        }
    }

    /// How many of its offboardings are `Ready` with reason `Offboarded`.
    async fn offboarded(&self, resources: &Api<GenesysUserOffboarding>) -> usize {
        let prefix = format!("{}-", self.name);
        resources
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|r| r.metadata.name.as_deref().unwrap().starts_with(&prefix))
            .filter(|r| {
                r.status
                    .as_ref()
                    .and_then(|s| s.condition(condition::READY))
                    .is_some_and(|c| c.status == "True" && c.reason == "Offboarded")
            })
            .count()
    }

    /// Its offboardings not yet `Ready`/`Offboarded`, each with its conditions, for a failure
    /// message that says where they stand.
    async fn unfinished(&self, resources: &Api<GenesysUserOffboarding>) -> Vec<String> {
        let prefix = format!("{}-", self.name);
        resources
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|r| r.metadata.name.as_deref().unwrap().starts_with(&prefix))
            .filter_map(|r| {
                let status = r.status.unwrap_or_default();
                let ready = status.condition(condition::READY);
                if ready.is_some_and(|c| c.status == "True" && c.reason == "Offboarded") {
                    return None;
                }
                let conditions: Vec<String> = status
                    .conditions
                    .iter()
                    .map(|c| format!("{}={} {}: {}", c.type_, c.status, c.reason, c.message))
                    .collect();
                Some(format!(
                    "{} [{}]",
                    r.metadata.name.unwrap(),
                    conditions.join("; ")
                ))
            })
            .collect()
    }

    /// API answers with `status` so far.
    fn answered(&self, status: u16) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/api/v2/") && r.status == status)
            .count()
    }

    /// Agents the emulator shows deactivated.
    fn deactivated(&self) -> usize {
        self.agents
            .clone()
            .filter(|i| self.sim.user(&org::user_id(*i)).unwrap()["state"] == "inactive")
            .count()
    }
}

async fn api_server() -> (FakeApiServerHandle, Client) {
    let api = FakeApiServer::start().await.unwrap();
    api.load_yaml(
        &std::fs::read_to_string(repo().join("crds/genesysuseroffboardings.yaml")).unwrap(),
    )
    .unwrap();
    let client = api.kube_client();
    (api, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_and_a_failing_organization_do_not_hold_up_the_others() {
    let (_api, client) = api_server().await;
    let throttled = Org::start("throttled", 0, &client).await;
    let failing = Org::start("failing", 1, &client).await;
    let healthy = [
        Org::start("healthy-a", 2, &client).await,
        Org::start("healthy-b", 3, &client).await,
    ];
    // Every API call of one organization is throttled for longer than this test waits; every
    // call of the other answers 503 after 20 s (the client retries each one, so each of its
    // passes holds a worker for longer than this test waits too). Their tokens are granted.
    throttled.sim.inject(Fault {
        count: u32::MAX,
        status: Some(429),
        retry_after: Some(170),
        ..Fault::new("*", "/api/v2/**")
    });
    failing.sim.inject(Fault {
        count: u32::MAX,
        status: Some(503),
        delay_ms: Some(20_000),
        ..Fault::new("*", "/api/v2/**")
    });

    // The troubled organizations' offboardings come first; all are there when the operator
    // starts (as after a restart in the middle of a wave).
    let resources: Api<GenesysUserOffboarding> = Api::namespaced(client.clone(), NS);
    throttled.offboard(&resources).await;
    failing.offboard(&resources).await;
    for org in &healthy {
        org.offboard(&resources).await;
    }

    // Four workers; with the cap alone (half of them per organization) the two troubled
    // organizations could take all four. Passes are never abandoned here.
    let operator = Operator::new(
        client.clone(),
        Settings {
            concurrency: 4,
            genesys_rate_limit: 1_000_000,
            backoff: BackoffPolicy {
                base: Duration::from_millis(200),
                max: Duration::from_secs(2),
            },
            pass_timeout: Duration::from_secs(600),
            drain_timeout: Duration::from_secs(1),
            allowed_endpoints: allowed_endpoints(),
            ..Settings::default()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(operator.run(async move {
        let _ = stopped.await;
    }));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let done = [
            healthy[0].offboarded(&resources).await,
            healthy[1].offboarded(&resources).await,
        ];
        if done == [PER_ORG, PER_ORG] {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let mut unfinished = healthy[0].unfinished(&resources).await;
            unfinished.extend(healthy[1].unfinished(&resources).await);
            panic!(
                "the healthy organizations finished {done:?} of {PER_ORG} each within \
                 {PATIENCE:?} (throttled: {} × 429, failing: {} × 503); not finished: {unfinished:#?}",
                throttled.answered(429),
                failing.answered(503)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The healthy organizations finished every offboarding while the troubled ones were still
    // refused: the troubled ones were tried (they asked Genesys), finished none, changed nothing.
    // The troubled organizations were tried meanwhile (a 503 is logged when its delayed answer
    // goes out).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while throttled.answered(429) == 0 || failing.answered(503) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the troubled organizations were never tried"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(throttled.offboarded(&resources).await, 0);
    assert_eq!(failing.offboarded(&resources).await, 0);
    assert_eq!(throttled.deactivated() + failing.deactivated(), 0);
    for org in &healthy {
        assert_eq!(org.deactivated(), PER_ORG, "{}", org.name);
        assert_eq!(org.answered(429) + org.answered(503), 0, "{}", org.name);
    }

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), running).await;
    for org in [&throttled, &failing, &healthy[0], &healthy[1]] {
        never_deletes_a_user(&org.sim.requests()).unwrap();
    }
}
