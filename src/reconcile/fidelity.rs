//! The part of `deletionPolicy: Restore` that puts back the user's own settings and memberships
//! as the snapshot holds them: utilization, call forwarding, groups, team. The offboarding never
//! changes these itself, but Genesys or an administrator may have since (an administrator pulls
//! a departed agent from their groups, someone resets their call forwarding), and the returning
//! user should find them as they left them.
//!
//! Each is read first and written only where the read differs from the snapshot; each write is
//! read back, and only what the read shows is claimed put back (a write not showing yet is
//! unconfirmed, read again on the next pass). What cannot be put back (a group deleted since, a
//! write refused for good, a later choice the restore would undo) goes to `status.notRestorable`
//! with the reason. Nothing inherited is made the user's own: the organization's utilization is
//! never written as the user's. I/O: Genesys reads and writes.

use genesys_cloud::{
    CallForwarding, CallRoute, CallTarget, GenesysClient, GenesysError, LabelUtilization,
    MediaUtilization, RetryClass, UserId, UtilizationRequest,
};

use super::error::{ReadError, ReconcileError, StepError};
use super::plan::StepKind;
use super::report::Report;
use super::restore::{Verdict, settle};
use super::snapshot::{forwarding_snapshot, user_with_memberships, utilization_snapshot};
use crate::crd::{
    ActionOutcome, CallForwardingSnapshot, NamedRef, NotRestorable, NotRestorableKind,
    SnapshotPart, UserSnapshot, UtilizationSnapshot,
};

/// Where the restore keeps what it found.
pub struct Tally<'a> {
    pub report: &'a mut Report,
    pub put_back: &'a mut Vec<String>,
    pub unconfirmed: &'a mut Vec<String>,
    pub not_restorable: &'a mut Vec<NotRestorable>,
}

impl Tally<'_> {
    /// Lists `what` as not restorable, with the reason, and logs it as skipped.
    fn cannot(&mut self, step: StepKind, what: NotRestorableKind, item: &NamedRef, why: String) {
        self.report.action(
            step,
            Some(item.id.clone()),
            ActionOutcome::Skipped,
            Some(format!("not restorable: {why}")),
        );
        self.not_restorable.push(NotRestorable {
            what,
            id: item.id.clone(),
            name: item.name.clone(),
            why,
        });
    }
}

/// Whether a failed write is one to give up on and list (refused for good: a 4xx other than a
/// rate limit or a version conflict) rather than retry.
fn refused(e: &GenesysError) -> bool {
    e.retry_class() == RetryClass::Never && !e.is_version_conflict()
}

/// Why Genesys refused: its own message, never the operator's log detail.
fn refusal(e: &GenesysError) -> String {
    let text = e.public_message().unwrap_or_else(|| e.to_string());
    format!("Genesys Cloud refused the write: {text}")
}

/// The answer of a write that puts a setting back: `Ok(true)` when Genesys took it (to be read
/// back), `Ok(false)` when it refused it for good (listed as not restorable, under the step,
/// kind and item of `what`), and any other failure fails the pass (`failing`: what was being
/// done), to be retried.
fn written<T>(
    answer: Result<T, GenesysError>,
    tally: &mut Tally<'_>,
    (step, kind, item): (StepKind, NotRestorableKind, &NamedRef),
    failing: &'static str,
) -> Result<bool, ReconcileError> {
    match answer {
        Ok(_) => Ok(true),
        Err(e) if refused(&e) => {
            tally.cannot(step, kind, item, refusal(&e));
            Ok(false)
        }
        Err(e) => Err(StepError::genesys(failing)(e).into()),
    }
}

/// Role grants a `Minimal` snapshot did not record: going inactive removed those the user held
/// directly, and nothing says which they were, so they are listed as not restorable (those
/// held through a group come back with the group).
pub fn unrecorded_roles(id: &UserId, snapshot: &UserSnapshot, tally: &mut Tally<'_>) {
    if !snapshot.not_recorded.contains(&SnapshotPart::RoleGrants) {
        return;
    }
    let user = NamedRef {
        id: id.to_string(),
        name: None,
    };
    tally.cannot(
        StepKind::RestoreRole,
        NotRestorableKind::RoleGrants,
        &user,
        "the snapshot did not record the user's role grants (spec.snapshot.scope: Minimal) and going inactive removed those held directly; grant them again by hand".into(),
    );
}

