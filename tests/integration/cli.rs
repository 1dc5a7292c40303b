//! The command-line companion as a person uses it: the real binary, `genesys-offboarding plan`,
//! against the embedded emulator (`--sim`, realistic profile, the quick-start default) and
//! against a cluster's Secret (`--from-cluster`), and the kubectl plugin found on `PATH` by the
//! real kubectl (`kubectl offboard plan`, `kubectl offboard status`) against the fake API
//! server; and once in a terminal (tmux), where the screen must show the plan and nothing else
//! (tmux from `.tools/bin` or `PATH`; `GENESYS_TMUX_TESTS=skip` skips that test on purpose).
//!
//! Outputs are compared, exactly, with the snapshot files in `tests/cli/snapshots/`. The plan's
//! times of the run (the history window) are replaced by `<time>` first; the status snapshots
//! come from a fixed status (`tests/cli/in-cluster.yaml`) and are compared as printed. After a
//! deliberate change of the output, regenerate them and review the diff:
//!
//!     UPDATE_SNAPSHOTS=1 cargo test --test integration cli::
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Stdio;
use std::sync::LazyLock;
use std::time::Duration;

use crate::support::genesys::{demo_org, is_write};
use crate::support::kubectl::Kubectl;
use fake_apiserver::{FakeApiServer, FakeApiServerHandle};
use genesys_emulator::Sim;
use genesys_offboarding_operator::crd::GenesysUserOffboarding;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_genesys-offboarding");
/// How long one command may take before the test calls it hung (it plans in seconds).
const HUNG: Duration = Duration::from_secs(120);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What a command did.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn output(mut command: tokio::process::Command) -> Ran {
    command.stdin(Stdio::null()).kill_on_drop(true);
    let output = tokio::time::timeout(HUNG, command.output())
        .await
        .unwrap_or_else(|_| panic!("still running after {HUNG:?}"))
        .unwrap();
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// `genesys-offboarding <args>` from the repository root, in an environment without Genesys
/// credentials, log settings or a kubeconfig of the developer's.
fn binary(args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(BINARY);
    command
        .args(args)
        .current_dir(repo())
        .env_remove("GENESYS_CLIENT_ID")
        .env_remove("GENESYS_CLIENT_SECRET")
        .env_remove("GENESYS_REGION")
        .env_remove("ALLOWED_ENDPOINTS")
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "0")
        .env("KUBECONFIG", "/nonexistent/kubeconfig");
    command
}

/// A folder holding the binary as the plugin `kubectl-offboard` (a symlink, as the docs
/// install it), to put first on kubectl's `PATH`.
fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(BINARY, dir.path().join("kubectl-offboard")).unwrap();
    dir
}

/// kubectl `args` with the plugin on its `PATH`.
fn kubectl_offboard(
    kubectl: &Kubectl,
    plugins: &tempfile::TempDir,
    args: &[&str],
) -> tokio::process::Command {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(plugins.path().to_path_buf()).chain(std::env::split_paths(&path)),
    )
    .unwrap();
    let mut command = kubectl.command(args);
    command
        .env("PATH", path)
        .env_remove("GENESYS_CLIENT_ID")
        .env_remove("GENESYS_CLIENT_SECRET")
        .env_remove("RUST_LOG");
    command
}

/// The times of the run: RFC 3339 timestamps of today (the history window, `takenAt`, ...).
static RUN_TIMES: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z").unwrap());

/// `actual` compared with `tests/cli/snapshots/<name>`, or written there with
/// `UPDATE_SNAPSHOTS=1`. `run_times` replaces the times of the run by `<time>` first, except
/// the ones given in the input file, which `keep` lists.
fn snapshot(name: &str, actual: &str, run_times: bool, keep: &[&str]) {
    let actual = if run_times {
        RUN_TIMES
            .replace_all(actual, |found: &regex::Captures<'_>| {
                let text = &found[0];
                if keep.contains(&text) {
                    text.to_owned()
                } else {
                    "<time>".to_owned()
                }
            })
            .into_owned()
    } else {
        actual.to_owned()
    };
    let path = repo().join("tests/cli/snapshots").join(name);
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        eprintln!("updated {}", path.display());
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with UPDATE_SNAPSHOTS=1 cargo test --test integration cli::",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output, first at line {}:\n  snapshot: {:?}\n  output:   {:?}\n\
             the whole output:\n{actual}\n(if the change is meant, regenerate with \
             UPDATE_SNAPSHOTS=1 cargo test --test integration cli:: and review the diff)",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first),
        );
    }
}

