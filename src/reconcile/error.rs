//! What can stop a reconcile pass, one `thiserror` enum per boundary (credentials, resolving the
//! user, reading Genesys, a step, persisting status), each with its retry class and a `PascalCase`
//! reason that serves as condition reason, Event reason and metric label. No I/O.
//!
//! `Display` names the operation that failed; the cause sits in `#[source]` only. Use
//! [`chain`] to render the whole cause chain for a status message. No message carries a secret:
//! the Genesys client's errors never do, and credentials errors name keys, not values.

use std::error::Error as StdError;
use std::time::Duration;

use super::owners::OwnershipError;
use super::plan::StepKind;
use crate::crd::{MAX_NOT_APPLIED_ATTEMPTS, SpecError, reason};
use genesys_cloud::{GenesysError, RetryClass};

/// Back-off used for errors whose class is [`RetryClass::Backoff`] when the caller has no policy
/// of its own (the one-shot mode).
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(5);

/// Why custom endpoints were refused, in status, Events and logs alike. The same words whatever
/// the URLs: no connection was attempted, so there is nothing about the network to tell.
pub const ENDPOINT_NOT_ALLOWED_MESSAGE: &str = "spec.apiBaseUrl and spec.loginBaseUrl name hosts this operator is not configured to allow, so the credentials Secret was not read and nothing was sent: set spec.region, or ask the operator's administrators to allow the hosts (--allowed-endpoint)";

/// Loading the Genesys credentials and building a client.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The Secret or one of its keys is missing (the message names the key, never a value).
    #[error("failed to load Genesys credentials: {0}")]
    Missing(String),
    /// `spec.apiBaseUrl` / `spec.loginBaseUrl` name a host the operator does not allow.
    #[error("{ENDPOINT_NOT_ALLOWED_MESSAGE}")]
    EndpointNotAllowed,
    /// The client could not be built from what was found.
    #[error("failed to build the Genesys client")]
    Client(#[source] GenesysError),
    /// Where the credentials are kept did not answer as it should (the Kubernetes API failed
    /// to read the Secret): nothing is known to be missing, so the pass is retried with backoff.
    #[error("failed to read the credentials Secret {secret}")]
    Unreadable {
        /// `namespace/name`.
        secret: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl CredentialsError {
    pub fn retry_class(&self) -> RetryClass {
        match self {
            CredentialsError::Unreadable { .. } => RetryClass::Backoff,
            CredentialsError::Missing(_)
            | CredentialsError::EndpointNotAllowed
            | CredentialsError::Client(_) => RetryClass::Never,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            CredentialsError::Missing(_) => reason::CREDENTIALS_MISSING,
            CredentialsError::EndpointNotAllowed => reason::ENDPOINT_NOT_ALLOWED,
            CredentialsError::Client(e) => e.reason(),
            CredentialsError::Unreadable { .. } => "SecretUnreadable",
        }
    }
}

/// Resolving `spec.user` to exactly one Genesys user.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{count} live users have the email address {email}: {ids}; set spec.user.id")]
    Ambiguous {
        email: String,
        count: usize,
        ids: String,
    },
    #[error("no Genesys user matches {0}")]
    NotFound(String),
    #[error("user {id} is deleted in Genesys Cloud; the operator never restores a deleted user")]
    Deleted { id: String },
    #[error("spec.user.id {id} has the email address {actual}, not {expected}")]
    IdEmailMismatch {
        id: String,
        expected: String,
        actual: String,
    },
    #[error("failed to look up the user")]
    Genesys(#[source] GenesysError),
}

impl ResolveError {
    pub fn retry_class(&self) -> RetryClass {
        match self {
            ResolveError::Genesys(e) => e.retry_class(),
            _ => RetryClass::Never,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ResolveError::Ambiguous { .. } => reason::AMBIGUOUS_USER,
            ResolveError::NotFound(_) => reason::USER_NOT_FOUND,
            ResolveError::Deleted { .. } => reason::USER_DELETED,
            ResolveError::IdEmailMismatch { .. } => reason::ID_EMAIL_MISMATCH,
            ResolveError::Genesys(e) => genesys_reason(e),
        }
    }
}

/// Reading the user's routing, queues, stations, conversations (observe, snapshot, history).
#[derive(Debug, thiserror::Error)]
#[error("failed to {what}")]
pub struct ReadError {
    pub what: &'static str,
    #[source]
    pub source: GenesysError,
}

impl ReadError {
    pub fn new(what: &'static str) -> impl FnOnce(GenesysError) -> Self {
        move |source| Self { what, source }
    }

    pub fn retry_class(&self) -> RetryClass {
        self.source.retry_class()
    }

    pub fn reason(&self) -> &'static str {
        genesys_reason(&self.source)
    }
}

/// Carrying out one step of the plan.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// A write was about to run without a persisted snapshot (an invariant; a bug if ever seen).
    #[error("refused to {0} before the snapshot is persisted")]
    SnapshotNotPersisted(StepKind),
    #[error("failed to {what}")]
    Genesys {
        what: &'static str,
        #[source]
        source: GenesysError,
    },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("status.history.interval {0:?} is not a start/end interval")]
    BadInterval(String),
    /// Genesys Cloud accepted the change, but a read afterwards shows it did not take effect.
    #[error(
        "Genesys Cloud accepted the {step} change but a read still shows {observed} \
         (pass {attempts} of {MAX_NOT_APPLIED_ATTEMPTS}; see status.notApplied)"
    )]
    NotApplied {
        step: StepKind,
        observed: String,
        /// Passes that made the change without it taking effect, this one included.
        attempts: u32,
    },
    /// Genesys Cloud accepted drain changes that no read shows yet (listed, with what was read).
    #[error(
        "Genesys Cloud accepted {count} change(s) that no read shows yet: {what} \
         (pass {attempts} of {MAX_NOT_APPLIED_ATTEMPTS}; see status.notApplied)"
    )]
    Unconfirmed {
        count: usize,
        what: String,
        /// The most passes any of them was made without showing, this one included.
        attempts: u32,
    },
}

