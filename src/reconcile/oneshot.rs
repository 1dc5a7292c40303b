//! `genesys-offboarding reconcile -f FILE`: the reconcile pipeline without a cluster. Reads the
//! `GenesysUserOffboarding` resources from a YAML file, gets a Genesys client (from
//! `GENESYS_CLIENT_ID` / `GENESYS_CLIENT_SECRET` / `GENESYS_REGION`, or from the embedded
//! emulator with `--sim`), runs the same [`reconcile`](super::reconcile) passes as the controller
//! with an in-memory [`MemoryStore`], waits between passes only while the wait is short, and
//! prints each resource with its status. I/O: the file, the environment, the emulator, stdout
//! (the resources) and stderr (progress notes).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use secrecy::SecretString;
use serde::Deserialize;
use tokio::time::Instant;

use super::error::chain;
use super::{FixedClient, MemoryOwners, MemoryStore, Outcome, OwnerRegistry, reconcile};
use crate::crd::{ApiEndpoints, GenesysUserOffboarding, condition, parse_duration};
use crate::genesys::{
    ClientConfig, ClientCredentials, Endpoints, GenesysClient, GenesysError, Region,
};
use crate::sim::fixture::{Fixture, FixtureError};
use crate::sim::{Sim, SimHandle};

/// The environment variables the one-shot mode reads credentials from.
pub const ENV_CLIENT_ID: &str = "GENESYS_CLIENT_ID";
/// See [`ENV_CLIENT_ID`].
pub const ENV_CLIENT_SECRET: &str = "GENESYS_CLIENT_SECRET";
/// See [`ENV_CLIENT_ID`]; overrides the resource's `region` when set.
pub const ENV_REGION: &str = "GENESYS_REGION";

/// How often the one-shot mode polls an analytics job of the embedded emulator.
const SIM_JOB_POLL: Duration = Duration::from_millis(250);

/// Arguments of `genesys-offboarding reconcile`.
#[derive(Debug, Clone, Args)]
pub struct ReconcileArgs {
    /// A YAML file holding one or more `GenesysUserOffboarding` resources (other documents are
    /// skipped).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// Run against the embedded Genesys Cloud emulator, with its demo organization or the given
    /// fixture file, instead of a real org (credentials and endpoints come from the emulator).
    #[arg(long, value_name = "FIXTURE", num_args = 0..=1)]
    pub sim: Option<Option<PathBuf>>,
    /// Genesys API base URL, instead of the resource's region or base URLs (needs --login-url).
    #[arg(
        long,
        value_name = "URL",
        requires = "login_url",
        conflicts_with = "sim"
    )]
    pub api_url: Option<String>,
    /// Genesys login base URL (needs --api-url).
    #[arg(long, value_name = "URL", requires = "api_url", conflicts_with = "sim")]
    pub login_url: Option<String>,
    /// Observe only: resolve, snapshot and plan into status; write nothing to Genesys.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format of the printed resources.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Yaml)]
    pub output: OutputFormat,
    /// The longest total wait between passes (a future effectiveAt, a live conversation, a rate
    /// limit) before printing the resource as it stands, e.g. 30s or 2m.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_wait)]
    pub max_wait: Duration,
}

