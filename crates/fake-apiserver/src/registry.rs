//! The resource types the server serves: the built-in kinds (`Namespace`, `Secret`, `ConfigMap`,
//! `Service`, `Event` in `v1` and `events.k8s.io/v1`, `Lease`, `CustomResourceDefinition`) and
//! every custom resource registered by a CRD at runtime, with their subresources (`status`, and
//! `scale` where a CRD declares it). Also version conversion between served versions.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

/// Where objects of a resource live: `(group, plural)`. Every served version of a resource
/// shares it (objects are stored in the storage version and converted on the way out).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StorageKey {
    pub group: String,
    pub resource: String,
}

/// The built-in kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Builtin {
    Namespace,
    Secret,
    ConfigMap,
    Service,
    /// `v1` Event (the storage form of both Event APIs).
    Event,
    /// `events.k8s.io/v1` Event.
    EventV1,
    Lease,
    Crd,
}

/// One `additionalPrinterColumns` entry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// Where a custom resource keeps what its `scale` subresource shows (`subresources.scale`):
/// `JSONPath`s such as `.spec.replicas`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// A served version of a custom resource.
#[derive(Clone, Debug)]
pub(crate) struct CustomVersion {
    pub crd_name: String,
    pub schema: Option<Value>,
    pub printer_columns: Vec<PrinterColumn>,
    pub selectable_fields: Vec<String>,
}

/// Built-in or custom.
#[derive(Clone, Debug)]
pub(crate) enum Flavor {
    Builtin(Builtin),
    Custom(Arc<CustomVersion>),
}

/// How a list is merged by server-side apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ListType {
    Atomic,
    Set,
    Map(Vec<String>),
}

/// One served `(group, version, plural)`.
#[derive(Clone, Debug)]
pub(crate) struct ResourceType {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    /// The `scale` subresource (custom resources that declare it).
    pub scale: Option<ScalePaths>,
    pub storage_version: String,
    pub flavor: Flavor,
}

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

impl ResourceType {
    /// `v1` or `group/version`.
    pub(crate) fn api_version(&self) -> String {
        gv_string(&self.group, &self.version)
    }

    pub(crate) fn storage_key(&self) -> StorageKey {
        match self.flavor {
            Flavor::Builtin(Builtin::EventV1) => StorageKey {
                group: String::new(),
                resource: "events".to_owned(),
            },
            _ => StorageKey {
                group: self.group.clone(),
                resource: self.plural.clone(),
            },
        }
    }

    pub(crate) fn builtin(&self) -> Option<Builtin> {
        match self.flavor {
            Flavor::Builtin(b) => Some(b),
            Flavor::Custom(_) => None,
        }
    }

    pub(crate) fn custom(&self) -> Option<&CustomVersion> {
        match &self.flavor {
            Flavor::Custom(c) => Some(c),
            Flavor::Builtin(_) => None,
        }
    }

    /// Custom resources and CRDs carry `metadata.generation`; the other built-ins here do not.
    pub(crate) fn tracks_generation(&self) -> bool {
        matches!(
            self.flavor,
            Flavor::Custom(_) | Flavor::Builtin(Builtin::Crd)
        )
    }

    /// Custom resources and CRDs refuse an update without `metadata.resourceVersion`.
    pub(crate) fn requires_resource_version(&self) -> bool {
        self.tracks_generation()
    }

    /// The `Kind.group` used in `Invalid` messages.
    pub(crate) fn group_kind(&self) -> (String, String) {
        (self.group.clone(), self.kind.clone())
    }

