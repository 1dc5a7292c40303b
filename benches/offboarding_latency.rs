//! One offboarding through the one-shot pipeline (`reconcile::reconcile` with `MemoryStore` and
//! `FixedClient`), against the emulator adding `latencyMs` to every request: the calls it makes,
//! by step and by operation, and the wall time from the start of the pass to `Ready=True`
//! (calls and latency of one offboarding). The median is taken over several demo-like agents, each
//! offboarded alone with its own warm client (token fetched and the Offline presence id cached
//! before the clock starts, as in a running operator), so that each run starts with an idle
//! rate budget.
//!
//! `cargo bench --bench offboarding_latency -- [--latency-ms MS] [--users N] [--rpm N]
//! [--lookback-days D] [--queues 0|1|2] [--default-station 0|1] [--realistic]`, or the environment variables
//! `BENCH_LATENCY_MS`, `BENCH_USERS`, `BENCH_RPM`, `BENCH_LOOKBACK_DAYS`, `BENCH_QUEUES`,
//! `BENCH_DEFAULT_STATION`. Defaults: 100 ms, 7 agents, 300 requests/minute (the Genesys
//! default, enforced by the emulator per token), the spec's default lookback (90 days), Jane's
//! two direct queues and her default station.
//!
//! `cargo test --all-targets` also runs this binary, without the `--bench` flag that `cargo
//! bench` passes: it then makes a short smoke run (2 agents). Timing is reported, never
//! asserted; the exit code is non-zero only when an offboarding is wrong (not Ready, a user
//! deleted, a PATCH carrying more than state and version, a 429 or a failed request).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use genesys_cloud::{ClientConfig, ClientCredentials, Endpoints, GenesysClient};
use genesys_emulator::fixture::{Fixture, ParticipantFixture};
use genesys_emulator::{RecordedRequest, Sim, SimHandle};
use genesys_offboarding_operator::crd::{
    GenesysUserOffboarding, GenesysUserOffboardingSpec, condition,
};
use genesys_offboarding_operator::reconcile::{
    FixedClient, MemoryOwners, MemoryStore, Outcome, reconcile, store::SavedStatus,
};

/// The demo org's Jane Doe: two direct queues (one joined, one not), an associated and a
/// default station, two skills, a language, a role and four conversations in the last 40 days.
const TEMPLATE_AGENT: &str = "6a1b0c3e-0000-4000-8000-000000000001";

struct Settings {
    latency_ms: u64,
    users: usize,
    rpm: u32,
    lookback_days: Option<u64>,
    /// How many of Jane's two direct queues each agent keeps.
    queues: usize,
    /// Whether each agent has a default station besides the associated one.
    default_station: bool,
    /// `--realistic`: the emulator's realistic profile (every unkind behaviour on).
    realistic: bool,
}

fn setting(args: &[String], flag: &str, env: &str) -> Option<u64> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .or_else(|| std::env::var(env).ok())
        .and_then(|v| v.parse().ok())
}

fn settings() -> Settings {
    let args: Vec<String> = std::env::args().collect();
    let full_run = args.iter().any(|a| a == "--bench");
    let users = setting(&args, "--users", "BENCH_USERS").unwrap_or(if full_run { 7 } else { 2 });
    Settings {
        latency_ms: setting(&args, "--latency-ms", "BENCH_LATENCY_MS").unwrap_or(100),
        users: usize::try_from(users).unwrap_or(2).max(1),
        rpm: setting(&args, "--rpm", "BENCH_RPM")
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(300),
        lookback_days: setting(&args, "--lookback-days", "BENCH_LOOKBACK_DAYS"),
        queues: usize::try_from(setting(&args, "--queues", "BENCH_QUEUES").unwrap_or(2))
            .unwrap_or(2),
        default_station: setting(&args, "--default-station", "BENCH_DEFAULT_STATION").unwrap_or(1)
            != 0,
        realistic: args.iter().any(|a| a == "--realistic"),
    }
}

