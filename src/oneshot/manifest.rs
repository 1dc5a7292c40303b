//! The file of `genesys-offboarding reconcile -f FILE`, checked as strictly as `kubectl apply
//! --validate=strict` and the API server would check it, before anything is sent to Genesys.
//!
//! Start at [`parse`]. Every document of the file is checked, and the file is refused as a whole
//! ([`Refusal`], one per problem) when any document is refused, so a typo in the third resource
//! cannot leave the first two half-done. A document, numbered from 1 as a reader counts them, is:
//!
//! - empty (a trailing `---`): ignored, as `kubectl` does;
//! - a `GenesysUserOffboarding` of `offboarding.genesys-operator.io/v1alpha1`: checked against
//!   the CRD's own openAPIV3Schema (generated in-process from the Rust types), with `metadata`
//!   checked against `ObjectMeta`'s schema: an undeclared field anywhere (spec, metadata, status),
//!   a value of the wrong type, a value outside an `enum` or a missing required field refuses it;
//!   then the spec rules the API server enforces (the CEL rules and bounds that
//!   [`validate`](crate::crd::GenesysUserOffboardingSpec::validate) mirrors) and a
//!   `metadata.name` are required. A `status` is accepted (checked like the spec) because it is
//!   how a rerun continues: the printed output of a run can be given back as the file;
//! - of the group `offboarding.genesys-operator.io` with another version or kind, or of kind
//!   `GenesysUserOffboarding` (in any letter case) with another apiVersion: refused, since it can
//!   only be a mistake for an offboarding;
//! - without `apiVersion` or `kind`, or not a mapping: refused (not a Kubernetes object);
//! - any other kind (a `Secret`, an Argo CD `Application`, ...): skipped and listed in
//!   [`Loaded::skipped`], since the one-shot mode takes credentials from the environment or
//!   the emulator and applies nothing else.
//!
//! A `null` under a field that is not `nullable` is dropped, as the API server prunes it. No I/O:
//! the caller reads the file.

use std::fmt;
use std::sync::LazyLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::CustomResourceExt as _;
use kube::Resource as _;
use serde::Deserialize as _;
use serde_json::{Map, Value};

use crate::crd::GenesysUserOffboarding;

/// The kind the one-shot mode runs.
const KIND: &str = "GenesysUserOffboarding";

/// One document of the file: its number (from 1) and its `metadata.name` when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub number: usize,
    pub name: Option<String>,
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "document {} ({name})", self.number),
            None => write!(f, "document {}", self.number),
        }
    }
}

/// Why a document was refused: `document 2 (jane): unknown field "spec.managementpolicy"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub document: Document,
    pub problem: String,
}

/// How a refusal by the spec rules begins: the operator stalls such a resource as
/// `InvalidSpec`, while a schema refusal is the API server's alone.
const INVALID_SPEC: &str = "invalid spec";

impl Refusal {
    /// Refused by the spec rules (the operator's `InvalidSpec`), not by the schema.
    pub fn is_invalid_spec(&self) -> bool {
        self.problem.starts_with(INVALID_SPEC)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.document, self.problem)
    }
}

/// A document that is not an offboarding and was left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub document: Document,
    pub api_version: String,
    pub kind: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: skipped {} {}: the one-shot mode runs only {KIND} resources",
            self.document, self.api_version, self.kind
        )
    }
}

/// The offboardings of a file that passed every check, and the documents skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub resources: Vec<GenesysUserOffboarding>,
    pub skipped: Vec<Skipped>,
}

/// Why a file was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A document is not YAML; the documents after it cannot be read.
    #[error("document {document} is not valid YAML{}", location(*.line, *.column))]
    Syntax {
        document: usize,
        line: Option<usize>,
        column: Option<usize>,
        #[source]
        source: serde_yaml::Error,
    },
    /// Documents refused; nothing from the file may run.
    #[error("{} document problem(s)", .0.len())]
    Refused(Vec<Refusal>),
}

