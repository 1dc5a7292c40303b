//! Carries out one step of the plan against Genesys. Every write is an idempotent `ensure_*`
//! function: "already done" (a 404 for something already gone, a state already reached) is
//! success. Refuses any write while no snapshot is persisted (the invariant behind
//! `deletionPolicy: Restore`). I/O: Genesys reads and writes.

use chrono::{DateTime, Utc};

use super::error::StepError;
use super::observe::Reading;
use super::plan::{Named, Step, StepKind};
use super::{handoff, snapshot, verify};
use crate::crd::{GenesysUserOffboardingStatus, HistoryStatus, UserSnapshot};
use genesys_cloud::{
    GenesysClient, GenesysError, RoutingStatusValue, StateChangeReason, UserId, UserState,
    UserStateInfo,
};

/// How many times recording the reason re-reads the version after a conflict.
const REASON_CONFLICT_ATTEMPTS: u32 = 3;

/// What a step produced.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutput {
    Snapshot(Box<UserSnapshot>),
    HistoryBefore(HistoryStatus),
    HistoryAfter(HistoryStatus),
    /// A write that changed Genesys.
    Changed,
    /// A write that changed the user's state record; the user's new `version`.
    NewVersion(Option<i64>),
    /// A write whose target state already held.
    AlreadyDone,
    /// The handoff's counts, per kind (complete or not: see [`crate::crd::HandoffStatus`]), and the moves
    /// no read shows yet.
    Handoff(handoff::Handed),
}

/// What a step needs besides the client.
pub struct StepContext<'a> {
    pub client: &'a GenesysClient,
    pub user: &'a UserId,
    pub reading: &'a Reading,
    pub lookback: std::time::Duration,
    /// What the snapshot reads (`spec.snapshot.scope`).
    pub scope: crate::crd::SnapshotScope,
    /// The status as last persisted (not as being built): the snapshot check reads it.
    pub persisted: &'a GenesysUserOffboardingStatus,
    /// The user's `version` as last seen (the observe read, or the answer of the last write
    /// that changed it): the state writes send it without reading the user again, and re-read
    /// only on a version conflict.
    pub version: Option<i64>,
    pub now: DateTime<Utc>,
}

/// Runs one step.
pub async fn run(cx: &StepContext<'_>, step: &Step) -> Result<StepOutput, StepError> {
    if step.is_write() && cx.persisted.snapshot.is_none() {
        return Err(StepError::SnapshotNotPersisted(step.kind()));
    }
    let (client, user) = (cx.client, cx.user);
    match step {
        Step::TakeSnapshot => Ok(StepOutput::Snapshot(Box::new(
            snapshot::take(client, cx.reading, cx.scope, cx.now).await?,
        ))),
        // Observe counted already (its conversations fed the live-conversation guard).
        Step::CountHistoryBefore => Ok(StepOutput::HistoryBefore(
            match &cx.reading.history_before {
                Some(history) => history.clone(),
                None => {
                    verify::count_before(client, user, cx.lookback, cx.now)
                        .await?
                        .0
                }
            },
        )),
        Step::VerifyHistory => {
            let before = cx
                .persisted
                .history
                .clone()
                .ok_or_else(|| StepError::BadInterval("(no count before any change)".into()))?;
            Ok(StepOutput::HistoryAfter(
                verify::verify(
                    client,
                    user,
                    &before,
                    cx.reading.history_slices.as_deref(),
                    cx.now,
                )
                .await?,
            ))
        }
        Step::HandOff => {
            // The list is the snapshot's, persisted before any write: a rerun moves the same
            // pieces, each read before it is written.
            let items = cx
                .persisted
                .snapshot
                .as_ref()
                .map(|s| s.handoff.as_slice())
                .unwrap_or_default();
            let successor = cx
                .reading
                .handoff
                .as_ref()
                .and_then(|h| h.successor.clone());
            Ok(StepOutput::Handoff(
                handoff::run(client, user, items, successor).await?,
            ))
        }
        Step::SetOffQueue => ensure_off_queue(client, user).await,
        Step::SetPresenceOffline => ensure_presence_offline(client, user).await,
        Step::RemoveFromQueue { queue } => ensure_not_in_queue(client, user, queue).await,
        Step::ClearAssociatedStation { .. } => ensure_no_associated_station(client, user).await,
        Step::ClearDefaultStation { .. } => ensure_no_default_station(client, user).await,
        Step::RemoveSkill { skill } => ensure_skill_removed(client, user, skill).await,
        Step::RemoveLanguage { language } => ensure_language_removed(client, user, language).await,
        Step::Deactivate => ensure_inactive(cx, step).await,
        Step::RecordReason { reason } => ensure_reason_recorded(cx, step, reason).await,
        Step::RevokeSessions => ensure_sessions_revoked(client, user).await,
    }
}