fn parse_wait(text: &str) -> Result<Duration, String> {
    parse_duration(text).ok_or_else(|| format!("{text:?} is not a duration such as 30s, 2m or 1h"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Yaml,
    Json,
}

/// What can stop the one-shot mode before it prints anything.
#[derive(Debug, thiserror::Error)]
pub enum OneShotError {
    #[error("failed to read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse {path} as YAML")]
    Parse {
        path: String,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("{0} holds no GenesysUserOffboarding resource")]
    NoResource(String),
    #[error("failed to load the emulator fixture")]
    Fixture(#[source] FixtureError),
    #[error("failed to start the Genesys Cloud emulator")]
    Sim(#[source] crate::sim::SimError),
    #[error("failed to configure the Genesys client: {0}")]
    Credentials(String),
    #[error("failed to configure the Genesys client")]
    Client(#[source] GenesysError),
    #[error("failed to print the resource")]
    Print(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// How each resource ended, for the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub name: String,
    /// `Ready=True` at the end.
    pub ready: bool,
    /// Stalled, or a pass failed and was not retried.
    pub failed: bool,
}

/// Runs the one-shot mode; writes the resources to `out` and notes to `notes`.
pub async fn run(
    args: &ReconcileArgs,
    out: &mut (dyn Write + Send),
    notes: &mut (dyn Write + Send),
) -> Result<Vec<Summary>, OneShotError> {
    let resources = load(&args.file)?;
    let sim = match &args.sim {
        Some(fixture) => Some(start_sim(fixture.as_deref()).await?),
        None => None,
    };
    let mut summaries = Vec::new();
    let mut printed = Vec::new();
    // One owner per user among the file's resources: a later one for the same user stalls.
    let owners = MemoryOwners::new();
    for mut resource in resources {
        if args.dry_run {
            resource.spec.management_policy = crate::crd::ManagementPolicy::Observe;
        }
        let client = match &sim {
            Some((handle, credentials)) => sim_client(handle, credentials.clone())?,
            None => env_client(args, &resource)?,
        };
        let summary = drive(&mut resource, &client, &owners, args.max_wait, notes).await;
        summaries.push(summary);
        printed.push(resource);
    }
    print(&printed, args.output, out)?;
    if let Some((handle, _)) = sim {
        handle.shutdown().await;
    }
    Ok(summaries)
}

/// [`run`] on stdout and stderr. True when no resource stalled or failed (a resource still
/// waiting, for a live conversation or a future `effectiveAt`, is not a failure).
pub async fn run_stdio(args: &ReconcileArgs) -> Result<bool, OneShotError> {
    let (mut out, mut notes) = (std::io::stdout(), std::io::stderr());
    let summaries = Box::pin(run(args, &mut out, &mut notes)).await?;
    Ok(summaries.iter().all(|s| !s.failed))
}

/// Runs passes until the outcome is final or the next wait does not fit in `max_wait`.
async fn drive(
    resource: &mut GenesysUserOffboarding,
    client: &GenesysClient,
    owners: &dyn OwnerRegistry,
    max_wait: Duration,
    notes: &mut (dyn Write + Send),
) -> Summary {
    let name = resource.metadata.name.clone().unwrap_or_default();
    let store = MemoryStore::new();
    let provider = FixedClient(client.clone());
    let deadline = Instant::now() + max_wait;
    let mut failed = false;
    loop {
        let wait = match reconcile(resource, &provider, owners, &store).await {
            Ok(pass) => {
                resource.status = Some(pass.status);
                for event in pass.events {
                    let kind = if event.warning { "Warning" } else { "Normal" };
                    note(
                        notes,
                        &format!("{name}: event {kind} {}: {}", event.reason, event.message),
                    );
                }
                match pass.outcome {
                    Outcome::Wait { reason, after, .. } => Some((reason, after)),
                    Outcome::Stalled { .. } => {
                        failed = true;
                        None
                    }
                    Outcome::Done { .. } | Outcome::Suspended => None,
                }
            }
            Err(error) => {
                resource.status = store.latest().or(resource.status.take());
                note(notes, &format!("{name}: pass failed: {}", chain(&error)));
                let retry = error.retry_after().map(|after| (error.reason(), after));
                failed |= retry.is_none();
                retry
            }
        };
        let Some((reason, after)) = wait else { break };
        if Instant::now() + after > deadline {
            note(
                notes,
                &format!(
                    "{name}: stopped waiting ({reason}): the next pass would start in {}s, beyond --max-wait {}s; run again later (a controller would requeue)",
                    after.as_secs(),
                    max_wait.as_secs()
                ),
            );
            if is_error(reason) {
                failed = true;
            }
            break;
        }
        note(
            notes,
            &format!("{name}: waiting {}s ({reason})", after.as_secs()),
        );
        tokio::time::sleep(after).await;
    }
    let ready = resource
        .status
        .as_ref()
        .is_some_and(|s| s.is_true(condition::READY));
    Summary {
        name,
        ready,
        failed,
    }
}

fn is_error(reason: &str) -> bool {
    reason != crate::crd::reason::SCHEDULED
        && reason != crate::crd::reason::WAITING_FOR_ACTIVE_CONVERSATION
}

fn note(notes: &mut (dyn Write + Send), text: &str) {
    // Notes are best effort: a closed stderr must not stop the offboarding.
    let _ = writeln!(notes, "{text}");
}

/// Every `GenesysUserOffboarding` document of the file (other kinds are skipped). A resource
/// without `metadata.generation` gets 1, as the API server would give it on create.
pub fn load(path: &Path) -> Result<Vec<GenesysUserOffboarding>, OneShotError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| OneShotError::Read {
        path: shown.clone(),
        source,
    })?;
    let parse = |source| OneShotError::Parse {
        path: shown.clone(),
        source,
    };
    let mut resources = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = serde_yaml::Value::deserialize(document).map_err(parse)?;
        let kind = value.get("kind").and_then(serde_yaml::Value::as_str);
        if kind != Some("GenesysUserOffboarding") {
            continue;
        }
        let mut resource: GenesysUserOffboarding = serde_yaml::from_value(value).map_err(parse)?;
        resource.metadata.generation.get_or_insert(1);
        resources.push(resource);
    }
    if resources.is_empty() {
        return Err(OneShotError::NoResource(shown));
    }
    Ok(resources)
}

/// Starts the emulator with the demo org or `fixture`; the credentials are the fixture's first
/// unrestricted OAuth client (`demo-client` in the demo org).
async fn start_sim(fixture: Option<&Path>) -> Result<(SimHandle, ClientCredentials), OneShotError> {
    let fixture = match fixture {
        Some(path) => Fixture::from_file(path).map_err(OneShotError::Fixture)?,
        None => Fixture::demo(),
    };
    let oauth = fixture
        .oauth_clients
        .iter()
        .find(|c| c.permissions.is_none())
        .or_else(|| fixture.oauth_clients.first())
        .ok_or_else(|| OneShotError::Credentials("the fixture has no oauthClients".into()))?;
    let credentials = ClientCredentials::new(
        oauth.client_id.clone(),
        SecretString::from(oauth.client_secret.clone()),
    );
    let handle = Sim::start(fixture).await.map_err(OneShotError::Sim)?;
    Ok((handle, credentials))
}

fn sim_client(
    handle: &SimHandle,
    credentials: ClientCredentials,
) -> Result<GenesysClient, OneShotError> {
    let endpoints = Endpoints::single(handle.base_url()).map_err(OneShotError::Client)?;
    // The emulator finishes analytics jobs at once: poll them quickly. Everything else (the
    // rate budget included) stays as against a real org.
    let config = ClientConfig::new(endpoints, credentials)
        .with_job_polling(SIM_JOB_POLL, Duration::from_secs(60));
    GenesysClient::new(config).map_err(OneShotError::Client)
}

/// Credentials from the environment; endpoints from `--api-url`/`--login-url`, else
/// `GENESYS_REGION`, else the resource's `region` or base URLs.
fn env_client(
    args: &ReconcileArgs,
    resource: &GenesysUserOffboarding,
) -> Result<GenesysClient, OneShotError> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OneShotError::Credentials(format!("{name} is not set (or use --sim)")))
    };
    let credentials = ClientCredentials::new(
        var(ENV_CLIENT_ID)?,
        SecretString::from(var(ENV_CLIENT_SECRET)?),
    );
    let endpoints = match (&args.api_url, &args.login_url) {
        (Some(api), Some(login)) => Endpoints::parse(api, login).map_err(OneShotError::Client)?,
        _ => match std::env::var(ENV_REGION).ok().filter(|v| !v.is_empty()) {
            Some(region) => {
                let region: Region = region.parse().map_err(|_| {
                    OneShotError::Credentials(format!(
                        "{ENV_REGION} {region:?} is not a Genesys Cloud region"
                    ))
                })?;
                Endpoints::for_region(region)
            }
            None => spec_endpoints(resource)?,
        },
    };
    GenesysClient::new(ClientConfig::new(endpoints, credentials)).map_err(OneShotError::Client)
}

