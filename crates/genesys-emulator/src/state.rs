//! The in-memory organization built from a [`Fixture`]: users with their lifecycle state,
//! routing, presence, station, queue memberships, skills, languages and role grants, plus the
//! queues, catalogues and resolved conversations. Handlers mutate it under one lock.
//!
//! The lifecycle rules of docs/genesys-api.md §4, §5 and §10 live here: going inactive removes
//! directly granted roles (group grants stay, or leave and return after a reactivation, per
//! `behavior.deactivationRemovesGroupRoles`) and takes the user off queue; a soft delete also
//! moves the user to the Home division and clears stations and sessions.
//!
//! Changes the real service makes asynchronously are [`Pending`] effects with a due time;
//! [`Org::settle`] applies those that are due before each request is served, so no background
//! task is needed and a test that waits past the delay sees the change. Search reads users
//! through [`Org::search_view`], which keeps showing a user as they were before a state change
//! until `behavior.searchIndexLagMs` has passed.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::errors::ApiError;
use super::fixture::{
    Behavior, Fixture, FixtureError, MemberGroupType, NamedEntity, OAuthClient, Organization,
    PresenceDefinition, QueueFixture, StationFixture,
};
use super::time;

/// Id of the Home division generated when a fixture lists none.
pub const GENERATED_HOME_DIVISION: &str = "00000000-0000-4000-8000-0000000000d0";

pub use super::fixture::{ROUTING_STATUSES, SYSTEM_PRESENCES};

/// A user's lifecycle state (§2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UserState {
    Active,
    Inactive,
    Deleted,
}

impl UserState {
    pub const ALL: &[&str] = &["active", "inactive", "deleted"];

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Deleted => "deleted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingState {
    pub status: String,
    pub start_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceState {
    pub definition_id: String,
    pub message: Option<String>,
    pub modified_date: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stations {
    pub associated: Option<String>,
    pub associated_date: Option<DateTime<Utc>>,
    pub default: Option<String>,
    pub last_associated: Option<String>,
}

/// A queue membership. `direct` comes from the user being added to the queue, `viaGroup` from a
/// group, team or skill group listed in the queue's `memberGroups`; both can hold at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub queue_id: String,
    pub joined: bool,
    pub direct: bool,
    pub via_group: bool,
}

impl Membership {
    /// `memberBy`: `user` when added directly, `group` when only through a group.
    pub fn member_by(&self) -> &'static str {
        if self.direct { "user" } else { "group" }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Proficiency {
    pub id: String,
    pub proficiency: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    pub role_id: String,
    pub division_id: String,
    /// Set when the grant comes through a group: it survives deactivation.
    pub group_id: Option<String>,
    pub granted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChange {
    pub reason: Option<String>,
    pub date: DateTime<Utc>,
}

/// A span of a presence or routing status, for `POST /analytics/users/details/query`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    pub value: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// A stored user. Serialized as is by `GET /__sim/users/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub username: String,
    pub state: UserState,
    pub version: i64,
    pub division_id: String,
    pub department: Option<String>,
    pub title: Option<String>,
    pub preferred_name: Option<String>,
    pub acd_auto_answer: bool,
    pub manager_id: Option<String>,
    pub certifications: Vec<String>,
    pub profile_skills: Vec<String>,
    pub routing_status: RoutingState,
    pub presence: Option<PresenceState>,
    pub station: Stations,
    pub queues: Vec<Membership>,
    pub skills: Vec<Proficiency>,
    pub languages: Vec<Proficiency>,
    pub roles: Vec<Grant>,
    /// Grants through groups taken away by a deactivation, waiting for a reactivation
    /// (`behavior.deactivationRemovesGroupRoles`).
    pub suspended_group_roles: Vec<Grant>,
    pub groups: Vec<String>,
    pub team: Option<String>,
    pub skill_groups: Vec<String>,
    /// The user's own utilization (`UtilizationRequest` fields); `None`: the organization's.
    pub utilization: Option<serde_json::Value>,
    /// The user's call forwarding (`CallForwarding` fields `enabled`, `phoneNumber`, `calls`,
    /// `voicemail`).
    pub call_forwarding: serde_json::Value,
    /// Live OAuth sessions; cleared by `DELETE /api/v2/tokens/{userId}`.
    pub has_sessions: bool,
    pub sessions_revoked_at: Option<DateTime<Utc>>,
    pub last_token_issued: Option<DateTime<Utc>>,
    pub state_change: Option<StateChange>,
    pub presence_history: Vec<Span>,
    pub routing_history: Vec<Span>,
}

impl User {
    pub fn is_deleted(&self) -> bool {
        self.state == UserState::Deleted
    }

    pub fn membership(&self, queue_id: &str) -> Option<&Membership> {
        self.queues.iter().find(|m| m.queue_id == queue_id)
    }

