//! Resources the operator cannot decode: the API server admitted them (schema and CEL), but a
//! field does not fit the operator's types, e.g. a date past the end of the Kubernetes time
//! type's range, which the API server's own date check lets through, or anything a CRD from an
//! older release admitted. Such a resource must not hold up the others, so nothing reads it
//! with the typed API: the watch keeps it without its spec ([`super::cache`]), and its pass reads
//! it as JSON ([`read`]), then only says so on the resource ([`report`]): the kstatus
//! conditions Stalled=True and Ready=False with reason `Undecodable` (the message names the field
//! and the problem), and with them a Warning Event. Nothing else is done for it, not even the
//! restore on deletion, until a change makes it readable.
//!
//! The conditions are written by server-side apply under a field manager of their own
//! ([`FIELD_MANAGER`]): applying them as the pass's manager would drop every other status field
//! that manager owns (the snapshot among them). The pass's next write takes them back.
//!
//! I/O: Kubernetes `GET` of the resource as JSON, `PATCH .../status`, Events.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::PartialObjectMetaExt as _;
use kube::runtime::events::Recorder;
use kube::{Client, Resource as _};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::events::Publisher;
use crate::crd::{FINALIZER, GenesysUserOffboarding, condition, reason};

/// The field manager of the conditions that report an undecodable resource.
pub const FIELD_MANAGER: &str = "genesys-offboarding-operator-undecodable";

/// A field of a resource the operator cannot decode, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct Undecodable {
    /// The field's path in the resource, e.g. `spec.effectiveAt`.
    pub field: String,
    /// What is wrong with it, as the decoder says.
    pub problem: String,
}

impl Undecodable {
    /// Decodes `value`, the JSON of the field at `path` (empty: a whole resource), naming the
    /// innermost field that failed.
    pub fn decode<T: DeserializeOwned>(path: &str, value: Value) -> Result<T, Undecodable> {
        serde_path_to_error::deserialize(value).map_err(|error| {
            let inner = error.path().to_string();
            let field = if path.is_empty() {
                inner
            } else if inner == "." {
                path.to_owned()
            } else if inner.starts_with('[') {
                format!("{path}{inner}")
            } else {
                format!("{path}.{inner}")
            };
            Undecodable {
                field,
                problem: error.into_inner().to_string(),
            }
        })
    }

    /// A required field that is absent.
    pub fn missing(field: &str) -> Self {
        Self {
            field: field.to_owned(),
            problem: "missing".to_owned(),
        }
    }

    /// The message of the Ready and Stalled conditions and of the Event.
    pub fn message(&self, deletion_waits: bool) -> String {
        let mut message = format!(
            "the operator cannot read {}: {}; nothing is done for this resource until the field is fixed",
            self.field, self.problem
        );
        if deletion_waits {
            message.push_str(
                " (its deletion waits too: the restore needs the spec; or remove the finalizer by hand to leave the user as they are)",
            );
        }
        message
    }
}

/// The resource as read fresh.
#[derive(Debug)]
pub enum Fresh {
    /// Decoded: the pass goes on.
    Decoded(Box<GenesysUserOffboarding>),
    /// Not decoded: its JSON, and why.
    Undecodable {
        object: Box<DynamicObject>,
        why: Undecodable,
    },
}

/// Reads the resource `namespace/name` as JSON and decodes it (`None`: it is gone).
pub async fn read(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Fresh>, kube::Error> {
    let api = json_api(client, namespace);
    let Some(object) = api.get_opt(name).await? else {
        return Ok(None);
    };
    let json = serde_json::to_value(&object).map_err(kube::Error::SerdeError)?;
    Ok(Some(match Undecodable::decode("", json) {
        Ok(resource) => Fresh::Decoded(Box::new(resource)),
        Err(why) => Fresh::Undecodable {
            object: Box::new(object),
            why,
        },
    }))
}

/// Reports `why` on the resource: its conditions, and a Warning Event when they change (a pass
/// that finds them already written, e.g. after a restart, writes and publishes nothing).
/// Returns whether the status was written.
pub async fn report(
    client: &Client,
    recorder: &Recorder,
    object: &DynamicObject,
    why: &Undecodable,
) -> Result<bool, kube::Error> {
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let deletion_waits = object.metadata.deletion_timestamp.is_some()
        && object
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == FINALIZER);
    let message = why.message(deletion_waits);
    let Some(patch) = status_patch(object, &message, &now()) else {
        return Ok(false);
    };
    json_api(client, &namespace)
        .patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    let reference = object
        .metadata
        .clone()
        .into_request_partial::<GenesysUserOffboarding>();
    Publisher::new(recorder, &reference)
        .publish(true, reason::UNDECODABLE, "Offboard", &message)
        .await;
    Ok(true)
}

/// The resource's API, untyped.
fn json_api(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        namespace,
        &ApiResource::erase::<GenesysUserOffboarding>(&()),
    )
}

fn now() -> Value {
    serde_json::to_value(Time(Timestamp::now())).unwrap_or(Value::Null)
}

