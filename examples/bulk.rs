//! Bulk offboarding through the real operator at the rate-limit bound (throughput at the bound,
//! calls per offboarding, and a race with the tutorial script). Starts the fake Kubernetes API server, the Genesys Cloud emulator with a
//! demo-org-like organization of N agents (per-token limit `--rate-limit` per minute, optional
//! `--latency-ms`), and the real operator in this process (one OAuth client: every offboarding
//! shares its one budget, and the client's limiter paces them); creates N offboardings, waits
//! until all are Ready (or the deadline), and prints the calls per offboarding (by operation),
//! the failures (resources not Ready, 429 answers), the time taken, the bound (API calls ÷ rate
//! limit) and, last, `ratio-to-bound: R` (bound ÷ time taken).
//!
//! ```text
//! cargo run --release --example bulk -- --resources 1000 --rate-limit 6000
//! cargo run --release --example bulk -- --resources 50 --rate-limit 300 --latency-ms 100 --peer
//! ```
//! `--peer` then runs `tests/sdk/peer_offboard.py` (the tutorial's way, with the official Python
//! SDK, from `.tools/venv`; `scripts/test` installs it) on a fresh emulator with the same
//! settings, and prints both times, the peer's failures and the ratio.
//!
//! `--orgs K` spreads the N offboardings over K emulated organizations (agent `i` belongs to
//! organization `i mod K`), each its own emulator with its own per-token limit, and its own OAuth
//! client in its own Secret: K budgets of `--rate-limit` each, one operator. Per organization it
//! prints the calls, failures, the time until its last offboarding was Ready, its bound and its
//! ratio to the bound; the total ratio is the sum of the bounds' work (API calls ÷ (K × limit))
//! over the time until every offboarding was Ready.
//!
//! `--work tutorial` asks the operator for the tutorial's work only (no routing changes, no
//! session revocation, a 30-day history check, a snapshot of what the user read carries and no
//! impact preflight: `routing` all false, `revokeSessions: false`, `history.lookbackDays: 30`,
//! `snapshot.scope: Minimal`, `impact.preflight: false`), so that `--peer` races like against
//! like. The operator still snapshots the user before the first write, reads the state back and
//! proves the history; the tutorial does neither.
//!
//! ```text
//! cargo run --release --example bulk -- --resources 500 --orgs 10 --rate-limit 300 --latency-ms 100
//! cargo run --release --example bulk -- --resources 100 --rate-limit 300 --latency-ms 100 --work tutorial --peer
//! ```

// A benchmark: long straight-line mains, counts printed as floats.
#![allow(clippy::too_many_lines, clippy::cast_precision_loss)]

// The organizations are built from parts of the one the other examples use whole.
#[allow(dead_code)]
#[path = "support/org.rs"]
mod org;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use fake_apiserver::FakeApiServer;
use futures::{StreamExt, TryStreamExt};
use genesys_cloud::AllowedEndpoint;
use genesys_emulator::{RecordedRequest, Sim};
use genesys_offboarding_operator::controller::{Operator, Settings};
use genesys_offboarding_operator::crd::{GenesysUserOffboarding, condition};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use serde_json::json;

const NS: &str = "default";
const SECRET: &str = "genesys-credentials";

#[derive(Debug, Parser)]
#[command(about = "Bulk offboarding through the real operator at the rate-limit bound")]
struct Args {
    /// Offboardings to run (agents in the emulated org).
    #[arg(long)]
    resources: usize,
    /// The emulator's per-token limit, and the operator's budget per OAuth client, per minute.
    #[arg(long, default_value_t = 300)]
    rate_limit: u32,
    /// Latency the emulator adds to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The operator's `--concurrency`.
    #[arg(long, default_value_t = 32)]
    concurrency: u16,
    /// The operator's `--max-passes-per-org` (default: half of `--concurrency`). Every
    /// offboarding here is of one organization, so this bounds the passes in flight.
    #[arg(long)]
    max_passes_per_org: Option<u16>,
    /// Give up waiting after this many seconds (default: three times the bound, plus a minute).
    #[arg(long)]
    deadline_secs: Option<u64>,
    /// Also run the Python-SDK peer on a fresh emulator and compare.
    #[arg(long)]
    peer: bool,
    /// Run the emulator on its realistic profile (every unkind behaviour of the real service on).
    #[arg(long)]
    realistic: bool,
    /// Emulated organizations, each with its own OAuth client, Secret and `--rate-limit`.
    #[arg(long, default_value_t = 1)]
    orgs: usize,
    /// What each offboarding asks for: `full` (the defaults) or `tutorial` (the tutorial's
    /// work only: deactivate and check 30 days of history).
    #[arg(long, value_enum, default_value_t = Work::Full)]
    work: Work,
    /// Every offboarding hands the agent's work to one successor (`spec.handoff.successor`, a
    /// user of the org who is not offboarded); the agents have nothing to hand off, so this
    /// measures what looking for it costs.
    #[arg(long)]
    handoff: bool,
}

