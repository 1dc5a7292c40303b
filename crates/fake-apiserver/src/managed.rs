//! Field ownership (`metadata.managedFields`, `FieldsV1`) and server-side apply: applied
//! configurations are merged by the schema's list types (atomic, set, map with keys), fields a
//! manager stops applying are removed unless someone else owns them, and changing a field another
//! manager owns is a 409 conflict unless `force=true`. Updates (PUT, patches) take ownership of
//! what they change without conflicts, as in the real server.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::patch::json_equal;
use super::registry::{ListType, ResourceType};

/// A path of encoded `FieldsV1` elements: `f:name`, `k:{"type":"Ready"}`, `v:"value"`.
pub(crate) type FieldPath = Vec<String>;
/// A set of owned fields.
pub(crate) type FieldSet = BTreeSet<FieldPath>;

/// Which part of the object a write may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The whole object (no status subresource).
    All,
    /// Everything but `status` (main resource with a status subresource).
    Main,
    /// Only `status` (the `/status` subresource).
    Status,
    /// The replicas field a custom resource's `/scale` subresource writes (never `status`).
    Scale,
}

impl Scope {
    fn admits(self, path: &FieldPath) -> bool {
        let is_status = path.first().map(String::as_str) == Some("f:status");
        match self {
            Self::All => true,
            Self::Main | Self::Scale => !is_status,
            Self::Status => is_status,
        }
    }

    fn subresource(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Scale => "scale",
            Self::All | Self::Main => "",
        }
    }
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: String,
    pub fields: FieldSet,
}

impl Entry {
    fn is(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }
}

const OWNABLE_METADATA: [&str; 4] = ["labels", "annotations", "finalizers", "ownerReferences"];

fn key_element(item: &Value, keys: &[String]) -> String {
    let parts: Vec<String> = {
        let mut sorted: Vec<&String> = keys.iter().collect();
        sorted.sort();
        sorted
            .into_iter()
            .map(|k| {
                format!(
                    "{}:{}",
                    serde_json::to_string(k).unwrap_or_default(),
                    serde_json::to_string(item.get(k).unwrap_or(&Value::Null)).unwrap_or_default()
                )
            })
            .collect()
    };
    format!("k:{{{}}}", parts.join(","))
}

fn value_element(item: &Value) -> String {
    format!("v:{}", serde_json::to_string(item).unwrap_or_default())
}

/// Every owned leaf of `object` with its value (list-map items map to `null`).
pub(crate) fn leaves(
    object: &Value,
    rt: &ResourceType,
    scope: Scope,
) -> BTreeMap<FieldPath, Value> {
    let mut out = BTreeMap::new();
    let Some(map) = object.as_object() else {
        return out;
    };
    for (key, value) in map {
        match key.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                if let Some(meta) = value.as_object() {
                    for field in OWNABLE_METADATA {
                        if let Some(v) = meta.get(field).filter(|v| !v.is_null()) {
                            let mut path = vec!["f:metadata".to_owned(), format!("f:{field}")];
                            let mut names = vec!["metadata".to_owned(), field.to_owned()];
                            collect(v, &mut path, &mut names, rt, &mut out);
                        }
                    }
                }
            }
            _ => {
                if value.is_null() {
                    continue;
                }
                let mut path = vec![format!("f:{key}")];
                let mut names = vec![key.clone()];
                collect(value, &mut path, &mut names, rt, &mut out);
            }
        }
    }
    out.retain(|p, _| scope.admits(p));
    out
}

fn collect(
    value: &Value,
    path: &mut FieldPath,
    names: &mut Vec<String>,
    rt: &ResourceType,
    out: &mut BTreeMap<FieldPath, Value>,
) {
    match value {
        Value::Object(map) if !map.is_empty() && !rt.map_is_atomic(names) => {
            for (k, v) in map {
                if v.is_null() {
                    continue;
                }
                path.push(format!("f:{k}"));
                names.push(k.clone());
                collect(v, path, names, rt, out);
                names.pop();
                path.pop();
            }
        }
        Value::Array(items) => match rt.list_type(names) {
            ListType::Atomic => {
                out.insert(path.clone(), value.clone());
            }
            ListType::Set => {
                for item in items {
                    path.push(value_element(item));
                    out.insert(path.clone(), Value::Null);
                    path.pop();
                }
            }
            ListType::Map(keys) => {
                for item in items {
                    path.push(key_element(item, &keys));
                    out.insert(path.clone(), Value::Null);
                    collect(item, path, names, rt, out);
                    path.pop();
                }
            }
        },
        _ => {
            out.insert(path.clone(), value.clone());
        }
    }
}

