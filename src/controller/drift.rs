//! Batched drift checks of finished offboardings (so that 10,000 finished offboardings cost one read per 100 users, not a pass each): instead of a full
//! reconcile pass per `Ready` resource every `driftCheckInterval`, one sweep every few seconds
//! takes the resources whose check is due from the reflector store, groups them by OAuth client
//! (namespace, Secret, endpoints), reads their users 100 per request
//! ([`crate::reconcile::drift::check`]: `GET /api/v2/users?id=…&state=any`), and triggers the
//! full pass only for the users that drifted. Start at [`triggers`]: its stream feeds the
//! controller's `reconcile_on`.
//!
//! Filling batches: a request costs the same for 1 id as for 100, so each batch of due users is
//! topped up with the same client's watched users whose check comes soonest. Their schedules
//! fall into step, and `N` resources cost about `N / 100` requests per interval (10,000 users at
//! the default `1h`: 100 requests an hour, 0.56 % of a 300-per-minute budget of 18,000).
//!
//! A resource is watched when [`crate::reconcile::drift::watched_user`] says so (`Ready=True`,
//! `Offboarded`, spec unchanged since, not Observe mode, not suspended); the others keep their
//! own requeue. A clean check does not write the status (`status.nextDriftCheck` keeps the time
//! of the last full pass; the schedule of batched checks lives in memory and, after a restart,
//! starts again from the status). When the credentials cannot be loaded the resources of that
//! client get a full pass (which reports the problem); when the check fails it is retried after
//! [`RETRY`]. I/O: Genesys reads, Kubernetes Secret reads (through the provider).
//!
//! One organization never delays another: the clients are checked concurrently (at most
//! [`CHECKS_AT_ONCE`] at a time, one check per client in flight), each check ends after the
//! drift-check timeout (for its client, then for each request of 100 users) as a failed check,
//! and the resources of a finished check are triggered at once, not at the end of the sweep. A
//! client whose endpoint accepts connections and never answers costs one check in flight until
//! its timeout, and nothing else.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::time::Instant;

use super::cache::CachedOffboarding;
use super::fairness::OrgKey;
use super::secrets::SecretClientProvider;
use crate::reconcile::drift::{self, IDS_PER_CALL};
use crate::reconcile::error::chain;
use crate::reconcile::spec::from_time;
use genesys_cloud::{Region, UserId};

/// How long a failed batched check waits before it is tried again.
pub const RETRY: Duration = Duration::from_secs(60);

/// The default time between two sweeps (the shortest `driftCheckInterval` is one minute).
pub const SWEEP: Duration = Duration::from_secs(10);

/// Clients checked at once (each check reads a Secret, the first time, and sends one request
/// per 100 users): enough that slow clients do not hold up the others, few enough that a
/// restart does not send every Secret read at once.
pub const CHECKS_AT_ONCE: usize = 32;

/// The watched resources that must get a full pass at their next trigger although the batched
/// checks stand in for them: their user drifted, their client could not be loaded, or their
/// Secret changed. Every other trigger of a watched resource (a restart's initial list, a
/// relist) skips the pass: the batched checks cover it.
#[derive(Debug, Default)]
pub struct FullPasses(Mutex<HashSet<String>>);

impl FullPasses {
    /// Asks for a full pass of the resource `namespace/name`.
    pub fn request(&self, reference: &ObjectRef<CachedOffboarding>) {
        let key = format!(
            "{}/{}",
            reference.namespace.as_deref().unwrap_or_default(),
            reference.name
        );
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key);
    }

    /// Whether a full pass of `key` (`namespace/name`) was asked for; forgets the request.
    pub fn take(&self, key: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key)
    }
}

/// The resources to reconcile in full because their user drifted (or their client could not be
/// loaded), found by a sweep of the store every `every` and by the client checks it starts,
/// each ending after `timeout` at most; each resource is also recorded in `full`. The stream
/// never ends; the controller drops it on shutdown.
pub fn triggers(
    store: Store<CachedOffboarding>,
    provider: Arc<SecretClientProvider>,
    full: Arc<FullPasses>,
    every: Duration,
    timeout: Duration,
) -> impl Stream<Item = ObjectRef<CachedOffboarding>> + Send + 'static {
    let every = every.max(Duration::from_millis(100));
    let state = Sweeper {
        checker: Checker {
            store,
            provider,
            timeout,
            due: HashMap::new(),
            checking: HashSet::new(),
        },
        running: FuturesUnordered::new(),
        pending: Vec::new(),
        next_sweep: Instant::now() + every,
        full,
    };
    futures::stream::unfold(state, move |mut state| async move {
        loop {
            if let Some(next) = state.pending.pop() {
                state.full.request(&next);
                return Some((next, state));
            }
            tokio::select! {
                () = tokio::time::sleep_until(state.next_sweep) => {
                    state.next_sweep = Instant::now() + every;
                    let room = CHECKS_AT_ONCE.saturating_sub(state.running.len());
                    for check in state.checker.sweep(room) {
                        state.running.push(check);
                    }
                }
                Some(checked) = state.running.next(), if !state.running.is_empty() => {
                    state.pending = state.checker.finish(checked);
                }
            }
        }
    })
}

