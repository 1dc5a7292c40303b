//! The Kubernetes side fails: the REAL controller
//! (`Operator::run`, in-process as in `controller.rs`) against the fake API server and the
//! Genesys emulator, while the API server refuses status writes with 409 `Conflict`, throttles
//! them with 429, fails reads of the resource and of its Secret with 500, cuts the watches and
//! refuses new ones, and restarts — including while a pass sits between two Genesys steps —
//! and while it refuses one replica's Lease renewals (leader election must not let two replicas
//! reconcile at once).
//!
//! Every case offboards the demo agents jane.doe (direct queues, associated and default
//! station, skills, languages) and priya.patel (a direct and a group queue, a default station)
//! with a state-change reason, and must end with both `Ready`/`Offboarded` and inactive in
//! Genesys, with the checks of `support::k8s` on the two request logs: the successful Genesys
//! writes are exactly those of a clean run (computed once, the first time a case needs it),
//! none repeated — except that revoking tokens may repeat when a fault (a conflict, a restart)
//! made the operator lose the status write that recorded it: the one step Genesys gives no way
//! to observe, and an idempotent one; no user
//! deleted, no GDPR call; every state `PATCH` carries `{state, version}` only; the snapshot stored
//! before the first write and never replaced.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::support::genesys::is_write;
use crate::support::k8s::{
    self, World, check_invariants, compare_writes, successful_writes, touches,
};
use fake_apiserver::{ApiFault, RecordedRequest as ApiRequest};
use genesys_emulator::Fault;
use genesys_emulator::fixture::Fixture;
use genesys_offboarding_operator::controller::{
    BackoffPolicy, LeaderElection, Operator, RunError, Settings,
};
use genesys_offboarding_operator::telemetry::Metrics;
use kube::Client;
use tokio::sync::{OnceCell, oneshot};
use tokio::task::JoinHandle;

const JANE: &str = "6a1b0c3e-0000-4000-8000-000000000001";
const PRIYA: &str = "6a1b0c3e-0000-4000-8000-000000000007";
const USERS: [(&str, &str); 2] = [("jane", JANE), ("priya", PRIYA)];
/// The reason PUT adds one more write step.
const SPEC: &str = "reason: Voluntary\n";
/// Where tokens are revoked: the one write the plan cannot observe as done, so a lost status
/// write may repeat it (idempotent: revoking twice leaves no session either way).
const REVOKE: &str = "DELETE /api/v2/tokens/";

// ---------------------------------------------------------------------------------------------
// Fixtures

fn fixture(latency_ms: u64) -> Fixture {
    let mut fixture = Fixture::demo();
    fixture.requests_per_minute = 0;
    fixture.latency_ms = latency_ms;
    fixture
}

/// Test settings: no Genesys throttling, short backoffs.
fn settings() -> Settings {
    Settings {
        genesys_rate_limit: 1_000_000,
        backoff: BackoffPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        },
        drain_timeout: Duration::from_secs(5),
        allowed_endpoints: k8s::allowed_endpoints(),
        ..Settings::default()
    }
}

/// The operator in this process.
struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), RunError>>,
    metrics: Arc<Metrics>,
}

impl Running {
    fn start(client: Client) -> Self {
        Self::start_with(client, settings())
    }

