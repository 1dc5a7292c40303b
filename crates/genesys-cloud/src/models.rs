//! Typed request and response bodies (`docs/genesys-api.md` §2–§7, field names from
//! `genesys-contract/contract.json`).
//!
//! Responses are decoded leniently: unknown fields are ignored, anything the API may omit is an
//! `Option` (or a defaulted `Vec`), `version` is accepted as a number or a string, and every enum
//! has an `Unknown(String)` variant so that a value Genesys adds later never fails decoding.
//! Requests serialize only the fields that are set, with the contract's names.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Genesys user id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl UserId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for UserId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for UserId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Declares a string enum with an `Unknown(String)` fallback, `Display`/`FromStr` and serde as
/// the wire string, and a JSON schema that admits the known values only: a document with that
/// schema (such as a Kubernetes resource's status) is given a value only after `known` kept it.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this client does not know yet, kept as sent.
            Unknown(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Unknown(other) => other,
                }
            }

            /// The value, unless it is one this client does not know.
            pub fn known(self) -> Option<Self> {
                (!matches!(self, $name::Unknown(_))).then_some(self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(match s {
                    $($wire => $name::$variant,)+
                    other => $name::Unknown(other.to_owned()),
                })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Ok(s.parse().unwrap_or_else(|never| match never {}))
            }
        }

        // One `const` per value, as schemars derives it for a unit enum with documented
        // variants: kube's CRD rewrite turns that into one `enum` and marks an optional field
        // `nullable` (a flat `enum` would get a `null` value instead). No description: kube
        // would put it over the field's own.
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "oneOf": [$({ "type": "string", "const": $wire }),+],
                })
            }
        }
    };
}

wire_enum!(
    /// A user's lifecycle state (`User.state`). There is no user `status` field.
    UserState {
        Active = "active",
        Inactive = "inactive",
        /// Soft-deleted. The operator never puts a user in this state.
        Deleted = "deleted",
    }
);

wire_enum!(
    /// Why a user's state changed (`PUT /users/{id}/state`).
    StateChangeReason {
        Voluntary = "Voluntary",
        Seasonal = "Seasonal",
        Leave = "Leave",
        Performance = "Performance",
        Conduct = "Conduct",
        /// The wire value `Unknown` (a real reason), not an unrecognised one.
        UnknownReason = "Unknown",
    }
);

wire_enum!(
    /// `RoutingStatus.status`.
    RoutingStatusValue {
        OffQueue = "OFF_QUEUE",
        Idle = "IDLE",
        Interacting = "INTERACTING",
        NotResponding = "NOT_RESPONDING",
        Communicating = "COMMUNICATING",
    }
);

wire_enum!(
    /// How a user is a queue member: directly, or through one of the queue's member groups.
    MemberBy {
        User = "user",
        Group = "group",
    }
);

wire_enum!(
    /// `OrganizationPresenceDefinition.systemPresence`.
    SystemPresence {
        Available = "Available",
        Away = "Away",
        Busy = "Busy",
        Offline = "Offline",
        Idle = "Idle",
        OnQueue = "OnQueue",
        Meal = "Meal",
        Training = "Training",
        Meeting = "Meeting",
        Break = "Break",
    }
);

wire_enum!(
    /// `AsyncQueryStatus.state` of an analytics job.
    JobState {
        Queued = "QUEUED",
        Pending = "PENDING",
        Failed = "FAILED",
        Cancelled = "CANCELLED",
        Fulfilled = "FULFILLED",
        Expired = "EXPIRED",
    }
);

impl JobState {
    /// Whether the job will not change state any more.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, JobState::Queued | JobState::Pending)
    }
}

/// Accepts a `version` as a JSON number, a numeric string (seen in search results) or null.
pub(crate) fn de_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrString {
        Int(i64),
        Float(f64),
        Text(String),
    }
    match Option::<NumOrString>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrString::Int(v)) => Ok(Some(v)),
        #[allow(clippy::cast_possible_truncation)]
        Some(NumOrString::Float(v)) if v.fract() == 0.0 => Ok(Some(v as i64)),
        Some(NumOrString::Float(v)) => Err(serde::de::Error::custom(format!(
            "version {v} is not an integer"
        ))),
        Some(NumOrString::Text(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("version {s:?} is not an integer"))),
    }
}

