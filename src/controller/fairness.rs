//! How much shared capacity one Genesys organization may hold: a tenant whose endpoint accepts
//! connections and never answers must not stall every other tenant.
//!
//! - [`OrgKey`]: the organization a resource's calls go to, as far as the operator can tell
//!   without I/O: the OAuth client (namespace and credentials Secret) and the endpoints (region,
//!   or the two base URLs). The Genesys client cache and the batched drift checks group by the
//!   same thing.
//! - [`OrgSlots`]: at most `cap` passes of one organization run at once (`--max-passes-per-org`,
//!   by default half of `--concurrency`, rounded up), and at most a fair share of the workers
//!   (`--concurrency` ÷ the organizations with unfinished offboardings, rounded down and at least
//!   one, counted by [`OrgsWithWork`] from the resource caches). Rounded down, the shares add up
//!   to no more than the workers, so an organization with work always finds one free: rounded
//!   up, three organizations sharing four workers could hold two each, and once one of them was
//!   done the two troubled ones held all four. The share matters with many organizations:
//!   half the workers each is no bound at all once two organizations are throttled (a 429 with
//!   a long `Retry-After`, which the client waits out inside the pass) or answer slowly, and
//!   every other organization would then wait for their passes to end. The share is known
//!   before the passes start (from the caches, not from who asked first), so organizations
//!   whose resources came first cannot take every worker before the others are seen. A pass
//!   whose organization is at its cap does not wait for a slot, which would hold one of the
//!   controller's workers just the same: it is requeued after [`busy_requeue`] and the worker
//!   goes to the next resource.
//!
//! The other bound, the deadline of one pass (`--pass-timeout`), lives in the reconcile
//! function. No I/O here.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::reflector::Store;
use rand::Rng;

use super::cache::CachedOffboarding;
use crate::crd::GenesysUserOffboardingSpec;

/// The shortest and longest wait of a pass whose organization is at its cap (jittered between
/// the two, so the waiting passes of one organization do not come back together).
const BUSY_REQUEUE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(5));

/// The organization a resource's Genesys calls go to: its OAuth client and its endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrgKey {
    pub namespace: String,
    pub secret: String,
    /// The region, or the API and login base URLs (`api login`).
    pub endpoints: String,
}

impl OrgKey {
    /// The organization of a resource in `namespace` with `spec`.
    pub fn of(namespace: &str, spec: &GenesysUserOffboardingSpec) -> Self {
        let endpoints = match (spec.region, &spec.api_base_url, &spec.login_base_url) {
            (Some(region), _, _) => format!("{region:?}"),
            (None, api, login) => format!(
                "{} {}",
                api.as_deref().unwrap_or_default(),
                login.as_deref().unwrap_or_default()
            ),
        };
        Self {
            namespace: namespace.to_owned(),
            secret: spec.credentials_secret_ref.name.clone(),
            endpoints,
        }
    }

    /// The organization of a cached resource. One whose spec cannot be decoded calls no
    /// organization (its pass only reports it): it counts as an organization of its own.
    pub fn of_resource(resource: &CachedOffboarding) -> Self {
        let namespace = resource.namespace().unwrap_or_default();
        match &resource.spec {
            Ok(spec) => Self::of(&namespace, spec),
            Err(_) => Self {
                namespace,
                secret: resource.name_any(),
                endpoints: "(undecodable spec)".to_owned(),
            },
        }
    }
}

impl std::fmt::Display for OrgKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} at {}",
            self.namespace, self.secret, self.endpoints
        )
    }
}

/// The passes running per organization, each at most `cap` and at most its fair share of
/// `workers`.
#[derive(Debug)]
pub struct OrgSlots {
    cap: usize,
    workers: usize,
    running: Mutex<HashMap<OrgKey, usize>>,
}

