//! `deletionPolicy: Restore`: re-activates the user and puts back what the snapshot holds, with
//! the calls the Genesys client has (direct queue memberships with their `joined` flag, skills,
//! role grants the user held directly; those held through a group come back with the group;
//! the user's own utilization, call forwarding, groups and team, see [`super::fidelity`]).
//! What the contract has no operation for (routing languages, the default
//! station) is listed in `status.notRestorable`, never improvised. Every call is an idempotent
//! `ensure_*` preceded by a read, so a rerun converges. A deleted user is never restored. I/O:
//! Genesys reads and writes; status through the [`StatusStore`].

use std::collections::HashSet;
use std::future::Future;

use super::confirm::CONFIRM_BACKOFF;
use super::error::{ReadError, ReconcileError, ResolveError, StepError, chain, status_message};
use super::execute::not_applied_before;
use super::fidelity::{Tally, ensure_settings, unrecorded_roles};
use super::owners::{OwnerRegistry, Ownership, UserKey};
use super::plan::StepKind;
use super::report::Report;
use super::{ClientProvider, Outcome, Pass, PassResult, StatusStore, check_endpoint};
use crate::crd::{
    ActionOutcome, GenesysUserOffboarding, HandoffItem, HandoffKind, NotRestorable,
    NotRestorableKind, QueueMembership, UserSnapshot,
};
use genesys_cloud::{
    GenesysClient, MemberBy, RetryClass, RoleDivision, UserId, UserRoutingSkillPost, UserState,
};

/// Puts the user back as the snapshot in `resource.status` holds them. Without a snapshot no
/// change was ever made, so there is nothing to put back. A resource that does not own its user
/// (see [`super::owners`]) puts nothing back either: the owner's offboarding stands. Nothing is
/// read or written when the spec names another organization than `status.endpoint`.
pub async fn restore(
    resource: &GenesysUserOffboarding,
    clients: &dyn ClientProvider,
    owners: &dyn OwnerRegistry,
    store: &dyn StatusStore,
) -> PassResult {
    let mut pass = Pass::new(resource, store);
    let result = restore_pass(&mut pass, clients, owners).await;
    pass.finish(result)
}

/// The restore, its final status persisted.
async fn restore_pass(
    pass: &mut Pass<'_>,
    clients: &dyn ClientProvider,
    owners: &dyn OwnerRegistry,
) -> Result<Outcome, ReconcileError> {
    let resource = pass.resource;
    let status = resource.status.clone().unwrap_or_default();
    let (Some(snapshot), Some(user)) = (status.snapshot.clone(), status.user.clone()) else {
        let outcome = pass.report.restored(&[], Vec::new());
        pass.save().await?;
        return Ok(outcome);
    };
    if let Err(e) = check_endpoint(resource) {
        let outcome = pass.report.stalled(e.reason(), chain(&e), false);
        pass.save().await?;
        return Ok(outcome);
    }
    let key = UserKey {
        api: status
            .endpoint
            .clone()
            .unwrap_or_else(|| resource.spec.endpoint())
            .api_key(),
        id: user.id.clone(),
    };
    if let Ownership::Duplicate { owner } = owners.claim(resource, &key).await? {
        let outcome = pass.report.not_restored(&owner);
        pass.save().await?;
        return Ok(outcome);
    }
    pass.report.restoring();
    pass.save().await?;

    let result = put_back(
        resource,
        clients,
        &UserId::new(user.id),
        &snapshot,
        &mut pass.report,
    )
    .await;
    let outcome = match result {
        Ok((put_back, not_restorable)) => pass.report.restored(&put_back, not_restorable),
        Err(e) if e.retry_class() == RetryClass::Never => {
            let unresolved = matches!(e, ReconcileError::Resolve(_));
            // The status gets the public message; the log, the whole cause chain.
            tracing::warn!(reason = e.reason(), error = %chain(&e), "restore stalled");
            pass.report
                .stalled(e.reason(), status_message(&e), unresolved)
        }
        Err(e) => {
            pass.report.retrying(e.reason(), &status_message(&e));
            pass.save().await?;
            return Err(e);
        }
    };
    pass.save().await?;
    Ok(outcome)
}

