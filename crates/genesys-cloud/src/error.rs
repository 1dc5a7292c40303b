//! Errors of the Genesys client: the `ErrorBody` Genesys returns, and one classification of every
//! failure (`docs/genesys-api.md` §8) with its retry class and a `PascalCase` reason that doubles as a
//! condition reason, Event reason and metric label.
//!
//! Start at [`classify`]: it is the table that turns an HTTP status and body into a
//! [`GenesysError`]. `Display` names the operation that failed and never contains a secret or a
//! token.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

/// Genesys's error body (`docs/genesys-api.md` §8.1). Every field is optional: errors are parsed
/// leniently so that a partial body still yields `code`, `message` and `contextId`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorBody {
    pub message: Option<String>,
    pub code: Option<String>,
    pub status: Option<i64>,
    pub entity_id: Option<String>,
    pub entity_name: Option<String>,
    pub message_with_params: Option<String>,
    pub message_params: Option<BTreeMap<String, String>>,
    /// Give this to Genesys support.
    pub context_id: Option<String>,
    pub details: Option<Vec<ErrorDetail>>,
    pub errors: Option<Vec<ErrorBody>>,
    pub limit: Option<ErrorLimit>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorDetail {
    pub error_code: Option<String>,
    pub field_name: Option<String>,
    pub entity_id: Option<String>,
    pub entity_name: Option<String>,
}

/// The limit a 429 hit, e.g. namespace `platform.api`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorLimit {
    pub key: Option<String>,
    pub namespace: Option<String>,
    pub value: Option<i64>,
}

/// The largest error body the client reads (64 KiB); a larger one is dropped unread, and the
/// error is classified by its status alone.
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// The longest text kept from an error body's field (1 KiB), cut with `...`: an error message
/// ends up in status conditions and Events, which have limits of their own.
pub const MAX_ERROR_TEXT_BYTES: usize = 1024;

/// At most this many nested `errors`, `details` and `messageParams` are kept from an error body.
const MAX_ERROR_ITEMS: usize = 10;

/// `text` cut to [`MAX_ERROR_TEXT_BYTES`] (on a character boundary), ending `...` when cut.
pub(crate) fn bounded_text(text: &str) -> String {
    if text.len() <= MAX_ERROR_TEXT_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_ERROR_TEXT_BYTES - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

fn bound(field: &mut Option<String>) {
    if let Some(text) = field.as_mut() {
        *text = bounded_text(text);
    }
}

impl ErrorBody {
    /// Parses a response body; `None` when it is not a JSON object. Every text is cut to
    /// `MAX_ERROR_TEXT_BYTES` (1 KiB) and every list to a few items.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        if !value.is_object() {
            return None;
        }
        let mut body: Self = serde_json::from_value(value).ok()?;
        body.bound();
        Some(body)
    }

    fn bound(&mut self) {
        for field in [
            &mut self.message,
            &mut self.code,
            &mut self.entity_id,
            &mut self.entity_name,
            &mut self.message_with_params,
            &mut self.context_id,
        ] {
            bound(field);
        }
        if let Some(params) = self.message_params.as_mut() {
            let kept: BTreeMap<String, String> = std::mem::take(params)
                .into_iter()
                .take(MAX_ERROR_ITEMS)
                .map(|(k, v)| (bounded_text(&k), bounded_text(&v)))
                .collect();
            *params = kept;
        }
        if let Some(details) = self.details.as_mut() {
            details.truncate(MAX_ERROR_ITEMS);
            for d in details {
                for field in [
                    &mut d.error_code,
                    &mut d.field_name,
                    &mut d.entity_id,
                    &mut d.entity_name,
                ] {
                    bound(field);
                }
            }
        }
        if let Some(errors) = self.errors.as_mut() {
            errors.truncate(MAX_ERROR_ITEMS);
            errors.iter_mut().for_each(Self::bound);
        }
        if let Some(limit) = self.limit.as_mut() {
            bound(&mut limit.key);
            bound(&mut limit.namespace);
        }
    }

    /// All human-readable text of the body (message, message with params, nested errors).
    fn texts(&self) -> impl Iterator<Item = &str> {
        self.message
            .iter()
            .chain(self.message_with_params.iter())
            .map(String::as_str)
            .chain(
                self.errors
                    .iter()
                    .flatten()
                    .flat_map(|e| e.message.iter().map(String::as_str)),
            )
    }

    /// The permission a 403 names, from `messageParams` or from the message text.
    pub fn missing_permission(&self) -> Option<String> {
        let from_params = self
            .message_params
            .iter()
            .flatten()
            .find_map(|(key, value)| {
                let key = key.to_ascii_lowercase();
                (key.contains("permission") || looks_like_permission(value))
                    .then(|| first_permission(value))
                    .flatten()
            });
        from_params.or_else(|| self.texts().find_map(first_permission))
    }
}

