//! The `/scale` subresource of custom resources whose CRD declares `subresources.scale`, as the
//! real server serves it: an `autoscaling/v1` `Scale` built from the resource's
//! `specReplicasPath`, `statusReplicasPath` and `labelSelectorPath`, readable with GET and
//! writable with PUT and PATCH (JSON, merge, strategic and apply patches of the `Scale`). A write
//! sets only the spec replicas field of the resource (`generation` moves, `status` does not) and
//! answers with the new `Scale`; a `resourceVersion` in the `Scale` is a precondition. The
//! replicas fields are also checked on every write of the resource (non-negative integers).

use serde_json::{Map, Value, json};

use super::errors::{ApiError, Cause};
use super::managed;
use super::meta;
use super::ops::{self, Outcome, Ownership, PatchType, State, Target, WriteOptions};
use super::patch::{self, ListMerge, PatchError};
use super::registry::{ResourceType, ScalePaths, to_served};

/// What `Scale.spec.replicas` holds while the resource has no spec replicas yet: a write that
/// leaves it so is refused (the real server's sentinel, the smallest `int32`).
const UNSET_REPLICAS: i64 = -2_147_483_648;

fn segments(path: &str) -> Vec<&str> {
    path.trim_start_matches('.').split('.').collect()
}

/// Go's `%T` of a JSON value decoded into `interface{}`.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's `%v` of a JSON value decoded into `interface{}` (scalars; containers abbreviated).
fn go_value(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(_) => "[...]".to_owned(),
        Value::Object(_) => "map[...]".to_owned(),
        other => other.to_string(),
    }
}

/// `unstructured.NestedFieldNoCopy`: the value at `path`, `None` when absent, an error when a
/// step on the way is not an object.
fn nested<'a>(object: &'a Value, path: &str) -> Result<Option<&'a Value>, String> {
    let fields = segments(path);
    let mut current = object;
    for (i, field) in fields.iter().enumerate() {
        match current {
            Value::Object(map) => match map.get(*field) {
                Some(v) => current = v,
                None => return Ok(None),
            },
            other => {
                return Err(format!(
                    ".{} accessor error: {} is of the type {}, expected map[string]interface{{}}",
                    fields[..i].join("."),
                    go_value(other),
                    go_type(other)
                ));
            }
        }
    }
    Ok(Some(current))
}

/// `unstructured.NestedInt64`.
fn nested_i64(object: &Value, path: &str) -> Result<Option<i64>, String> {
    match nested(object, path)? {
        None => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(other) => Err(format!(
            ".{} accessor error: {} is of the type {}, expected int64",
            segments(path).join("."),
            go_value(other),
            go_type(other)
        )),
    }
}

/// `unstructured.NestedString`.
fn nested_string(object: &Value, path: &str) -> Result<Option<String>, String> {
    match nested(object, path)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!(
            ".{} accessor error: {} is of the type {}, expected string",
            segments(path).join("."),
            go_value(other),
            go_type(other)
        )),
    }
}

/// The replicas checks the real server runs on every write of a resource with a scale
/// subresource (`status_only` for writes to `/status`).
pub(crate) fn validate(object: &Value, paths: &ScalePaths, status_only: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut replicas = |path: &str| match nested_i64(object, path) {
        Err(e) => causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!("Invalid value: 0: {e}"),
        )),
        Ok(Some(n)) if n < 0 => causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!("Invalid value: {n}: should be a non-negative integer"),
        )),
        Ok(Some(n)) if n > i64::from(i32::MAX) => causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!(
                "Invalid value: {n}: should be less than or equal to {}",
                i32::MAX
            ),
        )),
        Ok(_) => {}
    };
    if !status_only {
        replicas(&paths.spec_replicas);
    }
    replicas(&paths.status_replicas);
    if let Some(path) = &paths.label_selector
        && let Err(e) = nested_string(object, path)
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!("Invalid value: \"\": {e}"),
        ));
    }
    causes
}

/// `NewInternalError`: a 500 whose message says an internal error occurred.
fn internal(message: &str) -> ApiError {
    let mut error = ApiError::internal(format!("Internal error occurred: {message}"));
    error.details = Some(json!({"causes": [{"message": message}]}));
    error
}

fn paths(rt: &ResourceType) -> Result<&ScalePaths, ApiError> {
    rt.scale.as_ref().ok_or_else(ApiError::no_route)
}

