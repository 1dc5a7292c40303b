//! A fake Kubernetes API server for tests and local demos — a TEST TOOL, not a cluster: plain
//! HTTP, no authentication, everything in memory. Its one job: behave like kube-apiserver where
//! clients rely on it. It depends on nothing of the operator, and the operator has it only as a
//! dev-dependency: it is never in the operator's binary or image.
//!
//! It is generic over resources (objects are JSON, keyed by group, resource, namespace and
//! name) and behaves like the real server where the operator and `kubectl` rely on it: discovery
//! (plain, and aggregated for the clients that ask for it), get/list/watch with `resourceVersion`
//! and bookmarks, create/update/patch (JSON with the real `test` semantics, merge, strategic for
//! built-ins, server-side apply with field ownership and conflicts), the `status` subresource
//! isolated from spec both ways, the `scale` subresource of CRDs that declare it, `generation`
//! on spec changes only, finalizers and `deletionTimestamp`, CRDs registered at runtime with
//! their schemas enforced (pruning, defaults, validation, formats, CEL), Table and
//! `PartialObjectMetadata` answers on every verb, bodies written in the real key order, the real
//! size limits (3 MiB request bodies, 1 MiB Secrets), and the built-in kinds: `Namespace`,
//! `Secret`, `ConfigMap`, `Service`, `Event` (both APIs) and `Lease`. A fresh server has the
//! system namespaces and the `kubernetes` Service in `default`, as a fresh cluster has.
//!
//! It also fails on demand, the way a real control plane does: [`ApiFault`]s make matching
//! requests fail with a real `Status` (409 on a status apply, 500 on a read, 429 with
//! `Retry-After`, ...), [`FakeApiServerHandle::disconnect_watches`] cuts every watch stream
//! and refuses new ones for a while, and [`FakeApiServerHandle::restart`] goes down (every
//! connection reset, nothing listening) and comes back on the same address with the same
//! objects and `resourceVersion` counter. Over HTTP: `/__fake/faults` and
//! `/__fake/disconnect-watches` (not Kubernetes API, not recorded).
//!
//! Where to start reading: [`FakeApiServer`] and [`FakeApiServerHandle`] (the Rust API), then
//! `server.rs` (HTTP routing), `ops.rs` (the verbs and the write pipeline), `managed.rs`
//! (server-side apply), `schema.rs` (CRD schemas), `scale.rs`, `watch.rs`, `discovery.rs`,
//! `table.rs`, `wire.rs` (key order), `faults.rs` and `conn.rs` (fault injection, connections a
//! restart cuts).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fake_apiserver::FakeApiServer;
//! let server = FakeApiServer::start().await?;
//! let crd = std::fs::read_to_string("crds/genesysuseroffboardings.yaml")?;
//! server.load_yaml(&crd)?;
//! let client = server.kube_client();
//! // ... run the controller with `client`, assert on `server.requests()` ...
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod builtin;
mod conn;
mod discovery;
mod errors;
#[cfg(test)]
mod fault_tests;
mod faults;
mod log;
mod managed;
mod meta;
mod ops;
mod patch;
mod proto;
mod query;
mod registry;
mod scale;
mod schema;
mod selectors;
mod server;
mod store;
mod table;
mod watch;
mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{oneshot, watch as signal};
use tokio::task::JoinHandle;
use url::Url;

pub use faults::ApiFault;
pub use log::RecordedRequest;

use conn::KillableListener;
use faults::Faults;
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
        let listener = bind(self.addr).await?;
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
            faults: Mutex::new(Faults::default()),
            settings: Settings {
                bookmark_interval: self.bookmark_interval,
                default_watch_timeout: self.watch_timeout,
            },
            shutdown: shutdown_rx,
            connections: signal::channel(0).0,
            watches: signal::channel(0).0,
            host: addr.to_string(),
        });
        let url = Url::parse(&format!("http://{addr}/"))
            .map_err(|e| FakeApiServerError::Load(format!("bad server URL: {e}")))?;
        let config = kube_config_for(&url)?;
        let client = kube::Client::try_from(config).map_err(FakeApiServerError::Client)?;
        let serving = serve(&shared, listener);
        Ok(FakeApiServerHandle {
            addr,
            url,
            shared,
            shutdown: shutdown_tx,
            serving: Mutex::new(Some(serving)),
            client,
        })
    }
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, FakeApiServerError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| FakeApiServerError::Bind { addr, source })
}