/// `directory:user:edit`-shaped: at least three `:`-separated non-empty words.
fn looks_like_permission(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '_')
        })
}

fn first_permission(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '"' | '\'' | '(' | ')'))
        .map(|w| w.trim_end_matches(['.', ';']))
        .find(|w| looks_like_permission(w))
        .map(str::to_owned)
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(code) = &self.code {
            write!(f, "{code}")?;
            sep = ": ";
        }
        if let Some(message) = self.message.as_ref().or(self.message_with_params.as_ref()) {
            write!(f, "{sep}{message}")?;
        }
        if let Some(context) = &self.context_id {
            write!(f, " (contextId {context})")?;
        }
        Ok(())
    }
}

/// How a caller should react to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// Retry after this long (the server said so).
    After(Duration),
    /// Retry with exponential backoff.
    Backoff,
    /// Retrying the same request will not help until something else changes.
    Never,
}

/// A failed Genesys call. Every variant names the `operation` (the contract's op id, e.g.
/// `patch_user`, or `post_oauth_token` for the login host). Cloning is cheap enough to answer
/// every caller of a batched read with the batch's error: the transport error behind a
/// `Transient` is shared, not copied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GenesysError {
    /// 429 with a usable `Retry-After`.
    #[error("Genesys call {operation} was rate limited; retry after {}s{}", retry_after.as_secs(), suffix(body.as_deref()))]
    RateLimited {
        operation: String,
        retry_after: Duration,
        body: Option<Box<ErrorBody>>,
    },
    /// 409 `general.conflict`, a 400 "does not match the current version", or 408: re-read the
    /// resource and retry with its fresh `version`.
    #[error("Genesys call {operation} hit a version conflict (HTTP {status}){}", suffix(body.as_deref()))]
    VersionConflict {
        operation: String,
        status: u16,
        body: Option<Box<ErrorBody>>,
    },
    #[error("Genesys call {operation} found nothing at {resource}{}", suffix(body.as_deref()))]
    NotFound {
        operation: String,
        resource: String,
        body: Option<Box<ErrorBody>>,
    },
    /// 401 even with a freshly issued token.
    #[error("Genesys call {operation} was unauthorized (HTTP 401){}", suffix(body.as_deref()))]
    Unauthorized {
        operation: String,
        body: Option<Box<ErrorBody>>,
    },
    #[error("Genesys call {operation} was forbidden{}{}",
        missing_permission.as_ref().map(|p| format!(": the OAuth client lacks permission {p}")).unwrap_or_default(),
        suffix(body.as_deref()))]
    Forbidden {
        operation: String,
        missing_permission: Option<String>,
        body: Option<Box<ErrorBody>>,
    },
    /// 429 without `Retry-After`, 5xx other than 501, timeouts and connection errors, after the
    /// client's own retries.
    #[error("Genesys call {operation} failed after {attempts} attempt(s): {detail}{}", suffix(body.as_deref()))]
    Transient {
        operation: String,
        status: Option<u16>,
        attempts: u32,
        detail: String,
        body: Option<Box<ErrorBody>>,
        #[source]
        source: Option<Arc<reqwest::Error>>,
    },
    /// Any other 4xx, and 501: the request itself is wrong.
    #[error("Genesys call {operation} was rejected (HTTP {status}){}", suffix(body.as_deref()))]
    Invalid {
        operation: String,
        status: u16,
        body: Option<Box<ErrorBody>>,
    },
    /// A success response whose body is not JSON or not the expected shape.
    #[error(
        "Genesys call {operation} returned a body that could not be decoded (HTTP {status}): {detail}"
    )]
    Decode {
        operation: String,
        status: u16,
        detail: String,
    },
    /// The login host refused the client credentials (OAuth error body).
    #[error("Genesys authentication ({operation}) failed with HTTP {status}{}{}",
        error.as_ref().map(|e| format!(": {e}")).unwrap_or_default(),
        description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Auth {
        operation: String,
        status: u16,
        error: Option<String>,
        description: Option<String>,
    },
    /// The login host answered the token request with something that is not an OAuth answer: a
    /// 404 or another status without an OAuth error body, a redirect, a success without a
    /// token. The login URL is most likely not a Genesys Cloud login host; the credentials were
    /// not judged.
    #[error(
        "Genesys authentication ({operation}) got HTTP {status}, which is not an OAuth answer: {detail}"
    )]
    NotOAuth {
        operation: String,
        status: u16,
        detail: String,
    },
    /// An async analytics job ended without results (FAILED, CANCELLED, EXPIRED) or took too
    /// long.
    #[error("Genesys analytics job {job_id} ({operation}) did not complete: {state}{}",
        message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    JobFailed {
        operation: String,
        job_id: String,
        state: String,
        message: Option<String>,
    },
    /// The client was configured wrongly (bad URL, zero limit, ...), or a call got an argument it
    /// cannot send.
    #[error("invalid Genesys client configuration: {detail}")]
    Config { detail: String },
}