/// The restore steps; returns what was put back and what cannot be.
async fn put_back(
    resource: &GenesysUserOffboarding,
    clients: &dyn ClientProvider,
    id: &UserId,
    snapshot: &UserSnapshot,
    report: &mut Report,
) -> Result<(Vec<String>, Vec<NotRestorable>), ReconcileError> {
    let client = clients.client_for(resource).await?;
    let mut put_back = Vec::new();
    let mut not_restorable = Vec::new();

    ensure_not_deleted(&client, id).await?;
    if snapshot.state == UserState::Active {
        let user = client
            .get_user(id, &[])
            .await
            .map_err(ReadError::new("read the user"))?;
        if !user.is_state(&UserState::Active) {
            ensure_active(&client, id, resource, report).await?;
            // `ensure_active` returns only once the answer or a read shows the user active.
            report.read_back(
                StepKind::RestoreState,
                None,
                true,
                "state reads active".into(),
            );
            put_back.push("state active".to_owned());
        }
    }
    let mut unconfirmed = Vec::new();
    ensure_queues(
        &client,
        id,
        snapshot,
        report,
        &mut put_back,
        &mut unconfirmed,
    )
    .await?;
    ensure_skills(
        &client,
        id,
        snapshot,
        report,
        &mut put_back,
        &mut unconfirmed,
    )
    .await?;
    ensure_roles(
        &client,
        id,
        snapshot,
        report,
        &mut put_back,
        &mut unconfirmed,
    )
    .await?;
    let mut tally = Tally {
        report,
        put_back: &mut put_back,
        unconfirmed: &mut unconfirmed,
        not_restorable: &mut not_restorable,
    };
    ensure_settings(&client, id, snapshot, &mut tally).await?;
    unrecorded_roles(id, snapshot, &mut tally);
    missing_languages(&client, id, snapshot, report, &mut not_restorable).await?;
    missing_default_station(&client, id, snapshot, report, &mut not_restorable).await?;
    ensure_handoff_undone(
        &client,
        id,
        snapshot,
        report,
        &mut put_back,
        &mut not_restorable,
    )
    .await?;
    if !unconfirmed.is_empty() {
        // Put back, not yet read back: the next pass reads again (and writes only what is
        // still missing); after a bounded number of passes the restore stalls.
        let status = resource.status.clone().unwrap_or_default();
        let earlier = status
            .actions
            .iter()
            .filter(|a| {
                a.outcome == ActionOutcome::Unconfirmed && a.step.as_str().starts_with("Restore")
            })
            .count()
            / unconfirmed.len();
        let attempts = u32::try_from(earlier).unwrap_or(u32::MAX).saturating_add(1);
        return Err(StepError::Unconfirmed {
            count: unconfirmed.len(),
            what: unconfirmed.join("; "),
            attempts,
        }
        .into());
    }
    Ok((put_back, not_restorable))
}

/// Reads with `read` until `shows` holds of the answer or [`CONFIRM_BACKOFF`] is spent (a
/// write Genesys processes asynchronously shows late); returns the last answer.
pub(super) async fn settle<T, F, Fut>(read: F, shows: impl Fn(&T) -> bool) -> Result<T, ReadError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, ReadError>>,
{
    let mut last = read().await?;
    for wait in CONFIRM_BACKOFF {
        if shows(&last) {
            break;
        }
        tokio::time::sleep(wait).await;
        last = read().await?;
    }
    Ok(last)
}

/// Re-activates the user; done only when Genesys shows the user active (the answer, or else a
/// read), as for the deactivation.
async fn ensure_active(
    client: &GenesysClient,
    id: &UserId,
    resource: &GenesysUserOffboarding,
    report: &mut Report,
) -> Result<(), ReconcileError> {
    let what = "re-activate the user";
    let answered = client
        .set_user_state(id, UserState::Active)
        .await
        .map_err(StepError::genesys(what))?;
    if answered.is_state(&UserState::Active) {
        return Ok(());
    }
    let read = client
        .get_user(id, &[])
        .await
        .map_err(ReadError::new("read the user after re-activating"))?;
    if read.is_state(&UserState::Active) {
        return Ok(());
    }
    let step = StepKind::RestoreState;
    let status = resource.status.clone().unwrap_or_default();
    let error = StepError::NotApplied {
        step: step.clone(),
        observed: read.state.as_ref().map_or_else(
            || "no state".to_owned(),
            |s| format!("state {}", s.as_str()),
        ),
        attempts: not_applied_before(&status, &step) + 1,
    };
    report.not_applied(&error);
    report.action(step, None, ActionOutcome::Failed, Some(error.to_string()));
    Err(error.into())
}

