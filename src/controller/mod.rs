//! The Kubernetes operator (`genesys-offboarding run`): a `kube_runtime::Controller` over
//! `GenesysUserOffboarding` in every namespace or in the ones named, wired to the reconciler.
//!
//! Start at [`Operator::run`]: it checks the CRD is installed, then (as leader, when leader
//! election is on) runs one controller per watched namespace until shutdown. The parts:
//!
//! | module | job | I/O |
//! |---|---|---|
//! | [`reconciler`] | the reconcile function: fresh read, finalizer, pass, Events, requeue | Kubernetes, Genesys |
//! | [`cache`] | [`CachedOffboarding`]: what the watch and the reflector store keep of a resource | none |
//! | [`undecodable`] | a resource the operator cannot decode: read as JSON, reported on itself | Kubernetes |
//! | [`claims`] | [`ClaimRegistry`]: which resource owns which user (the others stall as duplicates) | none |
//! | [`status`] | [`KubeStatusStore`]: server-side apply on `/status`, skipped when only timestamps change | Kubernetes |
//! | [`secrets`] | [`SecretClientProvider`]: credentials from the Secret in the resource's namespace | Kubernetes |
//! | [`events`] | Events through kube's Recorder | Kubernetes |
//! | [`drift`] | batched drift checks of `Ready` resources, 100 users per request | Genesys |
//! | [`backoff`] | per-object capped exponential backoff with jitter | none |
//! | [`fairness`] | passes per Genesys organization at once (the deadline of a pass is in [`reconciler`]) | none |
//! | [`guardrails`] | the deactivation cap per organization, counted from the resources' status | none |
//! | [`leader`] | leader election with a Lease | Kubernetes |
//! | [`cli`] | the `run` subcommand's flags and process wiring | signals, TCP |
//!
//! Watch triggers: a change of `metadata.generation` (spec), of the finalizers or of the
//! deletion timestamp reconciles the resource; a status write does not (a predicate filters the
//! watch), so the operator never triggers itself, and neither does anything about a resource
//! the batched drift checks watch (they stand in for its passes). A change to a Secret
//! reconciles the resources that reference it, found through the controller's reflector store.
//!
//! Memory (10,000 resources watched in under 64 MiB): the watch and the store keep a [`CachedOffboarding`], not
//! the full resource, and Secrets are watched by their metadata only.
//!
//! One resource never holds up the others: what a resource holds cannot fail the watch's list
//! or its events ([`cache`]), and a resource the operator cannot decode gets a pass that only
//! reports it ([`undecodable`]).

pub mod backoff;
pub mod cache;
pub mod claims;
pub mod cli;
pub mod drift;
pub mod events;
pub mod fairness;
pub mod guardrails;
pub mod leader;
pub mod reconciler;
pub mod secrets;
pub mod status;
pub mod undecodable;

