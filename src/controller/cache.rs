//! [`CachedOffboarding`]: what the controller's watch and reflector store keep of a
//! `GenesysUserOffboarding` (issue 6, scale target 4: memory with 10,000 resources watched).
//!
//! A pass reads its resource fresh (the status it trusts is the one last persisted), so the cache
//! needs only what the triggers, the Secret index, the batched drift checks and the owner
//! registry read: name, namespace, uid, `resourceVersion` (the watch resumes from it),
//! generation, creation time, finalizers, deletion timestamp, the spec, and three facts from the
//! status: whether the batched drift checks stand in for the resource's passes
//! ([`crate::reconcile::drift::watched_user`], worked out once per watch event),
//! `status.nextDriftCheck`, and the user its status claims
//! ([`crate::reconcile::owners::persisted_claim`]). The type deserializes straight from the API
//! server's JSON and skips the rest while parsing: `managedFields`, annotations (a client-side
//! `kubectl apply` copies the whole object there), the snapshot, plan, actions and history are
//! never built, not even for one list page. A cached resource takes about 0.6 KiB instead of the
//! full type's 1.3 KiB (before its strings), and a list page of 500 no longer holds 500 copies
//! of every status.
//!
//! I/O: none.

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use serde::{Deserialize, Deserializer};

use crate::crd::{
    GenesysUserOffboarding, GenesysUserOffboardingSpec, GenesysUserOffboardingStatus,
    ResolvedEndpoint, ResolvedUser, condition,
};
use crate::genesys::UserId;
use crate::reconcile::owners::UserKey;

/// A `GenesysUserOffboarding` as the controller's cache keeps it. Same kind, group, version and
/// plural, so `Api<CachedOffboarding>` lists and watches the real resources.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedOffboarding {
    /// Name, namespace, uid, `resourceVersion`, generation, finalizers and deletion timestamp.
    pub metadata: ObjectMeta,
    pub spec: GenesysUserOffboardingSpec,
    /// The user the batched drift checks watch for this resource, when they stand in for its
    /// passes ([`crate::reconcile::drift::watched_user`] of the resource as listed).
    pub watched_user: Option<UserId>,
    /// `status.nextDriftCheck`: when the last full pass scheduled the next check.
    pub next_drift_check: Option<Time>,
    /// The user the resource's status claims ([`crate::reconcile::owners::persisted_claim`]):
    /// the controller's [`super::claims::ClaimRegistry`] reads who owns which user here.
    pub claim: Option<UserKey>,
}

impl From<GenesysUserOffboarding> for CachedOffboarding {
    fn from(resource: GenesysUserOffboarding) -> Self {
        let watched_user = crate::reconcile::drift::watched_user(&resource);
        let claim = crate::reconcile::owners::persisted_claim(&resource);
        let GenesysUserOffboarding {
            metadata,
            spec,
            status,
        } = resource;
        Self {
            metadata: ObjectMeta {
                name: metadata.name,
                namespace: metadata.namespace,
                uid: metadata.uid,
                resource_version: metadata.resource_version,
                generation: metadata.generation,
                finalizers: metadata.finalizers,
                deletion_timestamp: metadata.deletion_timestamp,
                creation_timestamp: metadata.creation_timestamp,
                ..ObjectMeta::default()
            },
            spec,
            watched_user,
            next_drift_check: status.and_then(|s| s.next_drift_check),
            claim,
        }
    }
}

impl<'de> Deserialize<'de> for CachedOffboarding {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Wire::deserialize(deserializer).map(|wire| Self::from(wire.into_offboarding()))
    }
}

impl Resource for CachedOffboarding {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        GenesysUserOffboarding::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        GenesysUserOffboarding::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        GenesysUserOffboarding::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        GenesysUserOffboarding::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

// The JSON of a resource, reduced while parsing to what the cache keeps: serde skips every field
// not named here without building it.

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    metadata: WireMeta,
    spec: GenesysUserOffboardingSpec,
    #[serde(default)]
    status: Option<WireStatus>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    generation: Option<i64>,
    finalizers: Option<Vec<String>>,
    deletion_timestamp: Option<Time>,
    creation_timestamp: Option<Time>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireStatus {
    observed_generation: Option<i64>,
    conditions: Vec<WireCondition>,
    user: Option<WireUser>,
    #[serde(deserialize_with = "lenient")]
    endpoint: Option<ResolvedEndpoint>,
    next_drift_check: Option<Time>,
}

// A value this version cannot read (a region it does not know) is left out rather than failing
// the whole list page.
fn lenient<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

// Of a condition only what `watched_user` and `persisted_claim` read (a condition without a
// message or a time does
// not fail the whole list page).
#[derive(Deserialize, Default)]
#[serde(default)]
struct WireCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
    reason: String,
}

#[derive(Deserialize)]
struct WireUser {
    id: String,
}