impl OrgSlots {
    /// At most `cap` passes of one organization at once (at least 1), and at most a fair share
    /// of `workers` while other organizations have work too.
    pub fn new(cap: usize, workers: usize) -> Self {
        Self {
            cap: cap.max(1),
            workers: workers.max(1),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// The passes one organization may run at once when `with_work` organizations (this one
    /// included) have unfinished offboardings: `cap`, or fewer, its share of the workers.
    pub fn limit(&self, with_work: usize) -> usize {
        self.cap.min(self.workers / with_work.max(1)).max(1)
    }

    /// A slot of `org`, or `None` when it already runs as many passes as it may while
    /// `with_work` organizations have work ([`limit`](Self::limit)). The slot is given back
    /// when the returned guard is dropped (the pass ended, failed or was abandoned).
    pub fn try_take(&self, org: OrgKey, with_work: usize) -> Option<OrgSlot<'_>> {
        let limit = self.limit(with_work);
        let mut running = self.lock();
        let count = running.entry(org.clone()).or_insert(0);
        if *count >= limit {
            if *count == 0 {
                running.remove(&org);
            }
            return None;
        }
        *count += 1;
        Some(OrgSlot { slots: self, org })
    }

    /// Passes of `org` running now.
    pub fn running(&self, org: &OrgKey) -> usize {
        self.lock().get(org).copied().unwrap_or(0)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<OrgKey, usize>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How many organizations have unfinished offboardings (resources the batched drift checks do
/// not watch yet), counted from the resource caches at most once per [`RECOUNT`].
#[derive(Default)]
pub struct OrgsWithWork {
    stores: Mutex<Vec<Store<CachedOffboarding>>>,
    counted: Mutex<Option<(Instant, usize)>>,
}

/// How long a count of the organizations with work is used before the caches are read again.
const RECOUNT: Duration = Duration::from_secs(1);

impl OrgsWithWork {
    /// Counts the resources of one more scope's cache too.
    pub fn watch(&self, store: Store<CachedOffboarding>) {
        self.stores
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(store);
    }

    /// The organizations with unfinished offboardings (at least 1).
    pub fn count(&self) -> usize {
        let now = Instant::now();
        let mut counted = self.counted.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, count)) = *counted
            && now.duration_since(at) < RECOUNT
        {
            return count;
        }
        let stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        let count = count_with_work(
            stores
                .iter()
                .flat_map(Store::state)
                .filter(|resource| !finished(resource))
                .map(|resource| OrgKey::of_resource(&resource)),
        );
        *counted = Some((now, count));
        count
    }
}

impl std::fmt::Debug for OrgsWithWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgsWithWork").finish_non_exhaustive()
    }
}

/// Whether a resource's offboarding is over and only the drift checks watch it.
fn finished(resource: &CachedOffboarding) -> bool {
    super::reconciler::drift_checks_watch(resource)
}

/// The distinct organizations among `orgs` (at least 1).
fn count_with_work(orgs: impl Iterator<Item = OrgKey>) -> usize {
    orgs.collect::<HashSet<_>>().len().max(1)
}

/// A pass's slot of its organization; dropping it frees the slot.
#[derive(Debug)]
pub struct OrgSlot<'a> {
    slots: &'a OrgSlots,
    org: OrgKey,
}

impl Drop for OrgSlot<'_> {
    fn drop(&mut self) {
        let mut running = self.slots.lock();
        if let Some(count) = running.get_mut(&self.org) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // Only organizations with a pass in flight are kept.
                running.remove(&self.org);
            }
        }
    }
}

/// How long a pass whose organization is at its cap waits before it is tried again.
pub fn busy_requeue() -> Duration {
    let (low, high) = BUSY_REQUEUE;
    rand::rng().random_range(low..=high)
}

