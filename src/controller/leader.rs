//! Leader election with a `coordination.k8s.io` Lease (`kube-lease-manager`): off by default,
//! required for more than one replica. Only the holder of the lease runs the controller; a
//! replica that loses the lease stops reconciling (in-flight passes finish, bounded by the drain
//! timeout) and waits to win it again. On shutdown the lease is released so a standby takes over
//! at once. I/O: Kubernetes Lease reads and server-side applies.
//!
//! The lease manager keeps calling this replica the leader for as long as it cannot reach the
//! Lease, so a leader whose renewals fail would go on reconciling after its lease expired and
//! another replica took it over: both would offboard the same users at once. A guard therefore
//! re-reads the Lease during each term (every quarter of `renew_before`) and ends the term when
//! the last renewal it saw is about to expire (half of `renew_before` before), or when the Lease
//! names someone else; passes still running a quarter of `renew_before` before the lease
//! expires are abandoned (safe: status is persisted after every step), early enough for a
//! status write already sent to land while the lease holds. A term starts only on a Lease the
//! server shows held by this replica and freshly renewed.

use std::future::Future;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;

use super::Stop;
use crate::admin::Health;
use crate::telemetry::Metrics;

/// Where the lease lives and who this replica is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElection {
    /// The Lease's name (`--lease-name`).
    pub lease_name: String,
    /// The Lease's namespace (`--lease-namespace`, env `POD_NAMESPACE`).
    pub lease_namespace: String,
    /// This replica's identity in the Lease (the pod name when known).
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How long before expiry the holder renews.
    pub renew_before: Duration,
}

impl LeaderElection {
    /// 15 s leases renewed 5 s before expiry.
    pub fn new(
        lease_name: impl Into<String>,
        lease_namespace: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            lease_name: lease_name.into(),
            lease_namespace: lease_namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_before: Duration::from_secs(5),
        }
    }
}