    /// The fields `fieldSelector` may name.
    pub(crate) fn field_selectors(&self) -> Vec<String> {
        let mut fields = vec!["metadata.name".to_owned()];
        if self.namespaced {
            fields.push("metadata.namespace".to_owned());
        }
        let extra: &[&str] = match &self.flavor {
            Flavor::Builtin(Builtin::Secret) => &["type"],
            Flavor::Builtin(Builtin::Namespace) => &["status.phase"],
            Flavor::Builtin(Builtin::Event) => &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
            Flavor::Builtin(Builtin::EventV1) => &[
                "regarding.kind",
                "regarding.namespace",
                "regarding.name",
                "regarding.uid",
                "regarding.apiVersion",
                "regarding.resourceVersion",
                "regarding.fieldPath",
                "reason",
                "reportingController",
                "type",
            ],
            Flavor::Custom(c) => {
                fields.extend(
                    c.selectable_fields
                        .iter()
                        .map(|f| f.trim_start_matches('.').to_owned()),
                );
                &[]
            }
            Flavor::Builtin(_) => &[],
        };
        fields.extend(extra.iter().map(|f| (*f).to_owned()));
        fields
    }

    /// The schema node at a path of field names, for custom resources.
    fn schema_at(&self, path: &[String]) -> Option<&Value> {
        let mut node = self.custom()?.schema.as_ref()?;
        for name in path {
            while node.get("type").and_then(Value::as_str) == Some("array") {
                node = node.get("items")?;
            }
            node = node
                .get("properties")
                .and_then(|p| p.get(name))
                .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))?;
        }
        Some(node)
    }

    /// How server-side apply merges the list at `path` (field names from the root).
    pub(crate) fn list_type(&self, path: &[String]) -> ListType {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        match names.as_slice() {
            ["metadata", "finalizers"] => return ListType::Set,
            ["metadata", "ownerReferences"] => return ListType::Map(vec!["uid".to_owned()]),
            ["metadata", ..] => return ListType::Atomic,
            _ => {}
        }
        match &self.flavor {
            Flavor::Builtin(Builtin::Crd) => match names.as_slice() {
                ["status", "conditions"] => ListType::Map(vec!["type".to_owned()]),
                _ => ListType::Atomic,
            },
            // Ports merge by port number (strategic) or by port and protocol (apply).
            Flavor::Builtin(Builtin::Service) => match names.as_slice() {
                ["spec", "ports"] => ListType::Map(vec!["port".to_owned(), "protocol".to_owned()]),
                _ => ListType::Atomic,
            },
            Flavor::Builtin(_) => ListType::Atomic,
            Flavor::Custom(_) => {
                let Some(node) = self.schema_at(path) else {
                    return ListType::Atomic;
                };
                match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("set") => ListType::Set,
                    Some("map") => ListType::Map(
                        node.get("x-kubernetes-list-map-keys")
                            .and_then(Value::as_array)
                            .map(|keys| {
                                keys.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_owned)
                                    .collect()
                            })
                            .unwrap_or_default(),
                    ),
                    _ => ListType::Atomic,
                }
            }
        }
    }

    /// Whether the map at `path` is atomic for server-side apply.
    pub(crate) fn map_is_atomic(&self, path: &[String]) -> bool {
        self.schema_at(path)
            .and_then(|n| n.get("x-kubernetes-map-type"))
            .and_then(Value::as_str)
            == Some("atomic")
    }

    /// The discovery `APIResource` entries (the resource and its subresources).
    pub(crate) fn discovery_entries(&self) -> Vec<Value> {
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs(),
            "storageVersionHash": storage_version_hash(&self.group, &self.storage_version, &self.kind),
        });
        if let Some(map) = main.as_object_mut() {
            if !self.short_names.is_empty() {
                map.insert("shortNames".to_owned(), json!(self.short_names));
            }
            if !self.categories.is_empty() {
                map.insert("categories".to_owned(), json!(self.categories));
            }
        }
        let mut entries = vec![main];
        if self.status_subresource {
            entries.push(json!({
                "name": format!("{}/status", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if self.scale.is_some() {
            // The scale subresource answers with `autoscaling/v1` `Scale`, whatever the resource.
            entries.push(json!({
                "name": format!("{}/scale", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        entries
    }

    /// The aggregated discovery (`apidiscovery.k8s.io/v2`) `APIResourceDiscovery` entry.
    pub(crate) fn aggregated_entry(&self) -> Value {
        let kind = json!({"group": self.group, "version": self.version, "kind": self.kind});
        let mut entry = json!({
            "resource": self.plural,
            "responseKind": kind,
            "scope": if self.namespaced { "Namespaced" } else { "Cluster" },
            "singularResource": self.singular,
            "verbs": self.verbs(),
        });
        let mut subresources = Vec::new();
        if self.status_subresource {
            subresources.push(json!({
                "subresource": "status",
                "responseKind": kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if self.scale.is_some() {
            subresources.push(json!({
                "subresource": "scale",
                "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                "verbs": ["get", "patch", "update"],
            }));
        }
        if let Some(map) = entry.as_object_mut() {
            if !self.short_names.is_empty() {
                map.insert("shortNames".to_owned(), json!(self.short_names));
            }
            if !self.categories.is_empty() {
                map.insert("categories".to_owned(), json!(self.categories));
            }
            if !subresources.is_empty() {
                map.insert("subresources".to_owned(), json!(subresources));
            }
        }
        entry
    }

    /// The verbs of the resource itself (namespaces have no `deletecollection`).
    fn verbs(&self) -> Vec<&'static str> {
        VERBS
            .iter()
            .copied()
            .filter(|v| *v != "deletecollection" || self.builtin() != Some(Builtin::Namespace))
            .collect()
    }
}

/// `v1` or `group/version`.
pub(crate) fn gv_string(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

fn storage_version_hash(group: &str, version: &str, kind: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (group, version, kind).hash(&mut hasher);
    let bytes = hasher.finish().to_be_bytes();
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
        .chars()
        .take(11)
        .collect()
}

/// Orders versions the way Kubernetes does: GA before beta before alpha, higher first, then
/// anything else alphabetically.
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u64, u8, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major = digits.parse::<u64>().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((major, 2, 0));
        }
        let (stage, num) = if let Some(n) = tail.strip_prefix("beta") {
            (1, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (0, n)
        } else {
            return None;
        };
        Some((major, stage, num.parse::<u64>().ok()?))
    }
    match (parse(a), parse(b)) {
        (Some((ma, sa, na)), Some((mb, sb, nb))) => sb.cmp(&sa).then(mb.cmp(&ma)).then(nb.cmp(&na)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

fn builtin(
    group: &str,
    version: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    short_names: &[&str],
    b: Builtin,
) -> Arc<ResourceType> {
    Arc::new(ResourceType {
        group: group.to_owned(),
        version: version.to_owned(),
        plural: plural.to_owned(),
        singular: kind.to_ascii_lowercase(),
        kind: kind.to_owned(),
        list_kind: format!("{kind}List"),
        namespaced,
        short_names: short_names.iter().map(|s| (*s).to_owned()).collect(),
        categories: match b {
            Builtin::Crd => vec!["api-extensions".to_owned()],
            Builtin::Service => vec!["all".to_owned()],
            _ => Vec::new(),
        },
        status_subresource: matches!(b, Builtin::Namespace | Builtin::Crd | Builtin::Service),
        scale: None,
        storage_version: version.to_owned(),
        flavor: Flavor::Builtin(b),
    })
}

/// A registered CRD: the resource types of its served versions.
#[derive(Clone, Debug)]
struct CrdEntry {
    types: Vec<Arc<ResourceType>>,
}

/// All the resource types the server knows.
#[derive(Clone, Debug)]
pub(crate) struct Registry {
    builtins: Vec<Arc<ResourceType>>,
    custom: BTreeMap<String, CrdEntry>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub(crate) fn new() -> Self {
        Self {
            builtins: vec![
                builtin(
                    "",
                    "v1",
                    "namespaces",
                    "Namespace",
                    false,
                    &["ns"],
                    Builtin::Namespace,
                ),
                builtin("", "v1", "secrets", "Secret", true, &[], Builtin::Secret),
                builtin(
                    "",
                    "v1",
                    "configmaps",
                    "ConfigMap",
                    true,
                    &["cm"],
                    Builtin::ConfigMap,
                ),
                builtin(
                    "",
                    "v1",
                    "services",
                    "Service",
                    true,
                    &["svc"],
                    Builtin::Service,
                ),
                builtin("", "v1", "events", "Event", true, &["ev"], Builtin::Event),
                builtin(
                    "events.k8s.io",
                    "v1",
                    "events",
                    "Event",
                    true,
                    &["ev"],
                    Builtin::EventV1,
                ),
                builtin(
                    "coordination.k8s.io",
                    "v1",
                    "leases",
                    "Lease",
                    true,
                    &[],
                    Builtin::Lease,
                ),
                builtin(
                    "apiextensions.k8s.io",
                    "v1",
                    "customresourcedefinitions",
                    "CustomResourceDefinition",
                    false,
                    &["crd", "crds"],
                    Builtin::Crd,
                ),
            ],
            custom: BTreeMap::new(),
        }
    }

    /// Every served resource type.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.builtins
            .iter()
            .chain(self.custom.values().flat_map(|e| e.types.iter()))
    }

    pub(crate) fn lookup(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<Arc<ResourceType>> {
        self.all()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    /// API groups other than the core group, each with its versions, preferred first.
    pub(crate) fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in self.all().filter(|t| !t.group.is_empty()) {
            let versions = groups.entry(t.group.clone()).or_default();
            if !versions.contains(&t.version) {
                versions.push(t.version.clone());
            }
        }
        groups
            .into_iter()
            .map(|(g, mut vs)| {
                vs.sort_by(|a, b| compare_versions(a, b));
                (g, vs)
            })
            .collect()
    }

    /// The resource types of a group version, by name (the order discovery lists them in).
    pub(crate) fn resources_in(&self, group: &str, version: &str) -> Vec<Arc<ResourceType>> {
        let mut types: Vec<Arc<ResourceType>> = self
            .all()
            .filter(|t| t.group == group && t.version == version)
            .cloned()
            .collect();
        types.sort_by(|a, b| a.plural.cmp(&b.plural));
        types
    }

    /// Registers (or re-registers) a CRD's served versions.
    pub(crate) fn register_crd(&mut self, crd: &Value) {
        let Some(name) = crd.pointer("/metadata/name").and_then(Value::as_str) else {
            return;
        };
        let spec = &crd["spec"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let list = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let group = text(&spec["group"]);
        let names = &spec["names"];
        let kind = text(&names["kind"]);
        let plural = text(&names["plural"]);
        let singular = names["singular"]
            .as_str()
            .map_or_else(|| kind.to_ascii_lowercase(), str::to_owned);
        let list_kind = names["listKind"]
            .as_str()
            .map_or_else(|| format!("{kind}List"), str::to_owned);
        let namespaced = spec["scope"].as_str() != Some("Cluster");
        let versions = spec["versions"].as_array().cloned().unwrap_or_default();
        let storage_version = versions
            .iter()
            .find(|v| v["storage"].as_bool() == Some(true))
            .map(|v| text(&v["name"]))
            .unwrap_or_default();
        let types = versions
            .iter()
            .filter(|v| v["served"].as_bool() != Some(false))
            .map(|v| {
                let columns = v["additionalPrinterColumns"]
                    .as_array()
                    .map(|cols| cols.iter().map(printer_column).collect())
                    .unwrap_or_default();
                let selectable = v["selectableFields"]
                    .as_array()
                    .map(|fs| fs.iter().map(|f| text(&f["jsonPath"])).collect())
                    .unwrap_or_default();
                Arc::new(ResourceType {
                    group: group.clone(),
                    version: text(&v["name"]),
                    plural: plural.clone(),
                    singular: singular.clone(),
                    kind: kind.clone(),
                    list_kind: list_kind.clone(),
                    namespaced,
                    short_names: list(&names["shortNames"]),
                    categories: list(&names["categories"]),
                    status_subresource: v.pointer("/subresources/status").is_some(),
                    scale: v.pointer("/subresources/scale").map(|scale| ScalePaths {
                        spec_replicas: text(&scale["specReplicasPath"]),
                        status_replicas: text(&scale["statusReplicasPath"]),
                        label_selector: scale["labelSelectorPath"].as_str().map(str::to_owned),
                    }),
                    storage_version: storage_version.clone(),
                    flavor: Flavor::Custom(Arc::new(CustomVersion {
                        crd_name: name.to_owned(),
                        schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                        printer_columns: columns,
                        selectable_fields: selectable,
                    })),
                })
            })
            .collect();
        self.custom.insert(name.to_owned(), CrdEntry { types });
    }

    pub(crate) fn unregister_crd(&mut self, name: &str) {
        self.custom.remove(name);
    }
}

fn printer_column(c: &Value) -> PrinterColumn {
    let text = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
    PrinterColumn {
        name: text("name"),
        type_: text("type"),
        format: text("format"),
        description: text("description"),
        priority: c["priority"].as_i64().unwrap_or(0),
        json_path: text("jsonPath"),
    }
}

fn rename(map: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = map.remove(from) {
        map.insert(to.to_owned(), v);
    }
}

/// `v1` Event → `events.k8s.io/v1` Event.
fn core_event_to_v1(mut event: Value) -> Value {
    if let Some(map) = event.as_object_mut() {
        rename(map, "involvedObject", "regarding");
        rename(map, "message", "note");
        rename(map, "source", "deprecatedSource");
        rename(map, "firstTimestamp", "deprecatedFirstTimestamp");
        rename(map, "lastTimestamp", "deprecatedLastTimestamp");
        rename(map, "count", "deprecatedCount");
        rename(map, "reportingComponent", "reportingController");
        map.insert("apiVersion".to_owned(), json!("events.k8s.io/v1"));
    }
    event
}

/// `events.k8s.io/v1` Event → `v1` Event.
fn v1_event_to_core(mut event: Value) -> Value {
    if let Some(map) = event.as_object_mut() {
        rename(map, "regarding", "involvedObject");
        rename(map, "note", "message");
        rename(map, "deprecatedSource", "source");
        rename(map, "deprecatedFirstTimestamp", "firstTimestamp");
        rename(map, "deprecatedLastTimestamp", "lastTimestamp");
        rename(map, "deprecatedCount", "count");
        rename(map, "reportingController", "reportingComponent");
        map.insert("apiVersion".to_owned(), json!("v1"));
    }
    event
}

/// A stored object as `rt`'s served version shows it.
pub(crate) fn to_served(rt: &ResourceType, mut stored: Value) -> Value {
    if rt.builtin() == Some(Builtin::EventV1) {
        return core_event_to_v1(stored);
    }
    if let Some(map) = stored.as_object_mut() {
        map.insert("apiVersion".to_owned(), json!(rt.api_version()));
        map.insert("kind".to_owned(), json!(rt.kind));
    }
    stored
}

/// An object in `rt`'s served version, converted to the storage version.
pub(crate) fn to_storage(rt: &ResourceType, mut served: Value) -> Value {
    if rt.builtin() == Some(Builtin::EventV1) {
        return v1_event_to_core(served);
    }
    if let Some(map) = served.as_object_mut() {
        map.insert(
            "apiVersion".to_owned(),
            json!(gv_string(&rt.group, &rt.storage_version)),
        );
    }
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_like_kubernetes() {
        let mut vs = vec!["v1alpha1", "v2", "v1beta2", "v1", "foo", "v1beta1"];
        vs.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            vs,
            vec!["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn events_convert_between_the_two_apis() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "involvedObject": {"name": "x"}, "message": "m", "reportingComponent": "c"});
        let v1 = core_event_to_v1(core.clone());
        assert_eq!(v1["regarding"]["name"], "x");
        assert_eq!(v1["note"], "m");
        assert_eq!(v1["reportingController"], "c");
        assert_eq!(v1_event_to_core(v1), core);
    }
}