/// The state of the trigger stream: the checker, the client checks in flight, and the triggers
/// not handed out yet.
struct Sweeper {
    checker: Checker,
    running: FuturesUnordered<BoxFuture<'static, Checked>>,
    pending: Vec<ObjectRef<CachedOffboarding>>,
    next_sweep: Instant,
    full: Arc<FullPasses>,
}

/// One watched resource in a check (the store's own `Arc`: a check copies no resource).
struct Watched {
    resource: Arc<CachedOffboarding>,
    interval: Duration,
    due: Instant,
}

impl Watched {
    fn reference(&self) -> ObjectRef<CachedOffboarding> {
        ObjectRef::from_obj(self.resource.as_ref())
    }

    fn uid(&self) -> &str {
        self.resource.metadata.uid.as_deref().unwrap_or_default()
    }

    /// The user (a watched resource always has one).
    fn user(&self) -> Option<&UserId> {
        self.resource.watched_user.as_ref()
    }
}

/// The OAuth client a resource's calls go through (the provider caches one client per key),
/// borrowed from the store's snapshot while a sweep groups its resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ClientKey<'a> {
    namespace: &'a str,
    secret: &'a str,
    region: Option<Region>,
    api: Option<&'a str>,
    login: Option<&'a str>,
}

/// How one client's check ended.
enum Outcome {
    /// The users that drifted.
    Checked(HashSet<UserId>),
    /// No client (the credentials could not be loaded): a full pass reports why.
    NoClient,
    /// The check failed or timed out: tried again after [`RETRY`].
    Failed,
}

/// One client's finished check.
struct Checked {
    org: OrgKey,
    watched: Vec<Watched>,
    outcome: Outcome,
}

struct Checker {
    store: Store<CachedOffboarding>,
    provider: Arc<SecretClientProvider>,
    timeout: Duration,
    /// When each watched resource (by uid) is checked next.
    due: HashMap<String, Instant>,
    /// The clients with a check in flight (at most one each).
    checking: HashSet<OrgKey>,
}

impl Checker {
    /// Starts the check of every client with due users and no check in flight, at most `room`
    /// of them.
    fn sweep(&mut self, room: usize) -> Vec<BoxFuture<'static, Checked>> {
        let now = Instant::now();
        let state = self.store.state();
        let groups = self.watched(&state, now);
        let mut started = Vec::new();
        for (key, mut watched) in groups {
            if started.len() >= room {
                break;
            }
            if !watched.iter().any(|w| w.due <= now) {
                continue;
            }
            // Only resources with a decoded spec are watched (`groups` skips the others).
            let Ok(spec) = &watched[0].resource.spec else {
                continue;
            };
            let org = OrgKey::of(key.namespace, spec);
            if self.checking.contains(&org) {
                continue;
            }
            // Due first, then the soonest due, filling whole requests.
            watched.sort_by_key(|w| w.due);
            let due = watched.iter().filter(|w| w.due <= now).count();
            watched.truncate(due.div_ceil(IDS_PER_CALL) * IDS_PER_CALL);
            self.checking.insert(org.clone());
            let provider = self.provider.clone();
            let timeout = self.timeout;
            started.push(
                Box::pin(check(provider, org, watched, timeout)) as BoxFuture<'static, Checked>
            );
        }
        started
    }

    /// The watched resources of `state`, by client; forgets the schedule of resources no longer
    /// watched.
    fn watched<'a>(
        &mut self,
        state: &'a [Arc<CachedOffboarding>],
        now: Instant,
    ) -> HashMap<ClientKey<'a>, Vec<Watched>> {
        let mut groups: HashMap<ClientKey<'a>, Vec<Watched>> = HashMap::new();
        let mut live = HashSet::new();
        for resource in state {
            let metadata = &resource.metadata;
            let (Some(_), Some(uid), Some(namespace)) = (
                resource.watched_user.as_ref(),
                metadata.uid.as_deref(),
                metadata.namespace.as_deref(),
            ) else {
                continue;
            };
            let Ok(spec) = &resource.spec else {
                continue;
            };
            let Ok(interval) = spec.drift_check_interval() else {
                continue;
            };
            let due = match self.due.get(uid) {
                Some(due) => *due,
                None => *self
                    .due
                    .entry(uid.to_owned())
                    .or_insert_with(|| now + remaining(resource)),
            };
            live.insert(uid);
            let key = ClientKey {
                namespace,
                secret: &spec.credentials_secret_ref.name,
                region: spec.region,
                api: spec.api_base_url.as_deref(),
                login: spec.login_base_url.as_deref(),
            };
            groups.entry(key).or_default().push(Watched {
                resource: resource.clone(),
                interval,
                due,
            });
        }
        self.due.retain(|uid, _| live.contains(uid.as_str()));
        groups
    }

    /// Records a finished check; returns the resources to reconcile in full.
    fn finish(&mut self, checked: Checked) -> Vec<ObjectRef<CachedOffboarding>> {
        self.checking.remove(&checked.org);
        let now = Instant::now();
        let watched = &checked.watched;
        match checked.outcome {
            Outcome::Checked(drifted) => {
                tracing::debug!(
                    org = %checked.org,
                    users = watched.len(),
                    drifted = drifted.len(),
                    "drift check done"
                );
                let mut triggered = Vec::new();
                for w in watched {
                    self.due.insert(w.uid().to_owned(), now + w.interval);
                    if let Some(user) = w.user().filter(|user| drifted.contains(*user)) {
                        let reference = w.reference();
                        tracing::info!(object = %reference, user = %user, "drift detected; reconciling");
                        triggered.push(reference);
                    }
                }
                triggered
            }
            Outcome::NoClient => {
                for w in watched {
                    self.due.insert(w.uid().to_owned(), now + RETRY);
                }
                watched.iter().map(Watched::reference).collect()
            }
            Outcome::Failed => {
                for w in watched.iter().filter(|w| w.due <= now) {
                    self.due.insert(w.uid().to_owned(), now + RETRY);
                }
                Vec::new()
            }
        }
    }
}

