//! Discovery in both forms the real server serves. The plain one: `/api`, `/apis`,
//! `/apis/{group}`, `/api/v1` and `/apis/{group}/{version}` (`APIResourceList` with short names,
//! categories, verbs, singular names and the `status` and `scale` subresources). The aggregated
//! one (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`, every resource of every group in one
//! document) on `/api` and `/apis` for clients that ask for it in `Accept`, as kubectl does
//! first. Also `/version`, and `/openapi/v3` documents
//! (paths with the `fieldValidation`/`dryRun` parameters kubectl checks for, and schemas from
//! the CRDs and from `k8s-openapi`), so that `kubectl apply` validates on the server side and
//! `kubectl explain` works.

use std::hash::{Hash, Hasher};

use serde_json::{Map, Value, json};

use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret, Service};
use k8s_openapi::api::events::v1::Event as EventV1;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::registry::{Builtin, Flavor, Registry, ResourceType, gv_string};

/// The Kubernetes version this server claims to be.
pub(crate) const MAJOR: &str = "1";
pub(crate) const MINOR: &str = "34";

/// The oldest minor version this one stays compatible with (one before it).
const MIN_COMPATIBILITY_MINOR: &str = "33";

/// `GET /version` (a 1.34 server also reports its emulated and minimum compatible versions).
pub(crate) fn version() -> Value {
    json!({
        "major": MAJOR,
        "minor": MINOR,
        "emulationMajor": MAJOR,
        "emulationMinor": MINOR,
        "minCompatibilityMajor": MAJOR,
        "minCompatibilityMinor": MIN_COMPATIBILITY_MINOR,
        "gitVersion": format!("v{MAJOR}.{MINOR}.0-fake-apiserver"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `GET /api`.
pub(crate) fn api_versions(host: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    })
}

fn group_entry(name: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": gv_string(name, v), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or_else(|| json!({})),
    })
}

/// `GET /apis`.
pub(crate) fn api_group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .iter()
        .map(|(name, versions)| group_entry(name, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// The `APIGroupDiscovery` of a group: its versions, preferred first, each with its resources.
fn group_discovery(registry: &Registry, name: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|version| {
            let resources: Vec<Value> = registry
                .resources_in(name, version)
                .iter()
                .map(|t| t.aggregated_entry())
                .collect();
            json!({"version": version, "resources": resources, "freshness": "Current"})
        })
        .collect();
    // Go's zero `metav1.Time` is written as null; the core group's name is empty and omitted.
    let metadata = if name.is_empty() {
        json!({"creationTimestamp": null})
    } else {
        json!({"name": name, "creationTimestamp": null})
    };
    json!({"metadata": metadata, "versions": versions})
}

fn group_discovery_list(items: &[Value]) -> Value {
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

/// `GET /api` in the aggregated form: the core group alone.
pub(crate) fn aggregated_core(registry: &Registry) -> Value {
    group_discovery_list(&[group_discovery(registry, "", &["v1".to_owned()])])
}

/// `GET /apis` in the aggregated form: every other group.
pub(crate) fn aggregated_groups(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .iter()
        .map(|(name, versions)| group_discovery(registry, name, versions))
        .collect();
    group_discovery_list(&groups)
}

/// `GET /apis/{group}`.
pub(crate) fn api_group(registry: &Registry, group: &str) -> Option<Value> {
    registry
        .groups()
        .iter()
        .find(|(name, _)| name == group)
        .map(|(name, versions)| {
            let mut entry = group_entry(name, versions);
            if let Some(map) = entry.as_object_mut() {
                map.insert("kind".to_owned(), json!("APIGroup"));
                map.insert("apiVersion".to_owned(), json!("v1"));
            }
            entry
        })
}

/// `GET /api/v1` or `GET /apis/{group}/{version}`.
pub(crate) fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let types = registry.resources_in(group, version);
    if types.is_empty() {
        return None;
    }
    let resources: Vec<Value> = types.iter().flat_map(|t| t.discovery_entries()).collect();
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv_string(group, version),
        "resources": resources,
    }))
}