use std::collections::HashMap;
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller, Error as ControllerError};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{PredicateConfig, WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::{Semaphore, broadcast, watch};

pub use backoff::{BackoffPolicy, Backoffs};
pub use cache::CachedOffboarding;
pub use claims::ClaimRegistry;
pub use leader::LeaderElection;
pub use secrets::SecretClientProvider;
pub use status::KubeStatusStore;

use crate::admin::Health;
use crate::crd::{API_GROUP, API_VERSION, IN_PROGRESS_FINALIZER};
use crate::telemetry::Metrics;
use genesys_cloud::{AllowedEndpoints, CallObserver};

/// The one field manager of every status write (and the Events' reporting controller).
pub const FIELD_MANAGER: &str = "genesys-offboarding-operator";

/// The CRD's name.
pub const CRD_NAME: &str = "genesysuseroffboardings.offboarding.genesys-operator.io";

/// How often readiness re-checks whether the resource caches have synced.
const SYNC_POLL: Duration = Duration::from_millis(200);

/// Watch events buffered for a term's controller before it falls behind (then it takes the
/// store again).
const TRIGGER_BUFFER: usize = 1024;

/// The resource's plural, as discovery lists it.
const PLURAL: &str = "genesysuseroffboardings";

/// How the operator runs (the `run` flags, plus knobs the tests turn).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The namespaces to watch; empty: every namespace.
    pub namespaces: Vec<String>,
    /// Resources reconciled at once, across every watched namespace (at least 1).
    pub concurrency: u16,
    /// Requests per minute per OAuth client.
    pub genesys_rate_limit: u32,
    /// Backoff for errors whose retry class is `Backoff`.
    pub backoff: BackoffPolicy,
    /// Leader election; `None`: this replica always runs the controller.
    pub leader_election: Option<LeaderElection>,
    /// This replica's name in Events (`reportingInstance`).
    pub instance: String,
    /// How long in-flight passes may finish after shutdown (or a lost lease) before they are
    /// abandoned. Abandoning is safe: the reconciler persists status after every step.
    pub drain_timeout: Duration,
    /// Batched drift checks ([`drift`]): how often the store is swept for `Ready` resources
    /// whose check is due. `None`: every `Ready` resource runs its own full pass each
    /// `driftCheckInterval` instead.
    pub drift_sweep: Option<Duration>,
    /// The hosts `spec.apiBaseUrl` and `spec.loginBaseUrl` may name (`--allowed-endpoint`).
    /// Empty (the default): none; a resource naming custom endpoints stalls with
    /// `EndpointNotAllowed`, its Secret unread, and only `spec.region` works.
    pub allowed_endpoints: AllowedEndpoints,
    /// Passes of one Genesys organization (OAuth client and endpoints, see
    /// [`fairness::OrgKey`]) running at once, so that one organization whose endpoint hangs
    /// cannot take every worker. `None`: half of `concurrency`, rounded up.
    pub max_passes_per_org: Option<u16>,
    /// How long one pass may run before it is abandoned and retried with backoff (default
    /// 2 min). Abandoning is safe: status is persisted after every step, and a rerun converges
    /// without repeating a side effect.
    pub pass_timeout: Duration,
    /// How long the batched drift check of one organization may wait for its client and for
    /// each request of 100 users (default 60 s); then it is retried after [`drift::RETRY`].
    /// Organizations are checked concurrently: a slow one never delays another.
    pub drift_check_timeout: Duration,
    /// How long after an `Orphan` resource is deleted the operator keeps trying to finish an
    /// offboarding that had already started writing to Genesys (default 5 min). Then it lets the
    /// resource go anyway, with an Event saying what was done and what was not.
    pub deletion_grace: Duration,
    /// Guardrails against a bad HR feed: protected users, the approval gate, the cap.
    pub guardrails: GuardrailSettings,
}

/// The guardrails' configuration (`--deactivation-cap`, `--protected-*`,
/// `--require-approval`); the default holds nothing back.
#[derive(Debug, Clone, Default)]
pub struct GuardrailSettings {
    /// At most this many deactivations per window per Genesys organization.
    pub deactivation_cap: Option<DeactivationCapSettings>,
    /// Users never offboarded (`Stalled`, `ProtectedUser`).
    pub protected: crate::reconcile::ProtectedUsers,
    /// No Genesys call before an approval by someone other than the requester.
    pub require_approval: bool,
}

/// `--deactivation-cap` and `--deactivation-cap-window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeactivationCapSettings {
    pub cap: u32,
    pub window: Duration,
}

impl Settings {
    /// The passes one organization may run at once: `max_passes_per_org`, else half of
    /// `concurrency` rounded up; never more than `concurrency`.
    pub fn passes_per_org(&self) -> u16 {
        let concurrency = self.concurrency.max(1);
        self.max_passes_per_org
            .unwrap_or_else(|| fairness::default_passes_per_org(concurrency))
            .clamp(1, concurrency)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            namespaces: Vec::new(),
            concurrency: 32,
            genesys_rate_limit: 300,
            backoff: BackoffPolicy::default(),
            leader_election: None,
            instance: FIELD_MANAGER.to_owned(),
            drain_timeout: Duration::from_secs(25),
            drift_sweep: Some(drift::SWEEP),
            allowed_endpoints: AllowedEndpoints::default(),
            max_passes_per_org: None,
            pass_timeout: Duration::from_secs(120),
            drift_check_timeout: Duration::from_secs(60),
            deletion_grace: Duration::from_secs(300),
            guardrails: GuardrailSettings::default(),
        }
    }
}