/// The demo org, with its latency and limit set, plus `agents` copies of Jane Doe (own id,
/// email, queues, station and history).
fn fixture(s: &Settings) -> Fixture {
    let mut fixture = Fixture::demo();
    if s.realistic {
        fixture = fixture.with_profile(genesys_emulator::fixture::Profile::Realistic);
    }
    fixture.latency_ms = s.latency_ms;
    fixture.requests_per_minute = s.rpm;
    let template = fixture
        .users
        .iter()
        .find(|u| u.id == TEMPLATE_AGENT)
        .cloned()
        .expect("the demo org has Jane Doe");
    let history: Vec<_> = fixture
        .conversations
        .iter()
        .filter(|c| {
            c.participants
                .iter()
                .any(|p| p.user_id.as_deref() == Some(TEMPLATE_AGENT))
        })
        .cloned()
        .collect();
    let station = fixture
        .stations
        .iter()
        .find(|st| Some(&st.id) == template.station.associated.as_ref())
        .cloned()
        .expect("Jane Doe has a station");
    for i in 0..s.users {
        let id = agent_id(i);
        let mut agent = template.clone();
        agent.id.clone_from(&id);
        agent.name = format!("Bench Agent {i}");
        agent.email = agent_email(i);
        agent.username = None;
        let mut own_station = station.clone();
        own_station.id = format!("bench-station-{i}");
        own_station.name = format!("WebRTC Bench Agent {i}");
        agent.station.associated = Some(own_station.id.clone());
        agent.station.default = s.default_station.then(|| own_station.id.clone());
        agent.queues.truncate(s.queues);
        fixture.stations.push(own_station);
        fixture.users.push(agent);
        for (n, conversation) in history.iter().enumerate() {
            let mut copy = conversation.clone();
            copy.id = format!("bench-conversation-{i}-{n}");
            copy.participants = conversation
                .participants
                .iter()
                .filter(|p| p.user_id.is_none() || p.user_id.as_deref() == Some(TEMPLATE_AGENT))
                .map(|p| ParticipantFixture {
                    user_id: p.user_id.as_ref().map(|_| id.clone()),
                    name: p.user_id.as_ref().map(|_| format!("Bench Agent {i}")),
                    ..p.clone()
                })
                .collect();
            fixture.conversations.push(copy);
        }
    }
    fixture
}

fn agent_id(i: usize) -> String {
    format!("bench-agent-{i:04}")
}

fn agent_email(i: usize) -> String {
    format!("bench.agent.{i}@example.com")
}

fn resource(s: &Settings, i: usize) -> GenesysUserOffboarding {
    let mut yaml = format!(
        "user: {{email: {}}}\ncredentialsSecretRef: {{name: genesys-credentials}}\nregion: us_east_1\n",
        agent_email(i)
    );
    if let Some(days) = s.lookback_days {
        let _ = writeln!(yaml, "history: {{lookbackDays: {days}}}");
    }
    let spec: GenesysUserOffboardingSpec =
        serde_yaml::from_str(&yaml).expect("the benchmark spec is valid");
    let mut resource = GenesysUserOffboarding::new(&format!("bench-{i}"), spec);
    resource.metadata.namespace = Some("default".into());
    resource.metadata.generation = Some(1);
    resource
}

/// A client with its own token (so its own emulator window), warmed up like a running
/// operator's: token fetched, Offline presence id cached.
async fn warm_client(sim: &SimHandle, rpm: u32) -> GenesysClient {
    let config = ClientConfig::new(
        Endpoints::single(sim.base_url()).expect("loopback URL"),
        ClientCredentials::new("demo-client", "demo-secret".to_owned()),
    )
    .with_requests_per_minute(rpm);
    let client = GenesysClient::new(config).expect("client");
    client.authenticate().await.expect("token");
    client
        .offline_presence_id()
        .await
        .expect("Offline presence");
    client
}

/// One measured offboarding.
struct Run {
    wall: Duration,
    requests: Vec<RecordedRequest>,
    saves: Vec<SavedStatus>,
}

/// The step each request belongs to: requests are attributed to the first status save at or
/// after them; a save is named after the action it recorded (the first save, before any step,
/// covers resolving and observing; a save that adds no action is the report).
fn by_step(run: &Run) -> Vec<(String, usize)> {
    let mut labels = Vec::with_capacity(run.saves.len());
    let mut previous = None;
    for (n, save) in run.saves.iter().enumerate() {
        let last = save.status.actions.last();
        let label = match last {
            Some(action) if last != previous => action.step.to_string(),
            _ if n == 0 => "Resolve+Observe".to_owned(),
            _ => "Report".to_owned(),
        };
        previous = last;
        labels.push((save.at, label));
    }
    let mut steps: Vec<(String, usize)> = Vec::new();
    for request in &run.requests {
        let label = labels
            .iter()
            .find(|(at, _)| *at >= request.time)
            .map_or_else(|| "Report".to_owned(), |(_, l)| l.clone());
        match steps.last_mut() {
            Some((last, count)) if *last == label => *count += 1,
            _ => steps.push((label, 1)),
        }
    }
    steps
}

fn by_operation(run: &Run) -> BTreeMap<String, usize> {
    let mut ops = BTreeMap::new();
    for r in &run.requests {
        let op = r
            .operation
            .clone()
            .unwrap_or_else(|| format!("{} {}", r.method, r.path));
        *ops.entry(op).or_insert(0) += 1;
    }
    ops
}