async fn ensure_not_deleted(client: &GenesysClient, id: &UserId) -> Result<(), ReconcileError> {
    match client.get_user(id, &[]).await {
        Ok(user) if !user.is_state(&UserState::Deleted) => Ok(()),
        Ok(_) => Err(ResolveError::Deleted { id: id.to_string() }.into()),
        Err(e) if e.is_not_found() => match client.get_deleted_user(id).await {
            Ok(Some(_)) => Err(ResolveError::Deleted { id: id.to_string() }.into()),
            Ok(None) => Err(ResolveError::NotFound(format!("id {id}")).into()),
            Err(e) => Err(ResolveError::Genesys(e).into()),
        },
        Err(e) => Err(ResolveError::Genesys(e).into()),
    }
}

/// Direct memberships the snapshot holds and the user lacks are added back, then each direct
/// membership gets back the `joined` flag it had (`PATCH /users/{id}/queues`, one call).
async fn ensure_queues(
    client: &GenesysClient,
    id: &UserId,
    snapshot: &UserSnapshot,
    report: &mut Report,
    put_back: &mut Vec<String>,
    unconfirmed: &mut Vec<String>,
) -> Result<(), ReconcileError> {
    let read = || ReadError::new("read the user's queues");
    let mut current = client.get_user_queues(id).await.map_err(read())?;
    let direct: Vec<_> = snapshot
        .queues
        .iter()
        .filter(|q| q.member_by != Some(MemberBy::Group))
        .collect();
    let present: HashSet<&str> = current.iter().map(|q| q.id.as_str()).collect();
    let missing: Vec<_> = direct
        .iter()
        .filter(|q| !present.contains(q.id.as_str()))
        .collect();
    for queue in &missing {
        client
            .add_queue_members(&queue.id, std::slice::from_ref(id))
            .await
            .map_err(StepError::genesys("add the user back to a queue"))?;
    }
    if !missing.is_empty() {
        // Queue changes are processed asynchronously, and a member is added with whatever
        // `joined` Genesys chooses: read the list back until it shows them.
        current = settle(
            || async { client.get_user_queues(id).await.map_err(read()) },
            |now: &Vec<_>| {
                missing
                    .iter()
                    .all(|q| now.iter().any(|c: &genesys_cloud::UserQueue| c.id == q.id))
            },
        )
        .await?;
        record_added_queues(&missing, &current, report, put_back, unconfirmed);
    }
    // A membership not listed (yet) is left out: the PATCH would ignore it anyway (docs/genesys-api.md §6.3).
    let differing: Vec<_> = direct
        .iter()
        .filter(|q| {
            current
                .iter()
                .find(|c| c.id == q.id)
                .is_some_and(|c| c.joined != Some(q.joined))
        })
        .collect();
    let pairs: Vec<(&str, bool)> = differing
        .iter()
        .map(|q| (q.id.as_str(), q.joined))
        .collect();
    client
        .patch_user_queues(id, &pairs)
        .await
        .map_err(StepError::genesys(
            "restore the user's joined flag in queues",
        ))?;
    if differing.is_empty() {
        return Ok(());
    }
    let joined_as_before = |now: &[genesys_cloud::UserQueue], q: &QueueMembership| {
        now.iter()
            .any(|c| c.id == q.id && c.joined == Some(q.joined))
    };
    let after = settle(
        || async { client.get_user_queues(id).await.map_err(read()) },
        |now: &Vec<_>| differing.iter().all(|q| joined_as_before(now, q)),
    )
    .await?;
    for queue in differing {
        let shows = joined_as_before(&after, queue);
        let verdict = Verdict {
            step: StepKind::RestoreQueueJoined,
            target: queue.id.clone(),
            read: format!(
                "queue {} reads joined={}",
                name_of(queue),
                if shows { queue.joined } else { !queue.joined }
            ),
            done: format!("joined={} in queue {}", queue.joined, name_of(queue)),
            shows,
        };
        verdict.record(report, put_back, unconfirmed);
    }
    Ok(())
}