/// The `effectiveAt` of `tests/cli/offboardings.yaml`, printed as given.
const EFFECTIVE_AT: &str = "2030-01-31T17:00:00Z";

// ---------------------------------------------------------------------------------------------
// plan, against the embedded emulator
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn plan_prints_the_user_the_steps_the_schedule_and_what_is_only_reported() {
    let ran = output(binary(&[
        "plan",
        "--sim",
        "-f",
        "tests/cli/offboardings.yaml",
    ]))
    .await;

    assert_eq!(ran.code, Some(0), "stderr:\n{}", ran.stderr);
    assert_eq!(ran.stderr, "", "nothing but the plan is printed");
    snapshot("plan.txt", &ran.stdout, true, &[EFFECTIVE_AT]);
}

#[tokio::test]
async fn plan_as_yaml_and_as_json_is_the_same_data_under_stable_field_names() {
    let yaml = output(binary(&[
        "plan",
        "--sim",
        "-f",
        "tests/cli/offboardings.yaml",
        "-o",
        "yaml",
    ]))
    .await;
    let json = output(binary(&[
        "plan",
        "--sim",
        "-f",
        "tests/cli/offboardings.yaml",
        "-o",
        "json",
    ]))
    .await;

    assert_eq!(yaml.code, Some(0), "stderr:\n{}", yaml.stderr);
    assert_eq!(json.code, Some(0), "stderr:\n{}", json.stderr);
    snapshot("plan.yaml", &yaml.stdout, true, &[EFFECTIVE_AT]);
    snapshot("plan.json", &json.stdout, true, &[EFFECTIVE_AT]);
    let from_yaml: Value = serde_yaml::from_str(&RUN_TIMES.replace_all(&yaml.stdout, "t")).unwrap();
    let from_json: Value = serde_json::from_str(&RUN_TIMES.replace_all(&json.stdout, "t")).unwrap();
    assert_eq!(from_yaml, from_json);
    let plans = from_json["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[0]["verdict"], "Ready");
    assert_eq!(plans[0]["user"]["email"], "jane.doe@example.com");
    assert_eq!(plans[1]["groupMemberships"][0]["groupType"], "GROUP");
}

#[tokio::test]
async fn plan_of_an_ambiguous_user_exits_3_and_prints_the_stalled_reason() {
    let ran = output(binary(&["plan", "--sim", "-f", "tests/cli/ambiguous.yaml"])).await;

    assert_eq!(ran.code, Some(3), "stderr:\n{}", ran.stderr);
    snapshot("plan-ambiguous.txt", &ran.stdout, true, &[]);
}

#[tokio::test]
async fn plan_of_an_invalid_spec_exits_3_names_invalid_spec_and_starts_no_emulator() {
    let ran = output(binary(&[
        "plan",
        "--sim",
        "-f",
        "examples/offboarding-invalid.yaml",
    ]))
    .await;

    assert_eq!(ran.code, Some(3), "stderr:\n{}", ran.stderr);
    assert_eq!(ran.stdout, "");
    assert_eq!(
        ran.stderr,
        "examples/offboarding-invalid.yaml is refused, nothing was sent to Genesys:\n  \
         document 1 (nobody): invalid spec: set user.email, user.id, or both\n\
         Stalled: InvalidSpec: the operator would stall such a resource and change nothing\n"
    );
}

#[tokio::test]
async fn plan_without_credentials_exits_1_and_says_where_they_come_from() {
    let ran = output(binary(&["plan", "-f", "tests/cli/ambiguous.yaml"])).await;

    assert_eq!(ran.code, Some(1));
    assert_eq!(ran.stdout, "");
    assert!(
        ran.stderr
            .contains("GENESYS_CLIENT_ID is not set (or use --sim)"),
        "{}",
        ran.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// plan --from-cluster: the credentials of the Secret the resource names
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn plan_from_the_cluster_reads_the_named_secret_and_writes_nothing_to_genesys() {
    let sim = Sim::start(demo_org()).await.unwrap();
    let api = api_server().await;
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "genesys-credentials", "namespace": "default"},
        "type": "Opaque",
        "stringData": {"clientId": "demo-client", "clientSecret": "demo-secret"},
    }))
    .unwrap();
    Api::<Secret>::namespaced(api.kube_client(), "default")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let base = sim.base_url().to_string();
    let dir = tempfile::tempdir().unwrap();
    // Jane names the Secret; Li Wei names one that does not exist; neither names a namespace
    // (the kubeconfig context's, `default`, is used).
    let file = dir.path().join("two.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: offboarding.genesys-operator.io/v1alpha1\nkind: GenesysUserOffboarding\n\
             metadata: {{name: jane-doe}}\nspec:\n  user: {{email: jane.doe@example.com}}\n  \
             credentialsSecretRef: {{name: genesys-credentials}}\n  apiBaseUrl: {base}\n  \
             loginBaseUrl: {base}\n---\n\
             apiVersion: offboarding.genesys-operator.io/v1alpha1\nkind: GenesysUserOffboarding\n\
             metadata: {{name: li-wei}}\nspec:\n  user: {{email: li.wei@example.com}}\n  \
             credentialsSecretRef: {{name: not-there}}\n  apiBaseUrl: {base}\n  \
             loginBaseUrl: {base}\n"
        ),
    )
    .unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(&kubeconfig, api.kubeconfig_yaml()).unwrap();

    let mut command = binary(&[
        "plan",
        "--from-cluster",
        "-f",
        file.to_str().unwrap(),
        "--allowed-endpoint",
        "127.0.0.1",
        "-o",
        "json",
    ]);
    command.env("KUBECONFIG", &kubeconfig);
    let ran = output(command).await;

    assert_eq!(ran.code, Some(3), "Li Wei stalls; stderr:\n{}", ran.stderr);
    let plans: Value = serde_json::from_str(&ran.stdout).unwrap();
    let (jane, li) = (&plans["plans"][0], &plans["plans"][1]);
    assert_eq!(jane["namespace"], "default");
    assert_eq!(jane["verdict"], "Ready", "{jane:#}");
    assert_eq!(jane["user"]["id"], crate::support::genesys::JANE);
    assert_eq!(jane["steps"].as_array().unwrap().len(), 9, "{jane:#}");
    assert_eq!(li["verdict"], "Stalled");
    assert_eq!(li["reason"], "CredentialsMissing");
    assert!(
        li["message"]
            .as_str()
            .unwrap()
            .contains("Secret default/not-there not found"),
        "{li:#}"
    );
    let writes: Vec<String> = sim
        .requests()
        .iter()
        .filter(|r| is_write(r))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        writes,
        Vec::<String>::new(),
        "a plan never writes to Genesys"
    );
    assert!(
        !ran.stdout.contains("demo-secret") && !ran.stderr.contains("demo-secret"),
        "the Secret's value is never printed"
    );
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The kubectl plugin, found on PATH by the real kubectl
// ---------------------------------------------------------------------------------------------

