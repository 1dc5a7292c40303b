//! How response bodies are written, key order included. The real server encodes built-in kinds
//! from Go structs, so their keys come out in the struct's field order (`kind`, `apiVersion`,
//! `metadata`, then the rest as the type declares them), while custom resources are
//! `map[string]interface{}` and come out with their keys sorted. Objects here are
//! `serde_json::Value`s (sorted maps); this module writes them back in the real order: a
//! [`Shape`] per Go type lists its fields, and anything a shape does not name (or a custom
//! resource) is written sorted.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

/// The layout of a Go type as `encoding/json` writes it.
pub(crate) enum Shape {
    /// Written as is (maps sorted, as Go writes `map[string]...`).
    Leaf,
    /// A struct: these fields first, in this order, each with its own shape.
    Struct(&'static [(&'static str, &'static Shape)]),
    /// A slice of one shape.
    List(&'static Shape),
    /// A map with sorted keys whose values have one shape.
    Map(&'static Shape),
    /// An embedded object (`runtime.Object`, `RawExtension`): shaped by its own
    /// `apiVersion` and `kind`.
    Object,
}

use Shape::{Leaf, List, Map, Object, Struct};

static LEAF: Shape = Leaf;
static OBJECT: Shape = Object;

// ---------------------------------------------------------------------------------------------
// meta.k8s.io/v1

static OWNER_REFERENCE: Shape = Struct(&[
    ("apiVersion", &LEAF),
    ("kind", &LEAF),
    ("name", &LEAF),
    ("uid", &LEAF),
    ("controller", &LEAF),
    ("blockOwnerDeletion", &LEAF),
]);

static MANAGED_FIELDS_ENTRY: Shape = Struct(&[
    ("manager", &LEAF),
    ("operation", &LEAF),
    ("apiVersion", &LEAF),
    ("time", &LEAF),
    ("fieldsType", &LEAF),
    ("fieldsV1", &LEAF),
    ("subresource", &LEAF),
]);

static OBJECT_META: Shape = Struct(&[
    ("name", &LEAF),
    ("generateName", &LEAF),
    ("namespace", &LEAF),
    ("selfLink", &LEAF),
    ("uid", &LEAF),
    ("resourceVersion", &LEAF),
    ("generation", &LEAF),
    ("creationTimestamp", &LEAF),
    ("deletionTimestamp", &LEAF),
    ("deletionGracePeriodSeconds", &LEAF),
    ("labels", &LEAF),
    ("annotations", &LEAF),
    ("ownerReferences", &List(&OWNER_REFERENCE)),
    ("finalizers", &LEAF),
    ("managedFields", &List(&MANAGED_FIELDS_ENTRY)),
]);

static LIST_META: Shape = Struct(&[
    ("selfLink", &LEAF),
    ("resourceVersion", &LEAF),
    ("continue", &LEAF),
    ("remainingItemCount", &LEAF),
]);

static STATUS_CAUSE: Shape = Struct(&[("reason", &LEAF), ("message", &LEAF), ("field", &LEAF)]);

static STATUS_DETAILS: Shape = Struct(&[
    ("name", &LEAF),
    ("group", &LEAF),
    ("kind", &LEAF),
    ("uid", &LEAF),
    ("causes", &List(&STATUS_CAUSE)),
    ("retryAfterSeconds", &LEAF),
]);

static STATUS: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &LIST_META),
    ("status", &LEAF),
    ("message", &LEAF),
    ("reason", &LEAF),
    ("details", &STATUS_DETAILS),
    ("code", &LEAF),
]);

static CONDITION: Shape = Struct(&[
    ("type", &LEAF),
    ("status", &LEAF),
    ("observedGeneration", &LEAF),
    ("lastTransitionTime", &LEAF),
    ("reason", &LEAF),
    ("message", &LEAF),
]);

static PARTIAL_OBJECT_METADATA: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &OBJECT_META),
]);

static PARTIAL_OBJECT_METADATA_LIST: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &LIST_META),
    ("items", &List(&PARTIAL_OBJECT_METADATA)),
]);

static TABLE_COLUMN: Shape = Struct(&[
    ("name", &LEAF),
    ("type", &LEAF),
    ("format", &LEAF),
    ("description", &LEAF),
    ("priority", &LEAF),
]);

static TABLE_ROW: Shape = Struct(&[("cells", &LEAF), ("conditions", &LEAF), ("object", &OBJECT)]);