/// Records each queue added back by whether the user's queue list, read after, shows it.
fn record_added_queues(
    added: &[&&QueueMembership],
    current: &[genesys_cloud::UserQueue],
    report: &mut Report,
    put_back: &mut Vec<String>,
    unconfirmed: &mut Vec<String>,
) {
    for queue in added {
        let shows = current.iter().any(|c| c.id == queue.id);
        let name = name_of(queue);
        let verdict = Verdict {
            step: StepKind::RestoreQueue,
            target: queue.id.clone(),
            read: listed("the user's queues list", name, shows),
            done: format!("queue {name}"),
            shows,
        };
        verdict.record(report, put_back, unconfirmed);
    }
}

/// What a read after one restore write showed.
pub(super) struct Verdict {
    pub(super) step: StepKind,
    pub(super) target: String,
    pub(super) shows: bool,
    /// What was read (`readBack`).
    pub(super) read: String,
    /// The line for the list of what was put back.
    pub(super) done: String,
}

impl Verdict {
    /// `Succeeded` and put back when the read shows the change, else `Unconfirmed` and listed
    /// for the retry.
    pub(super) fn record(
        self,
        report: &mut Report,
        put_back: &mut Vec<String>,
        unconfirmed: &mut Vec<String>,
    ) {
        report.read_back(
            self.step.clone(),
            Some(self.target),
            self.shows,
            self.read.clone(),
        );
        if self.shows {
            put_back.push(self.done);
        } else {
            unconfirmed.push(format!("{} ({})", self.step.as_str(), self.read));
        }
    }
}

/// `the user's skills list Retention`, or `the user's skills do not list Retention yet`.
pub(super) fn listed(list: &str, name: &str, shows: bool) -> String {
    if shows {
        format!("{list} {name}")
    } else {
        let (whose, verb) = list.rsplit_once(' ').unwrap_or((list, "list"));
        format!("{whose} do not {verb} {name} yet")
    }
}

fn name_of(queue: &QueueMembership) -> &str {
    queue.name.as_deref().unwrap_or(&queue.id)
}

async fn ensure_skills(
    client: &GenesysClient,
    id: &UserId,
    snapshot: &UserSnapshot,
    report: &mut Report,
    put_back: &mut Vec<String>,
    unconfirmed: &mut Vec<String>,
) -> Result<(), ReconcileError> {
    let current = client
        .get_user_skills(id)
        .await
        .map_err(ReadError::new("read the user's skills"))?;
    let have: HashSet<&str> = current.iter().map(|s| s.id.as_str()).collect();
    if snapshot.skills.iter().all(|s| have.contains(s.id.as_str())) {
        return Ok(());
    }
    // The bulk PUT replaces the whole list: keep skills added since, and put back the rest.
    let mut skills: Vec<UserRoutingSkillPost> = current
        .iter()
        .map(|s| UserRoutingSkillPost {
            id: s.id.clone(),
            proficiency: s.proficiency.unwrap_or_default(),
        })
        .collect();
    let missing: Vec<_> = snapshot
        .skills
        .iter()
        .filter(|s| !have.contains(s.id.as_str()))
        .collect();
    skills.extend(missing.iter().map(|s| UserRoutingSkillPost {
        id: s.id.clone(),
        proficiency: s.proficiency,
    }));
    client
        .set_user_skills(id, &skills)
        .await
        .map_err(StepError::genesys("put the user's skills back"))?;
    let after = settle(
        || async {
            client
                .get_user_skills(id)
                .await
                .map_err(ReadError::new("read the user's skills back"))
        },
        |now: &Vec<_>| {
            missing.iter().all(|s| {
                now.iter()
                    .any(|n: &genesys_cloud::UserRoutingSkill| n.id == s.id)
            })
        },
    )
    .await?;
    for skill in missing {
        let name = skill.name.as_deref().unwrap_or(&skill.id);
        let shows = after.iter().any(|n| n.id == skill.id);
        let verdict = Verdict {
            step: StepKind::RestoreSkill,
            target: skill.id.clone(),
            read: listed("the user's skills list", name, shows),
            done: format!("skill {name}"),
            shows,
        };
        verdict.record(report, put_back, unconfirmed);
    }
    Ok(())
}