    /// Sets the routing status; a change starts a new span.
    pub fn set_routing_status(&mut self, status: &str, now: DateTime<Utc>) {
        if self.routing_status.status == status {
            return;
        }
        self.routing_status = RoutingState {
            status: status.to_owned(),
            start_time: now,
        };
        push_span(&mut self.routing_history, status, now);
    }

    /// Sets the presence; a change of definition starts a new span.
    pub fn set_presence(
        &mut self,
        definition_id: &str,
        message: Option<String>,
        now: DateTime<Utc>,
    ) {
        let changed = self
            .presence
            .as_ref()
            .is_none_or(|p| p.definition_id != definition_id);
        let message = message.or_else(|| self.presence.as_ref().and_then(|p| p.message.clone()));
        self.presence = Some(PresenceState {
            definition_id: definition_id.to_owned(),
            message,
            modified_date: now,
        });
        if changed {
            push_span(&mut self.presence_history, definition_id, now);
        }
    }
}

/// Call forwarding as a user starts with it: off, voicemail in Genesys Cloud.
pub fn forwarding_off() -> serde_json::Value {
    serde_json::json!({"enabled": false, "calls": [], "voicemail": "PURECLOUD"})
}

fn push_span(history: &mut Vec<Span>, value: &str, now: DateTime<Utc>) {
    if let Some(last) = history.last_mut()
        && last.end.is_none()
    {
        last.end = Some(now);
    }
    history.push(Span {
        value: value.to_owned(),
        start: now,
        end: None,
    });
}

/// A conversation with its times resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub originating_direction: String,
    pub division_ids: Vec<String>,
    pub participants: Vec<Participant>,
}

impl Conversation {
    /// The conversation as it stands at `now`. A fixture time after `now` has not happened yet:
    /// before its start the conversation is not there at all (`None`); an `end` after `now`
    /// leaves it ongoing (no end, so no `conversationEnd`), and likewise for segment ends;
    /// segments that start after `now` are left out (with the sessions and participants that
    /// only hold such segments). So `end: now+30s` is a call that ends by itself 30 s after the
    /// emulator started.
    pub fn as_of(&self, now: DateTime<Utc>) -> Option<Cow<'_, Conversation>> {
        if self.start > now {
            return None;
        }
        let future = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t > now);
        let settled = !future(self.end)
            && self.participants.iter().all(|p| {
                p.sessions.iter().all(|s| {
                    s.segments
                        .iter()
                        .all(|seg| seg.start <= now && !future(seg.end))
                })
            });
        if settled {
            return Some(Cow::Borrowed(self));
        }
        let begun =
            |s: &Session| s.segments.is_empty() || s.segments.iter().any(|g| g.start <= now);
        let mut c = self.clone();
        if future(c.end) {
            c.end = None;
        }
        c.participants
            .retain(|p| p.sessions.is_empty() || p.sessions.iter().any(begun));
        for p in &mut c.participants {
            p.sessions.retain(begun);
            for s in &mut p.sessions {
                s.segments.retain(|seg| seg.start <= now);
                for seg in &mut s.segments {
                    if future(seg.end) {
                        seg.end = None;
                    }
                }
            }
        }
        Some(Cow::Owned(c))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Participant {
    pub id: String,
    pub purpose: String,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub sessions: Vec<Session>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub media_type: String,
    pub direction: String,
    pub segments: Vec<Segment>,
    /// The scheduled callback a `callback` session holds.
    pub callback: Option<CallbackSession>,
}

/// A scheduled callback (`AnalyticsSession.agentOwned`, `callbackScheduledTime`,
/// `callbackUserName`, `callbackNumbers`; `AnalyticsConversationSegment.scoredAgents`).
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackSession {
    /// Agent-owned: routed to the scored agent only.
    pub agent_owned: bool,
    pub scheduled: Option<DateTime<Utc>>,
    pub user_name: Option<String>,
    pub numbers: Vec<String>,
    /// The agents the callback is routed to (the owner of an agent-owned callback).
    pub scored_agent_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub segment_type: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub queue_id: Option<String>,
    pub wrap_up_code: Option<String>,
}

impl Segment {
    pub fn duration_ms(&self) -> Option<i64> {
        self.end.map(|e| (e - self.start).num_milliseconds())
    }
}

/// A submitted conversation details job (`POST /analytics/conversations/details/jobs`). Kept
/// with the organization, which owns all state a reset clears.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    /// Indexes into `Org::conversations`, in result order.
    pub results: Vec<usize>,
    pub submitted: DateTime<Utc>,
    pub polls: u32,
    pub completed: Option<DateTime<Utc>>,
}