static TABLE: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &LIST_META),
    ("columnDefinitions", &List(&TABLE_COLUMN)),
    ("rows", &List(&TABLE_ROW)),
]);

static WATCH_EVENT: Shape = Struct(&[("type", &LEAF), ("object", &OBJECT)]);

// ---------------------------------------------------------------------------------------------
// Discovery

static GROUP_VERSION_KIND: Shape = Struct(&[("group", &LEAF), ("version", &LEAF), ("kind", &LEAF)]);

static API_RESOURCE: Shape = Struct(&[
    ("name", &LEAF),
    ("singularName", &LEAF),
    ("namespaced", &LEAF),
    ("group", &LEAF),
    ("version", &LEAF),
    ("kind", &LEAF),
    ("verbs", &LEAF),
    ("shortNames", &LEAF),
    ("categories", &LEAF),
    ("storageVersionHash", &LEAF),
]);

static API_RESOURCE_LIST: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("groupVersion", &LEAF),
    ("resources", &List(&API_RESOURCE)),
]);

static GROUP_VERSION_FOR_DISCOVERY: Shape = Struct(&[("groupVersion", &LEAF), ("version", &LEAF)]);

static SERVER_ADDRESS: Shape = Struct(&[("clientCIDR", &LEAF), ("serverAddress", &LEAF)]);

static API_GROUP: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("name", &LEAF),
    ("versions", &List(&GROUP_VERSION_FOR_DISCOVERY)),
    ("preferredVersion", &GROUP_VERSION_FOR_DISCOVERY),
    ("serverAddressByClientCIDRs", &List(&SERVER_ADDRESS)),
]);

static API_GROUP_LIST: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("groups", &List(&API_GROUP)),
]);

static API_VERSIONS: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("versions", &LEAF),
    ("serverAddressByClientCIDRs", &List(&SERVER_ADDRESS)),
]);

static API_SUBRESOURCE_DISCOVERY: Shape = Struct(&[
    ("subresource", &LEAF),
    ("responseKind", &GROUP_VERSION_KIND),
    ("acceptedTypes", &List(&GROUP_VERSION_KIND)),
    ("verbs", &LEAF),
]);

static API_RESOURCE_DISCOVERY: Shape = Struct(&[
    ("resource", &LEAF),
    ("responseKind", &GROUP_VERSION_KIND),
    ("scope", &LEAF),
    ("singularResource", &LEAF),
    ("verbs", &LEAF),
    ("shortNames", &LEAF),
    ("categories", &LEAF),
    ("subresources", &List(&API_SUBRESOURCE_DISCOVERY)),
]);

static API_VERSION_DISCOVERY: Shape = Struct(&[
    ("version", &LEAF),
    ("resources", &List(&API_RESOURCE_DISCOVERY)),
    ("freshness", &LEAF),
]);

static API_GROUP_DISCOVERY: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &OBJECT_META),
    ("versions", &List(&API_VERSION_DISCOVERY)),
]);

static API_GROUP_DISCOVERY_LIST: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &LIST_META),
    ("items", &List(&API_GROUP_DISCOVERY)),
]);

/// `GET /version` (`version.Info`).
pub(crate) static VERSION_INFO: Shape = Struct(&[
    ("major", &LEAF),
    ("minor", &LEAF),
    ("emulationMajor", &LEAF),
    ("emulationMinor", &LEAF),
    ("minCompatibilityMajor", &LEAF),
    ("minCompatibilityMinor", &LEAF),
    ("gitVersion", &LEAF),
    ("gitCommit", &LEAF),
    ("gitTreeState", &LEAF),
    ("buildDate", &LEAF),
    ("goVersion", &LEAF),
    ("compiler", &LEAF),
    ("platform", &LEAF),
]);

// ---------------------------------------------------------------------------------------------
// core/v1

static NAMESPACE_CONDITION: Shape = Struct(&[
    ("type", &LEAF),
    ("status", &LEAF),
    ("lastTransitionTime", &LEAF),
    ("reason", &LEAF),
    ("message", &LEAF),
]);

static NAMESPACE: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &OBJECT_META),
    ("spec", &Struct(&[("finalizers", &LEAF)])),
    (
        "status",
        &Struct(&[
            ("phase", &LEAF),
            ("conditions", &List(&NAMESPACE_CONDITION)),
        ]),
    ),
]);

static SECRET: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &OBJECT_META),
    ("immutable", &LEAF),
    ("data", &LEAF),
    ("stringData", &LEAF),
    ("type", &LEAF),
]);

