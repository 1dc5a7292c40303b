//! The Helm chart (`charts/genesys-offboarding-operator`), checked offline: `helm lint` and
//! `helm template` for the default values and each toggle, every rendered manifest and the CRD
//! validated with `kubernetes-validate --strict` for Kubernetes 1.33 and 1.37, the values schema
//! refusing bad values, the pod security settings, the RBAC verbs (no wildcards), the CRD copy
//! in the chart, and the Grafana dashboard and `PrometheusRule` toggles (their content is checked
//! with the real Prometheus tools in `prometheus.rs`).
//!
//! helm 4.1 and kubernetes-validate come from `scripts/test`, which installs them into `.tools/`.
//! Without them these tests fail and say so; `GENESYS_CHART_TESTS=skip` skips the ones that need
//! them. Start at [`render`], which every test about rendered manifests goes through.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_yaml::Value;

const CHART: &str = "charts/genesys-offboarding-operator";
const RELEASE: &str = "gofb";
const NAMESPACE: &str = "genesys-offboarding";
const FULLNAME: &str = "gofb-genesys-offboarding-operator";
/// The Kubernetes versions the chart supports at both ends (Chart.yaml kubeVersion >= 1.33).
const KUBERNETES_VERSIONS: [&str; 2] = ["1.33.0", "1.37.0"];
const GROUP: &str = "offboarding.genesys-operator.io";

/// The toggles the proof covers, as `--set` lists: each renders and lints on its own.
const TOGGLES: [(&str, &[&str]); 9] = [
    ("default values", &[]),
    (
        "leader election",
        &["leaderElection.enabled=true", "replicaCount=2"],
    ),
    ("single namespace", &["singleNamespace=true"]),
    (
        "watched namespaces",
        &["watchNamespaces={hr,contact-center}"],
    ),
    ("ServiceMonitor", &["serviceMonitor.enabled=true"]),
    ("NetworkPolicy", &["networkPolicy.enabled=true"]),
    ("PrometheusRule", &["prometheusRule.enabled=true"]),
    ("Grafana dashboard", &["grafana.dashboard.enabled=true"]),
    (
        "guardrails",
        &[
            "guardrails.deactivationCap.max=25",
            "guardrails.protected.emails={ceo@example.com}",
            "guardrails.approval.enabled=true",
            "guardrails.approval.approverGroups={offboarding-approvers}",
        ],
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The installed tools, or `None` when `GENESYS_CHART_TESTS=skip`. Missing tools fail the test.
struct Tools {
    helm: PathBuf,
    validate: PathBuf,
}

fn tools() -> Option<Tools> {
    if std::env::var("GENESYS_CHART_TESTS").is_ok_and(|v| v == "skip") {
        eprintln!("skipped: GENESYS_CHART_TESTS=skip");
        return None;
    }
    let helm = root().join(".tools/bin/helm");
    let validate = root().join(".tools/venv/bin/kubernetes-validate");
    for tool in [&helm, &validate] {
        assert!(
            tool.is_file(),
            "{} is missing: run `scripts/test` once, which installs helm, kubectl and \
             kubernetes-validate into .tools/ (or set GENESYS_CHART_TESTS=skip to skip the chart tests)",
            tool.display()
        );
    }
    Some(Tools { helm, validate })
}

impl Tools {
    fn helm(&self, args: &[&str]) -> Output {
        // Keep helm away from the developer's own config, cache and plugins.
        let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("helm-home");
        Command::new(&self.helm)
            .args(args)
            .current_dir(root())
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env("KUBECONFIG", home.join("no-kubeconfig"))
            .output()
            .unwrap()
    }

    /// `helm template` with `--set` values; the raw output, or the error text.
    fn template(&self, sets: &[&str], extra: &[&str]) -> Result<String, String> {
        let mut args = vec!["template", RELEASE, CHART, "--namespace", NAMESPACE];
        for set in sets {
            args.extend(["--set", set]);
        }
        args.extend(extra);
        let out = self.helm(&args);
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

/// The manifests `helm template` renders with these `--set` values, parsed.
fn render(tools: &Tools, sets: &[&str]) -> Vec<Value> {
    let text = tools
        .template(sets, &[])
        .unwrap_or_else(|e| panic!("helm template {sets:?} failed:\n{e}"));
    documents(&text)
}

fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn of_kind<'a>(docs: &'a [Value], wanted: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind(d) == wanted).collect()
}

fn one<'a>(docs: &'a [Value], wanted: &str) -> &'a Value {
    let found = of_kind(docs, wanted);
    assert_eq!(found.len(), 1, "expected one {wanted}, got {}", found.len());
    found[0]
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn container(docs: &[Value]) -> &Value {
    let containers = &one(docs, "Deployment")["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_sequence().unwrap().len(), 1);
    &containers[0]
}

fn args(docs: &[Value]) -> Vec<&str> {
    strings(&container(docs)["args"])
}

/// Every rule of every `Role` and `ClusterRole`, with where the role lives.
fn rules(docs: &[Value]) -> Vec<(String, &Value)> {
    docs.iter()
        .filter(|d| matches!(kind(d), "Role" | "ClusterRole"))
        .flat_map(|d| {
            let place = format!(
                "{} {}/{}",
                kind(d),
                d["metadata"]["namespace"].as_str().unwrap_or("-"),
                d["metadata"]["name"].as_str().unwrap_or_default()
            );
            d["rules"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(move |r| (place.clone(), r))
        })
        .collect()
}

/// The verbs granted on `resource` of `group` by the roles in `docs`.
fn verbs_on(docs: &[Value], group: &str, resource: &str) -> Vec<String> {
    let mut verbs: Vec<String> = rules(docs)
        .into_iter()
        .filter(|(_, r)| strings(&r["apiGroups"]).contains(&group))
        .filter(|(_, r)| strings(&r["resources"]).contains(&resource))
        .flat_map(|(_, r)| strings(&r["verbs"]).into_iter().map(str::to_owned))
        .collect();
    verbs.sort();
    verbs.dedup();
    verbs
}

fn sorted(items: &[&str]) -> Vec<String> {
    let mut items: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
    items.sort();
    items
}

// --- Files that need no tool -------------------------------------------------------------------

#[test]
fn the_charts_crd_copy_is_the_generated_crd() {
    let copy = root().join(CHART).join("crds/genesysuseroffboardings.yaml");
    let chart = std::fs::read_to_string(&copy).unwrap_or_default();
    let committed =
        std::fs::read_to_string(root().join("crds/genesysuseroffboardings.yaml")).unwrap();
    let generated = genesys_offboarding_operator::crd::crd_yaml().unwrap();

    let refresh = format!(
        "refresh it with: cargo run -- crd > crds/genesysuseroffboardings.yaml && \
         cp crds/genesysuseroffboardings.yaml {CHART}/crds/"
    );
    assert!(
        chart == committed,
        "{} differs from crds/genesysuseroffboardings.yaml; {refresh}",
        copy.display()
    );
    assert!(
        chart == generated,
        "{} differs from the CRD generated from src/crd.rs; {refresh}",
        copy.display()
    );
}

#[test]
fn the_chart_app_version_is_the_crate_version() {
    let chart: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join(CHART).join("Chart.yaml")).unwrap(),
    )
    .unwrap();

    assert_eq!(chart["apiVersion"].as_str(), Some("v2"));
    assert_eq!(chart["kubeVersion"].as_str(), Some(">=1.33.0-0"));
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION")),
        "set appVersion (and version) in {CHART}/Chart.yaml to the crate version"
    );
}