/// How the pages of one details query have drifted (`behavior.detailsPagingDrift`). Kept with
/// the organization, which owns all state a reset clears.
#[derive(Debug, Clone, Default)]
pub struct PagingDrift {
    /// Requests so far for each page number from 2 on.
    pub reads: BTreeMap<usize, u32>,
    /// Conversation ids that swapped places across a page boundary, in the order they did.
    pub swaps: Vec<(String, String)>,
}

impl Job {
    /// `AsyncQueryStatus.state`: `QUEUED` until polled twice, `PENDING` until completed.
    pub fn state(&self) -> &'static str {
        if self.completed.is_some() {
            "FULFILLED"
        } else if self.polls > 1 {
            "PENDING"
        } else {
            "QUEUED"
        }
    }
}

/// A change the real service makes some time after the request that causes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub due: DateTime<Utc>,
    pub effect: Effect,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A bulk `joined` PATCH taking effect.
    Join {
        user_id: String,
        queue_id: String,
        joined: bool,
    },
    /// Grants through groups returning after a reactivation (while the user is still active).
    GroupRolesReturn { user_id: String },
}

/// The organization the emulator serves.
#[derive(Debug, Clone)]
pub struct Org {
    pub organization: Organization,
    pub behavior: Behavior,
    pub requests_per_minute: u32,
    pub epoch: DateTime<Utc>,
    pub clients: Vec<OAuthClient>,
    pub divisions: Vec<NamedEntity>,
    pub home_division: String,
    pub presence_definitions: Vec<PresenceDefinition>,
    pub queues: Vec<QueueFixture>,
    pub skills: Vec<NamedEntity>,
    pub languages: Vec<NamedEntity>,
    pub roles: Vec<NamedEntity>,
    pub groups: Vec<NamedEntity>,
    pub teams: Vec<NamedEntity>,
    pub skill_groups: Vec<NamedEntity>,
    pub stations: Vec<StationFixture>,
    pub users: Vec<User>,
    user_index: HashMap<String, usize>,
    pub conversations: Vec<Conversation>,
    pub jobs: BTreeMap<String, Job>,
    /// Per details query (its body without `paging`), how its pages have drifted
    /// (`behavior.detailsPagingDrift`).
    pub paging_drift: BTreeMap<String, PagingDrift>,
    /// Asynchronous changes not applied yet, oldest first.
    pub pending: Vec<Pending>,
    /// Users as search still shows them, until the due time (`behavior.searchIndexLagMs`).
    pub stale_search: HashMap<String, (User, DateTime<Utc>)>,
    /// User read answers that asked for an expand of `behavior.droppedExpands` so far.
    pub expand_answers: u64,
    /// What names users elsewhere in the org (flows, alert rules, ...); read-only.
    pub impact: super::fixture::ImpactFixture,
    /// Direct-routing backups, workitems and voicemail (the work a departing agent hands off).
    pub handoff: HandoffState,
    /// Each group's version, 1 at the start and one more with every membership change
    /// (`Group.version`, sent back with `POST /groups/{id}/members`).
    pub group_versions: BTreeMap<String, i64>,
}

impl Org {
    /// Builds the organization; relative fixture times resolve against `epoch`.
    pub fn from_fixture(fixture: &Fixture, epoch: DateTime<Utc>) -> Result<Self, FixtureError> {
        fixture.validate()?;
        let mut divisions = fixture.divisions.clone();
        if divisions.is_empty() {
            divisions.push(NamedEntity {
                id: GENERATED_HOME_DIVISION.into(),
                name: "Home".into(),
            });
        }
        let home_division = divisions
            .iter()
            .find(|d| d.name == "Home")
            .unwrap_or(&divisions[0])
            .id
            .clone();
        let presence_definitions = if fixture.presence_definitions.is_empty() {
            SYSTEM_PRESENCES
                .iter()
                .enumerate()
                .map(|(i, p)| PresenceDefinition {
                    id: format!("00000000-0000-4000-8000-0000000001{i:02x}"),
                    system_presence: (*p).to_owned(),
                    r#type: "System".into(),
                    label: None,
                    deactivated: false,
                })
                .collect()
        } else {
            fixture.presence_definitions.clone()
        };
        let mut org = Self {
            organization: fixture.organization.clone(),
            behavior: fixture.behavior.clone(),
            requests_per_minute: fixture.requests_per_minute,
            epoch,
            clients: fixture.oauth_clients.clone(),
            divisions,
            home_division,
            presence_definitions,
            queues: fixture.queues.clone(),
            skills: fixture.skills.clone(),
            languages: fixture.languages.clone(),
            roles: fixture.roles.clone(),
            groups: fixture.groups.clone(),
            teams: fixture.teams.clone(),
            skill_groups: fixture.skill_groups.clone(),
            stations: fixture.stations.clone(),
            users: Vec::new(),
            user_index: HashMap::new(),
            conversations: Vec::new(),
            jobs: BTreeMap::new(),
            paging_drift: BTreeMap::new(),
            pending: Vec::new(),
            stale_search: HashMap::new(),
            expand_answers: 0,
            impact: fixture.impact.clone(),
            handoff: HandoffState::from_fixture(&fixture.handoff, epoch),
            group_versions: fixture.groups.iter().map(|g| (g.id.clone(), 1)).collect(),
        };
        for u in &fixture.users {
            let user = org.build_user(u, epoch);
            org.user_index.insert(user.id.clone(), org.users.len());
            org.users.push(user);
        }
        for m in &fixture.handoff.managers {
            if let Some(user) = org.user_mut(&m.user_id) {
                user.manager_id = Some(m.manager_id.clone());
            }
        }
        for c in &fixture.conversations {
            let conversation = org.build_conversation(c, epoch)?;
            org.conversations.push(conversation);
        }
        Ok(org)
    }