/// The roles the user held directly and lacks now are granted back, in one call. A role the
/// user held through a group is never granted directly (it would outlive the membership):
/// Genesys applies the group's grants again by itself some time after the re-activation, so
/// one not back yet is only logged, as skipped.
async fn ensure_roles(
    client: &GenesysClient,
    id: &UserId,
    snapshot: &UserSnapshot,
    report: &mut Report,
    put_back: &mut Vec<String>,
    unconfirmed: &mut Vec<String>,
) -> Result<(), ReconcileError> {
    let subject = client
        .get_authorization_subject(id)
        .await
        .map_err(ReadError::new("read the user's role grants"))?;
    // Held now, by whom: `None` for the user's own grants, else the group.
    let have: HashSet<(String, String, Option<&str>)> = subject
        .grants
        .iter()
        .filter_map(|g| {
            Some((
                g.role.as_ref()?.id.clone()?,
                g.division.as_ref()?.id.clone()?,
                g.through(id),
            ))
        })
        .collect();
    let held = |role: &str, division: &str, through: Option<&str>| {
        have.contains(&(role.to_owned(), division.to_owned(), through))
    };
    for role in &snapshot.group_roles {
        if held(&role.role_id, &role.division_id, Some(&role.group.id)) {
            continue;
        }
        let group = role.group.name.as_deref().unwrap_or(&role.group.id);
        report.action(
            StepKind::RestoreGroupRole,
            Some(format!("{}@{}", role.role_id, role.division_id)),
            ActionOutcome::Skipped,
            Some(format!(
                "held through group {group}: Genesys Cloud applies it again by itself after the re-activation; never granted directly"
            )),
        );
    }
    let missing: Vec<_> = snapshot
        .roles
        .iter()
        .filter(|r| !held(&r.role_id, &r.division_id, None))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let grants: Vec<RoleDivision> = missing
        .iter()
        .map(|r| RoleDivision {
            role_id: r.role_id.clone(),
            division_id: r.division_id.clone(),
        })
        .collect();
    client
        .grant_roles(id, &grants)
        .await
        .map_err(StepError::genesys("grant the user's roles back"))?;
    confirm_roles(client, id, &missing, report, put_back, unconfirmed).await
}

/// Reads the grants back after granting `missing` and records each role by what the read shows.
async fn confirm_roles(
    client: &GenesysClient,
    id: &UserId,
    missing: &[&crate::crd::RoleGrant],
    report: &mut Report,
    put_back: &mut Vec<String>,
    unconfirmed: &mut Vec<String>,
) -> Result<(), ReconcileError> {
    // The user's own grants as a read shows them now.
    let own = |subject: &genesys_cloud::AuthzSubject| -> HashSet<(String, String)> {
        subject
            .grants
            .iter()
            .filter(|g| g.through(id).is_none())
            .filter_map(|g| {
                Some((
                    g.role.as_ref()?.id.clone()?,
                    g.division.as_ref()?.id.clone()?,
                ))
            })
            .collect()
    };
    let after = settle(
        || async {
            client
                .get_authorization_subject(id)
                .await
                .map_err(ReadError::new("read the user's role grants back"))
        },
        |subject| {
            let own = own(subject);
            missing
                .iter()
                .all(|r| own.contains(&(r.role_id.clone(), r.division_id.clone())))
        },
    )
    .await?;
    let own = own(&after);
    for role in missing {
        let name = format!(
            "role {} in {}",
            role.role_name.as_deref().unwrap_or(&role.role_id),
            role.division_name.as_deref().unwrap_or(&role.division_id)
        );
        let shows = own.contains(&(role.role_id.clone(), role.division_id.clone()));
        let verdict = Verdict {
            step: StepKind::RestoreRole,
            target: format!("{}@{}", role.role_id, role.division_id),
            read: listed("the user's grants hold", &name, shows),
            done: name,
            shows,
        };
        verdict.record(report, put_back, unconfirmed);
    }
    Ok(())
}