/// What each offboarding asks the operator for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Work {
    /// The spec's defaults: drain routing, deactivate, revoke sessions, 90 days of history.
    Full,
    /// What the tutorial does: deactivate, and query 30 days of history (with a `Minimal`
    /// snapshot and no impact preflight).
    Tutorial,
}

impl Work {
    /// The spec fields this work sets besides the user, the Secret and the endpoints.
    fn spec(self) -> serde_json::Value {
        match self {
            Work::Full => json!({}),
            Work::Tutorial => json!({
                "routing": {"setOffQueue": false, "removeFromQueues": false, "clearStation": false},
                "revokeSessions": false,
                "history": {"lookbackDays": 30},
                "snapshot": {"scope": "Minimal"},
                "impact": {"preflight": false},
            }),
        }
    }
}

/// The successor of `--handoff`.
const SUCCESSOR_EMAIL: &str = "successor@bulk.example.com";

/// What the emulator saw during one run.
struct Calls {
    api: usize,
    oauth: usize,
    rate_limited: usize,
    by_operation: BTreeMap<String, usize>,
}

impl Calls {
    fn of(requests: &[RecordedRequest]) -> Self {
        let mut by_operation = BTreeMap::new();
        let mut api = 0;
        for r in requests.iter().filter(|r| r.path.starts_with("/api/v2/")) {
            api += 1;
            let name = r
                .operation
                .clone()
                .unwrap_or_else(|| format!("{} {}", r.method, r.path));
            *by_operation.entry(name).or_insert(0) += 1;
        }
        Self {
            api,
            oauth: requests
                .iter()
                .filter(|r| r.path.starts_with("/oauth/"))
                .count(),
            rate_limited: requests.iter().filter(|r| r.status == 429).count(),
            by_operation,
        }
    }

