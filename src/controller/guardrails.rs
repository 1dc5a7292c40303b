//! [`DeactivationBudget`]: the controller's deactivation cap, counted per Genesys organization
//! ([`OrgKey`]: namespace, OAuth client Secret and endpoints) from durable state.
//!
//! What counts is every resource whose `status.deactivationAdmittedAt` lies in the window, as
//! the controller's reflector stores hold them (the API server's view, listed afresh by every
//! replica that becomes leader and after every restart), plus the admissions this process made
//! that the watch has not shown yet. An admission is persisted before the offboarding's first
//! write, so a crash between admission and write loses nothing: the next leader counts it.
//! Only the leader reconciles, so admissions never race between replicas; passes of one leader
//! take a lock around count-and-admit.
//!
//! I/O: none (reads the reflector stores in memory).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::ResourceExt;
use kube::runtime::reflector::Store;

use super::cache::CachedOffboarding;
use super::fairness::OrgKey;
use crate::crd::GenesysUserOffboarding;
use crate::reconcile::guard::{Admission, DeactivationCap, human};
use crate::reconcile::spec::from_time;

/// How long a pass waits before asking again while the stores have not synced.
const UNSYNCED_RETRY: Duration = Duration::from_secs(2);

/// The cap: at most `cap` deactivations per `window` per organization. One per term as
/// leader: the controllers of that term register their stores ([`DeactivationBudget::watch`]).
pub struct DeactivationBudget {
    cap: u32,
    window: Duration,
    stores: Mutex<Vec<Store<CachedOffboarding>>>,
    /// Admissions of this process not yet seen in a store: uid → (organization, when).
    pending: Mutex<HashMap<String, (OrgKey, DateTime<Utc>)>>,
    /// Held around count-and-admit: two passes of one organization cannot both take the last
    /// place.
    admitting: Mutex<()>,
}

impl DeactivationBudget {
    pub fn new(cap: u32, window: Duration) -> Self {
        Self {
            cap,
            window,
            stores: Mutex::default(),
            pending: Mutex::default(),
            admitting: Mutex::default(),
        }
    }

    /// Counts the resources of `store` too (one store per watched namespace).
    pub fn watch(&self, store: Store<CachedOffboarding>) {
        lock(&self.stores).push(store);
    }

    /// The admission times in the window of `org`, oldest first, and whether every store has
    /// synced.
    fn admitted(&self, org: &OrgKey, since: DateTime<Utc>) -> (Vec<DateTime<Utc>>, bool) {
        let stores = lock(&self.stores).clone();
        let mut seen = BTreeSet::new();
        let mut times = Vec::new();
        let mut synced = !stores.is_empty();
        for store in &stores {
            // A store that has not listed yet would undercount.
            synced &= store.wait_until_ready().now_or_never_ready();
            for resource in store.state() {
                let Some(at) = resource.deactivation_admitted_at.as_ref().map(from_time) else {
                    continue;
                };
                if at > since && OrgKey::of_resource(&resource) == *org {
                    seen.insert(resource.uid().unwrap_or_default());
                    times.push(at);
                }
            }
        }
        let mut pending = lock(&self.pending);
        pending.retain(|_, (_, at)| *at > since);
        for (uid, (key, at)) in pending.iter() {
            if key == org && !seen.contains(uid) {
                times.push(*at);
            }
        }
        times.sort();
        (times, synced)
    }
}

impl DeactivationCap for DeactivationBudget {
    fn admit(&self, resource: &GenesysUserOffboarding, now: DateTime<Utc>) -> Admission {
        let org = OrgKey::of(&resource.namespace().unwrap_or_default(), &resource.spec);
        let window = chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX);
        let _one = lock(&self.admitting);
        let (times, synced) = self.admitted(&org, now - window);
        if !synced {
            return Admission::Unknown {
                after: UNSYNCED_RETRY,
            };
        }
        let used = u32::try_from(times.len()).unwrap_or(u32::MAX);
        if used >= self.cap {
            // The window frees a place when its oldest admission that keeps it full leaves it.
            let index = times.len()
                - usize::try_from(self.cap)
                    .unwrap_or(usize::MAX)
                    .min(times.len());
            let oldest = times.get(index).copied().unwrap_or(now);
            return Admission::Full {
                used,
                cap: self.cap,
                window: self.window,
                retry_at: oldest + window + chrono::Duration::seconds(1),
            };
        }
        lock(&self.pending).insert(resource.uid().unwrap_or_default(), (org, now));
        Admission::Admitted { at: now }
    }

    fn release(&self, resource: &GenesysUserOffboarding) {
        lock(&self.pending).remove(&resource.uid().unwrap_or_default());
    }

    fn describe(&self) -> String {
        format!("{} per {}", self.cap, human(self.window))
    }
}

/// Whether a reflector store has listed (without waiting).
trait ReadyNow {
    fn now_or_never_ready(self) -> bool;
}

impl<F: std::future::Future<Output = Result<(), E>>, E> ReadyNow for F {
    fn now_or_never_ready(self) -> bool {
        matches!(futures::FutureExt::now_or_never(self), Some(Ok(())))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