/// The default cap of passes per organization: half of `concurrency`, rounded up, so that one
/// organization never takes every worker when there are two or more.
pub fn default_passes_per_org(concurrency: u16) -> u16 {
    concurrency.max(1).div_ceil(2)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn org(secret: &str) -> OrgKey {
        let spec: GenesysUserOffboardingSpec = serde_yaml::from_str(&format!(
            "user: {{email: jane.doe@example.com}}\ncredentialsSecretRef: {{name: {secret}}}\nregion: us_east_1\n"
        ))
        .unwrap();
        OrgKey::of("hr", &spec)
    }

    #[test]
    fn an_organization_at_its_cap_gets_no_slot_until_one_of_its_passes_ends() {
        let slots = OrgSlots::new(2, 8);
        let first = slots.try_take(org("a"), 1).unwrap();
        let _second = slots.try_take(org("a"), 1).unwrap();

        assert!(slots.try_take(org("a"), 1).is_none(), "a is at its cap");
        assert!(
            slots.try_take(org("b"), 2).is_some(),
            "b is not limited by a"
        );

        drop(first);
        assert_eq!(slots.running(&org("a")), 1);
        assert!(slots.try_take(org("a"), 2).is_some(), "a freed a slot");
    }

    #[test]
    fn organizations_without_a_pass_in_flight_are_not_kept() {
        let slots = OrgSlots::new(1, 8);
        drop(slots.try_take(org("a"), 1).unwrap());
        assert!(slots.try_take(org("b"), 1).is_some());
        assert!(!slots.lock().contains_key(&org("a")));
    }

    #[test]
    fn with_several_organizations_at_work_each_gets_at_most_its_share_of_the_workers() {
        let slots = OrgSlots::new(16, 32);
        assert_eq!(slots.limit(1), 16, "alone: the cap");
        assert_eq!(slots.limit(2), 16);
        assert_eq!(slots.limit(3), 10);
        assert_eq!(slots.limit(10), 3);
        assert_eq!(slots.limit(100), 1, "never none");

        // Three organizations with work share six workers: two each, whoever came first.
        let slots = OrgSlots::new(4, 6);
        let a: Vec<_> = (0..2)
            .map(|_| slots.try_take(org("a"), 3).unwrap())
            .collect();
        assert!(slots.try_take(org("a"), 3).is_none(), "a has its share");
        assert!(slots.try_take(org("b"), 3).is_some());
        // When the others are done, a may run up to its cap again.
        assert!(slots.try_take(org("a"), 1).is_some());
        drop(a);
    }

    #[test]
    fn the_shares_of_the_organizations_with_work_leave_a_worker_for_each_of_them() {
        // Four workers, three organizations with work: two organizations at their share leave
        // two workers, so the third is never locked out (rounded up, they would hold all four).
        for workers in 1..=64 {
            let slots = OrgSlots::new(workers, workers);
            for with_work in 1..=workers {
                let others = (with_work - 1) * slots.limit(with_work);
                assert!(
                    others < workers,
                    "{workers} workers, {with_work} organizations: the others hold {others}"
                );
            }
        }
        let slots = OrgSlots::new(2, 4);
        let troubled: Vec<_> = ["throttled", "throttled", "failing", "failing"]
            .into_iter()
            .filter_map(|name| slots.try_take(org(name), 3))
            .collect();
        assert_eq!(troubled.len(), 2, "one pass each");
        assert!(slots.try_take(org("healthy"), 3).is_some());
    }

    #[test]
    fn organizations_are_counted_once_however_many_unfinished_resources_they_have() {
        let resource = |name: &str, secret: &str| -> CachedOffboarding {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
                "kind": "GenesysUserOffboarding",
                "metadata": {"name": name, "namespace": "hr"},
                "spec": {
                    "user": {"email": "jane.doe@example.com"},
                    "credentialsSecretRef": {"name": secret},
                    "region": "us_east_1",
                },
            }))
            .unwrap()
        };
        let unfinished = [resource("x", "a"), resource("y", "a"), resource("z", "b")];
        assert!(unfinished.iter().all(|r| !finished(r)));
        assert_eq!(
            count_with_work(unfinished.iter().map(OrgKey::of_resource)),
            2
        );
        assert_eq!(count_with_work(std::iter::empty()), 1);
    }

    #[test]
    fn by_default_one_organization_gets_half_the_workers_rounded_up() {
        assert_eq!(default_passes_per_org(8), 4);
        assert_eq!(default_passes_per_org(3), 2);
        assert_eq!(default_passes_per_org(1), 1);
        assert_eq!(default_passes_per_org(0), 1);
    }

    #[test]
    fn the_same_secret_in_another_namespace_or_at_other_endpoints_is_another_organization() {
        let spec = |extra: &str| -> GenesysUserOffboardingSpec {
            serde_yaml::from_str(&format!(
                "user: {{email: jane.doe@example.com}}\ncredentialsSecretRef: {{name: s}}\n{extra}"
            ))
            .unwrap()
        };
        let region = spec("region: us_east_1\n");
        let custom = spec("apiBaseUrl: http://127.0.0.1:1\nloginBaseUrl: http://127.0.0.1:1\n");

        assert_eq!(OrgKey::of("hr", &region), OrgKey::of("hr", &region));
        assert_ne!(OrgKey::of("hr", &region), OrgKey::of("sales", &region));
        assert_ne!(OrgKey::of("hr", &region), OrgKey::of("hr", &custom));
    }
}
