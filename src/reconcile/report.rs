//! Writes what a pass found and did into the resource status: the conditions (`Ready`,
//! `Reconciling`, `Stalled` per kstatus, and one per step), `observedGeneration`, the resolved
//! user, the snapshot, the remaining plan, the bounded actions log, the history proof, the
//! group memberships and, after a restore, what could not be put back; and decides the pass's
//! [`Outcome`] and the Events to publish. Pure: the caller persists the status.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::{StepError, status_message};
use super::execute::StepOutput;
use super::observe::{Reading, crd_state};
use super::owners::UserKey;
use super::plan::{Hold, Plan, Policy, Step, StepKind};
use super::spec::{from_time, to_time};
use super::verify::{HISTORY_RECHECK, recheck_due};
use super::{Event, Outcome};
use crate::crd::{
    ActionOutcome, ActionRecord, ConditionStatus, GenesysUserOffboarding,
    GenesysUserOffboardingStatus, GroupMembership, HistoryResult, HistoryStatus, MAX_MESSAGE_BYTES,
    MAX_STATUS_BYTES, NamedRef, NotApplied, NotRestorable, NotRestorableKind, PlannedStep,
    ResolvedEndpoint, ResolvedUser, bounded, condition, reason,
};
use genesys_cloud::{MemberBy, User, UserState};

/// How long to wait before looking again at a live conversation.
pub const CONVERSATION_RECHECK: Duration = Duration::from_secs(60);

/// The status being built during one pass, the steps it carried out, and the Events to publish.
#[derive(Debug)]
pub struct Report {
    pub status: GenesysUserOffboardingStatus,
    /// The actions of this pass that succeeded, in order (the log in `status` also holds earlier
    /// passes' and may be trimmed).
    pub steps: Vec<ActionRecord>,
    pub events: Vec<Event>,
    generation: Option<i64>,
    now: DateTime<Utc>,
    /// Ready=True when the pass began: this pass is a drift re-check.
    was_ready: bool,
    /// A write step succeeded in this pass.
    changed: bool,
    /// This pass confirmed a history an earlier pass found short (`Unconfirmed`): the
    /// offboarding is finished only now.
    history_confirmed: bool,
}

impl Report {
    pub fn start(resource: &GenesysUserOffboarding, now: DateTime<Utc>) -> Self {
        let mut status = resource.status.clone().unwrap_or_default();
        let generation = resource.metadata.generation;
        status.observed_generation = generation;
        let mut report = Self {
            was_ready: status.is_true(condition::READY),
            status,
            steps: Vec::new(),
            events: Vec::new(),
            generation,
            now,
            changed: false,
            history_confirmed: false,
        };
        // kstatus conditions are set on the first visit, before anything else is known.
        if report.status.condition(condition::READY).is_none() {
            let message = "the offboarding has started";
            report.set(
                condition::READY,
                ConditionStatus::Unknown,
                reason::PROGRESSING,
                message,
            );
            report.set(condition::RECONCILING, true, reason::PROGRESSING, message);
            report.set(condition::STALLED, false, reason::IDLE, "");
        }
        report
    }

    fn set(
        &mut self,
        type_: &str,
        value: impl Into<ConditionStatus>,
        reason: &str,
        message: impl Into<String>,
    ) {
        let now = to_time(self.now);
        self.status
            .set_condition(type_, value, reason, message, self.generation, &now);
    }

    fn kstatus(
        &mut self,
        ready: (bool, &str, &str),
        reconciling: Option<(&str, &str)>,
        stalled: Option<(&str, &str)>,
    ) {
        let (ready_value, ready_reason, ready_message) = ready;
        self.set(condition::READY, ready_value, ready_reason, ready_message);
        match reconciling {
            Some((reason, message)) => self.set(condition::RECONCILING, true, reason, message),
            None => self.set(condition::RECONCILING, false, reason::IDLE, ""),
        }
        match stalled {
            Some((reason, message)) => self.set(condition::STALLED, true, reason, message),
            None => self.set(condition::STALLED, false, reason::IDLE, ""),
        }
    }

    /// An Event, its message cut to [`MAX_MESSAGE_BYTES`] (the `events.k8s.io` limit on a note).
    fn event(&mut self, warning: bool, reason: &'static str, message: String) {
        self.events.push(Event {
            warning,
            reason,
            message: bounded_owned(message),
        });
    }

    /// The pass cannot go on without a human. Nothing was written to Genesys by this pass after
    /// the failing point.
    pub fn stalled(&mut self, reason: &'static str, message: String, unresolved: bool) -> Outcome {
        let message = bounded_owned(message);
        if unresolved {
            self.set(condition::USER_RESOLVED, false, reason, message.clone());
        }
        self.kstatus((false, reason, &message), None, Some((reason, &message)));
        self.event(true, reason, message.clone());
        Outcome::Stalled { reason, message }
    }

    /// A failure worth retrying: reported as work in progress.
    pub fn retrying(&mut self, reason: &'static str, message: &str) {
        let message = format!("will retry: {message}");
        self.kstatus((false, reason, &message), Some((reason, &message)), None);
    }

    /// `spec.suspend`: nothing was read or written.
    pub fn suspended(&mut self) -> Outcome {
        let message = "spec.suspend is true: nothing is read or written until it is false";
        self.set(condition::RECONCILING, false, reason::SUSPENDED, message);
        if !self.status.is_true(condition::READY) {
            self.set(
                condition::READY,
                ConditionStatus::Unknown,
                reason::SUSPENDED,
                message,
            );
        }
        Outcome::Suspended
    }

    /// Another resource owns the user: this one stalls, holds no claim (`status.user` goes) and
    /// plans nothing. Nothing was written to Genesys.
    pub fn duplicate(&mut self, owner: &str, user: &UserKey) -> Outcome {
        self.status.user = None;
        self.status.plan.clear();
        self.status.not_applied.clear();
        let message = format!(
            "{owner} already offboards {user}; this resource writes nothing to Genesys Cloud and \
             restores nothing when deleted: delete it (or delete {owner} first)"
        );
        self.stalled(reason::DUPLICATE_OFFBOARDING, message, false)
    }

