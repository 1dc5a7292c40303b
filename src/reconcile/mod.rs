//! The reconciler of one `GenesysUserOffboarding`: observe → plan → execute → report.
//!
//! Start at [`reconcile`]: it reads as the table of contents of the pipeline (validate,
//! credentials, resolve, effectiveAt, snapshot, history before, impact preflight and its
//! acknowledgement gate, active-conversation guard, drain
//! routing, deactivate, record the reason, revoke tokens, verify, Ready). Each stage lives in its
//! own module and says whether it does I/O:
//!
//! | module | job | I/O |
//! |---|---|---|
//! | [`observe`] | resolve the user; read routing, queues, stations, grants, history (concurrently) | Genesys reads |
//! | [`plan`] | the ordered steps that remain, or a hold | none (pure) |
//! | [`snapshot`] | the pre-change snapshot, from the reading | none (a read if grants are missing) |
//! | [`execute`] | one step, as an idempotent `ensure_*` | Genesys reads and writes |
//! | [`impact`] | what depends on the user, before the first write; the acknowledgement gate | Genesys reads |
//! | [`verify`] | history before and after | Genesys analytics reads |
//! | [`report`] | conditions, plan, actions, outcome, Events | none (pure) |
//! | [`restore`] | `deletionPolicy: Restore`: put the snapshot back | Genesys reads and writes |
//! | [`drift`] | batched drift checks of many offboarded users (one read per 100) | Genesys reads |
//! | [`owners`] | one resource per user ([`OwnerRegistry`]); the others stall as duplicates | the registry's |
//! | [`store`] | where status is persisted ([`StatusStore`]) | the store's |
//! | [`oneshot`] | `genesys-offboarding reconcile -f FILE`: the same pipeline without a cluster | files, env, stdout |
//!
//! Invariants: status (with the snapshot) is persisted before the first Genesys write and after
//! every step, so a stop between any two steps followed by a rerun converges without repeating a
//! side effect and without replacing the first snapshot. Nothing here deletes a user. A user is
//! offboarded by one resource only ([`owners`]), in the organization first resolved
//! (`status.endpoint`). Every status persisted fits in [`crate::crd::MAX_STATUS_BYTES`]
//! ([`report::fit`]) and its messages in [`crate::crd::MAX_MESSAGE_BYTES`].
//!
//! Calls: the demo agent (two direct queues, an associated and a default station, 90 days of
//! history) takes 18 requests and, with 100 ms per request, about 1.1 s: one search, one
//! expanded `GET /users/{id}`, then queues, grants and the history slices at once, then one
//! request per write, then the history slices again (`benches/offboarding_latency.rs`). In a
//! wave, the client coalesces the search, the user read, the history slices and the queue
//! removals of concurrent passes (`genesys::batch`): about 10 requests per offboarding
//! (`examples/bulk.rs`).

pub mod confirm;
pub mod credentials;
pub mod drift;
pub mod error;
pub mod execute;
pub mod fidelity;
pub mod guard;
pub mod handoff;
pub mod impact;
pub mod observe;
pub mod owners;
pub mod plan;
pub mod report;
pub mod restore;
pub mod snapshot;
pub mod spec;
pub mod store;
pub mod verify;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use credentials::{ClientProvider, FixedClient};
pub use error::ReconcileError;
pub use guard::{Admission, DeactivationCap, Guardrails, ProtectedUsers};
pub use owners::{MemoryOwners, OwnerRegistry, Ownership, UserKey};
pub use restore::restore;
pub use store::{MemoryStore, StatusStore};

use crate::crd::{ActionRecord, GenesysUserOffboarding, GenesysUserOffboardingStatus, reason};
use error::{chain, status_message};
use execute::StepContext;
use genesys_cloud::{GenesysClient, RetryClass};
use observe::Reading;
use plan::{Policy, Step};
use report::Report;

/// What the caller does next (the controller turns it into a requeue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Offboarded (or, in Observe mode, reported): look again after the drift-check interval.
    Done { recheck_after: Duration },
    /// Not yet: `effectiveAt` in the future, or a live conversation. Nothing was written.
    Wait {
        reason: &'static str,
        until: Option<DateTime<Utc>>,
        after: Duration,
    },
    /// A human must act (see the `Stalled` condition); retry only when the resource changes.
    Stalled {
        reason: &'static str,
        message: String,
    },
    /// `spec.suspend`: nothing was done.
    Suspended,
}

