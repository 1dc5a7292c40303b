//! `genesys-offboarding reconcile -f FILE`: the reconcile pipeline without a cluster. Reads the
//! `GenesysUserOffboarding` resources from a YAML file and checks the whole file as strictly as
//! `kubectl apply --validate=strict` would ([`manifest`]: one bad document refuses the file before
//! any Genesys request), gets a Genesys client (from `GENESYS_CLIENT_ID` /
//! `GENESYS_CLIENT_SECRET` / `GENESYS_REGION`, or from the embedded emulator with `--sim`), runs
//! the same [`reconcile`](crate::reconcile::reconcile) passes as the controller with an in-memory
//! [`MemoryStore`] until `--max-wait` after the start (a deadline that also cuts a pass short),
//! and prints each resource with its status. I/O: the file, the environment, the emulator,
//! stdout (the resources) and stderr (progress notes).

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use secrecy::SecretString;
use tokio::time::Instant;

pub mod manifest;

use crate::crd::{GenesysUserOffboarding, condition, parse_duration};
use crate::reconcile::error::chain;
use crate::reconcile::{
    FixedClient, MemoryOwners, MemoryStore, Outcome, OwnerRegistry, PassResult, reconcile,
};
use genesys_cloud::{
    ClientConfig, ClientCredentials, Endpoints, GenesysClient, GenesysError, Region,
};
#[cfg(feature = "emulator")]
use genesys_emulator::fixture::{Fixture, FixtureError};
#[cfg(feature = "emulator")]
use genesys_emulator::{Sim, SimHandle};
use manifest::{Loaded, ManifestError, Refusal, location};

/// The environment variables the one-shot mode reads credentials from.
pub const ENV_CLIENT_ID: &str = "GENESYS_CLIENT_ID";
/// See [`ENV_CLIENT_ID`].
pub const ENV_CLIENT_SECRET: &str = "GENESYS_CLIENT_SECRET";
/// See [`ENV_CLIENT_ID`]; overrides the resource's `region` when set.
pub const ENV_REGION: &str = "GENESYS_REGION";

/// How often the one-shot mode polls an analytics job of the embedded emulator.
#[cfg(feature = "emulator")]
const SIM_JOB_POLL: Duration = Duration::from_millis(250);

/// Arguments of `genesys-offboarding reconcile`.
#[derive(Debug, Clone, Args)]
pub struct ReconcileArgs {
    /// A YAML file holding one or more `GenesysUserOffboarding` resources. The whole file is
    /// checked first, as `kubectl apply --validate=strict` would: an unknown or misspelt field, a
    /// wrong type, a wrong apiVersion or kind of an offboarding, or an invalid spec in any
    /// document refuses the file and nothing is sent to Genesys. Documents of other kinds (a
    /// Secret, ...) are skipped with a note.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// Run against the embedded Genesys Cloud emulator, with its demo organization or the given
    /// fixture file, instead of a real org (credentials and endpoints come from the emulator).
    /// (Built with the default `emulator` feature only.)
    #[cfg(feature = "emulator")]
    #[arg(long, value_name = "FIXTURE", num_args = 0..=1)]
    pub sim: Option<Option<PathBuf>>,
    /// The emulator's behaviour with --sim: `realistic` (the default) is as unkind as the real
    /// service (late queue changes, dropped expands, roles stripped on deactivation, ...);
    /// `default` is the plain emulator. It replaces the fixture's own `profile`.
    #[cfg(feature = "emulator")]
    #[arg(long, value_enum, default_value = "realistic", requires = "sim")]
    pub sim_profile: genesys_emulator::fixture::Profile,
    /// Genesys API base URL, instead of the resource's region or base URLs (needs --login-url).
    #[arg(long, value_name = "URL", requires = "login_url")]
    #[cfg_attr(feature = "emulator", arg(conflicts_with = "sim"))]
    pub api_url: Option<String>,
    /// Genesys login base URL (needs --api-url).
    #[arg(long, value_name = "URL", requires = "api_url")]
    #[cfg_attr(feature = "emulator", arg(conflicts_with = "sim"))]
    pub login_url: Option<String>,
    /// A host the FILE's `spec.apiBaseUrl` / `spec.loginBaseUrl` may name, `HOST` (every port)
    /// or `HOST:PORT` (repeatable, or comma-separated in `ALLOWED_ENDPOINTS`). None by default:
    /// a file must not send `GENESYS_CLIENT_SECRET` to a host of its choosing. Not needed for
    /// `--api-url`/`--login-url`, nor with `--sim` (which ignores the file's endpoints).
    #[arg(
        long = "allowed-endpoint",
        value_name = "HOST[:PORT]",
        env = "ALLOWED_ENDPOINTS",
        value_delimiter = ','
    )]
    pub allowed_endpoints: Vec<genesys_cloud::AllowedEndpoint>,
    /// Observe only: resolve, snapshot and plan into status; write nothing to Genesys.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format of the printed resources.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Yaml)]
    pub output: OutputFormat,
    /// How long the run may take, from its start, before it prints the resources as they stand,
    /// e.g. 30s or 2m: it bounds the waits between passes (a future effectiveAt, a live
    /// conversation) and the waits inside a pass (rate limits, retries, slow calls), which it cuts
    /// short. Status is saved after every step, so a cut pass loses nothing; the exit code is 1
    /// when a pass was cut or could not start.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_wait)]
    pub max_wait: Duration,
}

