//! `kubectl offboard status NAME [-n NAMESPACE]`: one resource as it stands in the cluster, read
//! through the kubeconfig (`KUBECONFIG` or `~/.kube/config`, as kubectl reads it): its verdict,
//! its conditions and its action timeline (`status.actions`, oldest first) as tables, then the
//! sections of the status that are present (user, steps left, memberships only reported,
//! history). Times are printed as stored (RFC 3339, UTC), never relative, so the output is the
//! same whenever it is read. Exit codes: 0 printed; 1 not found or the cluster not reached.
//! I/O: one Kubernetes `GET`, stdout, stderr.

use std::fmt::Write as _;
use std::io::Write;

use clap::Args;
use kube::api::Api;

use super::{Verdict, View, indented, sections, table};
use crate::crd::{ActionOutcome, GenesysUserOffboarding};
use crate::reconcile::error::chain;

/// Arguments of `kubectl offboard status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// The `GenesysUserOffboarding`'s name.
    pub name: String,
    /// Its namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// Reads the resource and prints it to `out`; errors go to `notes`. The exit code.
pub async fn run(
    args: &StatusArgs,
    out: &mut (dyn Write + Send),
    notes: &mut (dyn Write + Send),
) -> i32 {
    let client = match kube::Client::try_default().await {
        Ok(client) => client,
        Err(e) => {
            let _ = writeln!(
                notes,
                "error: failed to reach the cluster of the kubeconfig: {}",
                chain(&e)
            );
            return 1;
        }
    };
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let api: Api<GenesysUserOffboarding> = Api::namespaced(client, &namespace);
    match api.get_opt(&args.name).await {
        Ok(Some(resource)) => {
            if out.write_all(text(&resource).as_bytes()).is_err() {
                return 1;
            }
            0
        }
        Ok(None) => {
            let _ = writeln!(
                notes,
                "error: genesysuseroffboarding {namespace}/{} not found",
                args.name
            );
            1
        }
        Err(e) => {
            let _ = writeln!(
                notes,
                "error: failed to read genesysuseroffboarding {namespace}/{}: {}",
                args.name,
                chain(&e)
            );
            1
        }
    }
}

/// `status` on stdout and stderr; the exit code.
pub async fn run_stdio(args: &StatusArgs) -> i32 {
    let (mut out, mut notes) = (std::io::stdout(), std::io::stderr());
    run(args, &mut out, &mut notes).await
}

/// The resource for a person.
pub fn text(resource: &GenesysUserOffboarding) -> String {
    let view = View::of(resource);
    let mut out = String::new();
    let _ = writeln!(out, "Offboarding {}", view.qualified_name());
    let verdict = match view.verdict {
        Verdict::Ready => "Ready",
        Verdict::Stalled => "Stalled",
        Verdict::InProgress => "In progress",
    };
    if view.message.is_empty() {
        let _ = writeln!(out, "  {verdict}: {}", view.reason);
    } else {
        let _ = writeln!(out, "  {verdict}: {}: {}", view.reason, view.message);
    }
    let _ = writeln!(
        out,
        "  managementPolicy {:?}, deletionPolicy {:?}",
        resource.spec.management_policy, resource.spec.deletion_policy
    );
    let status = resource.status.clone().unwrap_or_default();
    if !status.conditions.is_empty() {
        out.push_str("\nConditions\n");
        let rows: Vec<Vec<String>> = status
            .conditions
            .iter()
            .map(|c| {
                vec![
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.last_transition_time.0.to_string(),
                    c.message.clone(),
                ]
            })
            .collect();
        indented(
            &table(
                Some(&["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"]),
                &rows,
            ),
            &mut out,
        );
    }
    if !status.actions.is_empty() {
        out.push_str("\nActions (oldest first)\n");
        let rows: Vec<Vec<String>> = status
            .actions
            .iter()
            .map(|a| {
                let detail = match (&a.message, &a.read_back) {
                    (Some(message), Some(read)) => format!("{message}; read back: {read}"),
                    (Some(message), None) => message.clone(),
                    (None, Some(read)) => format!("read back: {read}"),
                    (None, None) => String::new(),
                };
                vec![
                    a.time.0.to_string(),
                    a.step.to_string(),
                    a.target.clone().unwrap_or_default(),
                    outcome(a.outcome).to_owned(),
                    detail,
                ]
            })
            .collect();
        indented(
            &table(
                Some(&["TIME", "STEP", "TARGET", "OUTCOME", "DETAIL"]),
                &rows,
            ),
            &mut out,
        );
    }
    sections(&view, &mut out);
    out
}

fn outcome(outcome: ActionOutcome) -> &'static str {
    match outcome {
        ActionOutcome::Succeeded => "Succeeded",
        ActionOutcome::Skipped => "Skipped",
        ActionOutcome::Failed => "Failed",
        ActionOutcome::Unconfirmed => "Unconfirmed",
        ActionOutcome::Accepted => "Accepted",
    }
}
