//! `genesys-offboarding run`: the flags (the Helm chart relies on their names: change
//! both together) and the process around the [`Operator`]: the Kubernetes client from the usual
//! sources (in-cluster service account, `KUBECONFIG`, `~/.kube/config`), the admin HTTP port, and
//! graceful shutdown on SIGTERM or Ctrl-C. I/O: signals, one TCP listener, the Kubernetes API.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use tokio::net::TcpListener;

use super::{
    BackoffPolicy, DeactivationCapSettings, GuardrailSettings, LeaderElection, Operator, RunError,
    Settings, Stop,
};
use crate::reconcile::ProtectedUsers;
use crate::telemetry::LogFormat;
use genesys_cloud::AllowedEndpoint;

/// The flags of `genesys-offboarding run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// A namespace to watch (repeatable, or comma-separated in `WATCH_NAMESPACES`); none: every
    /// namespace.
    #[arg(
        long = "namespace",
        value_name = "NS",
        env = "WATCH_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// Where the admin HTTP server listens (/metrics, /livez, /readyz).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080")]
    pub admin_listen: SocketAddr,
    /// The most resources reconciled at once (32: measured with ten organizations at their
    /// rate limit, see docs/scale-out.md).
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Run only while holding a Lease (required for more than one replica).
    #[arg(long, env = "LEADER_ELECTION")]
    pub leader_election: bool,
    /// The Lease's name.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "genesys-offboarding-operator"
    )]
    pub lease_name: String,
    /// The Lease's namespace.
    #[arg(
        long,
        value_name = "NS",
        env = "POD_NAMESPACE",
        default_value = "default"
    )]
    pub lease_namespace: String,
    /// How long the Lease stays valid without a renewal (whole seconds, at least 3s); the holder
    /// renews a third of it before expiry. A standby takes over this long after a leader dies
    /// without releasing the Lease (a SIGKILL, a lost node).
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = lease_duration)]
    pub lease_duration: Duration,
    /// Requests per minute per Genesys OAuth client (shared by every resource using it).
    #[arg(long, value_name = "N", default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
    pub genesys_rate_limit: u32,
    /// A host that `spec.apiBaseUrl` / `spec.loginBaseUrl` may name, `HOST` (every port) or
    /// `HOST:PORT` (repeatable, or comma-separated in `ALLOWED_ENDPOINTS`). None by default: the
    /// namespace's OAuth client secret goes only to Genesys Cloud's regional hosts, and a
    /// resource naming other endpoints stalls with `EndpointNotAllowed`.
    #[arg(
        long = "allowed-endpoint",
        value_name = "HOST[:PORT]",
        env = "ALLOWED_ENDPOINTS",
        value_delimiter = ','
    )]
    pub allowed_endpoints: Vec<AllowedEndpoint>,
    /// The most passes of one Genesys organization (OAuth client and endpoints) at once, so that
    /// one whose endpoint stops answering cannot take every worker. Default: half of
    /// `--concurrency`, rounded up.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_passes_per_org: Option<u16>,
    /// How long one pass may run before it is abandoned and retried with backoff (e.g. `90s`,
    /// `2m`, `1h`). Raise it if a `history.lookbackDays` over 124 makes Genesys analytics jobs
    /// slower than this.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = pass_timeout)]
    pub pass_timeout: Duration,
    /// The wait after a resource's first failed pass (e.g. `5s`); each further consecutive
    /// failure doubles it, up to `--backoff-max`, jittered down by up to half.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = backoff)]
    pub backoff_base: Duration,
    /// The longest wait between two failed passes of one resource (e.g. `5m`).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = backoff)]
    pub backoff_max: Duration,
    /// Guardrail: at most N offboardings that deactivate their user start per
    /// `--deactivation-cap-window` per Genesys organization (namespace, credentials Secret and
    /// endpoints); the rest wait with `DeactivationCapReached`. Unset: no cap.
    #[arg(long, value_name = "N", env = "DEACTIVATION_CAP", value_parser = clap::value_parser!(u32).range(1..))]
    pub deactivation_cap: Option<u32>,
    /// The window of `--deactivation-cap` (e.g. `1h`, `24h`).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = cap_window)]
    pub deactivation_cap_window: Duration,
    /// Guardrail: a Genesys user id never offboarded (repeatable, or comma-separated in
    /// `PROTECTED_USER_IDS`); such a resource stalls with `ProtectedUser`.
    #[arg(
        long = "protected-user-id",
        value_name = "ID",
        env = "PROTECTED_USER_IDS",
        value_delimiter = ','
    )]
    pub protected_user_ids: Vec<String>,
    /// Guardrail: an email address never offboarded, any case (repeatable, or comma-separated
    /// in `PROTECTED_EMAILS`).
    #[arg(
        long = "protected-email",
        value_name = "EMAIL",
        env = "PROTECTED_EMAILS",
        value_delimiter = ','
    )]
    pub protected_emails: Vec<String>,
    /// Guardrail: a division (id or name) whose users are never offboarded (repeatable, or
    /// comma-separated in `PROTECTED_DIVISIONS`).
    #[arg(
        long = "protected-division",
        value_name = "DIVISION",
        env = "PROTECTED_DIVISIONS",
        value_delimiter = ','
    )]
    pub protected_divisions: Vec<String>,
    /// Guardrail: no Genesys call for an offboarding until someone other than its requester
    /// approves it (annotation `offboarding.genesys-operator.io/approved-by`, checked by the
    /// chart's `ValidatingAdmissionPolicy`); until then it waits with `AwaitingApproval`.
    #[arg(long, env = "REQUIRE_APPROVAL")]
    pub require_approval: bool,
    /// Log line format.
    #[arg(long, value_name = "FORMAT", value_enum, env = "LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log level or filter (`RUST_LOG`, when set, overrides it).
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,
}

