//! The crash test: the REAL binary (`genesys-offboarding run`)
//! is killed with SIGKILL at random points of ten offboardings and restarted each time, while
//! the fake Kubernetes API server and the Genesys emulator run in this test process and keep
//! their state across the operator's lives.
//!
//! The organization is a fixture of this file: ten agents like the demo org's, most with
//! direct queues, associated or default stations, skills, languages, roles and some history.
//! The emulator adds [`LATENCY_MS`] to every request, so an offboarding is a sequence of steps
//! long enough for kills to land between them.
//!
//! Kill points are drawn from a seeded RNG (the seed is printed; `CRASH_SEED=N` replays it):
//! each life of the operator ends after a random number (1–6) of Genesys writes (so the kill
//! lands just after a write reached the emulator: before or after its answer, before the status
//! write recording it), after a random number of status writes, or after a random delay
//! (startup included). Counting writes instead of waiting fixed times keeps the kills spread
//! over the pipeline on a slow machine too. Lives end until every resource is `Ready` (at least
//! [`MIN_KILLS`], at most [`MAX_KILLS`]: kills after that prove that restarting a finished
//! operator repeats nothing); a last life, not killed, must then converge.
//!
//! At the end every resource must be `Ready`, every user inactive, and the checks of
//! `support::k8s` must hold: the successful Genesys writes are those of a clean run (made
//! in-process first), each once — except token revocations, which nothing in Genesys shows as
//! done, so a kill between one and the status write recording it repeats it (idempotent); no
//! user deleted; every state `PATCH` is `{state, version}`; each snapshot stored before the first
//! write to its user, and never replaced.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use genesys_emulator::fixture::Fixture;
use genesys_offboarding_operator::controller::{BackoffPolicy, Operator, Settings};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::genesys::is_write;
use support::k8s::{World, check_invariants, compare_writes, is_offboarded, successful_writes};
use tokio::sync::oneshot;

/// Agents in the fixture, each offboarded by one resource (`agentNN`).
const AGENTS: usize = 10;
/// Lives of the operator ended by SIGKILL: at least [`MIN_KILLS`], more until every resource
/// is `Ready`, at most [`MAX_KILLS`].
const MIN_KILLS: usize = 10;
const MAX_KILLS: usize = 20;
/// Added by the emulator to every request.
const LATENCY_MS: u64 = 15;
/// How long the last life may take to converge (generous: a loaded 2-core machine).
const CONVERGENCE: Duration = Duration::from_secs(90);
/// The longest life when its kill point is never reached (the work is done).
const LONGEST_LIFE: Duration = Duration::from_secs(2);
/// Every step of the pipeline runs: the reason PUT, skills and languages removed too.
const SPEC: &str = "reason: Voluntary\nrouting: {removeSkills: true, removeLanguages: true}\n";
/// Token revocation: the one write Genesys shows no trace of, so a kill before its status
/// write repeats it (idempotent).
const REVOKE: &str = "DELETE /api/v2/tokens/";

// ---------------------------------------------------------------------------------------------
// The organization

fn user_id(n: usize) -> String {
    format!("7b2c0d4f-0000-4000-8000-0000000001{n:02}")
}

fn email(n: usize) -> String {
    format!("agent{n:02}@example.com")
}

fn name(n: usize) -> String {
    format!("agent{n:02}")
}