static CONFIG_MAP: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &OBJECT_META),
    ("immutable", &LEAF),
    ("data", &LEAF),
    ("binaryData", &LEAF),
]);

static OBJECT_REFERENCE: Shape = Struct(&[
    ("kind", &LEAF),
    ("namespace", &LEAF),
    ("name", &LEAF),
    ("uid", &LEAF),
    ("apiVersion", &LEAF),
    ("resourceVersion", &LEAF),
    ("fieldPath", &LEAF),
]);

static EVENT_SOURCE: Shape = Struct(&[("component", &LEAF), ("host", &LEAF)]);

static EVENT_SERIES: Shape = Struct(&[("count", &LEAF), ("lastObservedTime", &LEAF)]);

static CORE_EVENT: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &OBJECT_META),
    ("involvedObject", &OBJECT_REFERENCE),
    ("reason", &LEAF),
    ("message", &LEAF),
    ("source", &EVENT_SOURCE),
    ("firstTimestamp", &LEAF),
    ("lastTimestamp", &LEAF),
    ("count", &LEAF),
    ("type", &LEAF),
    ("eventTime", &LEAF),
    ("series", &EVENT_SERIES),
    ("action", &LEAF),
    ("related", &OBJECT_REFERENCE),
    ("reportingComponent", &LEAF),
    ("reportingInstance", &LEAF),
]);

static SERVICE_PORT: Shape = Struct(&[
    ("name", &LEAF),
    ("protocol", &LEAF),
    ("appProtocol", &LEAF),
    ("port", &LEAF),
    ("targetPort", &LEAF),
    ("nodePort", &LEAF),
]);

static SERVICE_SPEC: Shape = Struct(&[
    ("ports", &List(&SERVICE_PORT)),
    ("selector", &LEAF),
    ("clusterIP", &LEAF),
    ("clusterIPs", &LEAF),
    ("type", &LEAF),
    ("externalIPs", &LEAF),
    ("sessionAffinity", &LEAF),
    ("loadBalancerIP", &LEAF),
    ("loadBalancerSourceRanges", &LEAF),
    ("externalName", &LEAF),
    ("externalTrafficPolicy", &LEAF),
    ("healthCheckNodePort", &LEAF),
    ("publishNotReadyAddresses", &LEAF),
    (
        "sessionAffinityConfig",
        &Struct(&[("clientIP", &Struct(&[("timeoutSeconds", &LEAF)]))]),
    ),
    ("ipFamilies", &LEAF),
    ("ipFamilyPolicy", &LEAF),
    ("allocateLoadBalancerNodePorts", &LEAF),
    ("loadBalancerClass", &LEAF),
    ("internalTrafficPolicy", &LEAF),
    ("trafficDistribution", &LEAF),
]);

static PORT_STATUS: Shape = Struct(&[("port", &LEAF), ("protocol", &LEAF), ("error", &LEAF)]);

static LOAD_BALANCER_INGRESS: Shape = Struct(&[
    ("ip", &LEAF),
    ("hostname", &LEAF),
    ("ipMode", &LEAF),
    ("ports", &List(&PORT_STATUS)),
]);

static SERVICE: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &OBJECT_META),
    ("spec", &SERVICE_SPEC),
    (
        "status",
        &Struct(&[
            (
                "loadBalancer",
                &Struct(&[("ingress", &List(&LOAD_BALANCER_INGRESS))]),
            ),
            ("conditions", &List(&CONDITION)),
        ]),
    ),
]);

// ---------------------------------------------------------------------------------------------
// events.k8s.io/v1, coordination.k8s.io/v1, autoscaling/v1

const EVENT_V1: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &OBJECT_META),
    ("eventTime", &LEAF),
    ("series", &EVENT_SERIES),
    ("reportingController", &LEAF),
    ("reportingInstance", &LEAF),
    ("action", &LEAF),
    ("reason", &LEAF),
    ("regarding", &OBJECT_REFERENCE),
    ("related", &OBJECT_REFERENCE),
    ("note", &LEAF),
    ("type", &LEAF),
    ("deprecatedSource", &EVENT_SOURCE),
    ("deprecatedFirstTimestamp", &LEAF),
    ("deprecatedLastTimestamp", &LEAF),
    ("deprecatedCount", &LEAF),
]);