/// A reference to another entity (`{id, name, selfUri}`), as Genesys embeds them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EntityRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// `Contact` (`primaryContactInfo`, `addresses`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Contact {
    pub address: Option<String>,
    pub display: Option<String>,
    /// `PHONE | EMAIL | SMS`.
    pub media_type: Option<String>,
    /// `PRIMARY | WORK | ... | OTHER`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub extension: Option<String>,
}

/// `User` (`docs/genesys-api.md` §2). Expanded sub-objects are best effort: present only when asked
/// for with `expand`, and even then possibly missing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub state: Option<UserState>,
    #[serde(default, deserialize_with = "de_version")]
    pub version: Option<i64>,
    #[serde(default)]
    pub division: Option<EntityRef>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub primary_contact_info: Vec<Contact>,
    #[serde(default)]
    pub addresses: Vec<Contact>,
    #[serde(default)]
    pub manager: Option<EntityRef>,
    #[serde(default)]
    pub routing_status: Option<RoutingStatus>,
    #[serde(default)]
    pub presence: Option<UserPresence>,
    #[serde(default)]
    pub station: Option<UserStations>,
    #[serde(default)]
    pub authorization: Option<UserAuthorization>,
    #[serde(default)]
    pub groups: Option<Vec<EntityRef>>,
    /// The user's team (`expand=team`); a user is in at most one.
    #[serde(default)]
    pub team: Option<EntityRef>,
    #[serde(default)]
    pub skills: Option<Vec<UserRoutingSkill>>,
    #[serde(default)]
    pub languages: Option<Vec<UserRoutingLanguage>>,
    #[serde(default)]
    pub last_token_issued: Option<LastTokenIssued>,
    #[serde(default)]
    pub date_last_login: Option<String>,
    #[serde(default)]
    pub self_uri: Option<String>,
}

impl User {
    pub fn is_state(&self, state: &UserState) -> bool {
        self.state.as_ref() == Some(state)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LastTokenIssued {
    pub date_issued: Option<String>,
}

/// The users an email address matches: `live` are active or inactive (the candidates for
/// offboarding), `deleted` were found only with a `deleted` state criterion and are never touched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmailMatches {
    pub live: Vec<User>,
    pub deleted: Vec<User>,
}

/// `UserState` of `GET|PUT /users/{id}/state` (the dedicated state endpoint, which records why).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserStateInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<UserState>,
    #[serde(
        default,
        deserialize_with = "de_version",
        skip_serializing_if = "Option::is_none"
    )]
    pub version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_change_reason: Option<StateChangeReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_change_date: Option<String>,
}

/// `RoutingStatus`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoutingStatus {
    pub user_id: Option<UserId>,
    pub status: Option<RoutingStatusValue>,
    pub start_time: Option<String>,
}

/// `UserQueue`: a queue the user is a member of, with `joined`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserQueue {
    pub id: String,
    pub name: Option<String>,
    pub division: Option<EntityRef>,
    pub joined: Option<bool>,
    pub member_count: Option<i64>,
    pub member_groups: Option<Vec<serde_json::Value>>,
    pub self_uri: Option<String>,
}

/// `QueueMember`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueMember {
    pub id: String,
    pub name: Option<String>,
    pub user: Option<EntityRef>,
    pub ring_number: Option<i64>,
    pub joined: Option<bool>,
    pub member_by: Option<MemberBy>,
    pub routing_status: Option<RoutingStatus>,
    pub self_uri: Option<String>,
}

/// `UserRoutingSkill`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserRoutingSkill {
    pub id: String,
    pub name: Option<String>,
    pub proficiency: Option<f64>,
    pub state: Option<UserState>,
    pub skill_uri: Option<String>,
    pub self_uri: Option<String>,
}

/// One entry of `PUT /users/{id}/routingskills/bulk` (restore).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRoutingSkillPost {
    pub id: String,
    pub proficiency: f64,
}

/// `UserRoutingLanguage`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserRoutingLanguage {
    pub id: String,
    pub name: Option<String>,
    pub proficiency: Option<f64>,
    pub state: Option<UserState>,
    pub language_uri: Option<String>,
    pub self_uri: Option<String>,
}

/// `UserStations`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserStations {
    pub associated_station: Option<UserStation>,
    pub effective_station: Option<UserStation>,
    pub default_station: Option<UserStation>,
    pub last_associated_station: Option<UserStation>,
}

