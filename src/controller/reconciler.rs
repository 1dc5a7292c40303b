//! The controller's reconcile function and error policy: it reads the resource fresh, applies
//! the deletion policy (the finalizer exists only with `deletionPolicy: Restore`), runs the
//! reconciler's pass ([`crate::reconcile::reconcile`], or [`crate::reconcile::restore`] on
//! deletion), publishes Events, updates metrics, and turns the outcome into a requeue:
//!
//! | result | next pass |
//! |---|---|
//! | `Done`, `Ready=True` `Offboarded`, batched drift checks on | when [`super::drift`] finds drift, or on a change |
//! | `Done { recheck_after }` (otherwise) | after the drift-check interval |
//! | `Wait { until, after }` | at `until`, else after `after` |
//! | `Stalled`, `Suspended` | when the resource (or its Secret) changes |
//! | error, `RetryClass::After(d)` | after `d` (e.g. Genesys `Retry-After`) |
//! | error, `RetryClass::Backoff` | per-object capped exponential backoff with jitter |
//! | error, `RetryClass::Never` | when the resource changes |
//!
//! With batched drift checks on, the resource's own watch events do not trigger a resource they
//! watch ([`drift_checks_watch`], filtered in the controller's trigger stream), and any other
//! trigger of one skips the pass (outcome `DriftWatched`) unless the drift checks or the Secret
//! watch asked for a full pass.
//!
//! A resource the operator cannot decode (the fresh read is JSON first, [`super::undecodable`])
//! gets a pass that only reports it on the resource (Stalled, reason `Undecodable`) and waits for
//! a change.
//!
//! Shared capacity: a pass runs only with a slot of its Genesys organization
//! ([`super::fairness`]; none free: requeued, outcome `OrgBusy`) and one of the `--concurrency`
//! permits, and is abandoned after `--pass-timeout` (error `PassTimedOut`, retried with backoff).
//! Abandoning a pass is safe at any await: the snapshot is persisted before the first Genesys
//! write, each step's result after it, and the next pass reads the resource afresh and plans
//! from what Genesys says now, so it neither repeats a side effect nor replaces the snapshot.
//!
//! `deletionPolicy: Orphan` deleted mid-offboarding: the in-progress finalizer (put on by the
//! status store before the first write, see [`super::status`]) holds the deletion; the next pass
//! finishes the offboarding and lets the resource go with a `FinishedBeforeDeletion` Event, or,
//! when it cannot be finished (stalled, suspended, Observe, a failure that is not retried, or
//! `deletion_grace` after the deletion), lets it go with a `DeletedUnfinished` Warning Event
//! listing the steps done and not done.
//!
//! I/O: Kubernetes reads and patches (finalizer), Genesys through the reconciler, Events.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::Recorder;
use kube::runtime::finalizer::{self, Event as FinalizerEvent};
use kube::{Client, Resource, ResourceExt};
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::backoff::Backoffs;
use super::cache::CachedOffboarding;
use super::claims::ClaimRegistry;
use super::drift::FullPasses;
use super::events::Publisher;
use super::fairness::{OrgKey, OrgSlots, OrgsWithWork, busy_requeue};
use super::secrets::SecretClientProvider;
use super::status::KubeStatusStore;
use super::undecodable::{self, Fresh, Undecodable};
use crate::crd::{
    ActionOutcome, DeletionPolicy, FINALIZER, GenesysUserOffboarding, GenesysUserOffboardingStatus,
    IN_PROGRESS_FINALIZER, condition, reason,
};
use crate::reconcile::error::{chain, status_message};
use crate::reconcile::{self, Outcome, PassResult, ReconcileError, Reconciled, Requeue};
use crate::telemetry::{Metrics, ResourceState};
use genesys_cloud::RetryClass;

/// The reasons of the guardrails' holds (counted by `guardrail_holds`).
const GUARDRAIL_REASONS: [&str; 3] = [
    reason::DEACTIVATION_CAP_REACHED,
    reason::PROTECTED_USER,
    reason::AWAITING_APPROVAL,
];

/// The shortest requeue: an outcome asking for "now" must not spin.
const MIN_REQUEUE: Duration = Duration::from_secs(1);

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub provider: Arc<SecretClientProvider>,
    /// Which resource owns which user (one offboards it, the others stall as duplicates).
    pub owners: Arc<ClaimRegistry>,
    pub store: Arc<KubeStatusStore>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub backoffs: Backoffs,
    /// `--concurrency`: passes running at once across every watched namespace.
    pub permits: Semaphore,
    /// `--max-passes-per-org`: passes of one Genesys organization running at once (at most its
    /// share of the workers among the organizations with work).
    pub orgs: OrgSlots,
    /// The organizations with unfinished offboardings, from the resource caches.
    pub orgs_with_work: OrgsWithWork,
    /// `--pass-timeout`: how long one pass may run before it is abandoned.
    pub pass_timeout: Duration,
    /// How long after an `Orphan` resource's deletion an offboarding under way may take to
    /// finish before the resource is let go anyway.
    pub deletion_grace: Duration,
    /// Batched drift checks ([`super::drift`]) stand in for the periodic pass of `Ready`
    /// resources: their pass asks for no requeue, and a trigger of one is skipped unless a full
    /// pass was asked for in `full_passes`.
    pub batched_drift: bool,
    /// Full passes asked for by the drift checks and the Secret watch.
    pub full_passes: Arc<FullPasses>,
    /// Protected users, the approval gate and the deactivation cap.
    pub guards: reconcile::Guardrails,
}

