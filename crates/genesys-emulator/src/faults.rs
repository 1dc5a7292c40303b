//! Fault injection: the next N requests matching a method and a path pattern get a chosen
//! status, body, `Retry-After` header and/or delay, or lose their connection
//! (`POST /__sim/faults`, `SimHandle::inject`).
//!
//! Three switches change when and how a fault bites:
//! - `"reset": true` closes the connection without an HTTP answer: the client sees a transport
//!   error (connection closed before the message completed), as after a TCP reset. Such a
//!   request is logged with status 0 unless it was served first (below).
//! - `"afterServe": true` serves the request first (its side effects happen and the request log
//!   records the emulator's real answer), then applies the delay, the status (replacing the real
//!   answer) or the reset to what the client receives: the write committed but its answer was
//!   lost, late or wrong, which is what makes retried writes dangerous.
//! - `"ignoreWrite": true` does not apply the request at all and answers it with what a `GET` of
//!   the same path answers now, with its status (200 for a user): Genesys accepting a write that
//!   does not take effect. On `PATCH /api/v2/users/{id}` the answer is the user unchanged, e.g.
//!   still `state: active` after a deactivation. It takes no `status`, body, reset or
//!   `afterServe`; a `delayMs` delays it. Logged with the request's own method and body.
//!
//! Patterns match path segments: `*` is exactly one segment, `**` the rest of the path (zero
//! or more segments). `/api/v2/users/*` matches `/api/v2/users/42` but not
//! `/api/v2/users/42/queues`; `/api/v2/**` matches every API path.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A fault to inject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    /// HTTP method; absent or `*` matches any.
    #[serde(default)]
    pub method: Option<String>,
    /// Path pattern (`*` one segment, `**` the rest).
    pub path: String,
    /// How many matching requests get the fault.
    #[serde(default = "one")]
    pub count: u32,
    /// Status to answer; absent means only `delayMs` applies and the request is then served.
    #[serde(default)]
    pub status: Option<u16>,
    /// JSON body; defaults to an `ErrorBody` matching the status.
    #[serde(default)]
    pub body: Option<Value>,
    /// A raw (non-JSON) body instead of `body`, sent as `application/json` unless
    /// `contentType` says otherwise: for testing decode errors.
    #[serde(default)]
    pub raw_body: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    /// `Retry-After` header, in seconds.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Delay before answering, in milliseconds.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Close the connection instead of answering (no status line reaches the client).
    #[serde(default)]
    pub reset: bool,
    /// Serve the request first, then apply the delay, status or reset to the answer.
    #[serde(default)]
    pub after_serve: bool,
    /// Do not apply the request; answer with what a `GET` of the same path answers now.
    #[serde(default)]
    pub ignore_write: bool,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault for the next request to `method path`; add a status, body or delay.
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: Some(method.to_owned()),
            path: path.to_owned(),
            count: 1,
            status: None,
            body: None,
            raw_body: None,
            content_type: None,
            retry_after: None,
            delay_ms: None,
            reset: false,
            after_serve: false,
            ignore_write: false,
        }
    }

    #[must_use]
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    #[must_use]
    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    #[must_use]
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    #[must_use]
    pub fn raw_body(mut self, text: &str) -> Self {
        self.raw_body = Some(text.to_owned());
        self
    }

    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    #[must_use]
    pub fn delay_ms(mut self, millis: u64) -> Self {
        self.delay_ms = Some(millis);
        self
    }

    /// Close the connection without an answer.
    #[must_use]
    pub fn reset(mut self) -> Self {
        self.reset = true;
        self
    }

    /// Serve the request first; the fault then applies to the answer only.
    #[must_use]
    pub fn after_serve(mut self) -> Self {
        self.after_serve = true;
        self
    }

    /// Leave the request unapplied; the answer is what a `GET` of the same path answers.
    #[must_use]
    pub fn ignore_write(mut self) -> Self {
        self.ignore_write = true;
        self
    }

    /// Whether the client gets something other than the emulator's own answer right away
    /// (a status, a reset, an unapplied write), as opposed to only a delay.
    pub fn replaces_answer(&self) -> bool {
        self.status.is_some() || self.reset || self.ignore_write
    }

    /// Why this fault cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if !self.path.starts_with('/') {
            return Some("path must start with /".into());
        }
        if self.count == 0 {
            return Some("count must be at least 1".into());
        }
        if let Some(s) = self.status
            && !(100..=599).contains(&s)
        {
            return Some(format!("status {s} is not an HTTP status"));
        }
        if self.reset && (self.status.is_some() || self.body.is_some() || self.raw_body.is_some()) {
            return Some("a reset sends no status and no body".into());
        }
        let answers = self.status.is_some()
            || self.body.is_some()
            || self.raw_body.is_some()
            || self.reset
            || self.after_serve;
        if self.ignore_write && answers {
            return Some(
                "ignoreWrite answers with the resource as it stands: no status, body, reset or afterServe".into(),
            );
        }
        if self.status.is_none() && self.delay_ms.is_none() && !self.reset && !self.ignore_write {
            return Some("give a status, a delayMs, a reset, ignoreWrite, or a combination".into());
        }
        None
    }

    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m == "*" || m.eq_ignore_ascii_case(method));
        method_ok && path_matches(&self.path, path)
    }
}

