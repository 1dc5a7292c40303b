//! A fake Kubernetes API server for tests and local demos — a TEST TOOL, not a cluster: plain
//! HTTP, no authentication, everything in memory.
//!
//! It is generic over resources (objects are JSON, keyed by group, resource, namespace and
//! name) and behaves like the real server where the operator and `kubectl` rely on it: discovery,
//! get/list/watch with `resourceVersion` and bookmarks, create/update/patch (JSON with the real
//! `test` semantics, merge, strategic for built-ins, server-side apply with field ownership and
//! conflicts), the `status` subresource isolated from spec both ways, `generation` on spec
//! changes only, finalizers and `deletionTimestamp`, CRDs registered at runtime with their
//! schemas enforced (pruning, defaults, validation, CEL), Table output for `kubectl get`, and the
//! built-in kinds: `Namespace`, `Secret`, `ConfigMap`, `Event` (both APIs) and `Lease`.
//!
//! Where to start reading: [`FakeApiServer`] and [`FakeApiServerHandle`] (the Rust API), then
//! `server.rs` (HTTP routing), `ops.rs` (the verbs and the write pipeline), `managed.rs`
//! (server-side apply), `schema.rs` (CRD schemas), `watch.rs`, `discovery.rs`, `table.rs`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use genesys_offboarding_operator::fake_apiserver::FakeApiServer;
//! let server = FakeApiServer::start().await?;
//! server.load_yaml(include_str!("../../crds/genesysuseroffboardings.yaml"))?;
//! let client = server.kube_client();
//! // ... run the controller with `client`, assert on `server.requests()` ...
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod builtin;
mod discovery;
mod errors;
mod log;
mod managed;
mod meta;
mod ops;
mod patch;
mod proto;
mod query;
mod registry;
mod schema;
mod selectors;
mod server;
mod store;
mod table;
mod watch;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;
use url::Url;

pub use log::RecordedRequest;

use ops::{PatchType, State, Target};
use query::Query;
use registry::Registry;
use server::{Settings, Shared};
use store::Store;

/// Why the fake API server could not start or load objects.
#[derive(Debug, thiserror::Error)]
pub enum FakeApiServerError {
    /// The listen address could not be bound.
    #[error("failed to bind the fake API server to {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The kube client for the server could not be built.
    #[error("failed to build a kube client for the fake API server")]
    Client(#[source] kube::Error),
    /// A YAML document could not be loaded.
    #[error("failed to load object: {0}")]
    Load(String),
}

/// Entry point: `FakeApiServer::start().await` or `FakeApiServer::builder()`.
#[derive(Debug, Clone, Copy)]
pub struct FakeApiServer;

impl FakeApiServer {
    /// Starts a server on `127.0.0.1` with a free port and default settings.
    pub async fn start() -> Result<FakeApiServerHandle, FakeApiServerError> {
        Self::builder().start().await
    }

    /// Starts a server on `addr` with default settings.
    pub async fn start_on(addr: SocketAddr) -> Result<FakeApiServerHandle, FakeApiServerError> {
        Self::builder().listen(addr).start().await
    }

    /// Settings before starting.
    pub fn builder() -> FakeApiServerBuilder {
        FakeApiServerBuilder::default()
    }
}

/// Settings for a [`FakeApiServer`].
#[derive(Debug, Clone)]
pub struct FakeApiServerBuilder {
    addr: SocketAddr,
    bookmark_interval: Duration,
    watch_timeout: Duration,
    history_limit: usize,
}

impl Default for FakeApiServerBuilder {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            bookmark_interval: Duration::from_secs(10),
            watch_timeout: Duration::from_secs(1800),
            history_limit: 10_000,
        }
    }
}

impl FakeApiServerBuilder {
    /// The address to listen on (default `127.0.0.1:0`, a free port).
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// How often watches with `allowWatchBookmarks=true` get a BOOKMARK (default 10 s).
    #[must_use]
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.bookmark_interval = interval;
        self
    }

    /// How long a watch without `timeoutSeconds` lasts (default 30 min).
    #[must_use]
    pub fn watch_timeout(mut self, timeout: Duration) -> Self {
        self.watch_timeout = timeout;
        self
    }

    /// How many changes are kept for watches that resume from a `resourceVersion` (default
    /// 10 000); older versions get 410 Gone.
    #[must_use]
    pub fn history_limit(mut self, limit: usize) -> Self {
        self.history_limit = limit;
        self
    }

    /// Binds and starts serving.
    pub async fn start(self) -> Result<FakeApiServerHandle, FakeApiServerError> {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .map_err(|source| FakeApiServerError::Bind {
                addr: self.addr,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| FakeApiServerError::Bind {
                addr: self.addr,
                source,
            })?;
        let mut state = State {
            registry: Registry::new(),
            store: Store::new(self.history_limit, 4096),
        };
        ops::bootstrap(&mut state);
        let (shutdown_tx, shutdown_rx) = signal::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            log: Mutex::new(Vec::new()),
            settings: Settings {
                bookmark_interval: self.bookmark_interval,
                default_watch_timeout: self.watch_timeout,
            },
            shutdown: shutdown_rx.clone(),
            host: addr.to_string(),
        });
        let app = server::router(Arc::clone(&shared));
        let mut stop = shutdown_rx;
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // Ends when the flag flips or the handle is dropped.
                let _ = stop.wait_for(|stopped| *stopped).await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "fake API server stopped with an error");
            }
        });
        let url = Url::parse(&format!("http://{addr}/"))
            .map_err(|e| FakeApiServerError::Load(format!("bad server URL: {e}")))?;
        let config = kube_config_for(&url)?;
        let client = kube::Client::try_from(config).map_err(FakeApiServerError::Client)?;
        Ok(FakeApiServerHandle {
            addr,
            url,
            shared,
            shutdown: shutdown_tx,
            task: Some(task),
            client,
        })
    }
}