/// A pass of the controller that did not reach a decision.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The reconciler's pass failed (its error says when to retry).
    #[error("failed to offboard the user")]
    Offboard(#[source] ReconcileError),
    /// The restore on deletion failed (its error says when to retry).
    #[error("failed to restore the user before deletion")]
    Restore(#[source] ReconcileError),
    /// The restore needs a human; the finalizer stays until it succeeds or the policy becomes
    /// `Orphan`.
    #[error(
        "restore stalled, the resource is kept (set spec.deletionPolicy: Orphan to let it go): {message}"
    )]
    RestoreStalled {
        reason: &'static str,
        message: String,
    },
    /// The resource could not be read.
    #[error("failed to read the resource")]
    Read(#[source] kube::Error),
    /// The finalizer could not be added or removed.
    #[error("failed to update the finalizer")]
    Finalizer(#[source] kube::Error),
    /// The status saying that the resource cannot be decoded could not be written.
    #[error("failed to report that the resource cannot be read")]
    Report(#[source] kube::Error),
    /// The resource has no name or namespace (never from the API server).
    #[error("the resource has no name or namespace")]
    Unnamed,
    /// The pass took longer than `--pass-timeout` and was abandoned (status is persisted after
    /// every step, so the next pass goes on from there).
    #[error(
        "the pass took longer than {after:?} (--pass-timeout) and was abandoned; a Genesys endpoint may not be answering"
    )]
    TimedOut { after: Duration },
}

impl Error {
    /// When to try again.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            Error::Offboard(e) | Error::Restore(e) => e.retry_class(),
            Error::RestoreStalled { .. } | Error::Unnamed => RetryClass::Never,
            Error::Read(_) | Error::Finalizer(_) | Error::Report(_) | Error::TimedOut { .. } => {
                RetryClass::Backoff
            }
        }
    }

    /// The `PascalCase` reason: Event reason, condition reason and metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Offboard(e) | Error::Restore(e) => e.reason(),
            Error::RestoreStalled { reason, .. } => reason,
            Error::Read(_) => "ResourceUnreadable",
            Error::Finalizer(_) => "FinalizerNotUpdated",
            Error::Report(_) => "StatusNotPersisted",
            Error::Unnamed => "InvalidResource",
            Error::TimedOut { .. } => "PassTimedOut",
        }
    }
}

/// The key of a resource in logs, backoff and metrics: `namespace/name`.
pub fn key(resource: &impl Resource) -> String {
    format!(
        "{}/{}",
        resource.namespace().unwrap_or_default(),
        resource.name_any()
    )
}

/// The controller's reconcile function: one span per pass, with the object key.
pub async fn reconcile(
    resource: Arc<CachedOffboarding>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    // `object` is the key (`namespace/name`) on every log line of the pass.
    let span = tracing::info_span!(
        "reconcile",
        object = %key(resource.as_ref()),
        namespace = %resource.namespace().unwrap_or_default(),
    );
    async move {
        // A deletion seen while the pass runs keeps it from setting the info series again.
        let _in_flight = ctx.metrics.pass(
            &resource.namespace().unwrap_or_default(),
            &resource.name_any(),
        );
        // A pass that waited here for its organization would hold one of the controller's
        // workers all the same: it comes back later instead.
        let org = OrgKey::of_resource(&resource);
        let with_work = ctx.orgs_with_work.count();
        let Some(_slot) = ctx.orgs.try_take(org.clone(), with_work) else {
            let after = busy_requeue();
            tracing::debug!(%org, limit = ctx.orgs.limit(with_work), ?after, "the organization runs as many passes as it may; requeued");
            ctx.metrics.reconciled("OrgBusy", Duration::ZERO);
            return Ok(Action::requeue(after));
        };
        let _permit = ctx.permits.acquire().await;
        let started = Instant::now();
        let deadline = tokio::time::timeout(ctx.pass_timeout, Box::pin(pass(&resource, &ctx)));
        let result = deadline.await.unwrap_or_else(|_| {
            // What the abandoned pass kept in memory goes; the next pass reads afresh.
            if let Some(uid) = resource.uid() {
                ctx.store.forget(&uid);
            }
            Err(Error::TimedOut {
                after: ctx.pass_timeout,
            })
        });
        let elapsed = started.elapsed();
        match &result {
            Ok((action, outcome)) => {
                ctx.metrics.reconciled(outcome, elapsed);
                tracing::debug!(outcome, ?action, "pass finished");
            }
            Err(error) => {
                ctx.metrics.reconciled("Error", elapsed);
                ctx.metrics.failed(error.reason());
                tracing::warn!(reason = error.reason(), error = %chain(error), "pass failed");
                let action = if matches!(error, Error::Restore(_) | Error::RestoreStalled { .. }) {
                    "Restore"
                } else {
                    "Offboard"
                };
                Publisher::new(&ctx.recorder, resource.as_ref())
                    .publish(true, error.reason(), action, &status_message(error))
                    .await;
            }
        }
        result.map(|(action, _)| action)
    }
    .instrument(span)
    .await
}

/// The controller's error policy: the requeue each retry class asks for.
// The signature is the one `Controller::run` calls.
#[allow(clippy::needless_pass_by_value)]
pub fn error_policy(resource: Arc<CachedOffboarding>, error: &Error, ctx: Arc<Context>) -> Action {
    requeue(error.retry_class().into(), || {
        ctx.backoffs.next(&key(resource.as_ref()))
    })
}