    /// The user and the organization they were resolved in. The organization is recorded once:
    /// from then on a spec naming another one stalls (see `status.endpoint`).
    pub fn resolved(&mut self, user: &User, endpoint: ResolvedEndpoint) {
        self.status.endpoint.get_or_insert(endpoint);
        let previous = self.status.user.take();
        let state_now = crd_state(user);
        self.status.user = Some(ResolvedUser {
            id: user.id.to_string(),
            name: user.name.clone(),
            email: user.email.clone(),
            division: user.division.as_ref().and_then(|d| {
                Some(NamedRef {
                    id: d.id.clone()?,
                    name: d.name.clone(),
                })
            }),
            state_before: previous
                .filter(|p| p.id == user.id.as_str())
                .and_then(|p| p.state_before)
                .or_else(|| state_now.clone()),
            state_now,
            version: user.version,
        });
        let name = user.name.as_deref().unwrap_or("(no name)");
        self.set(
            condition::USER_RESOLVED,
            true,
            reason::RESOLVED,
            format!("{name} ({})", user.id),
        );
    }

    /// `effectiveAt` is in the future: nothing is written before it.
    pub fn scheduled(&mut self, until: DateTime<Utc>) -> Outcome {
        let message = format!("nothing happens before effectiveAt {}", until.to_rfc3339());
        self.kstatus(
            (false, reason::SCHEDULED, &message),
            Some((reason::SCHEDULED, &message)),
            None,
        );
        Outcome::Wait {
            reason: reason::SCHEDULED,
            until: Some(until),
            after: (until - self.now).to_std().unwrap_or_default(),
        }
    }

    /// A guardrail holds the offboarding back (approval, deactivation cap): nothing was written
    /// to Genesys Cloud, and the next pass is at `until`, else after `after`. The Event is the
    /// controller's (one per change of reason, not one per pass).
    pub fn held(
        &mut self,
        reason: &'static str,
        message: String,
        until: Option<DateTime<Utc>>,
        after: Duration,
    ) -> Outcome {
        let message = bounded_owned(message);
        self.kstatus((false, reason, &message), Some((reason, &message)), None);
        Outcome::Wait {
            reason,
            until,
            after,
        }
    }

    /// The successor this pass resolved, on the handoff's counts once the work is found (so
    /// Observe mode shows who would take it over); a read resolved it.
    pub fn handoff_successor(&mut self, prepared: Option<&super::handoff::Prepared>) {
        if let (Some(status), Some(successor)) = (
            self.status.handoff.as_mut(),
            prepared.and_then(|p| p.successor.as_ref()),
        ) {
            status.successor = Some(successor.clone());
        }
    }

    /// The impact preflight's result (`status.impact`).
    pub fn impact_read(&mut self, impact: crate::crd::ImpactStatus) {
        self.status.impact = Some(impact);
    }

    /// Held by the impact acknowledgement gate: Reconciling (progressing, not failed), nothing
    /// written. `announce`: publish the Event (the hold is new, or its message changed).
    pub fn awaiting_impact_acknowledgement(
        &mut self,
        message: String,
        recheck: Duration,
        announce: bool,
    ) -> Outcome {
        let message = bounded_owned(message);
        let reason = reason::AWAITING_IMPACT_ACKNOWLEDGEMENT;
        self.kstatus((false, reason, &message), Some((reason, &message)), None);
        if announce {
            self.event(false, reason, message);
        }
        Outcome::Wait {
            reason,
            until: None,
            after: recheck,
        }
    }