pub(crate) fn parse_wait(text: &str) -> Result<Duration, String> {
    match parse_duration(text) {
        None => Err(format!("{text:?} is not a duration such as 30s, 2m or 1h")),
        // No pass fits in no time: every resource would be printed untouched.
        Some(wait) if wait.is_zero() => Err("must be longer than 0s".to_owned()),
        Some(wait) => Ok(wait),
    }
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
    #[error("failed to parse {path}: document {document} is not valid YAML{}", location(*.line, *.column))]
    Parse {
        path: String,
        /// The document, counted from 1.
        document: usize,
        line: Option<usize>,
        column: Option<usize>,
        #[source]
        source: serde_yaml::Error,
    },
    /// The whole file is refused, nothing was sent to Genesys: each refusal names its document
    /// and field.
    #[error("{path} is refused, nothing was sent to Genesys:{}", list(refusals))]
    Refused {
        path: String,
        refusals: Vec<Refusal>,
    },
    #[error("{0} holds no GenesysUserOffboarding resource")]
    NoResource(String),
    #[cfg(feature = "emulator")]
    #[error("failed to load the emulator fixture")]
    Fixture(#[source] FixtureError),
    #[cfg(feature = "emulator")]
    #[error("failed to start the Genesys Cloud emulator")]
    Sim(#[source] genesys_emulator::SimError),
    #[error("failed to configure the Genesys client: {0}")]
    Credentials(String),
    #[error("failed to configure the Genesys client")]
    Client(#[source] GenesysError),
    #[error("failed to print the resource")]
    Print(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn list(refusals: &[Refusal]) -> String {
    refusals.iter().fold(String::new(), |mut text, r| {
        let _ = write!(text, "\n  {r}");
        text
    })
}

/// How each resource ended, for the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub name: String,
    /// `Ready=True` at the end.
    pub ready: bool,
    /// Stalled, a pass failed and was not retried, a retry did not fit in `--max-wait`, or
    /// `--max-wait` ended a pass of this resource or came before one could start.
    pub failed: bool,
}

/// Runs the one-shot mode; writes the resources to `out` and notes to `notes`.
pub async fn run(
    args: &ReconcileArgs,
    out: &mut (dyn Write + Send),
    notes: &mut (dyn Write + Send),
) -> Result<Vec<Summary>, OneShotError> {
    // The bound covers the whole run: the emulator's start and the clients too.
    let deadline = Instant::now() + args.max_wait;
    let loaded = load(&args.file)?;
    for skipped in &loaded.skipped {
        note(notes, &skipped.to_string());
    }
    let sim = Embedded::start_if_asked(args).await?;
    // Every client is configured before the first pass: a bad setting for the last resource
    // must not leave the first one offboarded.
    let mut resources = Vec::new();
    for mut resource in loaded.resources {
        if args.dry_run {
            resource.spec.management_policy = crate::crd::ManagementPolicy::Observe;
        }
        let client = match &sim {
            Some(sim) => sim.client()?,
            None => env_client(args, &resource)?,
        };
        resources.push((resource, client));
    }
    let driven = drive_resources(resources, deadline, args.max_wait, Events::Noted, notes).await;
    let (printed, summaries): (Vec<GenesysUserOffboarding>, Vec<Summary>) =
        driven.into_iter().unzip();
    print(&printed, args.output, out)?;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    Ok(summaries)
}

/// Whether the Events of the passes are written to the notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Events {
    /// As `event Normal Reason: message` lines.
    Noted,
    /// Left out: the caller prints the outcome itself (`plan`).
    Omitted,
}

/// Drives each resource with its client (see [`drive`]), one owner per user among them (a later
/// resource for the same user stalls), and returns each with the status it ended with.
pub(crate) async fn drive_resources(
    resources: Vec<(GenesysUserOffboarding, GenesysClient)>,
    deadline: Instant,
    max_wait: Duration,
    events: Events,
    notes: &mut (dyn Write + Send),
) -> Vec<(GenesysUserOffboarding, Summary)> {
    let owners = MemoryOwners::new();
    let mut jobs: Vec<Job> = resources
        .into_iter()
        .map(|(resource, client)| Job::new(resource, client, events))
        .collect();
    drive(&mut jobs, &owners, deadline, max_wait, notes).await;
    jobs.into_iter()
        .map(|job| {
            let summary = job.summary();
            (job.resource, summary)
        })
        .collect()
}

/// [`run`] on stdout and stderr. True when no resource stalled, failed or was cut short by
/// `--max-wait` (a resource still waiting, for a live conversation or a future `effectiveAt`, is
/// not a failure).
pub async fn run_stdio(args: &ReconcileArgs) -> Result<bool, OneShotError> {
    let (mut out, mut notes) = (std::io::stdout(), std::io::stderr());
    let summaries = Box::pin(run(args, &mut out, &mut notes)).await?;
    Ok(summaries.iter().all(|s| !s.failed))
}

/// Runs the passes of every job, one pass at a time, each when its wait is over, until no job
/// needs another pass or `deadline` (`max_wait` after the start) has come. The deadline also
/// ends a pass that is still running (waiting out a rate limit, retrying, or on a slow call):
/// the pass stops at its next await, and its resource keeps the status last saved, which the
/// reconciler saves before the first Genesys write and after every step, so the next run starts
/// from what was confirmed and redoes at most the step that was cut (each step is an idempotent
/// `ensure_*` that reads before it writes). No pass starts at or after the deadline: it would be
/// cut before it could confirm anything.
async fn drive(
    jobs: &mut [Job],
    owners: &dyn OwnerRegistry,
    deadline: Instant,
    max_wait: Duration,
    notes: &mut (dyn Write + Send),
) {
    // The job whose next pass comes first; among equals, the first in the file.
    while let Some((index, at)) = jobs
        .iter()
        .enumerate()
        .filter_map(|(i, job)| job.next.map(|(at, _)| (i, at)))
        .min_by_key(|&(i, at)| (at, i))
    {
        tokio::time::sleep_until(at).await;
        let job = &mut jobs[index];
        if Instant::now() >= deadline {
            job.not_started(max_wait, notes);
        } else {
            job.pass(owners, deadline, max_wait, notes).await;
        }
    }
}

/// One resource of the file being driven.
struct Job {
    resource: GenesysUserOffboarding,
    name: String,
    clients: FixedClient,
    store: MemoryStore,
    /// When the next pass may start and why it waits (`None` before the first pass); `None`
    /// once the resource needs no more passes in this run.
    next: Option<(Instant, Option<&'static str>)>,
    failed: bool,
    events: Events,
}

impl Job {
    fn new(resource: GenesysUserOffboarding, client: GenesysClient, events: Events) -> Self {
        Self {
            name: resource.metadata.name.clone().unwrap_or_default(),
            resource,
            clients: FixedClient(client),
            store: MemoryStore::new(),
            next: Some((Instant::now(), None)),
            failed: false,
            events,
        }
    }

    /// One pass, ended at `deadline` if it still runs then; schedules the next one if needed
    /// and it fits.
    async fn pass(
        &mut self,
        owners: &dyn OwnerRegistry,
        deadline: Instant,
        max_wait: Duration,
        notes: &mut (dyn Write + Send),
    ) {
        let name = &self.name;
        self.next = None;
        let pass = reconcile(&self.resource, &self.clients, owners, &self.store);
        let wait = match tokio::time::timeout_at(deadline, pass)
            .await
            .map(PassResult::into_result)
        {
            Err(_) => {
                self.resource.status = self.store.latest().or(self.resource.status.take());
                self.failed = true;
                note(
                    notes,
                    &format!(
                        "{name}: stopped: --max-wait {}s ended the run in the middle of a pass; the status printed is the last one saved (after the last confirmed step); run again, with the printed resource as the file to continue from that status",
                        max_wait.as_secs()
                    ),
                );
                return;
            }
            Ok(Ok(pass)) => {
                self.resource.status = Some(pass.status);
                for event in pass.events.iter().filter(|_| self.events == Events::Noted) {
                    let kind = if event.warning { "Warning" } else { "Normal" };
                    note(
                        notes,
                        &format!("{name}: event {kind} {}: {}", event.reason, event.message),
                    );
                }
                match pass.outcome {
                    Outcome::Wait { reason, after, .. } => Some((reason, after)),
                    Outcome::Stalled { .. } => {
                        self.failed = true;
                        None
                    }
                    Outcome::Done { .. } | Outcome::Suspended => None,
                }
            }
            Ok(Err(error)) => {
                self.resource.status = self.store.latest().or(self.resource.status.take());
                note(notes, &format!("{name}: pass failed: {}", chain(&error)));
                let retry = error.retry_after().map(|after| (error.reason(), after));
                self.failed |= retry.is_none();
                retry
            }
        };
        let Some((reason, after)) = wait else { return };
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
                self.failed = true;
            }
            return;
        }
        note(
            notes,
            &format!("{name}: waiting {}s ({reason})", after.as_secs()),
        );
        self.next = Some((Instant::now() + after, Some(reason)));
    }

    /// The deadline came before this job's next pass could start.
    fn not_started(&mut self, max_wait: Duration, notes: &mut (dyn Write + Send)) {
        let what = match self.next.and_then(|(_, reason)| reason) {
            Some(reason) => format!("its next pass ({reason})"),
            None => "its first pass".to_owned(),
        };
        note(
            notes,
            &format!(
                "{}: stopped: --max-wait {}s ended the run before {what} could start; run again",
                self.name,
                max_wait.as_secs()
            ),
        );
        self.next = None;
        self.failed = true;
    }

    fn summary(&self) -> Summary {
        Summary {
            name: self.name.clone(),
            ready: self
                .resource
                .status
                .as_ref()
                .is_some_and(|s| s.is_true(condition::READY)),
            failed: self.failed,
        }
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

/// The `GenesysUserOffboarding` resources of the file, every document checked first (see
/// [`manifest`]); other kinds are listed as skipped. A resource without `metadata.generation`
/// gets 1, as the API server would give it on create.
pub fn load(path: &Path) -> Result<Loaded, OneShotError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| OneShotError::Read {
        path: shown.clone(),
        source,
    })?;
    let loaded = manifest::parse(&text).map_err(|e| match e {
        ManifestError::Syntax {
            document,
            line,
            column,
            source,
        } => OneShotError::Parse {
            path: shown.clone(),
            document,
            line,
            column,
            source,
        },
        ManifestError::Refused(refusals) => OneShotError::Refused {
            path: shown.clone(),
            refusals,
        },
    })?;
    if loaded.resources.is_empty() {
        return Err(OneShotError::NoResource(shown));
    }
    Ok(loaded)
}

/// The embedded emulator of `--sim`, with the OAuth client the passes use.
#[cfg(feature = "emulator")]
pub(crate) struct Embedded {
    handle: SimHandle,
    credentials: ClientCredentials,
}

#[cfg(feature = "emulator")]
impl Embedded {
    /// With `--sim`: starts the emulator with the demo org or the given fixture; the
    /// credentials are the fixture's first unrestricted OAuth client (`demo-client` in the demo
    /// org).
    pub(crate) async fn start_if_asked(args: &ReconcileArgs) -> Result<Option<Self>, OneShotError> {
        let Some(fixture) = &args.sim else {
            return Ok(None);
        };
        let fixture = match fixture {
            Some(path) => Fixture::from_file_with_profile(path, Some(args.sim_profile))
                .map_err(OneShotError::Fixture)?,
            None => Fixture::demo().with_profile(args.sim_profile),
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
        Ok(Some(Self {
            handle,
            credentials,
        }))
    }

    pub(crate) fn client(&self) -> Result<GenesysClient, OneShotError> {
        let endpoints = Endpoints::single(self.handle.base_url()).map_err(OneShotError::Client)?;
        // The emulator finishes analytics jobs at once: poll them quickly. Everything else (the
        // rate budget included) stays as against a real org.
        let config = ClientConfig::new(endpoints, self.credentials.clone())
            .with_job_polling(SIM_JOB_POLL, Duration::from_secs(60));
        GenesysClient::new(config).map_err(OneShotError::Client)
    }

    pub(crate) async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

/// Built without the `emulator` feature there is no `--sim`: nothing is ever embedded.
#[cfg(not(feature = "emulator"))]
pub(crate) enum Embedded {}

#[cfg(not(feature = "emulator"))]
impl Embedded {
    #[allow(clippy::unused_async)]
    pub(crate) async fn start_if_asked(
        _args: &ReconcileArgs,
    ) -> Result<Option<Self>, OneShotError> {
        Ok(None)
    }

    pub(crate) fn client(&self) -> Result<GenesysClient, OneShotError> {
        match *self {}
    }

    #[allow(clippy::unused_async)]
    pub(crate) async fn shutdown(self) {
        match self {}
    }
}

/// Credentials from the environment; endpoints from `--api-url`/`--login-url`, else
/// `GENESYS_REGION`, else the resource's `region` or base URLs.
pub(crate) fn env_client(
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
            None => spec_endpoints(resource, args)?,
        },
    };
    GenesysClient::new(ClientConfig::new(endpoints, credentials)).map_err(OneShotError::Client)
}

/// The resource's region, or its custom base URLs when `--allowed-endpoint` allows their hosts.
fn spec_endpoints(
    resource: &GenesysUserOffboarding,
    args: &ReconcileArgs,
) -> Result<Endpoints, OneShotError> {
    use crate::reconcile::error::CredentialsError;
    let allowed: genesys_cloud::AllowedEndpoints = args.allowed_endpoints.iter().cloned().collect();
    crate::reconcile::credentials::endpoints(&resource.spec, &allowed).map_err(|e| match e {
        CredentialsError::EndpointNotAllowed => OneShotError::Credentials(format!(
            "{}: the file's apiBaseUrl and loginBaseUrl would receive {ENV_CLIENT_ID} and \
             {ENV_CLIENT_SECRET}, and their hosts are not allowed: pass --allowed-endpoint \
             HOST[:PORT] for each, or --api-url and --login-url",
            resource.metadata.name.as_deref().unwrap_or_default()
        )),
        CredentialsError::Client(e) => OneShotError::Client(e),
        CredentialsError::Missing(what) => OneShotError::Credentials(what),
        // `endpoints` reads nothing, so this does not come from it.
        e @ CredentialsError::Unreadable { .. } => OneShotError::Credentials(chain(&e)),
    })
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

        let resources = load(&path).unwrap().resources;

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
