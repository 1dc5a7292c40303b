//! [`KubeStatusStore`]: the reconciler's [`StatusStore`] for a cluster. It writes `status` with
//! server-side apply on the `/status` subresource under the one field manager
//! [`FIELD_MANAGER`](super::FIELD_MANAGER), and skips the write when nothing but timestamps
//! would change (`lastTransitionTime`, `lastDriftCheck`, `nextDriftCheck`, ...): a status write
//! that only moves a clock is the classic operator write loop. `spec` is never written.
//!
//! "Nothing changed" is judged against the status last persisted for the object: the status the
//! pass started from (the resource handed to `save`, read fresh by the controller), then each
//! status this store wrote during the pass.
//!
//! Before the first Genesys write of a pass over an `Orphan` resource, the store puts the
//! in-progress finalizer on it ([`IN_PROGRESS_FINALIZER`]), so that a deletion while Genesys is
//! half changed waits for the offboarding to end; the reconcile function takes it off again. A
//! resource already being deleted (or gone) gets no finalizer, and the pass stops before its
//! first write. I/O: Kubernetes `PATCH .../status`, and a read and a patch of the resource for
//! the finalizer.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::Value;

use super::FIELD_MANAGER;
use crate::crd::{
    DeletionPolicy, GenesysUserOffboarding, GenesysUserOffboardingStatus, IN_PROGRESS_FINALIZER,
};
use crate::reconcile::StatusStore;
use crate::reconcile::error::StoreError;

/// Status fields that are clocks: a change in them alone is not worth a write.
const TIME_FIELDS: [&str; 6] = [
    "lastTransitionTime",
    "lastDriftCheck",
    "nextDriftCheck",
    "time",
    "takenAt",
    "verifiedAt",
];

/// What the store last persisted for one object (by uid) during the pass that began at
/// `base_version` (the resourceVersion of the resource the pass started from).
#[derive(Debug, Clone)]
struct Persisted {
    base_version: Option<String>,
    status: GenesysUserOffboardingStatus,
}

/// Writes status through the Kubernetes API (server-side apply on `/status`).
pub struct KubeStatusStore {
    client: Client,
    persisted: Mutex<HashMap<String, Persisted>>,
    /// The objects (by uid) this store put the in-progress finalizer on, until the reconcile
    /// function asks ([`KubeStatusStore::take_held`]).
    held: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for KubeStatusStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeStatusStore").finish_non_exhaustive()
    }
}

