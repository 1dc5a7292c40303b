//! `genesys-offboarding plan -f FILE`: what applying the file would do, without doing it.
//!
//! Each resource of the file (checked as a whole first, as `reconcile -f` checks it) is run in
//! Observe mode (`managementPolicy: Observe` forced, whatever the file says) by the one-shot
//! driver: the reconciler resolves the user, takes the snapshot, counts the history and plans,
//! and holds before the first step that would write to Genesys. `spec.effectiveAt` and
//! `spec.suspend` are set aside for the pass (both stop a pass before it plans) and shown in
//! the output, so the plan is what would run once they allow it. The credentials come from the
//! environment (as for `reconcile -f`), from the Secret the resource names in its namespace
//! (`--from-cluster`, read through the kubeconfig), or from the embedded emulator (`--sim`).
//!
//! Exit codes: 0 every resource planned; 1 the plan could not be made (the file unreadable, no
//! credentials, Genesys unreachable, `--max-wait` reached); 3 the operator would stall on a
//! resource (an ambiguous or missing user, a file refused as invalid, a missing Secret): the
//! reason is printed. (2 is clap's, for a wrong command line.) I/O: the file, the environment,
//! the kubeconfig and the cluster's Secrets with `--from-cluster`, Genesys reads, stdout, stderr.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Serialize;
use tokio::time::Instant;

use super::{Verdict, View, sections};
use crate::controller::secrets::SecretClientProvider;
use crate::crd::{GenesysUserOffboarding, ManagementPolicy};
use crate::oneshot::manifest::Refusal;
use crate::oneshot::{
    Embedded, Events, OneShotError, OutputFormat, ReconcileArgs, drive_resources, env_client, load,
    parse_wait,
};
use crate::reconcile::error::chain;

/// Exit code: every resource was planned.
pub const EXIT_PLANNED: i32 = 0;
/// Exit code: the plan could not be made.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: the operator would stall on a resource (the reason is printed).
pub const EXIT_STALLED: i32 = 3;

/// The request budget per minute of the Genesys client built from a cluster Secret: the
/// client's default, as for credentials from the environment.
const REQUESTS_PER_MINUTE: u32 = 300;

/// Arguments of `plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// A YAML file holding one or more `GenesysUserOffboarding` resources, checked as a whole
    /// first as `reconcile -f` checks it (other kinds are skipped with a note).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// Plan against the embedded Genesys Cloud emulator, with its demo organization or the
    /// given fixture file, instead of a real org. (Built with the default `emulator` feature
    /// only.)
    #[cfg(feature = "emulator")]
    #[arg(long, value_name = "FIXTURE", num_args = 0..=1, conflicts_with = "from_cluster")]
    pub sim: Option<Option<PathBuf>>,
    /// The emulator's behaviour with --sim: `realistic` (the default) or `default`.
    #[cfg(feature = "emulator")]
    #[arg(long, value_enum, default_value = "realistic", requires = "sim")]
    pub sim_profile: genesys_emulator::fixture::Profile,
    /// Take each resource's credentials from the Secret its `spec.credentialsSecretRef` names,
    /// in its namespace, read from the cluster of the current kubeconfig context (as the
    /// operator reads them), instead of `GENESYS_CLIENT_ID` / `GENESYS_CLIENT_SECRET`.
    #[arg(long)]
    pub from_cluster: bool,
    /// The namespace of the resources that name none (default: the kubeconfig context's with
    /// --from-cluster).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Genesys API base URL, instead of the resource's region or base URLs (needs --login-url).
    #[arg(
        long,
        value_name = "URL",
        requires = "login_url",
        conflicts_with = "from_cluster"
    )]
    #[cfg_attr(feature = "emulator", arg(conflicts_with = "sim"))]
    pub api_url: Option<String>,
    /// Genesys login base URL (needs --api-url).
    #[arg(
        long,
        value_name = "URL",
        requires = "api_url",
        conflicts_with = "from_cluster"
    )]
    #[cfg_attr(feature = "emulator", arg(conflicts_with = "sim"))]
    pub login_url: Option<String>,
    /// A host the FILE's `spec.apiBaseUrl` / `spec.loginBaseUrl` may name, `HOST` or
    /// `HOST:PORT` (repeatable, or comma-separated in `ALLOWED_ENDPOINTS`), as for `reconcile`.
    #[arg(
        long = "allowed-endpoint",
        value_name = "HOST[:PORT]",
        env = "ALLOWED_ENDPOINTS",
        value_delimiter = ','
    )]
    pub allowed_endpoints: Vec<genesys_cloud::AllowedEndpoint>,
    /// Output format: `text` for a person, `yaml` or `json` for a program (the same data).
    #[arg(short = 'o', long = "output", value_enum, default_value_t = PlanFormat::Text)]
    pub output: PlanFormat,
    /// How long planning may take, e.g. 30s or 2m.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_wait)]
    pub max_wait: Duration,
}