/// One client's batched check (every resource of `watched` has the same client): loading the
/// client and each request of [`IDS_PER_CALL`] users may take `timeout` at most.
async fn check(
    provider: Arc<SecretClientProvider>,
    org: OrgKey,
    watched: Vec<Watched>,
    timeout: Duration,
) -> Checked {
    let outcome = check_users(&provider, &org, &watched, timeout).await;
    Checked {
        org,
        watched,
        outcome,
    }
}

async fn check_users(
    provider: &SecretClientProvider,
    org: &OrgKey,
    watched: &[Watched],
    timeout: Duration,
) -> Outcome {
    let Some((sample, Ok(spec))) = watched
        .first()
        .map(|w| (w.resource.as_ref(), &w.resource.spec))
    else {
        return Outcome::Checked(HashSet::new());
    };
    let client = match tokio::time::timeout(timeout, provider.load_for(sample.namespace(), spec))
        .await
    {
        Ok(Ok(client)) => client,
        Ok(Err(error)) => {
            // The full pass reports it (Stalled with a reason, or retried with backoff when
            // the Secret could not be read) and takes them off the watch.
            tracing::warn!(%org, error = %chain(&error), resources = watched.len(), "drift check: no client; reconciling in full");
            return Outcome::NoClient;
        }
        Err(_) => {
            tracing::warn!(%org, ?timeout, retry_in = ?RETRY, "drift check: the client's credentials were not read in time");
            return Outcome::Failed;
        }
    };
    let ids: Vec<UserId> = watched.iter().filter_map(|w| w.user().cloned()).collect();
    let mut drifted = HashSet::new();
    for chunk in ids.chunks(IDS_PER_CALL) {
        match tokio::time::timeout(timeout, drift::check(&client, chunk)).await {
            Ok(Ok(found)) => drifted.extend(found.into_iter().map(|d| d.id)),
            Ok(Err(error)) => {
                tracing::warn!(%org, error = %chain(&error), users = ids.len(), retry_in = ?RETRY, "drift check failed");
                return Outcome::Failed;
            }
            Err(_) => {
                tracing::warn!(%org, ?timeout, users = ids.len(), retry_in = ?RETRY, "drift check timed out: Genesys did not answer in time");
                return Outcome::Failed;
            }
        }
    }
    Outcome::Checked(drifted)
}

/// How long until the check the resource's last full pass scheduled (`status.nextDriftCheck`);
/// zero when it is past or unknown.
fn remaining(resource: &CachedOffboarding) -> Duration {
    resource
        .next_drift_check
        .as_ref()
        .and_then(|next| (from_time(next) - Utc::now()).to_std().ok())
        .unwrap_or(Duration::ZERO)
}
