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

/// Declares [`Fixture`] and the form it is read in, which differ only in `behavior`: the
/// file names the switches it changes ([`BehaviorSpec`]), the fixture holds every switch
/// resolved against the `profile`.
macro_rules! fixture {
    ($( $(#[$meta:meta])* $field:ident: $ty:ty, )*) => {
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase", from = "FixtureFile")]
        pub struct Fixture {
            /// The set of [`Behavior`] switches to start from (`default` or `realistic`).
            pub profile: Profile,
            /// The profile's switches, with those the fixture names replaced.
            pub behavior: Behavior,
            $( $(#[$meta])* pub $field: $ty, )*
        }

        /// A fixture as written.
        #[derive(Debug, Clone, Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct FixtureFile {
            #[serde(default)]
            profile: Profile,
            #[serde(default)]
            behavior: BehaviorSpec,
            $( $(#[$meta])* $field: $ty, )*
        }

        impl From<FixtureFile> for Fixture {
            fn from(file: FixtureFile) -> Self {
                Self {
                    profile: file.profile,
                    behavior: Behavior::resolve(file.profile, file.behavior),
                    $( $field: file.$field, )*
                }
            }
        }
    };
}

fixture! {
    /// Returned by `GET /api/v2/organizations/me`.
    #[serde(default)]
    organization: Organization,
    /// Per-token request limit (Genesys default for client credentials: 300 per minute).
    /// `0` turns the limit off.
    #[serde(default = "default_requests_per_minute")]
    requests_per_minute: u32,
    /// Latency added to every `/api/v2` and `/oauth` response, in milliseconds (0 = none).
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    oauth_clients: Vec<OAuthClient>,
    #[serde(default)]
    divisions: Vec<NamedEntity>,
    #[serde(default)]
    presence_definitions: Vec<PresenceDefinition>,
    #[serde(default)]
    queues: Vec<QueueFixture>,
    #[serde(default)]
    skills: Vec<NamedEntity>,
    #[serde(default)]
    languages: Vec<NamedEntity>,
    #[serde(default)]
    roles: Vec<NamedEntity>,
    #[serde(default)]
    groups: Vec<NamedEntity>,
    /// Teams (`/api/v2/teams`); a user belongs to at most one (`User.team`).
    #[serde(default)]
    teams: Vec<NamedEntity>,
    /// Skill groups (`/api/v2/routing/skillgroups`).
    #[serde(default)]
    skill_groups: Vec<NamedEntity>,
    #[serde(default)]
    stations: Vec<StationFixture>,
    #[serde(default)]
    users: Vec<UserFixture>,
    #[serde(default)]
    conversations: Vec<ConversationFixture>,
    /// What depends on users elsewhere in the org: flows, alert rules, OAuth clients, recording
    /// policies, WFM seats, licences, numbers and phones (served by `impact`).
    #[serde(default)]
    impact: ImpactFixture,
    /// Managers, direct-routing backups, workitems and voicemail.
    #[serde(default)]
    handoff: HandoffFixture,
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

/// How close to the real service the emulator behaves: `default` keeps the behaviour the
/// emulator always had (switches off, no delays), `realistic` turns on every unkind behaviour
/// of [`Behavior`] with small delays. Explicit `behavior` entries override the profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "camelCase")]
pub enum Profile {
    #[default]
    Default,
    Realistic,
}

/// The delay the `realistic` profile gives each asynchronous change, in milliseconds: long
/// enough that an immediate re-read sees the old state, short enough to keep tests fast.
pub const REALISTIC_DELAY_MS: u64 = 50;

/// Declares [`Behavior`] once: each switch with its YAML name (camelCase of the field), its
/// type, its value in the `default` profile and in the `realistic` one. The macro also writes
/// the all-optional form read from YAML, so a fixture names only the switches it changes.
macro_rules! behavior {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident: $ty:ty = $default:expr, realistic $realistic:expr;
    )*) => {
        /// Switches for behaviour of the real service that is unkind to clients, unverified, or
        /// both (`docs/genesys-api.md` §12 lists the unverified points). Each documents its
        /// source; the crate README has the table. [`Profile`] picks a whole set.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase", from = "BehaviorSpec")]
        pub struct Behavior {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        /// [`Behavior`] as written in a fixture: every switch optional.
        #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct BehaviorSpec {
            $( #[serde(default)] pub $field: Option<$ty>, )*
        }

        impl Behavior {
            /// The `default` profile: the emulator as it always was.
            pub fn kind() -> Self {
                Self { $( $field: $default, )* }
            }

            /// The `realistic` profile: every unkind behaviour on, delays of
            /// [`REALISTIC_DELAY_MS`].
            pub fn realistic() -> Self {
                Self { $( $field: $realistic, )* }
            }

            /// A profile's switches with the ones `spec` names replaced.
            pub fn resolve(profile: Profile, spec: BehaviorSpec) -> Self {
                let base = Self::for_profile(profile);
                Self { $( $field: spec.$field.unwrap_or(base.$field), )* }
            }
        }
    };
}

behavior! {
    /// Whether `POST /users/search` without a `state` criterion also returns inactive users
    /// (§12.2). Deleted users are never returned unless a `state` criterion asks for them.
    search_includes_inactive_by_default: bool = true, realistic true;
    /// Largest interval, in days, accepted by the synchronous conversation details and
    /// aggregates queries (§12.3); longer intervals get a 400 `bad.request`.
    max_sync_interval_days: u32 = 31, realistic 31;
    /// Largest interval, in days, of a synchronous conversation details query that has neither
    /// `conversationFilters` nor `segmentFilters`; 0 applies `maxSyncIntervalDays` to every
    /// query. Unverified (§12.3), so both ways are served.
    max_sync_interval_days_unfiltered: u32 = 0, realistic 7;
    /// Whether `PUT /users/{id}/state` requires and checks `version` (§12.6).
    state_put_requires_version: bool = false, realistic false;
    /// How a version mismatch on `PATCH /users/{id}` is reported (§12.7).
    version_conflict: VersionConflictStyle = VersionConflictStyle::Conflict409,
        realistic VersionConflictStyle::Conflict409;
    /// Success status of the body-less DELETE/POST operations (§12.4).
    no_body_status: u16 = 204, realistic 204;
    /// Largest `pageSize` accepted by list and search calls (§12.1).
    max_page_size: u32 = 500, realistic 500;
    /// What a `pageSize` above the largest accepted gets: clamped to the largest, or a 400.
    /// Unverified (§12.1), so both ways are served. Queue members allow at most 100 (SDK
    /// `routing_api.get_routing_queue_members`: "Max value is 100").
    page_size_over_max: OverMax = OverMax::Clamp, realistic OverMax::Reject;
    /// Whether `GET /users/{id}/queues` lists memberships that come from a member group
    /// (§12.8).
    user_queues_include_group_memberships: bool = true, realistic true;
    /// Whether a membership that comes through one of the queue's `memberGroups` (`GROUP`,
    /// `TEAM` or `SKILLGROUP`, SDK `MemberGroup.type`) survives removing the user from the queue
    /// directly (`DELETE .../members/{id}`, `POST .../members?delete=true`). SDK
    /// `Queue.memberGroups`: "Queue membership will update to match group membership
    /// changes"; docs §6.4 infers it must be removed at the group. Unverified, so both ways.
    group_members_survive_direct_removal: bool = true, realistic true;
    /// Whether going inactive (or deleted) also removes role grants that come through a group;
    /// they come back on reactivation after `groupRolesReturnAfterMs`. Direct grants are
    /// removed either way and never come back (§10, from the help article "Set a user as
    /// inactive or active": only roles that come through groups return).
    deactivation_removes_group_roles: bool = false, realistic true;
    /// Delay after a reactivation before grants through groups return, in milliseconds.
    group_roles_return_after_ms: u64 = 0, realistic REALISTIC_DELAY_MS;
    /// Whether `GET /authorization/subjects/{id}` shows a grant that comes through a group with
    /// the group as `subjectId` (SDK `AuthzGrant.subjectId`; `authorization_api.
    /// get_authorization_subject`: subject "user or group", and `includeDuplicates` "Include
    /// multiple entries with the same role and division but different subjects"), and lists
    /// one grant per role and division unless `includeDuplicates=true`. Off: every grant shows
    /// the user as subject.
    group_grant_subject: bool = false, realistic true;
    /// `expand` values the user reads (`GET /users/{id}`, `GET /users`, `GET /users/query`)
    /// may leave out: SDK `users_api.get_user`, `expand`: "resolved with a best effort approach
    /// and not guaranteed to be returned".
    dropped_expands: Vec<String> = Vec::new(),
        realistic ["groups", "team", "authorization", "skills", "languages"]
            .map(String::from).to_vec();
    /// One answer in this many that asks for a dropped expand leaves it out (the first, then
    /// every `n`-th after it); 1 leaves it out of every answer.
    expand_drop_every: u32 = 2, realistic 2;
    /// Delay before a bulk `joined` change takes effect, in milliseconds (0 = at once): SDK
    /// `users_api.patch_user_queues` and `routing_api.patch_routing_queue_members`: "processed
    /// asynchronously and the response data may not reflect the final state". The answer shows
    /// the memberships as they were.
    queue_join_patch_delay_ms: u64 = 0, realistic REALISTIC_DELAY_MS;
    /// How long user search keeps showing a user as they were before a state change, in
    /// milliseconds (§8.3: Terraform waits up to 3 minutes for search to reflect a delete).
    search_index_lag_ms: u64 = 0, realistic REALISTIC_DELAY_MS;
    /// Whether a presence of system presence `Offline` also takes the user `OFF_QUEUE` (every
    /// other non-`OnQueue` presence does). Unverified, so both ways.
    offline_presence_sets_off_queue: bool = true, realistic false;
    /// Whether an OAuth client's `divisions` restrict it: calls on a user or queue in another
    /// division get 403 `not.authorized`, analytics rows of other divisions are left out (SDK
    /// `authorization_api.get_authorization_divisionspermitted_paged_me`; help article
    /// "Divisions overview": roles grant access per division).
    division_scoped_permissions: bool = false, realistic true;
    /// Whether `GET /users/{id}/routingstatus` of an unknown user answers `OFF_QUEUE` instead
    /// of 404 (SDK `RoutingStatus.status`: "A value of `OFF_QUEUE` will be returned if the
    /// specified user does not exist").
    unknown_user_routing_status_off_queue: bool = false, realistic true;
    /// Whether a `UserPresence` carries `sourceId` (SDK `UserPresence.source`: "Deprecated -
    /// The sourceID field should be used as a replacement").
    presence_source_id: bool = false, realistic true;
    /// Whether an entry of `PUT /users/presences/bulk` that names an unknown user fails the
    /// whole request with 404, nothing changed; off, the entry is left out of the answer and
    /// the others change. The SDK (`presence_api.put_users_presences_bulk`) says neither, so
    /// both ways.
    presence_bulk_fails_whole: bool = false, realistic true;
    /// Most entries one `PUT /users/presences/bulk` takes; more get a 400 (0: no limit). The
    /// SDK names no limit; the realistic profile assumes one.
    presence_bulk_max_entries: u32 = 0, realistic 50;
    /// Status polls of a details job answered `PENDING` after the first (`QUEUED`) and before
    /// `FULFILLED` (SDK `AsyncQueryStatus.state`: QUEUED, PENDING, ..., FULFILLED).
    details_job_pending_polls: u32 = 0, realistic 1;
    /// Paging drift in the synchronous details query (§7.1; Genesys developer blog "How the
    /// Analytics Conversation Details Query API Works": `totalHits` is approximate and records
    /// move between pages while data arrives, so a client paging through can see one twice
    /// and miss another). On: the second request for a page N ≥ 2 of one query (the same body
    /// apart from `paging`) finds the first record of page N moved to the end of page N − 1;
    /// the two swap places for good, and `totalHits` counts each record that moved twice.
    details_paging_drift: bool = false, realistic true;
    /// Late data (§7.1, §12): a conversation that has ended is missing from every details
    /// read (the query, the jobs, the single conversation) until this many milliseconds after
    /// its end, as a conversation that just ended can be (0 = at once).
    details_late_ms: u64 = 0, realistic REALISTIC_DELAY_MS;
}

impl Behavior {
    /// A profile's switches.
    pub fn for_profile(profile: Profile) -> Self {
        match profile {
            Profile::Default => Self::kind(),
            Profile::Realistic => Self::realistic(),
        }
    }
}

impl Default for Behavior {
    fn default() -> Self {
        Self::kind()
    }
}

impl From<BehaviorSpec> for Behavior {
    fn from(spec: BehaviorSpec) -> Self {
        Self::resolve(Profile::Default, spec)
    }
}

fn yes() -> bool {
    true
}

/// What a `pageSize` above the largest accepted gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OverMax {
    /// Served with the largest page size.
    #[default]
    Clamp,
    /// 400 `bad.request`.
    Reject,
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
    /// Divisions the client's roles are granted in; absent = every division. Enforced only
    /// with `behavior.divisionScopedPermissions`.
    #[serde(default)]
    pub divisions: Option<Vec<String>>,
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
    /// Groups, teams and skill groups whose members are queue members (`memberBy: group`): a
    /// group id, or `{id, type: GROUP | TEAM | SKILLGROUP}`.
    #[serde(default)]
    pub member_groups: Vec<MemberGroupRef>,
}

/// One of a queue's `memberGroups` (SDK `MemberGroup`: `id`, `type` of `TEAM`, `GROUP`,
/// `SKILLGROUP`). A bare id is a `GROUP`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "MemberGroupForm")]
pub struct MemberGroupRef {
    pub id: String,
    pub r#type: MemberGroupType,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MemberGroupType {
    #[default]
    Group,
    Team,
    Skillgroup,
}

impl MemberGroupType {
    /// `MemberGroup.type` on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Group => "GROUP",
            Self::Team => "TEAM",
            Self::Skillgroup => "SKILLGROUP",
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum MemberGroupForm {
    Id(String),
    Typed {
        id: String,
        #[serde(default)]
        r#type: MemberGroupType,
    },
}

impl From<MemberGroupForm> for MemberGroupRef {
    fn from(form: MemberGroupForm) -> Self {
        match form {
            MemberGroupForm::Id(id) => Self {
                id,
                r#type: MemberGroupType::Group,
            },
            MemberGroupForm::Typed { id, r#type } => Self { id, r#type },
        }
    }
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
    /// The team the user belongs to, if any (`User.team`).
    #[serde(default)]
    pub team: Option<String>,
    /// Skill group ids the user belongs to.
    #[serde(default)]
    pub skill_groups: Vec<String>,
    /// Whether the user holds live OAuth sessions (cleared by `DELETE /api/v2/tokens/{userId}`).
    #[serde(default = "yes")]
    pub has_sessions: bool,
    /// The user's own utilization, a `UtilizationRequest` body (`utilization` by media type,
    /// `maxInboundCalls`); absent: the organization's applies (`level: Organization`).
    #[serde(default)]
    pub utilization: Option<serde_json::Value>,
    /// The user's call forwarding, a `CallForwarding` body (`enabled`, `calls`, `voicemail`);
    /// absent: off.
    #[serde(default)]
    pub call_forwarding: Option<serde_json::Value>,
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
    /// Set when the role comes through this group (one of the user's groups): such grants
    /// survive deactivation, direct ones are removed (docs/genesys-api.md §10).
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
    /// The scheduled callback of a `callback` session.
    #[serde(default)]
    pub callback: Option<CallbackFixture>,
}

/// A scheduled callback: served by the analytics details (`agentOwned`, `scoredAgents`, ...)
/// and by `GET/PATCH /api/v2/conversations/callbacks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallbackFixture {
    /// Routed to the scored agent only (an agent-owned callback).
    #[serde(default)]
    pub agent_owned: bool,
    /// When the customer is called back, in the forms of `start`.
    #[serde(default)]
    pub scheduled_time: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub numbers: Vec<String>,
    /// The agents it is routed to (the owner of an agent-owned callback).
    #[serde(default)]
    pub scored_agent_ids: Vec<String>,
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
        Self::from_yaml_with_profile(text, None)
    }

    /// Reads a fixture with `profile` in place of the one it names (`sim --profile`); the
    /// switches it names under `behavior` still override the profile's.
    pub fn from_yaml_with_profile(
        text: &str,
        profile: Option<Profile>,
    ) -> Result<Self, FixtureError> {
        let mut file: FixtureFile = serde_yaml::from_str(text).map_err(FixtureError::Parse)?;
        if let Some(profile) = profile {
            file.profile = profile;
        }
        let fixture = Self::from(file);
        fixture.validate()?;
        Ok(fixture)
    }

    pub fn from_file(path: &Path) -> Result<Self, FixtureError> {
        Self::from_file_with_profile(path, None)
    }

    pub fn from_file_with_profile(
        path: &Path,
        profile: Option<Profile>,
    ) -> Result<Self, FixtureError> {
        let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml_with_profile(&text, profile)
    }

    /// The same organization with every switch of `profile` (replacing `behavior`).
    #[must_use]
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self.behavior = Behavior::for_profile(profile);
        self
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
        let (teams, skill_groups) = (ids(&self.teams), ids(&self.skill_groups));
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
            validate_groups(user, [&groups, &teams, &skill_groups])?;
        }
        self.validate_clients(&divisions)?;
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
        self.impact.validate(&user_ids)?;
        self.validate_queues(&divisions, [&groups, &teams, &skill_groups])
    }

    fn validate_clients(
        &self,
        divisions: &std::collections::HashSet<String>,
    ) -> Result<(), FixtureError> {
        for c in &self.oauth_clients {
            for d in c.divisions.iter().flatten() {
                if !divisions.contains(d) {
                    return Err(FixtureError::Invalid(format!(
                        "oauth client {}: unknown division {d}",
                        c.client_id
                    )));
                }
            }
        }
        Ok(())
    }

    fn validate_queues(
        &self,
        divisions: &std::collections::HashSet<String>,
        [groups, teams, skill_groups]: [&std::collections::HashSet<String>; 3],
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
                let (known, what) = match g.r#type {
                    MemberGroupType::Group => (groups, "group"),
                    MemberGroupType::Team => (teams, "team"),
                    MemberGroupType::Skillgroup => (skill_groups, "skill group"),
                };
                if !known.contains(&g.id) {
                    return Err(FixtureError::Invalid(format!(
                        "queue {}: unknown {what} {}",
                        q.id, g.id
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
        for e in &self.behavior.dropped_expands {
            check("behavior.droppedExpands entry", e, USER_EXPANDS)?;
        }
        if self.behavior.expand_drop_every == 0 {
            return Err(FixtureError::Invalid(
                "behavior.expandDropEvery must be at least 1".into(),
            ));
        }
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

/// A user's groups, team and skill groups are known ones.
fn validate_groups(
    user: &UserFixture,
    [groups, teams, skill_groups]: [&std::collections::HashSet<String>; 3],
) -> Result<(), FixtureError> {
    let known = [
        ("group", groups, user.groups.as_slice()),
        ("team", teams, user.team.as_slice()),
        ("skill group", skill_groups, user.skill_groups.as_slice()),
    ];
    for (what, catalogue, held) in known {
        if let Some(id) = held.iter().find(|id| !catalogue.contains(*id)) {
            return Err(FixtureError::Invalid(format!(
                "user {}: unknown {what} {id}",
                user.id
            )));
        }
    }
    Ok(())
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

/// The `expand` values accepted on user reads (docs/genesys-api.md §3.1, contract `get_user`).
pub const USER_EXPANDS: &[&str] = &[
    "routingStatus",
    "presence",
    "integrationPresence",
    "conversationSummary",
    "outOfOffice",
    "geolocation",
    "station",
    "authorization",
    "lasttokenissued",
    "authorization.unusedRoles",
    "team",
    "workPlanBidRanks",
    "externalContactsSettings",
    "groups",
    "customAttributes",
    "profileSkills",
    "certifications",
    "locations",
    "skills",
    "languages",
    "languagePreference",
    "employerInfo",
    "biography",
    "dateLastLogin",
    "dateWelcomeSent",
];

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

/// Objects elsewhere in the org that name users: what an offboarding's impact preflight reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImpactFixture {
    /// Architect flows; each consumes the users it names (dependency tracking, object type `USER`).
    #[serde(default)]
    pub flows: Vec<FlowFixture>,
    #[serde(default)]
    pub alert_rules: Vec<AlertRuleFixture>,
    /// OAuth clients as `GET /api/v2/oauth/clients` lists them (not the credentials the emulator
    /// accepts at `/oauth/token`, which are `oauthClients` at the top level).
    #[serde(default)]
    pub oauth_clients: Vec<OAuthClientEntityFixture>,
    #[serde(default)]
    pub retention_policies: Vec<RetentionPolicyFixture>,
    #[serde(default)]
    pub management_units: Vec<ManagementUnitFixture>,
    /// Licences per user id.
    #[serde(default)]
    pub licenses: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub dids: Vec<NumberFixture>,
    #[serde(default)]
    pub extensions: Vec<NumberFixture>,
    #[serde(default)]
    pub phones: Vec<PhoneFixture>,
}

/// The fixture's handoff section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HandoffFixture {
    /// Who manages whom.
    #[serde(default)]
    pub managers: Vec<ManagerFixture>,
    /// Users' direct-routing backup settings.
    #[serde(default)]
    pub direct_routing_backups: Vec<BackupFixture>,
    #[serde(default)]
    pub workitems: Vec<WorkitemFixture>,
    #[serde(default)]
    pub voicemail: Vec<VoicemailFixture>,
    /// Quality evaluations (pending ones are handed off).
    #[serde(default)]
    pub evaluations: Vec<EvaluationFixture>,
    /// Calibrations.
    #[serde(default)]
    pub calibrations: Vec<CalibrationFixture>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvaluationFixture {
    pub id: String,
    pub conversation_id: String,
    #[serde(default)]
    pub form: Option<NamedEntity>,
    pub evaluator_id: String,
    pub agent_id: String,
    /// Who is to do it now; the evaluator when absent.
    #[serde(default)]
    pub assignee_id: Option<String>,
    /// `PENDING`, `INPROGRESS`, `FINISHED`, `INREVIEW` or `RETRACTED`.
    #[serde(default = "pending")]
    pub status: String,
    #[serde(default)]
    pub calibration_id: Option<String>,
}

fn pending() -> String {
    "PENDING".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CalibrationFixture {
    pub id: String,
    pub conversation_id: String,
    pub calibrator_id: String,
    pub agent_id: String,
    #[serde(default)]
    pub evaluator_ids: Vec<String>,
    #[serde(default)]
    pub expert_evaluator_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowFixture {
    pub id: String,
    pub name: String,
    /// A dependency-tracking type (`INBOUNDCALLFLOW`, `INQUEUECALLFLOW`, ...).
    pub r#type: String,
    /// The flow's latest version, e.g. `"3.0"`.
    pub version: String,
    /// Published (else only checked in).
    #[serde(default = "yes")]
    pub published: bool,
    /// Users the flow consumes (transfers to, for example).
    pub users: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertRuleFixture {
    pub id: String,
    pub name: String,
    /// `CommonRule.type`: `ConversationMetrics`, `UserPresence`, `WorkforceManagement`, ...
    pub r#type: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// User ids notified (`notifications[].recipient`).
    pub recipients: Vec<String>,
    /// Relative or RFC 3339.
    pub date_created: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuthClientEntityFixture {
    pub id: String,
    pub name: String,
    /// `CLIENT-CREDENTIALS`, `CODE`, `TOKEN`, `SAML2-BEARER` or `PASSWORD`.
    pub authorized_grant_type: String,
    /// The user who created it.
    pub created_by: Option<String>,
    /// Relative or RFC 3339.
    pub date_created: String,
    #[serde(default = "active")]
    pub state: String,
}

fn active() -> String {
    "active".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionPolicyFixture {
    pub id: String,
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Users whose calls the policy covers (`conditions.forUsers`).
    #[serde(default)]
    pub for_users: Vec<String>,
    /// Evaluators it assigns evaluations to, with the form.
    #[serde(default)]
    pub evaluators: Vec<String>,
    pub evaluation_form: Option<NamedEntity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagerFixture {
    pub user_id: String,
    pub manager_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupFixture {
    pub user_id: String,
    #[serde(default)]
    pub backup_user_id: Option<String>,
    #[serde(default)]
    pub backup_queue_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkitemFixture {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub assignee_id: Option<String>,
    #[serde(default)]
    pub queue_id: Option<String>,
    #[serde(default = "open")]
    pub status_category: String,
}

fn open() -> String {
    "Open".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagementUnitFixture {
    pub id: String,
    pub business_unit_id: String,
    pub agents: Vec<String>,
}

/// A DID or an extension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NumberFixture {
    pub id: String,
    /// The E.164 number of a DID, the digits of an extension.
    pub number: String,
    /// The owner's id; with `ownerType: USER`, a user.
    pub owner: Option<String>,
    pub owner_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PhoneFixture {
    pub id: String,
    pub name: String,
    /// The user of a WebRTC phone.
    pub web_rtc_user: Option<String>,
    pub site: NamedEntity,
    pub phone_base_settings: NamedEntity,
}

impl ImpactFixture {
    /// Every user named must exist, every enum value must be one the API knows.
    fn validate(&self, users: &std::collections::HashSet<String>) -> Result<(), FixtureError> {
        let user = |what: &str, id: &str| {
            if users.contains(id) {
                Ok(())
            } else {
                Err(FixtureError::Invalid(format!("{what}: unknown user {id}")))
            }
        };
        let one_of = |what: &str, v: &str, allowed: &[&str]| {
            if allowed.contains(&v) {
                Ok(())
            } else {
                Err(FixtureError::Invalid(format!(
                    "{what}: {v} is not one of {}",
                    allowed.join(", ")
                )))
            }
        };
        for f in &self.flows {
            f.users.iter().try_for_each(|u| user(&f.id, u))?;
        }
        for r in &self.alert_rules {
            one_of(&r.id, &r.r#type, ALERT_RULE_TYPES)?;
            r.recipients.iter().try_for_each(|u| user(&r.id, u))?;
        }
        for c in &self.oauth_clients {
            one_of(
                &c.id,
                &c.authorized_grant_type,
                &[
                    "CODE",
                    "TOKEN",
                    "SAML2-BEARER",
                    "PASSWORD",
                    "CLIENT-CREDENTIALS",
                ],
            )?;
            one_of(&c.id, &c.state, &["active", "disabled", "inactive"])?;
            c.created_by.iter().try_for_each(|u| user(&c.id, u))?;
        }
        for p in &self.retention_policies {
            p.for_users
                .iter()
                .chain(&p.evaluators)
                .try_for_each(|u| user(&p.id, u))?;
        }
        for m in &self.management_units {
            m.agents.iter().try_for_each(|u| user(&m.id, u))?;
        }
        self.licenses.keys().try_for_each(|u| user("licenses", u))?;
        for n in self.dids.iter().chain(&self.extensions) {
            if let Some(t) = &n.owner_type {
                one_of(&n.id, t, &["USER", "PHONE", "IVR_CONFIG", "GROUP"])?;
                if t == "USER" {
                    n.owner.iter().try_for_each(|u| user(&n.id, u))?;
                }
            }
        }
        for p in &self.phones {
            p.web_rtc_user.iter().try_for_each(|u| user(&p.id, u))?;
        }
        Ok(())
    }
}

/// `CommonRule.type` values.
pub const ALERT_RULE_TYPES: &[&str] = &[
    "ConversationMetrics",
    "UserPresence",
    "WorkforceManagement",
    "OperationalConsole",
    "Anomaly",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VoicemailFixture {
    pub id: String,
    pub user_id: String,
    #[serde(default)]
    pub caller_address: Option<String>,
}
