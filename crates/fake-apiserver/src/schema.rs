//! Custom resources against their CRD's structural `openAPIV3Schema`, in the real server's
//! order: prune unknown fields (kept under `x-kubernetes-preserve-unknown-fields`) and nulls of
//! non-nullable fields, apply `default`s, validate (types, `required`, `enum`, `pattern`,
//! lengths, bounds, list types, formats, `allOf`/`anyOf`/`oneOf`/`not`), then evaluate the CEL
//! rules in `x-kubernetes-validations` (with `oldSelf` on updates). Unchanged invalid values are
//! tolerated on update (validation ratcheting).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::errors::Cause;
use super::patch::json_equal;

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Removes fields the schema does not know (returning their paths, for `fieldValidation`) and
/// nulls of non-nullable fields, then applies defaults.
pub(crate) fn prune_and_default(object: &mut Value, schema: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    prune(object, schema, "", true, &mut unknown);
    apply_defaults(object, schema);
    unknown
}

fn prune(value: &mut Value, schema: &Value, path: &str, root: bool, unknown: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
            let embedded = root || flag(schema, "x-kubernetes-embedded-resource");
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child_path = join(path, &key);
                if embedded && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(prop) = properties.and_then(|p| p.get(&key)) {
                    let is_null = map.get(&key).is_some_and(Value::is_null);
                    if is_null && !flag(prop, "nullable") {
                        map.remove(&key);
                        continue;
                    }
                    if let Some(child) = map.get_mut(&key) {
                        prune(child, prop, &child_path, false, unknown);
                    }
                } else if let Some(additional) = additional.filter(|a| a.is_object()) {
                    if let Some(child) = map.get_mut(&key) {
                        prune(child, additional, &child_path, false, unknown);
                    }
                } else if preserve || additional.and_then(Value::as_bool) == Some(true) {
                    // kept as is
                } else {
                    map.remove(&key);
                    unknown.push(child_path);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item, item_schema, &format!("{path}[{i}]"), false, unknown);
                }
            }
        }
        _ => {}
    }
}

fn apply_defaults(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, prop) in properties {
                    if !map.contains_key(key)
                        && let Some(default) = prop.get("default")
                    {
                        map.insert(key.clone(), default.clone());
                    }
                }
                for (key, child) in map.iter_mut() {
                    if let Some(prop) = properties.get(key) {
                        apply_defaults(child, prop);
                    }
                }
            } else if let Some(additional) =
                schema.get("additionalProperties").filter(|a| a.is_object())
            {
                for child in map.values_mut() {
                    apply_defaults(child, additional);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_defaults(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value the way Go's `%q`/`%v` shows it in field errors.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "\"null\"".to_owned(),
        other => format!("\"{}\"", type_name(other)),
    }
}

fn number_text(n: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn matches_type(value: &Value, ty: &str) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        "integer" => match value {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        _ => true,
    }
}

static UUID: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
        .ok()
});

static FULL_DATE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$").ok());

/// The time part of a `date-time` (RFC 3339 `partial-time` and a `time-offset`, lower case).
static TIME_WITH_OFFSET: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$").ok()
});

/// `format: date`: a real `YYYY-MM-DD` calendar date.
fn is_date(s: &str) -> bool {
    FULL_DATE.as_ref().is_some_and(|r| r.is_match(s))
        && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// `format: date-time` exactly as the real server checks it: a date, `T`, a time with an offset
/// (`Z` or `±hh:mm`); a time without an offset is refused, any year up to 9999 is fine.
fn is_date_time(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('t').collect();
    if s.len() < 4 || parts.len() < 2 || !is_date(parts[0]) {
        return false;
    }
    TIME_WITH_OFFSET
        .as_ref()
        .and_then(|r| r.captures(parts[1]))
        .is_some_and(|c| {
            let field = |i| c.get(i).map_or("", |m| m.as_str());
            field(1) <= "23" && field(2) <= "59" && field(3) <= "59"
        })
}

fn format_ok(format: &str, s: &str) -> bool {
    match format {
        "date-time" | "datetime" => is_date_time(s),
        "date" => is_date(s),
        "byte" => base64::Engine::decode(&base64::engine::general_purpose::STANDARD, s).is_ok(),
        "uuid" => UUID.as_ref().is_some_and(|r| r.is_match(s)),
        _ => true,
    }
}

/// Validates `value` against `schema`; `path` names it in causes (e.g. `spec.user`).
pub(crate) fn validate(value: &Value, schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    if value.is_null() {
        if !flag(schema, "nullable") && schema.get("type").is_some() {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                path,
                format!(
                    "Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                    schema["type"].as_str().unwrap_or("object")
                ),
            ));
        }
        return;
    }
    if flag(schema, "x-kubernetes-int-or-string") {
        if !(value.is_string() || matches_type(value, "integer")) {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                path,
                format!(
                    "Invalid value: {}: {path} in body must be of type integer-or-string: {}",
                    show(value),
                    show(value)
                ),
            ));
            return;
        }
    } else if let Some(ty) = schema.get("type").and_then(Value::as_str)
        && !matches_type(value, ty)
    {
        let actual = type_name(value);
        causes.push(Cause::new(
            "FieldValueTypeInvalid",
            path,
            format!(
                "Invalid value: \"{actual}\": {path} in body must be of type {ty}: \"{actual}\""
            ),
        ));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.iter().any(|a| json_equal(a, value))
    {
        let list: Vec<String> = allowed.iter().map(show).collect();
        causes.push(Cause::new(
            "FieldValueNotSupported",
            path,
            format!(
                "Unsupported value: {}: supported values: {}",
                show(value),
                list.join(", ")
            ),
        ));
    }
    match value {
        Value::String(s) => validate_string(s, schema, path, causes),
        Value::Number(n) => {
            validate_number(n.as_f64().unwrap_or_default(), value, schema, path, causes);
        }
        Value::Array(items) => validate_array(items, schema, path, causes),
        Value::Object(map) => validate_object(map, schema, path, causes),
        _ => {}
    }
    validate_combinators(value, schema, path, causes);
}

