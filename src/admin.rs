//! The admin HTTP port (axum): `/metrics` (Prometheus text format, from [`Metrics`]), `/livez`
//! (the process serves requests) and `/readyz` (the CRD was found and every watched namespace's
//! cache has synced; a standby replica under leader election is ready once the CRD was found).
//! [`Health`] is the shared flag set the controller flips. I/O: one TCP listener.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::telemetry::Metrics;

/// What `/readyz` reports. Clones share the same flags.
#[derive(Debug, Clone, Default)]
pub struct Health {
    inner: Arc<HealthFlags>,
}

#[derive(Debug, Default)]
struct HealthFlags {
    crd_found: AtomicBool,
    synced: AtomicBool,
    standby: AtomicBool,
}

impl Health {
    pub fn new() -> Self {
        Self::default()
    }

    /// The startup check found the CRD.
    pub fn set_crd_found(&self) {
        self.inner.crd_found.store(true, Ordering::SeqCst);
    }

    /// Every controller's cache has synced (`true`), or the controller stopped (`false`).
    pub fn set_synced(&self, synced: bool) {
        self.inner.synced.store(synced, Ordering::SeqCst);
    }

    /// This replica waits for the lease (leader election): it is ready without a cache.
    pub fn set_standby(&self, standby: bool) {
        self.inner.standby.store(standby, Ordering::SeqCst);
    }

    /// Ready: the CRD is installed, and the cache has synced or this replica is a standby.
    pub fn is_ready(&self) -> bool {
        self.inner.crd_found.load(Ordering::SeqCst)
            && (self.inner.synced.load(Ordering::SeqCst)
                || self.inner.standby.load(Ordering::SeqCst))
    }

    fn explain(&self) -> &'static str {
        if !self.inner.crd_found.load(Ordering::SeqCst) {
            "waiting for the CRD check"
        } else if self.inner.standby.load(Ordering::SeqCst) {
            "ok (standby: waiting for the leader lease)"
        } else if self.inner.synced.load(Ordering::SeqCst) {
            "ok"
        } else {
            "waiting for the resource cache to sync"
        }
    }
}

#[derive(Clone)]
struct AdminState {
    metrics: Arc<Metrics>,
    health: Health,
}

/// The admin routes.
pub fn router(metrics: Arc<Metrics>, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(AdminState { metrics, health })
}

/// Serves the admin routes on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    health: Health,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics, health))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics_handler(State(state): State<AdminState>) -> Response {
    match state.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to encode the metrics",
        )
            .into_response(),
    }
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let status = if state.health.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, state.health.explain()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_the_crd_and_a_synced_cache_or_standby() {
        let health = Health::new();
        assert!(!health.is_ready());
        health.set_synced(true);
        assert!(!health.is_ready(), "no CRD yet");
        health.set_crd_found();
        assert!(health.is_ready());
        health.set_synced(false);
        assert!(!health.is_ready());
        health.set_standby(true);
        assert!(health.is_ready());
    }
}
