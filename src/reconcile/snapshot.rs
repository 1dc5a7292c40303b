//! Step 4: the pre-change snapshot (state, routing status, presence, queues with `joined` and
//! `memberBy`, skills, languages, stations, role grants with their divisions (those held
//! directly apart from those held through a group), groups, team, utilization, call
//! forwarding). Built from the pass's reading, which holds the user's grants, groups and team
//! too (read with the rest, while no snapshot is persisted); the caller persists it before any
//! Genesys write and never takes it twice. I/O: a bounded number of Genesys reads ([`take`]: the
//! grants when the reading has none, the groups and team when the reading's expand left them
//! out (at most [`EXPAND_TRIES`]), the utilization, the call forwarding); [`build`] is pure.

use chrono::{DateTime, Utc};

use super::error::ReadError;
use super::observe::{Reading, crd_state};
use super::spec::to_time;
use crate::crd::{
    CallForwardingSnapshot, CallRouteSnapshot, CallTargetSnapshot, GroupRoleGrant, LabelCapacity,
    MediaCapacity, NamedRef, ProficiencyRef, RoleGrant, SnapshotPart, SnapshotScope,
    StationSnapshot, UserSnapshot, UtilizationSnapshot,
};
use genesys_cloud::{
    AuthzSubject, CallForwarding, GenesysClient, UserId, UserState, UserStation, Utilization,
};

/// Builds the snapshot from the reading, reading the user's role grants first if the reading
/// has none, and the groups and team when the reading's expand left them out. A `Minimal`
/// snapshot reads no grants, utilization or call forwarding ([`minimal`]).
pub async fn take(
    client: &GenesysClient,
    reading: &Reading,
    scope: SnapshotScope,
    now: DateTime<Utc>,
) -> Result<UserSnapshot, ReadError> {
    let id = &reading.user.id;
    let full = scope == SnapshotScope::Full;
    let mut snapshot = match &reading.grants {
        _ if !full => minimal(reading, now),
        Some(subject) => build(reading, subject, now),
        None => {
            let subject = client
                .get_authorization_subject(id)
                .await
                .map_err(ReadError::new("read the user's role grants"))?;
            build(reading, &subject, now)
        }
    };
    if reading.user.groups.is_none() {
        // The expand was left out ("best effort"): read the memberships on their own.
        if let Some(user) = user_with_memberships(client, id).await? {
            (snapshot.groups, snapshot.team) = (named(user.groups.as_ref()), team_of(&user));
        }
    }
    if full {
        snapshot.utilization = optional(
            client.get_user_utilization(id).await,
            "read the user's utilization",
        )?
        .map(|u| utilization_snapshot(&u));
        snapshot.call_forwarding = optional(
            client.get_call_forwarding(id).await,
            "read the user's call forwarding",
        )?
        .map(|c| forwarding_snapshot(&c));
    }
    Ok(snapshot)
}

/// The snapshot of `spec.snapshot.scope: Minimal`: what the reading holds, without role grants,
/// utilization and call forwarding (and without queues when the pass did not read them), each
/// named in `notRecorded`. Pure.
pub fn minimal(reading: &Reading, now: DateTime<Utc>) -> UserSnapshot {
    let mut snapshot = build(reading, &AuthzSubject::default(), now);
    snapshot.not_recorded = vec![
        SnapshotPart::RoleGrants,
        SnapshotPart::Utilization,
        SnapshotPart::CallForwarding,
    ];
    if !reading.queues_read {
        snapshot.not_recorded.insert(0, SnapshotPart::Queues);
    }
    snapshot
}

/// Fills in the queues a `Minimal` snapshot left out once a pass has read them: a spec changed
/// to remove the queues after the snapshot was taken records them before the first removal
/// (the pass read them before removing any). Returns whether the snapshot changed. Pure.
pub fn record_queues(snapshot: &mut UserSnapshot, reading: &Reading) -> bool {
    if !reading.queues_read || !snapshot.not_recorded.contains(&SnapshotPart::Queues) {
        return false;
    }
    snapshot.queues.clone_from(&reading.queues);
    snapshot.not_recorded.retain(|p| *p != SnapshotPart::Queues);
    true
}

/// How many times a user read with `expand=groups,team` is tried before its answer counts as
/// leaving them out: Genesys resolves expands "with a best effort approach".
pub const EXPAND_TRIES: usize = 3;

