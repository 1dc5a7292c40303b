//! The CRD in `crds/` is the one the Rust types generate, it is shaped for `kubectl`, and the
//! examples pass (or, for the invalid one, fail for the reason it states) the same checks an API
//! server runs: the openAPIV3Schema (with the `jsonschema` crate) and the CEL rules (with
//! `kube-cel`). The Rust spec checks used by the one-shot mode must agree with both.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use genesys_offboarding_operator::crd::{self, GenesysUserOffboarding, SpecError};
use kube::CustomResourceExt as _;
use serde::Deserialize as _;
use serde_json::{Value, json};

const CRD_FILE: &str = "crds/genesysuseroffboardings.yaml";
const VALID_EXAMPLES: [&str; 3] = [
    "examples/offboarding.yaml",
    "examples/offboarding-full.yaml",
    "examples/offboarding-local.yaml",
];
const INVALID_EXAMPLE: &str = "examples/offboarding-invalid.yaml";

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn crd_json() -> Value {
    serde_json::to_value(GenesysUserOffboarding::crd()).unwrap()
}

fn version() -> Value {
    crd_json()["spec"]["versions"][0].clone()
}

fn schema() -> Value {
    version()["schema"]["openAPIV3Schema"].clone()
}

/// Every `GenesysUserOffboarding` document of a (possibly multi-document) YAML file.
fn offboardings_in(relative: &str) -> Vec<Value> {
    let text = read(relative);
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|doc| doc["kind"] == "GenesysUserOffboarding")
        .collect();
    assert!(
        !docs.is_empty(),
        "{relative} holds no GenesysUserOffboarding"
    );
    docs
}

/// The minimal example, as a starting point for variations.
fn minimal() -> Value {
    offboardings_in("examples/offboarding.yaml").remove(0)
}

pub(crate) fn schema_errors(object: &Value) -> Vec<String> {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema())
        .unwrap();
    validator
        .iter_errors(object)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

fn cel_errors(object: &Value, old: Option<&Value>) -> Vec<kube_cel::ValidationError> {
    match kube_cel::Validator::new().validate(&schema(), object, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.into_vec(),
    }
}

/// What an API server would say when the object is created: every schema and CEL failure.
fn admission_errors(object: &Value) -> Vec<String> {
    let mut errors = schema_errors(object);
    errors.extend(cel_errors(object, None).iter().map(ToString::to_string));
    errors
}

fn rust_check(object: &Value) -> Result<(), SpecError> {
    let resource: GenesysUserOffboarding = serde_json::from_value(object.clone()).unwrap();
    resource.spec.validate()
}

fn with(mut object: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = object.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    if value.is_null() {
        parent.remove(key);
    } else {
        parent.insert(key.to_owned(), value);
    }
    object
}

/// Visits every property schema under `schema`, with its dotted path.
fn walk_properties(schema: &Value, path: &str, visit: &mut dyn FnMut(&str, &Value)) {
    if let Some(properties) = schema["properties"].as_object() {
        for (name, property) in properties {
            let path = format!("{path}.{name}");
            visit(&path, property);
            walk_properties(property, &path, visit);
        }
    }
    if schema["items"].is_object() {
        walk_properties(&schema["items"], &format!("{path}[]"), visit);
    }
}

/// Every CEL rule in the schema, with the path of the node that holds it and that node.
fn cel_rules(schema: &Value) -> Vec<(String, String, Value)> {
    let mut rules = Vec::new();
    let mut collect = |path: &str, node: &Value| {
        for rule in node["x-kubernetes-validations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            rules.push((
                path.to_owned(),
                rule["rule"].as_str().unwrap().to_owned(),
                node.clone(),
            ));
        }
    };
    collect("", schema);
    walk_properties(schema, "", &mut collect);
    rules
}

#[test]
fn the_committed_crd_is_the_one_the_rust_types_generate() {
    let generated = crd::crd_yaml().unwrap();

    let committed = read(CRD_FILE);

    assert!(
        committed == generated,
        "crds/ is stale: run `cargo run -- crd > crds/genesysuseroffboardings.yaml`"
    );
}