/// The output formats of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Yaml,
    Json,
}

/// The printed plan of a file (`-o yaml|json`): one view per resource, in file order.
#[derive(Debug, Clone, Serialize)]
pub struct Plans {
    pub plans: Vec<View>,
}

impl PlanArgs {
    /// The same settings as `reconcile --dry-run` takes them, for the one-shot machinery.
    fn as_reconcile(&self) -> ReconcileArgs {
        ReconcileArgs {
            file: self.file.clone(),
            #[cfg(feature = "emulator")]
            sim: self.sim.clone(),
            #[cfg(feature = "emulator")]
            sim_profile: self.sim_profile,
            api_url: self.api_url.clone(),
            login_url: self.login_url.clone(),
            allowed_endpoints: self.allowed_endpoints.clone(),
            dry_run: true,
            output: OutputFormat::Yaml,
            max_wait: self.max_wait,
        }
    }
}

/// Makes the plan, writes it to `out` and notes to `notes`; returns the exit code.
pub async fn run(
    args: &PlanArgs,
    out: &mut (dyn Write + Send),
    notes: &mut (dyn Write + Send),
) -> i32 {
    let deadline = Instant::now() + args.max_wait;
    let reconcile_args = args.as_reconcile();
    let loaded = match load(&args.file) {
        Ok(loaded) => loaded,
        Err(OneShotError::Refused { path, refusals }) => {
            let _ = writeln!(notes, "{path} is refused, nothing was sent to Genesys:");
            for refusal in &refusals {
                let _ = writeln!(notes, "  {refusal}");
            }
            if refusals.iter().any(Refusal::is_invalid_spec) {
                let _ = writeln!(
                    notes,
                    "Stalled: {}: the operator would stall such a resource and change nothing",
                    crate::crd::reason::INVALID_SPEC
                );
            }
            return EXIT_STALLED;
        }
        Err(e) => return failed(&e, notes),
    };
    for skipped in &loaded.skipped {
        let _ = writeln!(notes, "{skipped}");
    }
    let sim = match Embedded::start_if_asked(&reconcile_args).await {
        Ok(sim) => sim,
        Err(e) => return failed(&e, notes),
    };
    let code = match plan_resources(
        args,
        &reconcile_args,
        loaded.resources,
        sim.as_ref(),
        deadline,
        notes,
    )
    .await
    {
        Ok(views) => print(args, views, out, notes),
        Err(e) => failed(&e, notes),
    };
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    code
}

/// `plan` on stdout and stderr; the exit code.
pub async fn run_stdio(args: &PlanArgs) -> i32 {
    let (mut out, mut notes) = (std::io::stdout(), std::io::stderr());
    Box::pin(run(args, &mut out, &mut notes)).await
}

fn failed(error: &OneShotError, notes: &mut (dyn Write + Send)) -> i32 {
    let _ = writeln!(notes, "error: {}", chain(error));
    EXIT_FAILED
}

