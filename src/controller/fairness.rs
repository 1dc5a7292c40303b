//! How much shared capacity one Genesys organization may hold: a tenant whose endpoint accepts
//! connections and never answers must not stall every other tenant.
//!
//! - [`OrgKey`]: the organization a resource's calls go to, as far as the operator can tell
//!   without I/O: the OAuth client (namespace and credentials Secret) and the endpoints (region,
//!   or the two base URLs). The Genesys client cache and the batched drift checks group by the
//!   same thing.
//! - [`OrgSlots`]: at most `cap` passes of one organization run at once (`--max-passes-per-org`,
//!   by default half of `--concurrency`, rounded up). A pass whose organization is at its cap
//!   does not wait for a slot, which would hold one of the controller's workers just the same:
//!   it is requeued after [`busy_requeue`] and the worker goes to the next resource.
//!
//! The other bound, the deadline of one pass (`--pass-timeout`), lives in the reconcile
//! function. No I/O here.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use kube::ResourceExt;
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

/// The passes running per organization, each at most `cap`.
#[derive(Debug)]
pub struct OrgSlots {
    cap: usize,
    running: Mutex<HashMap<OrgKey, usize>>,
}

impl OrgSlots {
    /// At most `cap` passes of one organization at once (at least 1).
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// The passes one organization may run at once.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// A slot of `org`, or `None` when it already runs `cap` passes. The slot is given back when
    /// the returned guard is dropped (the pass ended, failed or was abandoned).
    pub fn try_take(&self, org: OrgKey) -> Option<OrgSlot<'_>> {
        let mut running = self.lock();
        let count = running.entry(org.clone()).or_insert(0);
        if *count >= self.cap {
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
        let slots = OrgSlots::new(2);
        let first = slots.try_take(org("a")).unwrap();
        let _second = slots.try_take(org("a")).unwrap();

        assert!(slots.try_take(org("a")).is_none(), "a is at its cap");
        assert!(slots.try_take(org("b")).is_some(), "b is not limited by a");

        drop(first);
        assert_eq!(slots.running(&org("a")), 1);
        assert!(slots.try_take(org("a")).is_some(), "a freed a slot");
    }

    #[test]
    fn organizations_without_a_pass_in_flight_are_not_kept() {
        let slots = OrgSlots::new(1);
        drop(slots.try_take(org("a")).unwrap());
        assert!(slots.lock().is_empty());
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
