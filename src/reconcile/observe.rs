//! Reads Genesys, never writes. Resolves `spec.user` to exactly one live user (step 2 of the
//! pipeline), then reads what the plan and the snapshot need: routing status, presence, queues
//! (and whether each membership is direct or through a group), skills, languages, stations, the
//! recorded state change reason and live conversations. [`observed`] then folds that reading and
//! the progress recorded in status into the plan's [`Observed`]. I/O: Genesys reads only.

use chrono::{DateTime, Duration, Utc};

use super::error::{ReadError, ResolveError};
use super::plan::{Lifecycle, MemberBy, Membership, Named, Observed, Policy, Progress};
use crate::crd::{
    ActionOutcome, GenesysUserOffboardingStatus, GenesysUserState, GroupMembership,
    MemberBy as CrdMemberBy, NamedRef, QueueMembership, UserRef, condition,
};
use crate::genesys::{
    GenesysClient, GenesysError, Interval, MemberBy as ApiMemberBy, RoutingStatusValue,
    SystemPresence, User, UserId, UserRoutingLanguage, UserRoutingSkill, UserState, UserStations,
};

/// How far back the active-conversation guard looks for conversations that have not ended. A
/// conversation still open after this long (a stuck record) does not hold the offboarding back.
pub const ACTIVE_CONVERSATION_WINDOW_DAYS: i64 = 30;

/// The `expand` used when reading the user: groups feed the snapshot and tell direct queue
/// memberships from group ones.
const USER_EXPAND: &[&str] = &["groups"];

/// Everything read from Genesys in one pass, as the client returned it.
#[derive(Debug, Clone)]
pub struct Reading {
    pub user: User,
    pub routing_status: Option<RoutingStatusValue>,
    /// The system presence (`Available`, `Offline`, ...), when known.
    pub presence: Option<String>,
    pub presence_offline: bool,
    pub queues: Vec<QueueMembership>,
    /// For each queue the user is in through a group, the group (one of the queue's member
    /// groups the user belongs to).
    pub via_groups: Vec<GroupMembership>,
    pub skills: Vec<UserRoutingSkill>,
    pub languages: Vec<UserRoutingLanguage>,
    pub stations: UserStations,
    /// The `stateChangeReason` Genesys holds, when it was read.
    pub recorded_reason: Option<String>,
    /// Conversations of the user without an end, newest window only.
    pub ongoing_conversations: Vec<String>,
}

/// Step 2: exactly one live user for `spec.user`, or why not. Reads only: an ambiguous, deleted,
/// missing or mismatched user is reported and never touched.
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
        .find_users_by_email(email)
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

/// Reads the user's current routing, memberships, stations and conversations.
pub async fn read(
    client: &GenesysClient,
    user: User,
    policy: &Policy,
    status: &GenesysUserOffboardingStatus,
    now: DateTime<Utc>,
) -> Result<Reading, ReadError> {
    let id = user.id.clone();
    let routing_status = client
        .get_routing_status(&id)
        .await
        .map_err(ReadError::new("read the user's routing status"))?
        .status;
    let (presence, presence_offline) = read_presence(client, &id).await?;
    let (queues, via_groups) = read_queues(client, &user).await?;
    let skills = client
        .get_user_skills(&id)
        .await
        .map_err(ReadError::new("read the user's skills"))?;
    let languages = client
        .get_user_languages(&id)
        .await
        .map_err(ReadError::new("read the user's languages"))?;
    let stations = client
        .get_user_station(&id)
        .await
        .map_err(ReadError::new("read the user's stations"))?;
    let recorded_reason = match &policy.reason {
        Some(_) => read_reason(client, &id, status).await?,
        None => None,
    };
    let ongoing_conversations =
        if policy.active_conversations == super::plan::ConversationPolicy::Wait {
            ongoing_conversations(client, &id, now).await?
        } else {
            Vec::new()
        };
    Ok(Reading {
        user,
        routing_status,
        presence,
        presence_offline,
        queues,
        via_groups,
        skills,
        languages,
        stations,
        recorded_reason,
        ongoing_conversations,
    })
}

