//! The chaos soak, small and seeded (`support::soak` says what it does and checks): six
//! offboardings through two replicas of the REAL binary with leader election, against the
//! emulator on its realistic profile, with random faults on the Genesys and the Kubernetes side
//! and the leader killed (SIGKILL) three times. The 500-offboarding run is `examples/soak.rs`
//! (figures in `docs/reliability-soak.md`).
//!
//! The seed is printed; `SOAK_SEED=N` replays a run. A binary of its own, like `tests/crash.rs`:
//! its operator processes should not compete with other tests for the two cores.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::soak::{SoakConfig, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_under_faults_and_leader_kills_offboard_everyone_once_and_only_the_leader_writes()
 {
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        });
    println!("soak seed: {seed} (replay with SOAK_SEED={seed})");
    let config = SoakConfig {
        seed,
        resources: 6,
        leader_kills: 3,
        fault_every: 10,
        client_timeouts: false,
        latency_ms: 5,
        binary: env!("CARGO_BIN_EXE_genesys-offboarding").into(),
        patience: Duration::from_secs(120),
        concurrency: 8,
    };

    let report = run(&config).await.unwrap_or_else(|e| panic!("{e}"));

    println!("{}", report.render(seed));
    assert_eq!(report.leader_kills, 3);
    assert_eq!(report.user_deletes, 0);
    assert!(
        report.faults.values().sum::<usize>() > 0,
        "faults were injected"
    );
    assert!(report.status_writes > 0, "status writes were checked");
}