/// Marks a member that also has children with ".".
fn mark(node: &mut Map<String, Value>, path: &mut FieldPath, fields: &FieldSet) {
    for (key, child) in node.iter_mut() {
        if let Value::Object(children) = child {
            path.push(key.clone());
            if !children.is_empty() {
                mark(children, path, fields);
                if fields.contains(path) {
                    children.insert(".".to_owned(), json!({}));
                }
            }
            path.pop();
        }
    }
}

/// `FieldsV1` JSON for a set.
fn encode(fields: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in fields {
        let mut node = &mut root;
        for element in path {
            let entry = node
                .entry(element.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(next) = entry else {
                break;
            };
            node = next;
        }
    }
    mark(&mut root, &mut Vec::new(), fields);
    Value::Object(root)
}

/// The set a `FieldsV1` JSON describes.
fn decode(value: &Value) -> FieldSet {
    fn walk(node: &Map<String, Value>, path: &mut FieldPath, out: &mut FieldSet) {
        for (key, child) in node {
            if key == "." {
                out.insert(path.clone());
                continue;
            }
            path.push(key.clone());
            match child.as_object() {
                Some(children) if !children.is_empty() => walk(children, path, out),
                _ => {
                    out.insert(path.clone());
                }
            }
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    if let Some(map) = value.as_object() {
        walk(map, &mut Vec::new(), &mut out);
    }
    out
}

/// The entries in `metadata.managedFields`.
pub(crate) fn parse_entries(object: &Value) -> Vec<Entry> {
    let text = |e: &Value, k: &str| {
        e.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|e| Entry {
                    manager: text(e, "manager"),
                    operation: text(e, "operation"),
                    api_version: text(e, "apiVersion"),
                    time: text(e, "time"),
                    subresource: text(e, "subresource"),
                    fields: decode(e.get("fieldsV1").unwrap_or(&Value::Null)),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `entries` (those that own something) to `metadata.managedFields`.
pub(crate) fn store_entries(object: &mut Value, entries: &[Entry]) {
    let rendered: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": encode(&e.fields),
            });
            if !e.subresource.is_empty()
                && let Some(map) = v.as_object_mut()
            {
                map.insert("subresource".to_owned(), json!(e.subresource));
            }
            v
        })
        .collect();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if rendered.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".to_owned(), Value::Array(rendered));
        }
    }
}

/// Keeps the old timestamp of entries that did not change, so that a no-op write stays a no-op.
fn keep_times(entries: &mut [Entry], before: &[Entry]) {
    for e in entries.iter_mut() {
        if let Some(old) = before.iter().find(|o| {
            o.is(&e.manager, &e.operation, &e.subresource)
                && o.fields == e.fields
                && o.api_version == e.api_version
        }) {
            e.time.clone_from(&old.time);
        }
    }
}

/// Ownership after a create or an update (PUT, patch) by `manager`.
pub(crate) fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    rt: &ResourceType,
    manager: &str,
    scope: Scope,
    now: &str,
) {
    let before = old.map(parse_entries).unwrap_or_default();
    let old_leaves = old.map(|o| leaves(o, rt, Scope::All)).unwrap_or_default();
    let new_leaves = leaves(new, rt, Scope::All);
    let changed: FieldSet = new_leaves
        .iter()
        .filter(|(p, v)| scope.admits(p) && old_leaves.get(*p).is_none_or(|o| !json_equal(o, v)))
        .map(|(p, _)| p.clone())
        .collect();
    let removed: FieldSet = old_leaves
        .keys()
        .filter(|p| !new_leaves.contains_key(*p))
        .cloned()
        .collect();
    let subresource = scope.subresource();
    let mut entries = before.clone();
    for e in &mut entries {
        e.fields.retain(|p| !removed.contains(p));
        if !e.is(manager, "Update", subresource) {
            e.fields.retain(|p| !changed.contains(p));
        }
    }
    if !changed.is_empty() {
        if let Some(e) = entries
            .iter_mut()
            .find(|e| e.is(manager, "Update", subresource))
        {
            e.fields.extend(changed);
            now.clone_into(&mut e.time);
            e.api_version = rt.api_version();
        } else {
            entries.push(Entry {
                manager: manager.to_owned(),
                operation: "Update".to_owned(),
                api_version: rt.api_version(),
                time: now.to_owned(),
                subresource: subresource.to_owned(),
                fields: changed,
            });
        }
    }
    entries.retain(|e| !e.fields.is_empty());
    keep_times(&mut entries, &before);
    store_entries(new, &entries);
}

