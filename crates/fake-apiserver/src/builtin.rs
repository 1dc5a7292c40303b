//! What is special about each built-in kind: decoding through the `k8s-openapi` types (which
//! drops unknown fields and rejects wrong types, as the real server's Go structs do), Secret
//! `stringData` and size limit, Namespace defaults, Service defaults and validation, and
//! `CustomResourceDefinition` validation, defaults and status.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret, Service};
use k8s_openapi::api::events::v1::Event as EventV1;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::errors::{ApiError, Cause};
use super::registry::{Builtin, ResourceType};

/// The finalizer the real server puts on every CRD until its instances are gone.
pub(crate) const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Keys of `original` (not null) that are absent after a round trip: unknown fields.
fn dropped_fields(original: &Value, back: &Value, path: &str, out: &mut Vec<String>) {
    match (original, back) {
        (Value::Object(o), Value::Object(b)) => {
            for (key, value) in o {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match b.get(key) {
                    None if !value.is_null() => out.push(child),
                    Some(bv) => dropped_fields(value, bv, &child, out),
                    None => {}
                }
            }
        }
        (Value::Array(o), Value::Array(b)) => {
            for (i, (ov, bv)) in o.iter().zip(b).enumerate() {
                dropped_fields(ov, bv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(
    object: &Value,
    kind: &str,
    version: &str,
) -> Result<(Value, Vec<String>), ApiError> {
    let typed: T =
        serde_json::from_value(object.clone()).map_err(|e| decode_error(&e, kind, version))?;
    let back = serde_json::to_value(&typed)
        .map_err(|e| ApiError::internal(format!("cannot encode {kind}: {e}")))?;
    let mut unknown = Vec::new();
    dropped_fields(object, &back, "", &mut unknown);
    Ok((back, unknown))
}

fn decode_error(e: &serde_json::Error, kind: &str, version: &str) -> ApiError {
    let text = e.to_string();
    if let Some(rest) = text.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        return ApiError::invalid(
            "",
            kind,
            "",
            &[Cause::new("FieldValueRequired", field, "Required value")],
        );
    }
    ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: {text}"
    ))
}

/// Decodes a built-in object the way the real server does; returns it and its unknown fields.
pub(crate) fn decode(
    rt: &ResourceType,
    b: Builtin,
    object: &Value,
) -> Result<(Value, Vec<String>), ApiError> {
    let (kind, version) = (rt.kind.as_str(), rt.version.as_str());
    match b {
        Builtin::Namespace => round_trip::<Namespace>(object, kind, version),
        Builtin::Secret => round_trip::<Secret>(object, kind, version),
        Builtin::ConfigMap => round_trip::<ConfigMap>(object, kind, version),
        Builtin::Service => round_trip::<Service>(object, kind, version),
        Builtin::Event => round_trip::<Event>(object, kind, version),
        Builtin::EventV1 => round_trip::<EventV1>(object, kind, version),
        Builtin::Lease => round_trip::<Lease>(object, kind, version),
        Builtin::Crd => round_trip::<CustomResourceDefinition>(object, kind, version),
    }
}

/// Decodes `metadata` as `ObjectMeta` (for custom resources); returns it and unknown fields.
pub(crate) fn decode_metadata(object: &mut Value) -> Result<Vec<String>, ApiError> {
    let Some(meta) = object.get("metadata").cloned() else {
        return Ok(Vec::new());
    };
    let typed: ObjectMeta = serde_json::from_value(meta.clone())
        .map_err(|e| ApiError::bad_request(format!("cannot decode metadata: {e}")))?;
    let back = serde_json::to_value(&typed).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut unknown = Vec::new();
    dropped_fields(&meta, &back, "metadata", &mut unknown);
    if let Some(map) = object.as_object_mut() {
        map.insert("metadata".to_owned(), back);
    }
    Ok(unknown)
}

/// Defaults and conversions the real server applies to each write of a built-in kind.
pub(crate) fn prepare(b: Builtin, object: &mut Value, old: Option<&Value>, creating: bool) {
    match b {
        Builtin::Secret => {
            let Some(map) = object.as_object_mut() else {
                return;
            };
            if let Some(Value::Object(string_data)) = map.remove("stringData") {
                let data = map
                    .entry("data")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(data) = data {
                    for (k, v) in string_data {
                        let text = v.as_str().unwrap_or_default().to_owned();
                        let encoded = base64::Engine::encode(
                            &base64::engine::general_purpose::STANDARD,
                            text,
                        );
                        data.insert(k, json!(encoded));
                    }
                }
            }
            map.entry("type").or_insert_with(|| json!("Opaque"));
        }
        Builtin::Namespace if creating => {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if let Some(map) = object.as_object_mut() {
                let spec = map.entry("spec").or_insert_with(|| json!({}));
                if spec.get("finalizers").is_none() {
                    spec["finalizers"] = json!(["kubernetes"]);
                }
                map.insert("status".to_owned(), json!({"phase": "Active"}));
            }
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                labels["kubernetes.io/metadata.name"] = json!(name);
            }
        }
        Builtin::Namespace => {
            if let (Some(map), Some(old)) = (object.as_object_mut(), old)
                && let Some(status) = old.get("status")
            {
                map.entry("status").or_insert_with(|| status.clone());
            }
        }
        Builtin::Crd => prepare_crd(object, old, creating),
        Builtin::Service => prepare_service(object, old),
        Builtin::ConfigMap | Builtin::Event | Builtin::EventV1 | Builtin::Lease => {}
    }
}

fn prepare_crd(object: &mut Value, old: Option<&Value>, creating: bool) {
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        names
            .entry("singular")
            .or_insert_with(|| json!(kind.to_ascii_lowercase()));
        names
            .entry("listKind")
            .or_insert_with(|| json!(format!("{kind}List")));
    }
    spec.entry("conversion")
        .or_insert_with(|| json!({"strategy": "None"}));
    let names = spec.get("names").cloned().unwrap_or_else(|| json!({}));
    let storage: Vec<Value> = spec
        .get("versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v["storage"].as_bool() == Some(true))
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    let now = super::meta::now();
    let old_status = old.and_then(|o| o.get("status"));
    let condition = |ty: &str, reason: &str, message: &str| {
        let time = old_status
            .and_then(|s| s.get("conditions"))
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == ty && c["status"] == "True"))
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(now));
        json!({"type": ty, "status": "True", "reason": reason, "message": message, "lastTransitionTime": time})
    };
    let mut stored: Vec<Value> = old_status
        .and_then(|s| s.get("storedVersions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for v in storage {
        if !stored.contains(&v) {
            stored.push(v);
        }
    }
    let mut conditions = vec![
        condition("NamesAccepted", "NoConflicts", "no conflicts found"),
        condition(
            "Established",
            "InitialNamesAccepted",
            "the initial names have been accepted",
        ),
    ];
    let terminating = object.pointer("/metadata/deletionTimestamp").is_some();
    if terminating {
        conditions.push(condition(
            "Terminating",
            "InstanceDeletionInProgress",
            "CustomResource deletion is in progress",
        ));
    }
    if let Some(map) = object.as_object_mut() {
        map.insert(
            "status".to_owned(),
            json!({"acceptedNames": names, "conditions": conditions, "storedVersions": stored}),
        );
    }
    if creating && let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let finalizers = meta.entry("finalizers").or_insert_with(|| json!([]));
        if let Value::Array(list) = finalizers
            && !list.iter().any(|f| f == CRD_CLEANUP_FINALIZER)
        {
            list.push(json!(CRD_CLEANUP_FINALIZER));
        }
    }
}