static LEASE: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &OBJECT_META),
    (
        "spec",
        &Struct(&[
            ("holderIdentity", &LEAF),
            ("leaseDurationSeconds", &LEAF),
            ("acquireTime", &LEAF),
            ("renewTime", &LEAF),
            ("leaseTransitions", &LEAF),
            ("strategy", &LEAF),
            ("preferredHolder", &LEAF),
        ]),
    ),
]);

static SCALE: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &OBJECT_META),
    ("spec", &Struct(&[("replicas", &LEAF)])),
    (
        "status",
        &Struct(&[("replicas", &LEAF), ("selector", &LEAF)]),
    ),
]);

// ---------------------------------------------------------------------------------------------
// apiextensions.k8s.io/v1

static VALIDATION_RULE: Shape = Struct(&[
    ("rule", &LEAF),
    ("message", &LEAF),
    ("messageExpression", &LEAF),
    ("reason", &LEAF),
    ("fieldPath", &LEAF),
    ("optionalOldSelf", &LEAF),
]);

static JSON_SCHEMA_PROPS: Shape = Struct(&[
    ("id", &LEAF),
    ("$schema", &LEAF),
    ("$ref", &LEAF),
    ("description", &LEAF),
    ("type", &LEAF),
    ("format", &LEAF),
    ("title", &LEAF),
    ("default", &LEAF),
    ("maximum", &LEAF),
    ("exclusiveMaximum", &LEAF),
    ("minimum", &LEAF),
    ("exclusiveMinimum", &LEAF),
    ("maxLength", &LEAF),
    ("minLength", &LEAF),
    ("pattern", &LEAF),
    ("maxItems", &LEAF),
    ("minItems", &LEAF),
    ("uniqueItems", &LEAF),
    ("multipleOf", &LEAF),
    ("enum", &LEAF),
    ("maxProperties", &LEAF),
    ("minProperties", &LEAF),
    ("required", &LEAF),
    ("items", &JSON_SCHEMA_PROPS),
    ("allOf", &List(&JSON_SCHEMA_PROPS)),
    ("oneOf", &List(&JSON_SCHEMA_PROPS)),
    ("anyOf", &List(&JSON_SCHEMA_PROPS)),
    ("not", &JSON_SCHEMA_PROPS),
    ("properties", &Map(&JSON_SCHEMA_PROPS)),
    ("additionalProperties", &JSON_SCHEMA_PROPS),
    ("patternProperties", &Map(&JSON_SCHEMA_PROPS)),
    ("dependencies", &LEAF),
    ("additionalItems", &JSON_SCHEMA_PROPS),
    ("definitions", &Map(&JSON_SCHEMA_PROPS)),
    (
        "externalDocs",
        &Struct(&[("description", &LEAF), ("url", &LEAF)]),
    ),
    ("example", &LEAF),
    ("nullable", &LEAF),
    ("x-kubernetes-preserve-unknown-fields", &LEAF),
    ("x-kubernetes-embedded-resource", &LEAF),
    ("x-kubernetes-int-or-string", &LEAF),
    ("x-kubernetes-list-map-keys", &LEAF),
    ("x-kubernetes-list-type", &LEAF),
    ("x-kubernetes-map-type", &LEAF),
    ("x-kubernetes-validations", &List(&VALIDATION_RULE)),
]);

static CRD_NAMES: Shape = Struct(&[
    ("plural", &LEAF),
    ("singular", &LEAF),
    ("shortNames", &LEAF),
    ("kind", &LEAF),
    ("listKind", &LEAF),
    ("categories", &LEAF),
]);

static CRD_COLUMN: Shape = Struct(&[
    ("name", &LEAF),
    ("type", &LEAF),
    ("format", &LEAF),
    ("description", &LEAF),
    ("priority", &LEAF),
    ("jsonPath", &LEAF),
]);

static CRD_VERSION: Shape = Struct(&[
    ("name", &LEAF),
    ("served", &LEAF),
    ("storage", &LEAF),
    ("deprecated", &LEAF),
    ("deprecationWarning", &LEAF),
    (
        "schema",
        &Struct(&[("openAPIV3Schema", &JSON_SCHEMA_PROPS)]),
    ),
    (
        "subresources",
        &Struct(&[
            ("status", &LEAF),
            (
                "scale",
                &Struct(&[
                    ("specReplicasPath", &LEAF),
                    ("statusReplicasPath", &LEAF),
                    ("labelSelectorPath", &LEAF),
                ]),
            ),
        ]),
    ),
    ("additionalPrinterColumns", &List(&CRD_COLUMN)),
    ("selectableFields", &LEAF),
]);