    #[allow(clippy::cast_precision_loss)]
    fn per_offboarding(&self, n: usize) -> String {
        let n = n.max(1) as f64;
        let steps: Vec<String> = self
            .by_operation
            .iter()
            .map(|(op, count)| format!("{op} {:.2}", *count as f64 / n))
            .collect();
        format!("{:.2} ({})", self.api as f64 / n, steps.join(", "))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let n = args.resources;
    let k = args.orgs.max(1);
    if args.peer && k > 1 {
        bail!("--peer races one organization: leave --orgs at 1");
    }
    let mut fixtures = Vec::new();
    for org in 0..k {
        let mut fixture = org::fixture_of(
            (0..n).filter(|i| i % k == org),
            args.rate_limit,
            args.latency_ms,
        )?;
        if args.realistic {
            fixture = fixture.with_profile(genesys_emulator::fixture::Profile::Realistic);
        }
        fixtures.push(fixture);
    }
    if args.handoff {
        for fixture in &mut fixtures {
            fixture.users.push(serde_json::from_value(json!({
                "id": "6b000000-0000-4000-8000-5cce55000000",
                "name": "Successor",
                "email": SUCCESSOR_EMAIL,
                "version": 1,
            }))?);
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let settings = Settings {
        concurrency: args.concurrency,
        genesys_rate_limit: args.rate_limit,
        max_passes_per_org: args.max_passes_per_org,
        ..Settings::default()
    };
    println!(
        "bulk: {n} offboardings over {k} organization(s), rate limit {}/min each, latency {} ms, \
         work {:?}, concurrency {}, passes per organization {}, {cores} cores{}",
        args.rate_limit,
        args.latency_ms,
        args.work,
        args.concurrency,
        settings.passes_per_org(),
        if args.handoff {
            ", handoff to one successor"
        } else {
            ""
        }
    );

    // Arrange: the API server with the CRD and one Secret per organization, the emulators, the
    // operator.
    let mut sims = Vec::new();
    for fixture in &fixtures {
        sims.push(Sim::start(fixture.clone()).await?);
    }
    let api = FakeApiServer::start().await?;
    let crd = std::fs::read_to_string(repo().join("crds/genesysuseroffboardings.yaml"))?;
    api.load_yaml(&crd)?;
    let client = api.kube_client();
    for org in 0..k {
        create_secret(&client, &secret_name(org)).await?;
    }
    let operator = Operator::new(
        client.clone(),
        Settings {
            // The resources name the emulators' base URLs: allow exactly their hosts and ports.
            allowed_endpoints: sims
                .iter()
                .filter_map(|sim| AllowedEndpoint::of(&sim.base_url()))
                .collect(),
            ..settings
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(operator.run(async move {
        let _ = stopped.await;
    }));

    // Act: apply N offboardings, wait until every one is Ready.
    let started = Instant::now();
    let bases: Vec<String> = sims.iter().map(|sim| sim.base_url().to_string()).collect();
    let handoff = args
        .handoff
        .then(|| json!({"successor": {"email": SUCCESSOR_EMAIL}}));
    let resources: Api<GenesysUserOffboarding> = Api::namespaced(client.clone(), NS);
    let extra = args.work.spec();
    futures::stream::iter(0..n)
        .map(|i| {
            let (resources, bases, extra, handoff) = (&resources, &bases, &extra, &handoff);
            async move {
                let org = i % k;
                let mut spec = json!({
                    "user": {"email": org::email(i)},
                    "credentialsSecretRef": {"name": secret_name(org)},
                    "apiBaseUrl": bases[org], "loginBaseUrl": bases[org],
                });
                if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
                    spec.extend(extra.clone());
                }
                if let Some(handoff) = handoff {
                    spec["handoff"] = handoff.clone();
                }
                let resource: GenesysUserOffboarding = serde_json::from_value(json!({
                    "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
                    "kind": "GenesysUserOffboarding",
                    "metadata": {"name": format!("agent-{i}"), "namespace": NS},
                    "spec": spec,
                }))?;
                resources.create(&PostParams::default(), &resource).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    let applied = started.elapsed();
    // Printed at once: a run that never finishes still shows how far it got.
    println!("applied: {n} resources in {:.1} s", applied.as_secs_f64());
    let per_org = |org: usize| (0..n).filter(|i| i % k == org).count();
    let bound_estimate = Duration::from_secs_f64(
        (0..k).map(per_org).max().unwrap_or(0) as f64 * 15.0 * 60.0 / f64::from(args.rate_limit),
    );
    let deadline = args.deadline_secs.map_or(
        bound_estimate * 3 + Duration::from_secs(60),
        Duration::from_secs,
    );
    let progress = std::sync::Mutex::new(Progress {
        ready: vec![HashSet::new(); k],
        finished: vec![None; k],
    });
    let expected: Vec<usize> = (0..k).map(per_org).collect();
    let _ = tokio::time::timeout_at(
        tokio::time::Instant::from_std(started + deadline),
        wait_ready(&resources, &expected, started, &progress),
    )
    .await;
    let progress = progress
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let finished = progress.finished;
    let ready: Vec<usize> = progress.ready.iter().map(HashSet::len).collect();
    let taken = started.elapsed();
    let _ = stop.send(());
    match tokio::time::timeout(Duration::from_secs(30), running).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => bail!("the operator failed: {e}"),
        Ok(Err(e)) => bail!("the operator panicked: {e}"),
        Err(_) => eprintln!("the operator did not stop within 30 s"),
    }

    // Assert (print): calls, failures, time, bound; per organization, then in total.
    let mut all = Vec::new();
    for (org, sim) in sims.iter().enumerate() {
        let requests = sim.requests();
        if k > 1 {
            let calls = Calls::of(&requests);
            let took = finished[org].unwrap_or(taken);
            let bound =
                Duration::from_secs_f64(calls.api as f64 * 60.0 / f64::from(args.rate_limit));
            println!(
                "org {org}: {} offboardings, {} not Ready, {} × 429, {} API calls ({:.2} per offboarding), \
                 time {:.1} s, bound {:.1} s, ratio {:.3}",
                per_org(org),
                per_org(org) - ready[org],
                calls.rate_limited,
                calls.api,
                calls.api as f64 / per_org(org).max(1) as f64,
                took.as_secs_f64(),
                bound.as_secs_f64(),
                bound.as_secs_f64() / took.as_secs_f64()
            );
        }
        all.extend(requests);
    }
    let calls = Calls::of(&all);
    let budget = f64::from(args.rate_limit) * k as f64;
    let bound = Duration::from_secs_f64(calls.api as f64 * 60.0 / budget);
    let ratio = bound.as_secs_f64() / taken.as_secs_f64();
    let ready: usize = ready.iter().sum();
    println!("calls per offboarding: {}", calls.per_offboarding(n));
    println!(
        "calls: {} API calls, {} token requests",
        calls.api, calls.oauth
    );
    println!(
        "failed: {} not Ready, {} responses 429",
        n - ready,
        calls.rate_limited
    );
    println!("time taken: {:.1} s", taken.as_secs_f64());
    println!(
        "bound: {:.1} s ({} API calls / {k} × {} per minute)",
        bound.as_secs_f64(),
        calls.api,
        args.rate_limit
    );
    for sim in sims {
        sim.shutdown().await;
    }
    api.shutdown().await;

    if args.peer {
        peer(n, fixtures.swap_remove(0), taken).await?;
    }
    println!("ratio-to-bound: {ratio:.3}");
    Ok(())
}

/// The Secret of organization `org`'s OAuth client.
fn secret_name(org: usize) -> String {
    format!("{SECRET}-{org}")
}

/// The tutorial's way, on a fresh emulator with the same settings.
async fn peer(
    n: usize,
    fixture: genesys_emulator::fixture::Fixture,
    operator_took: Duration,
) -> anyhow::Result<()> {
    let python = repo().join(".tools/venv/bin/python");
    if !python.exists() {
        bail!(
            "{} is missing: run scripts/test once to install the Python SDK",
            python.display()
        );
    }
    let sim = Sim::start(fixture).await?;
    let started = Instant::now();
    let output = tokio::process::Command::new(&python)
        .arg(repo().join("tests/sdk/peer_offboard.py"))
        .arg("--base-url")
        .arg(sim.base_url().as_str())
        .arg("--users")
        .arg(n.to_string())
        .output()
        .await
        .context("failed to run the Python peer")?;
    let taken = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .with_context(|| {
            format!(
                "the peer printed no summary; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let calls = Calls::of(&sim.requests());
    let inactive = (0..n)
        .filter(|i| {
            sim.user(&org::user_id(*i))
                .is_some_and(|u| u["state"] == "inactive")
        })
        .count();
    sim.shutdown().await;
    println!("peer calls per offboarding: {}", calls.per_offboarding(n));
    println!(
        "peer failed: {} of {n} (of which 429: {}); users inactive after the peer: {inactive}; 429 responses seen: {}",
        summary["failed"], summary["rate_limited"], calls.rate_limited
    );
    println!(
        "peer time taken: {:.1} s; operator: {:.1} s; peer ÷ operator: {:.2}",
        taken.as_secs_f64(),
        operator_took.as_secs_f64(),
        taken.as_secs_f64() / operator_took.as_secs_f64()
    );
    Ok(())
}

async fn create_secret(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "stringData": {"clientId": "demo-client", "clientSecret": "demo-secret"},
    }))?;
    Api::<Secret>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &secret)
        .await?;
    Ok(())
}

/// Which offboardings are Ready, per organization, and when each organization's last one was
/// first seen Ready.
struct Progress {
    ready: Vec<HashSet<String>>,
    finished: Vec<Option<Duration>>,
}

/// Waits until every organization has `expected[org]` offboardings Ready, from one watch of the
/// resources: each change is read once. (Listing every resource with its status four times a
/// second cost a core at N=1000 and slowed the operator it measures.) Agent `i`'s resource
/// `agent-i` is organization `i mod k`'s.
async fn wait_ready(
    resources: &Api<GenesysUserOffboarding>,
    expected: &[usize],
    started: Instant,
    progress: &std::sync::Mutex<Progress>,
) {
    let k = expected.len();
    let org_of = |r: &GenesysUserOffboarding| {
        r.metadata
            .name
            .as_deref()
            .and_then(|name| name.strip_prefix("agent-"))
            .and_then(|i| i.parse::<usize>().ok())
            .map(|i| i % k)
    };
    let mut events = std::pin::pin!(watcher(resources.clone(), watcher::Config::default()));
    while let Some(event) = events.next().await {
        let (r, present) = match event {
            Ok(watcher::Event::Apply(r) | watcher::Event::InitApply(r)) => (r, true),
            Ok(watcher::Event::Delete(r)) => (r, false),
            Ok(watcher::Event::Init | watcher::Event::InitDone) => continue,
            Err(e) => {
                eprintln!("watch: {e}");
                continue;
            }
        };
        let Some(org) = org_of(&r) else { continue };
        let done = present
            && r.status
                .as_ref()
                .and_then(|s| s.condition(condition::READY))
                .is_some_and(|c| c.status == "True");
        let name = r.metadata.name.clone().unwrap_or_default();
        let mut progress = progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if done {
            progress.ready[org].insert(name);
        } else {
            progress.ready[org].remove(&name);
        }
        if progress.finished[org].is_none() && progress.ready[org].len() == expected[org] {
            progress.finished[org] = Some(started.elapsed());
        }
        if progress.finished.iter().all(Option::is_some) {
            return;
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}