/// What can stop `run` before or while it runs.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("failed to configure the Kubernetes client")]
    Kube(#[source] kube::Error),
    #[error("failed to listen on {0} for the admin server")]
    Listen(SocketAddr, #[source] std::io::Error),
    #[error(transparent)]
    Run(#[from] RunError),
}

impl RunArgs {
    /// The operator's settings from the flags. The replica's identity (Events, Lease) is the pod
    /// name (`POD_NAME`), else the host name, else a random id.
    pub fn settings(&self) -> Settings {
        let instance = identity();
        Settings {
            namespaces: self
                .namespaces
                .iter()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .collect(),
            concurrency: self.concurrency,
            genesys_rate_limit: self.genesys_rate_limit,
            max_passes_per_org: self.max_passes_per_org,
            pass_timeout: self.pass_timeout,
            backoff: BackoffPolicy {
                base: self.backoff_base,
                // Never shorter than the first wait.
                max: self.backoff_max.max(self.backoff_base),
            },
            leader_election: self.leader_election.then(|| LeaderElection {
                lease_duration: self.lease_duration,
                renew_before: self.lease_duration / 3,
                ..LeaderElection::new(&self.lease_name, &self.lease_namespace, &instance)
            }),
            instance,
            allowed_endpoints: self.allowed_endpoints.iter().cloned().collect(),
            guardrails: GuardrailSettings {
                deactivation_cap: self.deactivation_cap.map(|cap| DeactivationCapSettings {
                    cap,
                    window: self.deactivation_cap_window,
                }),
                protected: ProtectedUsers::new(
                    self.protected_user_ids.iter().cloned(),
                    self.protected_emails.iter().cloned(),
                    self.protected_divisions.iter().cloned(),
                ),
                require_approval: self.require_approval,
            },
            ..Settings::default()
        }
    }
}

/// `--pass-timeout`: a duration such as `90s`, `2m` or `1h30m`, at least 10 s.
fn pass_timeout(value: &str) -> Result<Duration, String> {
    match crate::crd::parse_duration(value) {
        Some(timeout) if timeout >= Duration::from_secs(10) => Ok(timeout),
        Some(_) => Err("must be at least 10s".to_owned()),
        None => Err("expected a duration such as 90s, 2m or 1h30m".to_owned()),
    }
}

/// `--backoff-base`, `--backoff-max`: a duration of at least a second.
fn backoff(value: &str) -> Result<Duration, String> {
    match crate::crd::parse_duration(value) {
        Some(d) if d >= Duration::from_secs(1) => Ok(d),
        Some(_) => Err("must be at least 1s".to_owned()),
        None => Err("expected a duration such as 5s or 5m".to_owned()),
    }
}

/// `--lease-duration`: whole seconds (the Lease counts in seconds), at least 3 s.
fn lease_duration(value: &str) -> Result<Duration, String> {
    match crate::crd::parse_duration(value) {
        Some(d) if d >= Duration::from_secs(3) && d.subsec_nanos() == 0 => Ok(d),
        Some(_) => Err("must be whole seconds, at least 3s".to_owned()),
        None => Err("expected a duration such as 15s or 1m".to_owned()),
    }
}

/// `--deactivation-cap-window`: a duration of at least a minute.
fn cap_window(value: &str) -> Result<Duration, String> {
    match crate::crd::parse_duration(value) {
        Some(window) if window >= Duration::from_secs(60) => Ok(window),
        Some(_) => Err("must be at least 1m".to_owned()),
        None => Err("expected a duration such as 1h or 24h".to_owned()),
    }
}

/// Runs the operator until SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> Result<(), CliError> {
    let settings = args.settings();
    let mut config = kube::Config::infer()
        .await
        .map_err(|e| CliError::Kube(kube::Error::InferConfig(e)))?;
    // The replica names itself in every request, so the API server's audit log tells which
    // replica wrote what.
    if let Ok(agent) = axum::http::HeaderValue::from_str(&format!(
        "genesys-offboarding-operator/{} ({})",
        env!("CARGO_PKG_VERSION"),
        settings.instance
    )) {
        config.headers.push((axum::http::header::USER_AGENT, agent));
    }
    let client = kube::Client::try_from(config).map_err(CliError::Kube)?;
    let operator = Operator::new(client, settings);
    let listener = TcpListener::bind(args.admin_listen)
        .await
        .map_err(|e| CliError::Listen(args.admin_listen, e))?;
    tracing::info!(address = %args.admin_listen, "admin server listening");
    let stop = Stop::when(shutdown_signal());
    let admin = tokio::spawn(crate::admin::serve(
        listener,
        operator.metrics(),
        operator.health(),
        stop.wait(),
    ));
    let result = operator.run(stop.wait()).await;
    // The admin server ends on the same signal; do not wait for it if the operator failed.
    if result.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(5), admin).await;
    }
    result.map_err(CliError::from)
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested: finishing in-flight passes");
}

