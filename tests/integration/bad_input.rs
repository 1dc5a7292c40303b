//! Bad input: the corpus under `tests/bad_input/`.
//!
//! - `rejected/*.yaml`: resources the API server must refuse. Each file opens with comment
//!   lines that state what must happen to every document in it:
//!   `# schema: <instance path>: <message fragment>` (or `none`): the errors of the generated
//!   CRD's openAPIV3Schema (`jsonschema`), all of them, one line each;
//!   `# cel: <field path> <reason>: <message>` (or `none`): the CEL rules (`kube-cel`), exactly;
//!   `# rust: <SpecError variant>[: <Display fragment>]`, `deserialize: <fragment>` or `ok`: what
//!   the Rust types and `spec.validate()` say (the one-shot mode has no API server);
//!   `# unknown: <paths>` (optional): the fields the schema does not declare, which the API
//!   server prunes (and `kubectl --validate=strict` rejects).
//!   A rejected resource that still reaches the reconciler stalls as `InvalidSpec` before any
//!   Genesys request; the one-shot mode (which has no API server) refuses every rejected file
//!   outright, naming each document and each unknown field.
//! - `stalled/*.yaml`: resources that pass every check but cannot proceed. `# stalled:
//!   <reason>: <message fragment>`. Each is reconciled against the emulator and must end
//!   `Stalled` with that reason and message, having made zero Genesys writes (the request log
//!   holds only GETs, the token request, user searches and analytics queries).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::genesys::{demo_client, demo_org, is_read_only, is_write};
use async_trait::async_trait;
use genesys_cloud::GenesysClient;
use genesys_emulator::{Sim, SimHandle};
use genesys_offboarding_operator::crd::{GenesysUserOffboarding, condition, reason};
use genesys_offboarding_operator::oneshot::{ReconcileArgs, run};
use genesys_offboarding_operator::reconcile::error::CredentialsError;
use genesys_offboarding_operator::reconcile::{
    ClientProvider, FixedClient, MemoryOwners, MemoryStore, Outcome, reconcile,
};
use kube::CustomResourceExt as _;
use serde::Deserialize as _;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------------

/// One corpus file: its expectations (comment header) and its documents.
struct CorpusFile {
    name: String,
    expect: BTreeMap<String, Vec<String>>,
    documents: Vec<Value>,
}

impl CorpusFile {
    fn one(&self, key: &str) -> &str {
        let values = self
            .expect
            .get(key)
            .unwrap_or_else(|| panic!("{}: no `# {key}:` line", self.name));
        assert_eq!(values.len(), 1, "{}: one `# {key}:` line", self.name);
        &values[0]
    }

    /// The `# key:` lines, `none` meaning no line.
    fn all(&self, key: &str) -> Vec<String> {
        let values = self.expect.get(key).cloned().unwrap_or_default();
        if values == ["none"] {
            Vec::new()
        } else {
            values
        }
    }
}

