//! Batched drift checks of finished offboardings (issue 6, scale target 5): instead of a full
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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use futures::Stream;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::time::Instant;

use super::cache::CachedOffboarding;
use super::secrets::SecretClientProvider;
use crate::crd::GenesysUserOffboardingSpec;
use crate::genesys::{Region, UserId};
use crate::reconcile::drift::{self, IDS_PER_CALL};
use crate::reconcile::error::chain;
use crate::reconcile::spec::from_time;

/// How long a failed batched check waits before it is tried again.
pub const RETRY: Duration = Duration::from_secs(60);

/// The default time between two sweeps (the shortest `driftCheckInterval` is one minute).
pub const SWEEP: Duration = Duration::from_secs(10);

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
/// loaded), found by a sweep of the store every `every`; each is also recorded in `full`. The
/// stream never ends; the controller drops it on shutdown.
pub fn triggers(
    store: Store<CachedOffboarding>,
    provider: Arc<SecretClientProvider>,
    full: Arc<FullPasses>,
    every: Duration,
) -> impl Stream<Item = ObjectRef<CachedOffboarding>> + Send + 'static {
    let checker = Checker {
        store,
        provider,
        due: HashMap::new(),
    };
    futures::stream::unfold(
        (checker, Vec::new(), full),
        move |(mut checker, mut pending, full)| async move {
            loop {
                if let Some(next) = pending.pop() {
                    full.request(&next);
                    return Some((next, (checker, pending, full)));
                }
                tokio::time::sleep(every.max(Duration::from_millis(100))).await;
                pending = checker.sweep().await;
            }
        },
    )
}

/// One watched resource in a sweep (borrowed from the store's snapshot: a sweep copies nothing
/// per resource).
struct Watched<'a> {
    resource: &'a CachedOffboarding,
    spec: &'a GenesysUserOffboardingSpec,
    uid: &'a str,
    user: &'a UserId,
    interval: Duration,
    due: Instant,
}

impl Watched<'_> {
    fn reference(&self) -> ObjectRef<CachedOffboarding> {
        ObjectRef::from_obj(self.resource)
    }
}

/// The OAuth client a resource's calls go through (the provider caches one client per key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ClientKey<'a> {
    namespace: &'a str,
    secret: &'a str,
    region: Option<Region>,
    api: Option<&'a str>,
    login: Option<&'a str>,
}

struct Checker {
    store: Store<CachedOffboarding>,
    provider: Arc<SecretClientProvider>,
    /// When each watched resource (by uid) is checked next.
    due: HashMap<String, Instant>,
}

impl Checker {
    /// Checks every client's due users; returns the resources to reconcile in full.
    async fn sweep(&mut self) -> Vec<ObjectRef<CachedOffboarding>> {
        let now = Instant::now();
        let state = self.store.state();
        let groups = self.watched(&state, now);
        let mut triggered = Vec::new();
        for mut watched in groups.into_values() {
            if !watched.iter().any(|w| w.due <= now) {
                continue;
            }
            // Due first, then the soonest due, filling whole requests.
            watched.sort_by_key(|w| w.due);
            let due = watched.iter().filter(|w| w.due <= now).count();
            watched.truncate(due.div_ceil(IDS_PER_CALL) * IDS_PER_CALL);
            triggered.extend(self.check(&watched).await);
        }
        triggered
    }

    /// The watched resources of `state`, by client; forgets the schedule of resources no longer
    /// watched.
    fn watched<'a>(
        &mut self,
        state: &'a [Arc<CachedOffboarding>],
        now: Instant,
    ) -> HashMap<ClientKey<'a>, Vec<Watched<'a>>> {
        let mut groups: HashMap<ClientKey<'a>, Vec<Watched<'a>>> = HashMap::new();
        let mut live = HashSet::new();
        for resource in state {
            let metadata = &resource.metadata;
            let (Some(user), Some(uid), Some(namespace)) = (
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
                resource,
                spec,
                uid,
                user,
                interval,
                due,
            });
        }
        self.due.retain(|uid, _| live.contains(uid.as_str()));
        groups
    }

    /// One client's batched check (every resource of `watched` has the same client); returns
    /// the resources whose user drifted.
    async fn check(&mut self, watched: &[Watched<'_>]) -> Vec<ObjectRef<CachedOffboarding>> {
        let Some(sample) = watched.first() else {
            return Vec::new();
        };
        let client = match self
            .provider
            .load_for(sample.resource.namespace(), sample.spec)
            .await
        {
            Ok(client) => client,
            Err(error) => {
                // The full pass reports it (Stalled with a reason) and takes them off the watch.
                tracing::warn!(error = %chain(&error), resources = watched.len(), "drift check: no client; reconciling in full");
                let now = Instant::now();
                for w in watched {
                    self.due.insert(w.uid.to_owned(), now + RETRY);
                }
                return watched.iter().map(Watched::reference).collect();
            }
        };
        let ids: Vec<UserId> = watched.iter().map(|w| w.user.clone()).collect();
        let result = drift::check(&client, &ids).await;
        let now = Instant::now();
        match result {
            Ok(drifted) => {
                let drifted: HashSet<&str> = drifted.iter().map(|d| d.id.as_str()).collect();
                tracing::debug!(
                    users = ids.len(),
                    drifted = drifted.len(),
                    "drift check done"
                );
                let mut triggered = Vec::new();
                for w in watched {
                    self.due.insert(w.uid.to_owned(), now + w.interval);
                    if drifted.contains(w.user.as_str()) {
                        let reference = w.reference();
                        tracing::info!(object = %reference, user = %w.user, "drift detected; reconciling");
                        triggered.push(reference);
                    }
                }
                triggered
            }
            Err(error) => {
                tracing::warn!(error = %chain(&error), users = ids.len(), retry_in = ?RETRY, "drift check failed");
                for w in watched.iter().filter(|w| w.due <= now) {
                    self.due.insert(w.uid.to_owned(), now + RETRY);
                }
                Vec::new()
            }
        }
    }
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