#[test]
fn the_image_build_copies_every_target_that_cargo_toml_declares() {
    // Cargo refuses a manifest whose declared targets are missing, so the Dockerfile must COPY the
    // folder of every explicit `path = ...` and .dockerignore must let it through.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let mut folders = declared_target_folders(&manifest);
    folders.extend(workspace_member_folders(&manifest));
    folders.sort_unstable();
    folders.dedup();
    assert!(
        folders.contains(&"src") && folders.contains(&"benches") && folders.contains(&"crates"),
        "{folders:?}"
    );

    for folder in folders {
        assert!(
            dockerfile.contains(&format!("COPY {folder} ./{folder}")),
            "the Dockerfile does not copy {folder}/, which Cargo.toml needs"
        );
        assert!(
            ignore.lines().any(|l| l.trim() == format!("!{folder}/")),
            ".dockerignore keeps {folder}/ out of the build context"
        );
    }
    assert!(dockerfile.contains("USER 65532:65532"));
    assert!(dockerfile.contains("cargo build --release --locked"));
    // The image carries neither the emulator nor (a dev-dependency) the fake API server.
    assert!(dockerfile.contains("--no-default-features"));
}

/// The top-level folder of every workspace member (`members = [...]`): Cargo loads each
/// member's manifest before it builds anything.
fn workspace_member_folders(manifest: &str) -> Vec<&str> {
    let Some(line) = manifest
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("members = ["))
    else {
        return Vec::new();
    };
    line.split('"')
        .skip(1)
        .step_by(2)
        .filter_map(|member| member.split('/').next())
        .collect()
}