/// Languages: the contract has no operation that assigns a routing language, so missing ones
/// are listed as not restorable.
async fn missing_languages(
    client: &GenesysClient,
    id: &UserId,
    snapshot: &UserSnapshot,
    report: &mut Report,
    not_restorable: &mut Vec<NotRestorable>,
) -> Result<(), ReconcileError> {
    if snapshot.languages.is_empty() {
        return Ok(());
    }
    let current = client
        .get_user_languages(id)
        .await
        .map_err(ReadError::new("read the user's languages"))?;
    for language in &snapshot.languages {
        if current.iter().any(|l| l.id == language.id) {
            continue;
        }
        let why = format!(
            "the Genesys Cloud calls this operator has cannot assign a routing language; it had proficiency {}",
            language.proficiency
        );
        report.action(
            StepKind::RestoreLanguage,
            Some(language.id.clone()),
            ActionOutcome::Skipped,
            Some(format!("not restorable: {why}")),
        );
        not_restorable.push(NotRestorable {
            what: NotRestorableKind::Language,
            id: language.id.clone(),
            name: language.name.clone(),
            why,
        });
    }
    Ok(())
}

/// The default station: the contract has no operation that sets one, so a missing one is listed
/// as not restorable.
async fn missing_default_station(
    client: &GenesysClient,
    id: &UserId,
    snapshot: &UserSnapshot,
    report: &mut Report,
    not_restorable: &mut Vec<NotRestorable>,
) -> Result<(), ReconcileError> {
    let Some(default) = snapshot.station.as_ref().and_then(|s| s.default.as_ref()) else {
        return Ok(());
    };
    let current = client
        .get_user_station(id)
        .await
        .map_err(ReadError::new("read the user's stations"))?;
    if current
        .default_station
        .as_ref()
        .and_then(|s| s.id.as_deref())
        == Some(default.id.as_str())
    {
        return Ok(());
    }
    let why = "the Genesys Cloud calls this operator has cannot set a default station".to_owned();
    report.action(
        StepKind::RestoreDefaultStation,
        Some(default.id.clone()),
        ActionOutcome::Skipped,
        Some(format!("not restorable: {why}")),
    );
    not_restorable.push(NotRestorable {
        what: NotRestorableKind::DefaultStation,
        id: default.id.clone(),
        name: default.name.clone(),
        why,
    });
    Ok(())
}

/// What the handoff moved and can be moved back: a direct report whose manager is still the
/// successor gets the user back as manager, a colleague whose direct-routing backup is still
/// the successor (or the fallback queue) gets the user back as backup; each is read first and
/// read back after. One changed again since the handoff is someone's later choice and is
/// listed instead, as are the workitems, callbacks, evaluations and calibrations (the successor
/// may have worked on them). Voicemail was
/// copied, never moved: the user's mailbox still holds it.
async fn ensure_handoff_undone(
    client: &GenesysClient,
    id: &UserId,
    snapshot: &UserSnapshot,
    report: &mut Report,
    put_back: &mut Vec<String>,
    not_restorable: &mut Vec<NotRestorable>,
) -> Result<(), ReconcileError> {
    for item in &snapshot.handoff {
        let Some(to) = item.to.as_deref() else {
            continue;
        };
        match item.kind {
            HandoffKind::DirectReport => {
                restore_manager(client, id, item, to, report, put_back, not_restorable).await?;
            }
            HandoffKind::DirectRoutingBackup => {
                restore_backup(client, id, item, to, report, put_back, not_restorable).await?;
            }
            HandoffKind::Workitem => not_restorable.push(NotRestorable {
                what: NotRestorableKind::Workitem,
                id: item.id.clone(),
                name: item.name.clone(),
                why: format!(
                    "handed to {to}; it stays with its new owner, who may have worked on it"
                ),
            }),
            HandoffKind::Callback => not_restorable.push(NotRestorable {
                what: NotRestorableKind::Callback,
                id: item.id.clone(),
                name: item.name.clone(),
                why: format!(
                    "handed to {to}; it stays with its new owner, who may have made or rescheduled it"
                ),
            }),
            HandoffKind::Evaluation => not_restorable.push(NotRestorable {
                what: NotRestorableKind::Evaluation,
                id: item.id.clone(),
                name: item.name.clone(),
                why: format!("assigned to {to}; it stays with them, who may have started it"),
            }),
            HandoffKind::Calibration => not_restorable.push(NotRestorable {
                what: NotRestorableKind::Calibration,
                id: item.id.clone(),
                name: item.name.clone(),
                why: format!(
                    "{to} took the user's place among its evaluators; left with them, who may have evaluated it"
                ),
            }),
            HandoffKind::Voicemail => {}
        }
    }
    Ok(())
}

