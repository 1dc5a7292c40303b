//! Shared by `tests/integration/k8s_faults.rs` and `tests/crash.rs`: a world of the fake
//! Kubernetes API server (with the committed CRD and the credentials Secret) and the Genesys
//! emulator, the offboarding resources, and the safety checks every test of the Kubernetes side
//! ends with, read from the two request logs:
//!
//! - no user is deleted and no GDPR call is made, and every state PATCH carries exactly
//!   `{state, version}` ([`super::invariants`]);
//! - for each resource, the snapshot reached the API server (a successful status write holding
//!   it) before the first Genesys write touching its user;
//! - the first snapshot persisted is the one the resource ends with;
//! - the successful Genesys writes are those of a clean run, each as often as there, except
//!   the idempotent ones the caller allows to repeat.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use fake_apiserver::{FakeApiServer, FakeApiServerHandle, RecordedRequest as ApiRequest};
use genesys_cloud::AllowedEndpoints;
use genesys_emulator::fixture::Fixture;
use genesys_emulator::{RecordedRequest, Sim, SimHandle};
use genesys_offboarding_operator::crd::{GenesysUserOffboarding, condition};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use super::genesys::is_write;
use super::invariants::{never_deletes_a_user, state_patches_carry_only_state_and_version};

pub const NS: &str = "default";
/// The emulator's host. It listens on a port of its own choosing, so the operators of these
/// tests allow every port of it (`--allowed-endpoint 127.0.0.1`).
pub const EMULATOR_HOST: &str = "127.0.0.1";
pub const SECRET: &str = "genesys-credentials";
/// How long a test waits for convergence before it fails (generous: a loaded 2-core machine).
pub const PATIENCE: Duration = Duration::from_secs(90);

/// The fake API server with the CRD and the Secret, and the emulator.
pub struct World {
    pub api: FakeApiServerHandle,
    pub sim: SimHandle,
    pub client: Client,
}