/// The human form of a field path, as in conflict messages: `.spec.holderIdentity`.
fn render_path(path: &FieldPath) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(key) = element.strip_prefix("k:") {
            let parsed: Value = serde_json::from_str(key).unwrap_or(Value::Null);
            let parts: Vec<String> = parsed
                .as_object()
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            let _ = write!(out, "[{}]", parts.join(","));
        } else if let Some(v) = element.strip_prefix("v:") {
            let _ = write!(out, "[={v}]");
        }
    }
    out
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for v in map.values_mut() {
                strip_nulls(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn merge(live: &Value, applied: &Value, names: &mut Vec<String>, rt: &ResourceType) -> Value {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) if !rt.map_is_atomic(names) => {
            let mut result = l.clone();
            for (k, av) in a {
                names.push(k.clone());
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, av, names, rt),
                    None => av.clone(),
                };
                result.insert(k.clone(), merged);
                names.pop();
            }
            Value::Object(result)
        }
        (Value::Array(l), Value::Array(a)) => match rt.list_type(names) {
            ListType::Atomic => applied.clone(),
            ListType::Set => {
                let mut result = l.clone();
                for item in a {
                    if !result.iter().any(|r| json_equal(r, item)) {
                        result.push(item.clone());
                    }
                }
                Value::Array(result)
            }
            ListType::Map(keys) => {
                let mut result = l.clone();
                for item in a {
                    let id = key_element(item, &keys);
                    if let Some(existing) = result.iter_mut().find(|r| key_element(r, &keys) == id)
                    {
                        *existing = merge(existing, item, names, rt);
                    } else {
                        result.push(item.clone());
                    }
                }
                Value::Array(result)
            }
        },
        _ => applied.clone(),
    }
}

fn remove_path(value: &mut Value, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some(name) = first.strip_prefix("f:") {
        let Some(map) = value.as_object_mut() else {
            return;
        };
        if rest.is_empty() {
            map.remove(name);
        } else if let Some(child) = map.get_mut(name) {
            remove_path(child, rest);
        }
    } else if let Some(items) = value.as_array_mut() {
        let position = items.iter().position(|item| {
            if let Some(key) = first.strip_prefix("k:") {
                let wanted: Value = serde_json::from_str(key).unwrap_or(Value::Null);
                wanted.as_object().is_some_and(|w| {
                    w.iter()
                        .all(|(k, v)| item.get(k).is_some_and(|x| json_equal(x, v)))
                })
            } else if let Some(v) = first.strip_prefix("v:") {
                serde_json::from_str::<Value>(v).is_ok_and(|v| json_equal(item, &v))
            } else {
                false
            }
        });
        if let Some(i) = position {
            if rest.is_empty() {
                items.remove(i);
            } else {
                remove_path(&mut items[i], rest);
            }
        }
    }
}

