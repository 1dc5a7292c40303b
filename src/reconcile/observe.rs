//! Reads Genesys, never writes. Resolves `spec.user` to exactly one live user (step 2 of the
//! pipeline), then reads what the plan and the snapshot need: routing status, presence, queues
//! (and whether each membership is direct or through a group), skills, languages, stations, the
//! recorded state change reason, the role grants and the history count (until the snapshot and
//! the count are persisted) and live conversations. [`observed`] then folds that reading and the
//! progress recorded in status into the plan's [`Observed`]. I/O: Genesys reads only.
//!
//! Few calls, little waiting: resolving by email is one search (it also finds a deleted user),
//! then one `GET /users/{id}` whose `expand` carries routing status, presence, station, skills,
//! languages and groups; each sub-object Genesys leaves out ("best effort", `docs/genesys-api.md` §2)
//! is read with its own call instead. Everything else is read concurrently, and the history
//! count's conversations double as the live-conversation guard.

use chrono::{DateTime, Duration, Utc};

use super::error::{ReadError, ResolveError};
use super::plan::{Lifecycle, Membership, Named, Observed, Policy, Progress, StepKind};
use super::verify::{self, Conversations};
use crate::crd::{
    ActionOutcome, GenesysUserOffboardingStatus, GroupMembership, HistoryStatus, NamedRef,
    QueueMembership, UserRef, condition, reason,
};
use genesys_cloud::{
    AnalyticsConversation, AuthzSubject, EntityRef, GenesysClient, GenesysError, Interval,
    MemberBy, RoutingStatusValue, StateChangeReason, SystemPresence, User, UserId,
    UserRoutingLanguage, UserRoutingSkill, UserState, UserStations,
};

/// How far back the active-conversation guard looks for conversations that have not ended. A
/// conversation still open after this long (a stuck record) does not hold the offboarding back.
pub const ACTIVE_CONVERSATION_WINDOW_DAYS: i64 = 30;

/// The `expand` used when reading the user: everything the plan and the snapshot need that the
/// user endpoint can carry (groups tell direct queue memberships from group ones; groups and
/// the team are also listed by the impact preflight). Role grants
/// are not among them: `authorization` names roles without their divisions, which restore needs.
pub const USER_EXPAND: &[&str] = &[
    "routingStatus",
    "presence",
    "station",
    "skills",
    "languages",
    "groups",
    "team",
];

/// Everything read from Genesys in one pass, as the client returned it.
#[derive(Debug, Clone)]
pub struct Reading {
    pub user: User,
    pub routing_status: Option<RoutingStatusValue>,
    /// The system presence (`Available`, `Offline`, ...), when known.
    pub presence: Option<String>,
    pub presence_offline: bool,
    pub queues: Vec<QueueMembership>,
    /// Whether the queues were read ([`queues_wanted`]); when not, `queues` is empty for that
    /// reason.
    pub queues_read: bool,
    /// For each queue the user is in through a group, the group (one of the queue's member
    /// groups the user belongs to).
    pub via_groups: Vec<GroupMembership>,
    pub skills: Vec<UserRoutingSkill>,
    pub languages: Vec<UserRoutingLanguage>,
    pub stations: UserStations,
    /// The `stateChangeReason` Genesys holds, when it was read.
    pub recorded_reason: Option<StateChangeReason>,
    /// The user's role grants, read while no snapshot is persisted (the snapshot's roles).
    pub grants: Option<AuthzSubject>,
    /// The history count before any change, read while none is persisted.
    pub history_before: Option<HistoryStatus>,
    /// Conversations of the user without an end, newest window only; `None` until read (a
    /// pass that has nothing to write never needs them).
    pub ongoing_conversations: Option<Vec<String>>,
    /// The slices of the history window that held conversations, when this pass counted them
    /// (the verification reads only those again).
    pub history_slices: Option<Vec<Interval>>,
    /// The successor and, while no snapshot is persisted, the work to hand off
    /// ([`super::handoff::prepare`]); `None` without `spec.handoff` or once it is done.
    pub handoff: Option<super::handoff::Prepared>,
}