/// One pass; returns the requeue and the outcome's name (metrics).
async fn pass(cached: &CachedOffboarding, ctx: &Context) -> Result<(Action, &'static str), Error> {
    if stands_in(cached, ctx) {
        return Ok((Action::await_change(), "DriftWatched"));
    }
    let namespace = cached.namespace().ok_or(Error::Unnamed)?;
    let name = cached.name_any();
    let api: Api<GenesysUserOffboarding> = Api::namespaced(ctx.client.clone(), &namespace);
    // Read fresh: the watch cache may not hold the status this operator wrote a moment ago, and
    // the reconciler trusts `status` as the one last persisted (the snapshot lives there).
    let resource = match undecodable::read(&ctx.client, &namespace, &name)
        .await
        .map_err(Error::Read)?
    {
        Some(Fresh::Decoded(resource)) => *resource,
        Some(Fresh::Undecodable { object, why }) => {
            return report_undecodable(ctx, &object, &why).await;
        }
        None => {
            forget(ctx, cached.uid(), &namespace, &name);
            return Ok((Action::await_change(), "Gone"));
        }
    };
    let deleting = resource.metadata.deletion_timestamp.is_some();
    let has_finalizer = resource.finalizers().iter().any(|f| f == FINALIZER);
    // Overwritten by the offboarding pass; a pass that only adds the finalizer keeps this.
    let outcome = Mutex::new(if has_finalizer {
        "Done"
    } else {
        "FinalizerAdded"
    });
    match resource.spec.deletion_policy {
        DeletionPolicy::Restore if holds_in_progress(resource.finalizers()) => {
            // Switched from `Orphan` mid-offboarding: the restore finalizer holds deletions now.
            release(&api, &name).await?;
            Ok((Action::requeue(MIN_REQUEUE), "FinalizerSwapped"))
        }
        DeletionPolicy::Restore => {
            Box::pin(restore_policy(
                &api,
                resource,
                cached,
                ctx,
                deleting,
                has_finalizer,
                &outcome,
            ))
            .await
        }
        DeletionPolicy::Orphan => {
            let resource = if has_finalizer {
                remove_finalizer(&api, &resource).await?
            } else {
                resource
            };
            let holding = holds_in_progress(resource.finalizers());
            if deleting {
                if holding {
                    return Box::pin(finish_before_deletion(&api, &resource, ctx, &outcome)).await;
                }
                // Orphan, nothing under way: deleting the resource leaves the user as they are.
                forget(ctx, cached.uid(), &namespace, &name);
                return Ok((Action::await_change(), "Orphaned"));
            }
            let result = Box::pin(offboard(&resource, ctx, &outcome)).await;
            // Added by this pass, or by an earlier one that did not finish.
            let held = resource.uid().is_some_and(|uid| ctx.store.take_held(&uid)) || holding;
            let (action, finished) = result?;
            if held
                && finished == Finished::Done
                && let Some(fresh) = release(&api, &name).await?
                && fresh.metadata.deletion_timestamp.is_some()
            {
                // Deleted while this pass was finishing the offboarding.
                publish_released(ctx, &fresh, None).await;
                forget(ctx, cached.uid(), &namespace, &name);
            }
            Ok((action, *lock(&outcome)))
        }
    }
}

/// The pass of a resource the operator cannot decode: it is reported on the resource, and
/// nothing else is done until it changes.
async fn report_undecodable(
    ctx: &Context,
    object: &kube::api::DynamicObject,
    why: &Undecodable,
) -> Result<(Action, &'static str), Error> {
    let written = undecodable::report(&ctx.client, &ctx.recorder, object, why)
        .await
        .map_err(Error::Report)?;
    if written {
        tracing::warn!(field = %why.field, problem = %why.problem, "the resource cannot be decoded; nothing is done until it changes");
    }
    ctx.metrics.resource(
        object.metadata.namespace.as_deref().unwrap_or_default(),
        object.metadata.name.as_deref().unwrap_or_default(),
        ResourceState::Stalled,
        "False",
        reason::UNDECODABLE,
    );
    ctx.metrics.failed(reason::UNDECODABLE);
    ctx.backoffs.reset(&key(object));
    Ok((Action::await_change(), "Stalled"))
}

/// A pass of a resource with `deletionPolicy: Restore`: the restore finalizer wraps the
/// offboarding (apply) and the restore (cleanup, on deletion).
async fn restore_policy(
    api: &Api<GenesysUserOffboarding>,
    resource: GenesysUserOffboarding,
    cached: &CachedOffboarding,
    ctx: &Context,
    deleting: bool,
    has_finalizer: bool,
    outcome: &Mutex<&'static str>,
) -> Result<(Action, &'static str), Error> {
    let namespace = cached.namespace().ok_or(Error::Unnamed)?;
    let name = cached.name_any();
    let resource = Arc::new(resource);
    let result = Box::pin(finalizer::finalizer(
        api,
        FINALIZER,
        resource,
        |event| async move {
            match event {
                FinalizerEvent::Apply(resource) => Box::pin(offboard(&resource, ctx, outcome))
                    .await
                    .map(|(action, _)| action),
                FinalizerEvent::Cleanup(resource) => Box::pin(restore(&resource, ctx)).await,
            }
        },
    ))
    .await;
    match result {
        Ok(action) => {
            if deleting {
                forget(ctx, cached.uid(), &namespace, &name);
                if !has_finalizer {
                    return Ok((Action::await_change(), "Gone"));
                }
                tracing::info!("restored; finalizer removed");
                return Ok((Action::await_change(), "Restored"));
            }
            Ok((action, *lock(outcome)))
        }
        Err(finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e)) => Err(e),
        Err(finalizer::Error::AddFinalizer(e) | finalizer::Error::RemoveFinalizer(e)) => {
            Err(Error::Finalizer(e))
        }
        Err(finalizer::Error::UnnamedObject | finalizer::Error::InvalidFinalizer) => {
            Err(Error::Unnamed)
        }
    }
}

