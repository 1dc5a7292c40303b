//! Patch formats: JSON patch (RFC 6902, with the real server's `test` semantics: a `test` of
//! `null` against a missing path succeeds), JSON merge patch (RFC 7386) and strategic merge patch
//! (merge patch plus `$patch`, `$retainKeys`, `$deleteFromPrimitiveList` and list merge keys).

use serde_json::{Map, Value};

/// How a list is merged by a strategic merge patch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ListMerge {
    /// The patch's list replaces the object's.
    Replace,
    /// Items with the same value of this key are merged; others appended.
    ByKey(String),
    /// Primitive items are unioned.
    Primitives,
}

/// Why a JSON patch could not be applied (the message follows the real server's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PatchError {
    /// The patch document is malformed (400).
    Malformed(String),
    /// An operation does not apply to the object (422).
    Failed(String),
}

fn parse_pointer(pointer: &str) -> Result<Vec<String>, PatchError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(PatchError::Malformed(format!(
            "JSON pointer must be empty or start with '/': {pointer:?}"
        )));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn index_of(token: &str, len: usize, allow_end: bool) -> Option<usize> {
    if token == "-" {
        return allow_end.then_some(len);
    }
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index = token.parse::<usize>().ok()?;
    let max = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    (index <= max && (allow_end || len > 0)).then_some(index)
}

fn get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    let mut current = doc;
    for token in tokens {
        current = match current {
            Value::Object(map) => map.get(token)?,
            Value::Array(items) => items.get(index_of(token, items.len(), false)?)?,
            _ => return None,
        };
    }
    Some(current)
}

fn get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    let mut current = doc;
    for token in tokens {
        current = match current {
            Value::Object(map) => map.get_mut(token)?,
            Value::Array(items) => {
                let i = index_of(token, items.len(), false)?;
                items.get_mut(i)?
            }
            _ => return None,
        };
    }
    Some(current)
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    let tokens = parse_pointer(path)?;
    let Some((last, parent_tokens)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    let missing = || {
        PatchError::Failed(format!(
            "add operation does not apply: doc is missing path: \"{path}\": missing value"
        ))
    };
    match get_mut(doc, parent_tokens).ok_or_else(missing)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            let i = index_of(last, items.len(), true).ok_or_else(|| {
                PatchError::Failed(format!(
                    "Unable to access invalid index: {last}: invalid index referenced"
                ))
            })?;
            items.insert(i, value);
            Ok(())
        }
        _ => Err(missing()),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, PatchError> {
    let tokens = parse_pointer(path)?;
    let Some((last, parent_tokens)) = tokens.split_last() else {
        return Err(PatchError::Failed(
            "cannot remove the whole document".to_owned(),
        ));
    };
    let missing = || {
        PatchError::Failed(format!(
            "remove operation does not apply: doc is missing path: \"{path}\": missing value"
        ))
    };
    match get_mut(doc, parent_tokens).ok_or_else(missing)? {
        Value::Object(map) => map.remove(last).ok_or_else(|| {
            PatchError::Failed(format!(
                "Unable to remove nonexistent key: {last}: missing value"
            ))
        }),
        Value::Array(items) => {
            let i = index_of(last, items.len(), false).ok_or_else(|| {
                PatchError::Failed(format!(
                    "Unable to access invalid index: {last}: invalid index referenced"
                ))
            })?;
            Ok(items.remove(i))
        }
        _ => Err(missing()),
    }
}

/// Deep equality where `1` and `1.0` are equal, as in the real server's JSON patch `test`.
pub(crate) fn json_equal(first: &Value, second: &Value) -> bool {
    match (first, second) {
        (Value::Number(left), Value::Number(right)) => {
            left == right
                || matches!((left.as_f64(), right.as_f64()), (Some(l), Some(r)) if (l - r).abs() < f64::EPSILON)
        }
        (Value::Array(left), Value::Array(right)) => {
            left.len() == right.len() && left.iter().zip(right).all(|(l, r)| json_equal(l, r))
        }
        (Value::Object(left), Value::Object(right)) => {
            left.len() == right.len()
                && left
                    .iter()
                    .all(|(key, l)| right.get(key).is_some_and(|r| json_equal(l, r)))
        }
        _ => first == second,
    }
}