/// Step 2: exactly one live user for `spec.user`, or why not. Reads only: an ambiguous, deleted,
/// missing or mismatched user is reported and never touched. The user comes back with
/// [`USER_EXPAND`].
pub async fn resolve(client: &GenesysClient, user: &UserRef) -> Result<User, ResolveError> {
    if let Some(id) = &user.id {
        let found = by_id(client, &UserId::new(id.as_str())).await?;
        let actual = found.email.as_deref();
        if let Some(expected) = &user.email
            && !actual.is_some_and(|a| a.eq_ignore_ascii_case(expected))
        {
            return Err(ResolveError::IdEmailMismatch {
                id: id.clone(),
                expected: expected.clone(),
                actual: actual.unwrap_or("(none)").to_owned(),
            });
        }
        return Ok(found);
    }
    let Some(email) = &user.email else {
        return Err(ResolveError::NotFound("an empty spec.user".into()));
    };
    let matches = client
        .find_users_by_email_all_states(email)
        .await
        .map_err(ResolveError::Genesys)?;
    match matches.live.as_slice() {
        [only] => by_id(client, &only.id).await,
        [] => match matches.deleted.first() {
            Some(deleted) => Err(ResolveError::Deleted {
                id: deleted.id.to_string(),
            }),
            None => Err(ResolveError::NotFound(format!("email {email}"))),
        },
        several => Err(ResolveError::Ambiguous {
            email: email.clone(),
            count: several.len(),
            ids: several
                .iter()
                .map(|u| format!("{} ({})", u.id, state_name(u)))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

async fn by_id(client: &GenesysClient, id: &UserId) -> Result<User, ResolveError> {
    match client.get_user(id, USER_EXPAND).await {
        Ok(user) if user.is_state(&UserState::Deleted) => {
            Err(ResolveError::Deleted { id: id.to_string() })
        }
        Ok(user) => Ok(user),
        Err(e) if e.is_not_found() => match client.get_deleted_user(id).await {
            Ok(Some(_)) => Err(ResolveError::Deleted { id: id.to_string() }),
            Ok(None) => Err(ResolveError::NotFound(format!("id {id}"))),
            Err(e) => Err(ResolveError::Genesys(e)),
        },
        Err(e) => Err(ResolveError::Genesys(e)),
    }
}

fn state_name(user: &User) -> &str {
    user.state
        .as_ref()
        .map_or("unknown state", UserState::as_str)
}

/// What [`read`] needs to know besides the user.
pub struct ReadContext<'a> {
    pub policy: &'a Policy,
    pub status: &'a GenesysUserOffboardingStatus,
    /// `spec.history.lookbackDays`.
    pub lookback: std::time::Duration,
    pub now: DateTime<Utc>,
}

/// Reads the user's current routing, memberships, stations, grants and history, concurrently.
/// Sub-objects the expanded `user` already carries are not read again.
pub async fn read(
    client: &GenesysClient,
    user: User,
    cx: &ReadContext<'_>,
) -> Result<Reading, ReadError> {
    let progress = progress(cx.status);
    let queues_read = queues_wanted(cx.policy);
    let (
        routing_status,
        (presence, presence_offline),
        stations,
        skills,
        languages,
        (queues, via_groups, read_groups),
        grants,
        before,
        recorded_reason,
    ) = tokio::try_join!(
        read_routing_status(client, &user),
        read_presence(client, &user),
        read_stations(client, &user),
        read_skills(client, &user),
        read_languages(client, &user),
        read_queues(client, &user, queues_read),
        read_grants(
            client,
            &user.id,
            !progress.snapshot_taken && !cx.policy.minimal_snapshot
        ),
        read_history_before(client, &user.id, cx, !progress.history_before_counted),
        read_reason(client, &user.id, cx.policy, cx.status),
    )?;
    let mut user = user;
    if user.groups.is_none() {
        user.groups = read_groups;
    }
    let user = with_groups_for_grants(client, user, grants.as_ref()).await?;
    let (history_before, ongoing_conversations, history_slices) = match before {
        Some((history, conversations)) => (
            Some(history),
            open_conversations(&conversations, cx.lookback, cx.now),
            conversations
                .live
                .then(|| conversations.slices_with_history.clone()),
        ),
        None => (None, None, None),
    };
    Ok(Reading {
        user,
        routing_status,
        presence,
        presence_offline,
        queues,
        queues_read,
        via_groups,
        skills,
        languages,
        stations,
        recorded_reason,
        grants,
        history_before,
        ongoing_conversations,
        history_slices,
        handoff: None,
    })
}

pub(super) async fn read_routing_status(
    client: &GenesysClient,
    user: &User,
) -> Result<Option<RoutingStatusValue>, ReadError> {
    if let Some(status) = user.routing_status.as_ref().and_then(|r| r.status.clone()) {
        return Ok(Some(status));
    }
    Ok(client
        .get_routing_status(&user.id)
        .await
        .map_err(ReadError::new("read the user's routing status"))?
        .status)
}

/// The system presence and whether it is the org's Offline. A user with no Genesys Cloud
/// presence at all (a 404) has none.
pub(super) async fn read_presence(
    client: &GenesysClient,
    user: &User,
) -> Result<(Option<String>, bool), ReadError> {
    let presence = match &user.presence {
        Some(presence) => presence.clone(),
        None => match client.get_presence(&user.id).await {
            Ok(presence) => presence,
            Err(e) if e.is_not_found() => return Ok((None, false)),
            Err(e) => return Err(ReadError::new("read the user's presence")(e)),
        },
    };
    let Some(definition) = presence.presence_definition else {
        return Ok((None, false));
    };
    if let Some(system) = definition.system_presence {
        let offline = system == SystemPresence::Offline.as_str();
        return Ok((Some(system), offline));
    }
    let offline_id = client
        .offline_presence_id()
        .await
        .map_err(ReadError::new("look up the Offline presence"))?;
    let offline = definition.id == offline_id;
    Ok((offline.then(|| "Offline".to_owned()), offline))
}

pub(super) async fn read_stations(
    client: &GenesysClient,
    user: &User,
) -> Result<UserStations, ReadError> {
    match &user.station {
        Some(stations) => Ok(stations.clone()),
        None => client
            .get_user_station(&user.id)
            .await
            .map_err(ReadError::new("read the user's stations")),
    }
}

pub(super) async fn read_skills(
    client: &GenesysClient,
    user: &User,
) -> Result<Vec<UserRoutingSkill>, ReadError> {
    match &user.skills {
        Some(skills) => Ok(skills.clone()),
        None => client
            .get_user_skills(&user.id)
            .await
            .map_err(ReadError::new("read the user's skills")),
    }
}

pub(super) async fn read_languages(
    client: &GenesysClient,
    user: &User,
) -> Result<Vec<UserRoutingLanguage>, ReadError> {
    match &user.languages {
        Some(languages) => Ok(languages.clone()),
        None => client
            .get_user_languages(&user.id)
            .await
            .map_err(ReadError::new("read the user's languages")),
    }
}

/// Every queue of the user with `joined` and `memberBy`. A queue without member groups is a
/// direct membership; otherwise the queue's direct members are listed to tell (a user can be
/// both, and then counts as direct, as Genesys reports it). The user's groups (from the expanded
/// user, or read when the expand left them out) name the group that brings them in.
/// The user's queue memberships, those through groups, and the user's groups when the expand
/// left them out and they had to be read apart.
type QueueReading = (
    Vec<QueueMembership>,
    Vec<GroupMembership>,
    Option<Vec<EntityRef>>,
);

/// Whether a pass reads the user's queues: always, except that a `Minimal` snapshot leaves
/// out the queues of an offboarding that does not remove them.
pub fn queues_wanted(policy: &Policy) -> bool {
    policy.remove_from_queues || !policy.minimal_snapshot
}

async fn read_queues(
    client: &GenesysClient,
    user: &User,
    wanted: bool,
) -> Result<QueueReading, ReadError> {
    if !wanted {
        return Ok((Vec::new(), Vec::new(), None));
    }
    // Both halves at once (`joined=true`, `joined=false`), each queue once, joined first.
    let (joined, unjoined) = futures::try_join!(
        client.get_user_queues_where(&user.id, true),
        client.get_user_queues_where(&user.id, false),
    )
    .map_err(ReadError::new("read the user's queues"))?;
    let mut seen = std::collections::HashSet::new();
    let queues: Vec<_> = joined
        .into_iter()
        .chain(unjoined)
        .filter(|q| seen.insert(q.id.clone()))
        .collect();
    let has_member_groups = queues
        .iter()
        .any(|q| q.member_groups.as_ref().is_some_and(|g| !g.is_empty()));
    let read_groups: Option<Vec<EntityRef>> = match &user.groups {
        None if has_member_groups => {
            client
                .get_user(&user.id, &["groups"])
                .await
                .map_err(ReadError::new("read the user's groups"))?
                .groups
        }
        _ => None,
    };
    let groups: Vec<&str> = user
        .groups
        .as_ref()
        .or(read_groups.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|g| g.id.as_deref())
        .collect();
    let mut memberships = Vec::with_capacity(queues.len());
    let mut via_groups = Vec::new();
    for queue in queues {
        let member_groups = queue.member_groups.as_deref().unwrap_or_default();
        // A queue with member groups of any kind (`GROUP`, `TEAM`, `SKILLGROUP`) may list the
        // user through one of them; only its direct members tell. Teams and skill groups are
        // not among the user's `groups`, so the user's groups alone cannot tell.
        let direct = member_groups.is_empty()
            || client
                .get_queue_members(&queue.id, Some(MemberBy::User))
                .await
                .map_err(ReadError::new("read a queue's direct members"))?
                .iter()
                .any(|m| m.id == user.id.as_str());
        if !direct {
            let (group, group_type) = bringing_group(member_groups, &groups);
            via_groups.push(GroupMembership {
                queue: NamedRef {
                    id: queue.id.clone(),
                    name: queue.name.clone(),
                },
                group,
                group_type,
            });
        }
        memberships.push(QueueMembership {
            id: queue.id,
            name: queue.name,
            joined: queue.joined.unwrap_or(false),
            member_by: Some(if direct {
                MemberBy::User
            } else {
                MemberBy::Group
            }),
        });
    }
    Ok((memberships, via_groups, read_groups))
}

/// Which of a queue's member groups brings the user in: a `GROUP` the user belongs to, or else
/// the queue's one team or skill group when it has one (they are not read per user).
fn bringing_group(
    member_groups: &[serde_json::Value],
    user_groups: &[&str],
) -> (Option<NamedRef>, Option<String>) {
    let field = |g: &serde_json::Value, key: &str| {
        g.get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let named = |g: &serde_json::Value| {
        field(g, "id").map(|id| NamedRef {
            id,
            name: field(g, "name"),
        })
    };
    let is_group = |g: &serde_json::Value| field(g, "type").is_none_or(|t| t == "GROUP");
    let user_is_in =
        |g: &serde_json::Value| field(g, "id").is_some_and(|id| user_groups.contains(&id.as_str()));
    // A group the user is in; else the one team or skill group (groups the user is not in
    // cannot be it).
    let others: Vec<&serde_json::Value> = member_groups.iter().filter(|g| !is_group(g)).collect();
    let found = member_groups
        .iter()
        .find(|g| is_group(g) && user_is_in(g))
        .or_else(|| (others.len() == 1).then(|| others[0]));
    match found {
        Some(g) => (named(g), field(g, "type")),
        None => (None, None),
    }
}

/// The user's role grants with their divisions, for the snapshot; only while none is taken.
/// The snapshot names the groups that grants come through from the user's `groups`; when the
/// expand left them out and some grant comes through a group, they are read with their own call
/// (once: an answer without them again leaves the group's name unknown, its id is enough).
async fn with_groups_for_grants(
    client: &GenesysClient,
    mut user: User,
    grants: Option<&AuthzSubject>,
) -> Result<User, ReadError> {
    let through_group = grants.is_some_and(|s| {
        s.grants.iter().any(|g| {
            g.subject_id
                .as_deref()
                .is_some_and(|id| id != user.id.as_str())
        })
    });
    if user.groups.is_none() && through_group {
        user.groups = client
            .get_user(&user.id, &["groups"])
            .await
            .map_err(ReadError::new("read the user's groups"))?
            .groups;
    }
    Ok(user)
}

async fn read_grants(
    client: &GenesysClient,
    id: &UserId,
    wanted: bool,
) -> Result<Option<AuthzSubject>, ReadError> {
    if !wanted {
        return Ok(None);
    }
    client
        .get_authorization_subject(id)
        .await
        .map(Some)
        .map_err(ReadError::new("read the user's role grants"))
}

/// The history count before any change, with its conversations; only while none is persisted.
async fn read_history_before(
    client: &GenesysClient,
    id: &UserId,
    cx: &ReadContext<'_>,
    wanted: bool,
) -> Result<Option<(HistoryStatus, Conversations)>, ReadError> {
    if !wanted {
        return Ok(None);
    }
    verify::count_before(client, id, cx.lookback, cx.now)
        .await
        .map(Some)
}

/// The reason Genesys holds, when the spec records one. Reading it needs
/// `directory:userStateChange:view`, which some orgs cannot grant: without it, the last reason
/// this operator recorded stands in (the target of its `RecordReason` action).
async fn read_reason(
    client: &GenesysClient,
    id: &UserId,
    policy: &Policy,
    status: &GenesysUserOffboardingStatus,
) -> Result<Option<StateChangeReason>, ReadError> {
    if policy.reason.is_none() {
        return Ok(None);
    }
    match client.get_user_state(id).await {
        Ok(info) => Ok(info.state_change_reason),
        Err(GenesysError::Forbidden { .. }) => Ok(status
            .actions
            .iter()
            .rev()
            .find(|a| a.step == StepKind::RecordReason && a.outcome == ActionOutcome::Succeeded)
            .and_then(|a| a.target.as_deref())
            .map(|reason| reason.parse().unwrap_or_else(|never| match never {}))),
        Err(e) => Err(ReadError::new("read the user's state change reason")(e)),
    }
}

/// The start of the guard's window: conversations are matched by the day they started on, as
/// the synchronous details query does.
fn guard_window_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let start = now - Duration::days(ACTIVE_CONVERSATION_WINDOW_DAYS);
    start
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(start, |midnight| midnight.and_utc())
}

/// The conversations still open among those the history count read, when that read can stand
/// in for the guard's own query: it came from the synchronous query (a details job may not hold
/// live conversations yet) and covers the guard's window. Pure.
pub fn open_conversations(
    conversations: &Conversations,
    lookback: std::time::Duration,
    now: DateTime<Utc>,
) -> Option<Vec<String>> {
    let covers = Duration::from_std(lookback)
        .is_ok_and(|l| l >= Duration::days(ACTIVE_CONVERSATION_WINDOW_DAYS));
    (conversations.live && covers).then(|| still_open(&conversations.list, now))
}

/// Conversations without an end that started in the guard's window (or whose start is not
/// known). Pure.
fn still_open(conversations: &[AnalyticsConversation], now: DateTime<Utc>) -> Vec<String> {
    let since = guard_window_start(now);
    conversations
        .iter()
        .filter(|c| c.conversation_end.is_none())
        .filter(|c| c.conversation_start.is_none_or(|start| start >= since))
        .map(|c| c.conversation_id.clone())
        .collect()
}

/// The user's conversations that have not ended (the active-conversation guard, step 6): one
/// synchronous query over the guard's window.
pub async fn ongoing_conversations(
    client: &GenesysClient,
    id: &UserId,
    now: DateTime<Utc>,
) -> Result<Vec<String>, ReadError> {
    let end = verify::window_end(now);
    let window = Interval::new(end - Duration::days(ACTIVE_CONVERSATION_WINDOW_DAYS), end);
    let conversations = client
        .user_conversations_sync(id, window)
        .await
        .map_err(ReadError::new("look for the user's live conversations"))?;
    Ok(still_open(&conversations, now))
}

/// The user's state as status may hold it: a state the client does not know is left out (the
/// CRD admits the known ones only).
pub fn crd_state(user: &User) -> Option<UserState> {
    user.state.clone().and_then(UserState::known)
}

/// The plan's input: what Genesys holds now plus the progress status records. Pure.
pub fn observed(reading: &Reading, status: &GenesysUserOffboardingStatus) -> Observed {
    let named = |id: &Option<String>, name: &Option<String>| {
        id.as_ref()
            .map(|id| Named::new(id.as_str(), name.as_deref()))
    };
    let station =
        |s: &Option<genesys_cloud::UserStation>| s.as_ref().and_then(|s| named(&s.id, &s.name));
    Observed {
        // Anything but an explicit `inactive` counts as active: deactivating is then attempted,
        // and the client's set_user_state is a no-op for a user already inactive.
        state: if reading.user.is_state(&UserState::Inactive) {
            Lifecycle::Inactive
        } else {
            Lifecycle::Active
        },
        off_queue: reading.routing_status.as_ref() == Some(&RoutingStatusValue::OffQueue),
        presence_offline: reading.presence_offline,
        queues: reading
            .queues
            .iter()
            .map(|q| Membership {
                queue: Named::new(q.id.as_str(), q.name.as_deref()),
                joined: q.joined,
                member_by: match q.member_by {
                    Some(MemberBy::Group) => MemberBy::Group,
                    _ => MemberBy::User,
                },
            })
            .collect(),
        skills: reading
            .skills
            .iter()
            .map(|s| Named::new(s.id.as_str(), s.name.as_deref()))
            .collect(),
        languages: reading
            .languages
            .iter()
            .map(|l| Named::new(l.id.as_str(), l.name.as_deref()))
            .collect(),
        associated_station: station(&reading.stations.associated_station),
        default_station: station(&reading.stations.default_station),
        recorded_reason: reading.recorded_reason.clone(),
        ongoing_conversations: reading.ongoing_conversations.clone().unwrap_or_default(),
        progress: progress(status),
    }
}

/// What earlier passes recorded in status.
pub fn progress(status: &GenesysUserOffboardingStatus) -> Progress {
    Progress {
        snapshot_taken: status.snapshot.is_some(),
        active_at_snapshot: status
            .snapshot
            .as_ref()
            .is_some_and(|s| s.state == UserState::Active),
        history_before_counted: status
            .history
            .as_ref()
            .is_some_and(|h| h.conversations_before.is_some()),
        // Revocation can only be accepted, never read back (`RevocationAccepted`, Unknown); an
        // older status may still say True.
        sessions_revoked: status.is_true(condition::SESSIONS_REVOKED)
            || status
                .condition(condition::SESSIONS_REVOKED)
                .is_some_and(|c| c.reason == reason::REVOCATION_ACCEPTED),
        history_verified: status.is_true(condition::HISTORY_VERIFIED),
        deactivated_before: status.is_true(condition::DEACTIVATED),
        handed_off: super::handoff::done(status),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crd::{HistoryStatus, UserSnapshot};
    use crate::reconcile::spec::to_time;

    fn reading(user_json: &str) -> Reading {
        Reading {
            user: serde_json::from_str(user_json).unwrap(),
            routing_status: Some(RoutingStatusValue::Idle),
            presence: Some("Available".into()),
            presence_offline: false,
            queues_read: true,
            queues: vec![
                QueueMembership {
                    id: "q1".into(),
                    name: Some("Billing".into()),
                    joined: true,
                    member_by: Some(MemberBy::User),
                },
                QueueMembership {
                    id: "q2".into(),
                    name: None,
                    joined: true,
                    member_by: Some(MemberBy::Group),
                },
            ],
            skills: vec![],
            languages: vec![],
            stations: serde_json::from_str(r#"{"associatedStation":{"id":"st1","name":"Desk"}}"#)
                .unwrap(),
            recorded_reason: None,
            via_groups: vec![],
            grants: None,
            history_before: None,
            ongoing_conversations: Some(vec!["c9".into()]),
            history_slices: None,
            handoff: None,
        }
    }

    #[test]
    fn a_fresh_reading_becomes_an_active_user_with_no_progress() {
        let observed = observed(
            &reading(r#"{"id":"u1","state":"active"}"#),
            &GenesysUserOffboardingStatus::default(),
        );

        assert_eq!(observed.state, Lifecycle::Active);
        assert!(!observed.off_queue && !observed.presence_offline);
        assert_eq!(observed.queues[0].member_by, MemberBy::User);
        assert_eq!(observed.queues[1].member_by, MemberBy::Group);
        assert_eq!(
            observed.associated_station,
            Some(Named::new("st1", Some("Desk")))
        );
        assert_eq!(observed.default_station, None);
        assert_eq!(observed.ongoing_conversations, vec!["c9".to_owned()]);
        assert_eq!(observed.progress, Progress::default());
    }

    #[test]
    fn progress_is_read_back_from_status() {
        let now = to_time(Utc::now());
        let mut status = GenesysUserOffboardingStatus {
            snapshot: Some(UserSnapshot {
                state: UserState::Active,
                routing_status: None,
                presence: None,
                queues: vec![],
                skills: vec![],
                languages: vec![],
                station: None,
                roles: vec![],
                group_roles: vec![],
                groups: vec![],
                handoff: vec![],
                team: None,
                utilization: None,
                call_forwarding: None,
                not_recorded: vec![],
                taken_at: now.clone(),
            }),
            history: Some(HistoryStatus {
                interval: "a/b".into(),
                conversations_before: Some(3),
                ..HistoryStatus::default()
            }),
            ..GenesysUserOffboardingStatus::default()
        };
        status.set_condition(condition::DEACTIVATED, true, "UserInactive", "", None, &now);
        status.set_condition(
            condition::SESSIONS_REVOKED,
            true,
            "TokensRevoked",
            "",
            None,
            &now,
        );

        let progress = progress(&status);

        assert_eq!(
            progress,
            Progress {
                snapshot_taken: true,
                active_at_snapshot: true,
                history_before_counted: true,
                sessions_revoked: true,
                history_verified: false,
                deactivated_before: true,
                handed_off: false,
            }
        );
    }

    #[test]
    fn an_inactive_user_reads_as_inactive() {
        let observed = observed(
            &reading(r#"{"id":"u1","state":"inactive"}"#),
            &GenesysUserOffboardingStatus::default(),
        );

        assert_eq!(observed.state, Lifecycle::Inactive);
    }
}