/// Why the operator stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("CRD {CRD_NAME} is not installed: run `kubectl apply --server-side -f crds/`")]
    CrdNotInstalled,
    #[error("failed to check that CRD {CRD_NAME} is installed")]
    CrdCheck(#[source] kube::Error),
    #[error("leader election failed")]
    Leader(#[from] leader::LeaderError),
}

impl RunError {
    /// A `PascalCase` reason, as for every error of this crate.
    pub fn reason(&self) -> &'static str {
        match self {
            RunError::CrdNotInstalled => "CrdNotInstalled",
            RunError::CrdCheck(_) => "ApiServerUnreachable",
            RunError::Leader(_) => "LeaderElectionFailed",
        }
    }

    /// Startup errors end the process; the orchestrator restarts it with backoff.
    pub fn retry_class(&self) -> genesys_cloud::RetryClass {
        genesys_cloud::RetryClass::Never
    }
}

/// A one-way stop flag that many tasks can wait on; clones share it.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// A flag that fires when `future` completes.
    pub fn when(future: impl Future<Output = ()> + Send + 'static) -> Self {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                () = future => { let _ = tx.send(true); }
                () = tx.closed() => {}
            }
        });
        Self(rx)
    }

    /// A flag that fires when `a` or `b` fires.
    pub fn any(a: &Stop, b: Stop) -> Self {
        let a = a.clone();
        Self::when(async move {
            tokio::select! {
                () = a.wait() => {}
                () = b.wait() => {}
            }
        })
    }

    /// Whether the flag fired.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when the flag fires.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.0.clone();
        async move {
            // An error means the sender is gone without firing: nothing will ever fire.
            if rx.wait_for(|stopped| *stopped).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// The operator: CRD check, leader election, controllers, metrics and health.
pub struct Operator {
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    health: Health,
}

impl Operator {
    pub fn new(client: Client, settings: Settings) -> Self {
        Self {
            client,
            settings,
            metrics: Arc::new(Metrics::new()),
            health: Health::new(),
        }
    }

    /// The metrics this operator updates (serve them with [`crate::admin::serve`]).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The readiness flags this operator sets.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// Runs until `shutdown` completes. Fails at once when the CRD is not installed.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RunError> {
        let stop = Stop::when(shutdown);
        check_crd(&self.client).await?;
        self.health.set_crd_found();
        tracing::info!(
            namespaces = %describe(&self.settings.namespaces),
            concurrency = self.settings.concurrency,
            passes_per_org = self.settings.passes_per_org(),
            pass_timeout = ?self.settings.pass_timeout,
            leader_election = self.settings.leader_election.is_some(),
            allowed_endpoints = %self.settings.allowed_endpoints,
            guardrails = ?self.settings.guardrails,
            "CRD found; starting"
        );
        // The resource watches run for the whole life of the process, on a standby too: a
        // replica that takes over then starts reconciling from a synced cache instead of
        // listing every resource first (10,000 take about 16 s), which would add that much to a
        // failover. The cost is the standby's memory, the same as the leader's cache.
        let watched: Vec<Watched> = self
            .scopes()
            .into_iter()
            .map(|scope| self.watch(scope, &stop))
            .collect();
        match &self.settings.leader_election {
            None => {
                self.metrics.set_leader(true);
                self.controllers(stop, &watched).await;
            }
            Some(election) => {
                leader::lead(
                    self.client.clone(),
                    election,
                    &self.health,
                    &self.metrics,
                    stop,
                    |term| self.controllers(term, &watched),
                )
                .await?;
            }
        }
        tracing::info!("stopped");
        Ok(())
    }

    /// The scopes watched: each namespace named, or every namespace at once.
    fn scopes(&self) -> Vec<Option<String>> {
        if self.settings.namespaces.is_empty() {
            vec![None]
        } else {
            self.settings.namespaces.iter().cloned().map(Some).collect()
        }
    }

    /// Starts the resource watch of one scope: it fills the scope's store and hands what needs
    /// a pass to the controller of the current term, until `stop`.
    fn watch(&self, scope: Option<String>, stop: &Stop) -> Watched {
        let client = self.client.clone();
        let resources: Api<CachedOffboarding> = match &scope {
            Some(namespace) => Api::namespaced(client, namespace),
            None => Api::all(client),
        };
        let (reader, writer) = reflector::store();
        let (events, _) = broadcast::channel(TRIGGER_BUFFER);
        let batched_drift = self.settings.drift_sweep.is_some();
        let metrics = self.metrics.clone();
        let known = reader.clone();
        let triggers = watcher(resources, watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .inspect(move |event| match event {
                // A deleted resource's info series goes; after a relist, so do those of resources
                // deleted while the watch was down.
                Ok(watcher::Event::Delete(resource)) => {
                    metrics.forget(
                        &resource.namespace().unwrap_or_default(),
                        &resource.name_any(),
                    );
                }
                Ok(watcher::Event::InitDone) => metrics
                    .retain(scope.as_deref(), |namespace, name| {
                        known.get(&ObjectRef::new(name).within(namespace)).is_some()
                    }),
                _ => {}
            })
            .applied_objects()
            .predicate_filter(spec_or_lifecycle, PredicateConfig::default())
            // What the batched drift checks watch needs no pass for its own events (the predicate
            // has seen them first, so its cache stays true): a restart's initial list of 10,000
            // finished offboardings then schedules nothing, instead of 10,000 skipped passes whose
            // queue would keep its size for good. A full pass the drift checks or the Secret watch
            // ask for comes with its own trigger.
            .try_filter(move |resource| {
                std::future::ready(!(batched_drift && reconciler::drift_checks_watch(resource)))
            });
        let sender = events.clone();
        let stopped = stop.wait();
        tokio::spawn(async move {
            let mut triggers = std::pin::pin!(triggers);
            let mut stopped = std::pin::pin!(stopped);
            loop {
                tokio::select! {
                    () = &mut stopped => break,
                    next = triggers.next() => match next {
                        // No receiver (a standby, or between terms): the store keeps the change,
                        // and the next term starts from the store.
                        Some(Ok(resource)) => { let _ = sender.send(resource); }
                        Some(Err(error)) => {
                            tracing::warn!(error = %crate::reconcile::error::chain(&error), "resource watch error");
                        }
                        None => break,
                    },
                }
            }
        });
        Watched {
            reader,
            events,
            batched_drift,
        }
    }

    /// One controller per watched namespace (one for all namespaces when none is named), until
    /// `stop`; then in-flight passes get `drain_timeout` to finish.
    async fn controllers(&self, stop: Stop, watched: &[Watched]) {
        let observer: Arc<dyn CallObserver> = self.metrics.clone();
        // A new budget each term, counting from the watched stores (kept warm across terms): the
        // admissions it counts are in the resources' status, so a new leader counts what the old
        // one admitted.
        let budget = self
            .settings
            .guardrails
            .deactivation_cap
            .map(|c| Arc::new(guardrails::DeactivationBudget::new(c.cap, c.window)));
        let guards = crate::reconcile::Guardrails {
            protected: self.settings.guardrails.protected.clone(),
            require_approval: self.settings.guardrails.require_approval,
            cap: budget
                .clone()
                .map(|b| b as Arc<dyn crate::reconcile::DeactivationCap>),
        };
        let ctx = Arc::new(reconciler::Context {
            client: self.client.clone(),
            provider: Arc::new(
                SecretClientProvider::new(
                    self.client.clone(),
                    self.settings.genesys_rate_limit,
                    Some(observer),
                )
                .with_allowed_endpoints(self.settings.allowed_endpoints.clone()),
            ),
            owners: Arc::new(ClaimRegistry::new()),
            store: Arc::new(KubeStatusStore::new(self.client.clone())),
            recorder: Recorder::new(
                self.client.clone(),
                Reporter {
                    controller: FIELD_MANAGER.to_owned(),
                    instance: Some(self.settings.instance.clone()),
                },
            ),
            metrics: self.metrics.clone(),
            backoffs: Backoffs::new(self.settings.backoff),
            permits: Semaphore::new(usize::from(self.settings.concurrency.max(1))),
            orgs: fairness::OrgSlots::new(
                usize::from(self.settings.passes_per_org()),
                usize::from(self.settings.concurrency.max(1)),
            ),
            orgs_with_work: fairness::OrgsWithWork::default(),
            pass_timeout: self.settings.pass_timeout,
            deletion_grace: self.settings.deletion_grace,
            batched_drift: self.settings.drift_sweep.is_some(),
            full_passes: Arc::default(),
            guards,
        });
        let mut readers = Vec::new();
        let mut runs = Vec::new();
        for (scope, watched) in self.scopes().iter().zip(watched) {
            if let Some(budget) = &budget {
                budget.watch(watched.reader.clone());
            }
            readers.push(watched.reader.clone());
            runs.push(controller(
                &ctx,
                scope.as_deref(),
                watched,
                &self.settings,
                &stop,
            ));
        }
        let health = self.health.clone();
        let synced = tokio::spawn(async move {
            for reader in readers {
                // The store wakes only its most recent waiter (the controller's runner waits
                // too), so poll with a short timeout instead of waiting once.
                loop {
                    match tokio::time::timeout(SYNC_POLL, reader.wait_until_ready()).await {
                        Ok(Ok(())) => break,
                        Ok(Err(_)) => return,
                        Err(_) => {}
                    }
                }
            }
            tracing::info!("resource cache synced");
            health.set_synced(true);
        });
        let drain = self.settings.drain_timeout;
        tokio::select! {
            _ = join_all(runs) => {}
            () = async { stop.wait().await; tokio::time::sleep(drain).await } => {
                tracing::warn!(?drain, "in-flight passes abandoned after the drain timeout");
            }
        }
        synced.abort();
        self.health.set_synced(false);
        // No longer watching (shutdown, or another replica leads now), this replica would go on
        // exporting the info series of resources it cannot see change or go away.
        self.metrics.retain(None, |_, _| false);
    }
}

/// The resource watch of one scope, running for the life of the process ([`Operator::watch`]).
struct Watched {
    /// The scope's reflector store.
    reader: Store<CachedOffboarding>,
    /// The resources whose watch events need a pass, as they come.
    events: broadcast::Sender<CachedOffboarding>,
    batched_drift: bool,
}

impl Watched {
    /// What needs a pass now, taken from the store: every resource the batched drift checks do
    /// not watch (as a fresh start's initial list would give them).
    fn pending(&self) -> Vec<CachedOffboarding> {
        self.reader
            .state()
            .iter()
            .filter(|r| !(self.batched_drift && reconciler::drift_checks_watch(r)))
            .map(|r| r.as_ref().clone())
            .collect()
    }

    /// The controller's trigger stream for one term: once the store has synced, what needs a
    /// pass now, then the watch's events as they come. Events missed by a slow term (the
    /// buffer overflowed) are made up for by taking the store again.
    fn triggers(
        &self,
    ) -> impl futures::Stream<Item = Result<CachedOffboarding, watcher::Error>> + Send + use<> {
        let (reader, events, batched_drift) =
            (self.reader.clone(), self.events.clone(), self.batched_drift);
        futures::stream::once(async move {
            let watched = Watched {
                reader,
                events,
                batched_drift,
            };
            // The store wakes only its most recent waiter (readiness waits too), so poll.
            loop {
                match tokio::time::timeout(SYNC_POLL, watched.reader.wait_until_ready()).await {
                    Ok(Ok(())) => break,
                    Ok(Err(_)) => return futures::stream::empty().left_stream(),
                    Err(_) => {}
                }
            }
            // Subscribe first, then take the store: a change in between comes twice, which
            // the controller's scheduler merges; none is lost.
            let receiver = watched.events.subscribe();
            let now = watched.pending();
            let later = futures::stream::unfold(
                (watched, receiver),
                |(watched, mut receiver)| async move {
                    let next = match receiver.recv().await {
                        Ok(resource) => vec![resource],
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::debug!(
                                missed,
                                "resource events missed: taking the store again"
                            );
                            watched.pending()
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    };
                    Some((next, (watched, receiver)))
                },
            )
            .flat_map(futures::stream::iter);
            futures::stream::iter(now).chain(later).right_stream()
        })
        .flatten()
        .map(Ok)
    }
}

/// Builds the controller of one scope (a namespace, or all of them) over its watch; returns the
/// future that runs it.
fn controller(
    ctx: &Arc<reconciler::Context>,
    scope: Option<&str>,
    watched: &Watched,
    settings: &Settings,
    stop: &Stop,
) -> impl Future<Output = ()> + use<> {
    let (concurrency, drift_sweep) = (settings.concurrency, settings.drift_sweep);
    let client = ctx.client.clone();
    // Secrets by their metadata only (`PartialObjectMeta`): the index needs their namespace and
    // name, and a metadata watch sees every change all the same (a new resourceVersion). Their
    // data (credentials, and in a cluster-wide watch every Helm release, up to 1 MiB each) never
    // reaches the operator through the watch, not even one list page of it.
    let secrets: Api<PartialObjectMeta<Secret>> = match scope {
        Some(namespace) => Api::namespaced(client, namespace),
        None => Api::all(client),
    };
    let reader = watched.reader.clone();
    ctx.owners.watch(reader.clone());
    ctx.orgs_with_work.watch(reader.clone());
    let trigger = watched.triggers();
    let index = reader.clone();
    let provider = ctx.provider.clone();
    let full = ctx.full_passes.clone();
    let mut controller = Controller::for_stream(trigger, reader.clone())
        .with_config(ControllerConfig::default().concurrency(concurrency.max(1)))
        .reconcile_on(secret_changes(secrets).flat_map(move |secret| {
            let users = users_of_secret(&index, &provider, &secret);
            // Credentials changed: a full pass, even where the drift checks stand in.
            for reference in &users {
                full.request(reference);
            }
            futures::stream::iter(users)
        }));
    if let Some(every) = drift_sweep {
        // Ready resources are not requeued (see `reconciler::requeue_of`): these checks stand in.
        controller = controller.reconcile_on(drift::triggers(
            reader.clone(),
            ctx.provider.clone(),
            ctx.full_passes.clone(),
            every,
            settings.drift_check_timeout,
        ));
    }
    controller
        .graceful_shutdown_on(stop.wait())
        .run(reconciler::reconcile, reconciler::error_policy, ctx.clone())
        .for_each(|result| async move {
            match result {
                // Failed passes are already logged, with the object key, by the reconcile function.
                Ok(_) | Err(ControllerError::ReconcilerFailed(..)) => {}
                Err(error) => {
                    tracing::warn!(error = %crate::reconcile::error::chain(&error), "controller error");
                }
            }
        })
}

/// The Secrets that changed (a new resourceVersion, created or deleted) while this watch ran.
/// The first list is what the Secrets already were when the term started, not a change: on a
/// replica taking over with every resource cached, it would otherwise ask for a full pass of
/// every resource (10,000 resources of one Secret, 10,000 passes). What needs a pass at the
/// start of a term is in the resource store ([`Watched::pending`]); a relist after the watch
/// was down reports the Secrets that changed or appeared meanwhile.
fn secret_changes(
    secrets: Api<PartialObjectMeta<Secret>>,
) -> impl futures::Stream<Item = PartialObjectMeta<Secret>> + Send + use<> {
    let mut versions: HashMap<(String, String), String> = HashMap::new();
    let mut listed = false;
    watcher(secrets, watcher::Config::default())
        .default_backoff()
        .filter_map(move |event| {
            let key = |secret: &PartialObjectMeta<Secret>| {
                (secret.namespace().unwrap_or_default(), secret.name_any())
            };
            let changed = match event {
                Ok(watcher::Event::Apply(secret) | watcher::Event::InitApply(secret)) => {
                    let version = secret.resource_version().unwrap_or_default();
                    let before = versions.insert(key(&secret), version.clone());
                    (listed && before.as_ref() != Some(&version)).then_some(secret)
                }
                Ok(watcher::Event::Delete(secret)) => {
                    versions.remove(&key(&secret));
                    Some(secret)
                }
                Ok(watcher::Event::InitDone) => {
                    listed = true;
                    None
                }
                Ok(watcher::Event::Init) => None,
                Err(error) => {
                    tracing::warn!(error = %crate::reconcile::error::chain(&error), "secret watch error");
                    None
                }
            };
            std::future::ready(changed)
        })
}

/// The predicate of the resource watch: what changed is the spec (generation), the finalizers,
/// the deletion timestamp or the approval annotations (the only ones the cache keeps). Status-only updates (this operator's own writes) hash the same, and
/// so does the in-progress finalizer, which a pass adds and removes itself (it asks for no pass
/// of its own; the deletion it holds up changes the deletion timestamp, which does).
// A predicate returns an Option (None: "cannot tell, let it through").
#[allow(clippy::unnecessary_wraps)]
fn spec_or_lifecycle(resource: &CachedOffboarding) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    resource.metadata.generation.hash(&mut hasher);
    resource
        .finalizers()
        .iter()
        .filter(|f| *f != IN_PROGRESS_FINALIZER)
        .for_each(|f| f.hash(&mut hasher));
    resource
        .metadata
        .deletion_timestamp
        .is_some()
        .hash(&mut hasher);
    // An approval (or its withdrawal) lets a resource awaiting it go on at once.
    resource.metadata.annotations.hash(&mut hasher);
    Some(hasher.finish())
}