/// Kind-specific validation of a built-in object (422 causes).
pub(crate) fn validate(b: Builtin, object: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    match b {
        Builtin::Crd => validate_crd(object, &mut causes),
        Builtin::Service => validate_service(object, old, &mut causes),
        Builtin::Secret | Builtin::ConfigMap => {
            let immutable = old
                .and_then(|o| o.get("immutable"))
                .and_then(Value::as_bool)
                == Some(true);
            if let Some(old) = old.filter(|_| immutable) {
                for field in ["data", "binaryData"] {
                    if object.get(field) != old.get(field) {
                        causes.push(Cause::new(
                            "FieldValueForbidden",
                            field,
                            "Forbidden: field is immutable when `immutable` is set",
                        ));
                    }
                }
                if object.get("immutable").and_then(Value::as_bool) != Some(true) {
                    causes.push(Cause::new(
                        "FieldValueForbidden",
                        "immutable",
                        "Forbidden: field is immutable when `immutable` is set",
                    ));
                }
            }
            if let Some(data) = object.get("data").and_then(Value::as_object) {
                for key in data.keys() {
                    if key.is_empty()
                        || !key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
                    {
                        causes.push(Cause::new(
                            "FieldValueInvalid",
                            &format!("data[{key}]"),
                            format!("Invalid value: {key:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"),
                        ));
                    }
                }
            }
        }
        Builtin::Namespace | Builtin::Event | Builtin::EventV1 | Builtin::Lease => {}
    }
    if b == Builtin::Secret && secret_size(object) > MAX_SECRET_SIZE {
        causes.push(Cause::new(
            "FieldValueTooLong",
            "data",
            format!("Too long: must have at most {MAX_SECRET_SIZE} bytes"),
        ));
    }
    causes
}

