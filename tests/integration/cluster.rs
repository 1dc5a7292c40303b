//! The operator against a REAL cluster (kind or k3d), with the Genesys Cloud emulator deployed in
//! it. These tests are `#[ignore]`d: they need a cluster, an image and a few minutes.
//!
//! How to run them:
//!
//! ```text
//! kind create cluster --name gofb                      # or: k3d cluster create gofb
//! docker build -t genesys-offboarding:dev .
//! kind load docker-image genesys-offboarding:dev --name gofb   # k3d: k3d image import -c gofb ...
//! kubectl apply --server-side -f crds/
//! cargo test --test integration cluster:: -- --ignored --test-threads=1
//! ```
//!
//! The current kubectl context is used (set `KUBECONFIG` to choose another). Each test works in
//! its own namespace (`gofb-e2e-*`, deleted at the end). The emulator runs in the cluster as a
//! Deployment of the operator's image (`genesys-offboarding sim`), and is reached through
//! `kubectl port-forward` on 127.0.0.1: the CRD admits plain http only to loopback, so the
//! operator runs in this test process (the same [`Operator`] the image runs) against the real
//! API server. Set `GOFB_IMAGE` to use another image and `KUBECTL` another kubectl (see
//! [`Kubectl`]; `GENESYS_KUBECTL_TESTS=skip` skips these tests too).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::process::Stdio;
use std::time::Duration;

use genesys_cloud::AllowedEndpoints;
use genesys_offboarding_operator::controller::{LeaderElection, Operator, RunError, Settings};
use genesys_offboarding_operator::crd::{FINALIZER, GenesysUserOffboarding};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::process::Child;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::kubectl::Kubectl;

const JANE: &str = "6a1b0c3e-0000-4000-8000-000000000001";
const PATIENCE: Duration = Duration::from_secs(180);

fn image() -> String {
    std::env::var("GOFB_IMAGE").unwrap_or_else(|_| "genesys-offboarding:dev".to_owned())
}

/// A namespace with the emulator deployed in it and port-forwarded to 127.0.0.1.
struct Cluster {
    client: Client,
    kubectl: Kubectl,
    namespace: String,
    forward: Child,
    sim_url: String,
    http: reqwest::Client,
}

