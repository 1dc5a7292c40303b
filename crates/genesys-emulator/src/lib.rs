//! The Genesys Cloud emulator ("the sim"). Its one job: stand in for Genesys Cloud, as unkind
//! as the real service, in tests and demos. It never depends on the client crate
//! (`genesys-cloud`), `kube` or `k8s-openapi`, so it stays an independent oracle of the API.
//!
//! It is an axum server that speaks the Genesys Cloud
//! Platform API v2 for every operation in `contract/genesys-contract.json` (47 of them), plus
//! `POST /oauth/token`, against an in-memory organization loaded from a [`Fixture`].
//!
//! Where to start reading: [`ops`] (the route table: op id, method, path, permissions,
//! handler), then [`server`] (the request pipeline), then the handlers in [`users`],
//! [`search`], [`routing`], [`org`], [`analytics`] and [`aggregates`]. [`state`] holds the
//! organization and the lifecycle rules; [`render`] the JSON shapes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), genesys_emulator::SimError> {
//! use genesys_emulator::{Fault, Sim, fixture::Fixture};
//! let sim = Sim::start(Fixture::demo()).await?;
//! let base = sim.base_url(); // serves /oauth/token and /api/v2/...
//! sim.inject(Fault::new("PATCH", "/api/v2/users/*").status(503));
//! // ... run a client against `base` ...
//! let patched = sim.requests().iter().filter(|r| r.method == "PATCH").count();
//! sim.shutdown().await;
//! # let _ = (base, patched); Ok(()) }
//! ```
//!
//! # Behaviour
//! Semantics follow docs/genesys-api.md §2–§9; points the reference marks unverified are switches
//! in `behavior` (see [`fixture::Behavior`]). Every error is an `ErrorBody` with `message`,
//! `code`, `status`, `messageWithParams`, `messageParams`, `contextId`, `details`, `errors`.
//! Tokens expire per client (`tokenLifetimeSeconds`); each token has a sliding 60-second
//! window of `requestsPerMinute` requests (0 = off), past which the answer is 429
//! `too.many.requests` with `Retry-After`. A client with a `permissions` list gets 403
//! `missing.permissions` naming what an operation needs. `latencyMs` delays every answer.
//!
//! # Control API (`/__sim`, no token, not recorded)
//! - `GET /__sim/requests`: every `/oauth` and `/api/v2` request, oldest first:
//!   `{method, path, query (raw string), body (JSON or null), status, responseBody (JSON or
//!   null), time, operation (contract op id or null)}`. `DELETE` clears it.
//! - `POST /__sim/faults`: `{"method":"PATCH","path":"/api/v2/users/*","count":1,"status":503,
//!   "body":{...},"retryAfter":2,"delayMs":0}` (or an array). The next `count` matching
//!   requests get that status (default body: an `ErrorBody` for the status), `Retry-After`
//!   and/or delay; with `delayMs` and no `status` the request is delayed then served. `*`
//!   matches one path segment, `**` the rest. `rawBody` (+ `contentType`) sends a non-JSON
//!   body. `"reset": true` closes the connection, `"afterServe": true` serves the request
//!   first, `"ignoreWrite": true` leaves it unapplied and answers with what a `GET` of the same
//!   path answers (a `PATCH` of a user's state answered `200` with `state: active`; see
//!   [`faults`]). `GET` lists pending faults, `DELETE` disarms them.
//! - `GET /__sim/users/{id}`: the stored user (state, version, roles in effect with their group
//!   and `withheldGroupRoles`, the group grants withheld since a deactivation,
//!   queues with `joined`/`direct`/`viaGroup`, station, presence, `hasSessions`, history).
//! - `POST /__sim/reset`: back to the fixture (same epoch), log, faults and jobs cleared.
//!
//! The same operations are methods on [`SimHandle`].

pub mod aggregates;
pub mod analytics;
pub mod auth;
pub mod call;
pub mod cli;
pub mod control;
pub mod errors;
pub mod faults;
pub mod filters;
pub mod fixture;
pub mod ops;
pub mod org;
pub mod ratelimit;
pub mod render;
pub mod routing;
pub mod search;
pub mod server;
pub mod state;
pub mod time;
pub mod users;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

pub use faults::Fault;
use fixture::{Fixture, FixtureError};
use server::Shared;
use state::Org;

/// The emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("failed to load the emulator's fixture")]
    Fixture(#[from] FixtureError),
    #[error("failed to listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to build the emulator's base URL")]
    Url(#[source] url::ParseError),
    #[error("failed to wait for Ctrl-C")]
    Signal(#[source] std::io::Error),
}

/// One `/oauth` or `/api/v2` request as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string (empty when none).
    pub query: String,
    /// The request body when it was JSON.
    pub body: Option<Value>,
    pub status: u16,
    /// The response body when it was JSON.
    pub response_body: Option<Value>,
    pub time: DateTime<Utc>,
    /// The contract op id the request matched (`patch_user`, ...), if any.
    pub operation: Option<String>,
}

/// Starts emulators.
pub struct Sim;

impl Sim {
    /// Serves `fixture` on `127.0.0.1` with a free port.
    pub async fn start(fixture: Fixture) -> Result<SimHandle, SimError> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), fixture).await
    }

    /// Serves `fixture` on `addr`.
    pub async fn start_on(addr: SocketAddr, fixture: Fixture) -> Result<SimHandle, SimError> {
        let epoch = Utc::now();
        let org = Org::from_fixture(&fixture, epoch)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let base_url = Url::parse(&format!("http://{local}/")).map_err(SimError::Url)?;
        let shared = Arc::new(Shared::new(fixture, epoch, org));
        let app = server::router(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the Genesys Cloud emulator stopped");
            }
        });
        tracing::info!(%base_url, "Genesys Cloud emulator started");
        Ok(SimHandle {
            base_url,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A running emulator. Dropping it stops the server.
pub struct SimHandle {
    base_url: Url,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:<port>/`: both the login and the API base.
    pub fn base_url(&self) -> Url {
        self.base_url.clone()
    }

    /// Every `/oauth` and `/api/v2` request so far (`GET /__sim/requests`).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().log.iter().cloned().collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }

    /// Arms a fault (`POST /__sim/faults`).
    ///
    /// # Panics
    /// When the fault is unusable (no status and no delay, a status outside 100..=599, a
    /// count of 0, a path not starting with `/`): a test bug, reported loudly.
    pub fn inject(&self, fault: Fault) {
        if let Some(why) = fault.problem() {
            panic!("invalid fault {fault:?}: {why}");
        }
        self.shared.lock().faults.add(fault);
    }

    /// A user's stored state (`GET /__sim/users/{id}`).
    pub fn user(&self, id: &str) -> Option<Value> {
        control::stored_user(&self.shared, id)
    }

    /// Back to the fixture (`POST /__sim/reset`).
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