/// The user read with their groups and team, or `None` when [`EXPAND_TRIES`] answers all left
/// the groups out. An answer with the groups is taken to hold the team too, if any.
pub async fn user_with_memberships(
    client: &GenesysClient,
    id: &UserId,
) -> Result<Option<genesys_cloud::User>, ReadError> {
    for _ in 0..EXPAND_TRIES {
        let user = client
            .get_user(id, &["groups", "team"])
            .await
            .map_err(ReadError::new("read the user's groups and team"))?;
        if user.groups.is_some() {
            return Ok(Some(user));
        }
    }
    tracing::warn!(user = %id, "the user's groups were left out of every read");
    Ok(None)
}

fn named(groups: Option<&Vec<genesys_cloud::EntityRef>>) -> Vec<NamedRef> {
    groups
        .into_iter()
        .flatten()
        .filter_map(|g| {
            Some(NamedRef {
                id: g.id.clone()?,
                name: g.name.clone(),
            })
        })
        .collect()
}

fn team_of(user: &genesys_cloud::User) -> Option<NamedRef> {
    user.team.as_ref().and_then(|t| {
        Some(NamedRef {
            id: t.id.clone()?,
            name: t.name.clone(),
        })
    })
}

/// A read the snapshot can do without: refused for a missing permission (403), it leaves the
/// field out, so a restore puts nothing back there; any other failure fails the snapshot.
fn optional<T>(
    read: Result<T, genesys_cloud::GenesysError>,
    what: &'static str,
) -> Result<Option<T>, ReadError> {
    match read {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.status() == Some(403) => {
            tracing::warn!(error = %e, "could not {what}; the snapshot leaves it out");
            Ok(None)
        }
        Err(e) => Err(ReadError::new(what)(e)),
    }
}

/// The snapshot form of a utilization read.
pub fn utilization_snapshot(u: &Utilization) -> UtilizationSnapshot {
    UtilizationSnapshot {
        level: u.level.clone().unwrap_or_else(|| "Organization".to_owned()),
        media: u
            .utilization
            .iter()
            .map(|(k, m)| {
                (
                    k.clone(),
                    MediaCapacity {
                        maximum_capacity: m.maximum_capacity,
                        interruptable_media_types: m.interruptable_media_types.clone(),
                        include_non_acd: m.include_non_acd,
                    },
                )
            })
            .collect(),
        labels: u
            .label_utilizations
            .iter()
            .map(|(k, l)| {
                (
                    k.clone(),
                    LabelCapacity {
                        maximum_capacity: l.maximum_capacity,
                        interrupting_label_ids: l.interrupting_label_ids.clone(),
                    },
                )
            })
            .collect(),
        max_inbound_calls: u.max_inbound_calls,
    }
}

/// The snapshot form of a call forwarding read.
pub fn forwarding_snapshot(c: &CallForwarding) -> CallForwardingSnapshot {
    CallForwardingSnapshot {
        enabled: c.enabled,
        phone_number: c.phone_number.clone().filter(|p| !p.is_empty()),
        calls: c
            .calls
            .iter()
            .map(|r| CallRouteSnapshot {
                targets: r
                    .targets
                    .iter()
                    .map(|t| CallTargetSnapshot {
                        r#type: t.r#type.clone(),
                        value: t.value.clone(),
                    })
                    .collect(),
            })
            .collect(),
        voicemail: c.voicemail.clone(),
    }
}

/// The snapshot of what `reading` and `subject` hold. Pure.
pub fn build(reading: &Reading, subject: &AuthzSubject, now: DateTime<Utc>) -> UserSnapshot {
    let station = |s: &Option<UserStation>| {
        s.as_ref().and_then(|s| {
            s.id.as_ref().map(|id| NamedRef {
                id: id.clone(),
                name: s.name.clone(),
            })
        })
    };
    let stations = StationSnapshot {
        associated: station(&reading.stations.associated_station),
        default: station(&reading.stations.default_station),
    };
    let groups = named(reading.user.groups.as_ref());
    // Only what the user holds directly is theirs to get back: a group's grant returns with
    // the group, and granting it directly would outlive the membership.
    let (direct, through_groups): (Vec<_>, Vec<_>) = grants(subject, &reading.user.id)
        .into_iter()
        .partition(|(_, group)| group.is_none());
    UserSnapshot {
        state: crd_state(&reading.user).unwrap_or(UserState::Active),
        routing_status: reading.routing_status.as_ref().map(ToString::to_string),
        presence: reading.presence.clone(),
        queues: reading.queues.clone(),
        skills: reading
            .skills
            .iter()
            .map(|s| ProficiencyRef {
                id: s.id.clone(),
                name: s.name.clone(),
                proficiency: s.proficiency.unwrap_or_default(),
            })
            .collect(),
        languages: reading
            .languages
            .iter()
            .map(|l| ProficiencyRef {
                id: l.id.clone(),
                name: l.name.clone(),
                proficiency: l.proficiency.unwrap_or_default(),
            })
            .collect(),
        station: (stations != StationSnapshot::default()).then_some(stations),
        roles: direct.into_iter().map(|(grant, _)| grant).collect(),
        group_roles: through_groups
            .into_iter()
            .filter_map(|(g, group)| {
                let group = group?;
                Some(GroupRoleGrant {
                    role_id: g.role_id,
                    role_name: g.role_name,
                    division_id: g.division_id,
                    division_name: g.division_name,
                    group: NamedRef {
                        name: groups
                            .iter()
                            .find(|n| n.id == group)
                            .and_then(|n| n.name.clone()),
                        id: group,
                    },
                })
            })
            .collect(),
        groups,
        team: team_of(&reading.user),
        utilization: None,
        call_forwarding: None,
        handoff: reading
            .handoff
            .as_ref()
            .and_then(|h| h.items.clone())
            .unwrap_or_default(),
        not_recorded: Vec::new(),
        taken_at: to_time(now),
    }
}

