//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, exists, `!key`, `<`, `>`) and field
//! selectors (`=`, `==`, `!=` on the fields a resource supports, e.g. `metadata.name`).

use serde_json::Value;

use super::errors::ApiError;

#[derive(Clone, Debug, PartialEq, Eq)]
enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

/// A parsed `labelSelector`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0_i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(rest: &str, selector: &str) -> Result<Vec<String>, ApiError> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| bad_label(selector, "expected a parenthesized set of values"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect())
}

fn bad_label(selector: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "unable to parse requirement: invalid label selector {selector:?}: {why}"
    ))
}

fn parse_requirement(token: &str, selector: &str) -> Result<LabelRequirement, ApiError> {
    if let Some(key) = token.strip_prefix('!') {
        return Ok(LabelRequirement::NotExists(key.trim().to_owned()));
    }
    if let Some(paren) = token.find('(') {
        let head = token[..paren].trim();
        let set = parse_set(&token[paren..], selector)?;
        if let Some(key) = head.strip_suffix(" notin") {
            return Ok(LabelRequirement::NotIn(key.trim().to_owned(), set));
        }
        if let Some(key) = head.strip_suffix(" in") {
            return Ok(LabelRequirement::In(key.trim().to_owned(), set));
        }
        return Err(bad_label(selector, "expected `in` or `notin`"));
    }
    if let Some((k, v)) = token.split_once("!=") {
        return Ok(LabelRequirement::NotEquals(
            k.trim().to_owned(),
            v.trim().to_owned(),
        ));
    }
    if let Some((k, v)) = token.split_once("==") {
        return Ok(LabelRequirement::Equals(
            k.trim().to_owned(),
            v.trim().to_owned(),
        ));
    }
    if let Some((k, v)) = token.split_once('=') {
        return Ok(LabelRequirement::Equals(
            k.trim().to_owned(),
            v.trim().to_owned(),
        ));
    }
    for (op, greater) in [('>', true), ('<', false)] {
        if let Some((k, v)) = token.split_once(op) {
            let n = v
                .trim()
                .parse::<i64>()
                .map_err(|_| bad_label(selector, "expected an integer"))?;
            let key = k.trim().to_owned();
            return Ok(if greater {
                LabelRequirement::GreaterThan(key, n)
            } else {
                LabelRequirement::LessThan(key, n)
            });
        }
    }
    if token.contains(char::is_whitespace) {
        return Err(bad_label(selector, "unexpected whitespace"));
    }
    Ok(LabelRequirement::Exists(token.to_owned()))
}

impl LabelSelector {
    pub(crate) fn parse(selector: Option<&str>) -> Result<Self, ApiError> {
        let Some(selector) = selector else {
            return Ok(Self::default());
        };
        let requirements = split_top_level(selector)
            .into_iter()
            .map(|t| parse_requirement(t, selector))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { requirements })
    }

    /// Whether an object (its `metadata.labels`) matches.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object);
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.requirements.iter().all(|r| match r {
            LabelRequirement::Equals(k, v) => label(k) == Some(v.as_str()),
            LabelRequirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            LabelRequirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelRequirement::NotIn(k, vs) => label(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            LabelRequirement::Exists(k) => label(k).is_some(),
            LabelRequirement::NotExists(k) => label(k).is_none(),
            LabelRequirement::GreaterThan(k, n) => label(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l > *n),
            LabelRequirement::LessThan(k, n) => label(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l < *n),
        })
    }
}

/// A parsed `fieldSelector`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector {
    // (field path, value, equal?)
    requirements: Vec<(String, String, bool)>,
}

impl FieldSelector {
    /// Parses `selector`, accepting only the fields in `supported`.
    pub(crate) fn parse(selector: Option<&str>, supported: &[String]) -> Result<Self, ApiError> {
        let Some(selector) = selector else {
            return Ok(Self::default());
        };
        let mut requirements = Vec::new();
        for token in split_top_level(selector) {
            let (field, value, equal) = if let Some((f, v)) = token.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = token.split_once("==") {
                (f, v, true)
            } else if let Some((f, v)) = token.split_once('=') {
                (f, v, true)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{selector}'; can't understand '{token}'"
                )));
            };
            let field = field.trim();
            if !supported.iter().any(|s| s == field) {
                let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field} (supported: {})",
                    list.join(", ")
                )));
            }
            requirements.push((field.to_owned(), value.trim().replace("\\,", ","), equal));
        }
        Ok(Self { requirements })
    }

    /// Whether an object matches; fields are looked up as dotted paths in the object.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|(field, value, equal)| {
            let actual = field_value(object, field);
            (actual == *value) == *equal
        })
    }
}

/// A field as a string the way field selectors compare it (missing = empty).
fn field_value(object: &Value, path: &str) -> String {
    let mut current = object;
    for part in path.split('.') {
        match current.get(part) {
            Some(next) => current = next,
            None => return String::new(),
        }
    }
    match current {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn labelled(labels: &Value) -> Value {
        json!({"metadata": {"labels": labels}})
    }

    #[test]
    fn set_based_and_equality_requirements_combine() {
        let s = LabelSelector::parse(Some("app in (a, b),tier!=db,!legacy,team")).unwrap();
        assert!(s.matches(&labelled(&json!({"app": "a", "tier": "web", "team": "x"}))));
        assert!(!s.matches(&labelled(&json!({"app": "c", "team": "x"}))));
        assert!(!s.matches(&labelled(&json!({"app": "a", "team": "x", "legacy": "1"}))));
        assert!(!s.matches(&labelled(&json!({"app": "a"}))));
    }

    #[test]
    fn field_selectors_reject_unsupported_fields() {
        let supported = vec!["metadata.name".to_owned()];
        assert!(FieldSelector::parse(Some("spec.x=1"), &supported).is_err());
        let s = FieldSelector::parse(Some("metadata.name=foo"), &supported).unwrap();
        assert!(s.matches(&json!({"metadata": {"name": "foo"}})));
        assert!(!s.matches(&json!({"metadata": {"name": "bar"}})));
    }
}