/// The fake API server with the committed CRD.
async fn api_server() -> FakeApiServerHandle {
    let api = FakeApiServer::start().await.unwrap();
    let crd = std::fs::read_to_string(repo().join("crds/genesysuseroffboardings.yaml")).unwrap();
    api.load_yaml(&crd).unwrap();
    api
}

/// Creates the resources of `tests/cli/in-cluster.yaml`, then writes their status, as the
/// operator would.
async fn load_in_cluster(api: &FakeApiServerHandle) {
    let text = std::fs::read_to_string(repo().join("tests/cli/in-cluster.yaml")).unwrap();
    let resources: Api<GenesysUserOffboarding> = Api::namespaced(api.kube_client(), "default");
    for document in serde_yaml::Deserializer::from_str(&text) {
        let mut resource: GenesysUserOffboarding =
            serde::Deserialize::deserialize(document).unwrap();
        let status = resource.status.take().unwrap();
        let name = resource.metadata.name.clone().unwrap();
        resources
            .create(&PostParams::default(), &resource)
            .await
            .unwrap();
        resources
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn kubectl_offboard_status_prints_the_conditions_and_the_action_timeline() {
    let api = api_server().await;
    load_in_cluster(&api).await;
    let Some(kubectl) = Kubectl::for_server(&api) else {
        return;
    };
    let plugins = plugin_dir();

    let listed = output(kubectl_offboard(&kubectl, &plugins, &["plugin", "list"])).await;
    let offboarded = output(kubectl_offboard(
        &kubectl,
        &plugins,
        &["offboard", "status", "priya-patel"],
    ))
    .await;
    let stalled = output(kubectl_offboard(
        &kubectl,
        &plugins,
        &["offboard", "status", "alex-morgan", "-n", "default"],
    ))
    .await;
    let missing = output(kubectl_offboard(
        &kubectl,
        &plugins,
        &["offboard", "status", "nobody"],
    ))
    .await;

    assert!(
        listed.stdout.contains("kubectl-offboard"),
        "kubectl finds the plugin:\n{}{}",
        listed.stdout,
        listed.stderr
    );
    assert_eq!(offboarded.code, Some(0), "stderr:\n{}", offboarded.stderr);
    snapshot("status-offboarded.txt", &offboarded.stdout, false, &[]);
    assert_eq!(stalled.code, Some(0), "stderr:\n{}", stalled.stderr);
    snapshot("status-stalled.txt", &stalled.stdout, false, &[]);
    assert_eq!(missing.code, Some(1));
    assert_eq!(
        missing.stderr,
        "error: genesysuseroffboarding default/nobody not found\n"
    );
}

#[tokio::test]
async fn kubectl_offboard_plan_prints_what_genesys_offboarding_plan_prints() {
    let api = api_server().await;
    let Some(kubectl) = Kubectl::for_server(&api) else {
        return;
    };
    let plugins = plugin_dir();

    let ran = output(kubectl_offboard(
        &kubectl,
        &plugins,
        &[
            "offboard",
            "plan",
            "--sim",
            "-f",
            "tests/cli/offboardings.yaml",
        ],
    ))
    .await;

    assert_eq!(ran.code, Some(0), "stderr:\n{}", ran.stderr);
    snapshot("plan.txt", &ran.stdout, true, &[EFFECTIVE_AT]);
}

// ---------------------------------------------------------------------------------------------
// In a terminal
// ---------------------------------------------------------------------------------------------

/// tmux: `.tools/bin/tmux`, else `tmux` on `PATH`; `None` when `GENESYS_TMUX_TESTS=skip`.
/// Panics when there is none, since a terminal test that passes without a terminal proves
/// nothing.
fn tmux() -> Option<std::path::PathBuf> {
    if std::env::var("GENESYS_TMUX_TESTS").is_ok_and(|v| v == "skip") {
        eprintln!("skipped: GENESYS_TMUX_TESTS=skip");
        return None;
    }
    let local = repo().join(".tools/bin/tmux");
    if local.is_file() {
        return Some(local);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("tmux"))
            .find(|p| p.is_file())
    });
    Some(found.unwrap_or_else(|| {
        panic!(
            "no tmux in .tools/bin or on PATH: install tmux (or set GENESYS_TMUX_TESTS=skip to \
             skip the terminal test)"
        )
    }))
}