fn url_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The hash the aggregated discovery `ETag` carries.
pub(crate) fn hash_of_bytes(bytes: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("{:016X}", hasher.finish())
}

fn hash_of(value: &Value) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.to_string().hash(&mut hasher);
    format!("{:016X}", hasher.finish())
}

/// `GET /openapi/v3`: where each group version's document is.
pub(crate) fn openapi_v3_root(registry: &Registry) -> Value {
    let mut paths = Map::new();
    let mut gvs: Vec<(String, String)> = vec![(String::new(), "v1".to_owned())];
    for (group, versions) in registry.groups() {
        gvs.extend(versions.into_iter().map(|v| (group.clone(), v)));
    }
    for (group, version) in gvs {
        if let Some(doc) = openapi_v3_document(registry, &group, &version) {
            let prefix = url_prefix(&group, &version);
            paths.insert(
                prefix.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{prefix}?hash={}", hash_of(&doc))}),
            );
        }
    }
    json!({"paths": paths})
}

fn definition_name(rt: &ResourceType) -> String {
    match rt.flavor {
        Flavor::Builtin(Builtin::Namespace) => "io.k8s.api.core.v1.Namespace".to_owned(),
        Flavor::Builtin(Builtin::Secret) => "io.k8s.api.core.v1.Secret".to_owned(),
        Flavor::Builtin(Builtin::ConfigMap) => "io.k8s.api.core.v1.ConfigMap".to_owned(),
        Flavor::Builtin(Builtin::Service) => "io.k8s.api.core.v1.Service".to_owned(),
        Flavor::Builtin(Builtin::Event) => "io.k8s.api.core.v1.Event".to_owned(),
        Flavor::Builtin(Builtin::EventV1) => "io.k8s.api.events.v1.Event".to_owned(),
        Flavor::Builtin(Builtin::Lease) => "io.k8s.api.coordination.v1.Lease".to_owned(),
        Flavor::Builtin(Builtin::Crd) => {
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
                .to_owned()
        }
        Flavor::Custom(_) => {
            let reversed: Vec<&str> = rt.group.split('.').rev().collect();
            format!("{}.{}.{}", reversed.join("."), rt.version, rt.kind)
        }
    }
}

