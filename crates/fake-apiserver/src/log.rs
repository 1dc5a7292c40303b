//! The request log tests assert on: every request with its verb, resource, subresource, patch
//! type, field manager and response code.

use std::time::SystemTime;

use serde_json::Value;

/// One request the server answered.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method (`GET`, `PATCH`, ...).
    pub method: String,
    /// The URL path.
    pub path: String,
    /// The raw query string (empty when there is none).
    pub query: String,
    /// The Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, or `discovery` for everything that is not a resource request.
    pub verb: String,
    /// API group (empty for the core group).
    pub group: String,
    /// API version.
    pub version: String,
    /// Resource (plural), empty for non-resource requests.
    pub resource: String,
    /// `status` for requests to the status subresource.
    pub subresource: Option<String>,
    /// Namespace in the path.
    pub namespace: Option<String>,
    /// Object name in the path.
    pub name: Option<String>,
    /// `json`, `merge`, `strategic` or `apply` for PATCH requests.
    pub patch_type: Option<String>,
    /// The `fieldManager` query parameter.
    pub field_manager: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The request body (JSON or YAML) when it parsed.
    pub body: Option<Value>,
    /// The response code the client received.
    pub status: u16,
    /// `None` unless an injected fault ([`super::ApiFault`]) answered: `Some(0)` when the
    /// request was not served at all, `Some(code)` when it was served first (`afterCommit`:
    /// its write is stored) and `code` is the real answer the client never saw.
    pub injected: Option<u16>,
    /// When the request arrived.
    pub time: SystemTime,
}

impl RecordedRequest {
    /// Whether the request could change state (create, update, patch, delete).
    pub fn is_write(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        )
    }

    /// Whether the request wrote to a `/status` subresource.
    pub fn is_status_write(&self) -> bool {
        self.is_write() && self.subresource.as_deref() == Some("status")
    }

    /// Whether the request is on `resource` (plural), in any group.
    pub fn is_on(&self, resource: &str) -> bool {
        self.resource == resource
    }
}