/// Why a run is wrong, if it is.
fn problems(sim: &SimHandle, i: usize, outcome: &Outcome, run: &Run) -> Vec<String> {
    let mut problems = Vec::new();
    if !matches!(outcome, Outcome::Done { .. }) {
        problems.push(format!("outcome {outcome:?}"));
    }
    let ready = run
        .saves
        .last()
        .and_then(|s| s.status.condition(condition::READY))
        .is_some_and(|c| c.status == "True");
    if !ready {
        problems.push("not Ready=True".into());
    }
    let state = sim.user(&agent_id(i)).map(|u| u["state"].clone());
    if state != Some(serde_json::json!("inactive")) {
        problems.push(format!("user state {state:?}"));
    }
    for r in &run.requests {
        let user_path = r
            .path
            .strip_prefix("/api/v2/users/")
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
        if r.method == "DELETE" && user_path || r.path.contains("/gdpr") {
            problems.push(format!("deleted a user: {} {}", r.method, r.path));
        }
        if r.method == "PATCH" && user_path {
            let mut keys: Vec<String> = r
                .body
                .as_ref()
                .and_then(|b| b.as_object())
                .map(|b| b.keys().cloned().collect())
                .unwrap_or_default();
            keys.sort();
            if keys != ["state", "version"] {
                problems.push(format!("PATCH {} carried {keys:?}", r.path));
            }
        }
        if r.status == 429 || r.status >= 500 {
            problems.push(format!("{} {} answered {}", r.method, r.path, r.status));
        }
    }
    problems
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let s = settings();
    let sim = Sim::start(fixture(&s)).await.expect("the emulator starts");
    println!(
        "offboarding_latency: {} agent(s) like the demo org's Jane Doe ({} direct queue(s), an \
         associated{} station, 4 conversations), emulator latency {} ms per request, limit {} \
         req/min per token, lookback {}",
        s.users,
        s.queues.min(2),
        if s.default_station {
            " and a default"
        } else {
            ""
        },
        s.latency_ms,
        s.rpm,
        s.lookback_days
            .map_or_else(|| "the spec default".to_owned(), |d| format!("{d} days")),
    );
    let mut runs = Vec::new();
    let mut failures = 0;
    for i in 0..s.users {
        let client = warm_client(&sim, s.rpm).await;
        let (effective, burst) = client.effective_rate();
        if i == 0 {
            println!("client budget      {effective} req/min + burst {burst}");
        }
        let store = MemoryStore::new();
        let clients = FixedClient(client);
        let offboarding = resource(&s, i);
        let seen = sim.requests().len();
        let started = Instant::now();
        let result = reconcile(&offboarding, &clients, &MemoryOwners::new(), &store)
            .await
            .into_result();
        let wall = started.elapsed();
        let requests: Vec<RecordedRequest> = sim.requests().into_iter().skip(seen).collect();
        let run = Run {
            wall,
            requests,
            saves: store.history(),
        };
        let outcome = match result {
            Ok(reconciled) => reconciled.outcome,
            Err(e) => Outcome::Stalled {
                reason: "Error",
                message: e.to_string(),
            },
        };
        let wrong = problems(&sim, i, &outcome, &run);
        if !wrong.is_empty() {
            failures += 1;
            eprintln!("agent {i}: {}", wrong.join("; "));
        }
        runs.push(run);
    }
    sim.shutdown().await;

    let calls: Vec<usize> = runs.iter().map(|r| r.requests.len()).collect();
    let first = &runs[0];
    println!("calls by step (agent 0):");
    for (step, count) in by_step(first) {
        println!("  {step:<24} {count:>3}");
    }
    println!("calls by operation (agent 0):");
    for (op, count) in by_operation(first) {
        println!("  {op:<48} {count:>3}");
    }
    let walls: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
    println!(
        "calls per offboarding  {} (min {}, max {})",
        calls[calls.len() / 2],
        calls.iter().min().copied().unwrap_or_default(),
        calls.iter().max().copied().unwrap_or_default()
    );
    println!(
        "wall time, start of pass -> Ready: median {:.2} s (min {:.2} s, max {:.2} s) over {} agent(s)",
        median(walls.clone()).as_secs_f64(),
        walls
            .iter()
            .min()
            .copied()
            .unwrap_or_default()
            .as_secs_f64(),
        walls
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .as_secs_f64(),
        walls.len()
    );
    if failures > 0 {
        eprintln!("offboarding_latency: {failures} offboarding(s) went wrong");
        std::process::exit(1);
    }
}