/// Ten agents: queue memberships (joined or not), stations, skills, languages, roles and
/// history vary with the index, so the plans differ in length and content.
fn fixture(latency_ms: u64) -> Fixture {
    let mut yaml = format!(
        "organization: {{id: 7f3c9a10-2b4d-4e6f-8a1b-0000000000aa, name: Crash Test Center}}
requestsPerMinute: 0
latencyMs: {latency_ms}
oauthClients:
  - {{clientId: demo-client, clientSecret: demo-secret}}
divisions:
  - {{id: div-home, name: Home}}
presenceDefinitions:
  - {{id: presence-available, systemPresence: Available}}
  - {{id: presence-offline, systemPresence: Offline}}
  - {{id: presence-onqueue, systemPresence: OnQueue}}
queues:
  - {{id: queue-billing, name: Billing, divisionId: div-home}}
  - {{id: queue-support, name: Support, divisionId: div-home}}
  - {{id: queue-sales, name: Sales, divisionId: div-home}}
skills:
  - {{id: skill-billing, name: Billing}}
  - {{id: skill-routers, name: Routers}}
languages:
  - {{id: lang-en, name: English}}
  - {{id: lang-es, name: Spanish}}
roles:
  - {{id: role-agent, name: Agent}}
stations:
"
    );
    for n in 1..=AGENTS {
        writeln!(yaml, "  - {{id: station-{n:02}, name: WebRTC {n:02}}}").unwrap();
    }
    yaml.push_str("users:\n");
    for n in 1..=AGENTS {
        let station = match n % 3 {
            0 => format!("{{associated: station-{n:02}, default: station-{n:02}}}"),
            1 => format!("{{default: station-{n:02}}}"),
            _ => "{}".to_owned(),
        };
        let mut queues = Vec::new();
        if n % 2 == 1 {
            queues.push("{queueId: queue-billing, joined: true}");
        }
        if n % 3 != 2 {
            queues.push("{queueId: queue-support, joined: true}");
        }
        if n % 4 == 0 {
            queues.push("{queueId: queue-sales, joined: false}");
        }
        let skills = if n % 2 == 0 {
            "[{id: skill-billing, proficiency: 3}, {id: skill-routers, proficiency: 2}]"
        } else {
            "[]"
        };
        let languages = if n % 3 == 0 {
            "[{id: lang-en, proficiency: 5}, {id: lang-es, proficiency: 4}]"
        } else {
            "[{id: lang-en, proficiency: 5}]"
        };
        let presence = if n % 2 == 0 { "OnQueue" } else { "Available" };
        write!(
            yaml,
            "  - id: {id}
    name: Agent {n:02}
    email: {email}
    version: {version}
    routingStatus: IDLE
    presence: {presence}
    station: {station}
    queues: [{queues}]
    skills: {skills}
    languages: {languages}
    roles: [{{roleId: role-agent}}]
",
            id = user_id(n),
            email = email(n),
            version = n + 2,
            queues = queues.join(", "),
        )
        .unwrap();
    }
    yaml.push_str("conversations:\n");
    for n in (1..=AGENTS).filter(|n| n % 2 == 1) {
        for (i, days) in [30, 5].iter().enumerate() {
            write!(
                yaml,
                "  - id: conv-{n:02}-{i}
    start: now-{days}d
    end: now-{days}d+6m
    participants:
      - {{purpose: customer, name: \"+1 555 01{n:02}\"}}
      - {{purpose: agent, userId: {id}, name: Agent {n:02}}}
",
                id = user_id(n),
            )
            .unwrap();
        }
    }
    // The realistic profile: asynchronous queue changes, a lagging search index, dropped expands.
    Fixture::from_yaml(&yaml)
        .unwrap()
        .with_profile(genesys_emulator::fixture::Profile::Realistic)
}

async fn offboard_all(world: &World) {
    for n in 1..=AGENTS {
        world.offboard(&name(n), &email(n), SPEC).await;
    }
}

fn names() -> Vec<String> {
    (1..=AGENTS).map(name).collect()
}

// ---------------------------------------------------------------------------------------------
// The reference run

/// The successful Genesys writes of the same offboardings without a crash (the controller
/// in-process, no latency: the writes do not depend on either).
async fn clean_writes() -> std::collections::BTreeMap<String, usize> {
    let world = World::new(fixture(0)).await;
    let operator = Operator::new(
        world.client.clone(),
        Settings {
            genesys_rate_limit: 1_000_000,
            backoff: BackoffPolicy {
                base: Duration::from_millis(100),
                max: Duration::from_secs(1),
            },
            allowed_endpoints: support::k8s::allowed_endpoints(),
            ..Settings::default()
        },
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(operator.run(async move {
        let _ = stopped.await;
    }));
    offboard_all(&world).await;
    let names = names();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    world.wait_until_ready(&refs).await;
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    let writes = successful_writes(&world.sim.requests());
    assert!(
        writes.values().all(|count| *count == 1),
        "a clean run writes everything once: {writes:#?}"
    );
    writes
}

// ---------------------------------------------------------------------------------------------
// The operator's lives

/// One life of `genesys-offboarding run`, killed (SIGKILL) when dropped.
struct Life {
    child: Child,
    log: PathBuf,
}

impl Life {
    fn start(dir: &Path, kubeconfig: &Path, number: usize) -> Self {
        let log = dir.join(format!("operator-{number:02}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_genesys-offboarding"))
            .args([
                "run",
                "--namespace",
                support::k8s::NS,
                "--admin-listen",
                "127.0.0.1:0",
                "--genesys-rate-limit",
                "100000",
                "--log-level",
                "info",
                "--allowed-endpoint",
                support::k8s::EMULATOR_HOST,
            ])
            .env("KUBECONFIG", kubeconfig)
            .env_remove("RUST_LOG")
            .env_remove("WATCH_NAMESPACES")
            .env_remove("LEADER_ELECTION")
            .env_remove("ALLOWED_ENDPOINTS")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Self { child, log }
    }

    /// SIGKILL: no drain, no last status write, no goodbye.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Whether the process is still running (it must never exit by itself).
    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Life {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a life ends.
#[derive(Debug, Clone, Copy)]
enum KillPoint {
    /// After this many more Genesys writes reached the emulator.
    GenesysWrites(usize),
    /// After this many more status writes reached the API server.
    StatusWrites(usize),
    /// After this long (startup included).
    After(Duration),
}

impl KillPoint {
    fn draw(rng: &mut StdRng) -> Self {
        match rng.random_range(0..3) {
            0 => KillPoint::GenesysWrites(rng.random_range(1..=6)),
            1 => KillPoint::StatusWrites(rng.random_range(1..=20)),
            _ => KillPoint::After(Duration::from_millis(rng.random_range(50..1000))),
        }
    }
}

fn genesys_writes(world: &World) -> usize {
    world.sim.requests().iter().filter(|r| is_write(r)).count()
}

fn status_writes(world: &World) -> usize {
    world
        .api
        .count_requests(|r| r.is_status_write() && r.is_on("genesysuseroffboardings"))
}

async fn ready_count(world: &World) -> usize {
    let mut ready = 0;
    for n in 1..=AGENTS {
        if let Ok(Some(resource)) = world.offboardings().get_opt(&name(n)).await
            && is_offboarded(&resource)
        {
            ready += 1;
        }
    }
    ready
}

/// Runs a life until its kill point (or [`LONGEST_LIFE`]) and kills it; returns a line for the
/// test's log.
async fn live_and_die(world: &World, life: Life, point: KillPoint) -> String {
    let mut life = life;
    let born = Instant::now();
    let genesys_before = world.sim.requests().len();
    let writes_before = genesys_writes(world);
    let status_before = status_writes(world);
    loop {
        let reached = match point {
            KillPoint::GenesysWrites(n) => genesys_writes(world) >= writes_before + n,
            KillPoint::StatusWrites(n) => status_writes(world) >= status_before + n,
            KillPoint::After(delay) => born.elapsed() >= delay,
        };
        if reached || born.elapsed() >= LONGEST_LIFE {
            break;
        }
        assert!(
            life.running(),
            "the operator exited by itself:\n{}",
            life.tail(40)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    life.kill();
    format!(
        "{point:?}: killed after {:?}, {} Genesys requests ({} writes), {} status writes",
        born.elapsed(),
        world.sim.requests().len() - genesys_before,
        genesys_writes(world) - writes_before,
        status_writes(world) - status_before,
    )
}

// ---------------------------------------------------------------------------------------------
// The test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_killed_at_random_points_and_restarted_converges_without_repeating_a_side_effect()
 {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        });
    println!("crash test seed: {seed} (replay with CRASH_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();

    // Arrange: the reference, then the world the binary runs in.
    let clean = clean_writes().await;
    let world = World::new(fixture(LATENCY_MS)).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, world.api.kubeconfig_yaml()).unwrap();
    offboard_all(&world).await;

    // Act: kill the operator at random points, restart it each time.
    let mut kills = 0;
    while kills < MAX_KILLS {
        let point = KillPoint::draw(&mut rng);
        kills += 1;
        let life = Life::start(dir.path(), &kubeconfig, kills);
        let summary = live_and_die(&world, life, point).await;
        let ready = ready_count(&world).await;
        println!("life {kills:02}: {summary}; {ready}/{AGENTS} Ready");
        if ready == AGENTS && kills >= MIN_KILLS {
            break;
        }
    }
    let last = Life::start(dir.path(), &kubeconfig, kills + 1);
    let deadline = Instant::now() + CONVERGENCE;
    while ready_count(&world).await < AGENTS {
        assert!(
            Instant::now() < deadline,
            "seed {seed}: not every resource converged; the last life's log:\n{}",
            last.tail(60)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    last.kill();
    println!(
        "crash test: {kills} kills, converged in {:?}",
        started.elapsed()
    );

    // Assert.
    for n in 1..=AGENTS {
        let state = world.user_state(&user_id(n));
        assert_eq!(state, "inactive", "seed {seed}: {} is {state}", name(n));
    }
    let names = names();
    let ids: Vec<String> = (1..=AGENTS).map(user_id).collect();
    let users: Vec<(&str, &str)> = names
        .iter()
        .map(String::as_str)
        .zip(ids.iter().map(String::as_str))
        .collect();
    if let Err(problem) = check_invariants(&world, &users).await {
        panic!("seed {seed}: {problem}");
    }
    let writes = successful_writes(&world.sim.requests());
    if let Err(problems) = compare_writes(&clean, &writes, &[REVOKE], kills) {
        panic!("seed {seed}: the Genesys writes differ from a clean run:\n{problems}");
    }
    let repeats: usize = writes
        .iter()
        .filter(|(write, _)| write.starts_with(REVOKE))
        .map(|(_, count)| count - 1)
        .sum();
    println!(
        "crash test: {} Genesys writes, as in the clean run but for {repeats} repeated token revocation(s)",
        writes.values().sum::<usize>()
    );
}