/// Puts back utilization, call forwarding, groups and team, in that order.
pub async fn ensure_settings(
    client: &GenesysClient,
    id: &UserId,
    snapshot: &UserSnapshot,
    tally: &mut Tally<'_>,
) -> Result<(), ReconcileError> {
    let user = NamedRef {
        id: id.to_string(),
        name: None,
    };
    if let Some(saved) = &snapshot.utilization {
        ensure_utilization(client, id, &user, saved, tally).await?;
    }
    if let Some(saved) = &snapshot.call_forwarding {
        ensure_call_forwarding(client, id, &user, saved, tally).await?;
    }
    if !snapshot.groups.is_empty() || snapshot.team.is_some() {
        ensure_memberships(client, id, snapshot, tally).await?;
    }
    Ok(())
}

/// The same utilization settings, whoever's level they are at.
fn same_utilization(a: &UtilizationSnapshot, b: &UtilizationSnapshot) -> bool {
    a.media == b.media && a.labels == b.labels && a.max_inbound_calls == b.max_inbound_calls
}

fn is_own(u: &UtilizationSnapshot) -> bool {
    u.level == "Agent"
}

/// The user's own utilization, written back whole where it differs. One the user only
/// inherited from the organization is never written as their own: if someone has since given
/// them their own, it is listed instead.
async fn ensure_utilization(
    client: &GenesysClient,
    id: &UserId,
    user: &NamedRef,
    saved: &UtilizationSnapshot,
    tally: &mut Tally<'_>,
) -> Result<(), ReconcileError> {
    let read = || ReadError::new("read the user's utilization");
    let current = utilization_snapshot(&client.get_user_utilization(id).await.map_err(read())?);
    let step = StepKind::RestoreUtilization;
    if !is_own(saved) {
        if is_own(&current) {
            tally.cannot(
                step,
                NotRestorableKind::Utilization,
                user,
                "the user had the organization's utilization and now has their own; writing the organization's values as theirs would make an inherited setting their own, so it is left as it is".into(),
            );
        }
        return Ok(());
    }
    if is_own(&current) && same_utilization(&current, saved) {
        return Ok(());
    }
    let request = UtilizationRequest {
        utilization: saved
            .media
            .iter()
            .map(|(k, m)| {
                (
                    k.clone(),
                    MediaUtilization {
                        maximum_capacity: m.maximum_capacity,
                        interruptable_media_types: m.interruptable_media_types.clone(),
                        include_non_acd: m.include_non_acd,
                    },
                )
            })
            .collect(),
        label_utilizations: saved
            .labels
            .iter()
            .map(|(k, l)| {
                (
                    k.clone(),
                    LabelUtilization {
                        maximum_capacity: l.maximum_capacity,
                        interrupting_label_ids: l.interrupting_label_ids.clone(),
                    },
                )
            })
            .collect(),
        max_inbound_calls: saved.max_inbound_calls,
    };
    let answer = client.put_user_utilization(id, &request).await;
    let what = (step.clone(), NotRestorableKind::Utilization, user);
    if !written(answer, tally, what, "put the user's utilization back")? {
        return Ok(());
    }
    let shows = |u: &UtilizationSnapshot| is_own(u) && same_utilization(u, saved);
    let after = settle(
        || async {
            client
                .get_user_utilization(id)
                .await
                .map(|u| utilization_snapshot(&u))
                .map_err(read())
        },
        shows,
    )
    .await?;
    let shows = shows(&after);
    Verdict {
        step,
        target: id.to_string(),
        read: if shows {
            "the user's utilization reads as in the snapshot".into()
        } else {
            "the user's utilization does not read as in the snapshot yet".into()
        },
        done: "utilization".into(),
        shows,
    }
    .record(tally.report, tally.put_back, tally.unconfirmed);
    Ok(())
}

