//! Object metadata rules the real server enforces: name formats (RFC 1123 subdomain or label),
//! label and annotation syntax, finalizer names, `generateName`, and timestamps.

use std::sync::LazyLock;

use rand::Rng;
use regex::Regex;
use serde_json::Value;

use super::errors::Cause;

static SUBDOMAIN: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").ok()
});
static LABEL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").ok());
static QUALIFIED_NAME: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$").ok());
static LABEL_VALUE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$").ok());

fn is_match(re: &LazyLock<Option<Regex>>, s: &str) -> bool {
    re.as_ref().is_some_and(|r| r.is_match(s))
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// Which rule an object's name follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (namespaces).
    Label,
}

/// Checks `metadata.name`.
pub(crate) fn validate_name(name: &str, rule: NameRule, causes: &mut Vec<Cause>) {
    let field = "metadata.name";
    let (ok, max, msg) = match rule {
        NameRule::Subdomain => (is_match(&SUBDOMAIN, name), 253, SUBDOMAIN_MSG),
        NameRule::Label => (is_match(&LABEL, name), 63, LABEL_MSG),
    };
    if name.len() > max {
        causes.push(Cause::new(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {name:?}: must be no more than {max} characters"),
        ));
    }
    if !ok {
        causes.push(Cause::new(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {name:?}: {msg}"),
        ));
    }
}

/// Checks a qualified name (`prefix/name` or `name`), as used by label keys and finalizers.
fn qualified_name_errors(key: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errors.push("prefix part must be non-empty".to_owned());
        } else if prefix.len() > 253 || !is_match(&SUBDOMAIN, prefix) {
            errors.push(format!("prefix part {SUBDOMAIN_MSG}"));
        }
    }
    if name.is_empty() {
        errors.push("name part must be non-empty".to_owned());
    } else if name.len() > 63 {
        errors.push("name part must be no more than 63 characters".to_owned());
    } else if !is_match(&QUALIFIED_NAME, name) {
        errors.push(QUALIFIED_MSG.to_owned());
    }
    errors
}

const STANDARD_FINALIZERS: [&str; 4] = [
    "kubernetes",
    "orphan",
    "foregroundDeletion",
    "customresourcecleanup.apiextensions.k8s.io",
];

/// Checks labels, annotations and finalizers (a finalizer without a path is only a warning).
pub(crate) fn validate_metadata(meta: &Value, causes: &mut Vec<Cause>, warnings: &mut Vec<String>) {
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (key, value) in labels {
            for e in qualified_name_errors(key) {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    "metadata.labels",
                    format!("Invalid value: {key:?}: {e}"),
                ));
            }
            let value = value.as_str().unwrap_or_default();
            if value.len() > 63 || !is_match(&LABEL_VALUE, value) {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    &format!("metadata.labels.{key}"),
                    format!("Invalid value: {value:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"),
                ));
            }
        }
    }
    if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
        let mut total = 0;
        for (key, value) in annotations {
            total += key.len() + value.as_str().map_or(0, str::len);
            for e in qualified_name_errors(&key.to_ascii_lowercase()) {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    "metadata.annotations",
                    format!("Invalid value: {key:?}: {e}"),
                ));
            }
        }
        if total > 256 * 1024 {
            causes.push(Cause::new(
                "FieldValueTooLong",
                "metadata.annotations",
                "Too long: may not be more than 262144 bytes",
            ));
        }
    }
    if let Some(finalizers) = meta.get("finalizers").and_then(Value::as_array) {
        for (i, f) in finalizers.iter().enumerate() {
            let f = f.as_str().unwrap_or_default();
            let field = format!("metadata.finalizers[{i}]");
            let errors = qualified_name_errors(f);
            if !errors.is_empty() {
                for e in errors {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        &field,
                        format!("Invalid value: {f:?}: {e}"),
                    ));
                }
            } else if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f) {
                warnings.push(format!(
                    "{field}: {f:?}: prefer a domain-qualified finalizer name including a path (/) to avoid accidental conflicts with other finalizer writers"
                ));
            }
        }
    }
}

/// `generateName` plus five random characters, as the real server makes them.
pub(crate) fn generate_name(base: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let base: String = base.chars().take(58).collect();
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("{base}{suffix}")
}

/// Now, as a `metav1.Time` string (seconds precision, UTC).
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_rfc_1123() {
        let mut causes = Vec::new();
        validate_name("jane-doe.local", NameRule::Subdomain, &mut causes);
        assert!(causes.is_empty());
        validate_name("Jane", NameRule::Subdomain, &mut causes);
        assert_eq!(causes.len(), 1);
        validate_name("a.b", NameRule::Label, &mut causes);
        assert_eq!(causes.len(), 2);
    }

    #[test]
    fn finalizers_without_a_path_only_warn() {
        let (mut causes, mut warnings) = (Vec::new(), Vec::new());
        validate_metadata(
            &json!({"finalizers": ["kubernetes", "example.com/cleanup"]}),
            &mut causes,
            &mut warnings,
        );
        assert!(causes.is_empty() && warnings.is_empty());
        validate_metadata(
            &json!({"finalizers": ["cleanup"]}),
            &mut causes,
            &mut warnings,
        );
        assert!(causes.is_empty());
        assert_eq!(warnings.len(), 1);
        validate_metadata(
            &json!({"finalizers": ["a b/c"]}),
            &mut causes,
            &mut warnings,
        );
        assert_eq!(causes.len(), 1);
    }

    #[test]
    fn generated_names_keep_the_prefix() {
        let name = generate_name("jane-");
        assert!(name.starts_with("jane-"));
        assert_eq!(name.len(), 10);
    }
}
