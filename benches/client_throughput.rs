//! Client throughput against the emulator with the limiter on: requests/s achieved vs the
//! configured per-minute limit, and how many 429s the emulator answered (the aim: >= 95 % of
//! the limit and no 429).
//!
//! `cargo bench --bench client_throughput -- [--rpm N] [--seconds S] [--tasks T] [--users U]`,
//! or the environment variables `BENCH_RPM`, `BENCH_SECONDS`, `BENCH_TASKS`, `BENCH_USERS`.
//! Defaults: 600 requests/minute for 60 s, 16 concurrent tasks, 200 users. The emulator
//! enforces the same limit per token, as Genesys does.
//!
//! `cargo test --all-targets` also runs this binary, without the `--bench` flag that `cargo
//! bench` passes: it then makes a 2-second smoke run (unless `--seconds`/`BENCH_SECONDS` says
//! otherwise), so the test suite checks that the benchmark works without paying for a full run.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use genesys_cloud::{ClientConfig, ClientCredentials, Endpoints, GenesysClient, UserId};
use genesys_emulator::Sim;
use genesys_emulator::fixture::Fixture;

struct Settings {
    rpm: u32,
    seconds: u64,
    tasks: usize,
    users: usize,
}

fn setting(args: &[String], flag: &str, env: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .or_else(|| std::env::var(env).ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn settings() -> Settings {
    let args: Vec<String> = std::env::args().collect();
    let full_run = args.iter().any(|a| a == "--bench");
    Settings {
        rpm: u32::try_from(setting(&args, "--rpm", "BENCH_RPM", 600)).unwrap_or(600),
        seconds: setting(
            &args,
            "--seconds",
            "BENCH_SECONDS",
            if full_run { 60 } else { 2 },
        ),
        tasks: usize::try_from(setting(&args, "--tasks", "BENCH_TASKS", 16)).unwrap_or(16),
        users: usize::try_from(setting(&args, "--users", "BENCH_USERS", 200)).unwrap_or(200),
    }
}

/// A demo-like org: one OAuth client, a queue, and `users` agents.
fn fixture(rpm: u32, users: usize) -> Fixture {
    let mut yaml = format!(
        "requestsPerMinute: {rpm}\n\
         oauthClients:\n  - {{ clientId: demo-client, clientSecret: demo-secret }}\n\
         queues:\n  - {{ id: q1, name: Support }}\nusers:\n"
    );
    for i in 0..users {
        let _ = writeln!(
            yaml,
            "  - {{ id: bench-user-{i}, name: Agent {i}, email: agent{i}@example.com, queues: [{{ queueId: q1 }}] }}"
        );
    }
    Fixture::from_yaml(&yaml).expect("the benchmark fixture is valid")
}

#[tokio::main]
async fn main() {
    let s = settings();
    let sim = Sim::start(fixture(s.rpm, s.users))
        .await
        .expect("the emulator starts");
    let config = ClientConfig::new(
        Endpoints::single(sim.base_url()).expect("loopback URL"),
        ClientCredentials::new("demo-client", "demo-secret".to_owned()),
    )
    .with_requests_per_minute(s.rpm);
    let client = GenesysClient::new(config).expect("client");
    client.authenticate().await.expect("token");
    let (effective, burst) = client.effective_rate();
    println!(
        "client_throughput: limit {} req/min, client budget {effective} req/min + burst {burst}, {} tasks, {} s",
        s.rpm, s.tasks, s.seconds
    );

    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(s.seconds);
    let tasks: Vec<_> = (0..s.tasks)
        .map(|t| {
            let (client, ok, failed) = (client.clone(), ok.clone(), failed.clone());
            let users = s.users;
            tokio::spawn(async move {
                let mut n = t;
                while Instant::now() < deadline {
                    let id = UserId::new(format!("bench-user-{}", n % users));
                    n += 7;
                    let call = tokio::time::timeout_at(deadline.into(), client.get_user(&id, &[]));
                    match call.await {
                        Ok(Ok(_)) => ok.fetch_add(1, Ordering::Relaxed),
                        Ok(Err(e)) => {
                            eprintln!("call failed: {e}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(_) => break,
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests = sim.requests();
    let api: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v2/"))
        .collect();
    let too_many = api.iter().filter(|r| r.status == 429).count();
    let ok = ok.load(Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss)]
    let achieved = ok as f64 / elapsed;
    let limit = f64::from(s.rpm) / 60.0;
    println!("elapsed            {elapsed:.1} s");
    println!(
        "successful calls   {ok} (failed {})",
        failed.load(Ordering::Relaxed)
    );
    println!(
        "achieved           {achieved:.2} req/s ({:.1} req/min)",
        achieved * 60.0
    );
    println!("configured limit   {limit:.2} req/s ({} req/min)", s.rpm);
    println!("ratio              {:.1} %", 100.0 * achieved / limit);
    println!(
        "429 responses      {too_many} (of {} API requests seen by the emulator)",
        api.len()
    );
    sim.shutdown().await;
    // Numbers are reported, never asserted; failures and 429s are correctness, not speed.
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 || too_many > 0 {
        eprintln!("client_throughput: {failed} failed call(s), {too_many} response(s) 429");
        std::process::exit(1);
    }
}