/// The top-level folder of every target section (`[[bin]]`, `[[bench]]`, `[[example]]`,
/// `[[test]]`, `[lib]`) of a Cargo manifest: its `path`, or Cargo's default folder.
fn declared_target_folders(manifest: &str) -> Vec<&str> {
    let mut folders = Vec::new();
    let mut current: Option<&str> = None;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            folders.extend(current.take());
            current = match line {
                "[[bin]]" | "[lib]" => Some("src"),
                "[[bench]]" => Some("benches"),
                "[[example]]" => Some("examples"),
                "[[test]]" => Some("tests"),
                _ => None,
            };
        } else if let (Some(_), Some(path)) = (current, line.strip_prefix("path = \"")) {
            current = path.split('/').next();
        }
    }
    folders.extend(current);
    folders.sort_unstable();
    folders.dedup();
    folders
}

// --- helm lint, helm template, kubernetes-validate ---------------------------------------------

#[test]
fn the_chart_lints_cleanly_with_default_values_and_every_toggle() {
    let Some(tools) = tools() else { return };
    for (name, sets) in TOGGLES {
        for version in KUBERNETES_VERSIONS {
            let mut args = vec!["lint", "--strict", CHART, "--kube-version", version];
            for set in sets {
                args.extend(["--set", set]);
            }
            let out = tools.helm(&args);
            assert!(
                out.status.success(),
                "helm lint ({name}, Kubernetes {version}) failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn every_rendered_manifest_and_the_crds_pass_strict_validation_for_kubernetes_1_33_and_1_37() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![
        root().join("crds/genesysuseroffboardings.yaml"),
        root().join(CHART).join("crds/genesysuseroffboardings.yaml"),
        root().join("examples/credentials-secret.yaml"),
    ];
    let everything = [
        "leaderElection.enabled=true",
        "replicaCount=2",
        "watchNamespaces={hr,contact-center}",
        "serviceMonitor.enabled=true",
        "networkPolicy.enabled=true",
        "networkPolicy.apiServer.cidrs={10.0.0.10/32}",
        "networkPolicy.genesys.except={10.0.0.0/8}",
        "prometheusRule.enabled=true",
        "prometheusRule.stalledForByReason.CredentialsMissing=2h",
        "grafana.dashboard.enabled=true",
        "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "guardrails.deactivationCap.max=25",
        "guardrails.approval.enabled=true",
        "guardrails.approval.approverGroups={offboarding-approvers}",
    ];
    let all_toggles = ("everything at once", &everything[..]);
    for (i, (name, sets)) in TOGGLES.iter().chain([&all_toggles]).enumerate() {
        let rendered = tools
            .template(sets, &["--kube-version", KUBERNETES_VERSIONS[0]])
            .unwrap_or_else(|e| panic!("helm template ({name}) failed:\n{e}"));
        let file = dir
            .path()
            .join(format!("{i}-{}.yaml", name.replace(' ', "-")));
        std::fs::write(&file, rendered).unwrap();
        files.push(file);
    }

    let mut command = Command::new(&tools.validate);
    command.arg("--strict");
    for version in KUBERNETES_VERSIONS {
        command.args(["-k", version]);
    }
    let out = command.args(&files).output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    assert!(
        out.status.success(),
        "kubernetes-validate failed:\n{report}"
    );
    // Kinds without a schema are only warned about. The ones expected are ServiceMonitor and
    // PrometheusRule (Prometheus Operator CRDs, which kubernetes-validate has no schema for;
    // promtool checks the rules in prometheus.rs); anything else unvalidated is a failure.
    let unvalidated: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("Couldn't find schema"))
        .filter(|l| !l.contains("kind ServiceMonitor with api version monitoring.coreos.com/v1"))
        .filter(|l| !l.contains("kind PrometheusRule with api version monitoring.coreos.com/v1"))
        .collect();
    assert!(
        unvalidated.is_empty(),
        "not validated:\n{}",
        unvalidated.join("\n")
    );
    for version in ["1.33", "1.37"] {
        for resource in [
            "customresourcedefinition/genesysuseroffboardings.offboarding.genesys-operator.io",
            "secret/genesys-credentials",
            "deployment/gofb-genesys-offboarding-operator",
            "clusterrole/genesys-offboarding-gofb-genesys-offboarding-operator",
            "role/gofb-genesys-offboarding-operator-leader-election",
            "networkpolicy/gofb-genesys-offboarding-operator",
            "poddisruptionbudget/gofb-genesys-offboarding-operator",
            "configmap/gofb-genesys-offboarding-operator-dashboard",
            "validatingadmissionpolicy/genesys-offboarding-gofb-genesys-offboarding-operator-approval",
            "validatingadmissionpolicybinding/genesys-offboarding-gofb-genesys-offboarding-operator-approval",
        ] {
            let line = format!("passed for resource {resource} against version {version}");
            assert!(report.contains(&line), "no `{line}` in:\n{report}");
        }
    }
}

#[test]
fn the_validator_rejects_an_unknown_field_so_a_pass_means_something() {
    let Some(tools) = tools() else { return };
    let rendered = tools.template(&[], &[]).unwrap();
    let broken = rendered.replacen("revisionHistoryLimit:", "revisionHistoryLimt:", 1);
    assert_ne!(broken, rendered);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, broken).unwrap();

    let out = Command::new(&tools.validate)
        .args(["--strict", "-k", KUBERNETES_VERSIONS[0]])
        .arg(&file)
        .output()
        .unwrap();

    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("'revisionHistoryLimt' was unexpected"));
}

