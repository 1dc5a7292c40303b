//! The HTTP layer: one axum fallback handler that parses Kubernetes API paths
//! (`/api/v1/namespaces/{ns}/{plural}/{name}/{subresource}`, `/apis/{group}/{version}/...`,
//! discovery in its plain and aggregated forms, `/version`, `/openapi/v3`), refuses bodies over
//! the real server's 3 MiB limit, answers an armed fault instead when one matches, negotiates the
//! representation (the object, `PartialObjectMetadata` or `Table`, for every verb that answers
//! with an object), runs the verb under the state lock, and records the request.
//! `/__fake/...` is the test-control API (faults, watch disconnects), never recorded.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::discovery;
use super::errors::{ApiError, json_response};
use super::faults::{self, ApiFault, Faults};
use super::log::RecordedRequest;
use super::ops::{self, Outcome, PatchType, State, Target};
use super::query::{self, Query, Representation};
use super::table;
use super::watch as watches;

/// Tunables.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub bookmark_interval: Duration,
    pub default_watch_timeout: Duration,
}

/// State shared by every request.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub log: Mutex<Vec<RecordedRequest>>,
    pub faults: Mutex<Faults>,
    pub settings: Settings,
    /// Fires once, when the server stops for good: watches end cleanly.
    pub shutdown: watch::Receiver<bool>,
    /// Moves on when the server stops serving (a restart): every open connection is cut.
    pub connections: watch::Sender<u64>,
    /// Moves on to cut every open watch stream (a watch disconnect).
    pub watches: watch::Sender<u64>,
    pub host: String,
}

impl Shared {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cuts every open watch stream (the client sees the connection fail mid-stream); new
    /// watches get 503 `ServiceUnavailable` for `refuse_for`.
    pub(crate) fn disconnect_watches(&self, refuse_for: Duration) {
        if !refuse_for.is_zero() {
            self.faults()
                .add(ApiFault::new("watch", "*").status(503).during(refuse_for));
        }
        self.watches.send_modify(|generation| *generation += 1);
    }

    /// The armed fault that bites this request, if any (counted).
    fn take_fault(&self, record: &RecordedRequest) -> Option<ApiFault> {
        self.faults().take(record)
    }
}

/// The router: everything goes through one handler.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// The largest request body the real server reads (`--max-request-body-bytes`, 3 MiB).
const BODY_LIMIT: usize = 3 * 1024 * 1024;

/// The test-control endpoints take larger bodies (many faults at once).
const CONTROL_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// The prefix of the test-control endpoints (not Kubernetes API, not recorded).
const CONTROL: &str = "/__fake/";

/// `/__fake/faults` (`GET` lists the armed faults, `POST` arms one or an array, `DELETE`
/// disarms all) and `POST /__fake/disconnect-watches` (`{"refuseForMs": N}` optional: new
/// watches get 503 for that long).
fn control(shared: &Shared, parts: &Parts, body: &Bytes) -> Response {
    match (parts.method.as_str(), parts.uri.path()) {
        ("GET", "/__fake/faults") => ok_json(&json!(shared.faults().pending())),
        ("POST", "/__fake/faults") => match faults::parse(body) {
            Ok(armed) => {
                let count = armed.len();
                let mut faults = shared.faults();
                for fault in armed {
                    faults.add(fault);
                }
                ok_json(&json!({"armed": count}))
            }
            Err(e) => e.into_response(),
        },
        ("DELETE", "/__fake/faults") => {
            shared.faults().clear();
            ok_json(&json!({"armed": 0}))
        }
        ("POST", "/__fake/disconnect-watches") => {
            let refuse_for = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("refuseForMs").and_then(Value::as_u64))
                .unwrap_or(0);
            shared.disconnect_watches(Duration::from_millis(refuse_for));
            ok_json(&json!({"disconnected": true}))
        }
        _ => ApiError::no_route().into_response(),
    }
}