    /// The plan is known: the remaining steps, group memberships and step conditions.
    pub fn planned(&mut self, plan: &Plan, policy: &Policy, reading: &Reading) {
        self.status.plan = plan.steps.iter().map(planned_step).collect();
        self.shown_since(plan);
        if plan.hold.is_none() && plan.has_writes() {
            let message = format!("{} step(s) to go (see status.plan)", plan.steps.len());
            self.kstatus(
                (false, reason::PROGRESSING, &message),
                Some((reason::PROGRESSING, &message)),
                None,
            );
        }
        self.status.group_memberships = reading
            .queues
            .iter()
            .filter(|q| q.member_by == Some(MemberBy::Group))
            .map(|q| GroupMembership {
                queue: NamedRef {
                    id: q.id.clone(),
                    name: q.name.clone(),
                },
                ..reading
                    .via_groups
                    .iter()
                    .find(|g| g.queue.id == q.id)
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();

        self.routing_condition(policy);
        let inactive = reading.user.is_state(&UserState::Inactive);
        if inactive {
            self.set(
                condition::DEACTIVATED,
                true,
                reason::USER_INACTIVE,
                "the user is inactive in Genesys Cloud",
            );
        } else if plan.drift {
            self.set(
                condition::DEACTIVATED,
                false,
                reason::DRIFT_DETECTED,
                "the user was re-activated outside the operator",
            );
        } else {
            self.set(
                condition::DEACTIVATED,
                false,
                reason::PENDING,
                "the user is still active",
            );
        }
        if plan.steps.contains(&Step::RevokeSessions) {
            self.set(
                condition::SESSIONS_REVOKED,
                false,
                reason::PENDING,
                "tokens not revoked yet",
            );
        } else if !self.status.is_true(condition::SESSIONS_REVOKED)
            && self
                .status
                .condition(condition::SESSIONS_REVOKED)
                .is_none_or(|c| c.reason != reason::REVOCATION_ACCEPTED)
        {
            if policy.revoke_sessions {
                self.set(
                    condition::SESSIONS_REVOKED,
                    false,
                    reason::ALREADY_INACTIVE,
                    "the user was inactive before the operator acted and cannot sign in; nothing to revoke",
                );
            } else {
                self.set(
                    condition::SESSIONS_REVOKED,
                    false,
                    reason::NOT_REQUESTED,
                    "spec.revokeSessions is false",
                );
            }
        }
        if plan.steps.contains(&Step::VerifyHistory) {
            self.set(
                condition::HISTORY_VERIFIED,
                false,
                reason::PENDING,
                "history not verified since the last change",
            );
        }
        if let Some(user) = self.status.user.as_mut() {
            user.state_now = crd_state(&reading.user);
            user.version = reading.user.version;
        }
    }

    /// `RoutingDrained` from the steps still in `status.plan`.
    fn routing_condition(&mut self, policy: &Policy) {
        let requested = policy.set_off_queue
            || policy.remove_from_queues
            || policy.clear_station
            || policy.remove_skills
            || policy.remove_languages;
        let left: Vec<String> = self
            .status
            .plan
            .iter()
            .filter(|p| p.step.is_drain())
            .map(|p| p.step.to_string())
            .collect();
        let groups = self.status.group_memberships.len();
        let group_note = if groups > 0 {
            format!(
                "; {groups} queue membership(s) through a group, team or skill group remain: remove the user from that group or the group from the queue (see status.groupMemberships)"
            )
        } else {
            String::new()
        };
        if !requested {
            self.set(
                condition::ROUTING_DRAINED,
                false,
                reason::NOT_REQUESTED,
                "every spec.routing step is off",
            );
        } else if left.is_empty() {
            self.set(
                condition::ROUTING_DRAINED,
                true,
                reason::DRAINED,
                format!("out of routing{group_note}"),
            );
        } else {
            self.set(
                condition::ROUTING_DRAINED,
                false,
                reason::PENDING,
                format!(
                    "{} step(s) left: {}{group_note}",
                    left.len(),
                    left.join(", ")
                ),
            );
        }
    }

    /// Records one executed step: the actions log, the remaining plan, the data it produced and
    /// the step conditions.
    pub fn step(&mut self, step: &Step, result: &Result<StepOutput, StepError>, policy: &Policy) {
        if let Ok(StepOutput::Handoff(handed)) = result {
            self.handed_off(step, handed);
            return;
        }
        if let Err(e) = result {
            self.not_applied(e);
        }
        // A drain write is not done until a read shows it ([`Report::confirmed`]).
        let (outcome, message) = match result {
            Ok(StepOutput::AlreadyDone) => {
                (ActionOutcome::Skipped, Some("already done".to_owned()))
            }
            Ok(_) if step.is_drain() => (ActionOutcome::Unconfirmed, None),
            // Nothing can read another user's tokens: accepted is all that can be said.
            Ok(_) if *step == Step::RevokeSessions => (ActionOutcome::Accepted, None),
            Ok(_) => (ActionOutcome::Succeeded, None),
            Err(e) => (ActionOutcome::Failed, Some(status_message(e))),
        };
        self.record(ActionRecord {
            step: step.kind(),
            target: step.target_id(),
            time: to_time(Utc::now()),
            outcome,
            message,
            read_back: read_back_of(step, result),
        });
        let Ok(output) = result else { return };
        if step.is_drain() {
            if matches!(output, StepOutput::Changed) {
                self.changed = true;
            }
            return;
        }
        self.status.not_applied.retain(|n| n.step != step.kind());
        let planned = planned_step(step);
        if let Some(i) = self.status.plan.iter().position(|p| *p == planned) {
            self.status.plan.remove(i);
        }
        match output {
            StepOutput::Snapshot(snapshot) => {
                // Taken once: a snapshot already in status is never replaced.
                if self.status.snapshot.is_none() {
                    self.status.snapshot = Some((**snapshot).clone());
                }
                // What the handoff will move, counted before any write (Observe shows it too).
                if !snapshot.handoff.is_empty() && self.status.handoff.is_none() {
                    self.status.handoff = Some(super::handoff::found(&snapshot.handoff));
                }
            }
            StepOutput::HistoryBefore(history) => self.status.history = Some(history.clone()),
            StepOutput::HistoryAfter(history) => self.history_verified(history),
            StepOutput::NewVersion(version) => {
                self.changed = true;
                if let (Some(user), Some(version)) = (self.status.user.as_mut(), version) {
                    user.version = Some(*version);
                }
                self.write_done(step, policy);
            }
            StepOutput::Changed | StepOutput::AlreadyDone => {
                self.changed = true;
                self.write_done(step, policy);
            }
            // Recorded by `handed_off` above.
            StepOutput::Handoff(_) => {}
        }
    }

    /// The handoff step's counts: `Succeeded` once every piece is moved (as read back) or known
    /// not movable, `Unconfirmed` (and still planned) while some move no read shows yet; those
    /// moves are counted in `status.notApplied` (one `HandOff` entry naming them, its
    /// `attempts` the passes that made them without a read showing them).
    fn handed_off(&mut self, step: &Step, handed: &super::handoff::Handed) {
        let handoff = &handed.status;
        let complete = handoff
            .kinds
            .iter()
            .all(crate::crd::HandoffKindStatus::is_complete);
        let summary: Vec<String> = handoff
            .kinds
            .iter()
            .map(|k| {
                let not_movable = if k.not_movable.is_empty() {
                    String::new()
                } else {
                    format!(", {} not movable", k.not_movable.len())
                };
                format!(
                    "{} {} of {} moved{not_movable}",
                    k.kind.as_str(),
                    k.moved,
                    k.found
                )
            })
            .collect();
        self.record(ActionRecord {
            step: step.kind(),
            target: None,
            time: to_time(Utc::now()),
            outcome: if complete {
                ActionOutcome::Succeeded
            } else {
                ActionOutcome::Unconfirmed
            },
            message: None,
            read_back: Some(if summary.is_empty() {
                "nothing to hand off".to_owned()
            } else {
                summary.join("; ")
            }),
        });
        self.status.handoff = Some(handoff.clone());
        if complete {
            self.changed = true;
            let planned = planned_step(step);
            self.status.plan.retain(|p| *p != planned);
            self.status.not_applied.retain(|n| n.step != step.kind());
        } else {
            let observed = if handed.pending.is_empty() {
                "some moves are not read back yet".to_owned()
            } else {
                format!("not at the new owner yet: {}", handed.pending.join(", "))
            };
            let now = to_time(self.now);
            match self
                .status
                .not_applied
                .iter_mut()
                .find(|n| n.step == step.kind())
            {
                Some(entry) => {
                    entry.attempts += 1;
                    entry.observed = observed;
                }
                None => self.status.not_applied.push(NotApplied {
                    step: step.kind(),
                    target: None,
                    observed,
                    attempts: 1,
                    since: now,
                }),
            }
        }
    }

    /// The passes that made handoff moves no read shows yet, this one included (0 when none).
    pub fn handoff_attempts(&self) -> u32 {
        self.status
            .not_applied
            .iter()
            .find(|n| n.step == StepKind::HandOff)
            .map_or(0, |n| n.attempts)
    }

    /// Changes that no read showed before and that this pass's read shows (a late one, or made
    /// by another hand) are no longer pending; for drain steps the actions log says so.
    fn shown_since(&mut self, plan: &Plan) {
        let shown: Vec<NotApplied> = self
            .status
            .not_applied
            .iter()
            .filter(|n| {
                !plan.steps.iter().any(|s| {
                    s.kind() == n.step && (n.target.is_none() || s.target_id() == n.target)
                })
            })
            .cloned()
            .collect();
        for n in shown {
            if n.target.is_some() || n.step.is_drain() {
                self.record(ActionRecord {
                    step: n.step.clone(),
                    target: n.target.clone(),
                    time: to_time(Utc::now()),
                    outcome: ActionOutcome::Succeeded,
                    message: None,
                    read_back: Some("a later read shows it done".to_owned()),
                });
            }
            self.status
                .not_applied
                .retain(|x| !(x.step == n.step && x.target == n.target));
        }
    }

    /// A read showed the change of a drain step: it is `Succeeded` (with what was read), leaves
    /// the plan and any `notApplied` entry, and the routing condition follows.
    pub fn confirmed(&mut self, step: &Step, read: &str, policy: &Policy) {
        self.record(ActionRecord {
            step: step.kind(),
            target: step.target_id(),
            time: to_time(Utc::now()),
            outcome: ActionOutcome::Succeeded,
            message: None,
            read_back: Some(read.to_owned()),
        });
        let target = step.target_id();
        self.status
            .not_applied
            .retain(|n| !(n.step == step.kind() && n.target == target));
        let planned = planned_step(step);
        if let Some(i) = self.status.plan.iter().position(|p| *p == planned) {
            self.status.plan.remove(i);
        }
        self.routing_condition(policy);
    }

    /// A drain step whose change no read shows yet, after the reads of this pass: `Unconfirmed`
    /// with what was read, counted in `status.notApplied`; the step stays in the plan. Returns
    /// the passes that made it without it showing, this one included.
    pub fn unconfirmed(&mut self, step: &Step, read: &str) -> u32 {
        self.record(ActionRecord {
            step: step.kind(),
            target: step.target_id(),
            time: to_time(Utc::now()),
            outcome: ActionOutcome::Unconfirmed,
            message: None,
            read_back: Some(read.to_owned()),
        });
        let target = step.target_id();
        let now = to_time(self.now);
        let entry = self
            .status
            .not_applied
            .iter_mut()
            .find(|n| n.step == step.kind() && n.target == target);
        if let Some(entry) = entry {
            entry.attempts += 1;
            read.clone_into(&mut entry.observed);
            return entry.attempts;
        }
        self.status.not_applied.push(NotApplied {
            step: step.kind(),
            target,
            observed: read.to_owned(),
            attempts: 1,
            since: now,
        });
        1
    }

    /// A change Genesys accepted without it taking effect: counted in `status.notApplied`, and
    /// `Deactivated` says so when it was the deactivation. Other errors are left to the caller.
    pub fn not_applied(&mut self, error: &StepError) {
        let StepError::NotApplied {
            step,
            observed,
            attempts,
        } = error
        else {
            return;
        };
        let now = to_time(self.now);
        match self.status.not_applied.iter_mut().find(|n| n.step == *step) {
            Some(entry) => {
                entry.attempts = *attempts;
                entry.observed.clone_from(observed);
            }
            None => self.status.not_applied.push(NotApplied {
                step: step.clone(),
                target: None,
                observed: observed.clone(),
                attempts: *attempts,
                since: now,
            }),
        }
        if *step == StepKind::Deactivate {
            self.set(
                condition::DEACTIVATED,
                false,
                reason::CHANGE_NOT_APPLIED,
                error.to_string(),
            );
        }
    }

    fn write_done(&mut self, step: &Step, policy: &Policy) {
        match step {
            Step::Deactivate => {
                self.set(
                    condition::DEACTIVATED,
                    true,
                    reason::USER_INACTIVE,
                    "the user is inactive in Genesys Cloud",
                );
                if let Some(user) = self.status.user.as_mut() {
                    user.state_now = Some(UserState::Inactive);
                }
            }
            Step::RevokeSessions => {
                self.set(
                    condition::SESSIONS_REVOKED,
                    ConditionStatus::Unknown,
                    reason::REVOCATION_ACCEPTED,
                    "Genesys Cloud accepted the revocation of every OAuth token of the user; no API \
                     lists another user's tokens, so it cannot be read back (the user reads inactive \
                     and cannot sign in)",
                );
            }
            s if s.is_drain() => self.routing_condition(policy),
            _ => {}
        }
    }

    fn history_verified(&mut self, history: &HistoryStatus) {
        let was_unconfirmed = self
            .status
            .history
            .as_ref()
            .is_some_and(|h| h.result == Some(HistoryResult::Unconfirmed));
        self.history_confirmed = was_unconfirmed
            && matches!(
                history.result,
                Some(HistoryResult::Preserved | HistoryResult::NoHistory)
            );
        let before = history.conversations_before.unwrap_or_default();
        let after = history.conversations_after.unwrap_or_default();
        match history.result {
            Some(HistoryResult::Preserved) => self.set(
                condition::HISTORY_VERIFIED,
                true,
                reason::HISTORY_PRESERVED,
                format!(
                    "{after} conversation(s) found after, {before} before, in {}",
                    history.interval
                ),
            ),
            Some(HistoryResult::NoHistory) => self.set(
                condition::HISTORY_VERIFIED,
                true,
                reason::NO_HISTORY,
                format!("no conversation in {}", history.interval),
            ),
            Some(HistoryResult::Unconfirmed) => self.set(
                condition::HISTORY_VERIFIED,
                false,
                reason::HISTORY_UNCONFIRMED,
                format!(
                    "{}; checked again from {} before it is called lost",
                    shortfall(history),
                    recheck_time(history, self.now).to_rfc3339()
                ),
            ),
            Some(HistoryResult::Lost) | None => self.set(
                condition::HISTORY_VERIFIED,
                false,
                reason::HISTORY_LOST,
                shortfall(history),
            ),
        }
        self.status.history = Some(history.clone());
    }

    /// The pass ran every runnable step: decide the outcome.
    pub fn finish(&mut self, plan: &Plan, drift_check: Duration) -> Outcome {
        match &plan.hold {
            Some(Hold::ObserveOnly) => self.observed(plan, drift_check),
            Some(Hold::ActiveConversation { conversation_id }) => {
                let message = format!(
                    "the user is on live conversation {conversation_id}; nothing changes until it ends (routing.activeConversations: Wait)"
                );
                self.kstatus(
                    (false, reason::WAITING_FOR_ACTIVE_CONVERSATION, &message),
                    Some((reason::WAITING_FOR_ACTIVE_CONVERSATION, &message)),
                    None,
                );
                Outcome::Wait {
                    reason: reason::WAITING_FOR_ACTIVE_CONVERSATION,
                    until: None,
                    after: CONVERSATION_RECHECK,
                }
            }
            None => self.offboarded(plan, drift_check),
        }
    }

    fn observed(&mut self, plan: &Plan, drift_check: Duration) -> Outcome {
        if plan.drift {
            let message =
                "the user was re-activated outside the operator; Observe mode only reports it"
                    .to_owned();
            self.kstatus((false, reason::DRIFT_DETECTED, &message), None, None);
            self.event(true, reason::DRIFT_DETECTED, message);
        } else {
            let writes = plan.steps.iter().filter(|s| s.is_write()).count();
            let message = format!(
                "Observe mode: {writes} change(s) planned (see status.plan); nothing was written to Genesys Cloud"
            );
            self.kstatus((true, reason::OBSERVING, &message), None, None);
        }
        self.schedule_drift_check(drift_check);
        Outcome::Done {
            recheck_after: drift_check,
        }
    }

    fn offboarded(&mut self, plan: &Plan, drift_check: Duration) -> Outcome {
        let history = self.status.history.clone().unwrap_or_default();
        if history.result == Some(HistoryResult::Lost) {
            let message = format!(
                "{}, in two checks {} s apart",
                shortfall(&history),
                HISTORY_RECHECK.as_secs()
            );
            return self.stalled(reason::HISTORY_LOST, message, false);
        }
        if history.result == Some(HistoryResult::Unconfirmed) {
            let due = recheck_time(&history, self.now);
            let message = format!(
                "the user is offboarded, but {}; history is checked again at {}",
                shortfall(&history),
                due.to_rfc3339()
            );
            self.kstatus(
                (false, reason::HISTORY_UNCONFIRMED, &message),
                Some((reason::HISTORY_UNCONFIRMED, &message)),
                None,
            );
            return Outcome::Wait {
                reason: reason::HISTORY_UNCONFIRMED,
                until: Some(due),
                after: (due - self.now).to_std().unwrap_or_default(),
            };
        }
        let name = self
            .status
            .user
            .as_ref()
            .and_then(|u| u.name.clone().or(u.email.clone()))
            .unwrap_or_default();
        let message = format!(
            "{name} is inactive, out of routing and signed out; {} conversation(s) still attributed",
            history.conversations_after.unwrap_or_default()
        );
        self.kstatus((true, reason::OFFBOARDED, &message), None, None);
        if plan.drift && self.changed {
            self.event(
                false,
                reason::DRIFT_CORRECTED,
                format!(
                    "{name} was re-activated outside the operator and has been deactivated again"
                ),
            );
        } else if self.changed || self.history_confirmed {
            self.event(false, reason::OFFBOARDED, message);
        }
        self.schedule_drift_check(drift_check);
        Outcome::Done {
            recheck_after: drift_check,
        }
    }

    fn schedule_drift_check(&mut self, interval: Duration) {
        if self.was_ready {
            self.status.last_drift_check = Some(to_time(self.now));
        }
        let next = self.now + chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
        self.status.next_drift_check = Some(to_time(next));
    }
}

impl Report {
    /// Appends one entry to the actions log.
    pub fn action(
        &mut self,
        step: StepKind,
        target: Option<String>,
        outcome: ActionOutcome,
        message: Option<String>,
    ) {
        self.record(ActionRecord {
            step,
            target,
            time: to_time(Utc::now()),
            outcome,
            message,
            read_back: None,
        });
    }

    /// Records a write by what a read showed after it: `Succeeded` when the read shows the
    /// change, else `Unconfirmed`; `read` goes to `readBack`.
    pub fn read_back(&mut self, step: StepKind, target: Option<String>, shows: bool, read: String) {
        self.record(ActionRecord {
            step,
            target,
            time: to_time(Utc::now()),
            outcome: if shows {
                ActionOutcome::Succeeded
            } else {
                ActionOutcome::Unconfirmed
            },
            message: None,
            read_back: Some(read),
        });
    }

    /// Appends to the actions log; a success is also one of this pass's steps.
    fn record(&mut self, action: ActionRecord) {
        let succeeded = action.outcome == ActionOutcome::Succeeded;
        self.status.record_action(action);
        if succeeded && let Some(recorded) = self.status.actions.last() {
            self.steps.push(recorded.clone());
        }
    }

    /// `deletionPolicy: Restore` finished: what was put back, and what cannot be (written to
    /// `status.notRestorable`, replacing what an earlier restore found).
    pub fn restored(&mut self, put_back: &[String], not_restorable: Vec<NotRestorable>) -> Outcome {
        let mut message = if put_back.is_empty() {
            "nothing needed putting back".to_owned()
        } else {
            format!("put back: {}", put_back.join(", "))
        };
        let mut event = message.clone();
        if !not_restorable.is_empty() {
            let names: Vec<String> = not_restorable.iter().map(describe).collect();
            message = format!(
                "{message}; {} item(s) cannot be put back with the Genesys Cloud calls this operator has, see status.notRestorable",
                names.len()
            );
            event = format!(
                "{event}; not restorable, put back by hand: {}",
                names.join(", ")
            );
        }
        self.status.not_restorable = not_restorable;
        self.status.not_applied.clear();
        self.set(
            condition::DEACTIVATED,
            false,
            reason::RESTORED,
            message.clone(),
        );
        self.kstatus((true, reason::RESTORED, &message), None, None);
        self.status.plan.clear();
        let warning = !self.status.not_restorable.is_empty();
        self.event(warning, reason::RESTORED, event);
        Outcome::Done {
            recheck_after: Duration::ZERO,
        }
    }

    /// `deletionPolicy: Restore` is under way.
    pub fn restoring(&mut self) {
        let message =
            "deletionPolicy is Restore: re-activating the user and putting the snapshot back";
        self.kstatus(
            (false, reason::RESTORING, message),
            Some((reason::RESTORING, message)),
            None,
        );
    }
}

impl Report {
    /// Deleting a resource that does not own its user (see [`super::owners`]): nothing is put
    /// back, the owner's offboarding stands, the finalizer may go.
    pub fn not_restored(&mut self, owner: &str) -> Outcome {
        let message =
            format!("{owner} owns the user: nothing was put back, its offboarding stands");
        self.status.plan.clear();
        self.kstatus(
            (false, reason::DUPLICATE_OFFBOARDING, &message),
            None,
            Some((reason::DUPLICATE_OFFBOARDING, &message)),
        );
        self.event(false, reason::DUPLICATE_OFFBOARDING, message);
        Outcome::Done {
            recheck_after: Duration::ZERO,
        }
    }
}

/// What a short history check found, for messages: the counts, the window and the remembered
/// conversations not found.
fn shortfall(history: &HistoryStatus) -> String {
    let mut text = format!(
        "{} conversation(s) counted before deactivation, {} found after, in {}",
        history.conversations_before.unwrap_or_default(),
        history.conversations_after.unwrap_or_default(),
        history.interval
    );
    if !history.missing_conversation_ids.is_empty() {
        text.push_str("; not found even read one by one: ");
        text.push_str(&history.missing_conversation_ids.join(", "));
    }
    text
}

/// When an `Unconfirmed` history is checked again: [`HISTORY_RECHECK`] after the first short
/// check (now, when that time is unknown).
fn recheck_time(history: &HistoryStatus, now: DateTime<Utc>) -> DateTime<Utc> {
    history
        .unconfirmed_since
        .as_ref()
        .map_or(now, |since| recheck_due(from_time(since)))
}

/// `message` cut to [`MAX_MESSAGE_BYTES`], kept as is when it fits.
fn bounded_owned(message: String) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        message
    } else {
        bounded(&message, MAX_MESSAGE_BYTES)
    }
}