impl Wire {
    /// The resource with only the fields parsed: enough for `watched_user`.
    fn into_offboarding(self) -> GenesysUserOffboarding {
        let Wire {
            metadata,
            spec,
            status,
        } = self;
        GenesysUserOffboarding {
            metadata: ObjectMeta {
                name: metadata.name,
                namespace: metadata.namespace,
                uid: metadata.uid,
                resource_version: metadata.resource_version,
                generation: metadata.generation,
                finalizers: metadata.finalizers,
                deletion_timestamp: metadata.deletion_timestamp,
                creation_timestamp: metadata.creation_timestamp,
                ..ObjectMeta::default()
            },
            spec,
            status: status.map(|status| GenesysUserOffboardingStatus {
                observed_generation: status.observed_generation,
                conditions: status
                    .conditions
                    .into_iter()
                    .filter(|c| c.type_ == condition::READY || c.type_ == condition::STALLED)
                    .map(|c| Condition {
                        type_: c.type_,
                        status: c.status,
                        reason: c.reason,
                        message: String::new(),
                        observed_generation: None,
                        last_transition_time: Time(Timestamp::UNIX_EPOCH),
                    })
                    .collect(),
                user: status.user.map(|user| ResolvedUser {
                    id: user.id,
                    name: None,
                    email: None,
                    division: None,
                    state_before: None,
                    state_now: None,
                    version: None,
                }),
                endpoint: status.endpoint,
                next_drift_check: status.next_drift_check,
                ..GenesysUserOffboardingStatus::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn listed(status: &serde_json::Value) -> serde_json::Value {
        json!({
            "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
            "kind": "GenesysUserOffboarding",
            "metadata": {
                "name": "jane", "namespace": "hr", "uid": "u-1", "resourceVersion": "42",
                "generation": 2, "finalizers": ["offboarding.genesys-operator.io/restore"],
                "creationTimestamp": "2024-12-31T00:00:00Z",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{…}"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply",
                                   "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}],
            },
            "spec": {"user": {"email": "jane.doe@example.com"},
                     "credentialsSecretRef": {"name": "c"}, "region": "us_east_1"},
            "status": status,
        })
    }

    fn ready(observed_generation: i64) -> serde_json::Value {
        json!({
            "observedGeneration": observed_generation,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Offboarded", "message": "done",
                 "lastTransitionTime": "2025-01-01T00:00:00Z"},
                {"type": "Deactivated", "status": "True", "reason": "Deactivated", "message": "",
                 "lastTransitionTime": "2025-01-01T00:00:00Z"},
            ],
            "user": {"id": "7c4e3a52-0000-4000-8000-000000000001", "email": "jane.doe@example.com"},
            "snapshot": {"state": "active", "takenAt": "2025-01-01T00:00:00Z", "queues": []},
            "actions": [{"step": "Deactivate", "time": "2025-01-01T00:00:00Z", "outcome": "Succeeded"}],
            "nextDriftCheck": "2025-01-01T01:00:00Z",
        })
    }

    #[test]
    fn a_listed_resource_keeps_what_the_triggers_and_drift_checks_read() {
        let json = listed(&ready(2));
        let full: GenesysUserOffboarding = serde_json::from_value(json.clone()).unwrap();

        let cached: CachedOffboarding = serde_json::from_value(json).unwrap();

        assert_eq!(cached.metadata.name.as_deref(), Some("jane"));
        assert_eq!(cached.metadata.namespace.as_deref(), Some("hr"));
        assert_eq!(cached.metadata.uid.as_deref(), Some("u-1"));
        assert_eq!(cached.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(cached.metadata.generation, Some(2));
        assert_eq!(cached.metadata.finalizers, full.metadata.finalizers);
        assert_eq!(cached.spec, full.spec);
        assert_eq!(
            cached.watched_user,
            crate::reconcile::drift::watched_user(&full)
        );
        assert!(cached.watched_user.is_some());
        assert_eq!(
            cached.next_drift_check,
            full.status.as_ref().unwrap().next_drift_check
        );
        assert_eq!(
            cached.metadata.creation_timestamp,
            full.metadata.creation_timestamp
        );
        assert_eq!(
            cached.claim,
            Some(UserKey {
                api: "https://api.mypurecloud.com/".into(),
                id: "7c4e3a52-0000-4000-8000-000000000001".into(),
            })
        );
        assert_eq!(cached, CachedOffboarding::from(full));
    }

    #[test]
    fn managed_fields_and_annotations_are_not_kept() {
        let cached: CachedOffboarding = serde_json::from_value(listed(&ready(2))).unwrap();

        assert!(cached.metadata.managed_fields.is_none());
        assert!(cached.metadata.annotations.is_none());
    }

    #[test]
    fn a_spec_changed_since_the_last_pass_or_no_status_is_not_watched() {
        let changed: CachedOffboarding = serde_json::from_value(listed(&ready(1))).unwrap();
        let mut new = listed(&json!(null));
        new.as_object_mut().unwrap().remove("status");
        let new: CachedOffboarding = serde_json::from_value(new).unwrap();

        assert_eq!(changed.watched_user, None);
        assert_eq!(new.watched_user, None);
        assert_eq!(new.next_drift_check, None);
    }

    #[test]
    fn the_cache_lists_and_watches_the_real_resource() {
        assert_eq!(
            CachedOffboarding::url_path(&(), Some("hr")),
            GenesysUserOffboarding::url_path(&(), Some("hr"))
        );
        assert_eq!(
            CachedOffboarding::api_version(&()),
            GenesysUserOffboarding::api_version(&())
        );
        assert_eq!(
            CachedOffboarding::kind(&()),
            GenesysUserOffboarding::kind(&())
        );
    }
}