/// `UserStation`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserStation {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub associated_user: Option<EntityRef>,
    pub associated_date: Option<String>,
    pub default_user: Option<EntityRef>,
}

/// `OrganizationPresenceDefinition` (`GET /api/v2/presence/definitions`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PresenceDefinition {
    pub id: String,
    pub name: Option<String>,
    /// `System | User`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub language_labels: BTreeMap<String, String>,
    pub system_presence: Option<SystemPresence>,
    pub division_id: Option<String>,
    pub deactivated: Option<bool>,
}

/// The `presenceDefinition` reference inside a `UserPresence`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PresenceDefinitionRef {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_presence: Option<String>,
}

/// `UserPresence`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserPresence {
    pub id: Option<String>,
    pub name: Option<String>,
    pub source: Option<String>,
    pub source_id: Option<String>,
    pub primary: Option<bool>,
    pub presence_definition: Option<PresenceDefinitionRef>,
    pub message: Option<String>,
    pub modified_date: Option<String>,
}

/// `UserAuthorization` (`GET /users/{id}/roles`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserAuthorization {
    pub roles: Vec<EntityRef>,
    pub unused_roles: Vec<EntityRef>,
    pub permissions: Vec<String>,
}

/// `AuthzSubject`: the subject's grants, each a role in a division.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthzSubject {
    pub id: Option<String>,
    pub name: Option<String>,
    pub grants: Vec<AuthzGrant>,
    #[serde(deserialize_with = "de_version")]
    pub version: Option<i64>,
}

/// `AuthzGrant`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthzGrant {
    pub subject_id: Option<String>,
    pub division: Option<AuthzDivision>,
    pub role: Option<EntityRef>,
    pub grant_made_at: Option<String>,
}

impl AuthzGrant {
    /// The subject other than `user` this grant comes through (a group of theirs), or `None`
    /// for a grant `user` holds directly. A grant without `subjectId` is the subject's own: it
    /// was read from `user`'s subject.
    pub fn through(&self, user: &UserId) -> Option<&str> {
        self.subject_id
            .as_deref()
            .filter(|subject| *subject != user.as_str())
    }
}

/// `AuthzDivision`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthzDivision {
    pub id: Option<String>,
    pub name: Option<String>,
    pub home_division: Option<bool>,
}

/// A role in a division (`RoleDivisionPair`), for `bulkadd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDivision {
    pub role_id: String,
    pub division_id: String,
}

/// `Organization` (`GET /api/v2/organizations/me`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Organization {
    pub id: Option<String>,
    pub name: Option<String>,
    pub domain: Option<String>,
    pub default_language: Option<String>,
    pub state: Option<UserState>,
    #[serde(deserialize_with = "de_version")]
    pub version: Option<i64>,
    pub product_platform: Option<String>,
}

/// A paged listing (`*EntityListing`): the fields used to walk its pages.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Listing<T> {
    #[serde(default = "Vec::new")]
    pub entities: Vec<T>,
    #[serde(default)]
    pub page_count: Option<i64>,
    #[serde(default)]
    pub next_uri: Option<String>,
}

/// `UsersSearchResponse`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsersSearchResponse {
    #[serde(default)]
    pub results: Vec<User>,
    #[serde(default)]
    pub page_count: Option<i64>,
    #[serde(default)]
    pub next_page: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Analytics
// ---------------------------------------------------------------------------------------------

/// An ISO-8601 interval, sent as `start/end` with millisecond precision in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Interval {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self { start, end }
    }

    /// Length of the interval (zero when `end` is before `start`).
    pub fn duration(&self) -> std::time::Duration {
        (self.end - self.start).to_std().unwrap_or_default()
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            self.start.to_rfc3339_opts(SecondsFormat::Millis, true),
            self.end.to_rfc3339_opts(SecondsFormat::Millis, true)
        )
    }
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `and | or` of an analytics filter or clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterType {
    #[default]
    And,
    Or,
}

