//! [`ClaimRegistry`]: the reconciler's [`OwnerRegistry`] for a cluster. Which resource owns a
//! user is decided by the rule of [`crate::reconcile::owners`] over two sources:
//!
//! - the persisted claims, read from the controller's reflector stores (one per watched scope):
//!   each [`CachedOffboarding`] carries the user its status claims, worked out once per watch
//!   event. They survive restarts and leader changes: a new process lists them before its first
//!   pass (every store is synced before a claim is decided).
//! - the claims of passes in this process that have not reached the store yet (a pass claims,
//!   then persists `status.user`; the watch brings it back a moment later). Concurrent passes for
//!   one user are serialized here: the first to claim owns the user. A claim is dropped when its
//!   resource is gone: released by the controller ([`ClaimRegistry::release`]), or found missing
//!   from the stores (a deletion that needed no pass).
//!
//! I/O: none (the stores are filled by the controller's watches).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use kube::ResourceExt;
use kube::runtime::reflector::Store;

use super::cache::CachedOffboarding;
use crate::crd::GenesysUserOffboarding;
use crate::reconcile::owners::{
    Claimant, OwnerRegistry, Ownership, OwnershipError, UserKey, decide, persisted_claim,
};

/// How long a claim waits for the resource caches to sync before the pass is retried.
const SYNC_WAIT: Duration = Duration::from_secs(5);

/// How often a claim checks whether a cache has synced (the store wakes only its most recent
/// waiter, so each wait is short and repeated).
const SYNC_POLL: Duration = Duration::from_millis(100);

/// Who owns which user, from the reflector stores and the claims of passes in flight.
#[derive(Default)]
pub struct ClaimRegistry {
    stores: Mutex<Vec<Store<CachedOffboarding>>>,
    in_flight: Mutex<HashMap<UserKey, Claimant>>,
}

impl std::fmt::Debug for ClaimRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimRegistry")
            .field("stores", &lock(&self.stores).len())
            .field("in_flight", &lock(&self.in_flight).len())
            .finish()
    }
}

impl ClaimRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the persisted claims of one more scope's resources from `store`.
    pub fn watch(&self, store: Store<CachedOffboarding>) {
        lock(&self.stores).push(store);
    }

    /// Drops the in-flight claims of a resource that is gone (`id`: its uid, or
    /// `namespace/name` when it has none).
    pub fn release(&self, id: &str) {
        lock(&self.in_flight).retain(|_, claimant| claimant.id != id);
    }

    /// How many claims of passes in flight are held.
    pub fn in_flight(&self) -> usize {
        lock(&self.in_flight).len()
    }

    /// Waits until every store has synced, for at most [`SYNC_WAIT`].
    async fn synced(stores: &[Store<CachedOffboarding>]) -> Result<(), OwnershipError> {
        let deadline = tokio::time::Instant::now() + SYNC_WAIT;
        for store in stores {
            loop {
                match tokio::time::timeout(SYNC_POLL, store.wait_until_ready()).await {
                    Ok(Ok(())) => break,
                    Ok(Err(_)) => {
                        return Err(OwnershipError(
                            "a resource cache stopped before it synced".into(),
                        ));
                    }
                    Err(_) if tokio::time::Instant::now() >= deadline => {
                        return Err(OwnershipError(
                            "the resource caches have not synced yet".into(),
                        ));
                    }
                    Err(_) => {}
                }
            }
        }
        Ok(())
    }
}

/// A cached resource as the rule sees it.
fn claimant(cached: &CachedOffboarding) -> Claimant {
    let name = format!(
        "{}/{}",
        cached.namespace().unwrap_or_default(),
        cached.name_any()
    );
    Claimant {
        id: cached.uid().unwrap_or_else(|| name.clone()),
        name,
        created: cached.metadata.creation_timestamp.clone(),
    }
}

#[async_trait]
impl OwnerRegistry for ClaimRegistry {
    async fn claim(
        &self,
        resource: &GenesysUserOffboarding,
        user: &UserKey,
    ) -> Result<Ownership, OwnershipError> {
        let stores = lock(&self.stores).clone();
        Self::synced(&stores).await?;
        let me = Claimant::of(resource);
        let mine_persisted = persisted_claim(resource).as_ref() == Some(user);
        // Held from reading to recording, so that concurrent claims are decided one at a time.
        let mut in_flight = lock(&self.in_flight);
        let claimed = in_flight.get(user).map(|c| c.id.clone());
        let mut claimant_listed = false;
        let mut persisted = Vec::new();
        for cached in stores.iter().flat_map(Store::state) {
            let other = claimant(&cached);
            claimant_listed |= claimed.as_ref() == Some(&other.id);
            if cached.claim.as_ref() == Some(user) && other.id != me.id {
                persisted.push(other);
            }
        }
        // A pass claims for a resource its store lists; one no longer listed is gone (its
        // deletion may have needed no pass, so nothing released the claim).
        if claimed.is_some() && !claimant_listed {
            in_flight.remove(user);
        }
        let ownership = decide(&me, mine_persisted, &persisted, in_flight.get(user));
        match &ownership {
            Ownership::Owner => {
                in_flight.insert(user.clone(), me);
            }
            Ownership::Duplicate { owner } => {
                tracing::info!(%owner, %user, "another resource owns the user");
            }
        }
        Ok(ownership)
    }
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
    use kube::runtime::reflector;
    use kube::runtime::watcher;
    use serde_json::json;

    const JANE: &str = "6a1b0c3e-0000-4000-8000-000000000001";
    const API: &str = "https://api.mypurecloud.com/";