/// ` (line 6, column 2)`, or less when less is known.
pub(super) fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" (line {line}, column {column})"),
        (Some(line), None) => format!(" (line {line})"),
        _ => String::new(),
    }
}

/// Every offboarding of `text`, checked; or every problem of every document. A resource without
/// `metadata.generation` gets 1, as the API server would give it on create.
pub fn parse(text: &str) -> Result<Loaded, ManifestError> {
    let mut loaded = Loaded {
        resources: Vec::new(),
        skipped: Vec::new(),
    };
    let mut refusals = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let number = index + 1;
        // After a syntax error the iterator repeats the error forever: stop at the first.
        let value = serde_yaml::Value::deserialize(document).map_err(|source| {
            let location = source.location();
            ManifestError::Syntax {
                document: number,
                line: location.as_ref().map(serde_yaml::Location::line),
                column: location.as_ref().map(serde_yaml::Location::column),
                source,
            }
        })?;
        match check(number, &value) {
            Checked::Empty => {}
            Checked::Resource(resource) => loaded.resources.push(*resource),
            Checked::Skipped(skipped) => loaded.skipped.push(skipped),
            Checked::Refused(mut found) => refusals.append(&mut found),
        }
    }
    if refusals.is_empty() {
        Ok(loaded)
    } else {
        Err(ManifestError::Refused(refusals))
    }
}

enum Checked {
    Empty,
    Resource(Box<GenesysUserOffboarding>),
    Skipped(Skipped),
    Refused(Vec<Refusal>),
}

fn check(number: usize, value: &serde_yaml::Value) -> Checked {
    if value.is_null() {
        return Checked::Empty;
    }
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(serde_yaml::Value::as_str)
        .map(str::to_owned);
    let document = Document { number, name };
    let refused = |problem: String| {
        Checked::Refused(vec![Refusal {
            document: document.clone(),
            problem,
        }])
    };
    let mut object = match serde_json::to_value(value) {
        Ok(object @ Value::Object(_)) => object,
        Ok(_) => {
            return refused(
                "not a Kubernetes object (a mapping with apiVersion and kind)".to_owned(),
            );
        }
        Err(e) => return refused(format!("not representable as JSON: {e}")),
    };
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    let (Some(api_version), Some(kind)) = (text("apiVersion"), text("kind")) else {
        let missing = if text("apiVersion").is_none() {
            "apiVersion"
        } else {
            "kind"
        };
        return refused(format!("{missing} not set"));
    };
    let ours = GenesysUserOffboarding::api_version(&());
    let group = GenesysUserOffboarding::group(&());
    let in_our_group = api_version.split_once('/').map(|(g, _)| g) == Some(group.as_ref());
    match (in_our_group, api_version == ours, kind == KIND) {
        (_, true, true) => {}
        (true, false, true) => {
            return refused(format!(
                "apiVersion {api_version} is not served: {KIND} is {ours}"
            ));
        }
        (true, _, false) => {
            return refused(format!(
                "no kind {kind:?} in {group}: it serves only {KIND} ({ours})"
            ));
        }
        (false, _, _) if kind.eq_ignore_ascii_case(KIND) => {
            return refused(format!(
                "kind {kind} with apiVersion {api_version}: {KIND} is {ours}"
            ));
        }
        (false, _, _) => {
            return Checked::Skipped(Skipped {
                document,
                api_version,
                kind,
            });
        }
    }

    let mut problems = Vec::new();
    walk(&SCHEMA, &mut object, "", &mut problems);
    if problems.is_empty() {
        match typed(object, &document) {
            Ok(resource) => return Checked::Resource(Box::new(resource)),
            Err(problem) => problems.push(problem),
        }
    }
    Checked::Refused(
        problems
            .into_iter()
            .map(|problem| Refusal {
                document: document.clone(),
                problem,
            })
            .collect(),
    )
}

