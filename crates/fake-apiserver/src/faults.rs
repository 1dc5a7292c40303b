//! Fault injection on the Kubernetes side: the next N requests matching a verb, a resource and
//! (optionally) a subresource, namespace or name get an error with a real `Status` body — or
//! every matching request does for a while. Armed with [`FakeApiServerHandle::inject`] or
//! `POST /__fake/faults` (an object or an array; `GET` lists what is still armed, `DELETE`
//! disarms everything).
//!
//! The answers are the ones the real API server gives: 409 `Conflict` ("the object has been
//! modified"), 500 `InternalError`, 503 `ServiceUnavailable`, 504 `Timeout`, 429
//! `TooManyRequests` with a `Retry-After` header and `details.retryAfterSeconds`, and so on, so
//! kube's client surfaces them as `kube::Error::Api` with the right code and reason.
//!
//! `afterCommit` runs the request first (its write is stored and watchers see it), then answers
//! with the error: the write happened but the client was told it failed, as when etcd commits
//! and the API server times out.
//!
//! [`FakeApiServerHandle::inject`]: super::FakeApiServerHandle::inject

use std::time::{Duration, Instant};

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::errors::{ApiError, qualified};
use super::log::RecordedRequest;

/// An error the fake API server answers instead of (or after) serving matching requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiFault {
    /// The Kubernetes verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`); absent or `*` matches any.
    #[serde(default)]
    pub verb: Option<String>,
    /// The resource's plural (`secrets`, `genesysuseroffboardings`); absent or `*` matches any.
    #[serde(default)]
    pub resource: Option<String>,
    /// `status` matches only the status subresource, `""` only the resource itself; absent
    /// matches both.
    #[serde(default)]
    pub subresource: Option<String>,
    /// Only requests in this namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Only requests naming this object.
    #[serde(default)]
    pub name: Option<String>,
    /// Only requests with this `fieldManager` (one client's writes).
    #[serde(default)]
    pub field_manager: Option<String>,
    /// Only requests with this `User-Agent` (one client, e.g. one replica of the operator).
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The HTTP status to answer (400–599).
    #[serde(default = "internal_error")]
    pub status: u16,
    /// How many matching requests get the fault (ignored with `forMs`).
    #[serde(default = "one")]
    pub count: u32,
    /// Every matching request gets the fault for this long after it is armed.
    #[serde(default)]
    pub for_ms: Option<u64>,
    /// `Retry-After` header and `details.retryAfterSeconds`, in seconds.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// The `Status` message instead of the one the real server would write.
    #[serde(default)]
    pub message: Option<String>,
    /// Serve the request first (its write is stored), then answer with the error.
    #[serde(default)]
    pub after_commit: bool,
}

fn internal_error() -> u16 {
    500
}

fn one() -> u32 {
    1
}

impl ApiFault {
    /// A 500 for the next request with this verb on this resource (`*` for any); refine it with
    /// the builder methods.
    pub fn new(verb: &str, resource: &str) -> Self {
        let any = |s: &str| (s != "*").then(|| s.to_owned());
        Self {
            verb: any(verb),
            resource: any(resource),
            subresource: None,
            namespace: None,
            name: None,
            field_manager: None,
            user_agent: None,
            status: internal_error(),
            count: 1,
            for_ms: None,
            retry_after: None,
            message: None,
            after_commit: false,
        }
    }

    /// Only requests to this subresource (`status`).
    #[must_use]
    pub fn subresource(mut self, subresource: &str) -> Self {
        self.subresource = Some(subresource.to_owned());
        self
    }

    /// Only requests to the resource itself, not to a subresource.
    #[must_use]
    pub fn main_resource(mut self) -> Self {
        self.subresource = Some(String::new());
        self
    }

    /// Only requests in `namespace`.
    #[must_use]
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    /// Only requests naming `name`.
    #[must_use]
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Only requests whose `fieldManager` is `manager`.
    #[must_use]
    pub fn field_manager(mut self, manager: &str) -> Self {
        self.field_manager = Some(manager.to_owned());
        self
    }

    /// Only requests whose `User-Agent` is `agent`.
    #[must_use]
    pub fn user_agent(mut self, agent: &str) -> Self {
        self.user_agent = Some(agent.to_owned());
        self
    }