/// Each grant of `subject` that names a role and a division (one without cannot be restored),
/// with the group it comes through, if any; a role and division listed twice for the same
/// subject counts once.
fn grants(subject: &AuthzSubject, user: &UserId) -> Vec<(RoleGrant, Option<String>)> {
    let mut out: Vec<(RoleGrant, Option<String>)> = Vec::new();
    for g in &subject.grants {
        let (Some(role), Some(division)) = (g.role.as_ref(), g.division.as_ref()) else {
            continue;
        };
        let (Some(role_id), Some(division_id)) = (role.id.clone(), division.id.clone()) else {
            continue;
        };
        let grant = RoleGrant {
            role_id,
            role_name: role.name.clone(),
            division_id,
            division_name: division.name.clone(),
        };
        let through = g.through(user).map(str::to_owned);
        if !out.iter().any(|(seen, by)| {
            seen.role_id == grant.role_id && seen.division_id == grant.division_id && *by == through
        }) {
            out.push((grant, through));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crd::QueueMembership;
    use genesys_cloud::{MemberBy, RoutingStatusValue};

    #[test]
    fn the_snapshot_holds_everything_restore_needs() {
        let reading = Reading {
            user: serde_json::from_str(
                r#"{"id":"u1","state":"active","groups":[{"id":"g1","name":"Tier 2"}],"team":{"id":"t1","name":"Day Shift"}}"#,
            )
            .unwrap(),
            routing_status: Some(RoutingStatusValue::Idle),
            presence: Some("Available".into()),
            presence_offline: false,
            queues_read: true,
            queues: vec![QueueMembership {
                id: "q1".into(),
                name: Some("Billing".into()),
                joined: false,
                member_by: Some(MemberBy::User),
            }],
            skills: serde_json::from_str(r#"[{"id":"s1","name":"Retention","proficiency":4}]"#)
                .unwrap(),
            languages: serde_json::from_str(r#"[{"id":"l1","proficiency":5}]"#).unwrap(),
            stations: serde_json::from_str(r#"{"defaultStation":{"id":"st1"}}"#).unwrap(),
            recorded_reason: None,
            via_groups: vec![],
            grants: None,
            history_before: None,
            ongoing_conversations: None,
            history_slices: None,
            handoff: None,
        };
        let subject: AuthzSubject = serde_json::from_str(
            r#"{"grants":[{"subjectId":"u1","role":{"id":"r1","name":"Agent"},"division":{"id":"d1","name":"Home"}},
                          {"subjectId":"g1","role":{"id":"r3","name":"Supervisor"},"division":{"id":"d1"}},
                          {"subjectId":"g1","role":{"id":"r3","name":"Supervisor"},"division":{"id":"d1"}},
                          {"role":{"id":"r2"}}]}"#,
        )
        .unwrap();
        let now = Utc::now();

        let snapshot = build(&reading, &subject, now);

        assert_eq!(snapshot.state, UserState::Active);
        assert_eq!(snapshot.routing_status.as_deref(), Some("IDLE"));
        assert_eq!(snapshot.presence.as_deref(), Some("Available"));
        assert_eq!(snapshot.queues, reading.queues);
        assert!((snapshot.skills[0].proficiency - 4.0).abs() < f64::EPSILON);
        assert_eq!(snapshot.languages[0].id, "l1");
        let station = snapshot.station.unwrap();
        assert_eq!(station.associated, None);
        assert_eq!(station.default.unwrap().id, "st1");
        assert_eq!(
            snapshot.roles,
            vec![RoleGrant {
                role_id: "r1".into(),
                role_name: Some("Agent".into()),
                division_id: "d1".into(),
                division_name: Some("Home".into()),
            }],
            "a grant without a division cannot be restored and is left out"
        );
        assert_eq!(
            snapshot.group_roles,
            vec![GroupRoleGrant {
                role_id: "r3".into(),
                role_name: Some("Supervisor".into()),
                division_id: "d1".into(),
                division_name: None,
                group: NamedRef {
                    id: "g1".into(),
                    name: Some("Tier 2".into()),
                },
            }],
            "a grant through a group is listed apart, once"
        );
        assert_eq!(snapshot.groups[0].name.as_deref(), Some("Tier 2"));
        assert_eq!(
            snapshot.team,
            Some(NamedRef {
                id: "t1".into(),
                name: Some("Day Shift".into())
            })
        );
        assert_eq!(
            (snapshot.utilization, snapshot.call_forwarding),
            (None, None),
            "read apart, by take"
        );
    }

    #[test]
    fn utilization_and_forwarding_reads_keep_every_setting() {
        let read: Utilization = serde_json::from_str(
            r#"{"utilization":{"chat":{"maximumCapacity":3,"interruptableMediaTypes":["call"],"includeNonAcd":false}},
                "labelUtilizations":{"l1":{"maximumCapacity":2,"labelName":"VIP"}},"maxInboundCalls":2,"level":"Agent"}"#,
        )
        .unwrap();
        let u = utilization_snapshot(&read);
        assert_eq!(u.level, "Agent");
        assert_eq!(u.media["chat"].maximum_capacity, Some(3));
        assert_eq!(u.media["chat"].interruptable_media_types, ["call"]);
        assert_eq!(u.labels["l1"].maximum_capacity, Some(2));
        assert_eq!(u.max_inbound_calls, Some(2));
        let inherited: Utilization = serde_json::from_str(r#"{"utilization":{}}"#).unwrap();
        assert_eq!(
            utilization_snapshot(&inherited).level,
            "Organization",
            "no level read is taken for the organization's, never for the user's own"
        );

        let read: CallForwarding = serde_json::from_str(
            r#"{"enabled":true,"phoneNumber":"","calls":[{"targets":[{"type":"PHONENUMBER","value":"+1555"}]}],"voicemail":"LASTCALL","user":{"id":"u1"}}"#,
        )
        .unwrap();
        let f = forwarding_snapshot(&read);
        assert!(f.enabled);
        assert_eq!(f.phone_number, None, "an empty number is none");
        assert_eq!(f.calls[0].targets[0].value.as_deref(), Some("+1555"));
        assert_eq!(f.voicemail.as_deref(), Some("LASTCALL"));
    }

    #[test]
    fn a_role_held_directly_and_through_a_group_is_in_both_lists() {
        let reading: Reading = Reading {
            user: serde_json::from_str(r#"{"id":"u1","state":"active"}"#).unwrap(),
            ..reading_of_nothing()
        };
        let subject: AuthzSubject = serde_json::from_str(
            r#"{"grants":[{"subjectId":"g9","role":{"id":"r1"},"division":{"id":"d1"}},
                          {"subjectId":"u1","role":{"id":"r1"},"division":{"id":"d1"}}]}"#,
        )
        .unwrap();

        let snapshot = build(&reading, &subject, Utc::now());

        let direct: Vec<&str> = snapshot.roles.iter().map(|r| r.role_id.as_str()).collect();
        assert_eq!(direct, ["r1"]);
        let through: Vec<(&str, Option<&str>)> = snapshot
            .group_roles
            .iter()
            .map(|r| (r.group.id.as_str(), r.group.name.as_deref()))
            .collect();
        assert_eq!(
            through,
            [("g9", None)],
            "a group not among the user's has no name"
        );
    }

    fn reading_of_nothing() -> Reading {
        Reading {
            user: serde_json::from_str(r#"{"id":"u0"}"#).unwrap(),
            routing_status: None,
            presence: None,
            presence_offline: false,
            queues_read: true,
            queues: vec![],
            skills: vec![],
            languages: vec![],
            stations: serde_json::from_str("{}").unwrap(),
            recorded_reason: None,
            via_groups: vec![],
            grants: None,
            history_before: None,
            ongoing_conversations: None,
            history_slices: None,
            handoff: None,
        }
    }
}
