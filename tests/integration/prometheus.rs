//! The chart's Grafana dashboard and alert rules, checked with the real Prometheus tools:
//! `promtool check rules` on the `PrometheusRule` as helm renders it, `promtool test rules` with
//! `tests/prometheus/alerts_test.yaml` (each alert fired and silenced on synthetic series), every
//! dashboard expression checked as `PromQL` by promtool, and the Prometheus server scraping an
//! operator that runs against the fake API server and the emulator: every metric the dashboard
//! and the rules name has data, every dashboard query runs, every rule evaluates, and a stall
//! fires its alert with the troubleshooting link of its reason.
//!
//! promtool and the server come from Debian's `prometheus` package, which `scripts/test`
//! unpacks into `.tools/prometheus`; helm from `.tools/bin`. Without them these tests fail and
//! say so; `GENESYS_PROMETHEUS_TESTS=skip` skips them on purpose. Start at [`rules`] and
//! [`dashboard`], which every test goes through.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use genesys_offboarding_operator::controller::{BackoffPolicy, Operator, Settings};
use kube::api::Api;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::support::genesys::demo_org;
use crate::support::k8s::{self, NS, PATIENCE, World};

const CHART: &str = "charts/genesys-offboarding-operator";
const DASHBOARD: &str = "charts/genesys-offboarding-operator/dashboards/offboarding.json";
const ALERT_TESTS: &str = "tests/prometheus/alerts_test.yaml";
/// The job of the chart's `ServiceMonitor` for release `gofb` (the Service's name), which the
/// rules select on; the Prometheus of these tests scrapes the operator under the same name.
const JOB: &str = "gofb-genesys-offboarding-operator";
/// The values `tests/prometheus/alerts_test.yaml` is written for (its header repeats them).
const ALERT_TEST_VALUES: [&str; 3] = [
    "prometheusRule.enabled=true",
    "prometheusRule.runbookBaseUrl=https://docs.example.com/genesys-offboarding/docs",
    "prometheusRule.stalledForByReason.CredentialsMissing=2h",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// helm, promtool and the Prometheus server, or `None` when `GENESYS_PROMETHEUS_TESTS=skip`.
/// A missing tool fails the test: a check that passes without running proves nothing.
struct Tools {
    helm: PathBuf,
    promtool: PathBuf,
    prometheus: PathBuf,
}

fn tools() -> Option<Tools> {
    if std::env::var("GENESYS_PROMETHEUS_TESTS").is_ok_and(|v| v == "skip") {
        eprintln!("skipped: GENESYS_PROMETHEUS_TESTS=skip");
        return None;
    }
    let tools = Tools {
        helm: root().join(".tools/bin/helm"),
        promtool: root().join(".tools/prometheus/usr/bin/promtool"),
        prometheus: root().join(".tools/prometheus/usr/bin/prometheus"),
    };
    for tool in [&tools.helm, &tools.promtool, &tools.prometheus] {
        assert!(
            tool.is_file(),
            "{} is missing: run `scripts/test` once, which installs helm into .tools/bin and \
             Debian's prometheus package into .tools/prometheus (or set \
             GENESYS_PROMETHEUS_TESTS=skip to skip these tests)",
            tool.display()
        );
    }
    Some(tools)
}

fn run(program: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{} could not start: {e}", program.display()))
}

fn report(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The rule groups of the chart's `PrometheusRule` rendered with `sets`, as a Prometheus rule
/// file (the `PrometheusRule`'s `spec`, which is what the Prometheus Operator hands Prometheus).
fn rules(tools: &Tools, sets: &[&str]) -> String {
    // Keep helm away from the developer's own config, cache and plugins.
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("helm-home");
    let mut command = Command::new(&tools.helm);
    command
        .args([
            "template",
            "gofb",
            CHART,
            "--namespace",
            "genesys-offboarding",
        ])
        .args(["--show-only", "templates/prometheusrule.yaml"])
        .current_dir(root())
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("KUBECONFIG", home.join("no-kubeconfig"));
    for set in sets {
        command.args(["--set", set]);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "helm template failed:\n{}",
        report(&out)
    );
    let rendered: Yaml = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(rendered["kind"], "PrometheusRule");
    serde_yaml::to_string(&rendered["spec"]).unwrap()
}

/// The alert rules of a rule file: (alert name, expression).
fn alerts(rule_file: &str) -> Vec<(String, String)> {
    let file: Yaml = serde_yaml::from_str(rule_file).unwrap();
    file["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|group| group["rules"].as_sequence().unwrap())
        .map(|rule| {
            (
                rule["alert"].as_str().unwrap().to_owned(),
                rule["expr"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The dashboard, parsed (a parse error fails the test).
fn dashboard() -> Json {
    let text = std::fs::read_to_string(root().join(DASHBOARD)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"))
}

/// Every `PromQL` expression of the dashboard's panels (rows' nested panels included), with its
/// panel title.
fn dashboard_expressions(dashboard: &Json) -> Vec<(String, String)> {
    fn walk(panels: &[Json], found: &mut Vec<(String, String)>) {
        for panel in panels {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let title = panel["title"].as_str().unwrap_or_default().to_owned();
                found.push((title, target["expr"].as_str().unwrap().to_owned()));
            }
            walk(panel["panels"].as_array().map_or(&[], Vec::as_slice), found);
        }
    }
    let mut found = Vec::new();
    walk(dashboard["panels"].as_array().unwrap(), &mut found);
    found
}

/// A dashboard expression as Grafana sends it: the `job` variable set to this release's job
/// and `$__rate_interval` to a window that holds several of the test's 1 s scrapes.
fn as_sent(expr: &str) -> String {
    let sent = expr.replace("$__rate_interval", "30s").replace("$job", JOB);
    assert!(
        !sent.contains('$'),
        "a variable the test does not set: {expr}"
    );
    sent
}

/// The metric names an expression reads (every name of the operator starts with the prefix).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let prefix = genesys_offboarding_operator::telemetry::METRIC_PREFIX;
    expr.match_indices(prefix)
        .map(|(at, _)| {
            expr[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

// --- promtool ----------------------------------------------------------------------------------

#[test]
fn the_rendered_alert_rules_pass_promtool_check_rules() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (i, sets) in [
        &["prometheusRule.enabled=true"][..],
        &ALERT_TEST_VALUES[..],
        &[
            "prometheusRule.enabled=true",
            // helm splits --set at unescaped commas.
            r#"prometheusRule.metricSelector=namespace="monitoring"\,job="operators""#,
            "prometheusRule.stalledForByReason.UserNotFound=1h",
            "prometheusRule.stalledForByReason.AmbiguousUser=4h",
        ][..],
    ]
    .into_iter()
    .enumerate()
    {
        let file = dir.path().join(format!("rules-{i}.yaml"));
        std::fs::write(&file, rules(&tools, sets)).unwrap();

        let out = run(
            &tools.promtool,
            &["check", "rules", file.to_str().unwrap()],
            dir.path(),
        );

        assert!(out.status.success(), "{sets:?}:\n{}", report(&out));
        assert!(report(&out).contains("SUCCESS"), "{}", report(&out));
    }
}

#[test]
fn the_alert_unit_tests_fire_and_silence_every_alert() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rule_file = rules(&tools, &ALERT_TEST_VALUES);
    std::fs::write(dir.path().join("rules.yaml"), &rule_file).unwrap();
    let tests_text = std::fs::read_to_string(root().join(ALERT_TESTS)).unwrap();
    std::fs::write(dir.path().join("alerts_test.yaml"), &tests_text).unwrap();

    let out = run(
        &tools.promtool,
        &["test", "rules", "alerts_test.yaml"],
        dir.path(),
    );

    assert!(
        out.status.success(),
        "promtool test rules:\n{}",
        report(&out)
    );
    // Each alert of the chart is tested both ways: firing and silent.
    let tests: Yaml = serde_yaml::from_str(&tests_text).unwrap();
    let cases: Vec<&Yaml> = tests["tests"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_sequence().unwrap())
        .collect();
    let names: BTreeSet<String> = alerts(&rule_file).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 7, "{names:?}");
    for name in names {
        let of_alert = || cases.iter().filter(|c| c["alertname"] == name.as_str());
        let fired = of_alert().any(|c| !c["exp_alerts"].as_sequence().unwrap().is_empty());
        let silent = of_alert().any(|c| c["exp_alerts"].as_sequence().unwrap().is_empty());
        assert!(fired && silent, "{name}: fired {fired}, silent {silent}");
    }
}

#[test]
fn the_unit_tests_catch_a_wrong_runbook_link_so_a_pass_means_something() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        rules(&tools, &ALERT_TEST_VALUES),
    )
    .unwrap();
    let tests_text = std::fs::read_to_string(root().join(ALERT_TESTS)).unwrap();
    let broken = tests_text.replace("#reason-usernotfound", "#reason-ambiguoususer");
    assert_ne!(broken, tests_text);
    std::fs::write(dir.path().join("alerts_test.yaml"), broken).unwrap();

    let out = run(
        &tools.promtool,
        &["test", "rules", "alerts_test.yaml"],
        dir.path(),
    );

    assert!(!out.status.success(), "{}", report(&out));
    assert!(
        report(&out).contains("reason-usernotfound"),
        "{}",
        report(&out)
    );
}

#[test]
fn every_dashboard_expression_is_valid_promql() {
    let Some(tools) = tools() else { return };
    let dashboard = dashboard();
    let expressions = dashboard_expressions(&dashboard);
    assert!(expressions.len() >= 15, "{expressions:?}");
    // promtool parses each expression as a recording rule.
    let records: Vec<Yaml> = expressions
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| {
            serde_yaml::from_str(&format!(
                "{{record: dashboard_expression_{i}, expr: {}}}",
                serde_json::to_string(&as_sent(expr)).unwrap()
            ))
            .unwrap()
        })
        .collect();
    let file: Yaml = serde_yaml::from_str("groups: [{name: dashboard, rules: []}]").unwrap();
    let mut file = file;
    file["groups"][0]["rules"] = Yaml::Sequence(records);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dashboard.yaml"),
        serde_yaml::to_string(&file).unwrap(),
    )
    .unwrap();

    let out = run(
        &tools.promtool,
        &["check", "rules", "dashboard.yaml"],
        dir.path(),
    );

    assert!(out.status.success(), "{}", report(&out));
    assert!(
        report(&out).contains(&format!("SUCCESS: {} rules found", expressions.len())),
        "{}",
        report(&out)
    );
}

#[test]
fn promtool_rejects_a_broken_expression_so_a_pass_means_something() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "groups: [{name: g, rules: [{record: r, expr: 'sum by (state (genesys_offboarding_leader)'}]}]\n",
    )
    .unwrap();

    let out = run(
        &tools.promtool,
        &["check", "rules", "broken.yaml"],
        dir.path(),
    );

    assert!(!out.status.success(), "{}", report(&out));
}

// --- the Prometheus server scraping a running operator -----------------------------------------

/// A Prometheus server on a free port of 127.0.0.1, killed when dropped.
struct Server {
    child: Child,
    address: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(tools: &Tools, dir: &Path, config: &str) -> Self {
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        // A free port: bound, read and released for the server to take.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let log = dir.join("prometheus.log");
        let child = Command::new(&tools.prometheus)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self {
            child,
            address,
            log,
        }
    }

    /// Waits until the server answers `/-/ready` (its storage open, its rules loaded).
    async fn wait_until_ready(&self) {
        let url = format!("http://{}/-/ready", self.address);
        eventually("Prometheus ready", || async {
            match reqwest::get(&url).await {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("{}: {}", response.status(), self.log())),
                Err(e) => Err(format!("{e}: {}", self.log())),
            }
        })
        .await;
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Option<Json> {
        let response = reqwest::Client::new()
            .get(format!("http://{}{path}", self.address))
            .query(query)
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// The result of an instant query; panics on a query Prometheus refuses.
    async fn query(&self, promql: &str) -> Vec<Json> {
        let answer = self
            .get("/api/v1/query", &[("query", promql)])
            .await
            .unwrap_or_else(|| panic!("no answer to {promql}:\n{}", self.log()));
        assert_eq!(answer["status"], "success", "{promql}: {answer}");
        answer["data"]["result"].as_array().unwrap().clone()
    }
}

/// Polls `check` every 500 ms until it returns `Ok`, failing with its last error after
/// [`PATIENCE`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match check().await {
            Ok(()) => return,
            Err(why) => assert!(
                tokio::time::Instant::now() < deadline,
                "{what} not within {PATIENCE:?}: {why}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The operator against the fake API server and the emulator with its admin server on a free
/// port, and one offboarding that finished (`jane`) and one that stalled (`ghost`, no such user).
struct Scene {
    // Held, not read: the API server and the emulator live as long as it does.
    _world: World,
    admin: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    running:
        tokio::task::JoinHandle<Result<(), genesys_offboarding_operator::controller::RunError>>,
}

impl Scene {
    async fn start() -> Self {
        let world = World::new(demo_org()).await;
        let operator = Operator::new(
            world.client.clone(),
            Settings {
                genesys_rate_limit: 1_000_000,
                backoff: BackoffPolicy {
                    base: Duration::from_millis(100),
                    max: Duration::from_secs(1),
                },
                drain_timeout: Duration::from_secs(5),
                allowed_endpoints: k8s::allowed_endpoints(),
                ..Settings::default()
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = listener.local_addr().unwrap();
        tokio::spawn(genesys_offboarding_operator::admin::serve(
            listener,
            operator.metrics(),
            operator.health(),
            std::future::pending(),
        ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(operator.run(async move {
            let _ = stopped.await;
        }));
        world
            .offboard("jane", "jane.doe@example.com", "reason: Voluntary\n")
            .await;
        world
            .offboard("ghost", "nobody.here@example.com", "reason: Voluntary\n")
            .await;
        world.wait_until_ready(&["jane"]).await;
        let resources: Api<genesys_offboarding_operator::crd::GenesysUserOffboarding> =
            world.offboardings();
        eventually("ghost stalled", || async {
            let ghost = resources.get("ghost").await.map_err(|e| e.to_string())?;
            let status = ghost.status.ok_or("no status")?;
            if status.is_true(genesys_offboarding_operator::crd::condition::STALLED) {
                Ok(())
            } else {
                Err(format!("{:?}", status.conditions))
            }
        })
        .await;
        Self {
            _world: world,
            admin,
            stop,
            running,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(30), self.running)
            .await
            .expect("the operator did not stop")
            .unwrap()
            .unwrap();
    }
}

/// Every rule of the chart evaluates without error, the stall fires with its reason's
/// runbook, and nothing else fires (the leader is there).
async fn the_rules_evaluate_and_only_the_stall_fires(server: &Server) {
    eventually("the rules evaluated and the stall alert firing", || async {
        let rules = server.get("/api/v1/rules", &[]).await.ok_or("no answer")?;
        let groups = rules["data"]["groups"].as_array().ok_or("no groups")?;
        let evaluated: Vec<&Json> = groups
            .iter()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        if evaluated.len() != 7 || evaluated.iter().any(|r| r["health"] != "ok") {
            return Err(format!("rules not all evaluated ok: {rules}"));
        }
        let alerts = server.get("/api/v1/alerts", &[]).await.ok_or("no answer")?;
        let firing: Vec<&Json> = alerts["data"]["alerts"]
            .as_array()
            .ok_or("no alerts")?
            .iter()
            .filter(|a| a["state"] == "firing")
            .collect();
        let stall = firing
            .iter()
            .find(|a| a["labels"]["alertname"] == "GenesysOffboardingStalled");
        match stall {
            Some(alert) => {
                assert_eq!(alert["labels"]["name"], "ghost", "{alert}");
                assert_eq!(
                    alert["annotations"]["runbook_url"],
                    "https://docs.example.com/gofb/docs/troubleshooting.md#reason-usernotfound"
                );
                let others: Vec<&Json> = firing
                    .iter()
                    .filter(|a| a["labels"]["alertname"] != "GenesysOffboardingStalled")
                    .copied()
                    .collect();
                assert!(others.is_empty(), "nothing else is wrong: {others:?}");
                Ok(())
            }
            None => Err(format!("no stall alert firing: {alerts}")),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scraping_the_operator_has_data_for_every_metric_the_dashboard_and_alerts_read()
{
    let Some(tools) = tools() else { return };
    // Arrange: the operator against the fake API server and the emulator, with one offboarding
    // that finishes and one that stalls (no such user).
    let scene = Scene::start().await;
    let admin = scene.admin;
    // Prometheus scrapes the operator every second and evaluates the chart's rules, rendered
    // with a stall threshold of 0s so that the stall fires at once.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        rules(
            &tools,
            &[
                "prometheusRule.enabled=true",
                "prometheusRule.stalledFor=0s",
                "prometheusRule.runbookBaseUrl=https://docs.example.com/gofb/docs",
            ],
        ),
    )
    .unwrap();
    let rule_file = std::fs::read_to_string(dir.path().join("rules.yaml")).unwrap();
    let server = Server::start(
        &tools,
        dir.path(),
        &format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             rule_files: [rules.yaml]\n\
             scrape_configs:\n\
             - job_name: {JOB}\n  honor_labels: true\n  static_configs: [{{targets: ['{admin}']}}]\n"
        ),
    );
    server.wait_until_ready().await;
    let dashboard = dashboard();
    let expressions = dashboard_expressions(&dashboard);
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (_, expr) in &expressions {
        names.extend(metric_names(expr));
    }
    for (_, expr) in alerts(&rule_file) {
        names.extend(metric_names(&expr));
    }

    // Assert: every metric has data under the job the rules and the dashboard select.
    eventually("every metric scraped", || async {
        let mut missing = Vec::new();
        for name in &names {
            if server
                .query(&format!(r#"{name}{{job="{JOB}"}}"#))
                .await
                .is_empty()
            {
                missing.push(name.clone());
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("no data for {missing:?}"))
        }
    })
    .await;
    assert!(names.len() >= 9, "{names:?}");
    // The info gauge's own namespace label survives the scrape, with the state label.
    let stalled = server
        .query(r#"genesys_offboarding_resource_info{state="Stalled"}"#)
        .await;
    assert_eq!(stalled.len(), 1, "{stalled:?}");
    assert_eq!(stalled[0]["metric"]["namespace"], NS);
    assert_eq!(stalled[0]["metric"]["name"], "ghost");
    assert_eq!(stalled[0]["metric"]["reason"], "UserNotFound");
    // Every dashboard query runs; those over the info gauge, the leader and the counters of
    // this run return series.
    // (A rate needs two scrapes, hence the wait.)
    let with_data = [
        "by state",
        "Leader",
        "Stalled offboardings",
        "Reconcile rate",
        "Genesys calls by",
    ];
    eventually("every dashboard query answered", || async {
        let mut empty = Vec::new();
        for (title, expr) in &expressions {
            let result = server.query(&as_sent(expr)).await;
            if result.is_empty() && with_data.iter().any(|t| title.contains(t)) {
                empty.push(format!("{title}: {expr}"));
            }
        }
        if empty.is_empty() {
            Ok(())
        } else {
            Err(format!("returned nothing: {empty:#?}"))
        }
    })
    .await;
    // The dashboard's job variable lists this job.
    let jobs = server
        .get(
            "/api/v1/label/job/values",
            &[("match[]", "genesys_offboarding_leader")],
        )
        .await
        .unwrap();
    assert!(
        jobs["data"].as_array().unwrap().contains(&Json::from(JOB)),
        "{jobs}"
    );
    the_rules_evaluate_and_only_the_stall_fires(&server).await;

    scene.stop().await;
}