/// A direct report whose manager is still the successor gets the user back as manager.
async fn restore_manager(
    client: &GenesysClient,
    id: &UserId,
    item: &HandoffItem,
    to: &str,
    report: &mut Report,
    put_back: &mut Vec<String>,
    not_restorable: &mut Vec<NotRestorable>,
) -> Result<(), ReconcileError> {
    let name = || item.name.clone().unwrap_or_else(|| item.id.clone());
    let report_id = UserId::new(item.id.as_str());
    let manager = |u: &genesys_cloud::User| u.manager.as_ref().and_then(|m| m.id.clone());
    let current = match client.get_user(&report_id, &[]).await {
        Ok(u) => u,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(ReadError::new("read a direct report")(e).into()),
    };
    match manager(&current).as_deref() {
        Some(m) if m == id.as_str() => {}
        Some(m) if m == to => {
            let version = current.version.unwrap_or_default();
            client
                .set_manager(&report_id, id.as_str(), version)
                .await
                .map_err(StepError::genesys(
                    "give a direct report their manager back",
                ))?;
            let after = client
                .get_user(&report_id, &[])
                .await
                .map_err(ReadError::new("read a direct report back"))?;
            let confirmed = manager(&after).as_deref() == Some(id.as_str());
            report.action(
                StepKind::RestoreManager,
                Some(item.id.clone()),
                if confirmed {
                    ActionOutcome::Succeeded
                } else {
                    ActionOutcome::Unconfirmed
                },
                None,
            );
            if confirmed {
                put_back.push(format!("manager of {}", name()));
            }
        }
        _ => not_restorable.push(NotRestorable {
            what: NotRestorableKind::DirectReportManager,
            id: item.id.clone(),
            name: item.name.clone(),
            why: "their manager changed again after the handoff; left as it is".into(),
        }),
    }
    Ok(())
}

/// A colleague whose direct-routing backup is still the successor (or the queue) gets the user
/// back as backup.
async fn restore_backup(
    client: &GenesysClient,
    id: &UserId,
    item: &HandoffItem,
    to: &str,
    report: &mut Report,
    put_back: &mut Vec<String>,
    not_restorable: &mut Vec<NotRestorable>,
) -> Result<(), ReconcileError> {
    let name = || item.name.clone().unwrap_or_else(|| item.id.clone());
    let colleague = UserId::new(item.id.as_str());
    let current = match client.get_direct_routing_backup(&colleague).await {
        Ok(s) => s,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => {
            return Err(ReadError::new("read a colleague's direct-routing backup")(e).into());
        }
    };
    let holds_handoff = if item.to_queue {
        current.queue_id.as_deref() == Some(to) && current.user_id.is_none()
    } else {
        current.user_id.as_deref() == Some(to)
    };
    if current.user_id.as_deref() == Some(id.as_str()) {
        return Ok(());
    }
    if !holds_handoff {
        not_restorable.push(NotRestorable {
            what: NotRestorableKind::DirectRoutingBackup,
            id: item.id.clone(),
            name: item.name.clone(),
            why: "their direct-routing backup changed again after the handoff; left as it is"
                .into(),
        });
        return Ok(());
    }
    let wanted = genesys_cloud::DirectRoutingBackup {
        user_id: Some(id.to_string()),
        queue_id: if item.to_queue {
            None
        } else {
            current.queue_id.clone()
        },
        wait_for_agent: current.wait_for_agent,
        agent_wait_seconds: current.agent_wait_seconds,
        backed_up_users: Vec::new(),
    };
    client
        .put_direct_routing_backup(&colleague, &wanted)
        .await
        .map_err(StepError::genesys(
            "give a colleague their direct-routing backup back",
        ))?;
    let after = client
        .get_direct_routing_backup(&colleague)
        .await
        .map_err(ReadError::new(
            "read a colleague's direct-routing backup back",
        ))?;
    if after.user_id.as_deref() == Some(id.as_str()) {
        report.action(
            StepKind::RestoreDirectRoutingBackup,
            Some(item.id.clone()),
            ActionOutcome::Succeeded,
            None,
        );
        put_back.push(format!("direct-routing backup of {}", name()));
    }
    Ok(())
}