#[test]
fn kubectl_finds_the_resource_as_offboardings_genesysuseroffboardings_and_genesys() {
    let crd = crd_json();
    let names = &crd["spec"]["names"];

    assert_eq!(
        crd["metadata"]["name"],
        "genesysuseroffboardings.offboarding.genesys-operator.io"
    );
    assert_eq!(crd["spec"]["group"], crd::API_GROUP);
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(names["kind"], "GenesysUserOffboarding");
    assert_eq!(names["plural"], "genesysuseroffboardings");
    assert_eq!(names["singular"], "genesysuseroffboarding");
    assert_eq!(
        names["shortNames"],
        json!(["offboarding", "offboardings", "gofb"])
    );
    assert_eq!(names["categories"], json!(["genesys"]));
    assert_eq!(version()["name"], crd::API_VERSION);
    assert_eq!(version()["served"], true);
    assert_eq!(version()["storage"], true);
}

#[test]
fn printer_columns_show_user_state_ready_reason_and_age_with_the_message_in_wide_output() {
    let columns = version()["additionalPrinterColumns"].clone();
    let summary: Vec<(String, String, i64)> = columns
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["jsonPath"].as_str().unwrap().to_owned(),
                c["priority"].as_i64().unwrap_or(0),
            )
        })
        .collect();

    let expected = [
        ("User", ".spec.user.email", 0),
        ("Genesys State", ".status.user.stateNow", 0),
        (
            "Ready",
            r#".status.conditions[?(@.type=="Ready")].status"#,
            0,
        ),
        (
            "Reason",
            r#".status.conditions[?(@.type=="Ready")].reason"#,
            0,
        ),
        ("Age", ".metadata.creationTimestamp", 0),
        ("User ID", ".status.user.id", 1),
        (
            "Message",
            r#".status.conditions[?(@.type=="Ready")].message"#,
            1,
        ),
    ];
    let expected: Vec<(String, String, i64)> = expected
        .iter()
        .map(|(n, p, prio)| ((*n).to_owned(), (*p).to_owned(), *prio))
        .collect();
    assert_eq!(summary, expected);
    assert_eq!(columns[4]["type"], "date");
}

#[test]
fn the_status_subresource_is_on_and_conditions_are_a_list_map_keyed_by_type() {
    let status = &schema()["properties"]["status"];
    let conditions = &status["properties"]["conditions"];

    assert_eq!(version()["subresources"]["status"], json!({}));
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
    assert_eq!(
        conditions["items"]["required"],
        json!(["lastTransitionTime", "message", "reason", "status", "type"])
    );
}

