//! The `/__sim` control API for tests and demos (not part of Genesys Cloud; never recorded,
//! no token needed):
//!
//! | route | does |
//! |---|---|
//! | `GET /__sim/requests` | every `/oauth` and `/api/v2` request so far, oldest first |
//! | `DELETE /__sim/requests` | forgets them |
//! | `POST /__sim/faults` | arms a fault (or a JSON array of faults); 201 with the pending list |
//! | `GET /__sim/faults` / `DELETE /__sim/faults` | lists / disarms pending faults |
//! | `GET /__sim/users/{id}` | a user's stored state (sessions, roles, queues, station, presence, history) |
//! | `POST /__sim/reset` | back to the fixture; log, faults and jobs cleared; 204 |

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::faults::Fault;
use super::server::Shared;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/__sim/requests", get(requests).delete(clear_requests))
        .route(
            "/__sim/faults",
            post(add_faults).get(list_faults).delete(clear_faults),
        )
        .route("/__sim/users/{id}", get(user))
        .route("/__sim/reset", post(reset))
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

async fn requests(State(shared): State<Arc<Shared>>) -> Response {
    let log: Vec<_> = shared.lock().log.iter().cloned().collect();
    Json(log).into_response()
}

async fn clear_requests(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.lock().log.clear();
    StatusCode::NO_CONTENT
}

async fn add_faults(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}")),
    };
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut faults = Vec::new();
    for item in items {
        let fault: Fault = match serde_json::from_value(item) {
            Ok(f) => f,
            Err(e) => return problem(StatusCode::BAD_REQUEST, &format!("invalid fault: {e}")),
        };
        if let Some(why) = fault.problem() {
            return problem(StatusCode::BAD_REQUEST, &format!("invalid fault: {why}"));
        }
        faults.push(fault);
    }
    let mut state = shared.lock();
    for f in faults {
        state.faults.add(f);
    }
    (StatusCode::CREATED, Json(state.faults.pending().to_vec())).into_response()
}

async fn list_faults(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock().faults.pending().to_vec()).into_response()
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.lock().faults.clear();
    StatusCode::NO_CONTENT
}

async fn user(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match stored_user(&shared, &id) {
        Some(v) => Json(v).into_response(),
        None => problem(StatusCode::NOT_FOUND, &format!("no user {id}")),
    }
}

/// A user's stored state as JSON.
pub fn stored_user(shared: &Shared, id: &str) -> Option<Value> {
    let mut state = shared.lock();
    state.org.settle(chrono::Utc::now());
    state
        .org
        .user(id)
        .and_then(|u| serde_json::to_value(u).ok())
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.reset();
    StatusCode::NO_CONTENT
}