/// The server-side apply patch of the status that reports `message` (kstatus: Ready=False and
/// Stalled=True with reason `Undecodable`, Reconciling=False, the generation observed), or
/// `None` when the status says so already. A condition keeps its `lastTransitionTime` unless its
/// status flips.
fn status_patch(object: &DynamicObject, message: &str, now: &Value) -> Option<Value> {
    let generation = object.metadata.generation;
    let status = object.data.get("status");
    let existing = |type_: &str| {
        status
            .and_then(|s| s.get("conditions"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
    };
    let wanted = [
        (condition::READY, "False", reason::UNDECODABLE, message),
        (condition::RECONCILING, "False", reason::IDLE, ""),
        (condition::STALLED, "True", reason::UNDECODABLE, message),
    ];
    let mut changed = status
        .and_then(|s| s.get("observedGeneration"))
        .and_then(Value::as_i64)
        != generation;
    let conditions: Vec<Value> = wanted
        .iter()
        .map(|(type_, value, why, text)| {
            let old = existing(type_);
            let field = |key: &str| old.and_then(|c| c.get(key));
            let same_status = field("status").and_then(Value::as_str) == Some(*value);
            let same = same_status
                && field("reason").and_then(Value::as_str) == Some(*why)
                && field("message").and_then(Value::as_str).unwrap_or_default() == *text
                && field("observedGeneration").and_then(Value::as_i64) == generation;
            changed |= !same;
            let since = match field("lastTransitionTime") {
                Some(time) if same_status => time.clone(),
                _ => now.clone(),
            };
            json!({
                "type": type_,
                "status": value,
                "reason": why,
                "message": text,
                "observedGeneration": generation,
                "lastTransitionTime": since,
            })
        })
        .collect();
    changed.then(|| {
        json!({
            "apiVersion": GenesysUserOffboarding::api_version(&()),
            "kind": GenesysUserOffboarding::kind(&()),
            "status": {"observedGeneration": generation, "conditions": conditions},
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crd::GenesysUserOffboardingSpec;

    fn spec(effective_at: &str) -> Value {
        json!({"user": {"email": "jane.doe@example.com"}, "credentialsSecretRef": {"name": "c"},
               "region": "us_east_1", "effectiveAt": effective_at})
    }

    fn object(status: &Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
            "kind": "GenesysUserOffboarding",
            "metadata": {"name": "jane", "namespace": "hr", "uid": "u-1", "generation": 3},
            "spec": spec("9999-12-31T23:59:59Z"),
            "status": status,
        }))
        .unwrap()
    }

    fn condition_of<'a>(patch: &'a Value, type_: &str) -> &'a Value {
        patch["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == type_)
            .unwrap()
    }

    #[test]
    fn a_date_past_the_time_types_range_is_named_with_its_field_and_problem() {
        let why =
            Undecodable::decode::<GenesysUserOffboardingSpec>("spec", spec("9999-12-31T23:59:59Z"))
                .unwrap_err();

        assert_eq!(why.field, "spec.effectiveAt");
        assert!(why.problem.contains("overflowed"), "{why}");
        assert!(
            why.message(false)
                .starts_with("the operator cannot read spec.effectiveAt: ")
        );
    }

    #[test]
    fn a_whole_resource_names_the_field_from_its_root_and_a_missing_spec_is_named_too() {
        let json = serde_json::to_value(object(&json!({}))).unwrap();

        let why = Undecodable::decode::<GenesysUserOffboarding>("", json).unwrap_err();
        let missing = Undecodable::decode::<GenesysUserOffboardingSpec>("spec", json!({}));

        assert_eq!(why.field, "spec.effectiveAt");
        assert_eq!(missing.unwrap_err().field, "spec");
    }

    #[test]
    fn the_report_sets_the_kstatus_conditions_and_the_observed_generation() {
        let now = json!("2030-01-01T00:00:00Z");

        let patch = status_patch(&object(&json!({})), "cannot read", &now).unwrap();

        assert_eq!(patch["status"]["observedGeneration"], 3);
        let ready = condition_of(&patch, condition::READY);
        assert_eq!(
            (&ready["status"], &ready["reason"], &ready["message"]),
            (
                &json!("False"),
                &json!("Undecodable"),
                &json!("cannot read")
            )
        );
        assert_eq!(ready["observedGeneration"], 3);
        assert_eq!(ready["lastTransitionTime"], now);
        let stalled = condition_of(&patch, condition::STALLED);
        assert_eq!(
            (&stalled["status"], &stalled["reason"]),
            (&json!("True"), &json!("Undecodable"))
        );
        assert_eq!(
            condition_of(&patch, condition::RECONCILING)["status"],
            "False"
        );
    }

    #[test]
    fn a_status_that_reports_it_already_is_not_written_again() {
        let first = status_patch(
            &object(&json!({})),
            "cannot read",
            &json!("2030-01-01T00:00:00Z"),
        )
        .unwrap();

        let again = status_patch(
            &object(&first["status"]),
            "cannot read",
            &json!("2030-06-01T00:00:00Z"),
        );

        assert_eq!(again, None);
    }

    #[test]
    fn a_condition_keeps_its_transition_time_unless_its_status_flips() {
        let earlier = json!("2029-01-01T00:00:00Z");
        let status = json!({"observedGeneration": 2, "conditions": [
            {"type": "Ready", "status": "False", "reason": "Progressing", "message": "",
             "lastTransitionTime": earlier},
            {"type": "Stalled", "status": "False", "reason": "Idle", "message": "",
             "lastTransitionTime": earlier},
        ]});
        let now = json!("2030-01-01T00:00:00Z");

        let patch = status_patch(&object(&status), "cannot read", &now).unwrap();

        assert_eq!(
            condition_of(&patch, condition::READY)["lastTransitionTime"],
            earlier
        );
        assert_eq!(
            condition_of(&patch, condition::STALLED)["lastTransitionTime"],
            now
        );
    }
}