#[test]
fn every_field_has_user_documentation_for_kubectl_explain() {
    let mut undocumented = Vec::new();

    walk_properties(&schema(), "", &mut |path, property| {
        let documented = property["description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty());
        if !documented {
            undocumented.push(path.to_owned());
        }
    });

    // The array items of checkedConversationIds are plain strings described by their array.
    undocumented.retain(|p| p != ".status.history.checkedConversationIds[]");
    assert!(
        undocumented.is_empty(),
        "fields without description: {undocumented:?}"
    );
}

#[test]
fn every_free_text_spec_field_has_a_length_bound() {
    let mut unbounded = Vec::new();

    walk_properties(
        &schema()["properties"]["spec"],
        ".spec",
        &mut |path, property| {
            let free_text = property["type"] == "string"
                && property["enum"].is_null()
                && property["format"].is_null();
            if free_text && property["maxLength"].is_null() {
                unbounded.push(path.to_owned());
            }
        },
    );

    assert!(
        unbounded.is_empty(),
        "spec strings without maxLength: {unbounded:?}"
    );
}

#[test]
fn the_valid_examples_pass_the_schema_the_cel_rules_and_the_rust_checks() {
    for file in VALID_EXAMPLES {
        for object in offboardings_in(file) {
            assert_eq!(admission_errors(&object), Vec::<String>::new(), "{file}");
            assert_eq!(rust_check(&object), Ok(()), "{file}");
        }
    }
}

#[test]
fn the_local_example_ships_the_demo_credentials_and_loopback_endpoints() {
    let text = read("examples/offboarding-local.yaml");
    let secret: Value = serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .find(|doc| doc["kind"] == "Secret")
        .unwrap();
    let offboarding = offboardings_in("examples/offboarding-local.yaml").remove(0);

    assert_eq!(
        secret["stringData"][crd::SECRET_KEY_CLIENT_ID],
        "demo-client"
    );
    assert_eq!(
        secret["stringData"][crd::SECRET_KEY_CLIENT_SECRET],
        "demo-secret"
    );
    assert_eq!(
        offboarding["spec"]["credentialsSecretRef"]["name"],
        secret["metadata"]["name"]
    );
    assert_eq!(offboarding["spec"]["apiBaseUrl"], "http://127.0.0.1:8080/");
    assert_eq!(
        offboarding["spec"]["loginBaseUrl"],
        "http://127.0.0.1:8080/"
    );
}

#[test]
fn the_examples_name_users_of_the_demo_org() {
    let demo_org = read("crates/genesys-emulator/demo-org.yaml");

    for file in VALID_EXAMPLES {
        for object in offboardings_in(file) {
            let email = object["spec"]["user"]["email"].as_str().unwrap();
            assert!(
                demo_org.contains(&format!("email: {email}")),
                "{file}: {email}"
            );
            if let Some(id) = object["spec"]["user"]["id"].as_str() {
                let entry = format!("- id: {id}\n    name: Priya Patel\n    email: {email}");
                assert!(demo_org.contains(&entry), "{file}: {id} is not {email}");
            }
        }
    }
}

#[test]
fn the_full_example_sets_every_spec_field() {
    let full = offboardings_in("examples/offboarding-full.yaml").remove(0);
    let mut missing = Vec::new();

    walk_properties(&schema()["properties"]["spec"], "", &mut |path, _| {
        let pointer = path.replace('.', "/");
        // The full example uses region; the base URLs are shown by offboarding-local.yaml.
        let alternative = pointer == "/apiBaseUrl" || pointer == "/loginBaseUrl";
        if !alternative && full["spec"].pointer(&pointer).is_none() {
            missing.push(path.to_owned());
        }
    });

    assert!(
        missing.is_empty(),
        "not in offboarding-full.yaml: {missing:?}"
    );
}

#[test]
fn the_invalid_example_fails_because_it_names_no_user() {
    let object = offboardings_in(INVALID_EXAMPLE).remove(0);

    let cel = cel_errors(&object, None);

    assert_eq!(schema_errors(&object), Vec::<String>::new());
    assert_eq!(cel.len(), 1, "{cel:?}");
    assert_eq!(cel[0].field_path, "spec.user");
    assert_eq!(cel[0].message, "set user.email, user.id, or both");
    assert_eq!(cel[0].reason.as_deref(), Some("FieldValueRequired"));
    assert_eq!(rust_check(&object), Err(SpecError::MissingUser));
}

#[test]
fn the_user_cannot_be_changed_after_creation() {
    let old = minimal();
    let new = with(
        old.clone(),
        "/spec/user/email",
        json!("john.roe@example.com"),
    );

    let errors = cel_errors(&new, Some(&old));

    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field_path, "spec.user");
    assert!(
        errors[0].message.starts_with("user is immutable"),
        "{}",
        errors[0].message
    );
}

#[test]
fn other_fields_may_change_while_the_user_stays_the_same() {
    let old = minimal();
    let new = with(old.clone(), "/spec/suspend", json!(true));
    let new = with(new, "/spec/managementPolicy", json!("Observe"));

    assert!(cel_errors(&new, Some(&old)).is_empty());
}

#[test]
fn the_organization_cannot_be_changed_once_set() {
    let region = minimal();
    let urls = |api: &str, login: &str| {
        let object = with(minimal(), "/spec/region", Value::Null);
        let object = with(object, "/spec/apiBaseUrl", json!(api));
        with(object, "/spec/loginBaseUrl", json!(login))
    };
    let here = urls(
        "https://api.mypurecloud.com/",
        "https://login.mypurecloud.com/",
    );
    let elsewhere = urls(
        "https://api.mypurecloud.ie/",
        "https://login.mypurecloud.ie/",
    );
    let table: Vec<(&str, &Value, Value)> = vec![
        (
            "another region",
            &region,
            with(region.clone(), "/spec/region", json!("eu_west_1")),
        ),
        ("region to base URLs", &region, here.clone()),
        ("base URLs to a region", &here, region.clone()),
        (
            "another API base URL",
            &here,
            with(
                here.clone(),
                "/spec/apiBaseUrl",
                json!("https://api.mypurecloud.ie/"),
            ),
        ),
        (
            "another login base URL",
            &here,
            with(
                here.clone(),
                "/spec/loginBaseUrl",
                json!("https://login.mypurecloud.ie/"),
            ),
        ),
        ("both base URLs", &here, elsewhere),
    ];
    for (case, old, new) in table {
        let errors = cel_errors(&new, Some(old));

        assert_eq!(errors.len(), 1, "{case}: {errors:?}");
        assert_eq!(errors[0].field_path, "spec", "{case}");
        assert!(
            errors[0]
                .message
                .starts_with("region, apiBaseUrl and loginBaseUrl are immutable"),
            "{case}: {}",
            errors[0].message
        );
        assert_eq!(
            errors[0].reason.as_deref(),
            Some("FieldValueForbidden"),
            "{case}"
        );
    }

    for (case, old) in [("region", &region), ("base URLs", &here)] {
        let unchanged = with(old.clone(), "/spec/suspend", json!(true));
        assert!(cel_errors(&unchanged, Some(old)).is_empty(), "{case}");
    }
}

