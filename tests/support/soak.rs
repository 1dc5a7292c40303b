//! The chaos soak, shared by `tests/soak.rs` (a small seeded run in the test suite) and
//! `examples/soak.rs` (500 offboardings): N offboardings through the REAL binary
//! (`genesys-offboarding run`), two replicas with leader election, against the emulator on its
//! realistic profile and the fake API server, both in this process, while
//!
//! - seeded random faults hit every kind of Genesys operation ([`GenesysFault`]: 5xx before and
//!   after the write commits, 429 with `Retry-After`, gateway and client timeouts, connection
//!   resets before and after the write, expired tokens, version conflicts on the user PATCH);
//! - seeded random faults hit the API server ([`ApiChaos`]: conflicts on status writes, 500s
//!   before and after commit, throttling with `Retry-After`, dropped watches, restarts, Lease
//!   errors);
//! - the leader is killed with SIGKILL at random moments and restarted under a new name.
//!
//! Then it checks: every resource `Ready`; no user deleted; every snapshot persisted before its
//! user's first write and never replaced; the successful Genesys writes equal a clean run's
//! (the same offboardings, in-process, no faults) except the idempotent repeats it lists; and
//! no status written by a replica that did not hold the Lease at that moment (each replica
//! names itself in `User-Agent`; the Lease's history is read from the API server's log).
//! A failure prints the seed; the same seed replays the same fault and kill schedule.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use fake_apiserver::ApiFault;
use genesys_emulator::Fault;
use genesys_emulator::fixture::{Fixture, Profile};
use genesys_offboarding_operator::controller::{BackoffPolicy, Operator, Settings};
use kube::api::ListParams;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::oneshot;

use super::invariants::never_deletes_a_user;
use super::k8s::{
    EMULATOR_HOST, NS, World, allowed_endpoints, check_invariants, compare_writes, is_offboarded,
    successful_writes,
};

/// Writes that may repeat (the very same request: method, path and body), and why each repeat
/// is harmless. A repeat happens when the write committed but the operator never learned it
/// (an answer lost after the write: a 5xx or a reset after it committed, a SIGKILL before the
/// status write recording it) and nothing Genesys shows proves it done yet.
pub const REPEATABLE: [(&str, &str); 6] = [
    (
        "DELETE /api/v2/tokens/",
        "revoking a user's tokens leaves no trace Genesys shows; revoking twice leaves no session either way",
    ),
    (
        "/state? ",
        "PUT state inactive with the same reason again: no read the operator makes shows the state-change reason; the same PUT twice leaves the same state and reason",
    ),
    (
        "/routingstatus? ",
        "PUT routing status OFF_QUEUE again: it reads back late on the realistic profile; OFF_QUEUE twice is OFF_QUEUE",
    ),
    (
        "/presences/",
        "PATCH presence Offline again: it reads back late on the realistic profile; Offline twice is Offline",
    ),
    (
        "/members",
        "a queue membership removed again after its removal's answer was lost: removing a member that is gone leaves it gone",
    ),
    (
        "/station/",
        "an associated or default station cleared again after the answer to its DELETE was lost (a 5xx or a reset after the commit, which the client retries like any idempotent request): clearing a cleared station leaves it cleared",
    ),
];

/// The lease of the soak's replicas.
const LEASE: &str = "genesys-offboarding-soak";
/// Its duration (`--lease-duration`): a killed leader's successor takes over this long after.
const LEASE_DURATION: Duration = Duration::from_secs(4);