    fn jane() -> UserKey {
        UserKey {
            api: API.into(),
            id: JANE.into(),
        }
    }

    /// A resource as listed: `claimed` gives its status the user (a persisted claim), `stalled`
    /// marks it a duplicate.
    fn listed(name: &str, created: &str, claimed: bool, stalled: bool) -> GenesysUserOffboarding {
        let mut status = json!({});
        if claimed {
            status["user"] = json!({"id": JANE});
        }
        if stalled {
            status["conditions"] = json!([{"type": "Stalled", "status": "True",
                "reason": "DuplicateOffboarding", "message": "",
                "lastTransitionTime": "2025-01-01T00:00:00Z"}]);
        }
        serde_json::from_value(json!({
            "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
            "kind": "GenesysUserOffboarding",
            "metadata": {"name": name, "namespace": "hr", "uid": format!("uid-{name}"),
                         "creationTimestamp": created},
            "spec": {"user": {"email": "jane.doe@example.com"},
                     "credentialsSecretRef": {"name": "c"}, "region": "us_east_1"},
            "status": status,
        }))
        .unwrap()
    }

    fn cached(resource: &GenesysUserOffboarding) -> CachedOffboarding {
        serde_json::from_value(serde_json::to_value(resource).unwrap()).unwrap()
    }

    /// A registry whose one store holds `resources`, synced; and the store's writer.
    fn registry_and_writer(
        resources: &[GenesysUserOffboarding],
    ) -> (ClaimRegistry, reflector::store::Writer<CachedOffboarding>) {
        let (reader, mut writer) = reflector::store::<CachedOffboarding>();
        writer.apply_watcher_event(&watcher::Event::Init);
        for resource in resources {
            writer.apply_watcher_event(&watcher::Event::InitApply(cached(resource)));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let registry = ClaimRegistry::new();
        registry.watch(reader);
        (registry, writer)
    }

    fn registry(resources: &[GenesysUserOffboarding]) -> ClaimRegistry {
        registry_and_writer(resources).0
    }

    fn duplicate_of(name: &str) -> Ownership {
        Ownership::Duplicate {
            owner: format!("hr/{name}"),
        }
    }

    #[tokio::test]
    async fn after_a_restart_the_persisted_owner_keeps_the_user_and_the_duplicate_stays_one() {
        // The duplicate is older but was refused: its status holds no claim.
        let owner = listed("owner", "2025-01-02T00:00:00Z", true, false);
        let duplicate = listed("duplicate", "2025-01-01T00:00:00Z", false, true);
        let registry = registry(&[owner.clone(), duplicate.clone()]);

        assert_eq!(
            registry.claim(&duplicate, &jane()).await.unwrap(),
            duplicate_of("owner")
        );
        assert_eq!(
            registry.claim(&owner, &jane()).await.unwrap(),
            Ownership::Owner
        );
    }

    #[tokio::test]
    async fn of_two_persisted_claims_the_oldest_resource_wins() {
        let old = listed("old", "2025-01-01T00:00:00Z", true, false);
        let young = listed("young", "2025-01-02T00:00:00Z", true, false);
        let registry = registry(&[young.clone(), old.clone()]);

        assert_eq!(
            registry.claim(&young, &jane()).await.unwrap(),
            duplicate_of("old")
        );
        assert_eq!(
            registry.claim(&old, &jane()).await.unwrap(),
            Ownership::Owner
        );
    }

    #[tokio::test]
    async fn before_its_claim_is_persisted_the_first_pass_owns_the_user_and_release_lets_go() {
        let first = listed("first", "2025-01-02T00:00:00Z", false, false);
        let second = listed("second", "2025-01-01T00:00:00Z", false, false);
        let registry = registry(&[first.clone(), second.clone()]);

        assert_eq!(
            registry.claim(&first, &jane()).await.unwrap(),
            Ownership::Owner
        );
        assert_eq!(
            registry.claim(&second, &jane()).await.unwrap(),
            duplicate_of("first")
        );
        assert_eq!(registry.in_flight(), 1);

        registry.release("uid-first");

        assert_eq!(registry.in_flight(), 0);
        assert_eq!(
            registry.claim(&second, &jane()).await.unwrap(),
            Ownership::Owner
        );
    }

    #[tokio::test]
    async fn a_claim_in_flight_of_a_resource_gone_from_the_store_no_longer_holds_the_user() {
        let first = listed("first", "2025-01-01T00:00:00Z", false, false);
        let second = listed("second", "2025-01-02T00:00:00Z", false, false);
        let (registry, mut writer) = registry_and_writer(&[first.clone(), second.clone()]);
        assert_eq!(
            registry.claim(&first, &jane()).await.unwrap(),
            Ownership::Owner
        );

        // Deleted without a pass (no finalizer): the watch drops it, nobody releases its claim.
        writer.apply_watcher_event(&watcher::Event::Delete(cached(&first)));

        assert_eq!(
            registry.claim(&second, &jane()).await.unwrap(),
            Ownership::Owner
        );
        assert_eq!(registry.in_flight(), 1);
    }

    #[tokio::test]
    async fn a_user_of_another_organization_is_another_user() {
        let owner = listed("owner", "2025-01-01T00:00:00Z", true, false);
        let other = listed("other", "2025-01-02T00:00:00Z", false, false);
        let registry = registry(&[owner]);
        let elsewhere = UserKey {
            api: "https://api.mypurecloud.ie/".into(),
            id: JANE.into(),
        };

        assert_eq!(
            registry.claim(&other, &elsewhere).await.unwrap(),
            Ownership::Owner
        );
    }
}