async fn read_presence(
    client: &GenesysClient,
    id: &UserId,
) -> Result<(Option<String>, bool), ReadError> {
    let presence = client
        .get_presence(id)
        .await
        .map_err(ReadError::new("read the user's presence"))?;
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

/// Every queue of the user with `joined` and `memberBy`. A queue none of whose member groups the
/// user belongs to is a direct membership; otherwise the queue's direct members are listed to
/// tell (a user can be both, and then counts as direct, as Genesys reports it).
async fn read_queues(
    client: &GenesysClient,
    user: &User,
) -> Result<(Vec<QueueMembership>, Vec<GroupMembership>), ReadError> {
    let groups: Vec<&str> = user
        .groups
        .iter()
        .flatten()
        .filter_map(|g| g.id.as_deref())
        .collect();
    let queues = client
        .get_user_queues(&user.id)
        .await
        .map_err(ReadError::new("read the user's queues"))?;
    let mut memberships = Vec::with_capacity(queues.len());
    let mut via_groups = Vec::new();
    for queue in queues {
        let group = queue.member_groups.iter().flatten().find_map(|g| {
            let id = g.get("id").and_then(serde_json::Value::as_str)?;
            groups.contains(&id).then(|| NamedRef {
                id: id.to_owned(),
                name: g
                    .get("name")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned),
            })
        });
        let via_group = group.is_some();
        let direct = !via_group
            || client
                .get_queue_members(&queue.id, Some(ApiMemberBy::User))
                .await
                .map_err(ReadError::new("read a queue's direct members"))?
                .iter()
                .any(|m| m.id == user.id.as_str());
        if let (false, Some(group)) = (direct, group) {
            via_groups.push(GroupMembership {
                queue: NamedRef {
                    id: queue.id.clone(),
                    name: queue.name.clone(),
                },
                group: Some(group),
            });
        }
        memberships.push(QueueMembership {
            id: queue.id,
            name: queue.name,
            joined: queue.joined.unwrap_or(false),
            member_by: Some(if direct {
                CrdMemberBy::User
            } else {
                CrdMemberBy::Group
            }),
        });
    }
    Ok((memberships, via_groups))
}

/// The reason Genesys holds. Reading it needs `directory:userStateChange:view`, which some orgs
/// cannot grant: without it, the last reason this operator recorded stands in.
async fn read_reason(
    client: &GenesysClient,
    id: &UserId,
    status: &GenesysUserOffboardingStatus,
) -> Result<Option<String>, ReadError> {
    match client.get_user_state(id).await {
        Ok(info) => Ok(info.state_change_reason.map(|r| r.as_str().to_owned())),
        Err(GenesysError::Forbidden { .. }) => Ok(status
            .actions
            .iter()
            .rev()
            .find(|a| a.step == "RecordReason" && a.outcome == ActionOutcome::Succeeded)
            .and_then(|a| a.target.clone())),
        Err(e) => Err(ReadError::new("read the user's state change reason")(e)),
    }
}

/// The user's conversations that have not ended (the active-conversation guard, step 6).
pub async fn ongoing_conversations(
    client: &GenesysClient,
    id: &UserId,
    now: DateTime<Utc>,
) -> Result<Vec<String>, ReadError> {
    let window = Interval::new(now - Duration::days(ACTIVE_CONVERSATION_WINDOW_DAYS), now);
    let conversations = client
        .user_conversations(id, window)
        .await
        .map_err(ReadError::new("look for the user's live conversations"))?;
    Ok(conversations
        .into_iter()
        .filter(|c| c.conversation_end.is_none())
        .map(|c| c.conversation_id)
        .collect())
}

/// The user's state as the CRD spells it.
pub fn crd_state(user: &User) -> Option<GenesysUserState> {
    match user.state.as_ref()? {
        UserState::Active => Some(GenesysUserState::Active),
        UserState::Inactive => Some(GenesysUserState::Inactive),
        UserState::Deleted => Some(GenesysUserState::Deleted),
        UserState::Unknown(_) => None,
    }
}

/// The plan's input: what Genesys holds now plus the progress status records. Pure.
pub fn observed(reading: &Reading, status: &GenesysUserOffboardingStatus) -> Observed {
    let named = |id: &Option<String>, name: &Option<String>| {
        id.as_ref()
            .map(|id| Named::new(id.as_str(), name.as_deref()))
    };
    let station =
        |s: &Option<crate::genesys::UserStation>| s.as_ref().and_then(|s| named(&s.id, &s.name));
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
                    Some(CrdMemberBy::Group) => MemberBy::Group,
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
        ongoing_conversations: reading.ongoing_conversations.clone(),
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
            .is_some_and(|s| s.state == GenesysUserState::Active),
        history_before_counted: status
            .history
            .as_ref()
            .is_some_and(|h| h.conversations_before.is_some()),
        sessions_revoked: status.is_true(condition::SESSIONS_REVOKED),
        history_verified: status.is_true(condition::HISTORY_VERIFIED),
        deactivated_before: status.is_true(condition::DEACTIVATED),
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
            queues: vec![
                QueueMembership {
                    id: "q1".into(),
                    name: Some("Billing".into()),
                    joined: true,
                    member_by: Some(CrdMemberBy::User),
                },
                QueueMembership {
                    id: "q2".into(),
                    name: None,
                    joined: true,
                    member_by: Some(CrdMemberBy::Group),
                },
            ],
            skills: vec![],
            languages: vec![],
            stations: serde_json::from_str(r#"{"associatedStation":{"id":"st1","name":"Desk"}}"#)
                .unwrap(),
            recorded_reason: None,
            via_groups: vec![],
            ongoing_conversations: vec!["c9".into()],
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
                state: GenesysUserState::Active,
                routing_status: None,
                presence: None,
                queues: vec![],
                skills: vec![],
                languages: vec![],
                station: None,
                roles: vec![],
                groups: vec![],
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