    /// Direct and group memberships of a fixture user: explicit `memberBy: group` entries plus
    /// the queues whose `memberGroups` hold one of the user's groups, their team or one of
    /// their skill groups.
    fn memberships(&self, u: &super::fixture::UserFixture) -> Vec<Membership> {
        let mut queues: Vec<Membership> = Vec::new();
        for m in &u.queues {
            let direct = m.member_by == "user";
            if let Some(existing) = queues.iter_mut().find(|e| e.queue_id == m.queue_id) {
                existing.direct |= direct;
                existing.via_group |= !direct;
            } else {
                queues.push(Membership {
                    queue_id: m.queue_id.clone(),
                    joined: m.joined,
                    direct,
                    via_group: !direct,
                });
            }
        }
        let belongs = |g: &super::fixture::MemberGroupRef| match g.r#type {
            MemberGroupType::Group => u.groups.contains(&g.id),
            MemberGroupType::Team => u.team.as_ref() == Some(&g.id),
            MemberGroupType::Skillgroup => u.skill_groups.contains(&g.id),
        };
        for q in &self.queues {
            if q.member_groups.iter().any(belongs) {
                if let Some(existing) = queues.iter_mut().find(|e| e.queue_id == q.id) {
                    existing.via_group = true;
                } else {
                    queues.push(Membership {
                        queue_id: q.id.clone(),
                        joined: true,
                        direct: false,
                        via_group: true,
                    });
                }
            }
        }
        queues
    }

    fn build_user(&self, u: &super::fixture::UserFixture, epoch: DateTime<Utc>) -> User {
        let state = UserState::parse(&u.state).unwrap_or(UserState::Active);
        let division_id = u
            .division_id
            .clone()
            .unwrap_or_else(|| self.home_division.clone());
        let presence = u
            .presence
            .as_deref()
            .and_then(|p| self.presence_by_id_or_system(p))
            .or_else(|| self.presence_by_id_or_system("Offline"))
            .map(|d| PresenceState {
                definition_id: d.id.clone(),
                message: None,
                modified_date: epoch,
            });
        let queues = self.memberships(u);
        let granted_at = epoch - TimeDelta::days(30);
        let roles = u
            .roles
            .iter()
            .map(|r| Grant {
                role_id: r.role_id.clone(),
                division_id: r.division_id.clone().unwrap_or_else(|| division_id.clone()),
                group_id: r.group_id.clone(),
                granted_at,
            })
            .collect();
        let routing_status = RoutingState {
            status: u.routing_status.clone(),
            start_time: epoch,
        };
        let span = |value: &str| Span {
            value: value.to_owned(),
            start: epoch,
            end: None,
        };
        User {
            id: u.id.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
            username: u.username.clone().unwrap_or_else(|| u.email.clone()),
            state,
            version: u.version,
            division_id,
            department: u.department.clone(),
            title: u.title.clone(),
            preferred_name: None,
            acd_auto_answer: false,
            manager_id: None,
            certifications: Vec::new(),
            profile_skills: Vec::new(),
            routing_history: vec![span(&u.routing_status)],
            presence_history: presence
                .as_ref()
                .map(|p| vec![span(&p.definition_id)])
                .unwrap_or_default(),
            routing_status,
            presence,
            station: Stations {
                associated: u.station.associated.clone(),
                associated_date: u
                    .station
                    .associated
                    .as_ref()
                    .map(|_| epoch - TimeDelta::hours(1)),
                default: u.station.default.clone(),
                last_associated: None,
            },
            queues,
            skills: u
                .skills
                .iter()
                .map(|s| Proficiency {
                    id: s.id.clone(),
                    proficiency: s.proficiency,
                })
                .collect(),
            languages: u
                .languages
                .iter()
                .map(|s| Proficiency {
                    id: s.id.clone(),
                    proficiency: s.proficiency,
                })
                .collect(),
            roles,
            suspended_group_roles: Vec::new(),
            groups: u.groups.clone(),
            team: u.team.clone(),
            skill_groups: u.skill_groups.clone(),
            utilization: u.utilization.clone(),
            call_forwarding: u.call_forwarding.clone().unwrap_or_else(forwarding_off),
            has_sessions: u.has_sessions,
            sessions_revoked_at: None,
            last_token_issued: u.has_sessions.then(|| epoch - TimeDelta::hours(2)),
            state_change: None,
        }
    }

    fn build_conversation(
        &self,
        c: &super::fixture::ConversationFixture,
        epoch: DateTime<Utc>,
    ) -> Result<Conversation, FixtureError> {
        let at = |text: &str| {
            time::resolve(text, epoch)
                .map_err(|e| FixtureError::Invalid(format!("conversation {}: {e}", c.id)))
        };
        let start = at(&c.start)?;
        let end = c.end.as_deref().map(at).transpose()?;
        let mut participants = Vec::new();
        for (pi, p) in c.participants.iter().enumerate() {
            let mut sessions = Vec::new();
            if p.sessions.is_empty() {
                sessions.push(Session {
                    id: stable_uuid(&[&c.id, "session", &pi.to_string(), "0"]),
                    media_type: "voice".into(),
                    direction: c.originating_direction.clone(),
                    segments: vec![Segment {
                        segment_type: "interact".into(),
                        start,
                        end,
                        queue_id: None,
                        wrap_up_code: None,
                    }],
                    callback: None,
                });
            }
            for (si, s) in p.sessions.iter().enumerate() {
                let mut segments = Vec::new();
                for seg in &s.segments {
                    segments.push(Segment {
                        segment_type: seg.segment_type.clone(),
                        start: at(&seg.start)?,
                        end: seg.end.as_deref().map(at).transpose()?,
                        queue_id: seg.queue_id.clone(),
                        wrap_up_code: seg.wrap_up_code.clone(),
                    });
                }
                let callback = match &s.callback {
                    Some(cb) => Some(CallbackSession {
                        agent_owned: cb.agent_owned,
                        scheduled: cb.scheduled_time.as_deref().map(at).transpose()?,
                        user_name: cb.user_name.clone(),
                        numbers: cb.numbers.clone(),
                        scored_agent_ids: cb.scored_agent_ids.clone(),
                    }),
                    None => None,
                };
                sessions.push(Session {
                    id: stable_uuid(&[&c.id, "session", &pi.to_string(), &si.to_string()]),
                    media_type: s.media_type.clone(),
                    direction: c.originating_direction.clone(),
                    segments,
                    callback,
                });
            }
            participants.push(Participant {
                id: stable_uuid(&[&c.id, "participant", &pi.to_string()]),
                purpose: p.purpose.clone(),
                user_id: p.user_id.clone(),
                name: p.name.clone(),
                sessions,
            });
        }
        let division_ids = if c.division_ids.is_empty() {
            let mut ids: Vec<String> = participants
                .iter()
                .filter_map(|p| p.user_id.as_deref())
                .filter_map(|id| self.user(id))
                .map(|u| u.division_id.clone())
                .collect();
            ids.dedup();
            if ids.is_empty() {
                ids.push(self.home_division.clone());
            }
            ids
        } else {
            c.division_ids.clone()
        };
        Ok(Conversation {
            id: c.id.clone(),
            start,
            end,
            originating_direction: c.originating_direction.clone(),
            division_ids,
            participants,
        })
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.user_index.get(id).map(|i| &self.users[*i])
    }

    pub fn user_mut(&mut self, id: &str) -> Option<&mut User> {
        self.user_index.get(id).map(|i| &mut self.users[*i])
    }

    /// After a change of the user's groups or team: each queue whose member groups name a
    /// group, team or skill group the user now belongs to holds them through a group (joined,
    /// when they were not a member at all), and a queue that names none of them no longer does
    /// (a membership left with neither a direct nor a group reason goes).
    pub fn follow_member_groups(&mut self, user_id: &str) {
        let Some(index) = self.user_index.get(user_id).copied() else {
            return;
        };
        let user = &self.users[index];
        let belongs = |g: &super::fixture::MemberGroupRef| match g.r#type {
            MemberGroupType::Group => user.groups.contains(&g.id),
            MemberGroupType::Team => user.team.as_ref() == Some(&g.id),
            MemberGroupType::Skillgroup => user.skill_groups.contains(&g.id),
        };
        let through: Vec<(String, bool)> = self
            .queues
            .iter()
            .map(|q| (q.id.clone(), q.member_groups.iter().any(belongs)))
            .collect();
        let user = &mut self.users[index];
        for (queue_id, via) in through {
            match user.queues.iter_mut().find(|m| m.queue_id == queue_id) {
                Some(m) => m.via_group = via,
                None if via => user.queues.push(Membership {
                    queue_id,
                    joined: true,
                    direct: false,
                    via_group: true,
                }),
                None => {}
            }
        }
        user.queues.retain(|m| m.direct || m.via_group);
    }

    /// A user that is not deleted, else 404 `not.found`.
    pub fn live_user(&self, id: &str) -> Result<&User, ApiError> {
        self.user(id)
            .filter(|u| !u.is_deleted())
            .ok_or_else(|| ApiError::not_found("User", id))
    }

    pub fn live_user_mut(&mut self, id: &str) -> Result<&mut User, ApiError> {
        self.user_mut(id)
            .filter(|u| !u.is_deleted())
            .ok_or_else(|| ApiError::not_found("User", id))
    }

    pub fn division(&self, id: &str) -> Option<&NamedEntity> {
        self.divisions.iter().find(|d| d.id == id)
    }

    pub fn queue(&self, id: &str) -> Option<&QueueFixture> {
        self.queues.iter().find(|q| q.id == id)
    }

    pub fn station(&self, id: &str) -> Option<&StationFixture> {
        self.stations.iter().find(|s| s.id == id)
    }

    pub fn presence_definition(&self, id: &str) -> Option<&PresenceDefinition> {
        self.presence_definitions.iter().find(|p| p.id == id)
    }

    /// A definition by id, or the first active one with that system presence.
    pub fn presence_by_id_or_system(&self, key: &str) -> Option<&PresenceDefinition> {
        self.presence_definition(key).or_else(|| {
            self.presence_definitions
                .iter()
                .filter(|p| p.system_presence == key)
                .min_by_key(|p| p.deactivated)
        })
    }

    pub fn client(&self, client_id: &str) -> Option<&OAuthClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// Moves a user to a lifecycle state with its side effects (§10): going inactive removes
    /// direct role grants (and, per `behavior.deactivationRemovesGroupRoles`, the group ones
    /// until a reactivation) and takes the user off queue; deleting also moves them to Home,
    /// clears stations and sessions. Reactivating restores no direct grant. Bumps `version`.
    pub fn change_state(
        &mut self,
        id: &str,
        to: UserState,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let home = self.home_division.clone();
        let offline = self
            .presence_by_id_or_system("Offline")
            .map(|d| d.id.clone());
        let (lag_ms, removes_group_roles, return_after_ms) = (
            self.behavior.search_index_lag_ms,
            self.behavior.deactivation_removes_group_roles,
            self.behavior.group_roles_return_after_ms,
        );
        let was = self
            .user(id)
            .ok_or_else(|| ApiError::not_found("User", id))?
            .state;
        if was != to && lag_ms > 0 {
            // The index shows the user as last indexed until it catches up with this change.
            let stale = match self.stale_search.remove(id) {
                Some((indexed, _)) => Some(indexed),
                None => self.user(id).cloned(),
            };
            if let Some(stale) = stale {
                self.stale_search
                    .insert(id.to_owned(), (stale, now + millis(lag_ms)));
            }
        }
        if to != UserState::Active && was == UserState::Active {
            self.pending.retain(
                |p| !matches!(&p.effect, Effect::GroupRolesReturn { user_id } if user_id == id),
            );
        }
        let user = self
            .user_mut(id)
            .ok_or_else(|| ApiError::not_found("User", id))?;
        if to != UserState::Active && user.state != to {
            let (group, _direct): (Vec<Grant>, Vec<Grant>) =
                user.roles.drain(..).partition(|g| g.group_id.is_some());
            if removes_group_roles {
                user.suspended_group_roles.extend(group);
            } else {
                user.roles = group;
            }
            user.set_routing_status("OFF_QUEUE", now);
        }
        let returning = to == UserState::Active
            && user.state != UserState::Active
            && !user.suspended_group_roles.is_empty();
        if to == UserState::Deleted && user.state != UserState::Deleted {
            user.division_id = home;
            if user.station.associated.is_some() {
                user.station.last_associated = user.station.associated.take();
            }
            user.station.associated_date = None;
            user.station.default = None;
            user.has_sessions = false;
            user.sessions_revoked_at = Some(now);
            if let Some(offline) = offline {
                user.set_presence(&offline, None, now);
            }
        }
        user.state = to;
        user.version += 1;
        if returning {
            self.schedule(
                now + millis(return_after_ms),
                Effect::GroupRolesReturn {
                    user_id: id.to_owned(),
                },
                now,
            );
        }
        Ok(())
    }

    /// Queues an asynchronous change; one already due is applied at once.
    pub fn schedule(&mut self, due: DateTime<Utc>, effect: Effect, now: DateTime<Utc>) {
        self.pending.push(Pending { due, effect });
        self.settle(now);
    }

    /// Applies the pending changes due by `now` (oldest first) and lets search catch up with
    /// state changes older than its lag.
    pub fn settle(&mut self, now: DateTime<Utc>) {
        self.stale_search.retain(|_, (_, due)| *due > now);
        if self.pending.iter().all(|p| p.due > now) {
            return;
        }
        let (due, later): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.due <= now);
        self.pending = later;
        let mut due = due;
        due.sort_by_key(|p| p.due);
        for p in due {
            self.apply(p);
        }
    }

    fn apply(&mut self, pending: Pending) {
        match pending.effect {
            Effect::Join {
                user_id,
                queue_id,
                joined,
            } => {
                if let Some(m) = self
                    .user_mut(&user_id)
                    .and_then(|u| u.queues.iter_mut().find(|m| m.queue_id == queue_id))
                {
                    m.joined = joined;
                }
            }
            Effect::GroupRolesReturn { user_id } => {
                if let Some(user) = self
                    .user_mut(&user_id)
                    .filter(|u| u.state == UserState::Active)
                {
                    let returned = std::mem::take(&mut user.suspended_group_roles);
                    user.roles.extend(returned.into_iter().map(|g| Grant {
                        granted_at: pending.due,
                        ..g
                    }));
                }
            }
        }
    }

    /// The user as search shows them: as they were before a state change the index has not
    /// caught up with yet, else as they are.
    pub fn search_view<'u>(&'u self, user: &'u User) -> &'u User {
        self.stale_search
            .get(&user.id)
            .map_or(user, |(stale, _)| stale)
    }

    /// The divisions a client may act in, when `behavior.divisionScopedPermissions` is on and
    /// the client lists some; `None` means every division.
    pub fn client_divisions(&self, client_id: &str) -> Option<&[String]> {
        if !self.behavior.division_scoped_permissions {
            return None;
        }
        self.client(client_id).and_then(|c| c.divisions.as_deref())
    }

    /// A queue's division (Home when the fixture names none).
    pub fn queue_division<'q>(&'q self, queue: &'q QueueFixture) -> &'q str {
        queue.division_id.as_deref().unwrap_or(&self.home_division)
    }

    /// Home-first division list entry of a user, for rendering.
    pub fn division_or_home(&self, id: &str) -> NamedEntity {
        self.division(id)
            .or_else(|| self.division(&self.home_division))
            .cloned()
            .unwrap_or(NamedEntity {
                id: id.to_owned(),
                name: "Home".into(),
            })
    }
}

