//! Many `Ready` offboardings in the fake API server, for the runs that watch them
//! (`examples/memory.rs`, `examples/failover.rs`): one agent is offboarded for real by an
//! operator in this process to get a genuine `Ready` status, which is then copied onto the
//! others, with the next drift check a month away. Also: where the release binary is, and its
//! resident memory.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::{StreamExt, TryStreamExt};
use genesys_cloud::AllowedEndpoints;
use genesys_offboarding_operator::controller::{Operator, Settings};
use genesys_offboarding_operator::crd::{GenesysUserOffboarding, condition};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// Offboards the user of `spec` as resource `agent-0` (kept as one of the Ready ones) with an
/// in-process operator, then creates `agent-1` … `agent-{n-1}` with the same spec and a copy of
/// its `Ready` status whose next drift check is a month away.
pub async fn create(
    client: &kube::Client,
    namespace: &str,
    spec: &serde_json::Value,
    n: usize,
) -> anyhow::Result<()> {
    let resources: &Api<GenesysUserOffboarding> = &Api::namespaced(client.clone(), namespace);
    let status = template_status(client, resources, namespace, spec).await?;
    let next_check = (chrono::Utc::now() + chrono::Duration::days(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    futures::stream::iter(1..n)
        .map(|i| {
            let (status, next_check) = (&status, &next_check);
            async move {
                let name = format!("agent-{i}");
                let resource: GenesysUserOffboarding = serde_json::from_value(json!({
                    "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
                    "kind": "GenesysUserOffboarding",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": spec,
                }))?;
                resources.create(&PostParams::default(), &resource).await?;
                let mut status = status.clone();
                status["nextDriftCheck"] = json!(next_check);
                resources
                    .patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"status": status})),
                    )
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Offboards the user of `spec` as resource `agent-0` with an in-process operator and returns
/// its `Ready` status.
async fn template_status(
    client: &kube::Client,
    resources: &Api<GenesysUserOffboarding>,
    namespace: &str,
    spec: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let operator = Operator::new(
        client.clone(),
        Settings {
            genesys_rate_limit: 100_000,
            allowed_endpoints: AllowedEndpoints::parse(["127.0.0.1"])?,
            ..Settings::default()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(operator.run(async move {
        let _ = stopped.await;
    }));
    let resource: GenesysUserOffboarding = serde_json::from_value(json!({
        "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
        "kind": "GenesysUserOffboarding",
        "metadata": {"name": "agent-0", "namespace": namespace},
        "spec": spec,
    }))?;
    resources.create(&PostParams::default(), &resource).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let current = resources.get("agent-0").await?;
        if let Some(status) = &current.status
            && status
                .condition(condition::READY)
                .is_some_and(|c| c.status == "True")
        {
            break serde_json::to_value(status)?;
        }
        if Instant::now() > deadline {
            bail!("the template offboarding never became Ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), running).await;
    Ok(status)
}

/// The release binary of the operator (`cargo build --release --bin genesys-offboarding`), in
/// `CARGO_TARGET_DIR` when set, else in the workspace's `target/`; `OPERATOR_BINARY` names
/// another one (e.g. a debug build, when the release build is not at hand).
pub fn operator_binary() -> anyhow::Result<PathBuf> {
    if let Some(binary) = std::env::var_os("OPERATOR_BINARY") {
        return Ok(PathBuf::from(binary));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    let binary = target.join("release/genesys-offboarding");
    if !binary.exists() {
        bail!(
            "{} is missing: cargo build --release --bin genesys-offboarding",
            binary.display()
        );
    }
    Ok(binary)
}

/// `VmRSS` and `VmHWM` of a process, in bytes.
pub fn memory(pid: u32) -> anyhow::Result<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .context("no value")?
            .parse()?;
        Ok(kib * 1024)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

#[allow(clippy::cast_precision_loss)]
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
