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
use super::secrets::{LoadError, SecretClientProvider};
use super::status::KubeStatusStore;
use crate::crd::{
    DeletionPolicy, FINALIZER, GenesysUserOffboarding, GenesysUserOffboardingStatus, condition,
    reason,
};
use crate::genesys::RetryClass;
use crate::reconcile::error::chain;
use crate::reconcile::{self, Outcome, ReconcileError, Reconciled};
use crate::telemetry::Metrics;

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
    /// Batched drift checks ([`super::drift`]) stand in for the periodic pass of `Ready`
    /// resources: their pass asks for no requeue, and a trigger of one is skipped unless a full
    /// pass was asked for in `full_passes`.
    pub batched_drift: bool,
    /// Full passes asked for by the drift checks and the Secret watch.
    pub full_passes: Arc<FullPasses>,
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
    /// The credentials Secret could not be read (an API error, not a missing Secret).
    #[error("failed to read the credentials Secret")]
    Secret(#[source] LoadError),
    /// The finalizer could not be added or removed.
    #[error("failed to update the finalizer")]
    Finalizer(#[source] kube::Error),
    /// The resource has no name or namespace (never from the API server).
    #[error("the resource has no name or namespace")]
    Unnamed,
}

impl Error {
    /// When to try again.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            Error::Offboard(e) | Error::Restore(e) => e.retry_class(),
            Error::RestoreStalled { .. } | Error::Unnamed => RetryClass::Never,
            Error::Read(_) | Error::Secret(_) | Error::Finalizer(_) => RetryClass::Backoff,
        }
    }

    /// The `PascalCase` reason: Event reason, condition reason and metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Offboard(e) | Error::Restore(e) => e.reason(),
            Error::RestoreStalled { reason, .. } => reason,
            Error::Read(_) => "ResourceUnreadable",
            Error::Secret(_) => "SecretUnreadable",
            Error::Finalizer(_) => "FinalizerNotUpdated",
            Error::Unnamed => "InvalidResource",
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
        let _permit = ctx.permits.acquire().await;
        let started = Instant::now();
        let result = Box::pin(pass(&resource, &ctx)).await;
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
                    .publish(true, error.reason(), action, &chain(error))
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
    match error.retry_class() {
        RetryClass::After(after) => Action::requeue(after.max(MIN_REQUEUE)),
        RetryClass::Backoff => Action::requeue(ctx.backoffs.next(&key(resource.as_ref()))),
        RetryClass::Never => Action::await_change(),
    }
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
    let Some(resource) = api.get_opt(&name).await.map_err(Error::Read)? else {
        forget(ctx, cached.uid(), &namespace, &name);
        return Ok((Action::await_change(), "Gone"));
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
        DeletionPolicy::Restore => {
            let resource = Arc::new(resource);
            let outcome = &outcome;
            let result = Box::pin(finalizer::finalizer(
                &api,
                FINALIZER,
                resource,
                |event| async move {
                    match event {
                        FinalizerEvent::Apply(resource) => {
                            Box::pin(offboard(&resource, ctx, outcome)).await
                        }
                        FinalizerEvent::Cleanup(resource) => {
                            Box::pin(restore(&resource, ctx)).await
                        }
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
                Err(finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e)) => {
                    Err(e)
                }
                Err(finalizer::Error::AddFinalizer(e) | finalizer::Error::RemoveFinalizer(e)) => {
                    Err(Error::Finalizer(e))
                }
                Err(finalizer::Error::UnnamedObject | finalizer::Error::InvalidFinalizer) => {
                    Err(Error::Unnamed)
                }
            }
        }
        DeletionPolicy::Orphan => {
            let resource = if has_finalizer {
                remove_finalizer(&api, &resource).await?
            } else {
                resource
            };
            if deleting {
                // Orphan: deleting the resource leaves the user as they are.
                forget(ctx, cached.uid(), &namespace, &name);
                return Ok((Action::await_change(), "Orphaned"));
            }
            let action = Box::pin(offboard(&resource, ctx, &outcome)).await?;
            Ok((action, *lock(&outcome)))
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
/// since), not being deleted, with the finalizer its deletion policy asks for: its own watch
/// events need no pass.
pub fn drift_checks_watch(cached: &CachedOffboarding) -> bool {
    let has_finalizer = cached.finalizers().iter().any(|f| f == FINALIZER);
    let finalizer_as_asked =
        has_finalizer == (cached.spec.deletion_policy == DeletionPolicy::Restore);
    cached.metadata.deletion_timestamp.is_none()
        && finalizer_as_asked
        && cached.watched_user.is_some()
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

/// The offboarding pass.
async fn offboard(
    resource: &GenesysUserOffboarding,
    ctx: &Context,
    outcome: &Mutex<&'static str>,
) -> Result<Action, Error> {
    // Secret API errors are retried with backoff here; a missing Secret or key goes on to the
    // reconciler, which stalls with CredentialsMissing.
    if !resource.spec.suspend {
        match ctx.provider.load(resource).await {
            Err(e @ LoadError::Api { .. }) => return Err(Error::Secret(e)),
            Ok(_) | Err(LoadError::Missing(_) | LoadError::Client(_)) => {}
        }
    }
    let before = resource.status.clone().unwrap_or_default();
    let result = reconcile::reconcile(
        resource,
        ctx.provider.as_ref(),
        ctx.owners.as_ref(),
        ctx.store.as_ref(),
    )
    .await;
    let publisher = Publisher::new(&ctx.recorder, resource);
    let after = ctx.store.finish_pass(resource).unwrap_or_default();
    publisher
        .steps(&before.actions, &after.actions, "Offboard")
        .await;
    observe(ctx, resource, &after);
    let passed = result.map_err(Error::Offboard)?;
    for event in &passed.events {
        publisher
            .publish(event.warning, event.reason, "Offboard", &event.message)
            .await;
    }
    if let Outcome::Wait { reason, .. } = &passed.outcome
        && ready_reason(&before) != Some(*reason)
    {
        let note = ready_message(&passed.status).unwrap_or_default();
        publisher.publish(false, reason, "Offboard", &note).await;
    }
    ctx.backoffs.reset(&key(resource));
    *lock(outcome) = outcome_name(ctx, &passed.outcome);
    Ok(requeue_of(ctx, resource, &passed))
}

/// The requeue of an offboarding pass: none for a resource the batched drift checks watch
/// (they trigger its next pass when its user drifts), else what the outcome asks for.
fn requeue_of(ctx: &Context, resource: &GenesysUserOffboarding, passed: &Reconciled) -> Action {
    if ctx.batched_drift && matches!(passed.outcome, Outcome::Done { .. }) {
        let mut after = resource.clone();
        after.status = Some(passed.status.clone());
        if reconcile::drift::watched_user(&after).is_some() {
            return Action::await_change();
        }
    }
    requeue(passed)
}

/// The restore pass on deletion (`deletionPolicy: Restore`). Only `Ok` lets the finalizer go.
async fn restore(resource: &GenesysUserOffboarding, ctx: &Context) -> Result<Action, Error> {
    let before = resource.status.clone().unwrap_or_default();
    let result = reconcile::restore(
        resource,
        ctx.provider.as_ref(),
        ctx.owners.as_ref(),
        ctx.store.as_ref(),
    )
    .await;
    let publisher = Publisher::new(&ctx.recorder, resource);
    let after = ctx.store.finish_pass(resource).unwrap_or_default();
    publisher
        .steps(&before.actions, &after.actions, "Restore")
        .await;
    observe(ctx, resource, &after);
    let passed = result.map_err(Error::Restore)?;
    for event in &passed.events {
        publisher
            .publish(event.warning, event.reason, "Restore", &event.message)
            .await;
    }
    if let Outcome::Stalled { reason, message } = passed.outcome {
        return Err(Error::RestoreStalled { reason, message });
    }
    ctx.backoffs.reset(&key(resource));
    Ok(Action::await_change())
}

/// The requeue an outcome asks for.
pub fn requeue(passed: &Reconciled) -> Action {
    match requeue_after(&passed.outcome, Utc::now()) {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    }
}

/// How long after `now` the next pass of an outcome is due (`None`: only on a change).
pub fn requeue_after(outcome: &Outcome, now: DateTime<Utc>) -> Option<Duration> {
    match outcome {
        Outcome::Done { recheck_after } => Some((*recheck_after).max(MIN_REQUEUE)),
        Outcome::Wait { until, after, .. } => {
            let wait = until.map_or(*after, |until| {
                (until - now).to_std().unwrap_or(Duration::ZERO)
            });
            Some(wait.max(MIN_REQUEUE))
        }
        Outcome::Stalled { .. } | Outcome::Suspended => None,
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
        ready,
        why,
    );
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

fn ready_reason(status: &GenesysUserOffboardingStatus) -> Option<&str> {
    status
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
    use crate::genesys::GenesysError;
    use crate::reconcile::error::{ReadError, StoreError};
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
            batched_drift: false,
            full_passes: Arc::default(),
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

    fn passed(outcome: Outcome) -> Reconciled {
        Reconciled {
            outcome,
            status: GenesysUserOffboardingStatus::default(),
            events: Vec::new(),
        }
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
        let action = requeue(&passed(Outcome::Done {
            recheck_after: Duration::from_secs(3600),
        }));
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
    fn stalled_and_suspended_wait_for_a_change() {
        let stalled = requeue(&passed(Outcome::Stalled {
            reason: reason::CREDENTIALS_MISSING,
            message: "no Secret".into(),
        }));
        assert_eq!(stalled, Action::await_change());
        assert_eq!(requeue(&passed(Outcome::Suspended)), Action::await_change());
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
}