/// A delay in milliseconds as a `TimeDelta`.
pub fn millis(ms: u64) -> TimeDelta {
    i64::try_from(ms)
        .ok()
        .and_then(TimeDelta::try_milliseconds)
        .unwrap_or(TimeDelta::MAX)
}

/// A stable UUID-shaped id derived from some parts (participant and session ids stay the
/// same across pages, queries and resets).
pub fn stable_uuid(parts: &[&str]) -> String {
    let mut a = DefaultHasher::new();
    let mut b = DefaultHasher::new();
    parts.hash(&mut a);
    ("salt", parts).hash(&mut b);
    let bits = (u128::from(a.finish()) << 64) | u128::from(b.finish());
    uuid::Builder::from_u128(bits)
        .with_variant(uuid::Variant::RFC4122)
        .with_version(uuid::Version::Random)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    fn segment(kind: &str, start: i64, end: Option<i64>) -> Segment {
        Segment {
            segment_type: kind.into(),
            start: t(start),
            end: end.map(t),
            queue_id: None,
            wrap_up_code: None,
        }
    }

    /// A call from 0 s to 60 s: talk until 50 s, wrap-up from 50 s to 60 s.
    fn call() -> Conversation {
        Conversation {
            id: "c".into(),
            start: t(0),
            end: Some(t(60)),
            originating_direction: "inbound".into(),
            division_ids: Vec::new(),
            participants: vec![Participant {
                id: "p".into(),
                purpose: "agent".into(),
                user_id: Some("u".into()),
                name: None,
                sessions: vec![Session {
                    id: "s".into(),
                    media_type: "voice".into(),
                    direction: "inbound".into(),
                    segments: vec![
                        segment("interact", 0, Some(50)),
                        segment("wrapup", 50, Some(60)),
                    ],
                    callback: None,
                }],
            }],
        }
    }

    #[test]
    fn a_conversation_whose_end_is_still_to_come_is_ongoing() {
        let call = call();

        let during = call.as_of(t(30)).unwrap();

        assert_eq!(during.end, None);
        let segments = &during.participants[0].sessions[0].segments;
        assert_eq!(segments.len(), 1, "the wrap-up has not begun");
        assert_eq!(segments[0].end, None);
    }

    #[test]
    fn once_its_end_has_passed_a_conversation_is_shown_as_stored() {
        let call = call();

        let after = call.as_of(t(60)).unwrap();

        assert!(matches!(after, Cow::Borrowed(_)));
        assert_eq!(*after, call);
    }

    #[test]
    fn a_conversation_that_has_not_started_is_not_there() {
        assert!(call().as_of(t(-1)).is_none());
    }
}