/// A tmux server of the test's own (its own socket, no configuration read), killed when
/// dropped.
struct Terminal {
    tmux: std::path::PathBuf,
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Terminal {
    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(&self.tmux);
        command
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"]);
        command.args(args);
        command
    }

    fn screen(&self) -> String {
        let output = self.command(&["capture-pane", "-p"]).output().unwrap();
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.command(&["kill-server"]).output();
    }
}

#[tokio::test]
async fn in_a_terminal_plan_shows_the_plan_and_nothing_else() {
    let Some(tmux) = tmux() else { return };
    let dir = tempfile::tempdir().unwrap();
    let terminal = Terminal {
        tmux,
        socket: dir.path().join("tmux.sock"),
        _dir: dir,
    };
    // What a person types, in a terminal 200 columns wide (no line of the plan wraps), without
    // the developer's log settings or credentials.
    let typed = format!(
        "env -u RUST_LOG -u GENESYS_CLIENT_ID -u GENESYS_CLIENT_SECRET -u GENESYS_REGION \
         '{BINARY}' plan --sim -f tests/cli/offboardings.yaml; echo EXIT=$?; sleep 600"
    );
    let started = terminal
        .command(&["new-session", "-d", "-x", "200", "-y", "100", "-c"])
        .arg(repo())
        .arg(&typed)
        .env_remove("TMUX")
        .status()
        .unwrap();
    assert!(started.success(), "tmux new-session failed");

    let deadline = tokio::time::Instant::now() + HUNG;
    let screen = loop {
        let screen = terminal.screen();
        if screen.lines().any(|line| line.starts_with("EXIT=")) {
            break screen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the plan did not finish in the terminal:\n{screen}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let exit = lines.iter().position(|l| l.starts_with("EXIT=")).unwrap();
    assert_eq!(lines[exit], "EXIT=0", "{screen}");
    // The screen holds the plan as printed to a pipe: no log line, no colour code, no wrap.
    let mut shown = lines[..exit].join("\n");
    shown.push('\n');
    snapshot("plan.txt", &shown, true, &[EFFECTIVE_AT]);
}