/// The accept loop of one serving period (from start or a restart until the next stop).
struct Serving {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

fn serve(shared: &Arc<Shared>, listener: tokio::net::TcpListener) -> Serving {
    let app = server::router(Arc::clone(shared));
    let listener = KillableListener {
        inner: listener,
        generation: shared.connections.subscribe(),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let mut shutdown = shared.shutdown.clone();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            // Ends when this period stops, the server shuts down, or the handle is dropped.
            tokio::select! {
                _ = stopped => {}
                _ = shutdown.wait_for(|stopped| *stopped) => {}
            }
        });
        if let Err(e) = serve.await {
            tracing::warn!(error = %e, "fake API server stopped with an error");
        }
    });
    Serving { stop, task }
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
    /// `None` while stopped between [`Self::stop_serving`] and [`Self::start_serving`].
    serving: Mutex<Option<Serving>>,
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
            scale: false,
            query: &query,
            user_agent: "fake-apiserver",
        };
        let body =
            serde_json::to_vec(object).map_err(|e| FakeApiServerError::Load(e.to_string()))?;
        ops::patch(&mut state, &target, PatchType::Apply, &body)
            .map(|_| ())
            .map_err(|e| FakeApiServerError::Load(format!("{kind} {name}: {}", e.message)))
    }

    /// Arms a fault: matching requests get an error with a real `Status` body (see
    /// [`ApiFault`]). Same as `POST /__fake/faults`.
    ///
    /// # Panics
    /// When the fault is unusable (a status outside 400..=599, a count of 0): a test bug,
    /// reported loudly.
    pub fn inject(&self, fault: ApiFault) {
        if let Some(why) = fault.problem() {
            panic!("invalid fault {fault:?}: {why}");
        }
        self.shared.faults().add(fault);
    }

    /// The faults still armed (`GET /__fake/faults`).
    pub fn pending_faults(&self) -> Vec<ApiFault> {
        self.shared.faults().pending()
    }

    /// Disarms every fault (`DELETE /__fake/faults`).
    pub fn clear_faults(&self) {
        self.shared.faults().clear();
    }

    /// Cuts every open watch stream now (clients see the connection fail mid-stream) and, for
    /// `refuse_for`, answers new watches with 503 `ServiceUnavailable`
    /// (`POST /__fake/disconnect-watches`). Other requests are served as usual.
    pub fn disconnect_watches(&self, refuse_for: Duration) {
        self.shared.disconnect_watches(refuse_for);
    }

    /// Whether the server is accepting connections (false between [`Self::stop_serving`] and
    /// [`Self::start_serving`]).
    pub fn is_serving(&self) -> bool {
        self.serving_slot().is_some()
    }

    /// Goes down as a crashed API server does: the listener closes (new connections are
    /// refused) and every open connection is reset — idle ones, requests in flight and watch
    /// streams. Stored objects, the `resourceVersion` counter, the watch history, the request
    /// log and armed faults are kept for [`Self::start_serving`].
    pub async fn stop_serving(&self) {
        let Some(serving) = self.serving_slot().take() else {
            return;
        };
        // Cut before and after the accept loop stops: a connection accepted in between is cut too.
        self.shared
            .connections
            .send_modify(|generation| *generation += 1);
        let _ = serving.stop.send(());
        self.shared
            .connections
            .send_modify(|generation| *generation += 1);
        let _ = serving.task.await;
    }

    /// Serves again on the same address, with the state kept since [`Self::stop_serving`].
    /// Retries for a few seconds if the port is not free yet.
    pub async fn start_serving(&self) -> Result<(), FakeApiServerError> {
        if self.is_serving() {
            return Ok(());
        }
        let mut attempts = 0;
        let listener = loop {
            match bind(self.addr).await {
                Ok(listener) => break listener,
                Err(e) if attempts >= 50 => return Err(e),
                Err(_) => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let serving = serve(&self.shared, listener);
        *self.serving_slot() = Some(serving);
        Ok(())
    }

    /// A restart: [`Self::stop_serving`], `down_for` with nothing listening, then
    /// [`Self::start_serving`] on the same address with the same state.
    pub async fn restart(&self, down_for: Duration) -> Result<(), FakeApiServerError> {
        self.stop_serving().await;
        tokio::time::sleep(down_for).await;
        self.start_serving().await
    }

    fn serving_slot(&self) -> std::sync::MutexGuard<'_, Option<Serving>> {
        self.serving.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops serving for good: open watches end, the listener closes.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let serving = self.serving_slot().take();
        if let Some(serving) = serving {
            let _ = serving.task.await;
        }
    }
}

impl Drop for FakeApiServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
