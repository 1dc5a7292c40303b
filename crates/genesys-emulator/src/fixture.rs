//! The emulator's fixture: the Genesys Cloud organization it serves, as YAML.
//!
//! Field names are camelCase like the Genesys API. Ids are free-form strings (the demo org uses
//! UUIDs, tests may use short readable ids). Everything except `oauthClients` and `users` has a
//! default, so a test fixture can be a few lines of inline YAML.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The demo organization served by `genesys-offboarding sim` without `--fixture`, and by
/// `reconcile --sim`. Embedded so the binary works from any directory.
pub const DEMO_ORG_YAML: &str = include_str!("../demo-org.yaml");

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fixture {
    /// Returned by `GET /api/v2/organizations/me`.
    #[serde(default)]
    pub organization: Organization,
    /// Per-token request limit (Genesys default for client credentials: 300 per minute).
    /// `0` turns the limit off.
    #[serde(default = "default_requests_per_minute")]
    pub requests_per_minute: u32,
    /// Latency added to every `/api/v2` and `/oauth` response, in milliseconds (0 = none).
    #[serde(default)]
    pub latency_ms: u64,
    /// Behaviour the reference marks UNVERIFIED, made configurable.
    #[serde(default)]
    pub behavior: Behavior,
    #[serde(default)]
    pub oauth_clients: Vec<OAuthClient>,
    #[serde(default)]
    pub divisions: Vec<NamedEntity>,
    #[serde(default)]
    pub presence_definitions: Vec<PresenceDefinition>,
    #[serde(default)]
    pub queues: Vec<QueueFixture>,
    #[serde(default)]
    pub skills: Vec<NamedEntity>,
    #[serde(default)]
    pub languages: Vec<NamedEntity>,
    #[serde(default)]
    pub roles: Vec<NamedEntity>,
    #[serde(default)]
    pub groups: Vec<NamedEntity>,
    #[serde(default)]
    pub stations: Vec<StationFixture>,
    #[serde(default)]
    pub users: Vec<UserFixture>,
    #[serde(default)]
    pub conversations: Vec<ConversationFixture>,
}

fn default_requests_per_minute() -> u32 {
    300
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Organization {
    pub id: String,
    pub name: String,
}

impl Default for Organization {
    fn default() -> Self {
        Self {
            id: "00000000-0000-4000-8000-0000000000aa".into(),
            name: "Sim Org".into(),
        }
    }
}

/// Switches for points where the real API's behaviour is not known for sure
/// (`docs/genesys-api.md` §12). Defaults are the most plausible reading.
// Independent switches, not states of one machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Behavior {
    /// Whether `POST /users/search` without a `state` criterion also returns inactive users
    /// (§12.2). Deleted users are never returned unless a `state` criterion asks for them.
    #[serde(default = "yes")]
    pub search_includes_inactive_by_default: bool,
    /// Largest interval, in days, accepted by the synchronous conversation details and
    /// aggregates queries (§12.3); longer intervals get a 400 `bad.request`.
    #[serde(default = "default_max_sync_interval_days")]
    pub max_sync_interval_days: u32,
    /// Whether `PUT /users/{id}/state` requires and checks `version` (§12.6).
    #[serde(default)]
    pub state_put_requires_version: bool,
    /// How a version mismatch on `PATCH /users/{id}` is reported (§12.7).
    #[serde(default)]
    pub version_conflict: VersionConflictStyle,
    /// Success status of the body-less DELETE/POST operations (§12.4): 200 with `{}`-less body
    /// or 204.
    #[serde(default = "default_no_body_status")]
    pub no_body_status: u16,
    /// Largest `pageSize` accepted by list and search calls (§12.1); larger is clamped.
    #[serde(default = "default_max_page_size")]
    pub max_page_size: u32,
    /// Whether `GET /users/{id}/queues` lists memberships that come from a group (§12.8).
    #[serde(default = "yes")]
    pub user_queues_include_group_memberships: bool,
    /// Seconds from a user's re-activation until the roles they hold through groups are in
    /// effect again. Going inactive removes every role; on re-activation Genesys applies the
    /// group roles again by itself, later (§10); how much later is not documented (§12).
    #[serde(default = "default_group_roles_return_seconds")]
    pub group_roles_return_seconds: u64,
    /// Paging drift in the synchronous details query (§7.1): Genesys says records move between
    /// pages while data arrives, so a client paging through can see one twice and miss
    /// another. When on, the second request for a page N ≥ 2 of one query (the same body
    /// apart from `paging`) finds the first record of page N moved to the end of page N − 1:
    /// the two swap places, for good, and `totalHits` counts each record that moved twice.
    #[serde(default)]
    pub details_paging_drift: bool,
    /// Late data (§7.1): a conversation that has ended is missing from every details read (the
    /// query, the jobs, the single conversation) until this many seconds after its end, as a
    /// conversation that just ended can be. `0` turns it off.
    #[serde(default)]
    pub details_late_seconds: u64,
}

