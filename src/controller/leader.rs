//! Leader election with a `coordination.k8s.io` Lease (`kube-lease-manager`): off by default,
//! required for more than one replica. Only the holder of the lease runs the controller; a
//! replica that loses the lease stops reconciling (in-flight passes finish, bounded by the drain
//! timeout) and waits to win it again. On shutdown the lease is released so a standby takes over
//! at once. I/O: Kubernetes Lease reads and server-side applies.

use std::future::Future;
use std::time::Duration;

use kube::Client;
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
    let manager = LeaseManagerBuilder::new(client, &election.lease_name)
        .with_namespace(&election.lease_namespace)
        .with_identity(&election.identity)
        .with_duration(duration)
        .with_grace(grace)
        .build()
        .await
        .map_err(lease_error)?;
    let (mut leading, task) = manager.watch().await;
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
        health.set_standby(false);
        metrics.set_leader(true);
        tracing::info!(identity = %election.identity, "acquired the leader lease: reconciling");
        let term = Stop::any(&stop, lost(leading.clone()));
        work(term).await;
        metrics.set_leader(false);
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

/// A [`Stop`] that fires when `leading` turns false (or the lease manager ends).
fn lost(mut leading: watch::Receiver<bool>) -> Stop {
    Stop::when(async move {
        let _ = leading.wait_for(|leader| !*leader).await;
    })
}
