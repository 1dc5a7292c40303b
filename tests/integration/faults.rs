//! The fault matrix: every Genesys operation the pipeline makes
//! on the happy path of the demo agent jane.doe × every fault the emulator can inject.
//!
//! The operations are not listed by hand: a clean run's request log gives them, by method and
//! path template (id segments become `*`, the emulator's fault pattern). Each case injects one
//! fault on the first request of one operation, then reconciles the way the controller would:
//! pass after pass, carrying the persisted status, until `Done` or [`MAX_PASSES`]. Each case
//! runs twice: with the client's own retries (the production setting), and with none, so that
//! every fault surfaces as a failed pass and the reconciler's rerun has to cope.
//!
//! Faults (see `crates/genesys-emulator/src/faults.rs`): 429 with `Retry-After: 1`; 500 *after* the write
//! committed; 503 before it; a timeout (the answer comes 2.5 s later, after the client's 1 s
//! timeout, the write committed); a connection reset before the request is served, and one
//! after; a 401 `bad.credentials` as from an expired token; a 409 `general.conflict` on the
//! state PATCH.
//!
//! Each case must: converge to `Ready`; make the same successful writes as the clean run, a
//! write repeated only when the fault lost the answer of that very write (an idempotent
//! repeat); leave the user as the clean run does; keep the first snapshot (and take the same
//! one as the clean run); never delete a user; send every state PATCH as exactly
//! `{state, version}`; persist the snapshot before the first write.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::genesys::{
    JANE, client_config, demo_org, is_write, offboarding, operation_of, path_template, stable_user,
    succeeded,
};
use crate::support::invariants::invariants;
use genesys_cloud::{CallObserver, GenesysClient, RetryClass};
use genesys_emulator::fixture::{Fixture, VersionConflictStyle};
use genesys_emulator::{Fault, RecordedRequest, Sim, SimHandle};
use genesys_offboarding_operator::crd::{GenesysUserOffboarding, condition, reason};
use genesys_offboarding_operator::reconcile::{
    FixedClient, MemoryOwners, MemoryStore, Outcome, reconcile,
};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The most passes a case may take to converge.
const MAX_PASSES: usize = 8;
/// Cases running at once (each on its own emulator).
const PARALLEL: usize = 16;
/// The client's per-request timeout in the matrix, and the delay of the timeout fault.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
const TIMEOUT_FAULT_DELAY_MS: u64 = 2_500;