/// The reverse index Secret → resources, read from the reflector store; also drops the cached
/// client of the Secret, so the next pass reads it again.
fn users_of_secret(
    store: &Store<CachedOffboarding>,
    provider: &SecretClientProvider,
    secret: &PartialObjectMeta<Secret>,
) -> Vec<ObjectRef<CachedOffboarding>> {
    let namespace = secret.namespace().unwrap_or_default();
    let name = secret.name_any();
    provider.invalidate(&namespace, &name);
    store
        .state()
        .iter()
        .filter(|r| {
            r.namespace().as_deref() == Some(namespace.as_str())
                && r.spec
                    .as_ref()
                    .is_ok_and(|spec| spec.credentials_secret_ref.name == name)
        })
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

/// Fails unless the API server serves the resource (discovery: no CRD read permission needed).
async fn check_crd(client: &Client) -> Result<(), RunError> {
    match client
        .list_api_group_resources(&format!("{API_GROUP}/{API_VERSION}"))
        .await
    {
        Ok(list) if list.resources.iter().any(|r| r.name == PLURAL) => Ok(()),
        Ok(_) => Err(RunError::CrdNotInstalled),
        Err(kube::Error::Api(status)) if status.is_not_found() => Err(RunError::CrdNotInstalled),
        Err(e) => Err(RunError::CrdCheck(e)),
    }
}

fn describe(namespaces: &[String]) -> String {
    if namespaces.is_empty() {
        "all".to_owned()
    } else {
        namespaces.join(",")
    }
}