async fn handle(AxumState(shared): AxumState<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if parts.uri.path().starts_with(CONTROL) {
        return match axum::body::to_bytes(body, CONTROL_BODY_LIMIT).await {
            Ok(bytes) => control(&shared, &parts, &bytes),
            Err(e) => {
                ApiError::bad_request(format!("cannot read the request body: {e}")).into_response()
            }
        };
    }
    let mut record = new_record(&parts);
    let response = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => {
            record.body = parse_body(&parts.headers, &bytes);
            dispatch(&shared, &parts, &bytes, &mut record)
        }
        Err(_) => ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {BODY_LIMIT}"),
        )
        .into_response(),
    };
    record.status = response.status().as_u16();
    tracing::debug!(
        method = %record.method,
        path = %record.path,
        query = %record.query,
        status = record.status,
        "fake-apiserver request"
    );
    shared
        .log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(record);
    response
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn new_record(parts: &Parts) -> RecordedRequest {
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let field_manager = Query::parse(Some(&query))
        .ok()
        .and_then(|q| q.get("fieldManager").map(str::to_owned));
    RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query,
        verb: "discovery".to_owned(),
        group: String::new(),
        version: String::new(),
        resource: String::new(),
        subresource: None,
        namespace: None,
        name: None,
        patch_type: None,
        field_manager,
        user_agent: header_str(&parts.headers, header::USER_AGENT).map(str::to_owned),
        body: None,
        status: 0,
        injected: None,
        time: SystemTime::now(),
    }
}

fn is_yaml(headers: &HeaderMap) -> bool {
    header_str(headers, header::CONTENT_TYPE).is_some_and(|c| c.contains("yaml"))
}

fn parse_body(headers: &HeaderMap, bytes: &Bytes) -> Option<Value> {
    if bytes.is_empty() {
        return None;
    }
    if is_yaml(headers) {
        serde_yaml::from_slice(bytes).ok()
    } else {
        serde_json::from_slice(bytes).ok()
    }
}

