//! [`CachedOffboarding`]: what the controller's watch and reflector store keep of a
//! `GenesysUserOffboarding` (kept small: the operator watches 10,000 resources in under 64 MiB).
//!
//! A pass reads its resource fresh (the status it trusts is the one last persisted), so the cache
//! needs only what the triggers, the Secret index, the batched drift checks and the owner
//! registry read: name, namespace, uid, `resourceVersion` (the watch resumes from it),
//! generation, creation time, finalizers, deletion timestamp, the spec, and three facts from the
//! status: whether the batched drift checks stand in for the resource's passes
//! ([`crate::reconcile::drift::watched_user`], worked out once per watch event),
//! `status.nextDriftCheck`, and the user its status claims
//! ([`crate::reconcile::owners::persisted_claim`]). The type deserializes straight from the API
//! server's JSON and skips the rest while parsing: `managedFields`, annotations but the approval
//! gate's two (a client-side `kubectl apply` copies the whole object into one), the snapshot, plan, actions and history are
//! never built, not even for one list page. A cached resource takes about 0.6 KiB instead of the
//! full type's 1.3 KiB (before its strings), and a list page of 500 no longer holds 500 copies
//! of every status.
//!
//! Parsing never fails on what a resource holds, only on JSON that is not a resource at all: one
//! list page that failed would stop the watch of every resource in every namespace (and, after a
//! restart, readiness for good). A spec the API server admitted but the operator cannot decode
//! (e.g. a date past the end of the Kubernetes time type) is kept as [`Undecodable`], naming the
//! field and the problem, and its pass reports it on the resource; a status fact that cannot be
//! decoded counts as absent (the pass, which reads the whole resource, reports that one).
//!
//! I/O: none.

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::undecodable::Undecodable;
use crate::crd::{
    GenesysUserOffboarding, GenesysUserOffboardingSpec, GenesysUserOffboardingStatus,
    ResolvedEndpoint, ResolvedUser, annotation, condition,
};
use crate::reconcile::owners::UserKey;
use genesys_cloud::UserId;

/// A `GenesysUserOffboarding` as the controller's cache keeps it. Same kind, group, version and
/// plural, so `Api<CachedOffboarding>` lists and watches the real resources.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedOffboarding {
    /// Name, namespace, uid, `resourceVersion`, generation, finalizers and deletion timestamp.
    pub metadata: ObjectMeta,
    /// The spec, or which of its fields the operator cannot decode (the pass reports it).
    pub spec: Result<GenesysUserOffboardingSpec, Undecodable>,
    /// The user the batched drift checks watch for this resource, when they stand in for its
    /// passes ([`crate::reconcile::drift::watched_user`] of the resource as listed); never for
    /// an undecodable spec.
    pub watched_user: Option<UserId>,
    /// `status.nextDriftCheck`: when the last full pass scheduled the next check.
    pub next_drift_check: Option<Time>,
    /// The user the resource's status claims ([`crate::reconcile::owners::persisted_claim`]):
    /// the controller's [`super::claims::ClaimRegistry`] reads who owns which user here.
    pub claim: Option<UserKey>,
    /// `status.deactivationAdmittedAt`: when the deactivation cap admitted the offboarding
    /// ([`super::guardrails::DeactivationBudget`] counts these per organization).
    pub deactivation_admitted_at: Option<Time>,
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
                annotations: approval_annotations(metadata.annotations),
                ..ObjectMeta::default()
            },
            spec: Ok(spec),
            watched_user,
            next_drift_check: status.as_ref().and_then(|s| s.next_drift_check.clone()),
            claim,
            deactivation_admitted_at: status.and_then(|s| s.deactivation_admitted_at),
        }
    }
}

/// The approval gate's annotations of `all` (the trigger of a resource awaiting approval).
fn approval_annotations(
    all: Option<std::collections::BTreeMap<String, String>>,
) -> Option<std::collections::BTreeMap<String, String>> {
    let kept: std::collections::BTreeMap<String, String> = all?
        .into_iter()
        .filter(|(k, _)| k == annotation::REQUESTED_BY || k == annotation::APPROVED_BY)
        .collect();
    (!kept.is_empty()).then_some(kept)
}