/// The longest display name (of the user, a queue, a skill, ...) kept while a status is trimmed.
const TRIMMED_NAME_BYTES: usize = 256;

/// Of the actions log, the newest entries a trimmed status keeps at least.
const TRIMMED_ACTIONS: usize = 5;

/// Of the plan, the first steps a trimmed status keeps at least.
const TRIMMED_PLAN: usize = 10;

/// The size of `status` as JSON, in bytes.
pub fn size_of(status: &GenesysUserOffboardingStatus) -> usize {
    serde_json::to_vec(status).map_or(usize::MAX, |json| json.len())
}

/// Trims `status` until its JSON fits in [`MAX_STATUS_BYTES`], the least important first:
/// display names are cut short, then plan details and action messages go, then older actions,
/// group memberships, most of the plan, and last the snapshot's display names and groups (what
/// `deletionPolicy: Restore` puts back is kept whole: ids, proficiencies, `joined`). Returns the
/// size, or the size still too large after every trim. Pure.
pub fn fit(status: &mut GenesysUserOffboardingStatus) -> Result<usize, usize> {
    type Trim = fn(&mut GenesysUserOffboardingStatus);
    let trims: [Trim; 8] = [
        |s| shorten_names(s, Some(TRIMMED_NAME_BYTES)),
        |s| s.plan.iter_mut().for_each(|p| p.detail = None),
        |s| s.actions.iter_mut().for_each(|a| a.message = None),
        |s| {
            let excess = s.actions.len().saturating_sub(TRIMMED_ACTIONS);
            s.actions.drain(..excess);
        },
        |s| s.group_memberships.clear(),
        |s| s.plan.truncate(TRIMMED_PLAN),
        |s| shorten_names(s, None),
        |s| {
            if let Some(snapshot) = s.snapshot.as_mut() {
                snapshot.groups.clear();
            }
        },
    ];
    let mut size = size_of(status);
    for trim in trims {
        if size <= MAX_STATUS_BYTES {
            return Ok(size);
        }
        trim(status);
        size = size_of(status);
    }
    if size <= MAX_STATUS_BYTES {
        Ok(size)
    } else {
        Err(size)
    }
}