/// The schema-checked object as the Rust type, with the checks the API server makes beyond the
/// schema: the spec rules, and a name.
fn typed(object: Value, document: &Document) -> Result<GenesysUserOffboarding, String> {
    if document.name.as_deref().is_none_or(str::is_empty) {
        return Err("metadata.name: Required value".to_owned());
    }
    let mut resource: GenesysUserOffboarding =
        serde_path_to_error::deserialize(object).map_err(|e| match e.path().to_string() {
            root if root == "." => e.inner().to_string(),
            path => format!("{path}: {}", e.inner()),
        })?;
    resource
        .spec
        .validate()
        .map_err(|e| format!("{INVALID_SPEC}: {e}"))?;
    resource.metadata.generation.get_or_insert(1);
    Ok(resource)
}

/// The openAPIV3Schema of the CRD the Rust types generate, with `apiVersion`, `kind` and
/// `metadata` (`ObjectMeta`) declared at the root, as the API server knows them.
static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    let crd = serde_json::to_value(GenesysUserOffboarding::crd())
        .expect("the CRD generated from the Rust types serializes");
    let served = GenesysUserOffboarding::version(&());
    let mut schema = crd["spec"]["versions"]
        .as_array()
        .and_then(|versions| versions.iter().find(|v| v["name"] == served.as_ref()))
        .map(|v| v["schema"]["openAPIV3Schema"].clone())
        .expect("the generated CRD serves its version with a schema");
    let metadata = schemars::generate::SchemaSettings::openapi3()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<ObjectMeta>();
    let properties = schema["properties"]
        .as_object_mut()
        .expect("the generated schema declares spec and status");
    let string = serde_json::json!({"type": "string"});
    properties.insert("apiVersion".into(), string.clone());
    properties.insert("kind".into(), string);
    properties.insert(
        "metadata".into(),
        serde_json::to_value(metadata).expect("ObjectMeta's schema serializes"),
    );
    schema
});

/// Checks `value` at `path` against `schema` (the structural subset the CRD uses: `type`,
/// `properties`, `additionalProperties`, `items`, `required`, `enum`, `nullable`,
/// `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-int-or-string`), dropping nulls the
/// schema does not allow.
fn walk(schema: &Value, value: &mut Value, path: &str, problems: &mut Vec<String>) {
    if (value.is_null() && schema["nullable"] == true)
        || schema["x-kubernetes-preserve-unknown-fields"] == true
    {
        return;
    }
    if schema["x-kubernetes-int-or-string"] == true {
        if !(value.is_string() || is_integer(value)) {
            problems.push(format!(
                "{path}: must be an integer or a string, not {}",
                type_of(value)
            ));
        }
        return;
    }
    if let Some(expected) = schema["type"].as_str()
        && !has_type(value, expected)
    {
        problems.push(format!(
            "{path}: must be of type {expected}, not {}",
            type_of(value)
        ));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        problems.push(format!(
            "{path}: Unsupported value: {value}: supported values: {}",
            list.join(", ")
        ));
        return;
    }
    match value {
        Value::Object(map) => walk_object(schema, map, path, problems),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), problems);
                }
            }
        }
        _ => {}
    }
}

fn walk_object(
    schema: &Value,
    map: &mut Map<String, Value>,
    path: &str,
    problems: &mut Vec<String>,
) {
    let child = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    let properties = schema["properties"].as_object();
    let additional = &schema["additionalProperties"];
    // A null the schema does not allow is dropped before the checks, as the API server prunes it.
    map.retain(|key, value| {
        let property = properties.and_then(|p| p.get(key)).unwrap_or(additional);
        !(value.is_null() && property["nullable"] != true && !property.is_null())
    });
    for (key, value) in map.iter_mut() {
        match properties.and_then(|p| p.get(key)) {
            Some(property) => walk(property, value, &child(key), problems),
            None if additional.is_object() => {
                walk(additional, value, &format!("{path}[{key}]"), problems);
            }
            // A declared object without properties is free-form (such as managedFields[].fieldsV1).
            None if properties.is_none() || *additional == true => {}
            None => problems.push(format!("unknown field {:?}", child(key))),
        }
    }
    for required in schema["required"].as_array().into_iter().flatten() {
        if let Some(key) = required.as_str()
            && !map.contains_key(key)
        {
            problems.push(format!("{}: Required value", child(key)));
        }
    }
}