/// A detail or aggregate query predicate (`SegmentDetailQueryPredicate`,
/// `ConversationDetailQueryPredicate`, `ConversationAggregateQueryPredicate`). Set only the
/// fields the target model has.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPredicate {
    /// `dimension | property | metric`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimension: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// `matches` (default) | `exists` | `notExists`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl QueryPredicate {
    /// `{"type":"dimension","dimension":<dimension>,"operator":"matches","value":<value>}`.
    pub fn dimension(dimension: &str, value: &str) -> Self {
        Self {
            kind: Some("dimension".into()),
            dimension: Some(dimension.into()),
            operator: Some("matches".into()),
            value: Some(value.into()),
            ..Self::default()
        }
    }
}

/// A clause: predicates combined with `and`/`or`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryClause {
    #[serde(rename = "type")]
    pub kind: FilterType,
    pub predicates: Vec<QueryPredicate>,
}

/// A filter: predicates and clauses combined with `and`/`or`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryFilter {
    #[serde(rename = "type")]
    pub kind: FilterType,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub predicates: Vec<QueryPredicate>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clauses: Vec<QueryClause>,
}

impl QueryFilter {
    pub fn and(predicates: Vec<QueryPredicate>) -> Self {
        Self {
            kind: FilterType::And,
            predicates,
            clauses: Vec::new(),
        }
    }
}

/// `PagingSpec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PagingSpec {
    pub page_size: u32,
    pub page_number: u32,
}

/// `ConversationQuery` (`POST /analytics/conversations/details/query`). The client sets
/// `paging` itself while walking pages.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationQuery {
    pub interval: Interval,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conversation_filters: Vec<QueryFilter>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segment_filters: Vec<QueryFilter>,
    /// `asc | desc | unordered`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// `conversationStart | conversationEnd | segmentStart | segmentEnd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paging: Option<PagingSpec>,
}

impl ConversationQuery {
    pub fn new(interval: Interval) -> Self {
        Self {
            interval,
            conversation_filters: Vec::new(),
            segment_filters: Vec::new(),
            order: Some("asc".into()),
            order_by: Some("conversationStart".into()),
            paging: None,
        }
    }

    /// Conversations in which `user` had a segment: a segment predicate on dimension `userId`
    /// (`userId` is not a conversation-level dimension).
    pub fn for_user(user: &UserId, interval: Interval) -> Self {
        let mut query = Self::new(interval);
        query.segment_filters = vec![QueryFilter::and(vec![QueryPredicate::dimension(
            "userId",
            user.as_str(),
        )])];
        query
    }

    /// Conversations in which any of `users` had a segment: one `userId` predicate per user,
    /// `or`-ed.
    pub fn for_users(users: &[UserId], interval: Interval) -> Self {
        let mut query = Self::new(interval);
        query.segment_filters = vec![QueryFilter {
            kind: FilterType::Or,
            predicates: users
                .iter()
                .map(|u| QueryPredicate::dimension("userId", u.as_str()))
                .collect(),
            clauses: Vec::new(),
        }];
        query
    }
}

/// `AsyncConversationQuery` (`POST /analytics/conversations/details/jobs`): the details query
/// without paging.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AsyncConversationQuery<'a> {
    pub interval: Interval,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub conversation_filters: &'a [QueryFilter],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub segment_filters: &'a [QueryFilter],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_by: Option<&'a str>,
}

impl<'a> From<&'a ConversationQuery> for AsyncConversationQuery<'a> {
    fn from(q: &'a ConversationQuery) -> Self {
        Self {
            interval: q.interval,
            conversation_filters: &q.conversation_filters,
            segment_filters: &q.segment_filters,
            order: q.order.as_deref(),
            order_by: q.order_by.as_deref(),
        }
    }
}

/// One conversation of a details query or job (`AnalyticsConversation[WithoutAttributes]`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AnalyticsConversation {
    pub conversation_id: String,
    pub conversation_start: Option<DateTime<Utc>>,
    /// Absent while the conversation is ongoing.
    pub conversation_end: Option<DateTime<Utc>>,
    pub originating_direction: Option<String>,
    pub division_ids: Vec<String>,
    pub external_tag: Option<String>,
    pub participants: Vec<AnalyticsParticipant>,
}

impl AnalyticsConversation {
    /// Whether `user` appears as a participant (`participants[].userId`).
    pub fn involves(&self, user: &UserId) -> bool {
        self.participants
            .iter()
            .any(|p| p.user_id.as_ref() == Some(user))
    }
}