/// What a Secret's `data` may hold in all (decoded bytes), as etcd's request limit requires.
const MAX_SECRET_SIZE: usize = 1024 * 1024;

/// The decoded size of a Secret's `data` (after `stringData` was merged in).
fn secret_size(secret: &Value) -> usize {
    secret
        .get("data")
        .and_then(Value::as_object)
        .map_or(0, |data| {
            data.values()
                .filter_map(Value::as_str)
                .map(|v| {
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, v)
                        .map_or(v.len(), |bytes| bytes.len())
                })
                .sum()
        })
}

/// The Service types the real server knows.
const SERVICE_TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

fn service_type(service: &Value) -> &str {
    service
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

/// Whether a Service gets a cluster IP (every type but `ExternalName`).
pub(crate) fn service_needs_cluster_ip(service: &Value) -> bool {
    service_type(service) != "ExternalName"
}

/// The defaults the real server gives a Service, and the allocated values (cluster IPs) an
/// update that leaves them out keeps.
fn prepare_service(service: &mut Value, old: Option<&Value>) {
    let needs_ip = service_needs_cluster_ip(service);
    let ty = service_type(service).to_owned();
    let Some(spec) = service.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    spec.entry("type").or_insert_with(|| json!("ClusterIP"));
    spec.entry("sessionAffinity")
        .or_insert_with(|| json!("None"));
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.entry("protocol").or_insert_with(|| json!("TCP"));
            if let Some(number) = port.get("port").cloned() {
                port.entry("targetPort").or_insert(number);
            }
        }
    }
    if needs_ip {
        spec.entry("internalTrafficPolicy")
            .or_insert_with(|| json!("Cluster"));
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        spec.entry("externalTrafficPolicy")
            .or_insert_with(|| json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        spec.entry("allocateLoadBalancerNodePorts")
            .or_insert_with(|| json!(true));
    }
    if let Some(old_spec) = old
        .filter(|o| needs_ip && service_needs_cluster_ip(o))
        .and_then(|o| o.get("spec"))
    {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            let missing = spec
                .get(field)
                .is_none_or(|v| v.is_null() || v == "" || v.as_array().is_some_and(Vec::is_empty));
            if missing && let Some(value) = old_spec.get(field) {
                spec.insert(field.to_owned(), value.clone());
            }
        }
    }
    // On update, a changed `clusterIP` with unchanged `clusterIPs` changes the first of them,
    // and the other way round.
    if let Some(old_spec) = old.and_then(|o| o.get("spec")) {
        let primary_changed = spec.get("clusterIP") != old_spec.get("clusterIP");
        let list_changed = spec.get("clusterIPs") != old_spec.get("clusterIPs");
        if primary_changed && !list_changed {
            if let Some(ip) = spec.get("clusterIP").cloned()
                && let Some(first) = spec
                    .get_mut("clusterIPs")
                    .and_then(Value::as_array_mut)
                    .and_then(|ips| ips.first_mut())
            {
                *first = ip;
            }
        } else if list_changed
            && !primary_changed
            && let Some(first) = spec
                .get("clusterIPs")
                .and_then(Value::as_array)
                .and_then(|ips| ips.first())
                .cloned()
        {
            spec.insert("clusterIP".to_owned(), first);
        }
    }
    if let Some(map) = service.as_object_mut() {
        let status = map.entry("status").or_insert_with(|| json!({}));
        if let Some(status) = status.as_object_mut() {
            status.entry("loadBalancer").or_insert_with(|| json!({}));
        }
    }
}