fn has_type(value: &Value, expected: &str) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => is_integer(value),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    }
}

fn is_integer(value: &Value) -> bool {
    value.is_i64() || value.is_u64()
}

fn type_of(value: &Value) -> &'static str {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    use super::*;

    const JANE: &str = "apiVersion: offboarding.genesys-operator.io/v1alpha1\n\
        kind: GenesysUserOffboarding\nmetadata: {name: jane}\nspec:\n  \
        user: {email: jane.doe@example.com}\n  credentialsSecretRef: {name: genesys-credentials}\n  \
        region: us_east_1\n";

    fn refusals(text: &str) -> Vec<String> {
        match parse(text) {
            Err(ManifestError::Refused(refusals)) => {
                refusals.iter().map(ToString::to_string).collect()
            }
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn every_example_manifest_passes_the_strict_check() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        let mut documents = 0;

        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            if name == "offboarding-invalid.yaml" {
                // Strict-clean, refused only for the spec rule it breaks on purpose.
                assert_eq!(
                    refusals(&text),
                    ["document 1 (nobody): invalid spec: set user.email, user.id, or both"]
                );
                documents += 1;
            } else {
                let loaded = parse(&text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
                documents += loaded.resources.len() + loaded.skipped.len();
            }
        }

        assert!(documents >= 10, "only {documents} documents checked");
    }

    #[test]
    fn metadata_an_api_server_accepts_is_accepted_and_a_disallowed_null_is_dropped() {
        let text = JANE.replace(
            "metadata: {name: jane}",
            "metadata:\n  name: jane\n  namespace: hr\n  labels: {team: billing}\n  \
             annotations: {note: leaving}\n  generateName: null\n  managedFields:\n  \
             - {manager: kubectl, operation: Apply, fieldsType: FieldsV1, fieldsV1: {f:spec: {}}}",
        ) + "  suspend: null\n  effectiveAt: null\n";

        let loaded = parse(&text).unwrap();

        let jane = &loaded.resources[0];
        assert_eq!(jane.metadata.namespace.as_deref(), Some("hr"));
        assert!(!jane.spec.suspend, "a null suspend takes its default");
        assert_eq!(jane.spec.effective_at, None);
        assert_eq!(jane.metadata.generation, Some(1));
    }

    #[test]
    fn documents_are_numbered_from_one_and_empty_ones_are_ignored() {
        let text = format!(
            "---\n{JANE}---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\n---\n"
        );

        let loaded = parse(&text).unwrap();

        assert_eq!(loaded.resources.len(), 1);
        assert_eq!(
            loaded.skipped,
            [Skipped {
                document: Document {
                    number: 3,
                    name: Some("c".into())
                },
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
            }]
        );
    }

    #[test]
    fn every_problem_of_every_document_is_listed() {
        let text = format!(
            "{JANE}---\n{}---\n{}",
            JANE.replace("jane}", "priya}") + "  deleteUser: true\n  gdpr: {erase: true}\n",
            JANE.replace("metadata: {name: jane}\n", "")
        );

        assert_eq!(
            refusals(&text),
            [
                r#"document 2 (priya): unknown field "spec.deleteUser""#,
                r#"document 2 (priya): unknown field "spec.gdpr""#,
                "document 3: metadata.name: Required value",
            ]
        );
    }

    #[test]
    fn a_value_the_rust_types_refuse_is_named_by_its_path() {
        let text = JANE.to_owned() + "  history: {lookbackDays: -5}\n";

        let refused = refusals(&text);

        assert_eq!(refused.len(), 1);
        assert!(
            refused[0].starts_with("document 1 (jane): spec.history.lookbackDays: invalid value"),
            "{refused:?}"
        );
    }
}