/// Runs the Observe pass of every resource that got a client; the views of all, in file
/// order (those whose credentials the operator would stall on, stalled).
async fn plan_resources(
    args: &PlanArgs,
    reconcile_args: &ReconcileArgs,
    resources: Vec<GenesysUserOffboarding>,
    sim: Option<&Embedded>,
    deadline: Instant,
    notes: &mut (dyn Write + Send),
) -> Result<Vec<View>, OneShotError> {
    let cluster = if args.from_cluster {
        Some(cluster_credentials(args).await?)
    } else {
        None
    };
    // Every client is configured before the first pass, as in `reconcile -f`.
    let mut observed = Vec::new();
    // Per resource: its view now when it stalls before its pass, else `None` (planned below).
    let mut early: Vec<Option<View>> = Vec::new();
    for mut resource in resources {
        if resource.metadata.namespace.is_none() {
            resource.metadata.namespace = args
                .namespace
                .clone()
                .or_else(|| cluster.as_ref().map(|(_, ns)| ns.clone()));
        }
        let client = match (sim, &cluster) {
            (Some(sim), _) => sim.client()?,
            (None, Some((provider, _))) => {
                match provider
                    .load_for(resource.metadata.namespace.clone(), &resource.spec)
                    .await
                {
                    Ok(client) => client,
                    // What a human must fix stalls that resource, as in the operator.
                    Err(e) if e.retry_class() == genesys_cloud::RetryClass::Never => {
                        let mut view = View::of(&resource);
                        view.verdict = Verdict::Stalled;
                        e.reason().clone_into(&mut view.reason);
                        view.message = chain(&e);
                        early.push(Some(view));
                        continue;
                    }
                    Err(e) => return Err(OneShotError::Credentials(chain(&e))),
                }
            }
            (None, None) => env_client(reconcile_args, &resource)?,
        };
        early.push(None);
        observed.push((resource, client));
    }
    // The view shows the file's resource; the pass runs it in Observe mode, without what
    // would stop it before it plans.
    let originals: Vec<GenesysUserOffboarding> = observed.iter().map(|(r, _)| r.clone()).collect();
    let observed = observed
        .into_iter()
        .map(|(mut resource, client)| {
            resource.spec.management_policy = ManagementPolicy::Observe;
            resource.spec.effective_at = None;
            resource.spec.suspend = false;
            (resource, client)
        })
        .collect();
    let driven = drive_resources(observed, deadline, args.max_wait, Events::Omitted, notes).await;
    let mut planned = driven
        .into_iter()
        .zip(originals)
        .map(|((passed, summary), mut original)| {
            original.status = passed.status;
            let mut view = View::of(&original);
            if summary.failed && view.verdict == Verdict::Ready {
                view.verdict = Verdict::InProgress;
            }
            view
        });
    Ok(early
        .into_iter()
        .filter_map(|view| view.or_else(|| planned.next()))
        .collect())
}

/// The Secret reader of `--from-cluster`, with the kubeconfig context's namespace.
async fn cluster_credentials(
    args: &PlanArgs,
) -> Result<(SecretClientProvider, String), OneShotError> {
    let client = kube::Client::try_default().await.map_err(|e| {
        OneShotError::Credentials(format!(
            "failed to reach the cluster of the kubeconfig: {}",
            chain(&e)
        ))
    })?;
    let allowed: genesys_cloud::AllowedEndpoints = args.allowed_endpoints.iter().cloned().collect();
    let namespace = client.default_namespace().to_owned();
    Ok((
        SecretClientProvider::new(client, REQUESTS_PER_MINUTE, None)
            .with_allowed_endpoints(allowed),
        namespace,
    ))
}

/// Prints the views; the exit code they call for.
fn print(
    args: &PlanArgs,
    views: Vec<View>,
    out: &mut (dyn Write + Send),
    notes: &mut (dyn Write + Send),
) -> i32 {
    let code = if views.iter().any(|v| v.verdict == Verdict::Stalled) {
        EXIT_STALLED
    } else if views.iter().any(|v| v.verdict != Verdict::Ready) {
        EXIT_FAILED
    } else {
        EXIT_PLANNED
    };
    let plans = Plans { plans: views };
    let text = match args.output {
        PlanFormat::Text => Ok(text(&plans)),
        PlanFormat::Yaml => serde_yaml::to_string(&plans).map_err(|e| e.to_string()),
        PlanFormat::Json => serde_json::to_string_pretty(&plans)
            .map(|mut text| {
                text.push('\n');
                text
            })
            .map_err(|e| e.to_string()),
    };
    match text {
        Ok(text) => {
            if out.write_all(text.as_bytes()).is_err() {
                return EXIT_FAILED;
            }
            code
        }
        Err(e) => {
            let _ = writeln!(notes, "error: failed to print the plan: {e}");
            EXIT_FAILED
        }
    }
}

/// The plan for a person: per resource a headline, the verdict and the sections.
pub fn text(plans: &Plans) -> String {
    let mut out = String::new();
    for (i, view) in plans.plans.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "Offboarding {}", view.qualified_name());
        let verdict = match view.verdict {
            Verdict::Ready => "Planned (Observe: nothing was written to Genesys Cloud)",
            Verdict::Stalled => "Stalled: the operator would change nothing until this is fixed",
            Verdict::InProgress => "Not planned: the pass did not finish",
        };
        let _ = writeln!(out, "  {verdict}");
        if view.message.is_empty() {
            let _ = writeln!(out, "  {}", view.reason);
        } else {
            let _ = writeln!(out, "  {}: {}", view.reason, view.message);
        }
        sections(view, &mut out);
    }
    out
}