impl World {
    pub async fn new(fixture: Fixture) -> Self {
        let api = FakeApiServer::builder()
            .bookmark_interval(Duration::from_secs(1))
            .start()
            .await
            .unwrap();
        let crd =
            std::fs::read_to_string(repo().join("crds/genesysuseroffboardings.yaml")).unwrap();
        api.load_yaml(&crd).unwrap();
        let client = api.kube_client();
        let sim = Sim::start(fixture).await.unwrap();
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": SECRET, "namespace": NS},
            "type": "Opaque",
            "stringData": {"clientId": "demo-client", "clientSecret": "demo-secret"},
        }))
        .unwrap();
        Api::<Secret>::namespaced(client.clone(), NS)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
        Self { api, sim, client }
    }

    pub fn offboardings(&self) -> Api<GenesysUserOffboarding> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// Creates an offboarding of `email` pointed at the emulator; `extra` adds spec lines.
    pub async fn offboard(&self, name: &str, email: &str, extra: &str) {
        let base = self.sim.base_url().to_string();
        let spec: Value = serde_yaml::from_str(&format!(
            "user: {{email: {email}}}\ncredentialsSecretRef: {{name: {SECRET}}}\napiBaseUrl: {base}\nloginBaseUrl: {base}\n{extra}"
        ))
        .unwrap();
        let resource: GenesysUserOffboarding = serde_json::from_value(json!({
            "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
            "kind": "GenesysUserOffboarding",
            "metadata": {"name": name, "namespace": NS},
            "spec": spec,
        }))
        .unwrap();
        // A fault test may have the API server refuse this; keep trying until it is stored.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match self
                .offboardings()
                .create(&PostParams::default(), &resource)
                .await
            {
                Ok(_) => return,
                Err(kube::Error::Api(status)) if status.code == 409 => return,
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "could not create {name}: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Waits until every named resource is `Ready=True` with reason `Offboarded`; fails with
    /// the ones that are not. Read errors (a test restarting the server) only mean "not yet".
    pub async fn wait_until_ready(&self, names: &[&str]) -> Vec<GenesysUserOffboarding> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let mut ready = Vec::new();
            let mut waiting = Vec::new();
            for name in names {
                match self.offboardings().get_opt(name).await {
                    Ok(Some(resource)) if is_offboarded(&resource) => ready.push(resource),
                    Ok(other) => waiting.push(format!(
                        "{name}: {}",
                        serde_json::to_string(&other.and_then(|r| r.status)).unwrap()
                    )),
                    Err(e) => waiting.push(format!("{name}: {e}")),
                }
            }
            if waiting.is_empty() {
                return ready;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never Ready within {PATIENCE:?}:\n{}",
                waiting.join("\n")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the emulator has seen a request satisfying `seen`.
    pub async fn wait_for_genesys(&self, what: &str, seen: impl Fn(&RecordedRequest) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self.sim.requests().iter().any(&seen) {
            assert!(tokio::time::Instant::now() < deadline, "never saw {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The emulator's stored state of a user (`active` / `inactive`).
    pub fn user_state(&self, id: &str) -> String {
        self.sim.user(id).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// The custom endpoints the operators of these tests allow: the emulator's host.
pub fn allowed_endpoints() -> AllowedEndpoints {
    AllowedEndpoints::parse([EMULATOR_HOST]).unwrap()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn is_offboarded(resource: &GenesysUserOffboarding) -> bool {
    resource
        .status
        .as_ref()
        .and_then(|s| s.condition(condition::READY))
        .is_some_and(|c| c.status == "True" && c.reason == "Offboarded")
}

/// `METHOD path?query body` of every successful Genesys write, counted. A write whose body is
/// a list (queue members added or removed) counts once per item, so that removals the client
/// coalesced into one request compare equal to the same removals sent one by one; each entry
/// of a bulk presence change counts as the one-user `PATCH` it stands for.
pub fn successful_writes(requests: &[RecordedRequest]) -> BTreeMap<String, usize> {
    let mut writes = BTreeMap::new();
    for r in requests
        .iter()
        .filter(|r| is_write(r) && (200..300).contains(&r.status))
    {
        if r.path == "/api/v2/users/presences/bulk" {
            for entry in r
                .body
                .as_ref()
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let patch = serde_json::json!({"presenceDefinition": entry["presenceDefinition"]});
                let key = format!(
                    "PATCH /api/v2/users/{}/presences/purecloud? {patch}",
                    entry["id"].as_str().unwrap_or_default()
                );
                *writes.entry(key).or_insert(0) += 1;
            }
            continue;
        }
        let bodies: Vec<String> = match &r.body {
            Some(Value::Array(items)) if items.len() > 1 => items
                .iter()
                .map(|item| Value::Array(vec![item.clone()]).to_string())
                .collect(),
            body => vec![body.as_ref().map(Value::to_string).unwrap_or_default()],
        };
        for body in bodies {
            *writes
                .entry(format!("{} {}?{} {body}", r.method, r.path, r.query))
                .or_insert(0) += 1;
        }
    }
    writes
}

/// Compares the successful writes with a clean run's: the same writes, each as often, except
/// that writes whose key contains one of `repeatable` may happen more often (idempotent
/// repeats after a lost status write), at most `max_repeats` more.
pub fn compare_writes(
    clean: &BTreeMap<String, usize>,
    faulted: &BTreeMap<String, usize>,
    repeatable: &[&str],
    max_repeats: usize,
) -> Result<(), String> {
    let mut problems = Vec::new();
    let expected: BTreeSet<&String> = clean.keys().collect();
    let written: BTreeSet<&String> = faulted.keys().collect();
    for missing in expected.difference(&written) {
        problems.push(format!("missing write: {missing}"));
    }
    for extra in written.difference(&expected) {
        problems.push(format!("write the clean run never made: {extra}"));
    }
    for (write, count) in faulted {
        let base = clean.get(write).copied().unwrap_or_default();
        let allowed = if repeatable.iter().any(|r| write.contains(r)) {
            base + max_repeats
        } else {
            base
        };
        if *count > allowed {
            problems.push(format!(
                "{write} succeeded {count} times (clean run: {base})"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// A successful status write to the API server of one offboarding, with its body.
fn status_writes_of<'a>(
    requests: &'a [ApiRequest],
    name: &'a str,
) -> impl Iterator<Item = &'a ApiRequest> + 'a {
    requests.iter().filter(move |r| {
        r.is_status_write()
            && r.is_on("genesysuseroffboardings")
            && r.name.as_deref() == Some(name)
            && (200..300).contains(&r.status)
    })
}

/// The first snapshot the API server stored for `name`, and when it arrived.
pub fn first_snapshot(requests: &[ApiRequest], name: &str) -> Option<(Value, SystemTime)> {
    status_writes_of(requests, name).find_map(|r| {
        let snapshot = r.body.as_ref()?.pointer("/status/snapshot")?;
        (!snapshot.is_null()).then(|| (snapshot.clone(), r.time))
    })
}

/// Every safety invariant, for resources `(name, user id)` as they are now.
pub async fn check_invariants(world: &World, users: &[(&str, &str)]) -> Result<(), String> {
    let requests = world.sim.requests();
    never_deletes_a_user(&requests)?;
    state_patches_carry_only_state_and_version(&requests)?;
    let api_requests = world.api.requests();
    for (name, user) in users {
        let (first, stored_at) = first_snapshot(&api_requests, name)
            .ok_or_else(|| format!("{name}: no status write ever carried a snapshot"))?;
        if let Some(write) = requests.iter().find(|r| is_write(r) && touches(r, user)) {
            let written_at = SystemTime::from(write.time);
            if stored_at > written_at {
                return Err(format!(
                    "{name}: {} {} ran before the snapshot was stored",
                    write.method, write.path
                ));
            }
        }
        let resource = world
            .offboardings()
            .get(name)
            .await
            .map_err(|e| e.to_string())?;
        let last = serde_json::to_value(resource.status.and_then(|s| s.snapshot)).unwrap();
        if last != first {
            return Err(format!(
                "{name}: the first snapshot was replaced:\nfirst {first}\nlast  {last}"
            ));
        }
    }
    Ok(())
}

/// Whether a Genesys request concerns `user` (in its path or its body).
pub fn touches(request: &RecordedRequest, user: &str) -> bool {
    request.path.contains(user)
        || request
            .body
            .as_ref()
            .is_some_and(|b| b.to_string().contains(user))
}

/// The names of the resources, for messages.
pub fn names(resources: &[GenesysUserOffboarding]) -> Vec<String> {
    resources.iter().map(ResourceExt::name_any).collect()
}