#[test]
fn a_ten_thousand_character_email_is_rejected() {
    let email = format!("{}@example.com", "a".repeat(10_000));
    let object = with(minimal(), "/spec/user/email", json!(email));

    let errors = schema_errors(&object);

    assert!(
        errors.iter().any(|e| e.contains("/spec/user/email")),
        "{errors:?}"
    );
    assert!(matches!(
        rust_check(&object),
        Err(SpecError::TooLong { .. })
    ));
}

#[test]
#[allow(clippy::too_many_lines)] // one table of cases, one line each before rustfmt
fn the_api_server_rules_and_the_rust_checks_agree() {
    let urls = |object: Value, api: &str, login: &str| {
        let object = with(object, "/spec/region", Value::Null);
        let object = with(object, "/spec/apiBaseUrl", json!(api));
        with(object, "/spec/loginBaseUrl", json!(login))
    };
    let cases: Vec<(&str, Value, bool)> = vec![
        ("minimal", minimal(), true),
        (
            "id only",
            with(
                with(minimal(), "/spec/user/email", Value::Null),
                "/spec/user/id",
                json!("6a1b0c3e-0000-4000-8000-000000000001"),
            ),
            true,
        ),
        ("no user", with(minimal(), "/spec/user", json!({})), false),
        (
            "bad email",
            with(minimal(), "/spec/user/email", json!("jane.doe")),
            false,
        ),
        (
            "bad id",
            with(minimal(), "/spec/user/id", json!("jane")),
            false,
        ),
        (
            "bad secret name",
            with(
                minimal(),
                "/spec/credentialsSecretRef/name",
                json!("Genesys_Creds"),
            ),
            false,
        ),
        (
            "unknown region",
            with(minimal(), "/spec/region", json!("us-east-1")),
            false,
        ),
        (
            "every region",
            with(minimal(), "/spec/region", json!("eusc_de_east_1")),
            true,
        ),
        (
            "https urls",
            urls(
                minimal(),
                "https://api.mypurecloud.com/",
                "https://login.mypurecloud.com/",
            ),
            true,
        ),
        (
            "loopback http urls",
            urls(minimal(), "http://localhost:8080/", "http://[::1]:8080/"),
            true,
        ),
        (
            "remote http url",
            urls(
                minimal(),
                "http://api.example.com/",
                "https://login.example.com/",
            ),
            false,
        ),
        (
            "region and urls",
            with(
                urls(
                    minimal(),
                    "https://a.example.com/",
                    "https://l.example.com/",
                ),
                "/spec/region",
                json!("us_east_1"),
            ),
            false,
        ),
        (
            "api url alone",
            with(
                urls(minimal(), "https://a.example.com/", "x"),
                "/spec/loginBaseUrl",
                Value::Null,
            ),
            false,
        ),
        (
            "no endpoints",
            with(minimal(), "/spec/region", Value::Null),
            false,
        ),
        (
            "lookback 0",
            with(minimal(), "/spec/history", json!({"lookbackDays": 0})),
            false,
        ),
        (
            "lookback 1825",
            with(minimal(), "/spec/history", json!({"lookbackDays": 1825})),
            true,
        ),
        (
            "lookback 1826",
            with(minimal(), "/spec/history", json!({"lookbackDays": 1826})),
            false,
        ),
        (
            "interval 30m",
            with(minimal(), "/spec/driftCheckInterval", json!("30m")),
            true,
        ),
        (
            "interval 1h30m",
            with(minimal(), "/spec/driftCheckInterval", json!("1h30m")),
            true,
        ),
        (
            "interval 30s",
            with(minimal(), "/spec/driftCheckInterval", json!("30s")),
            false,
        ),
        (
            "interval 1000h",
            with(minimal(), "/spec/driftCheckInterval", json!("1000h")),
            false,
        ),
        (
            "interval 1d",
            with(minimal(), "/spec/driftCheckInterval", json!("1d")),
            false,
        ),
    ];

    for (name, object, valid) in cases {
        let api_server = admission_errors(&object);
        let parsed = serde_json::from_value::<GenesysUserOffboarding>(object.clone());
        let rust_ok = parsed.is_ok_and(|r| r.spec.validate().is_ok());
        assert_eq!(
            api_server.is_empty(),
            valid,
            "{name}: API server said {api_server:?}"
        );
        assert_eq!(rust_ok, valid, "{name}: the Rust checks disagree");
    }
}