/// A 404 on a removal means the thing is already gone.
fn gone_is_done(
    result: Result<(), GenesysError>,
    what: &'static str,
) -> Result<StepOutput, StepError> {
    match result {
        Ok(()) => Ok(StepOutput::Changed),
        Err(e) if e.is_not_found() => Ok(StepOutput::AlreadyDone),
        Err(e) => Err(StepError::genesys(what)(e)),
    }
}

async fn ensure_off_queue(client: &GenesysClient, user: &UserId) -> Result<StepOutput, StepError> {
    client
        .set_routing_status(user, RoutingStatusValue::OffQueue)
        .await
        .map_err(StepError::genesys("set the user off queue"))?;
    Ok(StepOutput::Changed)
}

async fn ensure_presence_offline(
    client: &GenesysClient,
    user: &UserId,
) -> Result<StepOutput, StepError> {
    let offline = client
        .offline_presence_id()
        .await
        .map_err(StepError::genesys("look up the Offline presence"))?;
    // A wave's changes share one bulk request; the read-back confirms each user's.
    client
        .set_presence_together(user, &offline)
        .await
        .map_err(StepError::genesys("set the user's presence to Offline"))?;
    Ok(StepOutput::Changed)
}

async fn ensure_not_in_queue(
    client: &GenesysClient,
    user: &UserId,
    queue: &Named,
) -> Result<StepOutput, StepError> {
    let result = client.remove_queue_member(&queue.id, user).await;
    gone_is_done(result, "remove the user from a queue")
}

async fn ensure_no_associated_station(
    client: &GenesysClient,
    user: &UserId,
) -> Result<StepOutput, StepError> {
    let result = client.clear_associated_station(user).await;
    gone_is_done(result, "clear the user's associated station")
}

async fn ensure_no_default_station(
    client: &GenesysClient,
    user: &UserId,
) -> Result<StepOutput, StepError> {
    let result = client.clear_default_station(user).await;
    gone_is_done(result, "clear the user's default station")
}

async fn ensure_skill_removed(
    client: &GenesysClient,
    user: &UserId,
    skill: &Named,
) -> Result<StepOutput, StepError> {
    let result = client.remove_user_skill(user, &skill.id).await;
    gone_is_done(result, "remove a skill from the user")
}

async fn ensure_language_removed(
    client: &GenesysClient,
    user: &UserId,
    language: &Named,
) -> Result<StepOutput, StepError> {
    let result = client.remove_user_language(user, &language.id).await;
    gone_is_done(result, "remove a language from the user")
}

/// `PATCH /users/{id}` with state and version only, the version as last seen. On a version
/// conflict (the user changed since it was read, or a retried PATCH whose first answer was lost
/// went through), or without a known version, the client's `set_user_state` re-reads, does
/// nothing when the user is already inactive, and retries. The step succeeds only when Genesys
/// shows the user inactive: the answer, or else a read of the user. An answer of another state
/// (Genesys accepted the write without applying it) that a read confirms is a
/// [`StepError::NotApplied`], counted against the passes recorded in `status.notApplied`: the
/// pass stops there, so nothing after it (sessions, reason) runs while the user is active.
async fn ensure_inactive(cx: &StepContext<'_>, step: &Step) -> Result<StepOutput, StepError> {
    let (client, user) = (cx.client, cx.user);
    let what = "deactivate the user";
    let answered = match cx.version {
        Some(version) => match client
            .patch_user_state(user, UserState::Inactive, version)
            .await
        {
            Ok(updated) => Some(updated),
            Err(e) if e.is_version_conflict() => {
                tracing::info!(user = %user, "the user changed since it was read; re-reading");
                None
            }
            Err(e) => return Err(StepError::genesys(what)(e)),
        },
        None => None,
    };
    let answered = match answered {
        Some(updated) => updated,
        None => client
            .set_user_state(user, UserState::Inactive)
            .await
            .map_err(StepError::genesys(what))?,
    };
    if answered.is_state(&UserState::Inactive) {
        return Ok(StepOutput::NewVersion(answered.version));
    }
    tracing::info!(user = %user, state = ?answered.state, "the deactivation answered another state; reading the user");
    let read = client
        .get_user(user, &[])
        .await
        .map_err(StepError::genesys("read the user after deactivating"))?;
    if read.is_state(&UserState::Inactive) {
        return Ok(StepOutput::NewVersion(read.version));
    }
    let observed = read.state.as_ref().map_or_else(
        || "no state".to_owned(),
        |s| format!("state {}", s.as_str()),
    );
    Err(StepError::NotApplied {
        step: step.kind(),
        observed,
        attempts: not_applied_before(cx.persisted, &step.kind()) + 1,
    })
}

