//! What the operator tells its operators: structured logs ([`init_logs`], text or JSON, with the
//! reconcile span's object key on every line) and Prometheus metrics ([`Metrics`], encoded as
//! text by the admin server in [`crate::admin`]). `Metrics` is also the Genesys client's
//! [`CallObserver`], so every HTTP exchange with Genesys Cloud is counted by operation and status.
//!
//! No label or log field ever carries a secret: labels are namespaces, names, reasons, operation
//! ids and HTTP status codes. No I/O besides writing logs to stderr.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use clap::ValueEnum;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use genesys_cloud::CallObserver;

/// The prefix of every metric name.
pub const METRIC_PREFIX: &str = "genesys_offboarding";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the span's fields, e.g. `reconcile{object=ns/name namespace=ns}`,
    /// precede each message).
    #[default]
    Text,
    /// One JSON object per line, with the current span's fields under `span`.
    Json,
}

/// A logging set-up that could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("failed to parse the log level {0:?}")]
    Level(String, #[source] tracing_subscriber::filter::ParseError),
    #[error("failed to install the log subscriber")]
    Install(#[source] tracing::subscriber::SetGlobalDefaultError),
}

/// Installs the global log subscriber on stderr. `RUST_LOG`, when set, overrides `level`.
pub fn init_logs(format: LogFormat, level: &str) -> Result<(), TelemetryError> {
    let filter = match EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(_) => EnvFilter::try_new(level).map_err(|e| TelemetryError::Level(level.into(), e))?,
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing::subscriber::set_global_default(subscriber(format, filter, ansi, std::io::stderr))
        .map_err(TelemetryError::Install)
}

/// The log subscriber of `--log-format`, writing to `writer` (stderr in the binary, a buffer in
/// tests). JSON lines carry the current span's fields under `span`: inside a reconcile, the
/// object key (`object`: `namespace/name`).
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    ansi: bool,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
    }
}

/// Labels of the reconcile counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    /// `Done`, `Wait`, `Stalled`, `Suspended`, `Restored` or `Error`.
    outcome: String,
}

/// Labels of the failure counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

/// Labels of the Genesys call counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    /// The contract's operation id, e.g. `patch_user`.
    operation: String,
    /// The HTTP status code, or `none` when no response arrived.
    status: String,
}

/// Labels of the per-resource info gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    namespace: String,
    name: String,
    /// Where the offboarding stands, from its kstatus conditions (see [`ResourceState`]).
    state: String,
    /// The `Ready` condition's status: `True`, `False` or `Unknown`.
    ready: String,
    /// The `Ready` condition's reason.
    reason: String,
}

/// Where one offboarding stands, as the `state` label of the info gauge: what a dashboard groups
/// by and what an alert on a stall needs, since `Ready=False` alone does not tell a stall from
/// a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceState {
    /// `Ready=True`: offboarded (or, in Observe mode, the plan is reported).
    Ready,
    /// `Reconciling=True`: steps are under way, waiting or being retried.
    Reconciling,
    /// `Stalled=True`: nothing goes on without a human; the reason says why.
    Stalled,
    /// `spec.suspend` is true: nothing is read or written.
    Suspended,
    /// None of the above, e.g. drift reported in Observe mode.
    NotReady,
}

impl ResourceState {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::Reconciling => "Reconciling",
            Self::Stalled => "Stalled",
            Self::Suspended => "Suspended",
            Self::NotReady => "NotReady",
        }
    }
}

/// The operator's metrics and their registry. Cheap to share behind an `Arc`.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<OutcomeLabels, Counter>,
    failures: Family<ReasonLabels, Counter>,
    duration: Histogram,
    genesys_calls: Family<CallLabels, Counter>,
    rate_limit_waits: Counter,
    rate_limit_wait_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    resources: Family<ResourceLabels, Gauge>,
    leader: Gauge,
    drift_corrections: Counter,
    guardrail_holds: Family<ReasonLabels, Counter>,
    deactivations_admitted: Counter,
    series: Mutex<Series>,
}