fn kube_config_for(url: &Url) -> Result<kube::Config, FakeApiServerError> {
    let uri: axum::http::Uri = url
        .as_str()
        .trim_end_matches('/')
        .parse()
        .map_err(|e| FakeApiServerError::Load(format!("bad server URL: {e}")))?;
    Ok(kube::Config::new(uri))
}

/// A running fake API server. Dropping it stops the server; prefer [`Self::shutdown`].
pub struct FakeApiServerHandle {
    addr: SocketAddr,
    url: Url,
    shared: Arc<Shared>,
    shutdown: signal::Sender<bool>,
    task: Option<JoinHandle<()>>,
    client: kube::Client,
}

impl std::fmt::Debug for FakeApiServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApiServerHandle")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl FakeApiServerHandle {
    /// The base URL, e.g. `http://127.0.0.1:40123/`.
    pub fn url(&self) -> Url {
        self.url.clone()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A `kube::Config` pointing at the server (no authentication, namespace `default`).
    pub fn kube_config(&self) -> kube::Config {
        // The URL was parsed successfully at start, so this cannot fail.
        kube_config_for(&self.url).unwrap_or_else(|_| kube::Config::new(axum::http::Uri::default()))
    }

    /// A `kube::Client` for the server (clones share one connection pool).
    pub fn kube_client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A kubeconfig for `kubectl`, with one context (`fake-apiserver`) whose namespace is
    /// `default`.
    pub fn kubeconfig_yaml(&self) -> String {
        let server = self.url.as_str().trim_end_matches('/');
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake-apiserver\n  cluster:\n    server: {server}\ncontexts:\n- name: fake-apiserver\n  context:\n    cluster: fake-apiserver\n    user: fake-apiserver\n    namespace: default\ncurrent-context: fake-apiserver\nusers:\n- name: fake-apiserver\n  user: {{}}\n"
        )
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many requests so far satisfy `predicate`.
    pub fn count_requests(&self, predicate: impl Fn(&RecordedRequest) -> bool) -> usize {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|r| predicate(r))
            .count()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The stored object, as `api_version` serves it (e.g. `("v1", "secrets", Some("default"),
    /// "creds")`), without going through HTTP.
    pub fn object(
        &self,
        api_version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let state = self.shared.lock();
        let rt = state.registry.lookup(group, version, plural)?;
        let stored = state
            .store
            .get(&rt.storage_key(), namespace.unwrap_or_default(), name)?
            .clone();
        Some(registry::to_served(&rt, stored))
    }

    /// Server-side applies every document of a (multi-document) YAML string, as field manager
    /// `fake-apiserver-load` with `force=true`. Namespaced objects without a namespace go to
    /// `default`. Returns how many objects were applied.
    pub fn load_yaml(&self, yaml: &str) -> Result<usize, FakeApiServerError> {
        use serde::Deserialize;
        let mut count = 0;
        for document in serde_yaml::Deserializer::from_str(yaml) {
            let object = Value::deserialize(document)
                .map_err(|e| FakeApiServerError::Load(e.to_string()))?;
            if object.is_null() {
                continue;
            }
            self.apply_object(&object)?;
            count += 1;
        }
        Ok(count)
    }

    fn apply_object(&self, object: &Value) -> Result<(), FakeApiServerError> {
        let text = |p: &str| {
            object
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let (api_version, kind, name) =
            (text("/apiVersion"), text("/kind"), text("/metadata/name"));
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let mut state = self.shared.lock();
        let rt = state
            .registry
            .all()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
            .cloned()
            .ok_or_else(|| {
                FakeApiServerError::Load(format!("no resource serves {api_version} {kind}"))
            })?;
        let namespace = rt.namespaced.then(|| {
            let ns = text("/metadata/namespace");
            if ns.is_empty() {
                "default".to_owned()
            } else {
                ns.to_owned()
            }
        });
        let query = Query::parse(Some("fieldManager=fake-apiserver-load&force=true"))
            .map_err(|e| FakeApiServerError::Load(e.message))?;
        let target = Target {
            rt,
            namespace,
            name: Some(name.to_owned()),
            status: false,
            query: &query,
            user_agent: "fake-apiserver",
        };
        let body =
            serde_json::to_vec(object).map_err(|e| FakeApiServerError::Load(e.to_string()))?;
        ops::patch(&mut state, &target, PatchType::Apply, &body)
            .map(|_| ())
            .map_err(|e| FakeApiServerError::Load(format!("{kind} {name}: {}", e.message)))
    }

    /// Stops serving: open watches end, the listener closes.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeApiServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
