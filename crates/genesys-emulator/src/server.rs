//! The request pipeline for `/oauth/token` and `/api/v2/...` (the `/__sim` control routes live
//! in `control`, which builds on this module). Every request goes through the same steps:
//! record → fixture latency → injected fault (if any) → due asynchronous changes applied →
//! token check and rate window → route table → permission check → division check (with
//! `behavior.divisionScopedPermissions`) → handler, all answered with a real `ErrorBody` on
//! failure and an `ININ-Correlation-Id` header equal to the body's `contextId`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::Tokens;
use super::call::{Call, Query, Reply, ReplyBody};
use super::errors::ApiError;
use super::faults::{Fault, Faults};
use super::fixture::Fixture;
use super::ops;
use super::state::Org;

/// Largest request body read.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Most requests kept in the log (oldest dropped first).
pub const MAX_LOGGED_REQUESTS: usize = 100_000;

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

/// Everything behind the lock.
pub struct SimState {
    pub org: Org,
    pub tokens: Tokens,
    pub faults: Faults,
    pub log: VecDeque<RecordedRequest>,
}

/// State shared by the server and the handle.
pub struct Shared {
    pub fixture: Fixture,
    pub epoch: DateTime<Utc>,
    state: Mutex<SimState>,
}

impl Shared {
    pub fn new(fixture: Fixture, epoch: DateTime<Utc>, org: Org) -> Self {
        Self {
            fixture,
            epoch,
            state: Mutex::new(SimState {
                org,
                tokens: Tokens::default(),
                faults: Faults::default(),
                log: VecDeque::new(),
            }),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Back to the fixture: organization, jobs, faults and log; tokens stay valid, their rate
    /// windows restart.
    pub fn reset(&self) {
        let mut state = self.lock();
        match Org::from_fixture(&self.fixture, self.epoch) {
            Ok(org) => state.org = org,
            Err(e) => tracing::error!(error = %e, "reset failed; the fixture no longer loads"),
        }
        state.faults.clear();
        state.log.clear();
        state.tokens.clear_windows();
    }

    /// Serves one `/oauth/token` or `/api/v2` request (no fault, no latency).
    fn serve(&self, incoming: &Incoming<'_>) -> Reply {
        let Incoming {
            method,
            path,
            raw_query,
            headers,
            body,
            now,
            context_id,
        } = *incoming;
        let mut guard = self.lock();
        let SimState { org, tokens, .. } = &mut *guard;
        org.settle(now);
        if path == "/oauth/token" {
            if method != "POST" {
                return Reply::error(&not_found(method, path), context_id);
            }
            return tokens.grant(org, headers, body);
        }
        let caller = match tokens.authenticate(headers, org.requests_per_minute) {
            Ok(c) => c,
            Err(e) => return Reply::error(&e, context_id),
        };
        let Some((op, params)) = ops::resolve(method, path) else {
            return Reply::error(&not_found(method, path), context_id);
        };
        let granted = org
            .client(&caller.client_id)
            .and_then(|c| c.permissions.as_deref());
        if let Some(missing) = ops::missing_permissions(op.permissions, granted) {
            return Reply::error(&ApiError::missing_permissions(&missing), context_id);
        }
        if let Some(allowed) = org.client_divisions(&caller.client_id)
            && let Some(denied) = outside_divisions(org, &params, allowed)
        {
            return Reply::error(&denied, context_id);
        }
        let call = Call {
            path,
            params,
            query: Query::parse(raw_query),
            headers,
            body,
            caller: &caller,
            now,
        };
        (op.handler)(org, &call).unwrap_or_else(|e| Reply::error(&e, context_id))
    }

    fn record(&self, entry: RecordedRequest) {
        let mut state = self.lock();
        if state.log.len() >= MAX_LOGGED_REQUESTS {
            state.log.pop_front();
        }
        state.log.push_back(entry);
    }
}

/// 403 when a path names a user, queue or conversation in a division the client has no role
/// in. An unknown entity passes: the handler answers its 404.
fn outside_divisions(org: &Org, params: &ops::PathParams, allowed: &[String]) -> Option<ApiError> {
    let divisions = |name: &str, id: &str| -> Vec<&str> {
        match name {
            "userId" | "subjectId" | "memberId" => org
                .user(id)
                .map(|u| vec![u.division_id.as_str()])
                .unwrap_or_default(),
            "queueId" => org
                .queue(id)
                .map(|q| vec![org.queue_division(q)])
                .unwrap_or_default(),
            "conversationId" => org
                .conversations
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.division_ids.iter().map(String::as_str).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    };
    params.iter().find_map(|(name, id)| {
        let held = divisions(name, id);
        (!held.is_empty() && !held.iter().any(|d| allowed.iter().any(|a| a == d)))
            .then(|| ApiError::outside_division(&held.join(", ")))
    })
}

/// A request as [`Shared::serve`] needs it.
#[derive(Clone, Copy)]
struct Incoming<'a> {
    method: &'a str,
    path: &'a str,
    raw_query: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
    now: DateTime<Utc>,
    context_id: &'a str,
}

fn not_found(method: &str, path: &str) -> ApiError {
    ApiError::new(404, "not.found", "No resource at {method} {path}")
        .param("method", method)
        .param("path", path)
}

/// The answer to an injected fault.
fn fault_reply(fault: &Fault, limit: u32, context_id: &str) -> Reply {
    let status = fault
        .status
        .filter(|s| (100..=599).contains(s))
        .unwrap_or(500);
    let body = if let Some(text) = &fault.raw_body {
        ReplyBody::Raw {
            content_type: fault
                .content_type
                .clone()
                .unwrap_or_else(|| "application/json".into()),
            text: text.clone(),
        }
    } else if let Some(body) = &fault.body {
        ReplyBody::Json(body.clone())
    } else if status == 429 {
        ReplyBody::Json(
            ApiError::too_many_requests(limit, fault.retry_after.unwrap_or(1)).body(context_id),
        )
    } else {
        ReplyBody::Json(ApiError::for_status(status).body(context_id))
    };
    Reply {
        status,
        body,
        retry_after: fault.retry_after,
    }
}

/// Serves every request the control routes do not take (the router is assembled in `sim`, so
/// that the control API may build on this module without this module knowing it).
pub async fn entry(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let context_id = uuid::Uuid::new_v4().to_string();
    if path != "/oauth/token" && !path.starts_with("/api/v2/") {
        let reply = Reply::error(&not_found(parts.method.as_str(), &path), &context_id);
        return respond(reply, &context_id);
    }
    let time = Utc::now();
    let method = parts.method.as_str().to_owned();
    let raw_query = parts.uri.query().unwrap_or_default().to_owned();
    let bytes = to_bytes(body, MAX_BODY_BYTES).await;
    let latency = shared.fixture.latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let fault = shared.lock().faults.take(&method, &path);
    // With `afterServe` the request is served (and logged) first; the fault then shapes only
    // what the client receives (see `faults`).
    let (before, after) = match fault {
        Some(f) if f.after_serve => (None, Some(f)),
        other => (other, None),
    };
    if let Some(delay) = before.as_ref().and_then(|f| f.delay_ms) {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let (reply, request_body) = match bytes {
        Err(_) => (
            Reply::error(
                &ApiError::new(
                    413,
                    "response.entity.too.large",
                    "The request body is too large",
                ),
                &context_id,
            ),
            None,
        ),
        Ok(bytes) => {
            let request_body = serde_json::from_slice::<Value>(&bytes).ok();
            let reply = match before.as_ref().filter(|f| f.replaces_answer()) {
                Some(f) if f.reset => Reply::empty(0),
                // Accepted, not applied: the answer is the resource as it stands.
                Some(f) if f.ignore_write => shared.serve(&Incoming {
                    method: "GET",
                    path: &path,
                    raw_query: "",
                    headers: &parts.headers,
                    body: &[],
                    now: Utc::now(),
                    context_id: &context_id,
                }),
                Some(f) => {
                    let limit = shared.lock().org.requests_per_minute;
                    fault_reply(f, limit, &context_id)
                }
                None => shared.serve(&Incoming {
                    method: &method,
                    path: &path,
                    raw_query: &raw_query,
                    headers: &parts.headers,
                    body: &bytes,
                    now: Utc::now(),
                    context_id: &context_id,
                }),
            };
            (reply, request_body)
        }
    };
    let operation = ops::resolve(&method, &path).map(|(op, _)| op.id.to_owned());
    tracing::debug!(%method, %path, status = reply.status, operation = operation.as_deref().unwrap_or("-"), "request");
    shared.record(RecordedRequest {
        method,
        path,
        query: raw_query,
        body: request_body,
        status: reply.status,
        response_body: reply.json_body().cloned(),
        time,
        operation,
    });
    if let Some(f) = &after {
        if let Some(delay) = f.delay_ms {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if f.status.is_some() {
            let limit = shared.lock().org.requests_per_minute;
            return respond(fault_reply(f, limit, &context_id), &context_id);
        }
    }
    if before.as_ref().or(after.as_ref()).is_some_and(|f| f.reset) {
        return super::faults::connection_reset();
    }
    respond(reply, &context_id)
}

fn respond(reply: Reply, context_id: &str) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (content_type, body) = match reply.body {
        ReplyBody::Json(v) => (
            Some("application/json".to_owned()),
            Body::from(v.to_string()),
        ),
        ReplyBody::Raw { content_type, text } => (Some(content_type), Body::from(text)),
        ReplyBody::Empty => (None, Body::empty()),
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    if let Some(ct) = content_type.and_then(|ct| HeaderValue::from_str(&ct).ok()) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    if let Ok(v) = HeaderValue::from_str(context_id) {
        headers.insert(HeaderName::from_static("inin-correlation-id"), v);
    }
    if let Some(secs) = reply.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