/// `AnalyticsParticipant[WithoutAttributes]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AnalyticsParticipant {
    pub participant_id: Option<String>,
    pub participant_name: Option<String>,
    /// `agent | user | acd | customer | external | ivr | ...`.
    pub purpose: Option<String>,
    pub user_id: Option<UserId>,
    pub team_id: Option<String>,
    pub sessions: Vec<AnalyticsSession>,
    pub attributes: Option<BTreeMap<String, String>>,
}

/// `AnalyticsSession`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AnalyticsSession {
    pub session_id: Option<String>,
    pub media_type: Option<String>,
    pub direction: Option<String>,
    pub selected_agent_id: Option<String>,
    pub assigner_id: Option<String>,
    /// A callback session: routed to its scored agent only.
    pub agent_owned: Option<bool>,
    /// A callback session: the name of the customer to call back.
    pub callback_user_name: Option<String>,
    /// A callback session: when the customer is called back.
    pub callback_scheduled_time: Option<DateTime<Utc>>,
    pub segments: Vec<AnalyticsSegment>,
}

/// `AnalyticsConversationSegment`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AnalyticsSegment {
    pub segment_start: Option<DateTime<Utc>>,
    pub segment_end: Option<DateTime<Utc>>,
    pub segment_type: Option<String>,
    pub queue_id: Option<String>,
    pub wrap_up_code: Option<String>,
    pub disconnect_type: Option<String>,
    pub requested_routing_user_ids: Vec<String>,
    /// A callback's segment: the agents it is routed to (its owner, when agent-owned).
    pub scored_agents: Vec<ScoredAgent>,
}

/// `AnalyticsScoredAgent`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScoredAgent {
    pub scored_agent_id: Option<String>,
}

/// `AnalyticsConversationQueryResponse`: `conversations` is absent on an empty page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ConversationQueryPage {
    pub conversations: Option<Vec<AnalyticsConversation>>,
    #[allow(dead_code)]
    pub total_hits: Option<i64>,
}

/// `AsyncQueryResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct AsyncQueryResponse {
    pub job_id: Option<String>,
}

/// `AsyncQueryStatus` of a details job.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AsyncQueryStatus {
    pub state: Option<JobState>,
    pub error_message: Option<String>,
    pub submission_date: Option<String>,
    pub completion_date: Option<String>,
    pub expiration_date: Option<String>,
}

/// One page of a details job's results (`AnalyticsConversationAsyncQueryResponse`); `cursor` is
/// absent on the last page.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DetailsJobPage {
    pub conversations: Vec<AnalyticsConversation>,
    pub cursor: Option<String>,
    pub data_availability_date: Option<String>,
}

/// `ConversationAggregationQuery` (`POST /analytics/conversations/aggregates/query`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregationQuery {
    pub interval: Interval,
    pub metrics: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<QueryFilter>,
    /// ISO-8601 period such as `P1D`; the whole interval when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granularity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl AggregationQuery {
    /// `metrics` for one user over `interval`, grouped and filtered by `userId`.
    pub fn for_user(user: &UserId, interval: Interval, metrics: &[&str]) -> Self {
        Self {
            interval,
            metrics: metrics.iter().map(|m| (*m).to_owned()).collect(),
            group_by: vec!["userId".into()],
            filter: Some(QueryFilter::and(vec![QueryPredicate {
                kind: Some("dimension".into()),
                dimension: Some("userId".into()),
                operator: Some("matches".into()),
                value: Some(user.as_str().to_owned()),
                ..QueryPredicate::default()
            }])),
            granularity: None,
            time_zone: None,
        }
    }
}

/// `ConversationAggregateQueryResponse` (`results` may be absent when nothing matches).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AggregateQueryResponse {
    pub results: Vec<AggregateDataContainer>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AggregateDataContainer {
    pub group: BTreeMap<String, String>,
    pub data: Vec<AggregateData>,
}

/// `StatisticalResponse`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AggregateData {
    pub interval: Option<String>,
    pub metrics: Vec<AggregateMetric>,
}

/// `AggregateMetricData`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AggregateMetric {
    pub metric: String,
    pub qualifier: Option<String>,
    pub stats: Option<StatisticalSummary>,
}

/// `StatisticalSummary`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StatisticalSummary {
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub count: Option<i64>,
    pub sum: Option<f64>,
    pub current: Option<f64>,
    pub ratio: Option<f64>,
}