    fn start_with(client: Client, settings: Settings) -> Self {
        // `RUST_LOG=debug cargo test --test integration k8s_faults:: -- --nocapture` shows the
        // operator's logs.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let operator = Operator::new(client, settings);
        let metrics = operator.metrics();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(operator.run(async move {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            task,
            metrics,
        }
    }

    fn is_leader(&self) -> bool {
        self.metrics
            .encode()
            .unwrap()
            .lines()
            .any(|line| line == "genesys_offboarding_leader 1")
    }

    /// The per-resource info series exported now.
    fn info_series(&self) -> Vec<String> {
        self.metrics
            .encode()
            .unwrap()
            .lines()
            .filter(|line| line.starts_with("genesys_offboarding_resource_info{"))
            .map(str::to_owned)
            .collect()
    }

    /// Passes finished so far, whatever their outcome.
    fn passes(&self) -> u64 {
        self.metrics
            .encode()
            .unwrap()
            .lines()
            .filter(|line| line.starts_with("genesys_offboarding_reconciles_total{"))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("the operator did not stop")
            .unwrap()
            .unwrap();
    }
}

async fn offboard_both(world: &World) {
    world.offboard("jane", "jane.doe@example.com", SPEC).await;
    world
        .offboard("priya", "priya.patel@example.com", SPEC)
        .await;
}

/// The successful Genesys writes of a fault-free run of the same two offboardings.
async fn clean_writes() -> &'static BTreeMap<String, usize> {
    static CLEAN: OnceCell<BTreeMap<String, usize>> = OnceCell::const_new();
    CLEAN
        .get_or_init(|| async {
            let world = World::new(fixture(0)).await;
            let operator = Running::start(world.client.clone());
            offboard_both(&world).await;
            world.wait_until_ready(&["jane", "priya"]).await;
            operator.stop().await;
            let writes = successful_writes(&world.sim.requests());
            assert!(
                writes.values().all(|count| *count == 1),
                "a clean run writes everything once: {writes:#?}"
            );
            writes
        })
        .await
}

/// Everything every case ends with.
async fn assert_converged_safely(world: &World, repeatable: &[&str], max_repeats: usize) {
    world.wait_until_ready(&["jane", "priya"]).await;
    for (name, user) in USERS {
        assert_eq!(world.user_state(user), "inactive", "{name}");
    }
    check_invariants(world, &USERS).await.unwrap();
    let writes = successful_writes(&world.sim.requests());
    if let Err(problems) = compare_writes(clean_writes().await, &writes, repeatable, max_repeats) {
        panic!("the Genesys writes differ from a clean run:\n{problems}");
    }
}

fn status_apply(name: &str) -> ApiFault {
    ApiFault::new("patch", "genesysuseroffboardings")
        .subresource("status")
        .name(name)
}

/// How many requests an injected fault answered with `status`.
fn injected(world: &World, status: u16) -> usize {
    world
        .api
        .count_requests(|r| r.injected.is_some() && r.status == status)
}

// ---------------------------------------------------------------------------------------------
// Status writes refused

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_writes_refused_throttled_or_answered_500_after_commit_are_retried_until_ready_without_repeating_a_genesys_write()
 {
    let world = World::new(fixture(0)).await;
    // The first three status applies of jane conflict. Two of priya's are throttled (kube's
    // client waits out Retry-After and retries by itself), then the next two are stored but
    // answered 500: the one carrying the snapshot, and the one the failed pass writes last.
    world.api.inject(status_apply("jane").status(409).times(3));
    world
        .api
        .inject(status_apply("priya").status(429).retry_after(1).times(2));
    world
        .api
        .inject(status_apply("priya").status(500).after_commit().times(2));
    let operator = Running::start(world.client.clone());

    offboard_both(&world).await;

    assert_converged_safely(&world, &[], 0).await;
    assert!(world.api.pending_faults().is_empty(), "every fault fired");
    assert_eq!(injected(&world, 409), 3);
    assert_eq!(injected(&world, 429), 2);
    assert_eq!(injected(&world, 500), 2);
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_status_write_after_a_genesys_step_is_not_a_reason_to_repeat_that_step() {
    let world = World::new(fixture(0)).await;
    // The answers to jane's deactivation and token revocation come late: the test sees the
    // write land, then makes the status writes recording it conflict (the one of the step and
    // the one of the failed pass), so the progress is lost and the next pass starts from what
    // Genesys shows.
    let deactivate = format!("/api/v2/users/{JANE}");
    let revoke = format!("/api/v2/tokens/{JANE}");
    world
        .sim
        .inject(Fault::new("PATCH", &deactivate).delay_ms(600).after_serve());
    world
        .sim
        .inject(Fault::new("DELETE", &revoke).delay_ms(600).after_serve());
    let operator = Running::start(world.client.clone());
    offboard_both(&world).await;

    for (method, path) in [("PATCH", &deactivate), ("DELETE", &revoke)] {
        world
            .wait_for_genesys(&format!("{method} {path}"), |r| {
                r.method == method && &r.path == path
            })
            .await;
        world.api.inject(status_apply("jane").status(409).times(2));
    }

    assert_converged_safely(&world, &[REVOKE], 1).await;
    assert!(world.api.pending_faults().is_empty(), "every fault fired");
    assert_eq!(injected(&world, 409), 4);
    let writes = successful_writes(&world.sim.requests());
    let count = |prefix: &str| {
        writes
            .iter()
            .filter(|(write, _)| write.starts_with(prefix))
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    assert_eq!(
        count(&format!("PATCH {deactivate}?")),
        1,
        "Genesys shows the user inactive: the deactivation is not repeated"
    );
    assert_eq!(
        count(&format!("DELETE {revoke}?")),
        2,
        "nothing in Genesys shows tokens revoked: the lost revocation is repeated, harmlessly"
    );
    operator.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Reads failing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_on_reads_of_the_resource_its_secret_and_the_initial_lists_are_retried_until_ready()
 {
    let world = World::new(fixture(0)).await;
    world.api.inject(
        ApiFault::new("get", "genesysuseroffboardings")
            .main_resource()
            .status(500)
            .times(3),
    );
    world
        .api
        .inject(ApiFault::new("get", "secrets").status(500).times(3));
    world
        .api
        .inject(ApiFault::new("list", "*").status(500).times(2));
    offboard_both(&world).await;

    let operator = Running::start(world.client.clone());

    assert_converged_safely(&world, &[], 0).await;
    assert!(world.api.pending_faults().is_empty(), "every fault fired");
    assert_eq!(injected(&world, 500), 8);
    operator.stop().await;
}

/// `(type, status, reason)` of every condition in every status write the API server stored for
/// `name`, in order.
fn stored_conditions(world: &World, name: &str) -> Vec<(String, String, String)> {
    let text =
        |c: &serde_json::Value, field: &str| c[field].as_str().unwrap_or_default().to_owned();
    world
        .api
        .requests()
        .iter()
        .filter(|r| {
            r.is_status_write()
                && r.is_on("genesysuseroffboardings")
                && r.name.as_deref() == Some(name)
                && (200..300).contains(&r.status)
        })
        .filter_map(|r| {
            r.body
                .as_ref()?
                .pointer("/status/conditions")?
                .as_array()
                .cloned()
        })
        .flatten()
        .map(|c| (text(&c, "type"), text(&c, "status"), text(&c, "reason")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_reading_the_secret_during_a_pass_are_retried_as_transient_never_as_missing_credentials()
 {
    let world = World::new(fixture(0)).await;
    // The Secret exists, but the API server fails the first five reads of it. kube's client
    // retries the 503s by itself; the 500s reach the operator's passes.
    let secret_read = || ApiFault::new("get", "secrets").name(crate::support::k8s::SECRET);
    world.api.inject(secret_read().status(500).times(3));
    world.api.inject(secret_read().status(503).times(2));
    let operator = Running::start(world.client.clone());

    world.offboard("jane", "jane.doe@example.com", SPEC).await;

    world.wait_until_ready(&["jane"]).await;
    assert!(world.api.pending_faults().is_empty(), "every fault fired");
    assert_eq!((injected(&world, 500), injected(&world, 503)), (3, 2));
    let conditions = stored_conditions(&world, "jane");
    let seen = |type_: &str, status: &str, reason: &str| {
        conditions
            .iter()
            .any(|c| (c.0.as_str(), c.1.as_str(), c.2.as_str()) == (type_, status, reason))
    };
    // Reported as work in progress with a transient reason while the reads failed...
    assert!(
        seen("Reconciling", "True", "SecretUnreadable"),
        "{conditions:?}"
    );
    assert!(seen("Ready", "False", "SecretUnreadable"), "{conditions:?}");
    // ...and never as a stall, nor as missing credentials.
    assert!(
        !conditions.iter().any(|c| c.0 == "Stalled" && c.1 == "True"),
        "{conditions:?}"
    );
    assert!(
        !conditions.iter().any(|c| c.2 == "CredentialsMissing"),
        "{conditions:?}"
    );
    let metrics = operator.metrics.encode().unwrap();
    assert!(
        metrics
            .contains(r#"genesys_offboarding_reconcile_failures_total{reason="SecretUnreadable"}"#),
        "{metrics}"
    );
    assert!(!metrics.contains("CredentialsMissing"), "{metrics}");
    assert_eq!(world.user_state(JANE), "inactive");
    check_invariants(&world, &[("jane", JANE)]).await.unwrap();
    operator.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Watches cut

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_cut_mid_offboarding_and_refused_for_a_while_still_converge_and_pick_up_new_resources()
 {
    // 40 ms per Genesys request: jane's offboarding takes about a second and a half.
    let world = World::new(fixture(40)).await;
    let operator = Running::start(world.client.clone());
    world.offboard("jane", "jane.doe@example.com", SPEC).await;
    world
        .wait_for_genesys("jane's first write", |r| is_write(r) && touches(r, JANE))
        .await;

    world.api.disconnect_watches(Duration::from_secs(3));
    // Created while no watch can be opened: only a resumed watch can bring it to the operator.
    world
        .offboard("priya", "priya.patel@example.com", SPEC)
        .await;

    assert_converged_safely(&world, &[], 0).await;
    let watches: Vec<ApiRequest> = world
        .api
        .requests()
        .into_iter()
        .filter(|r| r.verb == "watch")
        .collect();
    let first_refused = watches
        .iter()
        .position(|r| r.injected.is_some())
        .expect("new watches were refused for a while");
    assert!(
        watches[first_refused..]
            .iter()
            .any(|r| r.status == 200 && r.injected.is_none()),
        "the watches were opened again once the API server let them"
    );
    operator.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The API server restarts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_restart_between_two_steps_of_a_pass_converges_without_repeating_the_step() {
    let world = World::new(fixture(0)).await;
    // Jane's deactivation lands at once, but its answer takes 1.5 s: the API server goes down
    // in between, so the status write recording the step (and the rest of the pass) fails.
    let deactivate = format!("/api/v2/users/{JANE}");
    world.sim.inject(
        Fault::new("PATCH", &deactivate)
            .delay_ms(1500)
            .after_serve(),
    );
    let operator = Running::start(world.client.clone());
    offboard_both(&world).await;
    world
        .wait_for_genesys("jane's deactivation", |r| {
            r.method == "PATCH" && r.path == deactivate
        })
        .await;

    world.api.stop_serving().await;
    let status_writes_while_up = world.api.count_requests(ApiRequest::is_status_write);
    tokio::time::sleep(Duration::from_secs(3)).await;
    world.api.start_serving().await.unwrap();

    // Priya's pass is cut wherever it happens to be: a revocation it made just before may be
    // repeated; jane's deactivation, which Genesys shows, never is.
    assert_converged_safely(&world, &[REVOKE], 2).await;
    let deactivations = world
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == deactivate && r.status == 200)
        .count();
    assert_eq!(deactivations, 1, "jane's deactivation is not repeated");
    assert!(
        world.api.count_requests(ApiRequest::is_status_write) > status_writes_while_up,
        "the operator wrote status again after the restart"
    );
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_api_server_restarts_mid_offboarding_converge() {
    // 40 ms per Genesys request stretches the offboardings over the restarts.
    let world = World::new(fixture(40)).await;
    let operator = Running::start(world.client.clone());
    offboard_both(&world).await;

    for user in [JANE, PRIYA] {
        world
            .wait_for_genesys("a write", |r| is_write(r) && touches(r, user))
            .await;
        world.api.restart(Duration::from_millis(700)).await.unwrap();
    }

    assert_converged_safely(&world, &[REVOKE], 2).await;
    operator.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Leader election while the API server fails one replica

/// Waits until `check` holds.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + k8s::PATIENCE;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_its_lease_stops_reconciling_before_another_replica_takes_over()
{
    let world = World::new(fixture(0)).await;
    let replica = |name: &str| Settings {
        instance: name.to_owned(),
        leader_election: Some(LeaderElection {
            lease_duration: Duration::from_secs(3),
            renew_before: Duration::from_secs(1),
            ..LeaderElection::new("genesys-offboarding-operator", k8s::NS, name)
        }),
        ..settings()
    };
    // Each replica has its own client, which names itself in `User-Agent`.
    let client = |name: &str| {
        let mut config = world.api.kube_config();
        config.headers.push((
            axum::http::header::USER_AGENT,
            axum::http::HeaderValue::from_str(name).unwrap(),
        ));
        Client::try_from(config).unwrap()
    };
    let a = Running::start_with(client("replica-a"), replica("replica-a"));
    eventually("replica-a leads", || a.is_leader()).await;
    let b = Running::start_with(client("replica-b"), replica("replica-b"));
    world.offboard("jane", "jane.doe@example.com", SPEC).await;
    world.wait_until_ready(&["jane"]).await;
    eventually("replica-a exports jane's info series", || {
        a.info_series().iter().any(|s| s.contains(r#"name="jane""#))
    })
    .await;

    // From now on the API server fails replica-a's requests to the Lease (everything else it
    // serves): replica-a cannot renew, its lease runs out, and replica-b takes it over.
    world.api.inject(
        ApiFault::new("*", "leases")
            .user_agent("replica-a")
            .status(500)
            .during(Duration::from_secs(120)),
    );
    eventually("replica-b leads", || b.is_leader()).await;
    // No longer watching, replica-a would export what it cannot see change or be deleted.
    eventually("replica-a drops its info series", || {
        a.info_series().is_empty()
    })
    .await;
    let passes_of_a = a.passes();
    world
        .offboard("priya", "priya.patel@example.com", SPEC)
        .await;

    assert_converged_safely(&world, &[], 0).await;
    assert_eq!(
        a.passes(),
        passes_of_a,
        "replica-a ran no pass once replica-b held the lease"
    );
    assert!(
        world
            .api
            .count_requests(|r| r.resource == "leases" && r.injected.is_some())
            > 0,
        "replica-a's renewals were refused"
    );
    world.api.clear_faults();
    a.stop().await;
    b.stop().await;
}