/// A direct-routing backup setting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backup {
    pub user_id: Option<String>,
    pub queue_id: Option<String>,
    pub wait_for_agent: Option<bool>,
    pub agent_wait_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkitemState {
    pub id: String,
    pub name: String,
    pub assignee_id: Option<String>,
    pub queue_id: Option<String>,
    pub status_category: String,
    pub modified: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VoicemailState {
    pub id: String,
    pub user_id: String,
    pub caller_address: Option<String>,
    pub created: DateTime<Utc>,
    pub copied_from: Option<String>,
    /// (user id, when) of each copy made.
    pub copied_to: Vec<(String, DateTime<Utc>)>,
}

/// A quality evaluation (`Evaluation`).
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationState {
    pub id: String,
    pub conversation_id: String,
    pub form: Option<(String, String)>,
    pub evaluator_id: String,
    pub agent_id: String,
    /// Who is to do it now (the evaluator, unless reassigned).
    pub assignee_id: Option<String>,
    /// `PENDING`, `INPROGRESS`, `FINISHED`, `INREVIEW` or `RETRACTED`.
    pub status: String,
    /// The calibration it belongs to, if any.
    pub calibration_id: Option<String>,
    pub version: i64,
    pub assigned: DateTime<Utc>,
    pub changed: DateTime<Utc>,
    pub assignee_changed: Option<DateTime<Utc>>,
}

/// A calibration (`Calibration`): its evaluations are those whose `calibration_id` names it.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationState {
    pub id: String,
    pub conversation_id: String,
    pub calibrator_id: String,
    pub agent_id: String,
    pub evaluator_ids: Vec<String>,
    pub expert_evaluator_id: Option<String>,
    pub created: DateTime<Utc>,
}