static CRD_CONVERSION: Shape = Struct(&[
    ("strategy", &LEAF),
    (
        "webhook",
        &Struct(&[
            (
                "clientConfig",
                &Struct(&[
                    ("url", &LEAF),
                    (
                        "service",
                        &Struct(&[
                            ("namespace", &LEAF),
                            ("name", &LEAF),
                            ("path", &LEAF),
                            ("port", &LEAF),
                        ]),
                    ),
                    ("caBundle", &LEAF),
                ]),
            ),
            ("conversionReviewVersions", &LEAF),
        ]),
    ),
]);

static CRD: Shape = Struct(&[
    ("kind", &LEAF),
    ("apiVersion", &LEAF),
    ("metadata", &OBJECT_META),
    (
        "spec",
        &Struct(&[
            ("group", &LEAF),
            ("names", &CRD_NAMES),
            ("scope", &LEAF),
            ("versions", &List(&CRD_VERSION)),
            ("conversion", &CRD_CONVERSION),
            ("preserveUnknownFields", &LEAF),
        ]),
    ),
    (
        "status",
        &Struct(&[
            ("conditions", &List(&NAMESPACE_CONDITION)),
            ("acceptedNames", &CRD_NAMES),
            ("storedVersions", &LEAF),
        ]),
    ),
]);

// ---------------------------------------------------------------------------------------------
// Picking a shape

/// The shape of a single object of a built-in kind (`None` for custom resources).
fn object_shape(api_version: &str, kind: &str) -> Option<&'static Shape> {
    let shape = match (api_version, kind) {
        ("v1", "Namespace") => &NAMESPACE,
        ("v1", "Secret") => &SECRET,
        ("v1", "ConfigMap") => &CONFIG_MAP,
        ("v1", "Event") => &CORE_EVENT,
        ("v1", "Service") => &SERVICE,
        ("v1", "Status") => &STATUS,
        ("v1", "APIResourceList") => &API_RESOURCE_LIST,
        ("v1", "APIGroupList") => &API_GROUP_LIST,
        ("v1", "APIGroup") => &API_GROUP,
        ("events.k8s.io/v1", "Event") => &EVENT_V1,
        ("coordination.k8s.io/v1", "Lease") => &LEASE,
        ("autoscaling/v1", "Scale") => &SCALE,
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => &CRD,
        ("meta.k8s.io/v1" | "meta.k8s.io/v1beta1", "PartialObjectMetadata") => {
            &PARTIAL_OBJECT_METADATA
        }
        ("meta.k8s.io/v1" | "meta.k8s.io/v1beta1", "PartialObjectMetadataList") => {
            &PARTIAL_OBJECT_METADATA_LIST
        }
        ("meta.k8s.io/v1" | "meta.k8s.io/v1beta1", "Table") => &TABLE,
        ("apidiscovery.k8s.io/v2", "APIGroupDiscoveryList") => &API_GROUP_DISCOVERY_LIST,
        (_, "APIVersions") => &API_VERSIONS,
        _ => return None,
    };
    Some(shape)
}

/// Serializes `value` with `shape`.
struct Shaped<'a> {
    value: &'a Value,
    shape: &'a Shape,
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Writes a built-in list (`SecretList`, ...) in the order of its Go type.
fn write_list<S: Serializer>(value: &Value, serializer: S) -> Result<S::Ok, S::Error> {
    const ORDER: [&str; 4] = ["kind", "apiVersion", "metadata", "items"];
    let Some(map) = value.as_object() else {
        return value.serialize(serializer);
    };
    let mut out = serializer.serialize_map(Some(map.len()))?;
    for key in ORDER {
        if let Some(v) = map.get(key) {
            match key {
                "metadata" => out.serialize_entry(
                    key,
                    &Shaped {
                        value: v,
                        shape: &LIST_META,
                    },
                )?,
                "items" => out.serialize_entry(
                    key,
                    &Shaped {
                        value: v,
                        shape: &List(&OBJECT),
                    },
                )?,
                _ => out.serialize_entry(key, v)?,
            }
        }
    }
    for (key, v) in map.iter().filter(|(k, _)| !ORDER.contains(&k.as_str())) {
        out.serialize_entry(key, v)?;
    }
    out.end()
}