/// The spec of the matrix: every step of the pipeline runs (reason recorded, skills and
/// languages removed, and a year of history: longer than the client splits into synchronous
/// slices, so the analytics jobs API is in the matrix too).
const SPEC: &str = "user: {email: jane.doe@example.com}\nreason: Voluntary\n\
                    routing: {removeSkills: true, removeLanguages: true}\n\
                    history: {lookbackDays: 365}\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    RateLimited,
    ServerErrorAfterWrite,
    Unavailable,
    Timeout,
    Reset,
    ResetAfterWrite,
    ExpiredToken,
    VersionConflict,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::RateLimited,
        Kind::ServerErrorAfterWrite,
        Kind::Unavailable,
        Kind::Timeout,
        Kind::Reset,
        Kind::ResetAfterWrite,
        Kind::ExpiredToken,
        Kind::VersionConflict,
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::RateLimited => "429+RA",
            Kind::ServerErrorAfterWrite => "500*",
            Kind::Unavailable => "503",
            Kind::Timeout => "timeout*",
            Kind::Reset => "reset",
            Kind::ResetAfterWrite => "reset*",
            Kind::ExpiredToken => "401",
            Kind::VersionConflict => "409",
        }
    }

    /// The fault for the first request of `operation` (`METHOD /template`), or `None` where
    /// the fault does not apply: a 401 from the token endpoint means wrong credentials (see
    /// `bad_input.rs`), and a version conflict exists only for the versioned state PATCH.
    fn fault(self, operation: &str) -> Option<Fault> {
        let (method, path) = operation.split_once(' ').unwrap();
        let fault = Fault::new(method, path);
        let token = path == "/oauth/token";
        Some(match self {
            Kind::RateLimited => fault.status(429).retry_after(1),
            Kind::ServerErrorAfterWrite => fault.status(500).after_serve(),
            Kind::Unavailable => fault.status(503),
            Kind::Timeout => fault.delay_ms(TIMEOUT_FAULT_DELAY_MS).after_serve(),
            Kind::Reset => fault.reset(),
            Kind::ResetAfterWrite => fault.reset().after_serve(),
            Kind::ExpiredToken if token => return None,
            Kind::ExpiredToken => fault.status(401),
            Kind::VersionConflict if operation == "PATCH /api/v2/users/*" => fault.status(409),
            Kind::VersionConflict => return None,
        })
    }

    /// Whether the request was served but its answer lost: its write may then be repeated once.
    fn loses_a_committed_answer(self) -> bool {
        matches!(
            self,
            Kind::ServerErrorAfterWrite | Kind::Timeout | Kind::ResetAfterWrite
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The production client: 4 retries of transient failures and of 429s.
    ClientRetries,
    /// No client retries: the fault fails the pass, the next pass must recover.
    PassRetries,
}

/// What a clean run does.
struct Reference {
    fixture: Fixture,
    operations: Vec<String>,
    writes: BTreeMap<String, usize>,
    user: Value,
    snapshot: Value,
}

/// One case's verdict.
struct Verdict {
    operation: String,
    kind: Kind,
    mode: Mode,
    passes: usize,
    problems: Vec<String>,
}

fn client(sim: &SimHandle, mode: Mode) -> GenesysClient {
    let config = client_config(sim, "demo-client", "demo-secret")
        .with_request_timeout(CLIENT_TIMEOUT)
        .with_retry_delays(Duration::from_millis(20), Duration::from_millis(100));
    let config = match mode {
        Mode::ClientRetries => config,
        Mode::PassRetries => config.with_max_retries(0),
    };
    GenesysClient::new(config).unwrap()
}

/// `METHOD path?query body` of every successful write, counted.
fn successful_writes(requests: &[RecordedRequest]) -> BTreeMap<String, usize> {
    let mut writes = BTreeMap::new();
    for r in requests.iter().filter(|r| is_write(r) && succeeded(r)) {
        let body = r.body.as_ref().map(Value::to_string).unwrap_or_default();
        let key = format!("{} {}?{} {body}", r.method, r.path, r.query);
        *writes.entry(key).or_insert(0) += 1;
    }
    writes
}

fn without_taken_at(snapshot: Option<&impl serde::Serialize>) -> Value {
    let mut value = serde_json::to_value(snapshot).unwrap();
    if let Some(object) = value.as_object_mut() {
        object.remove("takenAt");
    }
    value
}

/// Reconciles until `Done` (or a decision that is not one), as the controller would.
async fn converge(
    resource: &mut GenesysUserOffboarding,
    clients: &FixedClient,
    store: &MemoryStore,
) -> (usize, Result<(), String>) {
    for pass in 1..=MAX_PASSES {
        match reconcile(resource, clients, &MemoryOwners::new(), store)
            .await
            .into_result()
        {
            Ok(reconciled) => {
                resource.status = Some(reconciled.status);
                return match reconciled.outcome {
                    Outcome::Done { .. } => (pass, Ok(())),
                    other => (pass, Err(format!("pass {pass} decided {other:?}"))),
                };
            }
            Err(e) => {
                resource.status = store.latest();
                let wait = match e.retry_class() {
                    RetryClass::After(after) => after.min(Duration::from_secs(2)),
                    RetryClass::Backoff => Duration::from_millis(20),
                    RetryClass::Never => {
                        return (pass, Err(format!("pass {pass} failed for good: {e}")));
                    }
                };
                tokio::time::sleep(wait).await;
            }
        }
    }
    (
        MAX_PASSES,
        Err(format!("not Done after {MAX_PASSES} passes")),
    )
}

async fn clean_run(fixture: Fixture) -> Reference {
    let sim = Sim::start(fixture.clone()).await.unwrap();
    let clients = FixedClient(client(&sim, Mode::ClientRetries));
    let store = MemoryStore::new();
    let mut jane = offboarding(SPEC);
    let (passes, done) = converge(&mut jane, &clients, &store).await;
    assert_eq!(
        (passes, done),
        (1, Ok(())),
        "the clean run converges at once"
    );
    let requests = sim.requests();
    invariants(&store, &requests).unwrap();
    let mut operations: Vec<String> = Vec::new();
    for r in &requests {
        let op = operation_of(r);
        if !operations.contains(&op) {
            operations.push(op);
        }
    }
    Reference {
        fixture,
        operations,
        writes: successful_writes(&requests),
        user: stable_user(sim.user(JANE).unwrap()),
        snapshot: without_taken_at(jane.status.as_ref().unwrap().snapshot.as_ref()),
    }
}

/// The faults the emulator still holds (a case whose fault never fired tested nothing).
async fn pending_faults(sim: &SimHandle) -> usize {
    let url = sim.base_url().join("__sim/faults").unwrap();
    let pending: Vec<Value> = reqwest::get(url).await.unwrap().json().await.unwrap();
    pending.len()
}

async fn run_case(operation: String, kind: Kind, mode: Mode, reference: Arc<Reference>) -> Verdict {
    let fault = kind.fault(&operation).unwrap();
    let sim = Sim::start(reference.fixture.clone()).await.unwrap();
    let clients = FixedClient(client(&sim, mode));
    let store = MemoryStore::new();
    let mut jane = offboarding(SPEC);
    sim.inject(fault);

    let (passes, converged) = converge(&mut jane, &clients, &store).await;

    let mut problems = Vec::new();
    if let Err(e) = converged {
        problems.push(e);
    }
    let ready = jane
        .status
        .as_ref()
        .and_then(|s| s.condition(condition::READY))
        .map(|c| (c.status.clone(), c.reason.clone()));
    if ready != Some(("True".into(), reason::OFFBOARDED.into())) {
        problems.push(format!("Ready is {ready:?}"));
    }
    if pending_faults(&sim).await != 0 {
        problems.push("the fault never fired".into());
    }
    let requests = sim.requests();
    let writes = successful_writes(&requests);
    let written: BTreeSet<&String> = writes.keys().collect();
    let expected: BTreeSet<&String> = reference.writes.keys().collect();
    if written != expected {
        problems.push(format!(
            "writes differ from the clean run: extra {:?}, missing {:?}",
            written.difference(&expected).collect::<Vec<_>>(),
            expected.difference(&written).collect::<Vec<_>>()
        ));
    }
    for (write, count) in &writes {
        let clean = reference.writes.get(write).copied().unwrap_or_default();
        let (method, rest) = write.split_once(' ').unwrap();
        let path = rest.split('?').next().unwrap();
        let lost_here = kind.loses_a_committed_answer()
            && format!("{method} {}", path_template(path)) == operation;
        let allowed = clean + usize::from(lost_here);
        if *count > allowed {
            problems.push(format!(
                "{write} succeeded {count} times (clean run: {clean})"
            ));
        }
    }
    // A write repeated after its answer was lost may bump the user's version once more (the
    // reason PUT does); everything else must end as in the clean run.
    let comparable = |mut user: Value| {
        if kind.loses_a_committed_answer()
            && let Some(object) = user.as_object_mut()
        {
            object.remove("version");
        }
        user
    };
    let user = comparable(stable_user(sim.user(JANE).unwrap()));
    let expected_user = comparable(reference.user.clone());
    if user != expected_user {
        problems.push(format!(
            "the user ends as {user} instead of {expected_user}"
        ));
    }
    let history = store.history();
    let first_snapshot = history.iter().find_map(|s| s.status.snapshot.clone());
    let last_snapshot = jane.status.as_ref().and_then(|s| s.snapshot.clone());
    if first_snapshot != last_snapshot {
        problems.push("the first snapshot was replaced".into());
    }
    if without_taken_at(first_snapshot.as_ref()) != reference.snapshot {
        problems.push("the snapshot differs from the clean run's".into());
    }
    if let Err(e) = invariants(&store, &requests) {
        problems.push(e);
    }
    // Dropped, not shut down: a graceful shutdown would wait for the timeout fault's answer.
    drop(sim);
    Verdict {
        operation,
        kind,
        mode,
        passes,
        problems,
    }
}

fn table(reference: &Reference, verdicts: &[Verdict]) -> String {
    let width = reference
        .operations
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(10);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nFault matrix: passes to Ready with client retries / without ({} cases; * = the fault \
         hits after the request was served; n/a = does not apply; FAIL = see below)",
        verdicts.len()
    );
    let _ = write!(out, "{:width$}", "operation");
    for kind in Kind::ALL {
        let _ = write!(out, " | {:>8}", kind.label());
    }
    out.push('\n');
    for operation in &reference.operations {
        let _ = write!(out, "{operation:width$}");
        for kind in Kind::ALL {
            let cell = |mode: Mode| {
                verdicts
                    .iter()
                    .find(|v| &v.operation == operation && v.kind == kind && v.mode == mode)
                    .map_or_else(
                        || "n/a".to_owned(),
                        |v| {
                            if v.problems.is_empty() {
                                v.passes.to_string()
                            } else {
                                "FAIL".to_owned()
                            }
                        },
                    )
            };
            let (retried, unretried) = (cell(Mode::ClientRetries), cell(Mode::PassRetries));
            let shown = if retried == "n/a" {
                retried
            } else {
                format!("{retried}/{unretried}")
            };
            let _ = write!(out, " | {shown:>8}");
        }
        out.push('\n');
    }
    out
}