/// An Event for the controller to publish (reason `PascalCase`, message for humans).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// A pass that reached a decision: what to do next, the status as persisted, the Events to
/// publish ([`PassResult::into_result`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    pub outcome: Outcome,
    pub status: GenesysUserOffboardingStatus,
    pub events: Vec<Event>,
}

/// When the next pass is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// After this long (a wait, the drift-check interval, a `Retry-After`).
    After(Duration),
    /// After a backoff that grows with each failure in a row (the caller keeps the count).
    Backoff,
    /// Only when the resource (or its Secret) changes.
    OnChange,
}

impl From<RetryClass> for Requeue {
    fn from(class: RetryClass) -> Self {
        match class {
            RetryClass::After(after) => Requeue::After(after),
            RetryClass::Backoff => Requeue::Backoff,
            RetryClass::Never => Requeue::OnChange,
        }
    }
}

impl Outcome {
    /// When the pass after this outcome is due, from `now`.
    pub fn requeue(&self, now: DateTime<Utc>) -> Requeue {
        match self {
            Outcome::Done { recheck_after } => Requeue::After(*recheck_after),
            Outcome::Wait { until, after, .. } => Requeue::After(until.map_or(*after, |until| {
                (until - now).to_std().unwrap_or(Duration::ZERO)
            })),
            Outcome::Stalled { .. } | Outcome::Suspended => Requeue::OnChange,
        }
    }
}

/// Everything one pass did and decided, whether it reached a decision or failed: the caller
/// publishes Events, reports the status and schedules the next pass from this alone, without
/// reading the status back.
#[derive(Debug)]
pub struct PassResult {
    /// The decision, or the failure worth retrying (see [`PassResult::requeue`]).
    pub result: Result<Outcome, ReconcileError>,
    /// The status as last persisted by the pass (the resource's own when the pass persisted
    /// none).
    pub status: GenesysUserOffboardingStatus,
    /// The steps this pass carried out, oldest first, as recorded in the actions log: one Event
    /// each. Steps found already done and failed steps are not in it (a failure has its own
    /// Event).
    pub steps: Vec<ActionRecord>,
    /// The reconciler's own Events (Offboarded, a stall's reason, drift, Restored).
    pub events: Vec<Event>,
}

impl PassResult {
    /// When the next pass is due: what the outcome asks for, or, after a failure, what its
    /// [`ReconcileError::retry_class`] says.
    pub fn requeue(&self, now: DateTime<Utc>) -> Requeue {
        match &self.result {
            Ok(outcome) => outcome.requeue(now),
            Err(error) => error.retry_class().into(),
        }
    }

    /// The decision with the status and Events, or the failure; the steps carried out are left
    /// out (for callers that publish no step Events).
    pub fn into_result(self) -> Result<Reconciled, ReconcileError> {
        Ok(Reconciled {
            outcome: self.result?,
            status: self.status,
            events: self.events,
        })
    }
}

/// One reconcile pass over `resource`, whose `status` is the one last persisted. Status is
/// persisted through `store` as the pass goes. `owners` says whether the resource owns the user
/// it resolves to (a duplicate stalls before anything is written). The result is a failure only
/// when it is worth retrying (its [`ReconcileError::retry_class`] says when); everything a human
/// must fix comes back as [`Outcome::Stalled`].
pub async fn reconcile(
    resource: &GenesysUserOffboarding,
    clients: &dyn ClientProvider,
    owners: &dyn OwnerRegistry,
    store: &dyn StatusStore,
) -> PassResult {
    reconcile_guarded(resource, clients, owners, store, &Guardrails::default()).await
}

/// [`reconcile`] with the operator's guardrails ([`guard`]): an approval gate before any
/// Genesys call, protected users stalled after the user is resolved, and the deactivation cap
/// asked before the first write (its admission persisted with the snapshot's plan).
pub async fn reconcile_guarded(
    resource: &GenesysUserOffboarding,
    clients: &dyn ClientProvider,
    owners: &dyn OwnerRegistry,
    store: &dyn StatusStore,
    guards: &Guardrails,
) -> PassResult {
    let mut pass = Pass::new(resource, store);
    let result = offboard(&mut pass, clients, owners, guards).await;
    pass.conclude(result).await
}