impl Cluster {
    /// `None` when `GENESYS_KUBECTL_TESTS=skip`.
    async fn new(name: &str) -> Option<Self> {
        let kubectl = Kubectl::for_current_context()?;
        let client = Client::try_default()
            .await
            .expect("a kubectl context (kind/k3d)");
        let namespace = format!("gofb-e2e-{name}");
        apply(
            &client,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        )
        .await;
        apply(
            &client,
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "genesys-sim", "namespace": namespace},
                "spec": {
                    "selector": {"matchLabels": {"app": "genesys-sim"}},
                    "template": {
                        "metadata": {"labels": {"app": "genesys-sim"}},
                        "spec": {"containers": [{
                            "name": "sim", "image": image(), "imagePullPolicy": "IfNotPresent",
                            "args": ["sim", "--listen", "0.0.0.0:8080"],
                            "ports": [{"containerPort": 8080}],
                            "readinessProbe": {"tcpSocket": {"port": 8080}},
                        }]},
                    },
                },
            }),
        )
        .await;
        let out = kubectl
            .command(&[
                "-n",
                &namespace,
                "rollout",
                "status",
                "deployment/genesys-sim",
                "--timeout=180s",
            ])
            .status()
            .await
            .unwrap();
        assert!(
            out.success(),
            "the emulator did not roll out (is the image loaded into the cluster?)"
        );
        let port = free_port();
        let forward = kubectl
            .command(&[
                "-n",
                &namespace,
                "port-forward",
                "deployment/genesys-sim",
                &format!("{port}:8080"),
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let sim_url = format!("http://127.0.0.1:{port}/");
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while http
            .get(format!("{sim_url}__sim/requests"))
            .send()
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the port-forward never answered"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "genesys-credentials", "namespace": namespace},
            "stringData": {"clientId": "demo-client", "clientSecret": "demo-secret"},
        });
        apply(&client, secret).await;
        Some(Self {
            client,
            kubectl,
            namespace,
            forward,
            sim_url,
            http,
        })
    }

    fn offboardings(&self) -> Api<GenesysUserOffboarding> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    async fn offboard(&self, name: &str, extra: &str) {
        let spec: serde_json::Value = serde_yaml::from_str(&format!(
            "user: {{email: jane.doe@example.com}}\ncredentialsSecretRef: {{name: genesys-credentials}}\napiBaseUrl: {0}\nloginBaseUrl: {0}\n{extra}",
            self.sim_url
        ))
        .unwrap();
        let resource: GenesysUserOffboarding = serde_json::from_value(json!({
            "apiVersion": "offboarding.genesys-operator.io/v1alpha1", "kind": "GenesysUserOffboarding",
            "metadata": {"name": name}, "spec": spec,
        }))
        .unwrap();
        self.offboardings()
            .create(&PostParams::default(), &resource)
            .await
            .unwrap();
    }

    async fn wait_ready(&self, name: &str) -> GenesysUserOffboarding {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let resource = self.offboardings().get(name).await.unwrap();
            let ready = resource
                .status
                .as_ref()
                .and_then(|s| s.condition("Ready"))
                .is_some_and(|c| c.status == "True");
            if ready {
                return resource;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never Ready: {:?}",
                resource.status
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn user_state(&self, id: &str) -> String {
        let user: serde_json::Value = self
            .http
            .get(format!("{}__sim/users/{id}", self.sim_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        user["state"].as_str().unwrap().to_owned()
    }

    async fn teardown(mut self) {
        let _ = self.forward.kill().await;
        let _ = self
            .kubectl
            .command(&["delete", "namespace", &self.namespace, "--wait=false"])
            .status()
            .await;
    }
}

async fn apply(client: &Client, object: serde_json::Value) {
    let types: kube::core::TypeMeta = serde_json::from_value(object.clone()).unwrap();
    let object: kube::core::DynamicObject = serde_json::from_value(object).unwrap();
    let gvk = kube::core::GroupVersionKind::try_from(&types).unwrap();
    let (resource, capabilities) = kube::discovery::pinned_kind(client, &gvk).await.unwrap();
    let api: Api<kube::core::DynamicObject> = match (capabilities.scope, object.namespace()) {
        (kube::discovery::Scope::Namespaced, Some(ns)) => {
            Api::namespaced_with(client.clone(), &ns, &resource)
        }
        _ => Api::all_with(client.clone(), &resource),
    };
    api.patch(
        &object.name_any(),
        &PatchParams::apply("gofb-e2e").force(),
        &Patch::Apply(&object),
    )
    .await
    .unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The operator, in this process, watching the test's namespace.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), RunError>>,
}

fn start(client: &Client, settings: Settings) -> Running {
    let operator = Operator::new(client.clone(), settings);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(operator.run(async move {
        let _ = stopped.await;
    }));
    Running { stop, task }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// The operator watches the test's namespace and allows the emulator's port-forward on
/// loopback (every port: kubectl picks it), as `--allowed-endpoint 127.0.0.1` would.
fn settings(namespace: &str) -> Settings {
    Settings {
        namespaces: vec![namespace.to_owned()],
        allowed_endpoints: AllowedEndpoints::parse(["127.0.0.1"]).unwrap(),
        ..Settings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kind/k3d cluster with the image loaded; see the module doc"]
async fn an_offboarding_reaches_ready_in_a_real_cluster_and_the_user_is_inactive() {
    let Some(cluster) = Cluster::new("ready").await else {
        return;
    };
    let operator = start(&cluster.client, settings(&cluster.namespace));

    cluster.offboard("jane", "").await;
    let jane = cluster.wait_ready("jane").await;

    let status = jane.status.unwrap();
    assert_eq!(status.observed_generation, jane.metadata.generation);
    assert_eq!(status.condition("Ready").unwrap().reason, "Offboarded");
    assert_eq!(cluster.user_state(JANE).await, "inactive");
    operator.stop().await;
    cluster.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kind/k3d cluster with the image loaded; see the module doc"]
async fn deleting_with_restore_in_a_real_cluster_reactivates_the_user() {
    let Some(cluster) = Cluster::new("restore").await else {
        return;
    };
    let operator = start(&cluster.client, settings(&cluster.namespace));

    cluster.offboard("jane", "deletionPolicy: Restore").await;
    let jane = cluster.wait_ready("jane").await;
    assert!(jane.finalizers().iter().any(|f| f == FINALIZER));
    cluster
        .offboardings()
        .delete("jane", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while cluster
        .offboardings()
        .get_opt("jane")
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the finalizer never let go"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    assert_eq!(cluster.user_state(JANE).await, "active");
    operator.stop().await;
    cluster.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kind/k3d cluster with the image loaded; see the module doc"]
async fn with_leader_election_in_a_real_cluster_one_replica_holds_the_lease() {
    let Some(cluster) = Cluster::new("lease").await else {
        return;
    };
    let replica = |name: &str| Settings {
        instance: name.to_owned(),
        leader_election: Some(LeaderElection::new("gofb-e2e", &cluster.namespace, name)),
        ..settings(&cluster.namespace)
    };
    let a = start(&cluster.client, replica("replica-a"));
    let b = start(&cluster.client, replica("replica-b"));

    cluster.offboard("jane", "").await;
    cluster.wait_ready("jane").await;
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let holder = leases
        .get("gofb-e2e")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity
        .unwrap();
    assert!(
        ["replica-a", "replica-b"].contains(&holder.as_str()),
        "{holder}"
    );

    a.stop().await;
    b.stop().await;
    cluster.teardown().await;
}