impl StepError {
    pub fn genesys(what: &'static str) -> impl FnOnce(GenesysError) -> Self {
        move |source| Self::Genesys { what, source }
    }

    pub fn retry_class(&self) -> RetryClass {
        match self {
            StepError::Genesys { source, .. } => source.retry_class(),
            StepError::Read(e) => e.retry_class(),
            StepError::SnapshotNotPersisted(_) | StepError::BadInterval(_) => RetryClass::Never,
            StepError::NotApplied { attempts, .. } | StepError::Unconfirmed { attempts, .. }
                if *attempts >= MAX_NOT_APPLIED_ATTEMPTS =>
            {
                RetryClass::Never
            }
            StepError::NotApplied { .. } | StepError::Unconfirmed { .. } => RetryClass::Backoff,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            StepError::Genesys { source, .. } => genesys_reason(source),
            StepError::Read(e) => e.reason(),
            StepError::SnapshotNotPersisted(_) => "SnapshotNotPersisted",
            StepError::BadInterval(_) => "InvalidStatus",
            StepError::NotApplied { .. } => reason::CHANGE_NOT_APPLIED,
            StepError::Unconfirmed { attempts, .. } if *attempts >= MAX_NOT_APPLIED_ATTEMPTS => {
                reason::CHANGE_NOT_APPLIED
            }
            StepError::Unconfirmed { .. } => reason::AWAITING_CONFIRMATION,
        }
    }
}

/// Persisting status (the [`super::StatusStore`]).
#[derive(Debug, thiserror::Error)]
#[error("failed to persist the status: {0}")]
pub struct StoreError(pub String);

/// A reconcile pass that did not reach a decision. Everything a human must fix is not an error
/// but a `Stalled` outcome; these are the failures worth retrying (or, with
/// [`RetryClass::Never`], reported and retried only on change).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Step(#[from] StepError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The spec names another organization than the one the user was resolved in.
    #[error(
        "the spec names {spec}, but the user was resolved at {recorded} (status.endpoint); \
         nothing is read or written: set it back, or create another GenesysUserOffboarding for \
         the other organization"
    )]
    EndpointChanged { recorded: String, spec: String },
    #[error(transparent)]
    Ownership(#[from] OwnershipError),
    #[error(transparent)]
    Handoff(#[from] super::handoff::HandoffError),
}

impl ReconcileError {
    pub fn retry_class(&self) -> RetryClass {
        match self {
            ReconcileError::Credentials(e) => e.retry_class(),
            ReconcileError::Resolve(e) => e.retry_class(),
            ReconcileError::Read(e) => e.retry_class(),
            ReconcileError::Step(e) => e.retry_class(),
            ReconcileError::Store(_) | ReconcileError::Ownership(_) => RetryClass::Backoff,
            ReconcileError::Spec(_) | ReconcileError::EndpointChanged { .. } => RetryClass::Never,
            ReconcileError::Handoff(e) => e.retry_class(),
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Credentials(e) => e.reason(),
            ReconcileError::Resolve(e) => e.reason(),
            ReconcileError::Read(e) => e.reason(),
            ReconcileError::Step(e) => e.reason(),
            ReconcileError::Store(_) => "StatusNotPersisted",
            ReconcileError::Spec(e) => e.reason(),
            ReconcileError::EndpointChanged { .. } => reason::ENDPOINT_CHANGED,
            ReconcileError::Ownership(_) => "OwnershipUnknown",
            ReconcileError::Handoff(e) => e.reason(),
        }
    }

    /// How long to wait before the next attempt, if one makes sense.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.retry_class() {
            RetryClass::After(after) => Some(after),
            RetryClass::Backoff => Some(DEFAULT_BACKOFF),
            RetryClass::Never => None,
        }
    }
}

/// The Genesys error's own reason, except that refused credentials and a login host that is no
/// OAuth server get the CRD's reasons.
fn genesys_reason(error: &GenesysError) -> &'static str {
    match error {
        GenesysError::Auth { .. } | GenesysError::Unauthorized { .. } => {
            reason::CREDENTIALS_REJECTED
        }
        GenesysError::NotOAuth { .. } => reason::LOGIN_ENDPOINT_INVALID,
        other => other.reason(),
    }
}