/// How often a resource awaiting approval is looked at again besides on its own changes.
pub const APPROVAL_RECHECK: Duration = Duration::from_secs(15);

/// The organization the spec names, unless the user was resolved in another one
/// (`status.endpoint`): then nothing may be read or written there.
pub fn check_endpoint(resource: &GenesysUserOffboarding) -> Result<(), ReconcileError> {
    let spec = resource.spec.endpoint();
    match resource.status.as_ref().and_then(|s| s.endpoint.as_ref()) {
        Some(recorded) if *recorded != spec => Err(ReconcileError::EndpointChanged {
            recorded: recorded.to_string(),
            spec: spec.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The pipeline, each stage persisted before the next writes.
async fn offboard(
    pass: &mut Pass<'_>,
    clients: &dyn ClientProvider,
    owners: &dyn OwnerRegistry,
    guards: &Guardrails,
) -> Result<Outcome, ReconcileError> {
    let resource = pass.resource;
    let spec = &resource.spec;
    // 1. Validate the spec; the organization is the one the user was resolved in, if any.
    spec.validate()?;
    if spec.suspend {
        return Ok(pass.report.suspended());
    }
    let policy = spec::policy(spec);
    let drift_check = spec.drift_check_interval()?;
    check_endpoint(resource)?;
    // An offboarding that has not started writing waits for its approval before any Genesys
    // call (one whose snapshot was taken began before approvals were required).
    if guards.require_approval
        && !spec.is_observe_only()
        && pass.report.status.snapshot.is_none()
        && let Some(why) = guard::unapproved(resource)
    {
        return Ok(pass
            .report
            .held(reason::AWAITING_APPROVAL, why, None, APPROVAL_RECHECK));
    }
    // 2. Load credentials.
    let client = clients.client_for(resource).await?;
    // 3. Resolve the user (reads only; ambiguous, missing, deleted or mismatched → Stalled),
    // and claim them: another resource's user → Stalled, nothing written.
    let user = observe::resolve(&client, &spec.user).await?;
    let endpoint = spec.endpoint();
    let key = UserKey {
        api: endpoint.api_key(),
        id: user.id.to_string(),
    };
    if let Ownership::Duplicate { owner } = owners.claim(resource, &key).await? {
        return Ok(pass.report.duplicate(&owner, &key));
    }
    pass.report.resolved(&user, endpoint);
    // A protected user is never offboarded: stall before anything is written.
    if let Some(why) = guards.protected.protects(&user) {
        let message = format!(
            "{why} (--protected-user-id, --protected-email, --protected-division): the operator never offboards this user; nothing was changed"
        );
        return Ok(pass.report.stalled(reason::PROTECTED_USER, message, false));
    }
    // 4. effectiveAt in the future → wait, zero writes.
    if let Some(until) = plan::scheduled_until(&policy, pass.now) {
        return Ok(pass.report.scheduled(until));
    }
    // Observe Genesys and plan what remains (the guard of step 6 is a hold in the plan; its
    // live conversations come with the history count, or are read only when the plan writes).
    let cx = observe::ReadContext {
        policy: &policy,
        status: &pass.report.status,
        lookback: spec.history_lookback(),
        now: pass.now,
    };
    // The successor is resolved (and, before the snapshot, the work to hand off found) while
    // nothing is written: an ambiguous or inactive successor stalls here.
    let handoff = match &spec.handoff {
        Some(handoff) if !handoff::done(&pass.report.status) => Some(
            handoff::prepare(
                &client,
                handoff,
                &user,
                pass.report.status.snapshot.is_none(),
                pass.now,
            )
            .await?,
        ),
        _ => None,
    };
    // Boxed: nine concurrent reads make a large future.
    let mut reading = Box::pin(observe::read(&client, user, &cx)).await?;
    reading.handoff = handoff;
    // A `Minimal` snapshot without the queues, and a spec that now removes them: they are
    // recorded (persisted with the plan below) before the first removal.
    if let Some(snapshot) = pass.report.status.snapshot.as_mut()
        && snapshot::record_queues(snapshot, &reading)
    {
        tracing::info!(user = %reading.user.id, "the snapshot records the queues now that they are removed");
    }
    let mut plan = plan::plan(&policy, &observe::observed(&reading, &pass.report.status));
    if reading.ongoing_conversations.is_none() && plan::needs_conversation_guard(&policy, &plan) {
        let ongoing = observe::ongoing_conversations(&client, &reading.user.id, pass.now).await?;
        reading.ongoing_conversations = Some(ongoing);
        plan = plan::plan(&policy, &observe::observed(&reading, &pass.report.status));
    }
    pass.report.planned(&plan, &policy, &reading);
    // The deactivation cap is asked before the first write; its admission is persisted with
    // the plan, before that write, so every replica and restart counts it.
    let admitted = match admit(pass, guards, &plan) {
        Ok(admitted) => admitted,
        Err(held) => {
            pass.save().await?;
            return Ok(held);
        }
    };
    if let Err(e) = pass.save().await {
        if admitted && let Some(cap) = &guards.cap {
            cap.release(resource);
        }
        return Err(e);
    }
    // 5–10. Snapshot, history before, drain, deactivate, reason, revoke, verify: each step
    // persisted before the next one starts.
    // The drain's writes are read back before anything is claimed ([`confirm`]).
    let steps = plan.runnable();
    let (reads, writes) =
        steps.split_at(steps.iter().position(Step::is_write).unwrap_or(steps.len()));
    Box::pin(pass.run_steps(&client, &reading, &policy, reads)).await?;
    pass.report.handoff_successor(reading.handoff.as_ref());
    // The impact preflight, once the snapshot is persisted and before the first write (in
    // Observe mode, every pass); with a required acknowledgement not given, nothing is written.
    if let Some(held) = Box::pin(pass.impact(&client, &reading, &plan, !writes.is_empty())).await? {
        return Ok(held);
    }
    Box::pin(pass.run_steps(&client, &reading, &policy, writes)).await?;
    // 11. Ready (or the reason why not).
    Ok(pass.report.finish(&plan, drift_check))
}

/// Asks the deactivation cap whether an offboarding about to deactivate its user may start:
/// `Ok(true)` admitted now (recorded in the status being built), `Ok(false)` no need to ask
/// (no cap, nothing to deactivate, a hold, or admitted before), `Err` the outcome of a hold.
fn admit(pass: &mut Pass<'_>, guards: &Guardrails, plan: &plan::Plan) -> Result<bool, Outcome> {
    let Some(cap) = &guards.cap else {
        return Ok(false);
    };
    let deactivates = plan.hold.is_none()
        && plan.runnable().iter().any(Step::is_write)
        && plan.steps.iter().any(|s| matches!(s, Step::Deactivate));
    if !deactivates || pass.report.status.deactivation_admitted_at.is_some() {
        return Ok(false);
    }
    match cap.admit(pass.resource, Utc::now()) {
        Admission::Admitted { at } => {
            pass.report.status.deactivation_admitted_at = Some(spec::to_time(at));
            Ok(true)
        }
        Admission::Full {
            used,
            cap,
            window,
            retry_at,
        } => {
            let message = format!(
                "the organization has deactivated {used} users in the last {} (--deactivation-cap {cap}); nothing was changed. This offboarding starts at {} or when the cap is raised",
                guard::human(window),
                retry_at.to_rfc3339()
            );
            Err(pass.report.held(
                reason::DEACTIVATION_CAP_REACHED,
                message,
                Some(retry_at),
                Duration::ZERO,
            ))
        }
        Admission::Unknown { after } => {
            let message = "the operator is still reading the organization's recent deactivations to apply --deactivation-cap; nothing was changed".to_owned();
            Err(pass
                .report
                .held(reason::DEACTIVATION_CAP_REACHED, message, None, after))
        }
    }
}

/// Persists `status`, trimmed to fit [`crate::crd::MAX_STATUS_BYTES`] first ([`report::fit`]). A
/// status that does not fit even trimmed is not persisted (an API server would refuse it).
pub(crate) async fn save(
    store: &dyn StatusStore,
    resource: &GenesysUserOffboarding,
    status: &mut GenesysUserOffboardingStatus,
) -> Result<(), error::StoreError> {
    let before = report::size_of(status);
    match report::fit(status) {
        Ok(size) if size < before => {
            tracing::warn!(before, after = size, "the status was trimmed to fit");
        }
        Ok(_) => {}
        Err(size) => {
            return Err(error::StoreError(format!(
                "the status takes {size} bytes even trimmed, more than the {} an API server is given",
                crate::crd::MAX_STATUS_BYTES
            )));
        }
    }
    store.save(resource, status).await
}

/// The state of one pass: the report being built and the status as last persisted.
struct Pass<'a> {
    resource: &'a GenesysUserOffboarding,
    store: &'a dyn StatusStore,
    report: Report,
    persisted: GenesysUserOffboardingStatus,
    now: DateTime<Utc>,
    /// The store was told this pass writes to Genesys ([`StatusStore::before_first_write`]).
    writing: bool,
}

impl<'a> Pass<'a> {
    fn new(resource: &'a GenesysUserOffboarding, store: &'a dyn StatusStore) -> Self {
        let now = Utc::now();
        Self {
            resource,
            store,
            report: Report::start(resource, now),
            persisted: resource.status.clone().unwrap_or_default(),
            now,
            writing: false,
        }
    }

    async fn save(&mut self) -> Result<(), ReconcileError> {
        save(self.store, self.resource, &mut self.report.status).await?;
        self.persisted = self.report.status.clone();
        Ok(())
    }

    async fn run_step(
        &mut self,
        client: &GenesysClient,
        reading: &Reading,
        policy: &Policy,
        step: &Step,
    ) -> Result<(), ReconcileError> {
        if step.is_write() && !self.writing {
            self.store.before_first_write(self.resource).await?;
            self.writing = true;
        }
        let cx = StepContext {
            client,
            user: &reading.user.id,
            reading,
            lookback: self.resource.spec.history_lookback(),
            scope: self.resource.spec.snapshot_scope(),
            persisted: &self.persisted,
            version: self
                .persisted
                .user
                .as_ref()
                .and_then(|u| u.version)
                .or(reading.user.version),
            now: Utc::now(),
        };
        tracing::info!(step = %step.kind(), target = ?step.target_id(), user = %reading.user.id, "running step");
        let result = execute::run(&cx, step).await;
        self.report.step(step, &result, policy);
        self.save().await?;
        // A handoff some read does not show yet holds the pass here: nothing after it (the
        // drain, the deactivation) runs before the work is with its new owner. Retried with
        // backoff; after `MAX_NOT_APPLIED_ATTEMPTS` passes it stalls, naming the moves.
        if let Ok(execute::StepOutput::Handoff(handed)) = &result {
            let incomplete = handed.status.kinds.iter().any(|k| !k.is_complete());
            if incomplete {
                return Err(error::StepError::HandoffUnconfirmed {
                    count: handed.pending.len(),
                    what: handed.pending.join(", "),
                    attempts: self.report.handoff_attempts().max(1),
                }
                .into());
            }
        }
        result?;
        Ok(())
    }

    /// Persists the final status of the pass. Failures a human must fix become `Stalled`;
    /// failures worth retrying are reported as such and returned.
    async fn conclude(mut self, result: Result<Outcome, ReconcileError>) -> PassResult {
        let result = match result {
            Ok(outcome) => Ok(outcome),
            Err(e @ ReconcileError::Store(_)) => return self.finish(Err(e)),
            Err(e) if e.retry_class() == RetryClass::Never => {
                let unresolved = matches!(e, ReconcileError::Resolve(_));
                tracing::warn!(reason = e.reason(), error = %chain(&e), "offboarding stalled");
                Ok(self
                    .report
                    .stalled(e.reason(), status_message(&e), unresolved))
            }
            Err(e) => {
                tracing::warn!(reason = e.reason(), error = %chain(&e), "offboarding pass failed; will retry");
                self.report.retrying(e.reason(), &status_message(&e));
                Err(e)
            }
        };
        // A status that cannot be persisted is the failure: the next pass starts from the last
        // one that was.
        let result = self.save().await.and(result);
        self.finish(result)
    }

    /// The pass's result, as it stands: no I/O.
    fn finish(self, result: Result<Outcome, ReconcileError>) -> PassResult {
        PassResult {
            result,
            status: self.persisted,
            steps: self.report.steps,
            events: self.report.events,
        }
    }
}