fn corpus(kind: &str) -> Vec<CorpusFile> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/bad_input")
        .join(kind);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut expect: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for line in text.lines().take_while(|l| l.starts_with('#')) {
                let line = line.trim_start_matches('#').trim();
                if let Some((key, value)) = line.split_once(": ")
                    && ["schema", "cel", "rust", "unknown", "stalled"].contains(&key)
                {
                    expect
                        .entry(key.to_owned())
                        .or_default()
                        .push(value.to_owned());
                }
            }
            let documents = serde_yaml::Deserializer::from_str(&text)
                .map(|doc| Value::deserialize(doc).unwrap())
                .collect();
            CorpusFile {
                name: path.file_name().unwrap().to_string_lossy().into_owned(),
                expect,
                documents,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// What the API server checks
// ---------------------------------------------------------------------------------------------

fn schema() -> Value {
    let crd = serde_json::to_value(GenesysUserOffboarding::crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// `(instance path, message)` of every openAPIV3Schema error.
fn schema_errors(schema: &Value, object: &Value) -> Vec<(String, String)> {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap();
    validator
        .iter_errors(object)
        .map(|e| (e.instance_path.to_string(), e.to_string()))
        .collect()
}

/// `field path reason: message` of every CEL failure on create.
fn cel_errors(schema: &Value, object: &Value) -> Vec<String> {
    match kube_cel::Validator::new().validate(schema, object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .into_vec()
            .into_iter()
            .map(|e| {
                format!(
                    "{} {}: {}",
                    e.field_path,
                    e.reason.as_deref().unwrap_or("-"),
                    e.message
                )
            })
            .collect(),
    }
}

/// Paths of the fields `object` has and `schema` does not declare (what a structural schema
/// prunes). The root may also hold `apiVersion`, `kind` and `metadata`.
fn unknown_fields(schema: &Value, object: &Value) -> Vec<String> {
    fn walk(schema: &Value, object: &Value, path: &str, root: bool, out: &mut Vec<String>) {
        if let Some(map) = object.as_object() {
            let properties = schema["properties"].as_object();
            for (key, value) in map {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match properties.and_then(|p| p.get(key)) {
                    Some(property) => walk(property, value, &child, false, out),
                    None if root && ["apiVersion", "kind", "metadata"].contains(&key.as_str()) => {}
                    None => out.push(child),
                }
            }
        } else if let (Some(items), Some(array)) = (schema.get("items"), object.as_array()) {
            for value in array {
                walk(items, value, &format!("{path}[]"), false, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(schema, object, "", true, &mut out);
    out.sort();
    out
}

/// `object` as a structural-schema API server stores it: undeclared fields dropped.
fn pruned(object: &Value, unknown: &[String]) -> Value {
    let mut object = object.clone();
    for path in unknown {
        let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
        let pointer: String = parent
            .split('.')
            .filter(|s| !s.is_empty())
            .flat_map(|s| ["/", s])
            .collect();
        if let Some(map) = object.pointer_mut(&pointer).and_then(Value::as_object_mut) {
            map.remove(key);
        }
    }
    object
}

/// What the Rust types say: `ok`, `deserialize: <serde error>` or `<SpecError Debug>: <Display>`.
fn rust_check(object: &Value) -> Result<(), String> {
    let resource: GenesysUserOffboarding =
        serde_json::from_value(object.clone()).map_err(|e| format!("deserialize: {e}"))?;
    resource.spec.validate().map_err(|e| format!("{e:?}: {e}"))
}

fn rust_matches(expected: &str, actual: &Result<(), String>) -> bool {
    match (expected, actual) {
        ("ok", Ok(())) => true,
        (_, Ok(())) | ("ok", Err(_)) => false,
        (expected, Err(actual)) => {
            let (variant, fragment) = expected.split_once(": ").unwrap_or((expected, ""));
            if variant == "deserialize" {
                actual.starts_with("deserialize: ") && actual.contains(fragment)
            } else {
                actual.starts_with(variant)
                    && actual[variant.len()..].starts_with(['(', ' ', ':', '{'])
                    && actual.contains(fragment)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rejected resources
// ---------------------------------------------------------------------------------------------

#[test]
fn the_corpus_covers_every_kind_of_bad_input_the_issue_lists() {
    let rejected: Vec<String> = corpus("rejected").into_iter().map(|f| f.name).collect();
    let stalled: Vec<String> = corpus("stalled").into_iter().map(|f| f.name).collect();

    for needed in [
        "no-user.yaml",
        "malformed-email.yaml",
        "http-base-url-to-a-remote-host.yaml",
        "unknown-region.yaml",
        "lookback-days-too-many.yaml",
        "ten-thousand-character-email.yaml",
        "unknown-fields.yaml",
    ] {
        assert!(rejected.iter().any(|n| n == needed), "rejected/{needed}");
    }
    for needed in [
        "missing-secret.yaml",
        "secret-without-keys.yaml",
        "wrong-credentials.yaml",
        "unknown-email.yaml",
        "ambiguous-email.yaml",
        "deleted-user-by-email.yaml",
        "id-email-mismatch.yaml",
    ] {
        assert!(stalled.iter().any(|n| n == needed), "stalled/{needed}");
    }
}

#[test]
fn every_rejected_resource_fails_the_schema_or_cel_and_the_rust_checks_for_the_stated_reason() {
    let schema = schema();
    let mut checked = 0;

    for file in corpus("rejected") {
        let expected_schema = file.all("schema");
        let expected_cel = file.all("cel");
        let expected_rust = file.one("rust").to_owned();
        let mut expected_unknown: Vec<String> = file
            .all("unknown")
            .iter()
            .flat_map(|line| line.split(", ").map(str::to_owned))
            .collect();
        expected_unknown.sort();
        for (index, object) in file.documents.iter().enumerate() {
            let at = format!("{} document {index}", file.name);
            let unknown = unknown_fields(&schema, object);
            // What the API server validates: the object with undeclared fields pruned.
            let stored = pruned(object, &unknown);
            let schema_errors = schema_errors(&schema, &stored);
            let cel_errors = cel_errors(&schema, &stored);
            let rust = rust_check(object);

            // Each error is expected, and each expectation met.
            for (path, message) in &schema_errors {
                assert!(
                    expected_schema.iter().any(|e| {
                        let (p, fragment) = e.split_once(": ").unwrap();
                        p == path && message.contains(fragment)
                    }),
                    "{at}: unexpected schema error {path}: {message}"
                );
            }
            for expected in &expected_schema {
                let (p, fragment) = expected.split_once(": ").unwrap();
                assert!(
                    schema_errors
                        .iter()
                        .any(|(path, message)| path == p && message.contains(fragment)),
                    "{at}: expected schema error {expected}, got {schema_errors:?}"
                );
            }
            assert_eq!(cel_errors, expected_cel, "{at}: CEL");
            assert!(
                rust_matches(&expected_rust, &rust),
                "{at}: expected Rust {expected_rust}, got {rust:?}"
            );
            assert_eq!(unknown, expected_unknown, "{at}: undeclared fields");
            let admitted = schema_errors.is_empty() && cel_errors.is_empty();
            if expected_unknown.is_empty() || !admitted {
                assert!(!admitted, "{at}: the API server would admit it");
            }
            checked += 1;
        }
    }

    assert!(checked >= 25, "only {checked} documents checked");
}

#[test]
fn unknown_fields_are_pruned_by_the_api_server_and_ignored_by_the_operator() {
    let schema = schema();
    let file = corpus("rejected")
        .into_iter()
        .find(|f| f.name == "unknown-fields.yaml")
        .unwrap();
    let object = &file.documents[0];

    let unknown = unknown_fields(&schema, object);
    let stored = pruned(object, &unknown);

    // The generated schema is structural and keeps no unknown field anywhere in spec.
    assert!(
        !schema["properties"]["spec"]
            .to_string()
            .contains("x-kubernetes-preserve-unknown-fields"),
        "spec must not preserve unknown fields"
    );
    assert!(schema["properties"]["spec"]["additionalProperties"].is_null());
    assert_eq!(
        unknown,
        ["spec.deleteUser", "spec.gdpr", "spec.routing.removeRoles"],
        "kubectl --validate=strict reports these as unknown fields"
    );
    assert!(stored["spec"].get("deleteUser").is_none());
    assert!(stored["spec"]["routing"].get("removeRoles").is_none());
    assert!(schema_errors(&schema, object).is_empty() && cel_errors(&schema, object).is_empty());
    let from_raw: GenesysUserOffboarding = serde_json::from_value(object.clone()).unwrap();
    let from_stored: GenesysUserOffboarding = serde_json::from_value(stored).unwrap();
    assert_eq!(
        from_raw.spec, from_stored.spec,
        "the operator sees the same spec either way"
    );
}

#[tokio::test]
async fn a_rejected_resource_that_reaches_the_reconciler_stalls_before_any_genesys_request() {
    let sim = Sim::start(demo_org()).await.unwrap();
    let clients = FixedClient(demo_client(&sim));
    let mut reconciled = 0;

    for file in corpus("rejected") {
        for object in &file.documents {
            let Ok(resource) = serde_json::from_value::<GenesysUserOffboarding>(object.clone())
            else {
                continue; // the Rust types refuse it outright: it can never be reconciled
            };
            let Err(invalid) = resource.spec.validate() else {
                continue; // unknown-fields.yaml: valid once pruned
            };
            let store = MemoryStore::new();

            let pass = reconcile(&resource, &clients, &MemoryOwners::new(), &store)
                .await
                .into_result()
                .unwrap();

            let Outcome::Stalled { reason, message } = &pass.outcome else {
                panic!("{}: {:?}", file.name, pass.outcome);
            };
            assert_eq!(*reason, reason::INVALID_SPEC, "{}", file.name);
            assert!(
                message.contains(&invalid.to_string()),
                "{}: {message}",
                file.name
            );
            let stalled = pass.status.condition(condition::STALLED).unwrap();
            assert_eq!(
                (stalled.status.as_str(), stalled.reason.as_str()),
                ("True", reason::INVALID_SPEC)
            );
            reconciled += 1;
        }
    }

    assert!(reconciled >= 15, "only {reconciled} reached the reconciler");
    assert!(
        sim.requests().is_empty(),
        "no Genesys request at all: {:?}",
        sim.requests()
    );
}

/// `genesys-offboarding reconcile <argv>`, parsed as the binary parses it.
fn one_shot_args(argv: &[&str]) -> ReconcileArgs {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: ReconcileArgs,
    }
    <Cli as clap::Parser>::try_parse_from(std::iter::once("reconcile").chain(argv.iter().copied()))
        .unwrap()
        .args
}

#[tokio::test]
async fn the_one_shot_mode_refuses_every_rejected_file_naming_each_document_and_unknown_field() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input/rejected");
    let mut refused = 0;

    for file in corpus("rejected") {
        let path = dir.join(&file.name);
        let args = one_shot_args(&["-f", path.to_str().unwrap(), "--sim"]);
        let (mut out, mut notes) = (Vec::new(), Vec::new());

        let result = Box::pin(run(&args, &mut out, &mut notes)).await;

        // Refused as a whole, before the emulator even starts: no Genesys request.
        let error = result
            .map(|s| format!("ran: {s:?}"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("nothing was sent to Genesys"),
            "{}: {error}",
            file.name
        );
        for (index, object) in file.documents.iter().enumerate() {
            let name = object["metadata"]["name"].as_str().unwrap();
            let document = format!("document {} ({name}): ", index + 1);
            assert!(error.contains(&document), "{}: {error}", file.name);
        }
        for unknown in file.all("unknown").iter().flat_map(|l| l.split(", ")) {
            let named = format!("unknown field {unknown:?}");
            assert!(error.contains(&named), "{}: {named} in {error}", file.name);
        }
        assert!(out.is_empty(), "{}: nothing printed", file.name);
        refused += 1;
    }

    assert!(refused >= 18, "only {refused} files");
}

// ---------------------------------------------------------------------------------------------
// Resources that pass every check but cannot proceed
// ---------------------------------------------------------------------------------------------

/// Stands in for the controller's Secret-backed provider: the Secrets of namespace `default`,
/// each a map of keys to values, and clients built for the emulator from what they hold.
struct Secrets {
    /// Where the emulator listens (a client is built per resource, as the controller does).
    base: url::Url,
    secrets: BTreeMap<&'static str, BTreeMap<&'static str, &'static str>>,
}

#[async_trait]
impl ClientProvider for Secrets {
    async fn client_for(
        &self,
        resource: &GenesysUserOffboarding,
    ) -> Result<GenesysClient, CredentialsError> {
        let namespace = resource.metadata.namespace.as_deref().unwrap_or("default");
        let name = resource.spec.credentials_secret_ref.name.as_str();
        let secret = self.secrets.get(name).ok_or_else(|| {
            CredentialsError::Missing(format!("Secret {namespace}/{name} not found"))
        })?;
        let key = |key: &str| {
            secret.get(key).copied().ok_or_else(|| {
                CredentialsError::Missing(format!("Secret {namespace}/{name} has no key {key}"))
            })
        };
        let (id, secret) = (key("clientId")?, key("clientSecret")?);
        GenesysClient::new(client_config_for(&self.base, id, secret))
            .map_err(CredentialsError::Client)
    }
}

fn client_config_for(base: &url::Url, id: &str, secret: &str) -> genesys_cloud::ClientConfig {
    use genesys_cloud::{ClientConfig, ClientCredentials, Endpoints};
    ClientConfig::new(
        Endpoints::single(base.clone()).unwrap(),
        ClientCredentials::new(id, secrecy::SecretString::from(secret.to_owned())),
    )
    .with_requests_per_minute(60_000)
}

fn secrets(sim: &SimHandle) -> Secrets {
    Secrets {
        base: sim.base_url(),
        secrets: BTreeMap::from([
            (
                "genesys-credentials",
                BTreeMap::from([("clientId", "demo-client"), ("clientSecret", "demo-secret")]),
            ),
            (
                "wrong-credentials",
                BTreeMap::from([("clientId", "demo-client"), ("clientSecret", "not-it")]),
            ),
            ("half-secret", BTreeMap::from([("clientId", "demo-client")])),
        ]),
    }
}

#[tokio::test]
async fn every_resource_that_cannot_proceed_stalls_with_a_clear_reason_and_writes_nothing() {
    let schema = schema();
    let mut stalled_files = 0;

    for file in corpus("stalled") {
        let (expected_reason, fragment) = file.one("stalled").split_once(": ").unwrap();
        let (expected_reason, fragment) = (expected_reason.to_owned(), fragment.to_owned());
        for object in &file.documents {
            // Arrange: a valid resource, a fresh emulator.
            assert!(
                schema_errors(&schema, object).is_empty() && cel_errors(&schema, object).is_empty(),
                "{}: the API server would refuse it",
                file.name
            );
            assert_eq!(rust_check(object), Ok(()), "{}", file.name);
            let resource: GenesysUserOffboarding = serde_json::from_value(object.clone()).unwrap();
            let sim = Sim::start(demo_org()).await.unwrap();
            let provider = secrets(&sim);
            let store = MemoryStore::new();

            // Act
            let pass = reconcile(&resource, &provider, &MemoryOwners::new(), &store)
                .await
                .into_result()
                .unwrap();

            // Assert: Stalled, with the reason and a message that says why.
            let Outcome::Stalled { reason, message } = &pass.outcome else {
                panic!("{}: {:?}", file.name, pass.outcome);
            };
            println!("{}: Stalled {reason}: {message}", file.name);
            for secret in ["demo-secret", "not-it"] {
                assert!(!message.contains(secret), "{}: a secret leaked", file.name);
            }
            assert_eq!(*reason, expected_reason, "{}: {message}", file.name);
            assert!(
                message.contains(&fragment),
                "{}: {message:?} lacks {fragment:?}",
                file.name
            );
            let status = &pass.status;
            let stalled = status.condition(condition::STALLED).unwrap();
            let ready = status.condition(condition::READY).unwrap();
            assert_eq!(
                (stalled.status.as_str(), stalled.reason.as_str()),
                ("True", expected_reason.as_str()),
                "{}",
                file.name
            );
            assert!(stalled.message.contains(&fragment), "{}", file.name);
            assert_eq!(ready.status, "False", "{}", file.name);
            assert!(status.snapshot.is_none(), "{}: no snapshot", file.name);
            assert_eq!(store.latest().as_ref(), Some(status), "{}", file.name);
            // Zero writes: only reads reached Genesys.
            let requests = sim.requests();
            let not_reads: Vec<String> = requests
                .iter()
                .filter(|r| !is_read_only(r) || is_write(r))
                .map(|r| format!("{} {}", r.method, r.path))
                .collect();
            assert!(not_reads.is_empty(), "{}: {not_reads:?}", file.name);
            if expected_reason == reason::CREDENTIALS_MISSING {
                assert!(requests.is_empty(), "{}: {requests:?}", file.name);
            }
            stalled_files += 1;
        }
    }

    assert!(stalled_files >= 9, "only {stalled_files} resources checked");
}
