//! Error answers: the Genesys `ErrorBody` (docs/genesys-api.md §8.1) for `/api/v2`, and the
//! OAuth-style body for `/oauth/token` (§1).
//!
//! `messageWithParams` is the message template with `{name}` placeholders, `messageParams` the
//! values, and `message` the template filled in. `contextId` is the request's correlation id,
//! also sent as the `ININ-Correlation-Id` header.

use serde::Serialize;
use serde_json::{Map, Value, json};

/// Message of a version conflict on `PATCH /users/{id}` (§4.1, SPEC-2017).
pub const VERSION_CONFLICT_MESSAGE: &str = "Resource conflict - Unexpected version was provided";

/// An API error, rendered as an `ErrorBody`. Boxed: handlers return it on every path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} {}: {}", .0.status, .0.code, .0.template)]
pub struct ApiError(Box<ErrorData>);

/// The parts of an [`ApiError`].
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorData {
    pub status: u16,
    pub code: String,
    /// Message template with `{name}` placeholders.
    pub template: String,
    pub params: Vec<(String, String)>,
    pub entity_id: Option<String>,
    pub details: Vec<Detail>,
    pub limit: Option<Limit>,
    /// Seconds for the `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl std::ops::Deref for ApiError {
    type Target = ErrorData;
    fn deref(&self) -> &ErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorData {
        &mut self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    pub error_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limit {
    pub key: String,
    pub namespace: String,
    pub value: u64,
}

impl ApiError {
    pub fn new(status: u16, code: &str, template: impl Into<String>) -> Self {
        Self(Box::new(ErrorData {
            status,
            code: code.to_owned(),
            template: template.into(),
            params: Vec::new(),
            entity_id: None,
            details: Vec::new(),
            limit: None,
            retry_after: None,
        }))
    }

    #[must_use]
    pub fn param(mut self, name: &str, value: impl Into<String>) -> Self {
        self.params.push((name.to_owned(), value.into()));
        self
    }

    #[must_use]
    pub fn entity(mut self, id: &str) -> Self {
        self.entity_id = Some(id.to_owned());
        self
    }

    #[must_use]
    pub fn detail(mut self, error_code: &str, field_name: Option<&str>) -> Self {
        self.details.push(Detail {
            error_code: error_code.to_owned(),
            field_name: field_name.map(str::to_owned),
            entity_id: None,
        });
        self
    }

    /// 400 `bad.request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad.request", message)
    }

    /// 400 `invalid.value` with the catalogue template
    /// "Value [%s] is not valid for field type [%s]. Allowable values are: %s".
    pub fn invalid_value(value: &str, field_type: &str, allowed: &[&str]) -> Self {
        Self::new(
            400,
            "invalid.value",
            "Value [{value}] is not valid for field type [{fieldType}]. Allowable values are: {allowed}",
        )
        .param("value", value)
        .param("fieldType", field_type)
        .param("allowed", allowed.join(", "))
    }

    /// 403 `not.authorized`: the client's roles do not cover the division(s) an entity is in.
    pub fn outside_division(division: &str) -> Self {
        Self::new(
            403,
            "not.authorized",
            "You are not authorized to perform this action in division [{division}].",
        )
        .param("division", division)
    }

    /// 404 `not.found` naming the entity.
    pub fn not_found(kind: &str, id: &str) -> Self {
        Self::new(404, "not.found", "{entity} [{id}] was not found")
            .param("entity", kind)
            .param("id", id)
            .entity(id)
    }

    /// 409 `general.conflict` (§4.1).
    pub fn version_conflict() -> Self {
        Self::new(409, "general.conflict", VERSION_CONFLICT_MESSAGE)
    }

    /// The 400 variant of a version conflict that Terraform also handles (§4.1).
    pub fn version_mismatch_400(given: i64, current: i64) -> Self {
        Self::bad_request(
            "The version [{given}] does not match the current version [{current}] of the resource",
        )
        .param("given", given.to_string())
        .param("current", current.to_string())
    }

    /// 401 `authentication.required`: no bearer token at all.
    pub fn authentication_required() -> Self {
        Self::new(
            401,
            "authentication.required",
            "No authentication bearer token specified in authorization header.",
        )
    }

    /// 401 `bad.credentials`: unknown or expired token.
    pub fn bad_credentials() -> Self {
        Self::new(401, "bad.credentials", "Invalid login credentials.")
    }

    /// 403 `missing.permissions` naming the permission(s).
    pub fn missing_permissions(permissions: &[&str]) -> Self {
        Self::new(
            403,
            "missing.permissions",
            "Unable to perform the requested action. You are missing the following permission(s): [{permissions}]",
        )
        .param("permissions", permissions.join(", "))
    }

    /// 429 `too.many.requests` with the catalogue message and the limit that was hit (§8.1, §8.2).
    pub fn too_many_requests(limit: u32, retry_after: u64) -> Self {
        let mut error = Self::new(
            429,
            "too.many.requests",
            "Rate limit exceeded the maximum [{limit}] requests within [{seconds}] seconds",
        )
        .param("limit", limit.to_string())
        .param("seconds", "60");
        error.limit = Some(Limit {
            key: "client.credentials.token.rate.per.minute".into(),
            namespace: "platform.api".into(),
            value: u64::from(limit),
        });
        error.retry_after = Some(retry_after);
        error
    }

    /// 415 `unsupported.media.type`.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "unsupported.media.type",
            "Unsupported media type [{contentType}]; send application/json",
        )
        .param("contentType", content_type)
    }

    /// The default body of an injected fault with this status.
    pub fn for_status(status: u16) -> Self {
        match status {
            401 => Self::bad_credentials(),
            403 => Self::new(
                403,
                "not.authorized",
                "You are not authorized to perform this action.",
            ),
            404 => Self::new(404, "not.found", "The requested resource was not found."),
            409 => Self::version_conflict(),
            415 => Self::unsupported_media_type("unknown"),
            429 => Self::too_many_requests(300, 1),
            503 => Self::new(503, "service.unavailable", "Service Unavailable"),
            504 => Self::new(504, "request.timeout", "The request timed out."),
            500..=599 => Self::new(
                status,
                "internal.server.error",
                "The server encountered an internal error.",
            ),
            _ => Self::new(
                status,
                "bad.request",
                "The request could not be understood by the server.",
            ),
        }
    }

    /// The message with its parameters filled in.
    pub fn message(&self) -> String {
        self.params
            .iter()
            .fold(self.template.clone(), |text, (name, value)| {
                text.replace(&format!("{{{name}}}"), value)
            })
    }

    /// The `ErrorBody` JSON.
    pub fn body(&self, context_id: &str) -> Value {
        let params: Map<String, Value> = self
            .params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let mut body = json!({
            "message": self.message(),
            "code": self.code,
            "status": self.status,
            "messageWithParams": self.template,
            "messageParams": params,
            "contextId": context_id,
            "details": self.details,
            "errors": [],
        });
        if let Some(id) = &self.entity_id {
            body["entityId"] = Value::String(id.clone());
        }
        if let Some(limit) = &self.limit {
            body["limit"] = json!(limit);
        }
        body
    }
}

/// The body of a failed `/oauth/token` grant: `{error, description, error_description}`.
pub fn oauth_error(error: &str, description: &str) -> Value {
    json!({"error": error, "description": description, "error_description": description})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_fills_the_template_and_keeps_the_params() {
        let body = ApiError::invalid_value("Bored", "StateChangeReason", &["Voluntary", "Leave"])
            .body("ctx-1");
        assert_eq!(
            body["message"],
            "Value [Bored] is not valid for field type [StateChangeReason]. Allowable values are: Voluntary, Leave"
        );
        assert_eq!(body["messageParams"]["value"], "Bored");
        assert_eq!(body["status"], 400);
        assert_eq!(body["contextId"], "ctx-1");
        assert_eq!(body["errors"], json!([]));
    }

    #[test]
    fn rate_limit_error_names_the_limit() {
        let body = ApiError::too_many_requests(5, 12).body("c");
        assert_eq!(
            body["message"],
            "Rate limit exceeded the maximum [5] requests within [60] seconds"
        );
        assert_eq!(
            body["limit"]["key"],
            "client.credentials.token.rate.per.minute"
        );
        assert_eq!(body["limit"]["namespace"], "platform.api");
        assert_eq!(body["limit"]["value"], 5);
    }
}