#[test]
fn effective_at_is_admitted_exactly_up_to_the_latest_time_the_operator_decodes() {
    let cases = [
        ("the latest time", crd::EFFECTIVE_AT_MAX, true),
        ("the latest whole second", "9999-12-30T22:00:00Z", true),
        (
            "the latest time with an offset",
            "9999-12-31T00:00:00+02:00",
            true,
        ),
        ("the earliest year", "0001-01-01T00:00:00Z", true),
        ("a usual date", "2026-12-31T17:00:00Z", true),
        ("one second later", "9999-12-30T22:00:01Z", false),
        ("the last second of 9999", "9999-12-31T23:59:59Z", false),
        (
            "later through the offset",
            "9999-12-31T00:00:01+02:00",
            false,
        ),
        (
            "ten fractional digits",
            "2026-12-31T17:00:00.1234567890Z",
            false,
        ),
        ("offset minutes past 59", "2026-12-31T17:00:00+01:60", false),
        ("no offset", "2026-12-31T17:00:00", false),
    ];

    for (case, at, admitted) in cases {
        let object = with(minimal(), "/spec/effectiveAt", json!(at));
        let errors = admission_errors(&object);
        let decoded = serde_json::from_value::<GenesysUserOffboarding>(object.clone());

        assert_eq!(errors.is_empty(), admitted, "{case} ({at}): {errors:?}");
        assert_eq!(
            decoded.is_ok(),
            admitted,
            "{case} ({at}): the operator disagrees"
        );
    }
    let refused = with(
        minimal(),
        "/spec/effectiveAt",
        json!("9999-12-31T23:59:59Z"),
    );
    let messages: Vec<String> = cel_errors(&refused, None)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("spec.effectiveAt") && m.contains(crd::EFFECTIVE_AT_MAX)),
        "{messages:?}"
    );
}

#[test]
fn an_acknowledgement_without_the_preflight_is_refused_by_the_api_server_and_the_operator() {
    let cases = [
        (
            json!({"preflight": false, "requireAcknowledgement": true}),
            false,
        ),
        (json!({"preflight": false}), true),
        (
            json!({"preflight": true, "requireAcknowledgement": true}),
            true,
        ),
        (json!({"requireAcknowledgement": true}), true),
        (
            json!({"preflight": false, "requireAcknowledgement": false}),
            true,
        ),
    ];

    for (impact, admitted) in cases {
        let object = with(minimal(), "/spec/impact", impact.clone());
        let errors = admission_errors(&object);

        assert_eq!(errors.is_empty(), admitted, "{impact}: {errors:?}");
        assert_eq!(rust_check(&object).is_ok(), admitted, "{impact}");
        if !admitted {
            assert!(
                errors
                    .iter()
                    .any(|e| e.contains("impact.requireAcknowledgement needs impact.preflight")),
                "{errors:?}"
            );
            assert_eq!(
                rust_check(&object),
                Err(SpecError::AcknowledgementWithoutPreflight)
            );
        }
    }
    let minimal_snapshot = with(minimal(), "/spec/snapshot", json!({"scope": "Minimal"}));
    assert!(admission_errors(&minimal_snapshot).is_empty());
    let unknown_scope = with(minimal(), "/spec/snapshot", json!({"scope": "Partial"}));
    assert!(!admission_errors(&unknown_scope).is_empty());
}