/// Whether the batched drift checks stand in for this trigger's pass: a resource they watch
/// ([`drift_checks_watch`]) and no full pass asked for. A restart's initial list of 10,000
/// finished offboardings then costs no Genesys call (and no read of each resource).
fn stands_in(cached: &CachedOffboarding, ctx: &Context) -> bool {
    ctx.batched_drift && !ctx.full_passes.take(&key(cached)) && drift_checks_watch(cached)
}

/// Whether the batched drift checks watch the resource (Ready, `Offboarded`, spec unchanged
/// since), not being deleted, with the finalizer its deletion policy asks for and no
/// in-progress finalizer left to take off: its own watch events need no pass.
pub fn drift_checks_watch(cached: &CachedOffboarding) -> bool {
    let has_finalizer = cached.finalizers().iter().any(|f| f == FINALIZER);
    let finalizer_as_asked = cached
        .spec
        .as_ref()
        .is_ok_and(|spec| has_finalizer == (spec.deletion_policy == DeletionPolicy::Restore));
    cached.metadata.deletion_timestamp.is_none()
        && finalizer_as_asked
        && !holds_in_progress(cached.finalizers())
        && cached.watched_user.is_some()
}

fn holds_in_progress(finalizers: &[String]) -> bool {
    finalizers.iter().any(|f| f == IN_PROGRESS_FINALIZER)
}

/// `deletionPolicy` went from `Restore` to `Orphan`: the finalizer goes (a merge patch guarded
/// by the resourceVersion, so a concurrent change fails with 409 and is retried).
async fn remove_finalizer(
    api: &Api<GenesysUserOffboarding>,
    resource: &GenesysUserOffboarding,
) -> Result<GenesysUserOffboarding, Error> {
    let finalizers: Vec<&String> = resource
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .collect();
    let patch = serde_json::json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": resource.resource_version(),
        }
    });
    tracing::info!("deletionPolicy is Orphan: removing the restore finalizer");
    api.patch(
        &resource.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(Error::Finalizer)
}

/// How an offboarding pass ended, as far as the in-progress finalizer cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finished {
    /// `Done`: offboarded, or observed; nothing is under way.
    Done,
    /// Waiting (`effectiveAt`, a live conversation) after this long.
    Wait(Duration),
    /// A human must act (`Stalled`), or the resource is suspended.
    Blocked,
}

/// The offboarding pass: the requeue, and how it ended.
async fn offboard(
    resource: &GenesysUserOffboarding,
    ctx: &Context,
    outcome: &Mutex<&'static str>,
) -> Result<(Action, Finished), Error> {
    let pass = reconcile::reconcile_guarded(
        resource,
        ctx.provider.as_ref(),
        ctx.owners.as_ref(),
        ctx.store.as_ref(),
        &ctx.guards,
    )
    .await;
    let next = pass.requeue(Utc::now());
    let admitted_now = resource
        .status
        .as_ref()
        .and_then(|s| s.deactivation_admitted_at.as_ref())
        .is_none()
        && pass.status.deactivation_admitted_at.is_some();
    let passed = publish(ctx, resource, pass, "Offboard")
        .await
        .map_err(Error::Offboard)?;
    if let Outcome::Wait { reason, .. } = &passed.outcome
        && ready_reason(resource.status.as_ref()) != Some(*reason)
    {
        let note = ready_message(&passed.status).unwrap_or_default();
        Publisher::new(&ctx.recorder, resource)
            .publish(false, reason, "Offboard", &note)
            .await;
    }
    if admitted_now {
        ctx.metrics.deactivation_admitted();
    }
    match &passed.outcome {
        Outcome::Wait { reason, .. } | Outcome::Stalled { reason, .. }
            if GUARDRAIL_REASONS.contains(reason) =>
        {
            ctx.metrics.guardrail_held(reason);
        }
        _ => {}
    }
    ctx.backoffs.reset(&key(resource));
    *lock(outcome) = outcome_name(ctx, &passed.outcome);
    let finished = match &passed.outcome {
        Outcome::Done { .. } => Finished::Done,
        wait @ Outcome::Wait { .. } => {
            Finished::Wait(requeue_after(wait, Utc::now()).unwrap_or(MIN_REQUEUE))
        }
        Outcome::Stalled { .. } | Outcome::Suspended => Finished::Blocked,
    };
    Ok((requeue_of(ctx, resource, &passed, next), finished))
}

/// Publishes what a pass of `resource` did, from its result alone: an Event per step it carried
/// out and, when it reached a decision, the reconciler's own Events; and sets the info gauge
/// from the status it persisted. The store forgets the pass. `action` says what the operator was
/// doing (`Offboard`, `Restore`). A failure is returned (its Event is the caller's).
async fn publish(
    ctx: &Context,
    resource: &GenesysUserOffboarding,
    pass: PassResult,
    action: &str,
) -> Result<Reconciled, ReconcileError> {
    ctx.store.finish_pass(resource);
    let publisher = Publisher::new(&ctx.recorder, resource);
    publisher.steps(&pass.steps, action).await;
    observe(ctx, resource, &pass.status);
    let passed = pass.into_result()?;
    for event in &passed.events {
        if event.reason == reason::DRIFT_CORRECTED {
            ctx.metrics.drift_corrected();
        }
        publisher
            .publish(event.warning, event.reason, action, &event.message)
            .await;
    }
    Ok(passed)
}