impl Default for Behavior {
    fn default() -> Self {
        Self {
            search_includes_inactive_by_default: true,
            max_sync_interval_days: default_max_sync_interval_days(),
            state_put_requires_version: false,
            version_conflict: VersionConflictStyle::default(),
            no_body_status: default_no_body_status(),
            max_page_size: default_max_page_size(),
            user_queues_include_group_memberships: true,
            group_roles_return_seconds: default_group_roles_return_seconds(),
            details_paging_drift: false,
            details_late_seconds: 0,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_max_sync_interval_days() -> u32 {
    31
}
fn default_no_body_status() -> u16 {
    204
}
fn default_max_page_size() -> u32 {
    500
}
fn default_group_roles_return_seconds() -> u64 {
    5
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VersionConflictStyle {
    /// 409 `general.conflict` (the spec).
    #[default]
    Conflict409,
    /// 400 whose message contains "does not match the current version" (seen by Terraform).
    BadRequest400,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    /// Permissions granted to the client's roles. `None` grants everything; a list restricts
    /// calls that declare permissions to those listed (403 `missing.permissions` otherwise).
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
    /// Lifetime of issued tokens in seconds (Genesys answers 86399 by default).
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_seconds: u64,
}

fn default_token_lifetime() -> u64 {
    86_399
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamedEntity {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PresenceDefinition {
    pub id: String,
    /// `Available | Away | Busy | Offline | Idle | OnQueue | Meal | Training | Meeting | Break`.
    pub system_presence: String,
    /// `System` or `User`.
    #[serde(default = "default_presence_type")]
    pub r#type: String,
    /// Label in `en_US`; defaults to the system presence.
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub deactivated: bool,
}

fn default_presence_type() -> String {
    "System".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueFixture {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub division_id: Option<String>,
    /// Groups whose members are queue members (`memberBy: group`).
    #[serde(default)]
    pub member_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StationFixture {
    pub id: String,
    pub name: String,
    /// Station type, e.g. `inin_webrtc_softphone`.
    #[serde(default = "default_station_type")]
    pub r#type: String,
}

fn default_station_type() -> String {
    "inin_webrtc_softphone".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserFixture {
    pub id: String,
    pub name: String,
    pub email: String,
    /// Defaults to the email.
    #[serde(default)]
    pub username: Option<String>,
    /// `active | inactive | deleted`.
    #[serde(default = "default_state")]
    pub state: String,
    #[serde(default = "default_version")]
    pub version: i64,
    /// Defaults to the first division, or a generated Home division.
    #[serde(default)]
    pub division_id: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// `OFF_QUEUE | IDLE | INTERACTING | NOT_RESPONDING | COMMUNICATING`.
    #[serde(default = "default_routing_status")]
    pub routing_status: String,
    /// Id of a presence definition, or a system presence name such as `Available`.
    #[serde(default)]
    pub presence: Option<String>,
    #[serde(default)]
    pub station: StationAssignment,
    #[serde(default)]
    pub queues: Vec<QueueMembership>,
    #[serde(default)]
    pub skills: Vec<Proficiency>,
    #[serde(default)]
    pub languages: Vec<Proficiency>,
    #[serde(default)]
    pub roles: Vec<RoleGrant>,
    /// Group ids the user belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Whether the user holds live OAuth sessions (cleared by `DELETE /api/v2/tokens/{userId}`).
    #[serde(default = "yes")]
    pub has_sessions: bool,
}

fn default_state() -> String {
    "active".into()
}
fn default_version() -> i64 {
    1
}
fn default_routing_status() -> String {
    "OFF_QUEUE".into()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StationAssignment {
    #[serde(default)]
    pub associated: Option<String>,
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueMembership {
    pub queue_id: String,
    #[serde(default = "yes")]
    pub joined: bool,
    /// `user` (direct) or `group` (through one of the queue's member groups).
    #[serde(default = "default_member_by")]
    pub member_by: String,
}

fn default_member_by() -> String {
    "user".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Proficiency {
    /// Skill or language id.
    pub id: String,
    #[serde(default)]
    pub proficiency: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleGrant {
    pub role_id: String,
    /// Defaults to the user's division.
    #[serde(default)]
    pub division_id: Option<String>,
    /// Set when the role comes through this group (one of the user's groups). Going inactive
    /// removes every grant; the group's come back `behavior.groupRolesReturnSeconds` after a
    /// re-activation, direct ones never (docs/genesys-api.md §10).
    #[serde(default)]
    pub group_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConversationFixture {
    pub id: String,
    /// Start time: RFC 3339, or relative to when the emulator started (`now`, `now-3d`,
    /// `now-2h30m`, `now-40d+7m`; units `d`, `h`, `m`, `s`), so demo history stays inside any lookback window.
    pub start: String,
    /// End time in the same forms; absent while the conversation is ongoing. A time in the
    /// future (`now+30s`) keeps it ongoing until then: it ends by itself.
    #[serde(default)]
    pub end: Option<String>,
    /// `inbound | outbound`.
    #[serde(default = "default_direction")]
    pub originating_direction: String,
    #[serde(default)]
    pub division_ids: Vec<String>,
    pub participants: Vec<ParticipantFixture>,
}

fn default_direction() -> String {
    "inbound".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParticipantFixture {
    /// `agent | user | acd | customer | external | ivr | ...`.
    pub purpose: String,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Sessions; when empty the emulator renders one voice session with one `interact`
    /// segment spanning the conversation.
    #[serde(default)]
    pub sessions: Vec<SessionFixture>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionFixture {
    #[serde(default = "default_media_type")]
    pub media_type: String,
    #[serde(default)]
    pub segments: Vec<SegmentFixture>,
}

fn default_media_type() -> String {
    "voice".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SegmentFixture {
    /// `alert | interact | hold | wrapup | dialing | ...`.
    pub segment_type: String,
    pub start: String,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub queue_id: Option<String>,
    #[serde(default)]
    pub wrap_up_code: Option<String>,
}

/// A fixture that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("failed to read fixture file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse fixture YAML")]
    Parse(#[source] serde_yaml::Error),
    #[error("invalid fixture: {0}")]
    Invalid(String),
}

impl Fixture {
    /// The demo organization (`crates/genesys-emulator/demo-org.yaml`).
    pub fn demo() -> Self {
        // The embedded demo org is checked by a unit test; failing here is a build defect.
        Self::from_yaml(DEMO_ORG_YAML).expect("the embedded demo org is valid")
    }

    pub fn from_yaml(text: &str) -> Result<Self, FixtureError> {
        let fixture: Self = serde_yaml::from_str(text).map_err(FixtureError::Parse)?;
        fixture.validate()?;
        Ok(fixture)
    }

    pub fn from_file(path: &Path) -> Result<Self, FixtureError> {
        let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text)
    }

    /// Checks references between entities (a membership naming an unknown queue, two users with
    /// the same id, ...), so that a typo in a fixture fails loudly instead of serving odd data.
    pub fn validate(&self) -> Result<(), FixtureError> {
        use std::collections::HashSet;
        let ids =
            |items: &[NamedEntity]| items.iter().map(|e| e.id.clone()).collect::<HashSet<_>>();
        let queues: HashSet<_> = self.queues.iter().map(|q| q.id.clone()).collect();
        let stations: HashSet<_> = self.stations.iter().map(|s| s.id.clone()).collect();
        let (skills, languages, roles, groups, divisions) = (
            ids(&self.skills),
            ids(&self.languages),
            ids(&self.roles),
            ids(&self.groups),
            ids(&self.divisions),
        );
        // Without presence definitions the emulator serves the system ones, so their names work.
        let presences: HashSet<_> = if self.presence_definitions.is_empty() {
            SYSTEM_PRESENCES.iter().map(|p| (*p).to_owned()).collect()
        } else {
            self.presence_definitions
                .iter()
                .flat_map(|p| [p.id.clone(), p.system_presence.clone()])
                .collect()
        };
        self.validate_enums()?;
        let mut user_ids = HashSet::new();
        let bad = |what: &str, id: &str, user: &str| {
            Err(FixtureError::Invalid(format!(
                "user {user}: unknown {what} {id}"
            )))
        };
        for user in &self.users {
            if !user_ids.insert(user.id.clone()) {
                return Err(FixtureError::Invalid(format!(
                    "duplicate user id {}",
                    user.id
                )));
            }
            if !["active", "inactive", "deleted"].contains(&user.state.as_str()) {
                return Err(FixtureError::Invalid(format!(
                    "user {}: state must be active, inactive or deleted",
                    user.id
                )));
            }
            if let Some(d) = &user.division_id
                && !divisions.contains(d)
            {
                return bad("division", d, &user.id);
            }
            if let Some(p) = &user.presence
                && !presences.contains(p)
            {
                return bad("presence", p, &user.id);
            }
            for s in [&user.station.associated, &user.station.default]
                .into_iter()
                .flatten()
            {
                if !stations.contains(s) {
                    return bad("station", s, &user.id);
                }
            }
            for m in &user.queues {
                if !queues.contains(&m.queue_id) {
                    return bad("queue", &m.queue_id, &user.id);
                }
                if m.member_by != "user" && m.member_by != "group" {
                    return Err(FixtureError::Invalid(format!(
                        "user {}: memberBy must be user or group",
                        user.id
                    )));
                }
            }
            for s in &user.skills {
                if !skills.contains(&s.id) {
                    return bad("skill", &s.id, &user.id);
                }
            }
            for l in &user.languages {
                if !languages.contains(&l.id) {
                    return bad("language", &l.id, &user.id);
                }
            }
            validate_roles(user, &roles, &divisions)?;
            for g in &user.groups {
                if !groups.contains(g) {
                    return bad("group", g, &user.id);
                }
            }
        }
        for c in &self.conversations {
            for p in &c.participants {
                if let Some(u) = &p.user_id
                    && !user_ids.contains(u)
                {
                    return Err(FixtureError::Invalid(format!(
                        "conversation {}: unknown user {u}",
                        c.id
                    )));
                }
            }
        }
        self.validate_queues(&divisions, &groups)
    }

    fn validate_queues(
        &self,
        divisions: &std::collections::HashSet<String>,
        groups: &std::collections::HashSet<String>,
    ) -> Result<(), FixtureError> {
        for q in &self.queues {
            if let Some(d) = &q.division_id
                && !divisions.contains(d)
            {
                return Err(FixtureError::Invalid(format!(
                    "queue {}: unknown division {d}",
                    q.id
                )));
            }
            for g in &q.member_groups {
                if !groups.contains(g) {
                    return Err(FixtureError::Invalid(format!(
                        "queue {}: unknown group {g}",
                        q.id
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks values that the API restricts to an enum (contract.json), so that a fixture
    /// cannot make the emulator answer a value a real SDK would reject.
    fn validate_enums(&self) -> Result<(), FixtureError> {
        let check = |what: &str, value: &str, allowed: &[&str]| {
            if allowed.contains(&value) {
                Ok(())
            } else {
                Err(FixtureError::Invalid(format!(
                    "{what} {value:?} is not one of {}",
                    allowed.join(", ")
                )))
            }
        };
        if !(200..300).contains(&self.behavior.no_body_status) {
            return Err(FixtureError::Invalid(format!(
                "behavior.noBodyStatus {} is not a 2xx status",
                self.behavior.no_body_status
            )));
        }
        for p in &self.presence_definitions {
            check(
                "presence systemPresence",
                &p.system_presence,
                SYSTEM_PRESENCES,
            )?;
            check("presence type", &p.r#type, &["System", "User"])?;
        }
        for u in &self.users {
            check("routingStatus", &u.routing_status, ROUTING_STATUSES)?;
        }
        for c in &self.conversations {
            check("originatingDirection", &c.originating_direction, DIRECTIONS)?;
            for p in &c.participants {
                check("participant purpose", &p.purpose, PURPOSES)?;
                for s in &p.sessions {
                    check("session mediaType", &s.media_type, MEDIA_TYPES)?;
                    for seg in &s.segments {
                        check("segmentType", &seg.segment_type, SEGMENT_TYPES)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A user's role grants name known roles and divisions, and only groups the user is in.
fn validate_roles(
    user: &UserFixture,
    roles: &std::collections::HashSet<String>,
    divisions: &std::collections::HashSet<String>,
) -> Result<(), FixtureError> {
    let bad = |what: &str, id: &str| {
        Err(FixtureError::Invalid(format!(
            "user {}: unknown {what} {id}",
            user.id
        )))
    };
    for r in &user.roles {
        if !roles.contains(&r.role_id) {
            return bad("role", &r.role_id);
        }
        if let Some(d) = &r.division_id
            && !divisions.contains(d)
        {
            return bad("division", d);
        }
        if let Some(g) = &r.group_id
            && !user.groups.contains(g)
        {
            return bad("group (not one of the user's groups)", g);
        }
    }
    Ok(())
}

/// `OrganizationPresenceDefinition.systemPresence` values.
pub const SYSTEM_PRESENCES: &[&str] = &[
    "Available",
    "Away",
    "Busy",
    "Offline",
    "Idle",
    "OnQueue",
    "Meal",
    "Training",
    "Meeting",
    "Break",
];

/// `RoutingStatus.status` values.
pub const ROUTING_STATUSES: &[&str] = &[
    "OFF_QUEUE",
    "IDLE",
    "INTERACTING",
    "NOT_RESPONDING",
    "COMMUNICATING",
];

/// `AnalyticsConversation.originatingDirection` values.
pub const DIRECTIONS: &[&str] = &["inbound", "outbound"];

/// `AnalyticsParticipant.purpose` values.
pub const PURPOSES: &[&str] = &[
    "acd",
    "agent",
    "api",
    "botflow",
    "campaign",
    "customer",
    "dialer",
    "external",
    "fax",
    "group",
    "inbound",
    "ivr",
    "manual",
    "outbound",
    "station",
    "user",
    "voicemail",
    "voicesurveyflow",
    "workflow",
];

/// `AnalyticsSession.mediaType` values.
pub const MEDIA_TYPES: &[&str] = &[
    "callback",
    "chat",
    "cobrowse",
    "email",
    "internalmessage",
    "message",
    "screenmonitoring",
    "screenshare",
    "unknown",
    "video",
    "voice",
];

/// `AnalyticsConversationSegment.segmentType` values.
pub const SEGMENT_TYPES: &[&str] = &[
    "alert",
    "barging",
    "callback",
    "coaching",
    "contacting",
    "converting",
    "delay",
    "dialing",
    "hold",
    "interact",
    "ivr",
    "monitoring",
    "parked",
    "scheduled",
    "screenmonitoring",
    "sharing",
    "system",
    "transmitting",
    "unknown",
    "uploading",
    "voicemail",
    "wrapup",
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_embedded_demo_org_validates() {
        let demo = Fixture::from_yaml(DEMO_ORG_YAML).unwrap();
        assert_eq!(demo, Fixture::demo());
        assert!(demo.users.len() >= 12);
        assert!(
            demo.oauth_clients
                .iter()
                .any(|c| c.client_id == "demo-client")
        );
    }

    #[test]
    fn a_minimal_fixture_needs_only_a_client_and_users() {
        let f = Fixture::from_yaml(
            "oauthClients: [{clientId: c, clientSecret: s}]\nusers: [{id: u1, name: U, email: u@x, presence: Available}]",
        )
        .unwrap();
        assert_eq!(f.requests_per_minute, 300);
        assert_eq!(f.users[0].state, "active");
    }

    #[test]
    fn a_membership_in_an_unknown_queue_is_rejected() {
        let err =
            Fixture::from_yaml("users: [{id: u1, name: U, email: u@x, queues: [{queueId: nope}]}]")
                .unwrap_err();
        assert!(err.to_string().contains("unknown queue nope"), "{err}");
    }

    #[test]
    fn values_outside_the_api_enums_are_rejected() {
        let err = Fixture::from_yaml("users: [{id: u1, name: U, email: u@x, routingStatus: BUSY}]")
            .unwrap_err();
        assert!(err.to_string().contains("routingStatus"), "{err}");
        let err = Fixture::from_yaml(
            "conversations: [{id: c, start: now, participants: [{purpose: robot}]}]",
        )
        .unwrap_err();
        assert!(err.to_string().contains("purpose"), "{err}");
    }
}