/// The error and its causes for a status message or an Event, which whoever may write the
/// resource reads: as [`chain`], except that a Genesys error with a
/// [`GenesysError::public_message`] ends the text with that message, without its causes (no
/// DNS, connection or TLS detail). The operator's log keeps the whole [`chain`].
pub fn status_message(error: &(dyn StdError + 'static)) -> String {
    let mut text = String::new();
    let mut current = Some(error);
    while let Some(error) = current {
        let public = error
            .downcast_ref::<GenesysError>()
            .and_then(GenesysError::public_message);
        let last = public.is_some();
        let next = public.unwrap_or_else(|| error.to_string());
        if text.is_empty() {
            text = next;
        } else if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        if last {
            break;
        }
        current = error.source();
    }
    text
}

/// The error and its causes, joined with `": "`, for logs (see [`status_message`] for what a
/// resource's status and Events may carry).
pub fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn conflict() -> GenesysError {
        GenesysError::VersionConflict {
            operation: "patch_user".into(),
            status: 409,
            body: None,
        }
    }

    #[test]
    fn a_step_error_names_the_step_and_keeps_the_cause_in_source() {
        let error = ReconcileError::from(StepError::genesys("deactivate the user")(conflict()));

        assert_eq!(error.to_string(), "failed to deactivate the user");
        assert!(
            chain(&error).contains("version conflict"),
            "{}",
            chain(&error)
        );
        assert_eq!(error.reason(), "VersionConflict");
        assert_eq!(error.retry_class(), RetryClass::Backoff);
    }

    #[test]
    fn resolution_problems_are_never_retried_and_carry_the_crd_reasons() {
        let table: Vec<(ResolveError, &str)> = vec![
            (
                ResolveError::Ambiguous {
                    email: "a@x.io".into(),
                    count: 2,
                    ids: "1, 2".into(),
                },
                "AmbiguousUser",
            ),
            (ResolveError::NotFound("a@x.io".into()), "UserNotFound"),
            (ResolveError::Deleted { id: "1".into() }, "UserDeleted"),
            (
                ResolveError::IdEmailMismatch {
                    id: "1".into(),
                    expected: "a@x.io".into(),
                    actual: "b@x.io".into(),
                },
                "IdEmailMismatch",
            ),
        ];
        for (error, reason) in table {
            assert_eq!(error.reason(), reason);
            assert_eq!(error.retry_class(), RetryClass::Never);
        }
    }

    #[test]
    fn refused_credentials_stall_with_the_credentials_reason() {
        let error = ResolveError::Genesys(GenesysError::Auth {
            operation: "post_oauth_token".into(),
            status: 401,
            error: Some("invalid_client".into()),
            description: None,
        });

        assert_eq!(error.reason(), "CredentialsRejected");
    }

    #[test]
    fn a_login_host_that_is_no_oauth_server_is_not_a_credentials_problem() {
        let error = ReconcileError::from(ResolveError::Genesys(GenesysError::NotOAuth {
            operation: "post_oauth_token".into(),
            status: 404,
            detail: "the body holds no OAuth error".into(),
        }));

        assert_eq!(error.reason(), reason::LOGIN_ENDPOINT_INVALID);
        assert_ne!(error.reason(), reason::CREDENTIALS_REJECTED);
        assert_eq!(error.retry_class(), RetryClass::Never);
        let shown = status_message(&error);
        assert!(!shown.contains("404"), "{shown}");
        assert!(chain(&error).contains("404"), "the log keeps the status");
    }

    #[test]
    fn every_way_of_not_reaching_genesys_reads_the_same_in_status() {
        let unreachable = |detail: &str| {
            ReconcileError::from(ReadError::new("read the user")(GenesysError::Transient {
                operation: "get_user".into(),
                status: None,
                attempts: 5,
                detail: detail.into(),
                body: None,
                source: None,
            }))
        };
        let messages: Vec<String> = [
            "could not connect",
            "no response within the 30000 ms timeout",
            "the request failed in transport",
            "the response body could not be read",
        ]
        .into_iter()
        .map(|detail| {
            let error = unreachable(detail);
            assert!(chain(&error).contains(detail), "the log keeps {detail:?}");
            assert_eq!(error.reason(), "TransientError");
            status_message(&error)
        })
        .collect();

        assert!(messages.iter().all(|m| *m == messages[0]), "{messages:?}");
        assert!(
            messages[0].contains("could not reach Genesys Cloud"),
            "{}",
            messages[0]
        );
    }

    #[test]
    fn an_answer_from_genesys_keeps_its_details_in_status() {
        let error = ReconcileError::from(StepError::genesys("deactivate the user")(conflict()));

        assert_eq!(status_message(&error), chain(&error));
    }

    #[test]
    fn a_rate_limit_says_when_to_come_back() {
        let error = ReconcileError::from(ReadError::new("read the user's queues")(
            GenesysError::RateLimited {
                operation: "get_user_queues".into(),
                retry_after: Duration::from_secs(7),
                body: None,
            },
        ));

        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(error.reason(), "RateLimited");
    }
}