/// The `Scale` of a custom resource (served form) and whether its spec replicas are set.
fn scale_of(rt: &ResourceType, cr: &Value) -> Result<(Value, bool), String> {
    let paths = paths(rt).map_err(|e| e.message)?;
    let spec = nested_i64(cr, &paths.spec_replicas)?;
    let status = nested_i64(cr, &paths.status_replicas)?.unwrap_or(0);
    let selector = match &paths.label_selector {
        Some(path) => nested_string(cr, path)?.unwrap_or_default(),
        None => String::new(),
    };
    let mut metadata = Map::new();
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = cr.pointer(&format!("/metadata/{field}")) {
            metadata.insert(field.to_owned(), v.clone());
        }
    }
    let mut scale_spec = Map::new();
    // `replicas` is `omitempty` in `ScaleSpec`, not in `ScaleStatus`.
    if let Some(n) = spec.filter(|n| *n != 0) {
        scale_spec.insert("replicas".to_owned(), json!(n));
    }
    let mut scale_status = json!({"replicas": status});
    if !selector.is_empty() {
        scale_status["selector"] = json!(selector);
    }
    Ok((
        json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": metadata,
            "spec": scale_spec,
            "status": scale_status,
        }),
        spec.is_some(),
    ))
}

fn stored_cr(state: &State, t: &Target<'_>) -> Result<Value, ApiError> {
    state
        .store
        .get(
            &t.rt.storage_key(),
            t.namespace.as_deref().unwrap_or_default(),
            t.name.as_deref().unwrap_or_default(),
        )
        .cloned()
        .ok_or_else(|| t.not_found())
}

/// GET `/scale`.
pub(crate) fn get(state: &State, t: &Target<'_>) -> Result<Value, ApiError> {
    let cr = to_served(&t.rt, stored_cr(state, t)?);
    let (scale, found) = scale_of(&t.rt, &cr).map_err(|e| internal(&e))?;
    if !found {
        let path = &paths(&t.rt)?.spec_replicas;
        return Err(internal(&format!(
            "the spec replicas field {path:?} does not exist"
        )));
    }
    Ok(scale)
}

/// The `Scale` a write starts from: the current one, with the sentinel when spec replicas are
/// not set yet.
fn current_scale(rt: &ResourceType, cr: &Value) -> Result<Value, ApiError> {
    let (mut scale, found) = scale_of(rt, cr).map_err(|e| internal(&e))?;
    if !found {
        scale["spec"]["replicas"] = json!(UNSET_REPLICAS);
    }
    Ok(scale)
}

/// Checks what a client sent as a `Scale` (kind, version, name and namespace).
fn check_scale(t: &Target<'_>, scale: &Value) -> Result<(), ApiError> {
    if !scale.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let text = |p: &str| scale.pointer(p).and_then(Value::as_str).unwrap_or_default();
    match text("/kind") {
        "" | "Scale" => {}
        kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the request body ({kind}) does not match the expected kind (Scale)"
            )));
        }
    }
    match text("/apiVersion") {
        "" | "autoscaling/v1" => {}
        version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({version}) does not match the expected API version (autoscaling/v1)"
            )));
        }
    }
    let name = t.name.as_deref().unwrap_or_default();
    match text("/metadata/name") {
        "" => {}
        given if given == name => {}
        given => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({given}) does not match the name on the URL ({name})"
            )));
        }
    }
    match (text("/metadata/namespace"), t.namespace.as_deref()) {
        ("", _) => Ok(()),
        (given, Some(ns)) if given == ns => Ok(()),
        _ => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
    }
}

/// Sets `path` in `object` to `value`, creating the objects on the way
/// (`unstructured.SetNestedField`).
fn set_nested(object: &mut Value, path: &str, value: Value) {
    let fields = segments(path);
    let mut current = object;
    for field in &fields[..fields.len().saturating_sub(1)] {
        if !current.get(*field).is_some_and(Value::is_object) {
            current[*field] = json!({});
        }
        current = &mut current[*field];
    }
    if let Some(last) = fields.last() {
        current[*last] = value;
    }
}

/// The resource with the replicas (and any `resourceVersion` precondition) of `scale`.
fn resource_with(t: &Target<'_>, cr: &Value, scale: &Value) -> Result<Value, ApiError> {
    let paths = paths(&t.rt)?;
    let replicas = scale
        .pointer("/spec/replicas")
        .map_or(Ok(0), |r| {
            r.as_i64()
                .filter(|n| i32::try_from(*n).is_ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Scale in version \"v1\" cannot be handled as a Scale: json: cannot unmarshal {r} into Go struct field ScaleSpec.spec.replicas of type int32"
                    ))
                })
        })?;
    if replicas == UNSET_REPLICAS {
        return Err(ApiError::bad_request(format!(
            "the spec replicas field {:?} cannot be empty",
            paths.spec_replicas
        )));
    }
    let mut next = cr.clone();
    set_nested(&mut next, &paths.spec_replicas, json!(replicas));
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|rv| !rv.is_empty())
        && let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.insert("resourceVersion".to_owned(), json!(rv));
    }
    Ok(next)
}

/// Runs the resource's write pipeline and answers with the new `Scale`.
fn commit(
    state: &mut State,
    t: &Target<'_>,
    stored: &Value,
    candidate: Value,
    ownership: Ownership,
) -> Result<Outcome, ApiError> {
    let options = WriteOptions::from(t.query, false)?;
    let outcome = ops::write_existing(state, t, stored, candidate, ownership, &options)?;
    let (scale, _) = scale_of(&t.rt, &outcome.body).map_err(ApiError::bad_request)?;
    Ok(Outcome {
        code: 200,
        body: scale,
        warnings: outcome.warnings,
    })
}