/// The user's call forwarding, written back whole where it differs.
async fn ensure_call_forwarding(
    client: &GenesysClient,
    id: &UserId,
    user: &NamedRef,
    saved: &CallForwardingSnapshot,
    tally: &mut Tally<'_>,
) -> Result<(), ReconcileError> {
    let read = || ReadError::new("read the user's call forwarding");
    let current = forwarding_snapshot(&client.get_call_forwarding(id).await.map_err(read())?);
    if current == *saved {
        return Ok(());
    }
    let step = StepKind::RestoreCallForwarding;
    let wanted = CallForwarding {
        enabled: saved.enabled,
        phone_number: saved.phone_number.clone(),
        calls: saved
            .calls
            .iter()
            .map(|r| CallRoute {
                targets: r
                    .targets
                    .iter()
                    .map(|t| CallTarget {
                        r#type: t.r#type.clone(),
                        value: t.value.clone(),
                    })
                    .collect(),
            })
            .collect(),
        voicemail: saved.voicemail.clone(),
    };
    let answer = client.put_call_forwarding(id, &wanted).await;
    let what = (step.clone(), NotRestorableKind::CallForwarding, user);
    if !written(answer, tally, what, "put the user's call forwarding back")? {
        return Ok(());
    }
    let after = settle(
        || async {
            client
                .get_call_forwarding(id)
                .await
                .map(|c| forwarding_snapshot(&c))
                .map_err(read())
        },
        |now| now == saved,
    )
    .await?;
    let shows = after == *saved;
    let state = if saved.enabled { "on" } else { "off" };
    Verdict {
        step,
        target: id.to_string(),
        read: if shows {
            format!("the user's call forwarding reads {state}, as in the snapshot")
        } else {
            "the user's call forwarding does not read as in the snapshot yet".into()
        },
        done: format!("call forwarding ({state})"),
        shows,
    }
    .record(tally.report, tally.put_back, tally.unconfirmed);
    Ok(())
}

/// The user's groups and team as a read shows them now; `None` when every read left them out.
async fn memberships(
    client: &GenesysClient,
    id: &UserId,
) -> Result<Option<(Vec<String>, Option<String>)>, ReadError> {
    let Some(user) = user_with_memberships(client, id).await? else {
        return Ok(None);
    };
    let groups = user
        .groups
        .iter()
        .flatten()
        .filter_map(|g| g.id.clone())
        .collect();
    Ok(Some((groups, user.team.and_then(|t| t.id))))
}

/// Adds the user back to each group of the snapshot they are no longer in, and to their team
/// if they are in none now (a user is in at most one team: one they are in now is a later
/// choice, listed instead). Then reads both back.
async fn ensure_memberships(
    client: &GenesysClient,
    id: &UserId,
    snapshot: &UserSnapshot,
    tally: &mut Tally<'_>,
) -> Result<(), ReconcileError> {
    let Some((groups, team)) = memberships(client, id).await? else {
        // Nothing is written on a guess: the next pass reads again.
        tally
            .unconfirmed
            .push("RestoreGroup (the user's reads left out their groups)".into());
        return Ok(());
    };
    let mut added: Vec<&NamedRef> = Vec::new();
    for group in snapshot.groups.iter().filter(|g| !groups.contains(&g.id)) {
        if add_to_group(client, id, group, tally).await? {
            added.push(group);
        }
    }
    let mut team_added = None;
    if let Some(saved) = &snapshot.team {
        match team.as_deref() {
            Some(now) if now == saved.id => {}
            Some(now) => tally.cannot(
                StepKind::RestoreTeam,
                NotRestorableKind::Team,
                saved,
                format!(
                    "the user is in team {now} now; a user is in one team at most, and moving them back would undo that later choice"
                ),
            ),
            None => {
                if add_to_team(client, id, saved, tally).await? {
                    team_added = Some(saved);
                }
            }
        }
    }
    if added.is_empty() && team_added.is_none() {
        return Ok(());
    }
    let shows = |(groups, team): &(Vec<String>, Option<String>)| {
        added.iter().all(|g| groups.contains(&g.id))
            && team_added.is_none_or(|t| team.as_deref() == Some(t.id.as_str()))
    };
    let after = settle(
        || memberships(client, id),
        |read: &Option<_>| read.as_ref().is_some_and(shows),
    )
    .await?;
    let (groups, team) = after.unwrap_or_default();
    for group in added {
        let name = group.name.as_deref().unwrap_or(&group.id);
        let shows = groups.contains(&group.id);
        Verdict {
            step: StepKind::RestoreGroup,
            target: group.id.clone(),
            read: super::restore::listed("the user's groups list", name, shows),
            done: format!("group {name}"),
            shows,
        }
        .record(tally.report, tally.put_back, tally.unconfirmed);
    }
    if let Some(saved) = team_added {
        let name = saved.name.as_deref().unwrap_or(&saved.id);
        let shows = team.as_deref() == Some(saved.id.as_str());
        Verdict {
            step: StepKind::RestoreTeam,
            target: saved.id.clone(),
            read: if shows {
                format!("the user's team reads {name}")
            } else {
                format!("the user's team does not read {name} yet")
            },
            done: format!("team {name}"),
            shows,
        }
        .record(tally.report, tally.put_back, tally.unconfirmed);
    }
    Ok(())
}