/// Server-side apply of `applied` (already limited to what the endpoint may change) onto
/// `live` by `manager`. Returns the merged object with `managedFields` updated.
pub(crate) fn apply(
    live: &Value,
    applied: &Value,
    rt: &ResourceType,
    manager: &str,
    scope: Scope,
    force: bool,
    now: &str,
) -> Result<Value, ApiError> {
    let mut applied = applied.clone();
    strip_nulls(&mut applied);
    let subresource = scope.subresource();
    let applied_leaves = leaves(&applied, rt, scope);
    let live_leaves = leaves(live, rt, Scope::All);
    let before = parse_entries(live);
    let mut entries = before.clone();
    let mut conflicts = Vec::new();
    let mut stolen: Vec<(usize, FieldPath)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.is(manager, "Apply", subresource) {
            continue;
        }
        for path in e.fields.iter().filter(|p| applied_leaves.contains_key(*p)) {
            let same = match (live_leaves.get(path), applied_leaves.get(path)) {
                (Some(l), Some(a)) => json_equal(l, a),
                (None, None) => true,
                _ => false,
            };
            if !same {
                conflicts.push((e.manager.clone(), e.api_version.clone(), render_path(path)));
                stolen.push((i, path.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(ApiError::apply_conflicts(&conflicts));
    }
    for (i, path) in stolen {
        entries[i].fields.remove(&path);
    }
    let mut merged = merge(live, &applied, &mut Vec::new(), rt);
    let previous: FieldSet = entries
        .iter()
        .find(|e| e.is(manager, "Apply", subresource))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let mut dropped: Vec<&FieldPath> = previous
        .iter()
        .filter(|p| !applied_leaves.contains_key(*p))
        .filter(|p| {
            !entries
                .iter()
                .any(|e| !e.is(manager, "Apply", subresource) && e.fields.contains(*p))
        })
        .collect();
    // Children before their list items.
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in dropped {
        remove_path(&mut merged, path);
    }
    let fields: FieldSet = applied_leaves.into_keys().collect();
    if let Some(e) = entries
        .iter_mut()
        .find(|e| e.is(manager, "Apply", subresource))
    {
        e.fields = fields;
        now.clone_into(&mut e.time);
        e.api_version = rt.api_version();
    } else {
        entries.push(Entry {
            manager: manager.to_owned(),
            operation: "Apply".to_owned(),
            api_version: rt.api_version(),
            time: now.to_owned(),
            subresource: subresource.to_owned(),
            fields,
        });
    }
    entries.retain(|e| !e.fields.is_empty());
    keep_times(&mut entries, &before);
    store_entries(&mut merged, &entries);
    Ok(merged)
}

/// Drops owned paths that no longer exist in `object` (e.g. pruned unknown fields).
pub(crate) fn prune_entries(object: &mut Value, rt: &ResourceType) {
    let present = leaves(object, rt, Scope::All);
    let mut entries = parse_entries(object);
    for e in &mut entries {
        e.fields.retain(|p| present.contains_key(p));
    }
    store_entries(object, &entries);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::registry::Registry;

    fn lease_type() -> std::sync::Arc<ResourceType> {
        Registry::new()
            .lookup("coordination.k8s.io", "v1", "leases")
            .unwrap()
    }

    #[test]
    fn fields_v1_round_trips() {
        let set: FieldSet = [
            vec![
                "f:metadata".to_owned(),
                "f:finalizers".to_owned(),
                "v:\"a/b\"".to_owned(),
            ],
            vec!["f:spec".to_owned(), "f:x".to_owned()],
        ]
        .into_iter()
        .collect();
        assert_eq!(decode(&encode(&set)), set);
    }

    #[test]
    fn a_second_manager_conflicts_unless_forced() {
        let rt = lease_type();
        let live = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"}, "spec": {}});
        let a = apply(
            &live,
            &json!({"spec": {"holderIdentity": "a"}}),
            &rt,
            "a",
            Scope::All,
            false,
            "t",
        )
        .unwrap();
        assert_eq!(a["spec"]["holderIdentity"], "a");
        let err = apply(
            &a,
            &json!({"spec": {"holderIdentity": "b"}}),
            &rt,
            "b",
            Scope::All,
            false,
            "t",
        )
        .unwrap_err();
        assert_eq!(err.code, 409);
        assert!(
            err.message.contains(".spec.holderIdentity"),
            "{}",
            err.message
        );
        // Same value: shared ownership, no conflict.
        assert!(
            apply(
                &a,
                &json!({"spec": {"holderIdentity": "a"}}),
                &rt,
                "b",
                Scope::All,
                false,
                "t"
            )
            .is_ok()
        );
        let forced = apply(
            &a,
            &json!({"spec": {"holderIdentity": "b"}}),
            &rt,
            "b",
            Scope::All,
            true,
            "t",
        )
        .unwrap();
        assert_eq!(forced["spec"]["holderIdentity"], "b");
    }

    #[test]
    fn fields_no_longer_applied_are_removed() {
        let rt = lease_type();
        let live = json!({"metadata": {"name": "l"}, "spec": {}});
        let first = apply(
            &live,
            &json!({"spec": {"holderIdentity": "a", "leaseDurationSeconds": 5}}),
            &rt,
            "a",
            Scope::All,
            false,
            "t",
        )
        .unwrap();
        let second = apply(
            &first,
            &json!({"spec": {"holderIdentity": "a"}}),
            &rt,
            "a",
            Scope::All,
            false,
            "t",
        )
        .unwrap();
        assert!(second["spec"].get("leaseDurationSeconds").is_none());
    }

    #[test]
    fn an_update_takes_ownership_and_removal_clears_it() {
        let rt = lease_type();
        let live = json!({"metadata": {"name": "l"}, "spec": {}});
        let applied = apply(
            &live,
            &json!({"spec": {"holderIdentity": "a"}}),
            &rt,
            "a",
            Scope::All,
            false,
            "t",
        )
        .unwrap();
        let mut released = applied.clone();
        released["spec"] = json!({});
        record_update(Some(&applied), &mut released, &rt, "b", Scope::All, "t");
        assert!(
            !released["metadata"]["managedFields"]
                .to_string()
                .contains("holderIdentity")
        );
        // Now another manager may apply without conflict.
        assert!(
            apply(
                &released,
                &json!({"spec": {"holderIdentity": "b"}}),
                &rt,
                "b",
                Scope::All,
                false,
                "t"
            )
            .is_ok()
        );
    }
}