/// The organization's handoff-related state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HandoffState {
    pub backups: BTreeMap<String, Backup>,
    pub workitems: Vec<WorkitemState>,
    pub voicemail: Vec<VoicemailState>,
    /// Voicemail copies made so far (their ids).
    pub copies: u64,
    pub evaluations: Vec<EvaluationState>,
    pub calibrations: Vec<CalibrationState>,
}

impl HandoffState {
    pub fn from_fixture(fixture: &super::fixture::HandoffFixture, epoch: DateTime<Utc>) -> Self {
        Self {
            backups: fixture
                .direct_routing_backups
                .iter()
                .map(|b| {
                    (
                        b.user_id.clone(),
                        Backup {
                            user_id: b.backup_user_id.clone(),
                            queue_id: b.backup_queue_id.clone(),
                            wait_for_agent: Some(false),
                            agent_wait_seconds: Some(30),
                        },
                    )
                })
                .collect(),
            workitems: fixture
                .workitems
                .iter()
                .map(|w| WorkitemState {
                    id: w.id.clone(),
                    name: w.name.clone(),
                    assignee_id: w.assignee_id.clone(),
                    queue_id: w.queue_id.clone(),
                    status_category: w.status_category.clone(),
                    modified: epoch,
                })
                .collect(),
            voicemail: fixture
                .voicemail
                .iter()
                .map(|v| VoicemailState {
                    id: v.id.clone(),
                    user_id: v.user_id.clone(),
                    caller_address: v.caller_address.clone(),
                    created: epoch - chrono::TimeDelta::hours(2),
                    copied_from: None,
                    copied_to: Vec::new(),
                })
                .collect(),
            copies: 0,
            evaluations: fixture
                .evaluations
                .iter()
                .map(|e| EvaluationState {
                    id: e.id.clone(),
                    conversation_id: e.conversation_id.clone(),
                    form: e.form.as_ref().map(|f| (f.id.clone(), f.name.clone())),
                    evaluator_id: e.evaluator_id.clone(),
                    agent_id: e.agent_id.clone(),
                    assignee_id: Some(
                        e.assignee_id
                            .clone()
                            .unwrap_or_else(|| e.evaluator_id.clone()),
                    ),
                    status: e.status.clone(),
                    calibration_id: e.calibration_id.clone(),
                    version: 1,
                    assigned: epoch - chrono::TimeDelta::days(1),
                    changed: epoch - chrono::TimeDelta::days(1),
                    assignee_changed: None,
                })
                .collect(),
            calibrations: fixture
                .calibrations
                .iter()
                .map(|c| CalibrationState {
                    id: c.id.clone(),
                    conversation_id: c.conversation_id.clone(),
                    calibrator_id: c.calibrator_id.clone(),
                    agent_id: c.agent_id.clone(),
                    evaluator_ids: c.evaluator_ids.clone(),
                    expert_evaluator_id: c.expert_evaluator_id.clone(),
                    created: epoch - chrono::TimeDelta::days(2),
                })
                .collect(),
        }
    }
}