#[test]
fn the_values_schema_rejects_bad_values() {
    let Some(tools) = tools() else { return };
    let cases: [(&[&str], &str); 27] = [
        (&["replicaCount=2"], "/leaderElection/enabled"),
        (
            &["genesys.allowedEndpoints={https://proxy.example.com}"],
            "/genesys/allowedEndpoints/0",
        ),
        (
            &["genesys.allowedEndpoints={user@proxy.example.com:99999}"],
            "/genesys/allowedEndpoints/0",
        ),
        (&["replicaCount=0"], "/replicaCount"),
        (&["concurrency=0"], "/concurrency"),
        (&["maxPassesPerOrg=0"], "/maxPassesPerOrg"),
        (&["passTimeout=two minutes"], "/passTimeout"),
        (&["backoff.base=soon"], "/backoff/base"),
        (&["genesys.rateLimit=-5"], "/genesys/rateLimit"),
        (&["genesys.rateLimit=fast"], "/genesys/rateLimit"),
        (&["logging.format=xml"], "/logging/format"),
        (&["logging.level=loud"], "/logging/level"),
        (&["watchNamespaces={Bad_Namespace}"], "/watchNamespaces/0"),
        (
            &["singleNamespace=true", "watchNamespaces={hr}"],
            "/watchNamespaces",
        ),
        (&["image.pullPolicy=Sometimes"], "/image/pullPolicy"),
        (&["image.digest=latest"], "/image/digest"),
        (&["image.repository="], "/image/repository"),
        (&["resources.limits=null"], "/resources"),
        (
            &["networkPolicy.genesys.cidrs={example.com}"],
            "/networkPolicy/genesys/cidrs/0",
        ),
        (
            &["serviceMonitor.interval=often"],
            "/serviceMonitor/interval",
        ),
        (
            &["prometheusRule.stalledFor=half an hour"],
            "/prometheusRule/stalledFor",
        ),
        (
            &["prometheusRule.stalledForByReason.credentials-missing=2h"],
            "invalid propertyName 'credentials-missing'",
        ),
        (
            &["prometheusRule.runbookBaseUrl=docs.example.com"],
            "/prometheusRule/runbookBaseUrl",
        ),
        (
            &["prometheusRule.metricSelector={job=\"x\"}"],
            "/prometheusRule/metricSelector",
        ),
        (
            &["prometheusRule.rateLimitWaits.secondsPerSecond=0"],
            "/prometheusRule/rateLimitWaits/secondsPerSecond",
        ),
        (
            &["grafana.dashboard.label=not a label"],
            "/grafana/dashboard/label",
        ),
        // A typo is an error, not a silently ignored value.
        (&["leaderElection.enable=true"], "'enable' not allowed"),
    ];
    for (sets, pointer) in cases {
        let error = tools
            .template(sets, &[])
            .expect_err(&format!("{sets:?} was accepted"));
        assert!(
            error.contains("values don't meet the specifications of the schema"),
            "{sets:?}: {error}"
        );
        assert!(
            error.contains(pointer),
            "{sets:?} should fail at {pointer}: {error}"
        );
    }
}

#[test]
fn the_templates_still_refuse_unsafe_values_without_schema_validation() {
    let Some(tools) = tools() else { return };
    for (sets, message) in [
        (
            &["replicaCount=2"][..],
            "replicaCount > 1 needs leaderElection.enabled=true",
        ),
        (
            &["singleNamespace=true", "watchNamespaces={hr}"],
            "leave watchNamespaces empty",
        ),
        (
            &[
                "leaderElection.enabled=true",
                "replicaCount=2",
                "podDisruptionBudget.minAvailable=2",
            ],
            "minAvailable must be below replicaCount",
        ),
    ] {
        let error = tools
            .template(sets, &["--skip-schema-validation"])
            .expect_err(&format!("{sets:?} was accepted"));
        assert!(error.contains(message), "{sets:?}: {error}");
    }
}

#[test]
fn the_chart_refuses_kubernetes_older_than_1_33() {
    let Some(tools) = tools() else { return };

    let error = tools
        .template(&[], &["--kube-version", "1.32.9"])
        .unwrap_err();

    assert!(
        error.contains("chart requires kubeVersion: >=1.33.0-0"),
        "{error}"
    );
}