/// Runs every case `select` keeps, at most [`PARALLEL`] at once, and prints the table.
async fn matrix(
    fixture: Fixture,
    select: impl Fn(&str, Kind) -> bool,
) -> (Arc<Reference>, Vec<Verdict>) {
    let started = Instant::now();
    let reference = Arc::new(Box::pin(clean_run(fixture)).await);
    let permits = Arc::new(Semaphore::new(PARALLEL));
    let mut cases = JoinSet::new();
    for operation in &reference.operations {
        for kind in Kind::ALL {
            if kind.fault(operation).is_none() || !select(operation, kind) {
                continue;
            }
            for mode in [Mode::ClientRetries, Mode::PassRetries] {
                let permits = Arc::clone(&permits);
                let reference = Arc::clone(&reference);
                let operation = operation.clone();
                cases.spawn(async move {
                    let _permit = permits.acquire_owned().await.unwrap();
                    Box::pin(run_case(operation, kind, mode, reference)).await
                });
            }
        }
    }
    let mut verdicts = Vec::new();
    while let Some(verdict) = cases.join_next().await {
        verdicts.push(verdict.unwrap());
    }
    println!("{}", table(&reference, &verdicts));
    println!(
        "{} cases in {:.1} s",
        verdicts.len(),
        started.elapsed().as_secs_f64()
    );
    (reference, verdicts)
}