fn suffix(body: Option<&ErrorBody>) -> String {
    match body {
        Some(b) if b.code.is_some() || b.message.is_some() || b.context_id.is_some() => {
            format!(": {b}")
        }
        _ => String::new(),
    }
}

impl GenesysError {
    pub fn retry_class(&self) -> RetryClass {
        match self {
            GenesysError::RateLimited { retry_after, .. } => RetryClass::After(*retry_after),
            GenesysError::VersionConflict { .. }
            | GenesysError::Transient { .. }
            | GenesysError::Unauthorized { .. }
            | GenesysError::Decode { .. }
            | GenesysError::JobFailed { .. } => RetryClass::Backoff,
            GenesysError::NotFound { .. }
            | GenesysError::Forbidden { .. }
            | GenesysError::Invalid { .. }
            | GenesysError::Auth { .. }
            | GenesysError::NotOAuth { .. }
            | GenesysError::Config { .. } => RetryClass::Never,
        }
    }

    /// `PascalCase`, stable: usable as a condition reason, an Event reason and a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            GenesysError::RateLimited { .. } => "RateLimited",
            GenesysError::VersionConflict { .. } => "VersionConflict",
            GenesysError::NotFound { .. } => "NotFound",
            GenesysError::Unauthorized { .. } => "Unauthorized",
            GenesysError::Forbidden { .. } => "Forbidden",
            GenesysError::Transient { .. } => "TransientError",
            GenesysError::Invalid { .. } => "InvalidRequest",
            GenesysError::Decode { .. } => "DecodeError",
            GenesysError::Auth { .. } => "AuthenticationFailed",
            GenesysError::NotOAuth { .. } => "LoginEndpointInvalid",
            GenesysError::JobFailed { .. } => "AnalyticsJobFailed",
            GenesysError::Config { .. } => "InvalidConfiguration",
        }
    }

    pub fn error_body(&self) -> Option<&ErrorBody> {
        match self {
            GenesysError::RateLimited { body, .. }
            | GenesysError::VersionConflict { body, .. }
            | GenesysError::NotFound { body, .. }
            | GenesysError::Unauthorized { body, .. }
            | GenesysError::Forbidden { body, .. }
            | GenesysError::Transient { body, .. }
            | GenesysError::Invalid { body, .. } => body.as_deref(),
            GenesysError::Decode { .. }
            | GenesysError::Auth { .. }
            | GenesysError::NotOAuth { .. }
            | GenesysError::JobFailed { .. }
            | GenesysError::Config { .. } => None,
        }
    }

    pub fn operation(&self) -> &str {
        match self {
            GenesysError::RateLimited { operation, .. }
            | GenesysError::VersionConflict { operation, .. }
            | GenesysError::NotFound { operation, .. }
            | GenesysError::Unauthorized { operation, .. }
            | GenesysError::Forbidden { operation, .. }
            | GenesysError::Transient { operation, .. }
            | GenesysError::Invalid { operation, .. }
            | GenesysError::Decode { operation, .. }
            | GenesysError::Auth { operation, .. }
            | GenesysError::NotOAuth { operation, .. }
            | GenesysError::JobFailed { operation, .. } => operation,
            GenesysError::Config { .. } => "config",
        }
    }

    /// The HTTP status the error came with, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            GenesysError::RateLimited { .. } => Some(429),
            GenesysError::VersionConflict { status, .. }
            | GenesysError::Invalid { status, .. }
            | GenesysError::Decode { status, .. }
            | GenesysError::Auth { status, .. }
            | GenesysError::NotOAuth { status, .. } => Some(*status),
            GenesysError::NotFound { .. } => Some(404),
            GenesysError::Unauthorized { .. } => Some(401),
            GenesysError::Forbidden { .. } => Some(403),
            GenesysError::Transient { status, .. } => *status,
            GenesysError::JobFailed { .. } | GenesysError::Config { .. } => None,
        }
    }

    /// Whether no HTTP answer came at all: the name did not resolve, the connection was refused
    /// or reset, TLS failed (an unknown issuer, a wrong name), or the timeout passed.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, GenesysError::Transient { status: None, .. })
    }

    /// The text a status message or an Event may carry instead of `Display`, when `Display`
    /// would tell more than the resource's author needs. Failing to reach the host at all
    /// ([`GenesysError::is_unreachable`]) and a login host that is no OAuth server are each told
    /// as one class, with none of the details (DNS failure, refused connection, TLS error,
    /// status code) that would let whoever may write a resource probe the operator's network
    /// through its status; those stay in `Display` and the cause chain, for the operator's log.
    /// `None`: `Display` is fine as it is.
    pub fn public_message(&self) -> Option<String> {
        match self {
            GenesysError::Transient {
                operation,
                status: None,
                ..
            } => Some(format!(
                "Genesys call {operation} could not reach Genesys Cloud (the operator's log has the details)"
            )),
            GenesysError::NotOAuth { operation, .. } => Some(format!(
                "Genesys authentication ({operation}) failed: the login host did not answer as a \
                 Genesys Cloud login host does; check spec.region or spec.loginBaseUrl (the \
                 operator's log has the details)"
            )),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, GenesysError::NotFound { .. })
    }

    pub fn is_version_conflict(&self) -> bool {
        matches!(self, GenesysError::VersionConflict { .. })
    }
}