impl AggregateQueryResponse {
    /// The `count` of `metric` summed over every group and interval.
    pub fn count(&self, metric: &str) -> i64 {
        self.results
            .iter()
            .flat_map(|r| &r.data)
            .flat_map(|d| &d.metrics)
            .filter(|m| m.metric == metric)
            .filter_map(|m| m.stats.as_ref().and_then(|s| s.count))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn user_version_is_accepted_as_number_or_string() {
        let a: User = serde_json::from_str(r#"{"id":"u1","version":7}"#).unwrap();
        let b: User = serde_json::from_str(r#"{"id":"u1","version":"152"}"#).unwrap();
        let c: User = serde_json::from_str(r#"{"id":"u1"}"#).unwrap();
        let d: User = serde_json::from_str(r#"{"id":"u1","version":null}"#).unwrap();
        assert_eq!(a.version, Some(7));
        assert_eq!(b.version, Some(152));
        assert_eq!(c.version, None);
        assert_eq!(d.version, None);
        assert!(serde_json::from_str::<User>(r#"{"id":"u1","version":"seven"}"#).is_err());
    }

    #[test]
    fn unknown_fields_and_enum_values_decode() {
        let user: User = serde_json::from_str(
            r#"{"id":"u1","state":"suspended","brandNewField":{"x":1},
                "routingStatus":{"status":"ON_BREAK_NEW"},"version":3}"#,
        )
        .unwrap();
        assert_eq!(user.state, Some(UserState::Unknown("suspended".into())));
        assert_eq!(
            user.routing_status.unwrap().status,
            Some(RoutingStatusValue::Unknown("ON_BREAK_NEW".into()))
        );
    }

    #[test]
    fn enums_round_trip_their_wire_strings() {
        assert_eq!(
            serde_json::to_string(&UserState::Inactive).unwrap(),
            "\"inactive\""
        );
        assert_eq!(
            serde_json::to_string(&RoutingStatusValue::OffQueue).unwrap(),
            "\"OFF_QUEUE\""
        );
        assert_eq!(
            serde_json::from_str::<StateChangeReason>("\"Unknown\"").unwrap(),
            StateChangeReason::UnknownReason
        );
        assert_eq!(
            "FULFILLED".parse::<JobState>().unwrap(),
            JobState::Fulfilled
        );
        assert!(JobState::Expired.is_terminal());
        assert!(!JobState::Pending.is_terminal());
    }

    #[test]
    fn only_a_known_value_is_kept_by_known() {
        assert_eq!(UserState::Inactive.known(), Some(UserState::Inactive));
        assert_eq!(UserState::Unknown("suspended".into()).known(), None);
        assert_eq!(MemberBy::Group.known(), Some(MemberBy::Group));
    }

    #[test]
    fn user_id_serializes_transparently() {
        let id = UserId::new("abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"abc\"");
        assert_eq!(id.to_string(), "abc");
    }

    #[test]
    fn user_query_uses_a_segment_predicate_on_user_id() {
        let start = Utc.with_ymd_and_hms(2024, 4, 1, 0, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
        let q = ConversationQuery::for_user(&UserId::new("u1"), Interval::new(start, end));
        let json = serde_json::to_value(&q).unwrap();
        assert_eq!(
            json["interval"],
            "2024-04-01T00:00:00.000Z/2024-05-01T00:00:00.000Z"
        );
        assert_eq!(json["segmentFilters"][0]["type"], "and");
        assert_eq!(
            json["segmentFilters"][0]["predicates"][0]["dimension"],
            "userId"
        );
        assert_eq!(json["segmentFilters"][0]["predicates"][0]["value"], "u1");
        assert!(json.get("conversationFilters").is_none());
        assert!(json.get("paging").is_none());
    }

    #[test]
    fn state_info_serializes_only_what_is_set() {
        let info = UserStateInfo {
            state: Some(UserState::Inactive),
            version: Some(7),
            state_change_reason: Some(StateChangeReason::Voluntary),
            state_change_date: None,
        };
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"state":"inactive","version":7,"stateChangeReason":"Voluntary"}"#
        );
    }

    #[test]
    fn aggregate_response_tolerates_an_empty_object() {
        let r: AggregateQueryResponse = serde_json::from_str("{}").unwrap();
        assert_eq!(r.count("tHandle"), 0);
    }
}