impl KubeStatusStore {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            persisted: Mutex::new(HashMap::new()),
            held: Mutex::new(HashSet::new()),
        }
    }

    /// Whether this store put the in-progress finalizer on the object `uid` since the last ask.
    pub fn take_held(&self, uid: &str) -> bool {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(uid)
    }

    fn hold(&self, uid: String) {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(uid);
    }

    /// The status as last persisted for `resource`: what this store wrote during the current
    /// pass, else the resource's own status.
    fn latest(&self, resource: &GenesysUserOffboarding) -> Option<GenesysUserOffboardingStatus> {
        let uid = resource.uid()?;
        let persisted = self.lock();
        match persisted.get(&uid) {
            Some(p) if p.base_version == resource.metadata.resource_version => {
                Some(p.status.clone())
            }
            _ => resource.status.clone(),
        }
    }

    /// Ends the pass over `resource`: keeps nothing for the object, so the store holds only the
    /// passes in flight, not a status per resource ever reconciled. The next pass starts from
    /// the resource as the controller reads it afresh, which includes every write made here (the
    /// pass itself says what it persisted: [`crate::reconcile::PassResult::status`]).
    pub fn finish_pass(&self, resource: &GenesysUserOffboarding) {
        if let Some(uid) = resource.uid() {
            // Whether the pass put the in-progress finalizer on is still to be asked.
            self.lock().remove(&uid);
        }
    }

    /// Forgets a deleted object (or the bookkeeping of an abandoned pass).
    pub fn forget(&self, uid: &str) {
        self.lock().remove(uid);
        self.take_held(uid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Persisted>> {
        match self.persisted.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// True when `a` and `b` differ in something other than a timestamp.
pub fn differs_beyond_timestamps(
    a: &GenesysUserOffboardingStatus,
    b: &GenesysUserOffboardingStatus,
) -> bool {
    without_timestamps(a) != without_timestamps(b)
}

fn without_timestamps(status: &GenesysUserOffboardingStatus) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for field in TIME_FIELDS {
                    map.remove(field);
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    // A status always serializes; a failure would make every status look different, which only
    // costs a write.
    let mut value = serde_json::to_value(status).unwrap_or(Value::Null);
    strip(&mut value);
    value
}

#[async_trait]
impl StatusStore for KubeStatusStore {
    async fn save(
        &self,
        resource: &GenesysUserOffboarding,
        status: &GenesysUserOffboardingStatus,
    ) -> Result<(), StoreError> {
        let name = resource.name_any();
        let namespace = resource
            .namespace()
            .ok_or_else(|| StoreError(format!("{name} has no namespace")))?;
        let uid = resource
            .uid()
            .ok_or_else(|| StoreError(format!("{namespace}/{name} has no uid")))?;
        let last = self.latest(resource).unwrap_or_default();
        if !differs_beyond_timestamps(&last, status) {
            tracing::debug!("status unchanged but for timestamps; not written");
            return Ok(());
        }
        let api: Api<GenesysUserOffboarding> = Api::namespaced(self.client.clone(), &namespace);
        let patch = serde_json::json!({
            "apiVersion": GenesysUserOffboarding::api_version(&()),
            "kind": GenesysUserOffboarding::kind(&()),
            "status": status,
        });
        api.patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(|e| StoreError(format!("PATCH {namespace}/{name}/status: {e}")))?;
        tracing::debug!("status written");
        self.lock().insert(
            uid,
            Persisted {
                base_version: resource.metadata.resource_version.clone(),
                status: status.clone(),
            },
        );
        Ok(())
    }

    async fn before_first_write(
        &self,
        resource: &GenesysUserOffboarding,
    ) -> Result<(), StoreError> {
        let holds =
            |r: &GenesysUserOffboarding| r.finalizers().iter().any(|f| f == IN_PROGRESS_FINALIZER);
        // `Restore` has its own finalizer, which holds every deletion.
        if resource.spec.deletion_policy != DeletionPolicy::Orphan || holds(resource) {
            return Ok(());
        }
        let name = resource.name_any();
        let namespace = resource
            .namespace()
            .ok_or_else(|| StoreError(format!("{name} has no namespace")))?;
        let api: Api<GenesysUserOffboarding> = Api::namespaced(self.client.clone(), &namespace);
        // Read afresh: the status writes of this pass changed the resourceVersion, and the
        // resource may have been deleted since the pass read it.
        let unwritten = |why: &str| {
            StoreError(format!(
                "{namespace}/{name} {why} before the first write to Genesys; nothing was written"
            ))
        };
        let fresh = api
            .get_opt(&name)
            .await
            .map_err(|e| StoreError(format!("GET {namespace}/{name}: {e}")))?
            .filter(|fresh| fresh.uid() == resource.uid())
            .ok_or_else(|| unwritten("was deleted"))?;
        if holds(&fresh) {
            return Ok(());
        }
        if fresh.metadata.deletion_timestamp.is_some() {
            return Err(unwritten("is being deleted"));
        }
        let mut finalizers = fresh.finalizers().to_vec();
        finalizers.push(IN_PROGRESS_FINALIZER.to_owned());
        // Guarded by the resourceVersion: a concurrent change (a deletion) fails with 409.
        let patch = serde_json::json!({
            "metadata": {
                "finalizers": finalizers,
                "resourceVersion": fresh.resource_version(),
            }
        });
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                StoreError(format!(
                    "adding the in-progress finalizer to {namespace}/{name}: {e}"
                ))
            })?;
        tracing::info!("offboarding about to write to Genesys: in-progress finalizer added");
        if let Some(uid) = fresh.uid() {
            self.hold(uid);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crd::{condition, reason};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn ready(at_time: i64, drift: i64) -> GenesysUserOffboardingStatus {
        let mut status = GenesysUserOffboardingStatus {
            observed_generation: Some(1),
            last_drift_check: Some(at(drift)),
            next_drift_check: Some(at(drift + 3600)),
            ..Default::default()
        };
        status.set_condition(
            condition::READY,
            true,
            reason::OFFBOARDED,
            "done",
            Some(1),
            &at(at_time),
        );
        status
    }

    #[test]
    fn a_status_that_differs_only_in_timestamps_is_not_worth_a_write() {
        assert!(!differs_beyond_timestamps(
            &ready(100, 1000),
            &ready(200, 5000)
        ));
    }

    #[test]
    fn a_new_reason_or_generation_is_worth_a_write() {
        let mut other = ready(100, 1000);
        other.set_condition(
            condition::READY,
            true,
            reason::OBSERVING,
            "done",
            Some(1),
            &at(100),
        );
        assert!(differs_beyond_timestamps(&ready(100, 1000), &other));

        let mut other = ready(100, 1000);
        other.observed_generation = Some(2);
        assert!(differs_beyond_timestamps(&ready(100, 1000), &other));
    }

    #[tokio::test]
    async fn a_finished_pass_leaves_nothing_behind_for_the_object() {
        // A client that is never called: the store's bookkeeping is in memory.
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let store = KubeStatusStore::new(Client::try_from(config).unwrap());
        let mut resource = GenesysUserOffboarding::new(
            "jane",
            serde_json::from_value(serde_json::json!({
                "user": {"email": "jane.doe@example.com"},
                "credentialsSecretRef": {"name": "genesys"},
                "region": "us_east_1"
            }))
            .unwrap(),
        );
        resource.metadata.uid = Some("uid-1".into());
        resource.metadata.resource_version = Some("7".into());
        resource.status = Some(ready(0, 0));
        store.lock().insert(
            "uid-1".into(),
            Persisted {
                base_version: Some("7".into()),
                status: ready(0, 60),
            },
        );

        let last = store.latest(&resource);
        store.finish_pass(&resource);

        assert_eq!(
            last,
            Some(ready(0, 60)),
            "the pass's last write is what the store judges the next write against"
        );
        assert!(store.lock().is_empty(), "nothing is kept after the pass");
        assert_eq!(store.latest(&resource), Some(ready(0, 0)));
    }
}