/// The classification of a non-2xx API response (`docs/genesys-api.md` §8.3):
///
/// | status | condition | class |
/// |---|---|---|
/// | 429 | `Retry-After` present | `RateLimited` |
/// | 429 | no usable `Retry-After` | `Transient` |
/// | 409 | `general.conflict`, a version message, or no body | `VersionConflict` |
/// | 400 | message contains "does not match the current version" | `VersionConflict` |
/// | 408 | | `VersionConflict` |
/// | 404 | | `NotFound` |
/// | 401 | | `Unauthorized` |
/// | 403 | | `Forbidden` (with the permission the body names) |
/// | 501 | | `Invalid` |
/// | other 5xx | | `Transient` |
/// | other 4xx (and anything else) | | `Invalid` |
///
/// `attempts` is recorded on `Transient`; `resource` on `NotFound`.
pub fn classify(
    operation: &str,
    resource: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: Option<ErrorBody>,
    attempts: u32,
) -> GenesysError {
    let operation = operation.to_owned();
    let body = body.map(Box::new);
    let mentions = |needle: &str| {
        body.as_ref()
            .is_some_and(|b| b.texts().any(|t| t.to_ascii_lowercase().contains(needle)))
    };
    match status {
        429 => match retry_after {
            Some(retry_after) => GenesysError::RateLimited {
                operation,
                retry_after,
                body,
            },
            None => GenesysError::Transient {
                operation,
                status: Some(status),
                attempts,
                detail: "HTTP 429 without Retry-After".into(),
                body,
                source: None,
            },
        },
        409 if body.is_none()
            || body.as_ref().and_then(|b| b.code.as_deref()) == Some("general.conflict")
            || mentions("version") =>
        {
            GenesysError::VersionConflict {
                operation,
                status,
                body,
            }
        }
        400 if mentions("does not match the current version") => GenesysError::VersionConflict {
            operation,
            status,
            body,
        },
        408 => GenesysError::VersionConflict {
            operation,
            status,
            body,
        },
        404 => GenesysError::NotFound {
            operation,
            resource: resource.to_owned(),
            body,
        },
        401 => GenesysError::Unauthorized { operation, body },
        403 => GenesysError::Forbidden {
            operation,
            missing_permission: body.as_deref().and_then(ErrorBody::missing_permission),
            body,
        },
        501 => GenesysError::Invalid {
            operation,
            status,
            body,
        },
        500..=599 => GenesysError::Transient {
            operation,
            status: Some(status),
            attempts,
            detail: format!("HTTP {status}"),
            body,
            source: None,
        },
        _ => GenesysError::Invalid {
            operation,
            status,
            body,
        },
    }
}