fn spec_endpoints(resource: &GenesysUserOffboarding) -> Result<Endpoints, OneShotError> {
    match resource.spec.api_endpoints() {
        Ok(ApiEndpoints::Region(region)) => Ok(Endpoints::for_region(region)),
        Ok(ApiEndpoints::Custom {
            api_base_url,
            login_base_url,
        }) => Endpoints::custom(api_base_url, login_base_url).map_err(OneShotError::Client),
        Err(e) => Err(OneShotError::Credentials(e.to_string())),
    }
}

fn print(
    resources: &[GenesysUserOffboarding],
    format: OutputFormat,
    out: &mut (dyn Write + Send),
) -> Result<(), OneShotError> {
    let boxed = |e: Box<dyn std::error::Error + Send + Sync>| OneShotError::Print(e);
    for (i, resource) in resources.iter().enumerate() {
        let text = match format {
            OutputFormat::Yaml => {
                let text = serde_yaml::to_string(resource).map_err(|e| boxed(e.into()))?;
                if i > 0 { format!("---\n{text}") } else { text }
            }
            OutputFormat::Json => {
                let mut text =
                    serde_json::to_string_pretty(resource).map_err(|e| boxed(e.into()))?;
                text.push('\n');
                text
            }
        };
        out.write_all(text.as_bytes())
            .map_err(|e| boxed(e.into()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_the_offboarding_documents_of_a_file_are_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("all.yaml");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Secret\nmetadata: {name: genesys-credentials}\n---\n\
             apiVersion: offboarding.genesys-operator.io/v1alpha1\nkind: GenesysUserOffboarding\n\
             metadata: {name: jane}\nspec:\n  user: {email: jane.doe@example.com}\n  \
             credentialsSecretRef: {name: genesys-credentials}\n  region: us_east_1\n",
        )
        .unwrap();

        let resources = load(&path).unwrap();

        assert_eq!(resources.len(), 1);
        assert_eq!(resources[0].metadata.name.as_deref(), Some("jane"));
        assert_eq!(resources[0].metadata.generation, Some(1));
    }

    #[test]
    fn a_file_without_an_offboarding_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.yaml");
        std::fs::write(&path, "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n").unwrap();

        assert!(matches!(load(&path), Err(OneShotError::NoResource(_))));
    }
}