/// Go's `%#v` of a `[]string`.
fn go_strings(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn validate_service(service: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let ty = service_type(service);
    if !SERVICE_TYPES.contains(&ty) {
        causes.push(Cause::new(
            "FieldValueNotSupported",
            "spec.type",
            format!("Unsupported value: {ty:?}: supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""),
        ));
    }
    let ports = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let headless = service.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
    if ty == "ExternalName" {
        if service
            .pointer("/spec/externalName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            causes.push(Cause::new(
                "FieldValueRequired",
                "spec.externalName",
                "Required value",
            ));
        }
    } else if ports.is_empty() && !headless {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.ports",
            "Required value",
        ));
    }
    for (i, port) in ports.iter().enumerate() {
        let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=65535).contains(&number) {
            causes.push(Cause::new(
                "FieldValueInvalid",
                &format!("spec.ports[{i}].port"),
                format!("Invalid value: {number}: must be between 1 and 65535, inclusive"),
            ));
        }
        let protocol = port
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP");
        if !["SCTP", "TCP", "UDP"].contains(&protocol) {
            causes.push(Cause::new(
                "FieldValueNotSupported",
                &format!("spec.ports[{i}].protocol"),
                format!(
                    "Unsupported value: {protocol:?}: supported values: \"SCTP\", \"TCP\", \"UDP\""
                ),
            ));
        }
    }
    if let Some(old) = old
        && service_needs_cluster_ip(service)
        && service_needs_cluster_ip(old)
    {
        let before = strings(old.pointer("/spec/clusterIPs"));
        let after = strings(service.pointer("/spec/clusterIPs"));
        if before.len() == after.len() {
            for (i, (b, a)) in before.iter().zip(&after).enumerate() {
                if b != a {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        &format!("spec.clusterIPs[{i}]"),
                        format!(
                            "Invalid value: {}: may not change once set",
                            go_strings(&after)
                        ),
                    ));
                }
            }
        }
    }
}

fn validate_crd(crd: &Value, causes: &mut Vec<Cause>) {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec
        .pointer("/names/plural")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = spec
        .pointer("/names/kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if group.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.group",
            "Required value",
        ));
    } else if !group.contains('.') {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.group",
            format!("Invalid value: {group:?}: should be a domain with at least one dot"),
        ));
    }
    if plural.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.names.plural",
            "Required value",
        ));
    }
    if kind.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.names.kind",
            "Required value",
        ));
    }
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    match spec["scope"].as_str() {
        Some("Namespaced" | "Cluster") => {}
        Some(other) => causes.push(Cause::new(
            "FieldValueNotSupported",
            "spec.scope",
            format!("Unsupported value: {other:?}: supported values: \"Cluster\", \"Namespaced\""),
        )),
        None => causes.push(Cause::new(
            "FieldValueRequired",
            "spec.scope",
            "Required value",
        )),
    }
    validate_crd_versions(spec, causes);
}

fn validate_crd_versions(spec: &Value, causes: &mut Vec<Cause>) {
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.versions",
            "Invalid value: \"null\": must have exactly one version marked as storage version",
        ));
        return;
    }
    let storage = versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .count();
    if storage != 1 {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.versions",
            "Invalid value: []apiextensions.CustomResourceDefinitionVersion: must have exactly one version marked as storage version",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if v["name"].as_str().unwrap_or_default().is_empty() {
            causes.push(Cause::new(
                "FieldValueRequired",
                &format!("spec.versions[{i}].name"),
                "Required value",
            ));
        }
        match v.pointer("/schema/openAPIV3Schema") {
            None => causes.push(Cause::new(
                "FieldValueRequired",
                &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                "Required value: schemas are required",
            )),
            Some(s) if s["type"].as_str() != Some("object") => causes.push(Cause::new(
                "FieldValueInvalid",
                &format!("spec.versions[{i}].schema.openAPIV3Schema.type"),
                "Invalid value: \"\": must be object at the root",
            )),
            Some(_) => {}
        }
    }
}