fn op_field<'a>(
    op: &'a Map<String, Value>,
    key: &str,
    name: &str,
) -> Result<&'a Value, PatchError> {
    op.get(key)
        .ok_or_else(|| PatchError::Malformed(format!("operation {name:?} is missing {key:?}")))
}

fn op_str<'a>(op: &'a Map<String, Value>, key: &str, name: &str) -> Result<&'a str, PatchError> {
    op_field(op, key, name)?.as_str().ok_or_else(|| {
        PatchError::Malformed(format!("operation {name:?}: {key:?} must be a string"))
    })
}

/// Applies an RFC 6902 JSON patch.
pub(crate) fn json_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = patch.as_array().ok_or_else(|| {
        PatchError::Malformed("a JSON patch must be a list of operations".to_owned())
    })?;
    let mut doc = doc.clone();
    for op in ops {
        let op = op.as_object().ok_or_else(|| {
            PatchError::Malformed("a JSON patch operation must be an object".to_owned())
        })?;
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| PatchError::Malformed("operation is missing \"op\"".to_owned()))?;
        match name {
            "add" => add(
                &mut doc,
                op_str(op, "path", name)?,
                op_field(op, "value", name)?.clone(),
            )?,
            "remove" => {
                remove(&mut doc, op_str(op, "path", name)?)?;
            }
            "replace" => {
                let pointer = op_str(op, "path", name)?;
                let tokens = parse_pointer(pointer)?;
                let target = get_mut(&mut doc, &tokens).ok_or_else(|| {
                    PatchError::Failed(format!(
                        "replace operation does not apply: doc is missing key: {pointer}: missing value"
                    ))
                })?;
                *target = op_field(op, "value", name)?.clone();
            }
            "move" => {
                let from = op_str(op, "from", name)?;
                let value = remove(&mut doc, from).map_err(|_| {
                    PatchError::Failed(format!("move operation does not apply: doc is missing from pointer: {from}: missing value"))
                })?;
                add(&mut doc, op_str(op, "path", name)?, value)?;
            }
            "copy" => {
                let from = op_str(op, "from", name)?;
                let value = get(&doc, &parse_pointer(from)?).cloned().ok_or_else(|| {
                    PatchError::Failed(format!("copy operation does not apply: doc is missing from pointer: {from}: missing value"))
                })?;
                add(&mut doc, op_str(op, "path", name)?, value)?;
            }
            "test" => {
                let pointer = op_str(op, "path", name)?;
                let expected = op.get("value").unwrap_or(&Value::Null);
                let ok = match get(&doc, &parse_pointer(pointer)?) {
                    // The real server (evanphx/json-patch) treats a missing value as null.
                    None => expected.is_null(),
                    Some(actual) => json_equal(actual, expected),
                };
                if !ok {
                    return Err(PatchError::Failed(format!(
                        "testing value {pointer} failed: test failed"
                    )));
                }
            }
            other => {
                return Err(PatchError::Malformed(format!("Unexpected kind: {other}")));
            }
        }
    }
    Ok(doc)
}

/// Applies an RFC 7386 JSON merge patch in place.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Applies a strategic merge patch in place. `list_merge` says how the list at a path
/// (field names from the root) is merged.
pub(crate) fn strategic_merge(
    target: &mut Value,
    patch: &Value,
    fields: &mut Vec<String>,
    list_merge: &dyn Fn(&[String]) -> ListMerge,
) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = patch_map.clone();
        replacement.remove("$patch");
        *target = Value::Object(replacement);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else {
        return;
    };
    let mut retain: Option<Vec<String>> = None;
    for (key, value) in patch_map {
        if key == "$patch" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if key == "$retainKeys" {
            retain = value.as_array().map(|keys| {
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            });
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(remove)) =
                (map.get_mut(field), value.as_array())
            {
                items.retain(|item| !remove.contains(item));
            }
            continue;
        }
        if value.is_null() || value.get("$patch").and_then(Value::as_str) == Some("delete") {
            map.remove(key);
            continue;
        }
        fields.push(key.clone());
        match value {
            Value::Array(items) => {
                let merged = merge_list(map.get(key), items, fields, list_merge);
                map.insert(key.clone(), merged);
            }
            Value::Object(_) => {
                strategic_merge(
                    map.entry(key.clone()).or_insert(Value::Null),
                    value,
                    fields,
                    list_merge,
                );
            }
            _ => {
                map.insert(key.clone(), value.clone());
            }
        }
        fields.pop();
    }
    if let Some(keep) = retain {
        map.retain(|k, _| keep.contains(k));
    }
}