fn identity() -> String {
    std::env::var("POD_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| format!("genesys-offboarding-{}", uuid::Uuid::new_v4().simple()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> Result<RunArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("run").chain(args.iter().copied())).map(|c| c.run)
    }

    #[test]
    fn custom_endpoints_are_off_unless_a_flag_allows_their_hosts() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        // (ALLOWED_ENDPOINTS, the flag's variable, is not set where the tests run.)
        let default = parse(&[]).unwrap().settings();
        assert!(default.allowed_endpoints.is_empty());
        assert!(
            !default
                .allowed_endpoints
                .allows(&url("http://127.0.0.1:8080/"))
        );

        let settings = parse(&[
            "--allowed-endpoint",
            "genesys-proxy.example.com:8443",
            "--allowed-endpoint=127.0.0.1,[::1]:9000",
        ])
        .unwrap()
        .settings();

        let allowed = &settings.allowed_endpoints;
        assert!(allowed.allows(&url("https://genesys-proxy.example.com:8443/")));
        assert!(!allowed.allows(&url("https://genesys-proxy.example.com/")));
        assert!(allowed.allows(&url("http://127.0.0.1:1234/")));
        assert!(allowed.allows(&url("http://[::1]:9000/")));
        assert!(parse(&["--allowed-endpoint", "https://proxy.example.com/"]).is_err());
    }

    fn settings(flags: &[&str]) -> Result<Settings, clap::Error> {
        let argv = std::iter::once("run").chain(flags.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.run.settings())
    }

    #[test]
    fn the_fairness_limits_default_to_half_the_workers_per_organization_and_two_minutes_per_pass() {
        let defaults = settings(&[]).unwrap();
        assert_eq!(defaults.max_passes_per_org, None);
        assert_eq!(defaults.concurrency, 32);
        assert_eq!(defaults.passes_per_org(), 16);
        assert_eq!(defaults.pass_timeout, Duration::from_secs(120));

        let set = settings(&[
            "--concurrency=16",
            "--max-passes-per-org=3",
            "--pass-timeout=1h30m",
        ])
        .unwrap();
        assert_eq!(set.passes_per_org(), 3);
        assert_eq!(set.pass_timeout, Duration::from_secs(5400));
        assert_eq!(
            settings(&["--concurrency=2", "--max-passes-per-org=9"])
                .unwrap()
                .passes_per_org(),
            2,
            "never more than --concurrency"
        );
    }

    #[test]
    fn the_backoff_defaults_to_5s_doubling_to_5m_and_is_set_by_its_flags() {
        assert_eq!(settings(&[]).unwrap().backoff, BackoffPolicy::default());
        let set = settings(&["--backoff-base=1s", "--backoff-max=8s"]).unwrap();
        assert_eq!(
            set.backoff,
            BackoffPolicy {
                base: Duration::from_secs(1),
                max: Duration::from_secs(8)
            }
        );
        let inverted = settings(&["--backoff-base=30s", "--backoff-max=10s"]).unwrap();
        assert_eq!(inverted.backoff.max, Duration::from_secs(30));
        assert!(settings(&["--backoff-base=0s"]).is_err());
        assert!(settings(&["--backoff-max=soon"]).is_err());
    }

    #[test]
    fn guardrails_are_off_by_default_and_set_by_their_flags() {
        let defaults = settings(&[]).unwrap().guardrails;
        assert_eq!(defaults.deactivation_cap, None);
        assert!(defaults.protected.is_empty());
        assert!(!defaults.require_approval);

        let set = settings(&[
            "--deactivation-cap=25",
            "--deactivation-cap-window=24h",
            "--protected-user-id=u-1,u-2",
            "--protected-email=CEO@example.com",
            "--protected-division=Executives",
            "--require-approval",
        ])
        .unwrap()
        .guardrails;
        assert_eq!(
            set.deactivation_cap,
            Some(DeactivationCapSettings {
                cap: 25,
                window: Duration::from_secs(86_400)
            })
        );
        assert_eq!(
            set.protected,
            ProtectedUsers::new(
                ["u-1".to_owned(), "u-2".to_owned()],
                ["ceo@example.com".to_owned()],
                ["Executives".to_owned()]
            )
        );
        assert!(set.require_approval);
        for bad in ["--deactivation-cap=0", "--deactivation-cap-window=30s"] {
            assert!(settings(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_lease_lasts_15_s_unless_set_and_is_renewed_a_third_of_it_before_expiry() {
        let default = settings(&["--leader-election"]).unwrap();
        let election = default.leader_election.unwrap();
        assert_eq!(election.lease_duration, Duration::from_secs(15));
        assert_eq!(election.renew_before, Duration::from_secs(5));

        let short = settings(&["--leader-election", "--lease-duration=6s"]).unwrap();
        let election = short.leader_election.unwrap();
        assert_eq!(election.lease_duration, Duration::from_secs(6));
        assert_eq!(election.renew_before, Duration::from_secs(2));
        for bad in ["--lease-duration=2s", "--lease-duration=soon"] {
            assert!(settings(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_fairness_limits_are_refused() {
        for bad in [
            "--max-passes-per-org=0",
            "--pass-timeout=5s",
            "--pass-timeout=soon",
        ] {
            assert!(settings(&[bad]).is_err(), "{bad}");
        }
    }
}