    /// The HTTP status to answer.
    #[must_use]
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The next `count` matching requests get the fault.
    #[must_use]
    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// Every matching request gets the fault for `duration` from when it is armed.
    #[must_use]
    pub fn during(mut self, duration: Duration) -> Self {
        self.for_ms = Some(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Adds `Retry-After: seconds` (and `details.retryAfterSeconds`).
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The `Status` message.
    #[must_use]
    pub fn message(mut self, message: &str) -> Self {
        self.message = Some(message.to_owned());
        self
    }

    /// Serve the request first, then answer with the error.
    #[must_use]
    pub fn after_commit(mut self) -> Self {
        self.after_commit = true;
        self
    }

    /// Why this fault cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if !(400..=599).contains(&self.status) {
            return Some(format!("status {} is not an error (400-599)", self.status));
        }
        if self.count == 0 && self.for_ms.is_none() {
            return Some("count must be at least 1 (or give forMs)".into());
        }
        None
    }

    /// Whether the fault applies to a request.
    pub fn matches(&self, request: &RecordedRequest) -> bool {
        let field = |want: &Option<String>, have: &str| {
            want.as_deref().is_none_or(|w| w == "*" || w == have)
        };
        let subresource = match self.subresource.as_deref() {
            None | Some("*") => true,
            Some("") => request.subresource.is_none(),
            Some(want) => request.subresource.as_deref() == Some(want),
        };
        field(&self.verb, &request.verb)
            && field(&self.resource, &request.resource)
            && subresource
            && field(
                &self.namespace,
                request.namespace.as_deref().unwrap_or_default(),
            )
            && field(&self.name, request.name.as_deref().unwrap_or_default())
            && field(
                &self.field_manager,
                request.field_manager.as_deref().unwrap_or_default(),
            )
            && field(
                &self.user_agent,
                request.user_agent.as_deref().unwrap_or_default(),
            )
    }