/// Whether `path` matches `pattern` (`*` one segment, `**` the rest).
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut i = 0;
    for p in &pattern {
        if *p == "**" {
            return true;
        }
        match path.get(i) {
            Some(s) if *p == "*" && !s.is_empty() => {}
            Some(s) if p == s => {}
            _ => return false,
        }
        i += 1;
    }
    i == path.len()
}

/// An answer that never completes: its body fails on the first read, so hyper drops the
/// connection without sending a status line or sending a complete message, and the client sees a
/// transport error, as after a TCP reset.
pub fn connection_reset() -> axum::response::Response {
    let failing = futures::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fault injection: connection reset",
        ))
    });
    axum::response::Response::new(axum::body::Body::from_stream(failing))
}

/// The faults waiting to fire, in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pending: Vec<Fault>,
}

impl Faults {
    pub fn add(&mut self, fault: Fault) {
        self.pending.push(fault);
    }

    /// Takes one shot of the first fault matching the request.
    pub fn take(&mut self, method: &str, path: &str) -> Option<Fault> {
        let index = self.pending.iter().position(|f| f.matches(method, path))?;
        let fault = &mut self.pending[index];
        fault.count -= 1;
        let shot = fault.clone();
        if fault.count == 0 {
            self.pending.remove(index);
        }
        Some(shot)
    }

    pub fn pending(&self) -> &[Fault] {
        &self.pending
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn star_matches_one_segment_and_double_star_the_rest() {
        assert!(path_matches("/api/v2/users/*", "/api/v2/users/42"));
        assert!(!path_matches("/api/v2/users/*", "/api/v2/users/42/queues"));
        assert!(!path_matches("/api/v2/users/*", "/api/v2/users"));
        assert!(path_matches("/api/v2/**", "/api/v2/users/42/queues"));
        assert!(path_matches("/api/v2/users/**", "/api/v2/users"));
        assert!(path_matches(
            "/api/v2/users/*/queues",
            "/api/v2/users/7/queues"
        ));
        assert!(path_matches("/oauth/token", "/oauth/token"));
        assert!(!path_matches("/oauth/token", "/oauth/token/x"));
    }

    #[test]
    fn a_fault_fires_count_times_then_disappears() {
        let mut faults = Faults::default();
        faults.add(Fault::new("patch", "/api/v2/users/*").status(503).times(2));
        assert!(faults.take("GET", "/api/v2/users/1").is_none());
        assert_eq!(
            faults
                .take("PATCH", "/api/v2/users/1")
                .and_then(|f| f.status),
            Some(503)
        );
        assert!(faults.take("PATCH", "/api/v2/users/2").is_some());
        assert!(faults.take("PATCH", "/api/v2/users/3").is_none());
        assert!(faults.pending().is_empty());
    }

    #[test]
    fn a_fault_without_status_or_delay_is_refused() {
        assert!(Fault::new("GET", "/x").problem().is_some());
        assert!(Fault::new("GET", "x").status(500).problem().is_some());
        assert!(Fault::new("GET", "/x").status(700).problem().is_some());
        assert!(Fault::new("GET", "/x").delay_ms(5).problem().is_none());
    }

    #[test]
    fn a_reset_needs_no_status_and_refuses_one() {
        assert!(Fault::new("GET", "/x").reset().problem().is_none());
        assert!(
            Fault::new("PATCH", "/x")
                .reset()
                .after_serve()
                .problem()
                .is_none()
        );
        assert!(
            Fault::new("GET", "/x")
                .reset()
                .status(500)
                .problem()
                .is_some()
        );
        let parsed: Fault =
            serde_json::from_str(r#"{"path":"/x","reset":true,"afterServe":true}"#).unwrap();
        assert!(parsed.reset && parsed.after_serve && parsed.replaces_answer());
    }

    #[test]
    fn an_ignored_write_stands_alone_and_replaces_the_answer() {
        let parsed: Fault = serde_json::from_str(
            r#"{"method":"PATCH","path":"/api/v2/users/*","ignoreWrite":true}"#,
        )
        .unwrap();
        assert!(parsed.ignore_write && parsed.replaces_answer());
        assert!(parsed.problem().is_none());
        assert!(parsed.clone().delay_ms(5).problem().is_none());
        assert!(parsed.clone().status(200).problem().is_some());
        assert!(parsed.clone().after_serve().problem().is_some());
        assert!(parsed.reset().problem().is_some());
    }
}