fn parameter(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(rt: &ResourceType, action: &str, reference: &str, patch_types: &[&str]) -> Value {
    let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
    let mut parameters = vec![parameter(
        "pretty",
        "If 'true', then the output is pretty printed.",
    )];
    if matches!(action, "post" | "put" | "patch") {
        parameters.push(parameter(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ));
        parameters.push(parameter("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."));
        parameters.push(parameter("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict."));
    }
    if action == "patch" {
        parameters.push(json!({"name": "force", "in": "query", "description": "Force is going to \"force\" Apply requests.", "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    if matches!(action, "delete" | "deletecollection") {
        parameters.push(parameter(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ));
    }
    let schema = json!({"$ref": format!("#/components/schemas/{reference}")});
    let mut op = json!({
        "operationId": format!("{action}{}", rt.kind),
        "parameters": parameters,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    });
    if !patch_types.is_empty() {
        let content: Map<String, Value> = patch_types
            .iter()
            .map(|t| ((*t).to_owned(), json!({"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}})))
            .collect();
        op["requestBody"] = json!({"content": content, "required": true});
    } else if matches!(action, "post" | "put") {
        op["requestBody"] =
            json!({"content": {"application/json": {"schema": schema}}, "required": true});
    }
    op
}

fn builtin_schemas(generator: &mut schemars::SchemaGenerator, b: Builtin) {
    match b {
        Builtin::Namespace => {
            generator.subschema_for::<Namespace>();
        }
        Builtin::Secret => {
            generator.subschema_for::<Secret>();
        }
        Builtin::ConfigMap => {
            generator.subschema_for::<ConfigMap>();
        }
        Builtin::Service => {
            generator.subschema_for::<Service>();
        }
        Builtin::Event => {
            generator.subschema_for::<Event>();
        }
        Builtin::EventV1 => {
            generator.subschema_for::<EventV1>();
        }
        Builtin::Lease => {
            generator.subschema_for::<Lease>();
        }
        Builtin::Crd => {
            generator.subschema_for::<CustomResourceDefinition>();
        }
    }
}

/// The patch formats a resource takes (custom resources have no strategic merge).
fn patch_types(rt: &ResourceType) -> Vec<&'static str> {
    let mut types = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ];
    if rt.custom().is_none() {
        types.insert(2, "application/strategic-merge-patch+json");
    }
    types
}

/// The `/scale` path of a custom resource: an `autoscaling/v1` `Scale` in and out.
fn scale_path(paths: &mut Map<String, Value>, rt: &ResourceType, item: &str) {
    let scale = "io.k8s.api.autoscaling.v1.Scale";
    let patch_types = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ];
    paths.insert(
        format!("{item}/scale"),
        json!({
            "get": operation(rt, "get", scale, &[]),
            "put": operation(rt, "put", scale, &[]),
            "patch": operation(rt, "patch", scale, &patch_types),
        }),
    );
}

/// `GET /openapi/v3/{api/v1 | apis/group/version}`.
pub(crate) fn openapi_v3_document(
    registry: &Registry,
    group: &str,
    version: &str,
) -> Option<Value> {
    let types = registry.resources_in(group, version);
    if types.is_empty() {
        return None;
    }
    let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    generator.subschema_for::<ObjectMeta>();
    let mut paths = Map::new();
    let mut custom_schemas = Map::new();
    let prefix = format!("/{}", url_prefix(group, version));
    for rt in &types {
        let reference = definition_name(rt);
        let gvk = json!([{"group": rt.group, "version": rt.version, "kind": rt.kind}]);
        let patch_types = patch_types(rt);
        let collection = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", rt.plural)
        } else {
            format!("{prefix}/{}", rt.plural)
        };
        let item = format!("{collection}/{{name}}");
        paths.insert(
            collection.clone(),
            json!({
                "get": operation(rt, "list", &reference, &[]),
                "post": operation(rt, "post", &reference, &[]),
                "delete": operation(rt, "deletecollection", &reference, &[]),
            }),
        );
        paths.insert(
            item.clone(),
            json!({
                "get": operation(rt, "get", &reference, &[]),
                "put": operation(rt, "put", &reference, &[]),
                "patch": operation(rt, "patch", &reference, &patch_types),
                "delete": operation(rt, "delete", &reference, &[]),
            }),
        );
        if rt.status_subresource {
            paths.insert(
                format!("{item}/status"),
                json!({
                    "get": operation(rt, "get", &reference, &[]),
                    "put": operation(rt, "put", &reference, &[]),
                    "patch": operation(rt, "patch", &reference, &patch_types),
                }),
            );
        }
        if rt.scale.is_some() {
            scale_path(&mut paths, rt, &item);
            generator.subschema_for::<Scale>();
        }
        match &rt.flavor {
            Flavor::Builtin(b) => builtin_schemas(&mut generator, *b),
            Flavor::Custom(c) => {
                let mut schema = c
                    .schema
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object"}));
                if let Some(map) = schema.as_object_mut() {
                    let properties = map.entry("properties").or_insert_with(|| json!({}));
                    properties["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."});
                    properties["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."});
                    properties["metadata"] = json!({"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}], "description": "Standard object's metadata."});
                    map.insert("x-kubernetes-group-version-kind".to_owned(), gvk.clone());
                }
                custom_schemas.insert(reference.clone(), schema);
            }
        }
    }
    let mut schemas = generator.take_definitions(true);
    for rt in &types {
        if let Some(schema) = schemas
            .get_mut(&definition_name(rt))
            .and_then(Value::as_object_mut)
        {
            schema.insert(
                "x-kubernetes-group-version-kind".to_owned(),
                json!([{"group": rt.group, "version": rt.version, "kind": rt.kind}]),
            );
        }
    }
    schemas.extend(custom_schemas);
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch".to_owned(),
        json!({"type": "object", "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."}),
    );
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{MAJOR}.{MINOR}.0")},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}