fn validate_string(s: &str, schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    let len = s.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        causes.push(Cause::new(
            "FieldValueTooLong",
            path,
            format!("Too long: may not be more than {max} bytes"),
        ));
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!(
                "Invalid value: {}: {path} in body should be at least {min} chars long",
                show(&Value::String(s.to_owned()))
            ),
        ));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && Regex::new(pattern).is_ok_and(|re| !re.is_match(s))
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!(
                "Invalid value: {}: {path} in body should match '{pattern}'",
                show(&Value::String(s.to_owned()))
            ),
        ));
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str)
        && !format_ok(format, s)
    {
        // A format mismatch is a type error to the real server's OpenAPI validator.
        let shown = show(&Value::String(s.to_owned()));
        causes.push(Cause::new(
            "FieldValueTypeInvalid",
            path,
            format!("Invalid value: {shown}: {path} in body must be of type {format}: {shown}"),
        ));
    }
}

fn validate_number(n: f64, value: &Value, schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    let shown = show(value);
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let exclusive = flag(schema, "exclusiveMinimum");
        if n < min || (exclusive && n <= min) {
            let word = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            causes.push(Cause::new(
                "FieldValueInvalid",
                path,
                format!(
                    "Invalid value: {shown}: {path} in body should be {word} {}",
                    number_text(min)
                ),
            ));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let exclusive = flag(schema, "exclusiveMaximum");
        if n > max || (exclusive && n >= max) {
            let word = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            causes.push(Cause::new(
                "FieldValueInvalid",
                path,
                format!(
                    "Invalid value: {shown}: {path} in body should be {word} {}",
                    number_text(max)
                ),
            ));
        }
    }
    if let Some(m) = schema.get("multipleOf").and_then(Value::as_f64)
        && m != 0.0
        && (n / m).fract().abs() > f64::EPSILON
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!(
                "Invalid value: {shown}: {path} in body should be a multiple of {}",
                number_text(m)
            ),
        ));
    }
}

fn validate_array(items: &[Value], schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    let len = items.len() as u64;
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && len > max
    {
        causes.push(Cause::new(
            "FieldValueTooMany",
            path,
            format!("Too many: {len}: must have at most {max} items"),
        ));
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && len < min
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!("Invalid value: {len}: {path} in body should have at least {min} items"),
        ));
    }
    let list_type = schema.get("x-kubernetes-list-type").and_then(Value::as_str);
    if flag(schema, "uniqueItems") || list_type == Some("set") {
        for (i, item) in items.iter().enumerate() {
            if items[..i].iter().any(|earlier| json_equal(earlier, item)) {
                causes.push(Cause::new(
                    "FieldValueDuplicate",
                    &format!("{path}[{i}]"),
                    format!("Duplicate value: {item}"),
                ));
            }
        }
    }
    if list_type == Some("map") {
        let keys: Vec<&str> = schema
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|k| k.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let key_of = |item: &Value| -> Value {
            Value::Object(
                keys.iter()
                    .filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                    .collect(),
            )
        };
        for (i, item) in items.iter().enumerate() {
            let key = key_of(item);
            if items[..i].iter().any(|earlier| key_of(earlier) == key) {
                causes.push(Cause::new(
                    "FieldValueDuplicate",
                    &format!("{path}[{i}]"),
                    format!("Duplicate value: {key}"),
                ));
            }
        }
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            validate(item, item_schema, &format!("{path}[{i}]"), causes);
        }
    }
}

