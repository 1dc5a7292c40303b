//! Starting and stopping the emulator: [`Sim`] binds a port and serves a fixture, [`SimHandle`]
//! is the running server (its request log, faults, stored users, reset, shutdown). The router is
//! assembled here: the control routes of `control`, then the request pipeline of `server` for
//! everything else.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

use super::control;
use super::faults::Fault;
use super::fixture::{Fixture, FixtureError};
use super::server::{self, RecordedRequest, Shared};
use super::state::Org;

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

/// Starts emulators.
pub struct Sim;

/// The whole app: control routes, then everything else through the request pipeline.
fn app(shared: Arc<Shared>) -> Router {
    control::routes().fallback(server::entry).with_state(shared)
}
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
        let app = app(Arc::clone(&shared));
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

    /// Changes the organization directly, as an administrator would in the Genesys Cloud
    /// console through operations the operator never calls (pulling a user from a group,
    /// deleting a group): for tests of what the operator finds changed behind its back.
    pub fn edit_org(&self, edit: impl FnOnce(&mut Org)) {
        let mut state = self.shared.lock();
        state.org.settle(Utc::now());
        edit(&mut state.org);
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