impl Serialize for Shaped<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (self.shape, self.value) {
            (Struct(fields), Value::Object(map)) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (key, shape) in *fields {
                    if let Some(v) = map.get(*key) {
                        out.serialize_entry(key, &Shaped { value: v, shape })?;
                    }
                }
                for (key, v) in map
                    .iter()
                    .filter(|(k, _)| !fields.iter().any(|(name, _)| name == k))
                {
                    out.serialize_entry(key, v)?;
                }
                out.end()
            }
            (List(item), Value::Array(items)) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for v in items {
                    out.serialize_element(&Shaped {
                        value: v,
                        shape: item,
                    })?;
                }
                out.end()
            }
            (Map(item), Value::Object(map)) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (key, v) in map {
                    out.serialize_entry(
                        key,
                        &Shaped {
                            value: v,
                            shape: item,
                        },
                    )?;
                }
                out.end()
            }
            (Object, Value::Object(_)) => {
                let (api_version, kind) =
                    (text(self.value, "apiVersion"), text(self.value, "kind"));
                if let Some(shape) = object_shape(api_version, kind) {
                    return Shaped {
                        value: self.value,
                        shape,
                    }
                    .serialize(serializer);
                }
                let is_builtin_list = kind
                    .strip_suffix("List")
                    .and_then(|item| object_shape(api_version, item))
                    .is_some()
                    && self.value.get("items").is_some();
                if is_builtin_list {
                    write_list(self.value, serializer)
                } else {
                    self.value.serialize(serializer)
                }
            }
            _ => self.value.serialize(serializer),
        }
    }
}

/// A response body as the real server writes it: built-in kinds (and their lists, `Status`,
/// `Table`, `PartialObjectMetadata`, discovery documents) in Go field order, custom resources
/// with sorted keys.
pub(crate) fn to_vec(body: &Value) -> Vec<u8> {
    to_vec_as(body, &OBJECT)
}

/// A body whose Go type has no `kind` to recognise it by (`/version`).
pub(crate) fn to_vec_as(body: &Value, shape: &Shape) -> Vec<u8> {
    serde_json::to_vec(&Shaped { value: body, shape }).unwrap_or_default()
}

/// One line of a watch stream (`{"type": ..., "object": ...}` and a newline).
pub(crate) fn watch_line(event_type: &str, object: &Value) -> Vec<u8> {
    let event = serde_json::json!({"type": event_type, "object": object});
    let mut line = to_vec_as(&event, &WATCH_EVENT);
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(bytes: &[u8]) -> String {
        // The top-level keys in the order they were written.
        let text = String::from_utf8_lossy(bytes).into_owned();
        let value: Value = serde_json::from_str(&text).unwrap_or_default();
        let mut found: Vec<(usize, String)> = value
            .as_object()
            .map(|m| {
                m.keys()
                    .filter_map(|k| text.find(&format!("\"{k}\":")).map(|i| (i, k.clone())))
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found
            .into_iter()
            .map(|(_, k)| k)
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn built_in_kinds_are_written_in_go_field_order() {
        let secret = json!({"apiVersion": "v1", "data": {"b": "", "a": ""}, "kind": "Secret",
            "metadata": {"uid": "u", "name": "n", "creationTimestamp": "t", "namespace": "ns"},
            "type": "Opaque"});
        let written = String::from_utf8(to_vec(&secret)).unwrap_or_default();
        assert_eq!(
            keys(written.as_bytes()),
            "kind,apiVersion,metadata,data,type"
        );
        assert!(
            written.contains(r#"{"name":"n","namespace":"ns","uid":"u","creationTimestamp":"t"}"#),
            "{written}"
        );
        assert!(written.contains(r#"{"a":"","b":""}"#), "{written}");
    }

    #[test]
    fn custom_resources_are_written_sorted_and_lists_follow_their_items() {
        let custom = json!({"kind": "Thing", "apiVersion": "example.com/v1", "metadata": {"name": "x"}, "spec": {}});
        assert_eq!(keys(&to_vec(&custom)), "apiVersion,kind,metadata,spec");
        let list = json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
            "items": [{"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "n"}}]});
        let written = String::from_utf8(to_vec(&list)).unwrap_or_default();
        assert_eq!(keys(written.as_bytes()), "kind,apiVersion,metadata,items");
        assert!(
            written.contains(r#"[{"kind":"Secret","apiVersion":"v1""#),
            "{written}"
        );
        let custom_list = json!({"kind": "ThingList", "apiVersion": "example.com/v1", "metadata": {}, "items": []});
        assert_eq!(
            keys(&to_vec(&custom_list)),
            "apiVersion,items,kind,metadata"
        );
    }
}