/// PUT `/scale`.
pub(crate) fn update(state: &mut State, t: &Target<'_>, body: &Value) -> Result<Outcome, ApiError> {
    check_scale(t, body)?;
    let stored = stored_cr(state, t)?;
    let cr = to_served(&t.rt, stored.clone());
    let candidate = resource_with(t, &cr, body)?;
    commit(state, t, &stored, candidate, Ownership::Update(t.manager()))
}

/// PATCH `/scale`: the patch applies to the `Scale`, which is a built-in type (strategic merge
/// patches are accepted even though the resource is custom).
pub(crate) fn patch(
    state: &mut State,
    t: &Target<'_>,
    patch_type: PatchType,
    body: &[u8],
) -> Result<Outcome, ApiError> {
    let stored = stored_cr(state, t)?;
    let cr = to_served(&t.rt, stored.clone());
    let old = current_scale(&t.rt, &cr)?;
    if patch_type == PatchType::Apply {
        return apply(state, t, &stored, &cr, body);
    }
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let patched = if patch_type == PatchType::Json {
        patch::json_patch(&old, &patch).map_err(|e| match e {
            PatchError::Malformed(m) => ApiError::bad_request(m),
            PatchError::Failed(m) => ApiError::new(422, "Invalid", m),
        })?
    } else {
        if !patch.is_object() {
            return Err(ApiError::bad_request("a merge patch must be a JSON object"));
        }
        let mut doc = old.clone();
        if patch_type == PatchType::Merge {
            patch::merge_patch(&mut doc, &patch);
        } else {
            patch::strategic_merge(&mut doc, &patch, &mut Vec::new(), &|_: &[String]| {
                ListMerge::Replace
            });
        }
        doc
    };
    check_scale(t, &patched)?;
    let candidate = resource_with(t, &cr, &patched)?;
    commit(state, t, &stored, candidate, Ownership::Update(t.manager()))
}

/// Server-side apply of a `Scale`: the applied replicas become the resource's spec replicas,
/// owned by the manager under the `scale` subresource.
fn apply(
    state: &mut State,
    t: &Target<'_>,
    stored: &Value,
    cr: &Value,
    body: &[u8],
) -> Result<Outcome, ApiError> {
    let rt = &t.rt;
    let Some(manager) = t.query.get("fieldManager").map(str::to_owned) else {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            &[Cause::new(
                "FieldValueRequired",
                "fieldManager",
                "Required value: is required for apply patch",
            )],
        ));
    };
    let applied: Value = serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    check_scale(t, &applied)?;
    if applied.pointer("/kind").is_none() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{applied}'"
        )));
    }
    if let Some(rv) = applied
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        && Some(rv)
            != cr
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
    {
        return Err(ApiError::stale(
            &rt.group,
            &rt.plural,
            t.name.as_deref().unwrap_or_default(),
        ));
    }
    let paths = paths(rt)?;
    let mut partial = json!({"apiVersion": rt.api_version(), "kind": rt.kind, "metadata": cr["metadata"].clone()});
    if let Some(meta) = partial["metadata"].as_object_mut() {
        meta.retain(|k, _| k == "name" || k == "namespace");
    }
    if let Some(replicas) = applied.pointer("/spec/replicas") {
        set_nested(&mut partial, &paths.spec_replicas, replicas.clone());
    }
    let merged = managed::apply(
        cr,
        &partial,
        rt,
        &manager,
        t.scope(),
        t.query.flag("force"),
        &meta::now(),
    )?;
    if nested_i64(&merged, &paths.spec_replicas)
        .ok()
        .flatten()
        .is_none()
    {
        return Err(ApiError::bad_request(format!(
            "the spec replicas field {:?} cannot be empty",
            paths.spec_replicas
        )));
    }
    commit(state, t, stored, merged, Ownership::Apply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> ScalePaths {
        ScalePaths {
            spec_replicas: ".spec.replicas".to_owned(),
            status_replicas: ".status.replicas".to_owned(),
            label_selector: Some(".status.selector".to_owned()),
        }
    }

    #[test]
    fn replicas_must_be_non_negative_integers() {
        let ok = json!({"spec": {"replicas": 2}, "status": {"replicas": 1, "selector": "a=b"}});
        assert!(validate(&ok, &paths(), false).is_empty());
        let negative = json!({"spec": {"replicas": -1}});
        let causes = validate(&negative, &paths(), false);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, ".spec.replicas");
        assert_eq!(
            causes[0].message,
            "Invalid value: -1: should be a non-negative integer"
        );
        assert!(validate(&negative, &paths(), true).is_empty());
        let text = json!({"spec": {"replicas": "two"}});
        assert_eq!(
            validate(&text, &paths(), false)[0].message,
            "Invalid value: 0: .spec.replicas accessor error: two is of the type string, expected int64"
        );
    }
}