/// Cuts every display name of the status to `max` bytes, or drops them with `None`; other text
/// that came from Genesys (the email, targets, what a read showed) is cut to
/// [`TRIMMED_NAME_BYTES`]. Ids that restore uses are never touched.
fn shorten_names(status: &mut GenesysUserOffboardingStatus, max: Option<usize>) {
    let name = |name: &mut Option<String>| match max {
        Some(max) => {
            if let Some(text) = name.as_mut() {
                *text = bounded(text, max);
            }
        }
        None => *name = None,
    };
    let text = |text: &mut String| *text = bounded(text, TRIMMED_NAME_BYTES);
    let optional_text = |value: &mut Option<String>| {
        if let Some(value) = value.as_mut() {
            text(value);
        }
    };
    if let Some(user) = status.user.as_mut() {
        name(&mut user.name);
        optional_text(&mut user.email);
        if let Some(division) = user.division.as_mut() {
            name(&mut division.name);
        }
    }
    if let Some(snapshot) = status.snapshot.as_mut() {
        snapshot.queues.iter_mut().for_each(|q| name(&mut q.name));
        snapshot.skills.iter_mut().for_each(|x| name(&mut x.name));
        snapshot
            .languages
            .iter_mut()
            .for_each(|x| name(&mut x.name));
        for role in &mut snapshot.roles {
            name(&mut role.role_name);
            name(&mut role.division_name);
        }
        for role in &mut snapshot.group_roles {
            name(&mut role.role_name);
            name(&mut role.division_name);
            name(&mut role.group.name);
        }
        snapshot.groups.iter_mut().for_each(|g| name(&mut g.name));
        if let Some(team) = snapshot.team.as_mut() {
            name(&mut team.name);
        }
        if let Some(station) = snapshot.station.as_mut() {
            for s in [&mut station.associated, &mut station.default]
                .into_iter()
                .flatten()
            {
                name(&mut s.name);
            }
        }
        optional_text(&mut snapshot.routing_status);
        optional_text(&mut snapshot.presence);
    }
    for p in &mut status.plan {
        optional_text(&mut p.target);
        name(&mut p.detail);
    }
    status
        .actions
        .iter_mut()
        .for_each(|a| optional_text(&mut a.target));
    for g in &mut status.group_memberships {
        name(&mut g.queue.name);
        if let Some(group) = g.group.as_mut() {
            name(&mut group.name);
        }
    }
    for n in &mut status.not_restorable {
        name(&mut n.name);
        text(&mut n.why);
    }
    status
        .not_applied
        .iter_mut()
        .for_each(|n| text(&mut n.observed));
}