/// What a soak run does.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    pub seed: u64,
    /// Offboardings (agents of the bulk-like organization).
    pub resources: usize,
    /// Leader kills (SIGKILL), spread over the run.
    pub leader_kills: usize,
    /// One Genesys fault per this many Genesys requests on average (one API server fault per
    /// three times as many API requests): the chaos follows the traffic, so faults never pile
    /// up unconsumed while nothing runs.
    pub fault_every: usize,
    /// Faults whose delay exceeds the client's 30 s request timeout (slow; off in the small run).
    pub client_timeouts: bool,
    /// Latency the emulator adds to every request.
    pub latency_ms: u64,
    /// The operator binary.
    pub binary: PathBuf,
    /// How long the run may take after the chaos to converge.
    pub patience: Duration,
    /// Concurrency of each replica.
    pub concurrency: u16,
}

/// What a soak run saw.
#[derive(Debug, Default)]
pub struct SoakReport {
    pub resources: usize,
    pub faults: BTreeMap<String, usize>,
    pub leader_kills: usize,
    pub repeats: BTreeMap<String, usize>,
    pub user_deletes: usize,
    pub genesys_writes: usize,
    pub status_writes: usize,
    pub elapsed: Duration,
    pub clean_elapsed: Duration,
}

impl SoakReport {
    pub fn render(&self, seed: u64) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "seed: {seed}");
        let _ = writeln!(text, "resources: {} (every one Ready)", self.resources);
        let _ = writeln!(text, "leader kills (SIGKILL): {}", self.leader_kills);
        let total: usize = self.faults.values().sum();
        let _ = writeln!(text, "faults injected: {total}");
        for (kind, count) in &self.faults {
            let _ = writeln!(text, "  {kind}: {count}");
        }
        let _ = writeln!(
            text,
            "successful Genesys writes: {} (clean run: {})",
            self.genesys_writes,
            self.genesys_writes - self.repeats.values().sum::<usize>()
        );
        let _ = writeln!(
            text,
            "idempotent repeats: {}",
            self.repeats.values().sum::<usize>()
        );
        for (write, count) in &self.repeats {
            let why = REPEATABLE
                .iter()
                .find(|(w, _)| write.contains(w))
                .map_or("", |(_, why)| why);
            let _ = writeln!(text, "  {write} +{count}: {why}");
        }
        let _ = writeln!(text, "user deletes: {}", self.user_deletes);
        let _ = writeln!(
            text,
            "status writes: {} (each by the Lease holder)",
            self.status_writes
        );
        let _ = writeln!(
            text,
            "time: {:.1} s under chaos (clean run {:.1} s)",
            self.elapsed.as_secs_f64(),
            self.clean_elapsed.as_secs_f64()
        );
        text
    }
}

/// The organization: the bulk-like one of `examples/support/org.rs` on the realistic profile.
fn fixture(resources: usize, latency_ms: u64) -> Fixture {
    let fixture = super::org::fixture(resources, 0, latency_ms).unwrap();
    fixture.with_profile(Profile::Realistic)
}

fn name(i: usize) -> String {
    format!("agent{i:04}")
}

async fn offboard_all(world: &World, resources: usize) {
    for i in 0..resources {
        world
            .offboard(&name(i), &super::org::email(i), "reason: Voluntary\n")
            .await;
    }
}

async fn ready_count(world: &World) -> usize {
    match world.offboardings().list(&ListParams::default()).await {
        Ok(list) => list.items.iter().filter(|r| is_offboarded(r)).count(),
        Err(_) => 0,
    }
}