/// How many earlier passes recorded `step` as not taking effect.
pub fn not_applied_before(status: &GenesysUserOffboardingStatus, step: &StepKind) -> u32 {
    status
        .not_applied
        .iter()
        .find(|n| n.step == *step)
        .map_or(0, |n| n.attempts)
}

/// `PUT /users/{id}/state` with `inactive`, the version as last seen (read when unknown) and the
/// reason. On a version conflict, the recorded state is read before writing again: a PUT whose
/// answer was lost may have gone through, and then the reason is there already.
async fn ensure_reason_recorded(
    cx: &StepContext<'_>,
    step: &Step,
    reason: &StateChangeReason,
) -> Result<StepOutput, StepError> {
    let (client, user) = (cx.client, cx.user);
    let what = "record the user's state change reason";
    let mut known = cx.version;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let version = match known.take() {
            Some(version) => Some(version),
            None => {
                client
                    .get_user(user, &[])
                    .await
                    .map_err(StepError::genesys(what))?
                    .version
            }
        };
        let body = UserStateInfo {
            state: Some(UserState::Inactive),
            version,
            state_change_reason: Some(reason.clone()),
            state_change_date: None,
        };
        match client.put_user_state(user, &body).await {
            Ok(info) if shows_reason(&info, reason) => {
                return Ok(StepOutput::NewVersion(info.version.or(version)));
            }
            Ok(info) => return reason_read_back(cx, step, reason, info.version.or(version)).await,
            Err(e) if e.is_version_conflict() && attempt < REASON_CONFLICT_ATTEMPTS => {
                tracing::info!(user = %user, attempt, "version conflict recording the reason; re-reading");
                match client.get_user_state(user).await {
                    Ok(info)
                        if info.state == Some(UserState::Inactive)
                            && info.state_change_reason.as_ref() == Some(reason) =>
                    {
                        return Ok(StepOutput::AlreadyDone);
                    }
                    Ok(info) => known = info.version,
                    // Without `directory:userStateChange:view`, the user's version will do.
                    Err(GenesysError::Forbidden { .. }) => {}
                    Err(e) => return Err(StepError::genesys(what)(e)),
                }
            }
            Err(e) => return Err(StepError::genesys(what)(e)),
        }
    }
}

/// Whether a state record reads `inactive` with `reason`.
fn shows_reason(info: &UserStateInfo, reason: &StateChangeReason) -> bool {
    info.state == Some(UserState::Inactive) && info.state_change_reason.as_ref() == Some(reason)
}

/// The PUT answered without the reason: read the recorded state before claiming anything.
/// Without `directory:userStateChange:view` nothing can read it, and the step stays
/// unconfirmed (the next pass reads the reason again through [`super::observe`]).
async fn reason_read_back(
    cx: &StepContext<'_>,
    step: &Step,
    reason: &StateChangeReason,
    version: Option<i64>,
) -> Result<StepOutput, StepError> {
    let read = match cx.client.get_user_state(cx.user).await {
        Ok(read) => read,
        Err(GenesysError::Forbidden { .. }) => {
            return Err(StepError::NotApplied {
                step: step.kind(),
                observed: "the answer holds no reason, and reading it is forbidden".to_owned(),
                attempts: not_applied_before(cx.persisted, &step.kind()) + 1,
            });
        }
        Err(e) => return Err(StepError::genesys("read the user's state change reason")(e)),
    };
    if shows_reason(&read, reason) {
        return Ok(StepOutput::NewVersion(read.version.or(version)));
    }
    let observed = match (&read.state, &read.state_change_reason) {
        (Some(state), Some(found)) => format!("state {} with reason {found}", state.as_str()),
        (Some(state), None) => format!("state {} with no reason", state.as_str()),
        (None, _) => "no state".to_owned(),
    };
    Err(StepError::NotApplied {
        step: step.kind(),
        observed,
        attempts: not_applied_before(cx.persisted, &step.kind()) + 1,
    })
}

async fn ensure_sessions_revoked(
    client: &GenesysClient,
    user: &UserId,
) -> Result<StepOutput, StepError> {
    let result = client.revoke_tokens(user).await;
    gone_is_done(result, "revoke the user's tokens")
}