/// An `Orphan` resource deleted while its offboarding was under way (it holds the in-progress
/// finalizer): the offboarding is finished, then the finalizer goes. When it cannot be finished
/// (a human must act, suspended, Observe, a failure that is never retried, or `deletion_grace`
/// since the deletion), the finalizer goes all the same, with a Warning Event that lists what
/// was done and what was not. A failure worth retrying is retried within the grace.
async fn finish_before_deletion(
    api: &Api<GenesysUserOffboarding>,
    resource: &GenesysUserOffboarding,
    ctx: &Context,
    outcome: &Mutex<&'static str>,
) -> Result<(Action, &'static str), Error> {
    let name = resource.name_any();
    let namespace = resource.namespace().unwrap_or_default();
    let deleted_at = resource
        .metadata
        .deletion_timestamp
        .as_ref()
        .map_or_else(Utc::now, crate::reconcile::spec::from_time);
    let elapsed = (Utc::now() - deleted_at).to_std().unwrap_or(Duration::ZERO);
    let remaining = ctx.deletion_grace.saturating_sub(elapsed);
    let give_up = if resource.spec.suspend {
        Some("the resource is suspended".to_owned())
    } else if resource.spec.is_observe_only() {
        Some("managementPolicy is Observe".to_owned())
    } else if remaining.is_zero() {
        Some(format!(
            "it was not finished within {:?} of the deletion",
            ctx.deletion_grace
        ))
    } else {
        None
    };
    let why = match give_up {
        Some(why) => why,
        None => match Box::pin(offboard(resource, ctx, outcome)).await {
            Ok((_, Finished::Done)) => {
                if let Some(fresh) = release(api, &name).await? {
                    publish_released(ctx, &fresh, None).await;
                }
                forget(ctx, resource.uid(), &namespace, &name);
                return Ok((Action::await_change(), "Orphaned"));
            }
            Ok((_, Finished::Wait(after))) => {
                let after = after.min(remaining).max(MIN_REQUEUE);
                return Ok((Action::requeue(after), *lock(outcome)));
            }
            Ok((_, Finished::Blocked)) => {
                "it stalled or is suspended (see its conditions)".to_owned()
            }
            Err(e) if e.retry_class() == RetryClass::Never => {
                format!("{}: {}", e.reason(), chain(&e))
            }
            Err(e) => return Err(e),
        },
    };
    tracing::warn!(why = %why, "deleted mid-offboarding; letting it go unfinished");
    if let Some(fresh) = release(api, &name).await? {
        publish_released(ctx, &fresh, Some(&why)).await;
    }
    forget(ctx, resource.uid(), &namespace, &name);
    Ok((Action::await_change(), "Orphaned"))
}

/// Takes the in-progress finalizer off the resource `name` as it is now; returns it as read
/// (`None`: already gone).
async fn release(
    api: &Api<GenesysUserOffboarding>,
    name: &str,
) -> Result<Option<GenesysUserOffboarding>, Error> {
    let Some(fresh) = api.get_opt(name).await.map_err(Error::Read)? else {
        return Ok(None);
    };
    if !holds_in_progress(fresh.finalizers()) {
        return Ok(Some(fresh));
    }
    let finalizers: Vec<&String> = fresh
        .finalizers()
        .iter()
        .filter(|f| *f != IN_PROGRESS_FINALIZER)
        .collect();
    let patch = serde_json::json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": fresh.resource_version(),
        }
    });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::Finalizer)?;
    tracing::info!("offboarding no longer under way: in-progress finalizer removed");
    Ok(Some(fresh))
}

/// The Event of a resource let go after a deletion mid-offboarding: `FinishedBeforeDeletion`
/// (`unfinished` is `None`), or a `DeletedUnfinished` Warning saying why; both list the steps
/// done, the second also those not done.
async fn publish_released(
    ctx: &Context,
    resource: &GenesysUserOffboarding,
    unfinished: Option<&str>,
) {
    let status = resource.status.clone().unwrap_or_default();
    let note = released_note(&status, unfinished);
    let (warning, why) = match unfinished {
        None => (false, reason::FINISHED_BEFORE_DELETION),
        Some(_) => (true, reason::DELETED_UNFINISHED),
    };
    Publisher::new(&ctx.recorder, resource)
        .publish(warning, why, "Delete", &note)
        .await;
}

/// What a resource let go after a deletion mid-offboarding did and did not do, from its status.
pub fn released_note(status: &GenesysUserOffboardingStatus, unfinished: Option<&str>) -> String {
    let step = |step: &str, target: Option<&String>| match target {
        Some(target) => format!("{step} ({target})"),
        None => step.to_owned(),
    };
    let done: Vec<String> = status
        .actions
        .iter()
        // Accepted: Genesys answered 2xx and nothing can read it back (token revocation).
        .filter(|a| {
            matches!(
                a.outcome,
                ActionOutcome::Succeeded | ActionOutcome::Accepted
            )
        })
        .map(|a| step(a.step.as_str(), a.target.as_ref()))
        .collect();
    let done = if done.is_empty() {
        "nothing".to_owned()
    } else {
        done.join(", ")
    };
    match unfinished {
        None => format!(
            "Deleted while the offboarding was under way (deletionPolicy: Orphan); it was finished first. Done: {done}."
        ),
        Some(why) => {
            let left: Vec<String> = status
                .plan
                .iter()
                .map(|p| step(p.step.as_str(), p.target.as_ref()))
                .collect();
            let left = if left.is_empty() {
                "unknown (see the resource's last status)".to_owned()
            } else {
                left.join(", ")
            };
            format!(
                "Deleted while the offboarding was under way (deletionPolicy: Orphan); it was NOT finished: {why}. The user is left as these steps left them. Done: {done}. Not done: {left}."
            )
        }
    }
}