/// The resources not yet Ready, each with its conditions (type=status/reason) and the pass
/// count the status shows, for a failure's message.
async fn not_ready(world: &World) -> String {
    let Ok(list) = world.offboardings().list(&ListParams::default()).await else {
        return "(the resources could not be listed)".into();
    };
    let mut text = String::new();
    for resource in list.items.iter().filter(|r| !is_offboarded(r)) {
        let conditions = resource
            .status
            .as_ref()
            .map(|s| {
                s.conditions
                    .iter()
                    .map(|c| format!("{}={}/{}", c.type_, c.status, c.reason))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let _ = writeln!(
            text,
            "{}: {conditions}",
            resource.metadata.name.as_deref().unwrap_or_default()
        );
    }
    text
}

async fn wait_ready(world: &World, resources: usize, patience: Duration) -> Result<(), String> {
    let deadline = Instant::now() + patience;
    loop {
        let ready = ready_count(world).await;
        if ready == resources {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("only {ready}/{resources} Ready after {patience:?}"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The successful Genesys writes of the same offboardings without faults (in-process).
async fn clean_run(config: &SoakConfig) -> Result<(BTreeMap<String, usize>, Duration), String> {
    let started = Instant::now();
    let world = World::new(fixture(config.resources, 0)).await;
    let operator = Operator::new(
        world.client.clone(),
        Settings {
            genesys_rate_limit: 1_000_000,
            concurrency: config.concurrency,
            backoff: BackoffPolicy {
                base: Duration::from_millis(200),
                max: Duration::from_secs(2),
            },
            allowed_endpoints: allowed_endpoints(),
            ..Settings::default()
        },
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(operator.run(async move {
        let _ = stopped.await;
    }));
    offboard_all(&world, config.resources).await;
    let result = wait_ready(&world, config.resources, config.patience).await;
    let _ = stop.send(());
    let _ = running.await;
    result?;
    Ok((successful_writes(&world.sim.requests()), started.elapsed()))
}

/// One life of one replica: the binary, killed with SIGKILL when dropped.
struct Replica {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Replica {
    fn start(config: &SoakConfig, dir: &Path, kubeconfig: &Path, name: String) -> Self {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(&config.binary)
            .args([
                "run",
                "--namespace",
                NS,
                "--admin-listen",
                "127.0.0.1:0",
                "--genesys-rate-limit",
                "100000",
                "--concurrency",
                &config.concurrency.to_string(),
                "--leader-election",
                "--lease-name",
                LEASE,
                "--lease-namespace",
                NS,
                "--lease-duration",
                "4s",
                "--pass-timeout",
                "60s",
                // Time runs faster here, as for the Lease: a resource unlucky enough to meet
                // several faults in a row waits seconds between passes, not minutes.
                "--backoff-base",
                "1s",
                "--backoff-max",
                "8s",
                "--log-level",
                "info",
                "--allowed-endpoint",
                EMULATOR_HOST,
            ])
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", &name)
            .env_remove("RUST_LOG")
            .env_remove("WATCH_NAMESPACES")
            .env_remove("ALLOWED_ENDPOINTS")
            .env_remove("DEACTIVATION_CAP")
            .env_remove("REQUIRE_APPROVAL")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Self { name, child, log }
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Lease holder the API server stores now.
fn holder(world: &World) -> Option<String> {
    world
        .api
        .object("coordination.k8s.io/v1", "leases", Some(NS), LEASE)?
        .pointer("/spec/holderIdentity")?
        .as_str()
        .map(str::to_owned)
}

/// A fault on the Genesys side, drawn at random.
fn genesys_fault(rng: &mut StdRng, client_timeouts: bool) -> (&'static str, Fault) {
    const WRITES: [(&str, &str); 7] = [
        ("PATCH", "/api/v2/users/*"),
        ("PUT", "/api/v2/users/*/state"),
        ("PUT", "/api/v2/users/*/routingstatus"),
        ("PATCH", "/api/v2/users/*/presences/*"),
        ("DELETE", "/api/v2/tokens/*"),
        ("*", "/api/v2/routing/queues/*/members"),
        ("*", "/api/v2/users/*/station/**"),
    ];
    let any = || Fault::new("*", "/api/v2/**");
    let write = |rng: &mut StdRng| {
        let (method, path) = WRITES[rng.random_range(0..WRITES.len())];
        Fault::new(method, path)
    };
    let kinds = if client_timeouts { 10 } else { 9 };
    match rng.random_range(0..kinds) {
        0 => (
            "5xx before the write (500/502/503)",
            any().status([500, 502, 503][rng.random_range(0..3)]),
        ),
        1 => (
            "5xx after the write committed",
            write(rng).status(503).after_serve(),
        ),
        2 => ("429 with Retry-After", any().status(429).retry_after(1)),
        3 => (
            "gateway timeout (504 after 2 s)",
            any().status(504).delay_ms(2_000),
        ),
        4 => ("connection reset before the write", any().reset()),
        5 => (
            "connection reset after the write committed",
            write(rng).reset().after_serve(),
        ),
        6 => ("expired token (401)", any().status(401)),
        7 => (
            "version conflict (409 on the user PATCH)",
            Fault::new("PATCH", "/api/v2/users/*").status(409),
        ),
        8 => (
            "token endpoint 503",
            Fault::new("POST", "/oauth/token").status(503),
        ),
        _ => (
            "client timeout (no answer within 30 s)",
            any().delay_ms(31_000),
        ),
    }
}

/// What the API server does wrong, drawn at random.
enum ApiChaos {
    Fault(&'static str, Box<ApiFault>),
    DropWatches,
    Restart,
}

impl ApiChaos {
    fn fault(kind: &'static str, fault: ApiFault) -> Self {
        ApiChaos::Fault(kind, Box::new(fault))
    }
}

fn api_chaos(rng: &mut StdRng) -> ApiChaos {
    const GUO: &str = "genesysuseroffboardings";
    match rng.random_range(0..8) {
        0 => ApiChaos::fault(
            "409 conflict on a status write",
            ApiFault::new("patch", GUO)
                .subresource("status")
                .status(409),
        ),
        1 => ApiChaos::fault(
            "500 on a status write after it committed",
            ApiFault::new("patch", GUO)
                .subresource("status")
                .status(500)
                .after_commit(),
        ),
        2 => ApiChaos::fault(
            "500 on a read of a resource",
            ApiFault::new("get", GUO).status(500),
        ),
        3 => ApiChaos::fault(
            "429 throttling with Retry-After",
            ApiFault::new("*", GUO).status(429).retry_after(1).times(3),
        ),
        4 => ApiChaos::fault(
            "500 on a Lease request",
            ApiFault::new("*", "leases").status(500),
        ),
        5 => ApiChaos::fault(
            "503 on a Secret read",
            ApiFault::new("get", "secrets").status(503),
        ),
        6 => ApiChaos::DropWatches,
        _ => ApiChaos::Restart,
    }
}

/// Runs the soak; `Err` names the first check that failed (with the seed).
// One schedule from start to checks, read top to bottom.
#[allow(clippy::too_many_lines)]
pub async fn run(config: &SoakConfig) -> Result<SoakReport, String> {
    let seed = config.seed;
    let fail = |what: String| format!("seed {seed}: {what}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut report = SoakReport {
        resources: config.resources,
        ..SoakReport::default()
    };

    // The reference: the same offboardings without a fault.
    let (clean, clean_elapsed) = clean_run(config).await.map_err(fail)?;
    report.clean_elapsed = clean_elapsed;
    eprintln!("soak: clean run done in {clean_elapsed:?}");

    // The world the replicas run in, and the HR export.
    let world = World::new(fixture(config.resources, config.latency_ms)).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, world.api.kubeconfig_yaml()).unwrap();
    offboard_all(&world, config.resources).await;
    eprintln!("soak: {} resources created; chaos starts", config.resources);
    let started = Instant::now();
    let mut lives = [0_usize; 2];
    let mut replicas: Vec<Replica> = (0..2)
        .map(|slot| {
            lives[slot] += 1;
            Replica::start(
                config,
                dir.path(),
                &kubeconfig,
                format!("replica-{}-{}", ["a", "b"][slot], lives[slot]),
            )
        })
        .collect();

    // Chaos until the kills are done and every resource is Ready.
    let mean = config.fault_every.max(2);
    let mut next_genesys = rng.random_range(1..=mean);
    let mut next_api = rng.random_range(1..=mean * 3);
    let mut next_kill = Instant::now() + Duration::from_millis(rng.random_range(500..3_000));
    let deadline = Instant::now() + config.patience;
    loop {
        let now = Instant::now();
        let genesys_requests = world.sim.requests().len();
        // The operator's work only: the Lease renewals of two replicas go on whether or not
        // anything is left to do, and counting them would pile the faults aimed at status
        // writes and resource reads onto the last offboarding left, one per pass, until its
        // backoff outgrows the run (a harness artefact, not a fault rate a cluster shows).
        let api_requests = world.api.count_requests(|r| r.resource != "leases");
        if genesys_requests >= next_genesys {
            let (kind, fault) = genesys_fault(&mut rng, config.client_timeouts);
            world.sim.inject(fault);
            *report.faults.entry(format!("Genesys: {kind}")).or_default() += 1;
            next_genesys = genesys_requests + rng.random_range(1..=mean * 2);
        }
        if api_requests >= next_api {
            match api_chaos(&mut rng) {
                ApiChaos::Fault(kind, fault) => {
                    world.api.inject(*fault);
                    *report
                        .faults
                        .entry(format!("API server: {kind}"))
                        .or_default() += 1;
                }
                ApiChaos::DropWatches => {
                    world.api.disconnect_watches(Duration::from_millis(500));
                    *report
                        .faults
                        .entry("API server: watches dropped (refused for 0.5 s)".into())
                        .or_default() += 1;
                }
                ApiChaos::Restart => {
                    world
                        .api
                        .restart(Duration::from_millis(500))
                        .await
                        .map_err(|e| fail(e.to_string()))?;
                    *report
                        .faults
                        .entry("API server: restart (down 0.5 s)".into())
                        .or_default() += 1;
                }
            }
            next_api = api_requests + rng.random_range(1..=mean * 6);
        }
        if report.leader_kills < config.leader_kills && now >= next_kill {
            if let Some(leader) = holder(&world)
                && let Some(slot) = replicas.iter().position(|r| r.name == leader)
            {
                let old = replicas.remove(slot);
                let index = usize::from(old.name.starts_with("replica-b"));
                old.kill();
                report.leader_kills += 1;
                eprintln!(
                    "soak: killed the leader {leader} at {:?}",
                    started.elapsed()
                );
                lives[index] += 1;
                let name = format!("replica-{}-{}", ["a", "b"][index], lives[index]);
                replicas.insert(slot, Replica::start(config, dir.path(), &kubeconfig, name));
                // Spread the kills: the next one once the lease has expired (4 s) and the new
                // term has had time to work.
                next_kill = now + Duration::from_millis(rng.random_range(5_000..9_000));
            } else {
                next_kill = now + Duration::from_millis(200);
            }
        }
        let done = report.leader_kills >= config.leader_kills
            && ready_count(&world).await == config.resources;
        if done {
            break;
        }
        if now > deadline {
            let mut tails = String::new();
            for r in &replicas {
                let _ = writeln!(tails, "--- {} ---\n{}", r.name, r.tail(30));
            }
            let _ = writeln!(tails, "--- not Ready ---\n{}", not_ready(&world).await);
            // The replicas' whole logs stay for a post-mortem (the tails above are the end).
            let kept = dir.keep();
            return Err(fail(format!(
                "{}/{} Ready after {:?} with {} kills (whole replica logs in {})\n{tails}",
                ready_count(&world).await,
                config.resources,
                config.patience,
                report.leader_kills,
                kept.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    report.elapsed = started.elapsed();
    eprintln!(
        "soak: every resource Ready after {:?}; checking",
        report.elapsed
    );
    world.api.clear_faults();
    // Let in-flight passes end, so the logs are complete, then stop the replicas.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for replica in replicas {
        replica.kill();
    }

    // Checks.
    let requests = world.sim.requests();
    report.user_deletes = requests
        .iter()
        .filter(|r| {
            r.method == "DELETE"
                && r.path.starts_with("/api/v2/users/")
                && r.path.trim_end_matches('/').split('/').count() == 5
        })
        .count();
    never_deletes_a_user(&requests).map_err(fail)?;
    let names: Vec<String> = (0..config.resources).map(name).collect();
    let ids: Vec<String> = (0..config.resources).map(super::org::user_id).collect();
    let users: Vec<(&str, &str)> = names
        .iter()
        .map(String::as_str)
        .zip(ids.iter().map(String::as_str))
        .collect();
    check_invariants(&world, &users).await.map_err(fail)?;
    for id in &ids {
        let state = world.user_state(id);
        if state != "inactive" {
            return Err(fail(format!("user {id} is {state}")));
        }
    }
    let writes = successful_writes(&requests);
    let repeatable: Vec<&str> = REPEATABLE.iter().map(|(w, _)| *w).collect();
    compare_writes(&clean, &writes, &repeatable, usize::MAX / 2)
        .map_err(|e| fail(format!("the Genesys writes differ from a clean run:\n{e}")))?;
    for (write, count) in &writes {
        let base = clean.get(write).copied().unwrap_or_default();
        if *count > base {
            *report.repeats.entry(write.clone()).or_default() += count - base;
        }
    }
    report.genesys_writes = writes.values().sum();
    report.status_writes = leader_only(&world).map_err(fail)?;
    Ok(report)
}

/// Every stored status write came from the replica that held the Lease when it arrived: the
/// last stored Lease write before it named that replica, within the lease's duration. Returns
/// the number of status writes checked.
fn leader_only(world: &World) -> Result<usize, String> {
    let requests = world.api.requests();
    let stored = |r: &fake_apiserver::RecordedRequest| {
        (200..300).contains(&r.status) || r.injected.is_some_and(|c| (200..300).contains(&c))
    };
    let agent = |r: &fake_apiserver::RecordedRequest| {
        let ua = r.user_agent.as_deref()?;
        Some(ua[ua.find('(')? + 1..ua.rfind(')')?].to_owned())
    };
    let mut lease: Option<(String, SystemTime)> = None;
    let mut checked = 0;
    for r in &requests {
        if !stored(r) {
            continue;
        }
        if r.resource == "leases" && r.is_write() {
            // Taking or releasing the Lease names the holder (null: released); a renewal
            // carries only the new renewTime, and only the holder renews.
            if let Some(spec) = r.body.as_ref().and_then(|b| b.get("spec")) {
                if let Some(holder) = spec.get("holderIdentity") {
                    lease = holder.as_str().map(|h| (h.to_owned(), r.time));
                } else if spec.get("renewTime").is_some_and(|t| !t.is_null())
                    && let Some((holder, renewed)) = &mut lease
                    && agent(r).as_deref() == Some(holder.as_str())
                {
                    *renewed = r.time;
                }
            }
            continue;
        }
        if r.is_status_write() && r.is_on("genesysuseroffboardings") {
            checked += 1;
            let writer = agent(r).ok_or_else(|| {
                format!("a status write without a replica name: {:?}", r.user_agent)
            })?;
            match &lease {
                Some((holder, renewed)) if *holder == writer => {
                    let age = r.time.duration_since(*renewed).unwrap_or_default();
                    if age > LEASE_DURATION {
                        return Err(format!(
                            "{writer} wrote the status of {:?} {age:?} after its last lease renewal (lease duration {LEASE_DURATION:?})",
                            r.name
                        ));
                    }
                }
                other => {
                    return Err(format!(
                        "{writer} wrote the status of {:?} while the Lease was {:?}",
                        r.name,
                        other.as_ref().map(|(h, _)| h)
                    ));
                }
            }
        }
    }
    Ok(checked)
}