/// Why `group` cannot be restored, when `e` says so for good: it is gone, or the call is
/// refused. The read of the group and the add answer alike.
fn unreachable_group(e: &GenesysError) -> Option<String> {
    if e.is_not_found() {
        Some("the group no longer exists (deleted after the snapshot)".into())
    } else if refused(e) {
        Some(refusal(e))
    } else {
        None
    }
}

/// Adds the user to `group` with the group's current version; `false` when it cannot be (the
/// group is gone or the add is refused: listed). A version that moved between the read and the
/// write is read again once; moving again, the pass is retried.
async fn add_to_group(
    client: &GenesysClient,
    id: &UserId,
    group: &NamedRef,
    tally: &mut Tally<'_>,
) -> Result<bool, ReconcileError> {
    let step = StepKind::RestoreGroup;
    let mut conflicts = 0;
    loop {
        let info = match client.get_group(&group.id).await {
            Ok(info) => info,
            Err(e) => match unreachable_group(&e) {
                Some(why) => {
                    tally.cannot(step, NotRestorableKind::Group, group, why);
                    return Ok(false);
                }
                None => return Err(ReadError::new("read a group")(e).into()),
            },
        };
        let version = info.version.unwrap_or_default();
        match client.add_group_member(&group.id, id, version).await {
            Ok(()) => return Ok(true),
            Err(e) if e.is_version_conflict() && conflicts == 0 => conflicts += 1,
            Err(e) => match unreachable_group(&e) {
                Some(why) => {
                    tally.cannot(step, NotRestorableKind::Group, group, why);
                    return Ok(false);
                }
                None => {
                    return Err(StepError::genesys("add the user back to a group")(e).into());
                }
            },
        }
    }
}

/// Adds the user to `team`; `false` when it cannot be (listed).
async fn add_to_team(
    client: &GenesysClient,
    id: &UserId,
    team: &NamedRef,
    tally: &mut Tally<'_>,
) -> Result<bool, ReconcileError> {
    let step = StepKind::RestoreTeam;
    match client.add_team_member(&team.id, id).await {
        Ok(answer) => {
            if let Some(failure) = answer
                .failures
                .iter()
                .find(|f| f.id.as_deref() == Some(id.as_str()))
            {
                let reason = failure.reason.as_deref().unwrap_or("no reason given");
                tally.cannot(
                    step,
                    NotRestorableKind::Team,
                    team,
                    format!("Genesys Cloud did not add the user to the team: {reason}"),
                );
                return Ok(false);
            }
            Ok(true)
        }
        Err(e) if e.is_not_found() => {
            tally.cannot(
                step,
                NotRestorableKind::Team,
                team,
                "the team no longer exists (deleted after the snapshot)".into(),
            );
            Ok(false)
        }
        Err(e) if refused(&e) => {
            tally.cannot(step, NotRestorableKind::Team, team, refusal(&e));
            Ok(false)
        }
        Err(e) => Err(StepError::genesys("add the user back to their team")(e).into()),
    }
}