fn decode_segment(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(byte) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ok_json(body: &Value) -> Response {
    json_response(200, body)
}

/// `Content-Type` of aggregated discovery: the media type with the `g`, `v` and `as` asked for.
const AGGREGATED_DISCOVERY: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `/api` and `/apis`: the aggregated document when the client asks for it first, else the
/// plain one. Aggregated answers carry an `ETag` (a matching `If-None-Match` gets 304).
fn group_discovery(
    headers: &HeaderMap,
    method: &Method,
    plain: impl FnOnce() -> Value,
    aggregated: impl FnOnce() -> Value,
) -> Response {
    if method != Method::GET {
        return ApiError::method_not_allowed().into_response();
    }
    let accept = header_str(headers, header::ACCEPT);
    match query::negotiate_discovery(accept) {
        Some(query::DiscoveryFormat::Plain) => ok_json(&plain()),
        Some(query::DiscoveryFormat::Aggregated) => {
            let body = super::wire::to_vec(&aggregated());
            let etag = format!("\"{}\"", discovery::hash_of_bytes(&body));
            let not_modified = header_str(headers, header::IF_NONE_MATCH) == Some(etag.as_str());
            let mut response = if not_modified {
                StatusCode::NOT_MODIFIED.into_response()
            } else {
                (StatusCode::OK, body).into_response()
            };
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(AGGREGATED_DISCOVERY),
            );
            h.insert(header::VARY, HeaderValue::from_static("Accept"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public"));
            if let Ok(value) = HeaderValue::from_str(&etag) {
                h.insert(header::ETAG, value);
            }
            response
        }
        None => ApiError::not_acceptable(accept.unwrap_or_default()).into_response(),
    }
}

fn discovery_response(headers: &HeaderMap, method: &Method, body: Option<Value>) -> Response {
    if method != Method::GET {
        return ApiError::method_not_allowed().into_response();
    }
    if !query::accepts_plain_json(header_str(headers, header::ACCEPT)) {
        return ApiError::not_acceptable(header_str(headers, header::ACCEPT).unwrap_or_default())
            .into_response();
    }
    match body {
        Some(body) => ok_json(&body),
        None => ApiError::no_route().into_response(),
    }
}

fn dispatch(
    shared: &Shared,
    parts: &Parts,
    body: &Bytes,
    record: &mut RecordedRequest,
) -> Response {
    let segments: Vec<String> = parts
        .uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect();
    let parts_ref: Vec<&str> = segments.iter().map(String::as_str).collect();
    let headers = &parts.headers;
    let method = &parts.method;
    match parts_ref.as_slice() {
        [] => discovery_response(
            headers,
            method,
            Some(
                json!({"paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version", "/healthz", "/livez", "/readyz"]}),
            ),
        ),
        ["version"] => match discovery_response(headers, method, Some(json!({}))) {
            refused if refused.status() != StatusCode::OK => refused,
            _ => {
                // `version.Info` has no `kind` to recognise its field order by.
                let body =
                    super::wire::to_vec_as(&discovery::version(), &super::wire::VERSION_INFO);
                let mut response = (StatusCode::OK, body).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
        },
        ["healthz" | "livez" | "readyz", ..] => (StatusCode::OK, "ok").into_response(),
        ["api"] => group_discovery(
            headers,
            method,
            || discovery::api_versions(&shared.host),
            || discovery::aggregated_core(&shared.lock().registry),
        ),
        ["apis"] => group_discovery(
            headers,
            method,
            || discovery::api_group_list(&shared.lock().registry),
            || discovery::aggregated_groups(&shared.lock().registry),
        ),
        ["apis", group] => {
            let group = discovery::api_group(&shared.lock().registry, group);
            discovery_response(headers, method, group)
        }
        ["api", version] => {
            let list = discovery::resource_list(&shared.lock().registry, "", version);
            discovery_response(headers, method, list)
        }
        ["apis", group, version] => {
            let list = discovery::resource_list(&shared.lock().registry, group, version);
            discovery_response(headers, method, list)
        }
        ["openapi", "v3"] => {
            let root = discovery::openapi_v3_root(&shared.lock().registry);
            discovery_response(headers, method, Some(root))
        }
        ["openapi", "v3", "api", version] => {
            let doc = discovery::openapi_v3_document(&shared.lock().registry, "", version);
            discovery_response(headers, method, doc)
        }
        ["openapi", "v3", "apis", group, version] => {
            let doc = discovery::openapi_v3_document(&shared.lock().registry, group, version);
            discovery_response(headers, method, doc)
        }
        ["api", version, rest @ ..] => resource(shared, parts, body, record, "", version, rest),
        ["apis", group, version, rest @ ..] => {
            resource(shared, parts, body, record, group, version, rest)
        }
        _ => ApiError::no_route().into_response(),
    }
}

/// A parsed resource path.
struct ResourcePath<'a> {
    namespace: Option<&'a str>,
    plural: &'a str,
    name: Option<&'a str>,
    subresource: Option<&'a str>,
}

fn parse_resource_path<'a>(group: &str, rest: &[&'a str]) -> Option<ResourcePath<'a>> {
    let path = |namespace, plural, name, subresource| {
        Some(ResourcePath {
            namespace,
            plural,
            name,
            subresource,
        })
    };
    match rest {
        ["namespaces"] => path(None, "namespaces", None, None),
        ["namespaces", name] => path(None, "namespaces", Some(*name), None),
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            path(None, "namespaces", Some(*name), Some(*sub))
        }
        ["namespaces", ns, plural] => path(Some(*ns), plural, None, None),
        ["namespaces", ns, plural, name] => path(Some(*ns), plural, Some(*name), None),
        ["namespaces", ns, plural, name, sub] => path(Some(*ns), plural, Some(*name), Some(*sub)),
        [plural] => path(None, plural, None, None),
        [plural, name] => path(None, plural, Some(*name), None),
        [plural, name, sub] => path(None, plural, Some(*name), Some(*sub)),
        _ => None,
    }
}

fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

fn outcome_response(result: Result<Outcome, ApiError>) -> Response {
    match result {
        Ok(outcome) => with_warnings(
            json_response(outcome.code, &outcome.body),
            &outcome.warnings,
        ),
        Err(e) => e.into_response(),
    }
}

fn parse_write_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    if header_str(headers, header::CONTENT_TYPE)
        .is_some_and(|c| c.starts_with("application/vnd.kubernetes.protobuf"))
    {
        return super::proto::decode(body);
    }
    if is_yaml(headers) {
        serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}")))
    }
}

#[allow(clippy::too_many_lines)]
fn resource(
    shared: &Shared,
    parts: &Parts,
    body: &Bytes,
    record: &mut RecordedRequest,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Response {
    let (legacy_watch, rest) = match rest.split_first() {
        Some((&"watch", tail)) => (true, tail),
        _ => (false, rest),
    };
    let Some(path) = parse_resource_path(group, rest) else {
        return ApiError::no_route().into_response();
    };
    group.clone_into(&mut record.group);
    version.clone_into(&mut record.version);
    path.plural.clone_into(&mut record.resource);
    record.namespace = path.namespace.map(str::to_owned);
    record.name = path.name.map(str::to_owned);
    record.subresource = path.subresource.map(str::to_owned);
    let query = match Query::parse(parts.uri.query()) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let headers = &parts.headers;
    let method = &parts.method;
    let watch = legacy_watch || query.flag("watch");
    let verb = match (method.as_str(), path.name.is_some(), watch) {
        ("GET", false, true) => "watch",
        ("GET", false, false) => "list",
        ("GET", true, _) => "get",
        ("POST", _, _) => "create",
        ("PUT", _, _) => "update",
        ("PATCH", _, _) => "patch",
        ("DELETE", false, _) => "deletecollection",
        ("DELETE", true, _) => "delete",
        _ => "unknown",
    };
    verb.clone_into(&mut record.verb);
    if method == Method::PATCH {
        // Logged even when a fault answers instead of the server.
        record.patch_type = PatchType::from_content_type(
            header_str(headers, header::CONTENT_TYPE).unwrap_or_default(),
            false,
        )
        .ok()
        .map(|p| p.name().to_owned());
    }
    let fault = shared.take_fault(record);
    if let Some(fault) = &fault
        && !fault.after_commit
    {
        record.injected = Some(0);
        return fault.response(record);
    }
    let response = serve_resource(
        shared, parts, body, record, group, version, &path, &query, watch,
    );
    match fault {
        Some(fault) => {
            record.injected = Some(response.status().as_u16());
            fault.response(record)
        }
        None => response,
    }
}

/// Runs a parsed resource request under the state lock.
#[allow(clippy::too_many_lines, clippy::too_many_arguments)]
fn serve_resource(
    shared: &Shared,
    parts: &Parts,
    body: &Bytes,
    record: &mut RecordedRequest,
    group: &str,
    version: &str,
    path: &ResourcePath<'_>,
    query: &Query,
    watch: bool,
) -> Response {
    let headers = &parts.headers;
    let user_agent = header_str(headers, header::USER_AGENT).unwrap_or_default();
    let method = &parts.method;
    let mut state = shared.lock();
    let Some(rt) = state.registry.lookup(group, version, path.plural) else {
        return ApiError::no_route().into_response();
    };
    if path.namespace.is_some() && !rt.namespaced {
        return ApiError::no_route().into_response();
    }
    let (status, scale) = match path.subresource {
        None => (false, false),
        Some("status") if rt.status_subresource => (true, false),
        Some("scale") if rt.scale.is_some() => (false, true),
        Some(_) => return ApiError::no_route().into_response(),
    };
    if rt.namespaced && path.name.is_some() && path.namespace.is_none() {
        return ApiError::no_route().into_response();
    }
    let target = Target {
        rt: Arc::clone(&rt),
        namespace: path.namespace.map(str::to_owned),
        name: path.name.map(str::to_owned),
        status,
        scale,
        query,
        user_agent,
    };
    let accept = header_str(headers, header::ACCEPT);
    if scale {
        return serve_scale(&mut state, &target, parts, body, record);
    }
    match (method.as_str(), path.name.is_some()) {
        ("GET", true) if !watch => {
            let representation = match query::negotiate(accept) {
                Ok(r) => r,
                Err(e) => return e.into_response(),
            };
            match ops::get(&state, &target) {
                Ok(object) => ok_json(&represent_one(&rt, object, representation, query)),
                Err(e) => e.into_response(),
            }
        }
        ("GET", false) if watch => {
            let (representation, include) = match query::negotiate(accept)
                .and_then(|r| Ok((r, query::include_object(query)?)))
            {
                Ok(r) => r,
                Err(e) => return e.into_response(),
            };
            match watches::plan(
                &state,
                &target,
                representation,
                include,
                shared.settings.default_watch_timeout,
            ) {
                Ok(plan) => {
                    drop(state);
                    let stream = watches::run(
                        plan,
                        watches::Ends {
                            shutdown: shared.shutdown.clone(),
                            connections: shared.connections.subscribe(),
                            watches: shared.watches.subscribe(),
                        },
                        shared.settings.bookmark_interval,
                    );
                    let mut response = Response::new(Body::from_stream(stream));
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    response
                }
                Err(e) => e.into_response(),
            }
        }
        ("GET", false) => {
            let (representation, include) = match query::negotiate(accept)
                .and_then(|r| Ok((r, query::include_object(query)?)))
            {
                Ok(r) => r,
                Err(e) => return e.into_response(),
            };
            match ops::list(&state, &target) {
                Ok(listing) => ok_json(&represent_list(&rt, &listing, representation, include)),
                Err(e) => e.into_response(),
            }
        }
        ("POST", false) if !status => {
            if rt.namespaced && path.namespace.is_none() {
                return ApiError::method_not_allowed().into_response();
            }
            let result = written(accept, query, |r| {
                parse_write_body(headers, body)
                    .and_then(|b| ops::create(&mut state, &target, b))
                    .map(|o| o.represented(&rt, r, query))
            });
            outcome_response(result)
        }
        ("PUT", true) => {
            let result = written(accept, query, |r| {
                parse_write_body(headers, body)
                    .and_then(|b| ops::update(&mut state, &target, b))
                    .map(|o| o.represented(&rt, r, query))
            });
            outcome_response(result)
        }
        ("PATCH", true) => {
            let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or_default();
            let result = written(accept, query, |r| {
                PatchType::from_content_type(content_type, rt.custom().is_some())
                    .and_then(|patch_type| {
                        record.patch_type = Some(patch_type.name().to_owned());
                        ops::patch(&mut state, &target, patch_type, body)
                    })
                    .map(|o| o.represented(&rt, r, query))
            });
            outcome_response(result)
        }
        ("DELETE", true) if !status => {
            let options: Option<Value> = serde_json::from_slice(body).ok();
            let result = written(accept, query, |r| {
                ops::delete(&mut state, &target, options.as_ref())
                    .map(|o| o.represented(&rt, r, query))
            });
            outcome_response(result)
        }
        ("DELETE", false) => {
            let result = written(accept, query, |r| {
                ops::delete_collection(&mut state, &target).map(|mut o| {
                    if let Ok(include) = query::include_object(query) {
                        let listing = ops::Listing {
                            metadata: o.body["metadata"].clone(),
                            items: o.body["items"].as_array().cloned().unwrap_or_default(),
                        };
                        o.body = represent_list(&rt, &listing, r, include);
                    }
                    o
                })
            });
            outcome_response(result)
        }
        _ => ApiError::method_not_allowed().into_response(),
    }
}

/// Negotiates the representation of a write's answer before writing (a client that accepts
/// none gets 406 and nothing is written), then runs the write.
fn written(
    accept: Option<&str>,
    query: &Query,
    write: impl FnOnce(Representation) -> Result<Outcome, ApiError>,
) -> Result<Outcome, ApiError> {
    let representation = query::negotiate(accept)?;
    if matches!(representation, Representation::Table { .. }) {
        query::include_object(query)?;
    }
    write(representation)
}

impl Outcome {
    /// The answer in the representation the client asked for. A `Status` (a deletion that is
    /// complete) is never converted.
    fn represented(
        mut self,
        rt: &super::registry::ResourceType,
        representation: Representation,
        query: &Query,
    ) -> Self {
        if self.body.get("kind").and_then(Value::as_str) != Some("Status") {
            self.body = represent_one(rt, self.body, representation, query);
        }
        self
    }
}

/// The `/scale` subresource: GET, PUT and PATCH of an `autoscaling/v1` `Scale`.
fn serve_scale(
    state: &mut State,
    target: &Target<'_>,
    parts: &Parts,
    body: &Bytes,
    record: &mut RecordedRequest,
) -> Response {
    let headers = &parts.headers;
    let accept = header_str(headers, header::ACCEPT);
    let scaled = |result: Result<Outcome, ApiError>, representation: Representation| {
        result.map(|mut o| {
            o.body = match representation {
                Representation::Full => o.body,
                Representation::Metadata { beta } => table::partial(&o.body, beta),
                Representation::Table { beta } => table::default_table(
                    &o.body,
                    query::include_object(target.query).unwrap_or(query::IncludeObject::Metadata),
                    beta,
                ),
            };
            o
        })
    };
    let result = match (parts.method.as_str(), target.name.is_some()) {
        ("GET", true) => written(accept, target.query, |r| {
            let got = super::scale::get(state, target).map(|body| Outcome {
                code: 200,
                body,
                warnings: Vec::new(),
            });
            scaled(got, r)
        }),
        ("PUT", true) => written(accept, target.query, |r| {
            let updated = parse_write_body(headers, body)
                .and_then(|b| super::scale::update(state, target, &b));
            scaled(updated, r)
        }),
        ("PATCH", true) => written(accept, target.query, |r| {
            let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or_default();
            // `Scale` is a built-in type: strategic merge patches are accepted.
            let patched =
                PatchType::from_content_type(content_type, false).and_then(|patch_type| {
                    record.patch_type = Some(patch_type.name().to_owned());
                    super::scale::patch(state, target, patch_type, body)
                });
            scaled(patched, r)
        }),
        _ => Err(ApiError::method_not_allowed()),
    };
    outcome_response(result)
}

fn represent_one(
    rt: &super::registry::ResourceType,
    object: Value,
    representation: Representation,
    query: &Query,
) -> Value {
    match representation {
        Representation::Full => object,
        Representation::Metadata { beta } => table::partial(&object, beta),
        Representation::Table { beta } => {
            let include = query::include_object(query).unwrap_or(query::IncludeObject::Metadata);
            let rv = object
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(Value::Null);
            table::table(
                rt,
                &[object],
                include,
                beta,
                &json!({"resourceVersion": rv}),
                true,
            )
        }
    }
}

fn represent_list(
    rt: &super::registry::ResourceType,
    listing: &ops::Listing,
    representation: Representation,
    include: query::IncludeObject,
) -> Value {
    match representation {
        Representation::Full => json!({
            "kind": rt.list_kind,
            "apiVersion": rt.api_version(),
            "metadata": listing.metadata,
            "items": listing.items,
        }),
        Representation::Metadata { beta } => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": if beta { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" },
            "metadata": listing.metadata,
            "items": listing.items.iter().map(|o| table::partial(o, beta)).collect::<Vec<_>>(),
        }),
        Representation::Table { beta } => {
            table::table(rt, &listing.items, include, beta, &listing.metadata, true)
        }
    }
}