fn assert_no_failures(verdicts: &[Verdict]) {
    let failures: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.problems.is_empty())
        .map(|v| {
            format!(
                "{} × {} ({:?}): {}",
                v.operation,
                v.kind.label(),
                v.mode,
                v.problems.join("; ")
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        verdicts.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_on_every_operation_still_converges_without_repeating_a_side_effect() {
    let (reference, verdicts) = Box::pin(matrix(demo_org(), |_, _| true)).await;

    assert!(
        reference.operations.len() >= 15,
        "the happy path should exercise the whole pipeline: {:?}",
        reference.operations
    );
    assert!(
        reference
            .operations
            .iter()
            .any(|op| op == "PATCH /api/v2/users/*"),
        "{:?}",
        reference.operations
    );
    assert!(verdicts.len() >= 200, "{} cases", verdicts.len());
    assert_no_failures(&verdicts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_answers_to_versioned_writes_converge_when_genesys_checks_versions_strictly() {
    // The two behaviours docs/genesys-api.md §12 leaves open, at their strictest: the reason PUT
    // requires and checks `version`, and a stale version is a 400 "does not match the current
    // version" instead of a 409.
    let mut fixture = demo_org();
    fixture.behavior.state_put_requires_version = true;
    fixture.behavior.version_conflict = VersionConflictStyle::BadRequest400;
    let versioned = ["PATCH /api/v2/users/*", "PUT /api/v2/users/*/state"];

    let (_, verdicts) = Box::pin(matrix(fixture, |operation, kind| {
        versioned.contains(&operation)
            && (kind.loses_a_committed_answer() || kind == Kind::VersionConflict)
    }))
    .await;

    assert_eq!(
        verdicts.len(),
        2 * (2 * 3 + 1),
        "two operations, three lost answers, one 409"
    );
    assert_no_failures(&verdicts);
}

#[tokio::test]
async fn a_reset_fault_makes_the_client_see_a_transport_error_and_no_status() {
    /// The statuses the client saw, `None` where no status line arrived.
    #[derive(Default)]
    struct Statuses(std::sync::Mutex<Vec<Option<u16>>>);
    impl CallObserver for Statuses {
        fn on_call(&self, operation: &str, status: Option<u16>, _elapsed: Duration) {
            if operation == "get_organizations_me" {
                self.0.lock().unwrap().push(status);
            }
        }
    }
    let sim = Sim::start(demo_org()).await.unwrap();
    let seen = Arc::new(Statuses::default());
    let config = client_config(&sim, "demo-client", "demo-secret")
        .with_max_retries(0)
        .with_observer(seen.clone());
    let client = GenesysClient::new(config).unwrap();
    sim.inject(Fault::new("GET", "/api/v2/organizations/me").reset());

    let error = client.organization().await.unwrap_err();

    assert_eq!(error.reason(), "TransientError", "{error}");
    assert_eq!(error.status(), None);
    assert_eq!(
        *seen.0.lock().unwrap(),
        [None],
        "no status line reached the client"
    );
    let logged: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v2/organizations/me")
        .map(|r| r.status)
        .collect();
    assert_eq!(logged, [0], "a reset before serving is logged as status 0");
    client.organization().await.unwrap();
}

#[tokio::test]
async fn an_after_serve_fault_commits_the_write_and_loses_its_answer() {
    let sim = Sim::start(demo_org()).await.unwrap();
    let client =
        GenesysClient::new(client_config(&sim, "demo-client", "demo-secret").with_max_retries(0))
            .unwrap();
    sim.inject(
        Fault::new("DELETE", "/api/v2/tokens/*")
            .reset()
            .after_serve(),
    );
    let jane = genesys_cloud::UserId::new(JANE);

    let error = client.revoke_tokens(&jane).await.unwrap_err();

    assert_eq!(error.reason(), "TransientError", "{error}");
    assert_eq!(sim.user(JANE).unwrap()["hasSessions"], false, "committed");
    let logged: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/v2/tokens/"))
        .map(|r| r.status)
        .collect();
    assert_eq!(logged, [204], "the log holds what the emulator did");
}