/// The OAuth error body of the login host: `{"error", "description", "error_description"}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct OAuthErrorBody {
    pub error: Option<String>,
    pub description: Option<String>,
    pub error_description: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn body(json: &str) -> Option<ErrorBody> {
        ErrorBody::parse(json.as_bytes())
    }

    fn reason_of(status: u16, retry_after: Option<u64>, json: Option<&str>) -> &'static str {
        classify(
            "patch_user",
            "/api/v2/users/u1",
            status,
            retry_after.map(Duration::from_secs),
            json.and_then(body),
            1,
        )
        .reason()
    }

    #[test]
    fn classification_follows_the_issue_table() {
        let conflict = r#"{"code":"general.conflict","message":"Resource conflict - Unexpected version was provided","status":409}"#;
        let mismatch = r#"{"code":"bad.request","message":"The version 3 does not match the current version 4","status":400}"#;
        let bad = r#"{"code":"bad.request","message":"Invalid value","status":400}"#;
        let other_409 =
            r#"{"code":"duplicate.value","message":"Name already in use","status":409}"#;
        let table: &[(u16, Option<u64>, Option<&str>, &str)] = &[
            (429, Some(3), None, "RateLimited"),
            (429, None, None, "TransientError"),
            (409, None, Some(conflict), "VersionConflict"),
            (409, None, None, "VersionConflict"),
            (409, None, Some(other_409), "InvalidRequest"),
            (400, None, Some(mismatch), "VersionConflict"),
            (400, None, Some(bad), "InvalidRequest"),
            (400, None, None, "InvalidRequest"),
            (408, None, None, "VersionConflict"),
            (404, None, None, "NotFound"),
            (401, None, None, "Unauthorized"),
            (403, None, None, "Forbidden"),
            (422, None, None, "InvalidRequest"),
            (500, None, None, "TransientError"),
            (501, None, None, "InvalidRequest"),
            (502, None, None, "TransientError"),
            (503, None, None, "TransientError"),
            (504, None, None, "TransientError"),
            (599, None, None, "TransientError"),
        ];
        for (status, retry_after, json, expected) in table {
            assert_eq!(
                reason_of(*status, *retry_after, *json),
                *expected,
                "status {status} body {json:?}"
            );
        }
    }

    #[test]
    fn retry_classes_match_the_variants() {
        let e = classify("get_user", "/x", 429, Some(Duration::from_secs(7)), None, 1);
        assert_eq!(e.retry_class(), RetryClass::After(Duration::from_secs(7)));
        assert_eq!(
            classify("get_user", "/x", 503, None, None, 3).retry_class(),
            RetryClass::Backoff
        );
        assert_eq!(
            classify("get_user", "/x", 409, None, None, 1).retry_class(),
            RetryClass::Backoff
        );
        assert_eq!(
            classify("get_user", "/x", 404, None, None, 1).retry_class(),
            RetryClass::Never
        );
        assert_eq!(
            classify("get_user", "/x", 403, None, None, 1).retry_class(),
            RetryClass::Never
        );
        assert_eq!(
            classify("get_user", "/x", 400, None, None, 1).retry_class(),
            RetryClass::Never
        );
    }

    #[test]
    fn error_body_keeps_code_message_and_context_id() {
        let b = body(
            r#"{"message":"Resource conflict","code":"general.conflict","status":409,
                "messageParams":{},"contextId":"ctx-123","details":[],"errors":[],"extra":true}"#,
        )
        .unwrap();
        assert_eq!(b.code.as_deref(), Some("general.conflict"));
        assert_eq!(b.context_id.as_deref(), Some("ctx-123"));
        let e = classify("patch_user", "/api/v2/users/u1", 409, None, Some(b), 1);
        let shown = e.to_string();
        assert!(shown.contains("patch_user"), "{shown}");
        assert!(shown.contains("general.conflict"), "{shown}");
        assert!(shown.contains("ctx-123"), "{shown}");
        assert_eq!(
            e.error_body().unwrap().context_id.as_deref(),
            Some("ctx-123")
        );
        assert_eq!(e.operation(), "patch_user");
    }

    #[test]
    fn forbidden_names_the_missing_permission_from_params_or_message() {
        let from_params = body(
            r#"{"code":"missing.permissions","message":"You are missing the following permission(s): [directory:user:edit]",
                "messageParams":{"permissions":"directory:user:edit"}}"#,
        );
        let e = classify("patch_user", "/x", 403, None, from_params, 1);
        let GenesysError::Forbidden {
            missing_permission, ..
        } = &e
        else {
            panic!("expected Forbidden, got {e:?}")
        };
        assert_eq!(missing_permission.as_deref(), Some("directory:user:edit"));
        assert!(e.to_string().contains("directory:user:edit"));

        let from_message = body(
            r#"{"code":"missing.any.permissions","message":"Missing any of: routing:queue:edit, routing:queueMember:manage."}"#,
        );
        let e = classify(
            "post_routing_queue_members",
            "/x",
            403,
            None,
            from_message,
            1,
        );
        assert!(
            matches!(e, GenesysError::Forbidden { missing_permission: Some(ref p), .. } if p == "routing:queue:edit")
        );

        let e = classify(
            "get_user",
            "/x",
            403,
            None,
            body(r#"{"code":"not.authorized"}"#),
            1,
        );
        assert!(matches!(
            e,
            GenesysError::Forbidden {
                missing_permission: None,
                ..
            }
        ));
    }

    #[test]
    fn non_object_bodies_are_not_error_bodies() {
        assert!(ErrorBody::parse(b"<html>bad gateway</html>").is_none());
        assert!(ErrorBody::parse(b"\"oops\"").is_none());
        assert!(ErrorBody::parse(b"").is_none());
    }

    #[test]
    fn every_reason_is_pascal_case() {
        let errors = [
            classify("a", "/", 429, Some(Duration::from_secs(1)), None, 1),
            classify("a", "/", 409, None, None, 1),
            classify("a", "/", 404, None, None, 1),
            classify("a", "/", 401, None, None, 1),
            classify("a", "/", 403, None, None, 1),
            classify("a", "/", 503, None, None, 1),
            classify("a", "/", 400, None, None, 1),
            GenesysError::Decode {
                operation: "a".into(),
                status: 200,
                detail: "x".into(),
            },
            GenesysError::Auth {
                operation: "post_oauth_token".into(),
                status: 400,
                error: Some("invalid_client".into()),
                description: None,
            },
            GenesysError::JobFailed {
                operation: "a".into(),
                job_id: "j".into(),
                state: "FAILED".into(),
                message: None,
            },
            GenesysError::Config { detail: "x".into() },
        ];
        for e in errors {
            let r = e.reason();
            assert!(r.chars().next().unwrap().is_ascii_uppercase(), "{r}");
            assert!(r.chars().all(|c| c.is_ascii_alphanumeric()), "{r}");
        }
    }
}