/// A resource's key in the info gauge: (namespace, name).
type ResourceKey = (String, String);

/// The bookkeeping of the info gauge (one lock, so that a deletion and the end of a pass cannot
/// interleave).
#[derive(Default)]
struct Series {
    // The info series currently exported per resource, so that a change of ready or reason
    // replaces the series instead of adding one.
    current: HashMap<ResourceKey, ResourceLabels>,
    // The passes in flight per resource, and whether the resource was forgotten (deleted) since
    // they began: a pass that ends after the deletion must not bring the series back. Holds
    // only the passes running, not every resource.
    passes: HashMap<ResourceKey, InFlight>,
}

struct InFlight {
    running: usize,
    forgotten: bool,
}

/// A pass of one resource in flight ([`Metrics::pass`]); its end is when this drops.
#[must_use = "the pass counts as in flight until this is dropped"]
pub struct PassGuard<'a> {
    metrics: &'a Metrics,
    key: ResourceKey,
}

impl Drop for PassGuard<'_> {
    fn drop(&mut self) {
        let mut series = lock(&self.metrics.series);
        if let Some(pass) = series.passes.get_mut(&self.key) {
            pass.running = pass.running.saturating_sub(1);
            if pass.running == 0 {
                series.passes.remove(&self.key);
            }
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered (names in docs/monitoring.md).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(METRIC_PREFIX);
        let reconciles = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconcile passes, by outcome (Done, Wait, Stalled, Suspended, Restored, Error)",
            reconciles.clone(),
        );
        let failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "reconcile_failures",
            "Reconcile passes that failed or stalled, by PascalCase reason",
            failures.clone(),
        );
        let duration = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register(
            "reconcile_duration_seconds",
            "How long one reconcile pass took",
            duration.clone(),
        );
        let genesys_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "genesys_calls",
            "HTTP exchanges with Genesys Cloud, by operation id and HTTP status (none: no response)",
            genesys_calls.clone(),
        );
        let rate_limit_waits = Counter::default();
        registry.register(
            "genesys_rate_limit_waits",
            "Genesys calls that waited for the OAuth client's shared rate-limit budget",
            rate_limit_waits.clone(),
        );
        let rate_limit_wait_seconds = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "genesys_rate_limit_wait_seconds",
            "Time spent waiting for the shared rate-limit budget",
            rate_limit_wait_seconds.clone(),
        );
        let resources = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "resource_info",
            "One series per GenesysUserOffboarding (value 1), labelled with its state (Ready, Reconciling, Stalled, Suspended, NotReady) and its Ready status and reason",
            resources.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica runs the controller (always 1 without leader election)",
            leader.clone(),
        );
        let drift_corrections = Counter::default();
        registry.register(
            "drift_corrections",
            "Offboarded users found re-activated outside the operator and deactivated again (Enforce mode)",
            drift_corrections.clone(),
        );
        let guardrail_holds = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "guardrail_holds",
            "Passes a guardrail held back, by reason (DeactivationCapReached, ProtectedUser, AwaitingApproval)",
            guardrail_holds.clone(),
        );
        let deactivations_admitted = Counter::default();
        registry.register(
            "deactivations_admitted",
            "Offboardings the deactivation cap admitted (each counts against its organization's window)",
            deactivations_admitted.clone(),
        );
        Self {
            registry,
            reconciles,
            failures,
            duration,
            genesys_calls,
            rate_limit_waits,
            rate_limit_wait_seconds,
            resources,
            leader,
            drift_corrections,
            guardrail_holds,
            deactivations_admitted,
            series: Mutex::new(Series::default()),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// One reconcile pass ended with `outcome` after `elapsed`.
    pub fn reconciled(&self, outcome: &str, elapsed: Duration) {
        self.reconciles
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// A guardrail held a pass back with `reason`.
    pub fn guardrail_held(&self, reason: &str) {
        self.guardrail_holds
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The deactivation cap admitted an offboarding.
    pub fn deactivation_admitted(&self) {
        self.deactivations_admitted.inc();
    }

    /// A pass failed or stalled with `reason`.
    pub fn failed(&self, reason: &str) {
        self.failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Marks a pass of `namespace/name` in flight until the guard drops. When the resource is
    /// forgotten meanwhile ([`Metrics::forget`]: it was deleted), the pass's [`Metrics::resource`]
    /// is ignored: a pass that ends after its resource's deletion does not bring its series back.
    pub fn pass(&self, namespace: &str, name: &str) -> PassGuard<'_> {
        let key = (namespace.to_owned(), name.to_owned());
        lock(&self.series)
            .passes
            .entry(key.clone())
            .or_insert(InFlight {
                running: 0,
                forgotten: false,
            })
            .running += 1;
        PassGuard { metrics: self, key }
    }

    /// Sets the info series of one resource, replacing its previous one; ignored when the
    /// resource was forgotten during the pass in flight (see [`Metrics::pass`]).
    pub fn resource(
        &self,
        namespace: &str,
        name: &str,
        state: ResourceState,
        ready: &str,
        reason: &str,
    ) {
        let labels = ResourceLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            state: state.as_str().to_owned(),
            ready: ready.to_owned(),
            reason: reason.to_owned(),
        };
        let key = (labels.namespace.clone(), labels.name.clone());
        let mut series = lock(&self.series);
        if series.passes.get(&key).is_some_and(|pass| pass.forgotten) {
            return;
        }
        if let Some(previous) = series.current.insert(key, labels.clone())
            && previous != labels
        {
            self.resources.remove(&previous);
        }
        self.resources.get_or_create(&labels).set(1);
    }

    /// Removes the info series of a deleted resource, and keeps a pass of it still in flight
    /// from setting it again.
    pub fn forget(&self, namespace: &str, name: &str) {
        let key = (namespace.to_owned(), name.to_owned());
        let mut series = lock(&self.series);
        if let Some(pass) = series.passes.get_mut(&key) {
            pass.forgotten = true;
        }
        if let Some(previous) = series.current.remove(&key) {
            self.resources.remove(&previous);
        }
    }

    /// Removes the info series of every resource of `namespace` (every namespace when `None`)
    /// that `keep` rejects; used after a relist, when deletions may have been missed.
    pub fn retain(&self, namespace: Option<&str>, keep: impl Fn(&str, &str) -> bool) {
        let mut series = lock(&self.series);
        series.current.retain(|(ns, name), labels| {
            let in_scope = namespace.is_none_or(|wanted| wanted == ns);
            if !in_scope || keep(ns, name) {
                return true;
            }
            self.resources.remove(labels);
            false
        });
    }

    /// A pass deactivated again a user re-activated outside the operator. The Event says which;
    /// the counter lets an alert see it, since in Enforce mode no condition stays behind.
    pub fn drift_corrected(&self) {
        self.drift_corrections.inc();
    }

    /// Whether this replica leads (runs the controller).
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }
}