/// Leader election could not run.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error(
        "leader election needs a lease duration longer than its renewal margin, both at least 1s"
    )]
    Durations,
    #[error("failed to set up the Lease {namespace}/{name}")]
    Lease {
        namespace: String,
        name: String,
        #[source]
        source: LeaseManagerError,
    },
    #[error("the lease manager stopped")]
    Stopped(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Runs `work` for each term as leader until `stop`; `work` gets a [`Stop`] that fires when the
/// term ends (lease lost, or `stop`).
pub async fn lead<W, F>(
    client: Client,
    election: &LeaderElection,
    health: &Health,
    metrics: &Metrics,
    stop: Stop,
    mut work: W,
) -> Result<(), LeaderError>
where
    W: FnMut(Stop) -> F,
    F: Future<Output = ()>,
{
    let duration = election.lease_duration.as_secs();
    let grace = election.renew_before.as_secs();
    if grace == 0 || duration <= grace {
        return Err(LeaderError::Durations);
    }
    let lease_error = |source| LeaderError::Lease {
        namespace: election.lease_namespace.clone(),
        name: election.lease_name.clone(),
        source,
    };
    let manager = LeaseManagerBuilder::new(client.clone(), &election.lease_name)
        .with_namespace(&election.lease_namespace)
        .with_identity(&election.identity)
        .with_duration(duration)
        .with_grace(grace)
        .build()
        .await
        .map_err(lease_error)?;
    let (mut leading, task) = manager.watch().await;
    let leases: Api<Lease> = Api::namespaced(client, &election.lease_namespace);
    loop {
        health.set_standby(true);
        metrics.set_leader(false);
        tracing::info!(identity = %election.identity, lease = %election.lease_name, "waiting for the leader lease");
        tokio::select! {
            () = stop.wait() => break,
            won = leading.wait_for(|leader| *leader) => {
                if won.is_err() {
                    break;
                }
            }
        }
        let Some(held) = confirm(&leases, election, &stop, &mut leading).await else {
            if stop.is_stopped() {
                break;
            }
            continue;
        };
        health.set_standby(false);
        metrics.set_leader(true);
        tracing::info!(identity = %election.identity, "acquired the leader lease: reconciling");
        let guard = Guard::start(leases.clone(), election.clone(), held);
        let term = Stop::any(
            &stop,
            Stop::any(&lost(leading.clone()), guard.lapsed.clone()),
        );
        let abandoned = tokio::select! {
            () = work(term) => false,
            () = guard.expired.wait() => true,
        };
        guard.task.abort();
        metrics.set_leader(false);
        if abandoned {
            health.set_synced(false);
            tracing::warn!(identity = %election.identity, "the leader lease expired before in-flight passes finished: abandoned them");
        }
        if stop.is_stopped() {
            break;
        }
        tracing::warn!(identity = %election.identity, "lost the leader lease: stopped reconciling");
    }
    health.set_standby(false);
    // Dropping the last receiver makes the manager release the lease and end.
    drop(leading);
    match task.await {
        Ok(Ok(_)) => {
            tracing::info!("leader lease released");
            Ok(())
        }
        Ok(Err(e)) => Err(LeaderError::Stopped(Box::new(e))),
        Err(e) => Err(LeaderError::Stopped(Box::new(e))),
    }
}

/// How often a leader re-reads its Lease.
fn check_interval(election: &LeaderElection) -> Duration {
    (election.renew_before / 4).max(Duration::from_millis(100))
}

/// How long before its lease expires a leader stops starting passes.
fn margin(election: &LeaderElection) -> Duration {
    election.renew_before / 2
}

/// When this replica's lease expires, as the Lease on the server says; `None` when the Lease
/// does not name this replica.
async fn held_until(
    leases: &Api<Lease>,
    election: &LeaderElection,
) -> Result<Option<SystemTime>, kube::Error> {
    let Some(spec) = leases
        .get_opt(&election.lease_name)
        .await?
        .and_then(|lease| lease.spec)
    else {
        return Ok(None);
    };
    if spec.holder_identity.as_deref() != Some(election.identity.as_str()) {
        return Ok(None);
    }
    let Some(renewed) = spec.renew_time.or(spec.acquire_time) else {
        return Ok(None);
    };
    let duration = spec
        .lease_duration_seconds
        .and_then(|seconds| u64::try_from(seconds).ok())
        .map_or(election.lease_duration, Duration::from_secs);
    Ok(Some(SystemTime::from(renewed.0) + duration))
}

/// Waits until the server shows this replica holding a freshly renewed lease; `None` when
/// `stop` fires or the lease manager stops calling this replica the leader first.
async fn confirm(
    leases: &Api<Lease>,
    election: &LeaderElection,
    stop: &Stop,
    leading: &mut watch::Receiver<bool>,
) -> Option<SystemTime> {
    loop {
        if stop.is_stopped() || !*leading.borrow() {
            return None;
        }
        match held_until(leases, election).await {
            Ok(Some(expires)) if SystemTime::now() + margin(election) < expires => {
                return Some(expires);
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "cannot read the leader lease"),
        }
        tokio::select! {
            () = stop.wait() => return None,
            _ = leading.wait_for(|leader| !*leader) => return None,
            () = tokio::time::sleep(check_interval(election)) => {}
        }
    }
}

/// Watches the Lease during a term: `lapsed` fires [`margin`] before the last renewal seen
/// expires (or at once when the Lease names someone else), `expired` half a [`margin`] before it
/// expires, so that a status write already on its way when the passes are abandoned lands while
/// the lease still holds (abandoning at the expiry itself let one land 5 ms after it, once in a
/// 500-offboarding soak). A Lease read that is slow never delays either: it is cut off at the
/// next deadline.
struct Guard {
    lapsed: Stop,
    expired: Stop,
    task: tokio::task::JoinHandle<()>,
}

impl Guard {
    fn start(leases: Api<Lease>, election: LeaderElection, expires: SystemTime) -> Self {
        let (lapsed_tx, lapsed_rx) = watch::channel(false);
        let (expired_tx, expired_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut expires = expires;
            loop {
                let now = SystemTime::now();
                let lapse_at = expires.checked_sub(margin(&election)).unwrap_or(expires);
                let abandon_at = expires
                    .checked_sub(margin(&election) / 2)
                    .unwrap_or(expires);
                if now >= lapse_at && !*lapsed_tx.borrow() {
                    tracing::warn!(identity = %election.identity, "the leader lease was not renewed in time: stopping");
                    lapsed_tx.send_replace(true);
                }
                if now >= abandon_at {
                    expired_tx.send_replace(true);
                    return;
                }
                let next = if now < lapse_at { lapse_at } else { abandon_at };
                let until_next = next.duration_since(now).unwrap_or_default();
                tokio::time::sleep(until_next.min(check_interval(&election))).await;
                // The read may take longer than the time left: it is given only until the next
                // deadline, and the loop checks the deadlines again either way.
                let left = next
                    .duration_since(SystemTime::now())
                    .unwrap_or_default()
                    .max(Duration::from_millis(1));
                match tokio::time::timeout(left, held_until(&leases, &election)).await {
                    Ok(Ok(Some(renewed))) => expires = expires.max(renewed),
                    Ok(Ok(None)) => {
                        tracing::warn!(identity = %election.identity, "the leader lease names another holder: stopping");
                        lapsed_tx.send_replace(true);
                        expired_tx.send_replace(true);
                        return;
                    }
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "cannot read the leader lease; keeping the last renewal seen");
                    }
                    Err(_) => {
                        tracing::debug!(
                            "the leader lease read outlasted the next deadline; keeping the last renewal seen"
                        );
                    }
                }
            }
        });
        Self {
            lapsed: Stop(lapsed_rx),
            expired: Stop(expired_rx),
            task,
        }
    }
}

/// A [`Stop`] that fires when `leading` turns false (or the lease manager ends).
fn lost(mut leading: watch::Receiver<bool>) -> Stop {
    Stop::when(async move {
        let _ = leading.wait_for(|leader| !*leader).await;
    })
}