fn validate_object(map: &Map<String, Value>, schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for key in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(key) {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    &join(path, key),
                    "Required value",
                ));
            }
        }
    }
    let count = map.len() as u64;
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && count > max
    {
        causes.push(Cause::new(
            "FieldValueTooMany",
            path,
            format!("Too many: {count}: must have at most {max} items"),
        ));
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && count < min
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!("Invalid value: {count}: {path} in body should have at least {min} properties"),
        ));
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    let root = path.is_empty();
    for (key, child) in map {
        if (root || flag(schema, "x-kubernetes-embedded-resource"))
            && matches!(key.as_str(), "apiVersion" | "kind" | "metadata")
            && properties.and_then(|p| p.get(key)).is_none()
        {
            continue;
        }
        if let Some(prop) = properties.and_then(|p| p.get(key)) {
            validate(child, prop, &join(path, key), causes);
        } else if let Some(additional) = additional {
            validate(child, additional, &join(path, key), causes);
        }
    }
}

fn validate_combinators(value: &Value, schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for sub in all {
            validate(value, sub, path, causes);
        }
    }
    let passes = |sub: &Value| {
        let mut errors = Vec::new();
        validate(value, sub, path, &mut errors);
        errors.is_empty()
    };
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
        && !any.iter().any(passes)
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!(
                "Invalid value: {}: {path} in body must be one of the anyOf schemas",
                show(value)
            ),
        ));
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array)
        && one.iter().filter(|s| passes(s)).count() != 1
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!(
                "Invalid value: {}: {path} in body must match exactly one oneOf schema",
                show(value)
            ),
        ));
    }
    if let Some(not) = schema.get("not")
        && passes(not)
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!(
                "Invalid value: {}: {path} in body must not match the schema in \"not\"",
                show(value)
            ),
        ));
    }
}

/// What the CEL rules said: causes that reject the request, and warnings for rules this server
/// could not evaluate (the request is not rejected for those).
#[derive(Debug, Default)]
pub(crate) struct CelOutcome {
    pub causes: Vec<Cause>,
    pub warnings: Vec<String>,
}

/// Evaluates the schema's `x-kubernetes-validations` rules (transition rules get `oldSelf`).
pub(crate) fn validate_cel(
    schema: &Value,
    object: &Value,
    old: Option<&Value>,
    root: (&str, &str, &str),
) -> CelOutcome {
    let (api_version, api_group, kind) = root;
    let context = kube_cel::RootContext {
        api_version: api_version.to_owned(),
        api_group: api_group.to_owned(),
        kind: kind.to_owned(),
    };
    let validator = kube_cel::Validator::new();
    let mut outcome = CelOutcome::default();
    let Err(errors) = validator.validate_with_context(schema, object, old, Some(&context)) else {
        return outcome;
    };
    for error in errors {
        match error.kind {
            kube_cel::ErrorKind::ValidationFailure
            | kube_cel::ErrorKind::InvalidResult
            | kube_cel::ErrorKind::EvaluationError => {
                let reason = error
                    .reason
                    .clone()
                    .unwrap_or_else(|| "FieldValueInvalid".to_owned());
                let message = match reason.as_str() {
                    "FieldValueRequired" => format!("Required value: {}", error.message),
                    "FieldValueForbidden" => format!("Forbidden: {}", error.message),
                    "FieldValueDuplicate" => format!("Duplicate value: {}", error.message),
                    _ => {
                        let actual =
                            value_at(object, &error.field_path).map_or("object", type_name);
                        format!("Invalid value: \"{actual}\": {}", error.message)
                    }
                };
                outcome
                    .causes
                    .push(Cause::new(&reason, &error.field_path, message));
            }
            _ => outcome.warnings.push(format!(
                "fake-apiserver did not evaluate the CEL rule {:?} at {}: {}",
                error.rule, error.field_path, error.message
            )),
        }
    }
    outcome
}

/// The value at a field path such as `spec.actions[0].step` (or `spec.labels['a.b']`).
pub(crate) fn value_at<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = object;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inner = &after[..end];
            current = if let Ok(i) = inner.parse::<usize>() {
                current.get(i)?
            } else {
                current.get(inner.trim_matches(|c| c == '\'' || c == '"'))?
            };
            rest = &after[end + 1..];
        } else {
            let rest_trimmed = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_trimmed.find(['.', '[']).unwrap_or(rest_trimmed.len());
            current = current.get(&rest_trimmed[..end])?;
            rest = &rest_trimmed[end..];
        }
    }
    Some(current)
}