/// What a non-drain write read back (the drain's reads are recorded by [`Report::confirmed`]).
fn read_back_of(step: &Step, result: &Result<StepOutput, StepError>) -> Option<String> {
    match (step, result) {
        (Step::Deactivate, Ok(_)) => Some("state reads inactive".to_owned()),
        (Step::RecordReason { reason }, Ok(_)) => Some(format!("state reads inactive with reason {reason}")),
        (Step::RevokeSessions, Ok(_)) => Some(
            "nothing to read: no API lists another user's tokens; Genesys answered the revocation 2xx"
                .to_owned(),
        ),
        _ => None,
    }
}

/// `language English`, `default station Desk 12`.
fn describe(item: &NotRestorable) -> String {
    let kind = match item.what {
        NotRestorableKind::Language => "language",
        NotRestorableKind::DefaultStation => "default station",
        NotRestorableKind::DirectReportManager => "manager of",
        NotRestorableKind::DirectRoutingBackup => "direct-routing backup of",
        NotRestorableKind::Workitem => "workitem",
        NotRestorableKind::Callback => "callback for",
        NotRestorableKind::Evaluation => "evaluation",
        NotRestorableKind::Calibration => "calibration",
        NotRestorableKind::Utilization => "utilization of",
        NotRestorableKind::CallForwarding => "call forwarding of",
        NotRestorableKind::Group => "group",
        NotRestorableKind::Team => "team",
        NotRestorableKind::RoleGrants => "the role grants of",
    };
    format!("{kind} {}", item.name.as_deref().unwrap_or(&item.id))
}