fn merge_list(
    current: Option<&Value>,
    patch: &[Value],
    fields: &mut Vec<String>,
    list_merge: &dyn Fn(&[String]) -> ListMerge,
) -> Value {
    let current: Vec<Value> = current
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match list_merge(fields) {
        ListMerge::Replace => Value::Array(
            patch
                .iter()
                .filter(|v| v.get("$patch").is_none())
                .cloned()
                .collect(),
        ),
        ListMerge::Primitives => {
            let mut merged = current;
            for item in patch {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            Value::Array(merged)
        }
        ListMerge::ByKey(key) => {
            let mut merged = current;
            for item in patch {
                let id = item.get(&key);
                let position =
                    id.and_then(|id| merged.iter().position(|m| m.get(&key) == Some(id)));
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (position, delete) {
                    (Some(i), true) => {
                        merged.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => strategic_merge(&mut merged[i], item, fields, list_merge),
                    (None, false) => {
                        let mut fresh = Value::Null;
                        strategic_merge(&mut fresh, item, fields, list_merge);
                        merged.push(fresh);
                    }
                }
            }
            Value::Array(merged)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn test_of_null_against_a_missing_path_succeeds_like_the_real_server() {
        let doc = json!({"metadata": {"name": "a"}});
        let patch = json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]}
        ]);
        let patched = json_patch(&doc, &patch).unwrap();
        assert_eq!(patched["metadata"]["finalizers"], json!(["x/y"]));
    }

    #[test]
    fn test_of_a_value_that_differs_fails() {
        let doc = json!({"metadata": {"finalizers": ["a/b"]}});
        let patch = json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": "x/y"},
            {"op": "remove", "path": "/metadata/finalizers/0"}
        ]);
        assert!(matches!(
            json_patch(&doc, &patch),
            Err(PatchError::Failed(_))
        ));
    }

    #[test]
    fn removing_a_missing_path_fails() {
        let doc = json!({"a": {}});
        assert!(json_patch(&doc, &json!([{"op": "remove", "path": "/a/b"}])).is_err());
        assert!(
            json_patch(
                &doc,
                &json!([{"op": "replace", "path": "/a/b", "value": 1}])
            )
            .is_err()
        );
    }

    #[test]
    fn merge_patch_deletes_nulls_and_replaces_lists() {
        let mut doc = json!({"a": {"b": 1, "c": [1, 2]}, "d": 1});
        merge_patch(&mut doc, &json!({"a": {"b": null, "c": [3]}, "e": "x"}));
        assert_eq!(doc, json!({"a": {"c": [3]}, "d": 1, "e": "x"}));
    }

    #[test]
    fn strategic_merge_unions_finalizers_and_merges_keyed_lists() {
        let mut doc = json!({"metadata": {"finalizers": ["a/a"], "ownerReferences": [{"uid": "1", "name": "x"}]}});
        let patch = json!({"metadata": {"finalizers": ["b/b"], "ownerReferences": [{"uid": "1", "name": "y"}, {"uid": "2"}]}});
        let merge = |path: &[String]| match path.last().map(String::as_str) {
            Some("finalizers") => ListMerge::Primitives,
            Some("ownerReferences") => ListMerge::ByKey("uid".to_owned()),
            _ => ListMerge::Replace,
        };
        strategic_merge(&mut doc, &patch, &mut Vec::new(), &merge);
        assert_eq!(doc["metadata"]["finalizers"], json!(["a/a", "b/b"]));
        assert_eq!(
            doc["metadata"]["ownerReferences"],
            json!([{"uid": "1", "name": "y"}, {"uid": "2"}])
        );
    }
}