/// Drops causes whose value did not change from `old` (validation ratcheting on update).
pub(crate) fn ratchet(causes: Vec<Cause>, new: &Value, old: Option<&Value>) -> Vec<Cause> {
    let Some(old) = old else {
        return causes;
    };
    causes
        .into_iter()
        .filter(|c| {
            let before = value_at(old, &c.field);
            let after = value_at(new, &c.field);
            match (before, after) {
                (Some(b), Some(a)) => !json_equal(a, b),
                (None, None) => false,
                _ => true,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "maxLength": 5, "pattern": "^[a-z]+$"},
                        "mode": {"type": "string", "enum": ["A", "B"], "default": "A"},
                        "count": {"type": "integer", "minimum": 1, "maximum": 3},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "nested": {"type": "object", "default": {}, "properties": {"x": {"type": "integer", "default": 7}}}
                    }
                }
            }
        })
    }

    #[test]
    fn unknown_fields_are_pruned_except_where_preserved_and_defaults_fill_in() {
        let mut obj = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "n"},
            "spec": {"name": "abc", "junk": 1, "free": {"any": {"thing": 1}}, "mode": null}});
        let unknown = prune_and_default(&mut obj, &schema());
        assert_eq!(unknown, vec!["spec.junk".to_owned()]);
        assert_eq!(obj["spec"]["free"]["any"]["thing"], 1);
        assert_eq!(obj["spec"]["mode"], "A");
        assert_eq!(obj["spec"]["nested"]["x"], 7);
        assert_eq!(obj["metadata"]["name"], "n");
    }

    #[test]
    fn violations_are_reported_with_field_paths() {
        let obj = json!({"spec": {"mode": "C", "count": 9, "free": {}}});
        let mut causes = Vec::new();
        validate(&obj, &schema(), "", &mut causes);
        let fields: Vec<(&str, &str)> = causes
            .iter()
            .map(|c| (c.field.as_str(), c.reason.as_str()))
            .collect();
        assert!(fields.contains(&("spec.name", "FieldValueRequired")));
        assert!(fields.contains(&("spec.mode", "FieldValueNotSupported")));
        assert!(fields.contains(&("spec.count", "FieldValueInvalid")));
        let obj = json!({"spec": {"name": "toolong1", "count": "x"}});
        let mut causes = Vec::new();
        validate(&obj, &schema(), "", &mut causes);
        assert!(causes.iter().any(|c| c.reason == "FieldValueTooLong"));
        assert!(
            causes
                .iter()
                .any(|c| c.reason == "FieldValueTypeInvalid" && c.field == "spec.count")
        );
    }

    #[test]
    fn cel_rules_reject_with_their_reason_and_check_transitions() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "x-kubernetes-validations": [
            {"rule": "has(self.a) || has(self.b)", "message": "set a or b", "reason": "FieldValueRequired"},
            {"rule": "self == oldSelf", "message": "immutable", "reason": "FieldValueForbidden"}
        ]}}});
        let obj = json!({"spec": {}});
        let out = validate_cel(&schema, &obj, None, ("x/v1", "x", "K"));
        assert_eq!(out.causes.len(), 1);
        assert_eq!(out.causes[0].field, "spec");
        assert_eq!(out.causes[0].message, "Required value: set a or b");
        let out = validate_cel(
            &schema,
            &json!({"spec": {"a": "2"}}),
            Some(&json!({"spec": {"a": "1"}})),
            ("x/v1", "x", "K"),
        );
        assert_eq!(out.causes.len(), 1);
        assert!(out.causes[0].message.starts_with("Forbidden: immutable"));
    }

    #[test]
    fn date_times_need_an_offset_and_any_real_date() {
        for ok in [
            "2026-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2026-01-01t00:00:00.123+02:00",
            "2026-06-30T12:00:00-07:00",
        ] {
            assert!(format_ok("date-time", ok), "{ok}");
        }
        for bad in [
            "2026-01-01T00:00:00",
            "2026-01-01",
            "2026-02-30T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T23:59:60Z",
            "2026-1-1T00:00:00Z",
            "2026-01-01 00:00:00Z",
        ] {
            assert!(!format_ok("date-time", bad), "{bad}");
        }
    }

    #[test]
    fn value_paths_resolve_indices_and_keys() {
        let obj = json!({"spec": {"list": [{"a": 1}], "m": {"x.y": 2}}});
        assert_eq!(value_at(&obj, "spec.list[0].a"), Some(&json!(1)));
        assert_eq!(value_at(&obj, "spec.m['x.y']"), Some(&json!(2)));
    }
}