/// The requeue of an offboarding pass that asked for `next`: none for a resource the batched
/// drift checks watch (they trigger its next pass when its user drifts), else `next`.
fn requeue_of(
    ctx: &Context,
    resource: &GenesysUserOffboarding,
    passed: &Reconciled,
    next: Requeue,
) -> Action {
    if ctx.batched_drift && matches!(passed.outcome, Outcome::Done { .. }) {
        let mut after = resource.clone();
        after.status = Some(passed.status.clone());
        if reconcile::drift::watched_user(&after).is_some() {
            return Action::await_change();
        }
    }
    requeue(next, || ctx.backoffs.next(&key(resource)))
}

/// The restore pass on deletion (`deletionPolicy: Restore`). Only `Ok` lets the finalizer go.
async fn restore(resource: &GenesysUserOffboarding, ctx: &Context) -> Result<Action, Error> {
    let pass = reconcile::restore(
        resource,
        ctx.provider.as_ref(),
        ctx.owners.as_ref(),
        ctx.store.as_ref(),
    )
    .await;
    let passed = publish(ctx, resource, pass, "Restore")
        .await
        .map_err(Error::Restore)?;
    if let Outcome::Stalled { reason, message } = passed.outcome {
        return Err(Error::RestoreStalled { reason, message });
    }
    ctx.backoffs.reset(&key(resource));
    Ok(Action::await_change())
}

/// The requeue a pass asks for (see [`PassResult::requeue`]); `backoff` gives this object's
/// next backoff. Never sooner than [`MIN_REQUEUE`].
pub fn requeue(next: Requeue, backoff: impl FnOnce() -> Duration) -> Action {
    match next {
        Requeue::After(after) => Action::requeue(after.max(MIN_REQUEUE)),
        Requeue::Backoff => Action::requeue(backoff()),
        Requeue::OnChange => Action::await_change(),
    }
}

/// How long after `now` the next pass of an outcome is due (`None`: only on a change), never
/// sooner than [`MIN_REQUEUE`].
pub fn requeue_after(outcome: &Outcome, now: DateTime<Utc>) -> Option<Duration> {
    match outcome.requeue(now) {
        Requeue::After(after) => Some(after.max(MIN_REQUEUE)),
        Requeue::Backoff | Requeue::OnChange => None,
    }
}

/// The outcome's name for the reconcile counter; a stall also counts as a failure.
fn outcome_name(ctx: &Context, outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Done { .. } => "Done",
        Outcome::Wait { .. } => "Wait",
        Outcome::Stalled { reason, .. } => {
            ctx.metrics.failed(reason);
            "Stalled"
        }
        Outcome::Suspended => "Suspended",
    }
}

/// Updates the info gauge from the status as persisted.
fn observe(
    ctx: &Context,
    resource: &GenesysUserOffboarding,
    status: &GenesysUserOffboardingStatus,
) {
    let (ready, why) = status
        .condition(condition::READY)
        .map_or(("Unknown", reason::PENDING), |c| {
            (c.status.as_str(), c.reason.as_str())
        });
    ctx.metrics.resource(
        &resource.namespace().unwrap_or_default(),
        &resource.name_any(),
        state_of(status),
        ready,
        why,
    );
}

/// Where the offboarding stands for the info gauge, from its kstatus conditions. Suspension
/// comes first: a suspended resource keeps the Stalled condition of its last pass, but nothing
/// happens to it until a human lifts the suspension.
fn state_of(status: &GenesysUserOffboardingStatus) -> ResourceState {
    let suspended = status
        .condition(condition::RECONCILING)
        .is_some_and(|c| c.reason == reason::SUSPENDED);
    if suspended {
        ResourceState::Suspended
    } else if status.is_true(condition::STALLED) {
        ResourceState::Stalled
    } else if status.is_true(condition::READY) {
        ResourceState::Ready
    } else if status.is_true(condition::RECONCILING) {
        ResourceState::Reconciling
    } else {
        ResourceState::NotReady
    }
}

fn forget(ctx: &Context, uid: Option<String>, namespace: &str, name: &str) {
    ctx.metrics.forget(namespace, name);
    ctx.backoffs.reset(&format!("{namespace}/{name}"));
    ctx.owners
        .release(uid.as_deref().unwrap_or(&format!("{namespace}/{name}")));
    if let Some(uid) = uid {
        ctx.store.forget(&uid);
    }
}

fn ready_reason(status: Option<&GenesysUserOffboardingStatus>) -> Option<&str> {
    status?
        .condition(condition::READY)
        .map(|c| c.reason.as_str())
}