impl<'de> Deserialize<'de> for CachedOffboarding {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Wire {
            metadata,
            spec,
            status,
        } = Wire::deserialize(deserializer)?;
        // The spec is small: buffered as JSON, then decoded, so that a field the operator cannot
        // decode is named instead of failing the whole list.
        let spec = match spec {
            Some(spec) => Undecodable::decode("spec", spec),
            None => Err(Undecodable::missing("spec")),
        };
        Ok(match spec {
            Ok(spec) => Self::from(into_offboarding(metadata, spec, status)),
            Err(why) => {
                let (next_drift_check, deactivation_admitted_at) = status
                    .map(|s| (s.next_drift_check.0, s.deactivation_admitted_at.0))
                    .unwrap_or_default();
                Self {
                    metadata: metadata.into_meta(),
                    spec: Err(why),
                    watched_user: None,
                    next_drift_check,
                    // Its pass only reports it; its user is claimed again once it decodes.
                    claim: None,
                    // Admitted before the spec became undecodable: it still counts.
                    deactivation_admitted_at,
                }
            }
        })
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
    #[serde(default)]
    spec: Option<Value>,
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
    annotations: Approval,
}

/// Of the annotations only the approval gate's: the others (a client-side `kubectl apply`
/// copies the whole object into one) are skipped while parsing.
#[derive(Default)]
struct Approval(Option<std::collections::BTreeMap<String, String>>);