fn planned_step(step: &Step) -> PlannedStep {
    PlannedStep {
        step: step.kind(),
        target: step.target_id(),
        detail: Some(step.describe()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crd::GenesysUserOffboardingSpec;

    fn resource() -> GenesysUserOffboarding {
        let spec: GenesysUserOffboardingSpec = serde_yaml::from_str(
            "user: {email: a@b.io}\ncredentialsSecretRef: {name: c}\nregion: us_east_1\n",
        )
        .unwrap();
        let mut resource = GenesysUserOffboarding::new("x", spec);
        resource.metadata.generation = Some(3);
        resource
    }

    fn kstatus_of(report: &Report) -> Vec<(String, String, String)> {
        [condition::READY, condition::RECONCILING, condition::STALLED]
            .iter()
            .map(|t| {
                let c = report.status.condition(t).unwrap();
                (c.type_.clone(), c.status.clone(), c.reason.clone())
            })
            .collect()
    }

    fn triple(t: &str, s: &str, r: &str) -> (String, String, String) {
        (t.to_owned(), s.to_owned(), r.to_owned())
    }

    #[test]
    fn the_first_visit_sets_the_kstatus_conditions_and_the_observed_generation() {
        let report = Report::start(&resource(), Utc::now());

        assert_eq!(report.status.observed_generation, Some(3));
        let types: Vec<&str> = report
            .status
            .conditions
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(types, ["Ready", "Reconciling", "Stalled"]);
        assert_eq!(
            kstatus_of(&report),
            [
                triple("Ready", "Unknown", "Progressing"),
                triple("Reconciling", "True", "Progressing"),
                triple("Stalled", "False", "Idle"),
            ]
        );
    }

    #[test]
    fn a_stall_is_not_ready_not_reconciling_and_raises_a_warning() {
        let mut report = Report::start(&resource(), Utc::now());

        let outcome = report.stalled(reason::AMBIGUOUS_USER, "two users".into(), true);

        assert_eq!(
            outcome,
            Outcome::Stalled {
                reason: "AmbiguousUser",
                message: "two users".into()
            }
        );
        assert_eq!(
            kstatus_of(&report),
            [
                triple("Ready", "False", "AmbiguousUser"),
                triple("Reconciling", "False", "Idle"),
                triple("Stalled", "True", "AmbiguousUser"),
            ]
        );
        assert!(!report.status.is_true(condition::USER_RESOLVED));
        assert_eq!(report.events.len(), 1);
        assert!(report.events[0].warning);
    }

    #[test]
    fn a_failure_worth_retrying_is_reported_as_work_in_progress() {
        let mut report = Report::start(&resource(), Utc::now());

        report.retrying("RateLimited", "slow down");

        assert_eq!(
            kstatus_of(&report),
            [
                triple("Ready", "False", "RateLimited"),
                triple("Reconciling", "True", "RateLimited"),
                triple("Stalled", "False", "Idle"),
            ]
        );
    }

    #[test]
    fn a_schedule_waits_until_effective_at_with_the_time_in_the_message() {
        let now = Utc::now();
        let until = now + chrono::Duration::hours(2);
        let mut report = Report::start(&resource(), now);

        let outcome = report.scheduled(until);

        assert_eq!(
            outcome,
            Outcome::Wait {
                reason: "Scheduled",
                until: Some(until),
                after: Duration::from_secs(7200)
            }
        );
        let reconciling = report.status.condition(condition::RECONCILING).unwrap();
        assert_eq!(reconciling.reason, "Scheduled");
        assert!(reconciling.message.contains(&until.to_rfc3339()));
    }

    #[test]
    fn a_restore_lists_what_it_could_not_put_back_in_status_and_warns() {
        let mut report = Report::start(&resource(), Utc::now());
        let station = NotRestorable {
            what: NotRestorableKind::DefaultStation,
            id: "s1".into(),
            name: Some("Desk 12".into()),
            why: "no call".into(),
        };

        report.restored(&["queue Billing".to_owned()], vec![station.clone()]);

        assert_eq!(report.status.not_restorable, [station]);
        let ready = report.status.condition(condition::READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "Restored")
        );
        assert!(
            ready.message.contains("status.notRestorable"),
            "{}",
            ready.message
        );
        assert!(report.events[0].warning);
        assert!(report.events[0].message.contains("default station Desk 12"));

        report.restored(&[], Vec::new());

        assert!(
            report.status.not_restorable.is_empty(),
            "rewritten by each restore"
        );
    }

    #[test]
    fn a_status_too_large_is_trimmed_least_important_first_and_keeps_what_restore_needs() {
        use crate::crd::{QueueMembership, UserSnapshot};
        let name = "n".repeat(200);
        let mut status = GenesysUserOffboardingStatus {
            snapshot: Some(UserSnapshot {
                state: UserState::Active,
                routing_status: None,
                presence: None,
                queues: (0..3000)
                    .map(|i| QueueMembership {
                        id: format!("queue-{i}"),
                        name: Some(name.clone()),
                        joined: i % 2 == 0,
                        member_by: Some(MemberBy::User),
                    })
                    .collect(),
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
                taken_at: to_time(Utc::now()),
            }),
            plan: (0..3000)
                .map(|i| PlannedStep {
                    step: StepKind::RemoveFromQueue,
                    target: Some(format!("queue-{i}")),
                    detail: Some(format!("leave queue {name}")),
                })
                .collect(),
            ..GenesysUserOffboardingStatus::default()
        };
        for i in 0..50 {
            status.record_action(ActionRecord {
                step: StepKind::RemoveFromQueue,
                target: Some(format!("queue-{i}")),
                time: to_time(Utc::now()),
                outcome: ActionOutcome::Failed,
                message: Some("m".repeat(1000)),
                read_back: None,
            });
        }
        let before = status.clone();
        assert!(size_of(&status) > MAX_STATUS_BYTES);

        let size = fit(&mut status).unwrap();

        assert!(size <= MAX_STATUS_BYTES, "{size}");
        assert_eq!(size, size_of(&status));
        let kept = status.snapshot.as_ref().unwrap();
        let was = before.snapshot.as_ref().unwrap();
        assert_eq!(kept.queues.len(), was.queues.len());
        for (k, w) in kept.queues.iter().zip(&was.queues) {
            assert_eq!(
                (&k.id, k.joined, &k.member_by),
                (&w.id, w.joined, &w.member_by)
            );
        }
        assert!(
            status.plan.iter().all(|p| p.detail.is_none()),
            "details go first"
        );
        assert!(!status.actions.is_empty(), "the newest actions stay");
        assert_eq!(
            status.actions.last().unwrap().target,
            before.actions.last().unwrap().target
        );

        let mut small = GenesysUserOffboardingStatus::default();
        assert_eq!(
            fit(&mut small),
            Ok(size_of(&GenesysUserOffboardingStatus::default()))
        );
    }

    #[test]
    fn events_and_stall_messages_are_cut_to_the_note_limit() {
        let mut report = Report::start(&resource(), Utc::now());

        let outcome = report.stalled(reason::HISTORY_LOST, "x".repeat(10_000), false);

        let Outcome::Stalled { message, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(message.len() <= MAX_MESSAGE_BYTES);
        assert!(
            report
                .events
                .iter()
                .all(|e| e.message.len() <= MAX_MESSAGE_BYTES)
        );
    }

    #[test]
    fn a_suspended_resource_is_not_reconciling() {
        let mut report = Report::start(&resource(), Utc::now());

        assert_eq!(report.suspended(), Outcome::Suspended);
        assert_eq!(
            kstatus_of(&report)[..2],
            [
                triple("Ready", "Unknown", "Suspended"),
                triple("Reconciling", "False", "Suspended"),
            ]
        );
    }
}