// --- The operator pod --------------------------------------------------------------------------

#[test]
fn the_operator_pod_meets_the_restricted_pod_security_standard() {
    let Some(tools) = tools() else { return };
    for (name, sets) in TOGGLES {
        let docs = render(&tools, sets);
        let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
        let container = container(&docs);
        let security = &container["securityContext"];

        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
        assert_eq!(pod["securityContext"]["runAsUser"], 65532, "{name}");
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(security["runAsNonRoot"], true, "{name}");
        assert_eq!(security["runAsUser"], 65532, "{name}");
        assert_eq!(security["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(security["privileged"], false, "{name}");
        assert_eq!(
            strings(&security["capabilities"]["drop"]),
            ["ALL"],
            "{name}"
        );
        assert!(security["capabilities"]["add"].is_null(), "{name}");
        assert_eq!(
            security["seccompProfile"]["type"], "RuntimeDefault",
            "{name}"
        );
        assert!(
            pod["hostNetwork"].is_null() && pod["hostPID"].is_null(),
            "{name}"
        );
        for volume in pod["volumes"].as_sequence().unwrap() {
            assert!(volume["hostPath"].is_null(), "{name}: {volume:?}");
        }
        for (kind, quantity) in [
            ("requests", "cpu"),
            ("requests", "memory"),
            ("limits", "cpu"),
            ("limits", "memory"),
        ] {
            assert!(
                container["resources"][kind][quantity].as_str().is_some(),
                "{name}: no {kind}.{quantity}"
            );
        }
    }
}

#[test]
fn probes_and_metrics_use_the_admin_port_8080() {
    let Some(tools) = tools() else { return };
    let docs = render(&tools, &[]);
    let container = container(&docs);

    assert_eq!(container["ports"][0]["name"], "admin");
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], "admin");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "admin");
    let service = one(&docs, "Service");
    assert_eq!(service["spec"]["ports"][0]["name"], "metrics");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "admin");
    assert_eq!(
        service["spec"]["selector"],
        one(&docs, "Deployment")["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn the_operator_gets_the_pinned_command_line_from_values() {
    let Some(tools) = tools() else { return };

    // No --allowed-endpoint by default: custom endpoints are off unless a value allows hosts.
    assert_eq!(
        args(&render(&tools, &[])),
        [
            "run",
            "--admin-listen=0.0.0.0:8080",
            "--concurrency=32",
            "--genesys-rate-limit=300",
            "--pass-timeout=2m",
            "--backoff-base=5s",
            "--backoff-max=5m",
            "--log-format=text",
            "--log-level=info",
        ]
    );
    assert_eq!(
        args(&render(
            &tools,
            &[
                "concurrency=3",
                "maxPassesPerOrg=2",
                "passTimeout=5m",
                "backoff.base=2s",
                "backoff.max=1m",
                "genesys.rateLimit=120",
                "logging.format=json",
                "logging.level=debug",
                "watchNamespaces={hr,contact-center}",
                "genesys.allowedEndpoints={genesys-proxy.example.com:8443,10.0.0.5}",
                "leaderElection.enabled=true",
                "leaderElection.leaseName=offboarding-leader",
            ]
        )),
        [
            "run",
            "--admin-listen=0.0.0.0:8080",
            "--concurrency=3",
            "--genesys-rate-limit=120",
            "--pass-timeout=5m",
            "--backoff-base=2s",
            "--backoff-max=1m",
            "--max-passes-per-org=2",
            "--log-format=json",
            "--log-level=debug",
            "--namespace=hr",
            "--namespace=contact-center",
            "--allowed-endpoint=genesys-proxy.example.com:8443",
            "--allowed-endpoint=10.0.0.5",
            "--leader-election",
            "--lease-name=offboarding-leader",
            &format!("--lease-namespace={NAMESPACE}"),
        ]
    );
    assert!(
        args(&render(&tools, &["singleNamespace=true"]))
            .contains(&&*format!("--namespace={NAMESPACE}"))
    );
}

#[test]
fn the_image_tag_defaults_to_the_app_version_and_a_digest_pins_it() {
    let Some(tools) = tools() else { return };
    let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    let image = |sets: &[&str]| {
        container(&render(&tools, sets))["image"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    assert_eq!(
        image(&[]),
        format!("genesys-offboarding-operator:{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        image(&[
            "image.repository=registry.example.com/gofb",
            "image.tag=0.2.0-rc.1"
        ]),
        "registry.example.com/gofb:0.2.0-rc.1"
    );
    assert_eq!(
        image(&["image.tag=ignored", &format!("image.digest={digest}")]),
        format!("genesys-offboarding-operator@{digest}")
    );
}

#[test]
fn a_single_replica_is_recreated_and_has_no_disruption_budget() {
    let Some(tools) = tools() else { return };
    let docs = render(&tools, &[]);
    let deployment = one(&docs, "Deployment");

    assert_eq!(deployment["spec"]["replicas"], 1);
    // Two pods without leader election would offboard the same users twice, even briefly.
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    assert!(of_kind(&docs, "PodDisruptionBudget").is_empty());
    assert!(!args(&docs).contains(&"--leader-election"));
    assert!(verbs_on(&docs, "coordination.k8s.io", "leases").is_empty());
    // Leader election on with one replica: no budget, which would block every node drain.
    let single_leader = render(&tools, &["leaderElection.enabled=true"]);
    assert!(of_kind(&single_leader, "PodDisruptionBudget").is_empty());
}

#[test]
fn leader_election_adds_a_lease_role_a_rolling_update_and_a_disruption_budget() {
    let Some(tools) = tools() else { return };
    let docs = render(&tools, &["leaderElection.enabled=true", "replicaCount=3"]);
    let deployment = one(&docs, "Deployment");

    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    let budget = one(&docs, "PodDisruptionBudget");
    assert_eq!(budget["spec"]["minAvailable"], 1);
    assert_eq!(
        budget["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let lease_rules: Vec<_> = rules(&docs)
        .into_iter()
        .filter(|(_, r)| strings(&r["resources"]) == ["leases"])
        .collect();
    assert_eq!(lease_rules.len(), 2);
    for (place, rule) in &lease_rules {
        assert_eq!(
            *place,
            format!("Role {NAMESPACE}/{FULLNAME}-leader-election")
        );
        assert_eq!(strings(&rule["apiGroups"]), ["coordination.k8s.io"]);
    }
    assert_eq!(strings(&lease_rules[0].1["verbs"]), ["create"]);
    assert_eq!(strings(&lease_rules[1].1["resourceNames"]), [FULLNAME]);
    assert_eq!(
        strings(&lease_rules[1].1["verbs"]),
        ["get", "update", "patch"]
    );
    let binding = of_kind(&docs, "RoleBinding")
        .into_iter()
        .find(|b| b["roleRef"]["name"] == format!("{FULLNAME}-leader-election").as_str())
        .unwrap();
    assert_eq!(binding["subjects"][0]["name"], FULLNAME);
    assert_eq!(binding["subjects"][0]["namespace"], NAMESPACE);
}

// --- RBAC --------------------------------------------------------------------------------------

#[test]
fn rbac_grants_exactly_the_verbs_the_operator_needs_and_no_wildcards() {
    let Some(tools) = tools() else { return };
    for (name, sets) in TOGGLES {
        let docs = render(&tools, sets);
        for (place, rule) in rules(&docs) {
            for field in [
                "apiGroups",
                "resources",
                "verbs",
                "resourceNames",
                "nonResourceURLs",
            ] {
                assert!(
                    !strings(&rule[field]).iter().any(|s| s.contains('*')),
                    "{name}: wildcard in {place} {field}: {rule:?}"
                );
            }
            assert!(rule["nonResourceURLs"].is_null(), "{name}: {place}");
        }

        assert_eq!(
            verbs_on(&docs, GROUP, "genesysuseroffboardings"),
            sorted(&["get", "list", "watch", "patch"]),
            "{name}"
        );
        assert_eq!(
            verbs_on(&docs, GROUP, "genesysuseroffboardings/status"),
            ["patch"]
        );
        assert_eq!(
            verbs_on(&docs, GROUP, "genesysuseroffboardings/finalizers"),
            ["update"]
        );
        assert_eq!(
            verbs_on(&docs, "events.k8s.io", "events"),
            sorted(&["create", "patch"]),
            "{name}"
        );
        assert!(
            verbs_on(&docs, "", "events").is_empty(),
            "{name}: core events"
        );
        assert_eq!(
            verbs_on(&docs, "", "secrets"),
            sorted(&["get", "list", "watch"]),
            "{name}"
        );
        // Nothing else: no pods, configmaps, CRDs, namespaces, ...
        let granted: Vec<String> = rules(&docs)
            .iter()
            .flat_map(|(_, r)| strings(&r["resources"]).into_iter().map(str::to_owned))
            .collect();
        for resource in granted {
            assert!(
                [
                    "genesysuseroffboardings",
                    "genesysuseroffboardings/status",
                    "genesysuseroffboardings/finalizers",
                    "events",
                    "secrets",
                    "leases",
                ]
                .contains(&resource.as_str()),
                "{name}: unexpected grant on {resource}"
            );
        }
    }
}

#[test]
fn every_namespace_mode_uses_one_cluster_role_bound_to_the_service_account() {
    let Some(tools) = tools() else { return };
    let docs = render(&tools, &[]);

    let role = one(&docs, "ClusterRole");
    let binding = one(&docs, "ClusterRoleBinding");
    assert!(of_kind(&docs, "Role").is_empty());
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["kind"], "ServiceAccount");
    assert_eq!(
        binding["subjects"][0]["name"],
        one(&docs, "ServiceAccount")["metadata"]["name"]
    );
    assert_eq!(binding["subjects"][0]["namespace"], NAMESPACE);
}

#[test]
fn watched_namespaces_get_roles_instead_of_a_cluster_role() {
    let Some(tools) = tools() else { return };
    let docs = render(&tools, &["watchNamespaces={hr,contact-center}"]);

    assert!(of_kind(&docs, "ClusterRole").is_empty());
    assert!(of_kind(&docs, "ClusterRoleBinding").is_empty());
    let namespaces = |kind: &str| -> Vec<String> {
        let mut found: Vec<String> = of_kind(&docs, kind)
            .iter()
            .map(|d| d["metadata"]["namespace"].as_str().unwrap().to_owned())
            .collect();
        found.sort();
        found
    };
    assert_eq!(namespaces("Role"), ["contact-center", "hr"]);
    assert_eq!(namespaces("RoleBinding"), ["contact-center", "hr"]);
    for binding in of_kind(&docs, "RoleBinding") {
        assert_eq!(binding["roleRef"]["kind"], "Role");
        assert_eq!(binding["subjects"][0]["namespace"], NAMESPACE);
    }
}

#[test]
fn single_namespace_mode_creates_no_cluster_scoped_object() {
    let Some(tools) = tools() else { return };
    let docs = render(&tools, &["singleNamespace=true"]);

    for doc in &docs {
        assert_eq!(
            doc["metadata"]["namespace"],
            NAMESPACE,
            "{} {:?} is not in the release namespace",
            kind(doc),
            doc["metadata"]["name"]
        );
    }
    assert_eq!(one(&docs, "Role")["metadata"]["namespace"], NAMESPACE);
    assert_eq!(one(&docs, "RoleBinding")["roleRef"]["kind"], "Role");
}

// --- Optional objects --------------------------------------------------------------------------

#[test]
fn the_network_policy_allows_egress_only_to_dns_the_api_server_and_https() {
    let Some(tools) = tools() else { return };
    let docs = render(
        &tools,
        &[
            "networkPolicy.enabled=true",
            "networkPolicy.apiServer.cidrs={10.0.0.10/32}",
        ],
    );
    let policy = one(&docs, "NetworkPolicy");
    let spec = &policy["spec"];

    assert_eq!(strings(&spec["policyTypes"]), ["Ingress", "Egress"]);
    assert_eq!(
        spec["podSelector"]["matchLabels"],
        one(&docs, "Deployment")["spec"]["selector"]["matchLabels"]
    );
    let ingress = spec["ingress"].as_sequence().unwrap();
    assert_eq!(ingress.len(), 1);
    assert_eq!(ingress[0]["ports"][0]["port"], "admin");
    let egress = spec["egress"].as_sequence().unwrap();
    let ports: Vec<Vec<(u64, &str)>> = egress
        .iter()
        .map(|rule| {
            rule["ports"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|p| (p["port"].as_u64().unwrap(), p["protocol"].as_str().unwrap()))
                .collect()
        })
        .collect();
    assert_eq!(
        ports,
        [
            vec![(53, "UDP"), (53, "TCP")],
            vec![(443, "TCP"), (6443, "TCP")],
            vec![(443, "TCP")],
        ]
    );
    assert_eq!(
        egress[0]["to"][0]["podSelector"]["matchLabels"]["k8s-app"],
        "kube-dns"
    );
    assert_eq!(egress[1]["to"][0]["ipBlock"]["cidr"], "10.0.0.10/32");
    assert_eq!(egress[2]["to"][0]["ipBlock"]["cidr"], "0.0.0.0/0");
    assert!(of_kind(&render(&tools, &[]), "NetworkPolicy").is_empty());
}

#[test]
fn the_service_monitor_scrapes_the_metrics_port_of_the_service() {
    let Some(tools) = tools() else { return };
    let docs = render(
        &tools,
        &[
            "serviceMonitor.enabled=true",
            "serviceMonitor.labels.release=kube-prometheus-stack",
        ],
    );
    let monitor = one(&docs, "ServiceMonitor");
    let service = one(&docs, "Service");

    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"],
        service["spec"]["selector"]
    );
    assert!(of_kind(&render(&tools, &[]), "ServiceMonitor").is_empty());
}

#[test]
fn the_install_notes_walk_through_a_first_offboarding() {
    let Some(tools) = tools() else { return };
    let out = tools.helm(&[
        "install",
        RELEASE,
        CHART,
        "--namespace",
        NAMESPACE,
        "--dry-run=client",
        "--set",
        "watchNamespaces={hr}",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let notes = stdout.split("NOTES:").nth(1).unwrap();

    for expected in [
        "kubectl get crd genesysuseroffboardings.offboarding.genesys-operator.io",
        "kubectl apply --server-side -f crds/",
        "kubectl -n hr create secret generic genesys-credentials",
        "kind: GenesysUserOffboarding",
        "kubectl -n hr get offboardings",
        "offboarded users stay inactive",
    ] {
        assert!(
            notes.contains(expected),
            "NOTES lack `{expected}`:\n{notes}"
        );
    }
}

// --- Grafana dashboard and PrometheusRule --------------------------------------------------------

#[test]
fn the_dashboard_and_the_alert_rules_are_off_by_default() {
    let Some(tools) = tools() else { return };
    let docs = render(&tools, &[]);

    assert!(of_kind(&docs, "ConfigMap").is_empty());
    assert!(of_kind(&docs, "PrometheusRule").is_empty());
}

#[test]
fn the_dashboard_configmap_carries_the_sidecar_label_and_the_dashboard_file() {
    let Some(tools) = tools() else { return };
    let file =
        std::fs::read_to_string(root().join(CHART).join("dashboards/offboarding.json")).unwrap();

    let docs = render(&tools, &["grafana.dashboard.enabled=true"]);
    let configmap = one(&docs, "ConfigMap");
    let custom = render(
        &tools,
        &[
            "grafana.dashboard.enabled=true",
            "grafana.dashboard.label=dashboards.example.com/load",
            "grafana.dashboard.labelValue=yes",
            "grafana.dashboard.namespace=monitoring",
            "grafana.dashboard.annotations.grafana_folder=Operators",
        ],
    );
    let custom = one(&custom, "ConfigMap");

    assert_eq!(configmap["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(configmap["metadata"]["namespace"], NAMESPACE);
    assert_eq!(
        configmap["data"]["genesys-offboarding.json"]
            .as_str()
            .unwrap(),
        file.trim_end(),
        "the ConfigMap holds the dashboard file as it is"
    );
    assert_eq!(
        custom["metadata"]["labels"]["dashboards.example.com/load"],
        "yes"
    );
    assert!(custom["metadata"]["labels"]["grafana_dashboard"].is_null());
    assert_eq!(custom["metadata"]["namespace"], "monitoring");
    assert_eq!(
        custom["metadata"]["annotations"]["grafana_folder"],
        "Operators"
    );
}

#[test]
fn every_alert_links_its_runbook_and_selects_the_service_monitors_job() {
    let Some(tools) = tools() else { return };
    let docs = render(
        &tools,
        &[
            "prometheusRule.enabled=true",
            "prometheusRule.labels.release=kube-prometheus-stack",
            "prometheusRule.runbookBaseUrl=https://docs.example.com/gofb/docs/",
        ],
    );
    let rule = one(&docs, "PrometheusRule");
    let alerts = rule["spec"]["groups"][0]["rules"].as_sequence().unwrap();

    assert_eq!(
        rule["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let names: Vec<&str> = alerts
        .iter()
        .map(|a| a["alert"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "GenesysOffboardingStalled",
            "GenesysOffboardingHistoryLost",
            "GenesysOffboardingDriftDetected",
            "GenesysOffboardingDriftCorrected",
            "GenesysOffboardingReconcileErrors",
            "GenesysOffboardingRateLimited",
            "GenesysOffboardingNoLeader",
        ]
    );
    for alert in alerts {
        let name = alert["alert"].as_str().unwrap();
        let runbook = alert["annotations"]["runbook_url"].as_str().unwrap();
        assert!(
            runbook.starts_with("https://docs.example.com/gofb/docs/troubleshooting.md#reason-")
                || runbook
                    .starts_with("https://docs.example.com/gofb/docs/dashboards-and-alerts.md#"),
            "{name}: {runbook}"
        );
        for annotation in ["summary", "description"] {
            assert!(
                alert["annotations"][annotation].is_string(),
                "{name}: no {annotation}"
            );
        }
        let expr = alert["expr"].as_str().unwrap();
        assert!(
            expr.contains(&format!(r#"job="{FULLNAME}""#)),
            "{name} selects the ServiceMonitor's job: {expr}"
        );
    }
    let service_monitor = render(&tools, &["serviceMonitor.enabled=true"]);
    let endpoint = &one(&service_monitor, "ServiceMonitor")["spec"]["endpoints"][0];
    assert_eq!(
        endpoint["honorLabels"], true,
        "resource_info's namespace label must survive the scrape"
    );
}