    /// The error for `request`, as the real API server words it.
    pub(crate) fn error(&self, request: &RecordedRequest) -> ApiError {
        let name = request.name.as_deref().unwrap_or_default();
        let what = qualified(&request.resource, &request.group);
        let (reason, message) = match self.status {
            400 => ("BadRequest", "the server rejected our request".to_owned()),
            401 => ("Unauthorized", "Unauthorized".to_owned()),
            403 => (
                "Forbidden",
                format!(
                    "{what} \"{name}\" is forbidden: the fake API server was told to refuse this request"
                ),
            ),
            404 => ("NotFound", format!("{what} \"{name}\" not found")),
            409 => (
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {what} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                ),
            ),
            410 => ("Expired", "too old resource version".to_owned()),
            422 => ("Invalid", format!("{what} \"{name}\" is invalid")),
            429 => (
                "TooManyRequests",
                "Too many requests, please try again later.".to_owned(),
            ),
            500 => (
                "InternalError",
                "Internal error occurred: injected by the fake API server".to_owned(),
            ),
            503 => (
                "ServiceUnavailable",
                "the server is currently unable to handle the request".to_owned(),
            ),
            504 => (
                "Timeout",
                "Timeout: request did not complete within the allotted timeout".to_owned(),
            ),
            _ => ("Unknown", format!("injected error {}", self.status)),
        };
        let mut details = json!({"name": name, "group": request.group, "kind": request.resource});
        if let Some(seconds) = self.retry_after {
            details["retryAfterSeconds"] = json!(seconds);
        }
        ApiError {
            code: self.status,
            reason,
            message: self.message.clone().unwrap_or(message),
            details: Some(details),
        }
    }

    /// The HTTP answer for `request`.
    pub(crate) fn response(&self, request: &RecordedRequest) -> Response {
        let mut response = self.error(request).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// An armed fault: how many more requests it bites, or until when.
#[derive(Debug, Clone)]
struct Armed {
    fault: ApiFault,
    remaining: u32,
    until: Option<Instant>,
}

impl Armed {
    fn live(&self, now: Instant) -> bool {
        match self.until {
            Some(until) => now < until,
            None => self.remaining > 0,
        }
    }
}

/// The armed faults, oldest first (the first match bites).
#[derive(Debug, Default)]
pub(crate) struct Faults {
    armed: Vec<Armed>,
}

impl Faults {
    pub(crate) fn add(&mut self, fault: ApiFault) {
        let until = fault
            .for_ms
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        self.armed.push(Armed {
            remaining: fault.count,
            until,
            fault,
        });
    }

    /// The fault that bites `request`, counted; `None` when none matches.
    pub(crate) fn take(&mut self, request: &RecordedRequest) -> Option<ApiFault> {
        let now = Instant::now();
        self.armed.retain(|a| a.live(now));
        let armed = self.armed.iter_mut().find(|a| a.fault.matches(request))?;
        if armed.until.is_none() {
            armed.remaining -= 1;
        }
        let fault = armed.fault.clone();
        self.armed.retain(|a| a.live(now));
        Some(fault)
    }

    /// The faults still armed (a time-boxed one reports the milliseconds it has left).
    pub(crate) fn pending(&mut self) -> Vec<ApiFault> {
        let now = Instant::now();
        self.armed.retain(|a| a.live(now));
        self.armed
            .iter()
            .map(|a| {
                let mut fault = a.fault.clone();
                match a.until {
                    Some(until) => {
                        fault.for_ms = Some(
                            u64::try_from(until.saturating_duration_since(now).as_millis())
                                .unwrap_or(u64::MAX),
                        );
                    }
                    None => fault.count = a.remaining,
                }
                fault
            })
            .collect()
    }

    pub(crate) fn clear(&mut self) {
        self.armed.clear();
    }
}

/// Parses the body of `POST /__fake/faults`: one fault or an array of them.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<ApiFault>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding the faults: {e}")))?;
    let faults: Vec<ApiFault> = if value.is_array() {
        serde_json::from_value(value)
    } else {
        serde_json::from_value(value).map(|f| vec![f])
    }
    .map_err(|e| ApiError::bad_request(format!("error decoding the faults: {e}")))?;
    if let Some(problem) = faults.iter().find_map(ApiFault::problem) {
        return Err(ApiError::bad_request(format!("unusable fault: {problem}")));
    }
    Ok(faults)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::SystemTime;

    fn request(verb: &str, resource: &str, subresource: Option<&str>) -> RecordedRequest {
        RecordedRequest {
            method: "PATCH".into(),
            path: "/apis/x/v1/namespaces/default/things/a".into(),
            query: String::new(),
            verb: verb.into(),
            group: "x".into(),
            version: "v1".into(),
            resource: resource.into(),
            subresource: subresource.map(str::to_owned),
            namespace: Some("default".into()),
            name: Some("a".into()),
            patch_type: None,
            field_manager: None,
            user_agent: None,
            body: None,
            status: 0,
            injected: None,
            time: SystemTime::now(),
        }
    }

    #[test]
    fn a_counted_fault_bites_the_next_matching_requests_only() {
        let mut faults = Faults::default();
        faults.add(
            ApiFault::new("patch", "things")
                .subresource("status")
                .status(409)
                .times(2),
        );

        assert!(faults.take(&request("patch", "things", None)).is_none());
        assert!(
            faults
                .take(&request("get", "things", Some("status")))
                .is_none()
        );
        assert!(
            faults
                .take(&request("patch", "things", Some("status")))
                .is_some()
        );
        assert!(
            faults
                .take(&request("patch", "things", Some("status")))
                .is_some()
        );
        assert!(
            faults
                .take(&request("patch", "things", Some("status")))
                .is_none()
        );
        assert!(faults.pending().is_empty());
    }

    #[test]
    fn a_main_resource_fault_leaves_subresources_alone_and_wildcards_match_anything() {
        let main = ApiFault::new("*", "*").main_resource();
        assert!(main.matches(&request("get", "things", None)));
        assert!(!main.matches(&request("get", "things", Some("status"))));
        assert!(ApiFault::new("get", "*").matches(&request("get", "secrets", None)));
        assert!(
            !ApiFault::new("get", "*")
                .name("b")
                .matches(&request("get", "secrets", None))
        );
    }

    #[test]
    fn a_time_boxed_fault_bites_every_match_until_it_expires() {
        let mut faults = Faults::default();
        faults.add(
            ApiFault::new("watch", "*")
                .status(503)
                .during(Duration::from_millis(80)),
        );

        for _ in 0..5 {
            assert!(faults.take(&request("watch", "things", None)).is_some());
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(faults.take(&request("watch", "things", None)).is_none());
    }

    #[test]
    fn errors_carry_the_reason_and_message_of_the_real_server() {
        let conflict = ApiFault::new("patch", "things")
            .status(409)
            .error(&request("patch", "things", None));
        assert_eq!((conflict.code, conflict.reason), (409, "Conflict"));
        assert!(conflict.message.contains("the object has been modified"));

        let throttled = ApiFault::new("get", "things").status(429).retry_after(3);
        let status = throttled.error(&request("get", "things", None)).status();
        assert_eq!(status["reason"], "TooManyRequests");
        assert_eq!(status["details"]["retryAfterSeconds"], 3);
        let response = throttled.response(&request("get", "things", None));
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
    }

    #[test]
    fn the_control_endpoint_takes_one_fault_or_many_and_refuses_unusable_ones() {
        let one = parse(br#"{"verb":"get","resource":"secrets","status":500,"count":3}"#).unwrap();
        assert_eq!(one[0].count, 3);
        let many = parse(br#"[{"verb":"watch","forMs":500,"status":503},{"status":409}]"#).unwrap();
        assert_eq!(many.len(), 2);
        assert!(parse(br#"{"status":200}"#).is_err());
        assert!(parse(br#"{"status":500,"count":0}"#).is_err());
        assert!(parse(br#"{"sttus":500}"#).is_err());
    }
}