#[test]
fn schema_defaults_equal_the_rust_defaults() {
    let raw = minimal();
    let defaulted = kube_cel::apply_defaults(&schema(), &raw);

    let from_schema: GenesysUserOffboarding = serde_json::from_value(defaulted.clone()).unwrap();
    let from_serde: GenesysUserOffboarding = serde_json::from_value(raw).unwrap();

    assert_eq!(from_schema.spec, from_serde.spec);
    assert_eq!(
        serde_json::to_value(&from_serde.spec).unwrap(),
        defaulted["spec"]
    );
}

#[test]
fn every_cel_rule_compiles_and_fits_the_cost_budget() {
    let rules = cel_rules(&schema());
    assert!(rules.len() >= 7, "{rules:?}");

    for (path, rule, node) in rules {
        let compiled = kube_cel::compile_schema(&node);
        assert!(
            !compiled.has_errors(),
            "{path}: {rule}: {:?}",
            compiled.compilation_errors()
        );
        let warnings =
            kube_cel::analyze_rule(&rule, &compiled, kube_cel::ScopeContext::CrdValidation);
        assert!(warnings.is_empty(), "{path}: {rule}: {warnings:?}");
    }
}

/// What an API server says of `url` as `field` (schema and CEL), and what `validate` says, with
/// the other base URL a valid one.
struct UrlVerdicts {
    schema: jsonschema::Validator,
    compiled: kube_cel::CompiledSchema,
}

impl UrlVerdicts {
    fn new() -> Self {
        let schema = schema();
        Self {
            schema: jsonschema::options().build(&schema).unwrap(),
            compiled: kube_cel::compile_schema(&schema),
        }
    }

    fn object(field: &str, url: &str) -> Value {
        let other = if field == "apiBaseUrl" {
            "/spec/loginBaseUrl"
        } else {
            "/spec/apiBaseUrl"
        };
        let object = with(minimal(), "/spec/region", Value::Null);
        let object = with(object, other, json!("https://login.mypurecloud.com/"));
        with(object, &format!("/spec/{field}"), json!(url))
    }

    /// `(admitted by the API server, accepted by validate)`.
    fn of(&self, field: &str, url: &str) -> (bool, bool) {
        let object = Self::object(field, url);
        let schema_ok = self.schema.is_valid(&object);
        let cel_ok = kube_cel::Validator::new()
            .validate_compiled(&self.compiled, &object, None)
            .is_ok();
        (schema_ok && cel_ok, rust_check(&object).is_ok())
    }
}

