//! A user's own settings and memberships that a restore puts back: their utilization, their call
//! forwarding, the groups and the team they are in. Every path and body field here is the
//! Python SDK 269's (`RoutingApi.get_routing_user_utilization` / `put_routing_user_utilization`,
//! `UsersApi.get_user_callforwarding` / `put_user_callforwarding`, `GroupsApi.get_group` /
//! `post_group_members`, `TeamsApi.post_team_members`), as recorded in
//! `contract/genesys-contract.json`.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::client::GenesysClient;
use super::error::GenesysError;
use super::http::ApiRequest;
use super::models::UserId;

/// `MediaUtilization`: how many interactions of one media type the user takes at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaUtilization {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_capacity: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interruptable_media_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_non_acd: Option<bool>,
}

/// `LabelUtilizationRequest` (the request's fields; the answer's `labelName` is not kept).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelUtilization {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_capacity: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interrupting_label_ids: Vec<String>,
}

/// `AgentMaxUtilizationResponse`: the utilization that applies to the user, and whether it is
/// their own (`level: Agent`) or the organization's (`level: Organization`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Utilization {
    /// By media type (`call`, `chat`, `email`, `message`, `callback`, `workitem`, ...).
    #[serde(default)]
    pub utilization: BTreeMap<String, MediaUtilization>,
    /// By label id.
    #[serde(default)]
    pub label_utilizations: BTreeMap<String, LabelUtilization>,
    #[serde(default)]
    pub max_inbound_calls: Option<i64>,
    /// `Agent` or `Organization`.
    #[serde(default)]
    pub level: Option<String>,
}

impl Utilization {
    /// Whether this is the user's own utilization rather than the organization's.
    pub fn is_own(&self) -> bool {
        self.level.as_deref() == Some("Agent")
    }
}

/// `UtilizationRequest`: the user's own utilization, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UtilizationRequest {
    pub utilization: BTreeMap<String, MediaUtilization>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub label_utilizations: BTreeMap<String, LabelUtilization>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_inbound_calls: Option<i64>,
}

/// `CallTarget`: a station or a phone number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallTarget {
    /// `STATION` or `PHONENUMBER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `CallRoute`: targets rung together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRoute {
    #[serde(default)]
    pub targets: Vec<CallTarget>,
}

/// `CallForwarding`: where the user's calls go (the fields a `PUT` sets; `user`, `id`,
/// `modifiedDate` are the server's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallForwarding {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub calls: Vec<CallRoute>,
    /// `PURECLOUD`, `LASTCALL` or `NONE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail: Option<String>,
}

impl CallForwarding {
    /// The settings that matter for routing, for comparing a read with what was written (an
    /// empty phone number and none are the same).
    pub fn same_as(&self, other: &CallForwarding) -> bool {
        let phone = |c: &CallForwarding| c.phone_number.clone().filter(|p| !p.is_empty());
        self.enabled == other.enabled
            && self.calls == other.calls
            && self.voicemail == other.voicemail
            && phone(self) == phone(other)
    }
}

/// `Group`, the fields a membership write needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupInfo {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Sent back with a member add (`GroupMembersUpdate.version`).
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub member_count: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupMembersUpdate<'a> {
    member_ids: &'a [&'a str],
    version: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TeamMembers<'a> {
    member_ids: &'a [&'a str],
}

/// `TeamAddMemberFailure`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamAddFailure {
    #[serde(default)]
    pub id: Option<String>,
    /// `UserNotFound`, `UserGroupLimitExceeded` or `UserGroupDivisionMismatch`.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `TeamMemberAddListingResponse`: who was added and who was not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamAdded {
    #[serde(default)]
    pub failures: Vec<TeamAddFailure>,
}

impl GenesysClient {
    /// `GET /api/v2/routing/users/{userId}/utilization`.
    pub async fn get_user_utilization(&self, id: &UserId) -> Result<Utilization, GenesysError> {
        self.send(ApiRequest::get(
            "get_routing_user_utilization",
            &["routing", "users", id.as_str(), "utilization"],
        ))
        .await?
        .json()
    }

    /// `PUT /api/v2/routing/users/{userId}/utilization`: the user's own utilization, whole.
    pub async fn put_user_utilization(
        &self,
        id: &UserId,
        utilization: &UtilizationRequest,
    ) -> Result<Utilization, GenesysError> {
        let request = ApiRequest::new(
            "put_routing_user_utilization",
            Method::PUT,
            &["routing", "users", id.as_str(), "utilization"],
        )
        .json(utilization)?;
        self.send(request).await?.json()
    }

    /// `GET /api/v2/users/{userId}/callforwarding`.
    pub async fn get_call_forwarding(&self, id: &UserId) -> Result<CallForwarding, GenesysError> {
        self.send(ApiRequest::get(
            "get_user_callforwarding",
            &["users", id.as_str(), "callforwarding"],
        ))
        .await?
        .json()
    }

    /// `PUT /api/v2/users/{userId}/callforwarding`: the whole settings.
    pub async fn put_call_forwarding(
        &self,
        id: &UserId,
        forwarding: &CallForwarding,
    ) -> Result<CallForwarding, GenesysError> {
        let request = ApiRequest::new(
            "put_user_callforwarding",
            Method::PUT,
            &["users", id.as_str(), "callforwarding"],
        )
        .json(forwarding)?;
        self.send(request).await?.json()
    }

    /// `GET /api/v2/groups/{groupId}`.
    pub async fn get_group(&self, group_id: &str) -> Result<GroupInfo, GenesysError> {
        self.send(ApiRequest::get("get_group", &["groups", group_id]))
            .await?
            .json()
    }

    /// `POST /api/v2/groups/{groupId}/members` with the group's current `version` (a stale one
    /// is refused with a 409).
    pub async fn add_group_member(
        &self,
        group_id: &str,
        user: &UserId,
        version: i64,
    ) -> Result<(), GenesysError> {
        let request = ApiRequest::new(
            "post_group_members",
            Method::POST,
            &["groups", group_id, "members"],
        )
        .json(&GroupMembersUpdate {
            member_ids: &[user.as_str()],
            version,
        })?;
        self.send(request).await?;
        Ok(())
    }

    /// `POST /api/v2/teams/{teamId}/members`; a user Genesys could not add is in `failures`.
    pub async fn add_team_member(
        &self,
        team_id: &str,
        user: &UserId,
    ) -> Result<TeamAdded, GenesysError> {
        let request = ApiRequest::new(
            "post_team_members",
            Method::POST,
            &["teams", team_id, "members"],
        )
        .json(&TeamMembers {
            member_ids: &[user.as_str()],
        })?;
        self.send(request).await?.json()
    }
}