fn ready_message(status: &GenesysUserOffboardingStatus) -> Option<String> {
    status
        .condition(condition::READY)
        .map(|c| c.message.clone())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::controller::backoff::BackoffPolicy;
    use crate::reconcile::error::{ReadError, StoreError};
    use genesys_cloud::GenesysError;
    use kube::runtime::events::Reporter;

    fn context() -> Arc<Context> {
        // Nothing here talks to the API server: the address is never dialled.
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        Arc::new(Context {
            provider: Arc::new(SecretClientProvider::new(client.clone(), 300, None)),
            owners: Arc::default(),
            store: Arc::new(KubeStatusStore::new(client.clone())),
            recorder: Recorder::new(client.clone(), Reporter::from("test")),
            metrics: Arc::new(Metrics::new()),
            backoffs: Backoffs::new(BackoffPolicy {
                base: Duration::from_secs(2),
                max: Duration::from_secs(8),
            }),
            permits: Semaphore::new(1),
            orgs: OrgSlots::new(1, 1),
            orgs_with_work: OrgsWithWork::default(),
            pass_timeout: Duration::from_secs(120),
            deletion_grace: Duration::from_secs(300),
            batched_drift: false,
            full_passes: Arc::default(),
            guards: reconcile::Guardrails::default(),
            client,
        })
    }

    fn resource() -> Arc<CachedOffboarding> {
        let spec = serde_yaml::from_str(
            "user: {email: jane.doe@example.com}\ncredentialsSecretRef: {name: c}\nregion: us_east_1\n",
        )
        .unwrap();
        let mut resource = GenesysUserOffboarding::new("jane", spec);
        resource.metadata.namespace = Some("hr".into());
        Arc::new(CachedOffboarding::from(resource))
    }

    /// The requeue of a pass that ended with `outcome`.
    fn requeue_of_outcome(outcome: &Outcome) -> Action {
        requeue(outcome.requeue(Utc::now()), || {
            panic!("an outcome never asks for a backoff")
        })
    }

    fn rate_limited(after: u64) -> Error {
        Error::Offboard(ReconcileError::from(ReadError::new("read the user")(
            GenesysError::RateLimited {
                operation: "get_user".into(),
                retry_after: Duration::from_secs(after),
                body: None,
            },
        )))
    }

    #[test]
    fn a_done_pass_comes_back_after_the_drift_check_interval() {
        let action = requeue_of_outcome(&Outcome::Done {
            recheck_after: Duration::from_secs(3600),
        });
        assert_eq!(action, Action::requeue(Duration::from_secs(3600)));
    }

    #[test]
    fn a_wait_comes_back_at_its_time_or_after_its_delay_and_never_spins() {
        let now = Utc::now();
        let wait = |until: Option<i64>, after: u64| Outcome::Wait {
            reason: reason::SCHEDULED,
            until: until.map(|s| now + chrono::Duration::seconds(s)),
            after: Duration::from_secs(after),
        };

        assert_eq!(
            requeue_after(&wait(Some(600), 5), now),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            requeue_after(&wait(None, 30), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(requeue_after(&wait(Some(-60), 0), now), Some(MIN_REQUEUE));
        assert_eq!(requeue_after(&wait(None, 0), now), Some(MIN_REQUEUE));
    }

    #[test]
    fn a_wait_for_the_latest_effective_at_the_crd_admits_is_a_finite_requeue() {
        let latest: DateTime<Utc> = crate::crd::EFFECTIVE_AT_MAX.parse().unwrap();
        let wait = Outcome::Wait {
            reason: reason::SCHEDULED,
            until: Some(latest),
            after: Duration::ZERO,
        };

        let after = requeue_after(&wait, Utc::now()).unwrap();

        // Thousands of years: kube's scheduler caps what it is given, so this is only a long wait.
        assert!(
            after > Duration::from_secs(7_000 * 365 * 24 * 3600),
            "{after:?}"
        );
        assert_ne!(requeue_of_outcome(&wait), Action::await_change());
    }

    #[test]
    fn stalled_and_suspended_wait_for_a_change() {
        let stalled = requeue_of_outcome(&Outcome::Stalled {
            reason: reason::CREDENTIALS_MISSING,
            message: "no Secret".into(),
        });
        assert_eq!(stalled, Action::await_change());
        assert_eq!(
            requeue_of_outcome(&Outcome::Suspended),
            Action::await_change()
        );
    }

    // kube's client needs a runtime to be built, even if it never sends a request.
    #[tokio::test]
    async fn retry_after_is_honoured() {
        let action = error_policy(resource(), &rate_limited(7), context());
        assert_eq!(action, Action::requeue(Duration::from_secs(7)));
        assert_eq!(rate_limited(7).reason(), "RateLimited");
    }

    // kube's client needs a runtime to be built, even if it never sends a request.
    #[tokio::test]
    async fn backoff_errors_back_off_per_object_and_a_success_resets_it() {
        let ctx = context();
        let error = Error::Offboard(ReconcileError::Store(StoreError("409".into())));
        assert_eq!(error.retry_class(), RetryClass::Backoff);

        let first = error_policy(resource(), &error, ctx.clone());
        error_policy(resource(), &error, ctx.clone());
        error_policy(resource(), &error, ctx.clone());

        assert_ne!(first, Action::await_change());
        assert_eq!(ctx.backoffs.failures("hr/jane"), 3);
        ctx.backoffs.reset(&key(resource().as_ref()));
        assert_eq!(ctx.backoffs.failures("hr/jane"), 0);
    }

    // kube's client needs a runtime to be built, even if it never sends a request.
    #[tokio::test]
    async fn terminal_errors_wait_for_a_change() {
        let error = Error::RestoreStalled {
            reason: reason::USER_DELETED,
            message: "deleted".into(),
        };
        assert_eq!(
            error_policy(resource(), &error, context()),
            Action::await_change()
        );
        assert_eq!(error.reason(), "UserDeleted");
    }

    fn finished(policy: &str, finalizers: &[&str], deleting: bool) -> CachedOffboarding {
        let mut json = serde_json::json!({
            "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
            "kind": "GenesysUserOffboarding",
            "metadata": {"name": "jane", "namespace": "hr", "uid": "u-1", "generation": 1,
                         "finalizers": finalizers},
            "spec": {"user": {"email": "jane.doe@example.com"},
                     "credentialsSecretRef": {"name": "c"}, "region": "us_east_1",
                     "deletionPolicy": policy},
            "status": {"observedGeneration": 1, "user": {"id": "u"},
                       "conditions": [{"type": "Ready", "status": "True", "reason": "Offboarded",
                                       "message": "", "lastTransitionTime": "2025-01-01T00:00:00Z"}]},
        });
        if deleting {
            json["metadata"]["deletionTimestamp"] = serde_json::json!("2025-01-02T00:00:00Z");
        }
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_note_of_a_resource_let_go_mid_offboarding_lists_what_was_done_and_what_was_not() {
        let status: GenesysUserOffboardingStatus = serde_json::from_value(serde_json::json!({
            "actions": [
                {"step": "TakeSnapshot", "time": "2026-01-01T00:00:00Z", "outcome": "Succeeded"},
                {"step": "RemoveFromQueue", "target": "Sales (q1)", "time": "2026-01-01T00:00:01Z",
                 "outcome": "Succeeded"},
                {"step": "Deactivate", "time": "2026-01-01T00:00:02Z", "outcome": "Failed",
                 "message": "403"},
            ],
            "plan": [{"step": "Deactivate"}, {"step": "RevokeSessions"}],
        }))
        .unwrap();

        let finished = released_note(&status, None);
        assert!(finished.contains("finished first"), "{finished}");
        assert!(finished.contains("Done: TakeSnapshot, RemoveFromQueue (Sales (q1))."));

        let unfinished = released_note(&status, Some("it stalled"));
        assert!(
            unfinished.contains("NOT finished: it stalled"),
            "{unfinished}"
        );
        assert!(
            unfinished.ends_with("Not done: Deactivate, RevokeSessions."),
            "a failed step is not done: {unfinished}"
        );

        let empty = released_note(&GenesysUserOffboardingStatus::default(), Some("suspended"));
        assert!(empty.contains("Done: nothing."), "{empty}");
    }

    #[test]
    fn a_resource_still_holding_the_in_progress_finalizer_is_not_left_to_the_drift_checks() {
        assert!(!drift_checks_watch(&finished(
            "Orphan",
            &[IN_PROGRESS_FINALIZER],
            false
        )));
    }

    #[test]
    fn a_pass_abandoned_at_its_deadline_is_retried_with_backoff() {
        let error = Error::TimedOut {
            after: Duration::from_secs(120),
        };
        assert_eq!(error.retry_class(), RetryClass::Backoff);
        assert_eq!(error.reason(), "PassTimedOut");
        assert!(error.to_string().contains("--pass-timeout"));
    }

    #[test]
    fn a_finished_offboarding_needs_no_pass_for_its_own_events_until_its_lifecycle_changes() {
        assert!(drift_checks_watch(&finished("Orphan", &[], false)));
        assert!(drift_checks_watch(&finished(
            "Restore",
            &[FINALIZER],
            false
        )));

        assert!(!drift_checks_watch(&finished("Orphan", &[], true)));
        assert!(!drift_checks_watch(&finished("Restore", &[], false)));
        assert!(!drift_checks_watch(&finished(
            "Orphan",
            &[FINALIZER],
            false
        )));
    }

    fn status_with(conditions: &[(&str, &str, &str)]) -> GenesysUserOffboardingStatus {
        let mut status = GenesysUserOffboardingStatus::default();
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-01-01T00:00:00Z".parse().unwrap(),
        );
        for (type_, value, why) in conditions {
            let value = match *value {
                "True" => crate::crd::ConditionStatus::True,
                "False" => crate::crd::ConditionStatus::False,
                _ => crate::crd::ConditionStatus::Unknown,
            };
            status.set_condition(type_, value, why, "", Some(1), &now);
        }
        status
    }

    #[test]
    fn the_info_gauge_state_tells_a_stall_from_a_retry_and_a_suspension() {
        let stalled = status_with(&[
            (condition::READY, "False", reason::HISTORY_LOST),
            (condition::RECONCILING, "False", reason::IDLE),
            (condition::STALLED, "True", reason::HISTORY_LOST),
        ]);
        let retrying = status_with(&[
            (condition::READY, "False", "RateLimited"),
            (condition::RECONCILING, "True", "RateLimited"),
            (condition::STALLED, "False", reason::IDLE),
        ]);
        let suspended_after_a_stall = status_with(&[
            (condition::READY, "Unknown", reason::SUSPENDED),
            (condition::RECONCILING, "False", reason::SUSPENDED),
            (condition::STALLED, "True", reason::CREDENTIALS_MISSING),
        ]);
        let offboarded = status_with(&[
            (condition::READY, "True", reason::OFFBOARDED),
            (condition::RECONCILING, "False", reason::IDLE),
            (condition::STALLED, "False", reason::IDLE),
        ]);
        let drift_observed = status_with(&[
            (condition::READY, "False", reason::DRIFT_DETECTED),
            (condition::RECONCILING, "False", reason::IDLE),
            (condition::STALLED, "False", reason::IDLE),
        ]);

        assert_eq!(state_of(&stalled), ResourceState::Stalled);
        assert_eq!(state_of(&retrying), ResourceState::Reconciling);
        assert_eq!(state_of(&suspended_after_a_stall), ResourceState::Suspended);
        assert_eq!(state_of(&offboarded), ResourceState::Ready);
        assert_eq!(state_of(&drift_observed), ResourceState::NotReady);
        assert_eq!(
            state_of(&GenesysUserOffboardingStatus::default()),
            ResourceState::NotReady
        );
    }
}