impl CallObserver for Metrics {
    fn on_call(&self, operation: &str, status: Option<u16>, _elapsed: Duration) {
        let status = status.map_or_else(|| "none".to_owned(), |s| s.to_string());
        self.genesys_calls
            .get_or_create(&CallLabels {
                operation: operation.to_owned(),
                status,
            })
            .inc();
    }

    fn on_rate_limit_wait(&self, waited: Duration) {
        self.rate_limit_waits.inc();
        self.rate_limit_wait_seconds.inc_by(waited.as_secs_f64());
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_info_gauge_keeps_one_series_per_resource_and_forgets_deleted_ones() {
        let metrics = Metrics::new();

        metrics.resource(
            "hr",
            "jane",
            ResourceState::Reconciling,
            "Unknown",
            "Progressing",
        );
        metrics.resource("hr", "jane", ResourceState::Ready, "True", "Offboarded");
        metrics.resource(
            "hr",
            "john",
            ResourceState::Stalled,
            "False",
            "CredentialsMissing",
        );
        let text = metrics.encode().unwrap();

        assert!(text.contains(r#"genesys_offboarding_resource_info{namespace="hr",name="jane",state="Ready",ready="True",reason="Offboarded"} 1"#), "{text}");
        assert!(text.contains(r#"genesys_offboarding_resource_info{namespace="hr",name="john",state="Stalled",ready="False",reason="CredentialsMissing"} 1"#), "{text}");
        assert!(!text.contains("Progressing"), "{text}");
        metrics.forget("hr", "jane");
        metrics.retain(Some("hr"), |_, name| name != "john");
        let text = metrics.encode().unwrap();
        assert!(!text.contains(r#"name="jane""#), "{text}");
        assert!(!text.contains(r#"name="john""#), "{text}");
    }

    #[test]
    fn a_pass_that_ends_after_its_resource_was_deleted_does_not_bring_its_series_back() {
        let metrics = Metrics::new();
        metrics.resource(
            "hr",
            "jane",
            ResourceState::Reconciling,
            "Unknown",
            "Progressing",
        );

        let pass = metrics.pass("hr", "jane");
        metrics.forget("hr", "jane");
        metrics.resource(
            "hr",
            "jane",
            ResourceState::Reconciling,
            "False",
            "StatusNotPersisted",
        );
        drop(pass);

        let text = metrics.encode().unwrap();
        assert!(!text.contains(r#"name="jane""#), "{text}");
        assert!(lock(&metrics.series).passes.is_empty(), "nothing kept");
    }

    #[test]
    fn a_pass_of_a_resource_recreated_after_its_deletion_sets_its_series_again() {
        let metrics = Metrics::new();
        let old = metrics.pass("hr", "jane");
        metrics.forget("hr", "jane");
        drop(old);

        let _new = metrics.pass("hr", "jane");
        metrics.resource("hr", "jane", ResourceState::Ready, "True", "Offboarded");

        let text = metrics.encode().unwrap();
        assert!(
            text.contains(r#"genesys_offboarding_resource_info{namespace="hr",name="jane",state="Ready",ready="True",reason="Offboarded"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn genesys_calls_are_counted_by_operation_and_status() {
        let metrics = Metrics::new();

        metrics.on_call("patch_user", Some(200), Duration::from_millis(5));
        metrics.on_call("patch_user", Some(200), Duration::from_millis(5));
        metrics.on_call("get_user", None, Duration::from_millis(5));
        metrics.on_rate_limit_wait(Duration::from_millis(500));
        let text = metrics.encode().unwrap();

        assert!(
            text.contains(
                r#"genesys_offboarding_genesys_calls_total{operation="patch_user",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"genesys_offboarding_genesys_calls_total{operation="get_user",status="none"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains("genesys_offboarding_genesys_rate_limit_waits_total 1"),
            "{text}"
        );
    }

    #[test]
    fn drift_corrections_are_counted_and_exported_before_the_first() {
        let metrics = Metrics::new();
        let before = metrics.encode().unwrap();

        metrics.drift_corrected();
        let after = metrics.encode().unwrap();

        assert!(
            before.contains("genesys_offboarding_drift_corrections_total 0"),
            "{before}"
        );
        assert!(
            after.contains("genesys_offboarding_drift_corrections_total 1"),
            "{after}"
        );
    }

    #[test]
    fn reconciles_and_failures_are_counted() {
        let metrics = Metrics::new();

        metrics.reconciled("Done", Duration::from_millis(20));
        metrics.failed("CredentialsMissing");
        let text = metrics.encode().unwrap();

        assert!(
            text.contains(r#"genesys_offboarding_reconciles_total{outcome="Done"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"genesys_offboarding_reconcile_failures_total{reason="CredentialsMissing"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains("genesys_offboarding_reconcile_duration_seconds_count 1"),
            "{text}"
        );
    }
}