impl<'de> Deserialize<'de> for Approval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Approval;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of annotations")
            }
            fn visit_unit<E>(self) -> Result<Approval, E> {
                Ok(Approval(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Approval, A::Error> {
                let mut kept = std::collections::BTreeMap::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == annotation::REQUESTED_BY || key == annotation::APPROVED_BY {
                        if let Some(value) = map.next_value::<Option<String>>()? {
                            kept.insert(key.into_owned(), value);
                        }
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Approval((!kept.is_empty()).then_some(kept)))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl WireMeta {
    fn into_meta(self) -> ObjectMeta {
        ObjectMeta {
            annotations: self.annotations.0,
            name: self.name,
            namespace: self.namespace,
            uid: self.uid,
            resource_version: self.resource_version,
            generation: self.generation,
            finalizers: self.finalizers,
            deletion_timestamp: self.deletion_timestamp,
            creation_timestamp: self.creation_timestamp,
            ..ObjectMeta::default()
        }
    }
}

// Each status fact is read if it can be: one the operator cannot decode counts as absent (the
// resource is then not watched by the drift checks, and its pass reports the field).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireStatus {
    observed_generation: Lenient<i64>,
    conditions: Lenient<Vec<WireCondition>>,
    user: Lenient<WireUser>,
    endpoint: Lenient<ResolvedEndpoint>,
    next_drift_check: Lenient<Time>,
    deactivation_admitted_at: Lenient<Time>,
}

/// A value decoded if it can be, else absent. Buffered as JSON first: only for small fields.
struct Lenient<T>(Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(Self(serde_json::from_value(value).ok()))
    }
}

// Of a condition only what `watched_user` and `persisted_claim` read (a condition without a
// message or a time does not fail the whole list page).
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

/// The resource with only the fields parsed: enough for `watched_user`.
fn into_offboarding(
    metadata: WireMeta,
    spec: GenesysUserOffboardingSpec,
    status: Option<WireStatus>,
) -> GenesysUserOffboarding {
    GenesysUserOffboarding {
        metadata: metadata.into_meta(),
        spec,
        status: status.map(|status| GenesysUserOffboardingStatus {
            observed_generation: status.observed_generation.0,
            conditions: status
                .conditions
                .0
                .unwrap_or_default()
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
            user: status.user.0.map(|user| ResolvedUser {
                id: user.id,
                name: None,
                email: None,
                division: None,
                state_before: None,
                state_now: None,
                version: None,
            }),
            endpoint: status.endpoint.0,
            next_drift_check: status.next_drift_check.0,
            deactivation_admitted_at: status.deactivation_admitted_at.0,
            ..GenesysUserOffboardingStatus::default()
        }),
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
        assert_eq!(cached.spec.as_ref(), Ok(&full.spec));
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
    fn the_approval_annotations_are_kept_for_the_trigger_and_nothing_else() {
        let mut json = listed(&ready(2));
        json["metadata"]["annotations"][annotation::REQUESTED_BY] = json!("alice");
        json["metadata"]["annotations"][annotation::APPROVED_BY] = json!("bob");
        json["status"]["deactivationAdmittedAt"] = json!("2025-01-01T00:00:00Z");
        let full: GenesysUserOffboarding = serde_json::from_value(json.clone()).unwrap();

        let cached: CachedOffboarding = serde_json::from_value(json).unwrap();

        let kept = cached.metadata.annotations.as_ref().unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[annotation::APPROVED_BY], "bob");
        assert!(cached.deactivation_admitted_at.is_some());
        assert_eq!(cached, CachedOffboarding::from(full));
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
    fn a_spec_the_operator_cannot_decode_is_kept_with_the_field_and_the_problem() {
        let mut json = listed(&ready(2));
        json["spec"]["effectiveAt"] = json!("9999-12-31T23:59:59Z");

        let cached: CachedOffboarding = serde_json::from_value(json).unwrap();

        let why = cached.spec.unwrap_err();
        assert_eq!(why.field, "spec.effectiveAt");
        assert!(why.problem.contains("overflowed"), "{why}");
        assert_eq!(cached.metadata.name.as_deref(), Some("jane"));
        assert_eq!(cached.metadata.uid.as_deref(), Some("u-1"));
        assert_eq!(cached.metadata.generation, Some(2));
        assert_eq!(
            cached.watched_user, None,
            "never watched by the drift checks"
        );
    }

    #[test]
    fn a_missing_or_mistyped_spec_is_named_too() {
        let mut missing = listed(&ready(2));
        missing.as_object_mut().unwrap().remove("spec");
        let mut mistyped = listed(&ready(2));
        mistyped["spec"]["history"] = json!({"lookbackDays": "ninety"});

        let missing: CachedOffboarding = serde_json::from_value(missing).unwrap();
        let mistyped: CachedOffboarding = serde_json::from_value(mistyped).unwrap();

        assert_eq!(missing.spec.unwrap_err().field, "spec");
        assert_eq!(
            mistyped.spec.unwrap_err().field,
            "spec.history.lookbackDays"
        );
    }

    #[test]
    fn a_status_fact_the_operator_cannot_decode_counts_as_absent() {
        let mut status = ready(2);
        status["nextDriftCheck"] = json!("9999-12-31T23:59:59Z");
        status["observedGeneration"] = json!(1e30);

        let cached: CachedOffboarding = serde_json::from_value(listed(&status)).unwrap();

        assert!(cached.spec.is_ok());
        assert_eq!(cached.next_drift_check, None);
        assert_eq!(cached.watched_user, None, "the generation is unknown");
    }

    #[test]
    fn one_undecodable_resource_does_not_fail_the_list_page_holding_it() {
        let mut bad = listed(&ready(2));
        bad["metadata"]["name"] = json!("bad");
        bad["spec"]["effectiveAt"] = json!("9999-12-31T23:59:59Z");
        let page = json!({
            "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
            "kind": "GenesysUserOffboardingList",
            "metadata": {"resourceVersion": "50"},
            "items": [listed(&ready(2)), bad, listed(&json!(null))],
        });

        let list: kube::core::ObjectList<CachedOffboarding> = serde_json::from_value(page).unwrap();

        let decoded: Vec<bool> = list.items.iter().map(|r| r.spec.is_ok()).collect();
        assert_eq!(decoded, [true, false, true]);
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