#[test]
#[allow(clippy::too_many_lines)] // one table of URLs, one line each
fn base_urls_get_the_same_verdict_from_the_cel_rule_and_from_validate() {
    let long = format!("https://{}.example.com/", "a".repeat(2050));
    let table: Vec<(&str, bool)> = vec![
        ("https://api.mypurecloud.com/", true),
        ("https://api.mypurecloud.com", true),
        ("https://API.MyPureCloud.com/", true),
        ("https://proxy.example.com:8443/genesys/", true),
        ("https://proxy.example.com/a/b-c_d.e~f", true),
        ("https://genesys-proxy/", true),
        ("https://localhost/", true),
        ("https://10.0.0.1/", true),
        ("https://10.0.0.1:65535/", true),
        ("https://a1.b-2.c.example.co:1/", true),
        ("http://127.0.0.1:8080/", true),
        ("http://localhost", true),
        ("http://[::1]:9000/", true),
        ("", false),
        ("https://", false),
        ("https:///", false),
        ("https://user:password@api.example.com/", false),
        ("https://user@api.example.com/", false),
        ("http://127.0.0.1@evil.example/", false),
        ("http://jane:pw@127.0.0.1:8080/", false),
        ("https://api.example.com/?x=1", false),
        ("https://api.example.com/?", false),
        ("https://api.example.com/#frag", false),
        ("https://api.example.com/%2e%2e/", false),
        ("https://api.example.com/ a", false),
        (" https://api.example.com/", false),
        ("https://api.example.com/\n", false),
        ("HTTPS://api.example.com/", false),
        ("Https://api.example.com/", false),
        ("http://api.example.com/", false),
        ("http://10.0.0.1/", false),
        ("http://169.254.169.254/latest/meta-data/", false),
        ("http://127.0.0.2:8080/", false),
        ("http://127.1:8080/", false),
        ("http://0x7f000001/", false),
        ("http://2130706433/", false),
        ("http://LOCALHOST:8080/", false),
        ("http://localhost.evil.example/", false),
        ("http://[::ffff:127.0.0.1]/", false),
        ("http://[0:0:0:0:0:0:0:1]/", false),
        ("https://[2001:db8::1]/", false),
        ("http://localhost:0/", false),
        ("http://localhost:65536/", false),
        ("http://localhost:99999/", false),
        ("http://localhost:08080/", false),
        ("https://api.example.com:443:443/", false),
        ("https://host.123/", false),
        ("https://1.2.3/", false),
        ("https://256.1.1.1/", false),
        ("https://01.2.3.4/", false),
        ("https://0x7f.0.0.1/", false),
        ("https://xn--nxasmq6b.example/", false),
        ("https://a--b.example.com/", false),
        ("https://-a.example.com/", false),
        ("https://a-.example.com/", false),
        ("https://api.example.com./", false),
        ("https://api..example.com/", false),
        ("https://exämple.com/", false),
        ("https://api_1.example.com/", false),
        ("ftp://127.0.0.1/", false),
        ("file:///etc/passwd", false),
        ("api.mypurecloud.com", false),
        ("//api.mypurecloud.com/", false),
        ("https:/api.example.com", false),
        ("https:\\\\api.example.com\\", false),
        ("https://api.example.com\\@evil.example/", false),
        (&long, false),
    ];
    let verdicts = UrlVerdicts::new();

    for (url, admitted) in table {
        for field in ["apiBaseUrl", "loginBaseUrl"] {
            let (api_server, rust) = verdicts.of(field, url);
            assert_eq!(api_server, admitted, "{field} {url:?}: the API server");
            assert_eq!(rust, admitted, "{field} {url:?}: validate");
        }
    }
}

/// URL-shaped strings built from the pieces the rule cares about (schemes in any case, user
/// info, hosts and addresses of every spelling, ports, paths with queries, fragments and
/// escapes): the API server and `validate` never disagree, and what both admit parses to a URL
/// without user info, query or fragment, whose host is the one written.
#[test]
fn generated_base_urls_never_get_two_verdicts() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let verdicts = UrlVerdicts::new();
    // Each piece is valid more often than not, so that a fair share of the URLs is admitted.
    let strategy = (
        proptest::sample::select(vec![
            "https://",
            "https://",
            "https://",
            "http://",
            "http://",
            "HTTPS://",
            "ftp://",
            "",
            "https:",
            "https:///",
        ]),
        proptest::sample::select(vec!["", "", "", "", "", "u@", "u:p@", "127.0.0.1@", ":@"]),
        "([a-z][a-z0-9]{0,4}(\\.[a-z0-9][a-z0-9-]{0,3}){0,2}\\.[a-zA-Z]{1,3}|localhost|127\\.0\\.0\\.1|\\[::1\\]|[a-zA-Z0-9\\-.]{0,12}|[0-9.x]{1,14}|\\[[0-9a-f:.]{0,12}\\])",
        "(|:[1-9][0-9]{0,4}|:[0-9]{0,6}|:)",
        "(|/|/[a-zA-Z0-9._~/\\-]{0,10}|/[a-zA-Z0-9._~%/?#@ \\-]{0,10})",
    );
    let admitted = std::cell::Cell::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 400,
        ..Config::default()
    });

    runner
        .run(&strategy, |(scheme, user, host, port, path)| {
            let url = format!("{scheme}{user}{host}{port}{path}");
            let (api_server, rust) = verdicts.of("apiBaseUrl", &url);
            prop_assert_eq!(api_server, rust, "{:?}", url);
            if rust {
                admitted.set(admitted.get() + 1);
                let parsed = url::Url::parse(&url).unwrap();
                prop_assert!(parsed.username().is_empty() && parsed.password().is_none());
                prop_assert!(parsed.query().is_none() && parsed.fragment().is_none());
                prop_assert_eq!(
                    parsed.host_str().unwrap_or_default(),
                    host.to_ascii_lowercase()
                );
            }
            Ok(())
        })
        .unwrap();
    assert!(admitted.get() >= 10, "only {} admitted", admitted.get());
}
