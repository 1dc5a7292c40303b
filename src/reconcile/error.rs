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
use crate::crd::{MAX_NOT_APPLIED_ATTEMPTS, SpecError, reason};
use crate::genesys::{GenesysError, RetryClass};

/// Back-off used for errors whose class is [`RetryClass::Backoff`] when the caller has no policy
/// of its own (the one-shot mode).
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(5);

/// Loading the Genesys credentials and building a client.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The Secret or one of its keys is missing (the message names the key, never a value).
    #[error("failed to load Genesys credentials: {0}")]
    Missing(String),
    /// The client could not be built from what was found.
    #[error("failed to build the Genesys client")]
    Client(#[source] GenesysError),
}

impl CredentialsError {
    pub fn retry_class(&self) -> RetryClass {
        RetryClass::Never
    }

    pub fn reason(&self) -> &'static str {
        match self {
            CredentialsError::Missing(_) => reason::CREDENTIALS_MISSING,
            CredentialsError::Client(e) => e.reason(),
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
    SnapshotNotPersisted(&'static str),
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
        step: &'static str,
        observed: String,
        /// Passes that made the change without it taking effect, this one included.
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
            StepError::NotApplied { attempts, .. } if *attempts >= MAX_NOT_APPLIED_ATTEMPTS => {
                RetryClass::Never
            }
            StepError::NotApplied { .. } => RetryClass::Backoff,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            StepError::Genesys { source, .. } => genesys_reason(source),
            StepError::Read(e) => e.reason(),
            StepError::SnapshotNotPersisted(_) => "SnapshotNotPersisted",
            StepError::BadInterval(_) => "InvalidStatus",
            StepError::NotApplied { .. } => reason::CHANGE_NOT_APPLIED,
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

/// The Genesys error's own reason, except that refused credentials get the CRD's reason.
fn genesys_reason(error: &GenesysError) -> &'static str {
    match error {
        GenesysError::Auth { .. } | GenesysError::Unauthorized { .. } => {
            reason::CREDENTIALS_REJECTED
        }
        other => other.reason(),
    }
}

/// The error and its causes, joined with `": "`, for status messages and logs.
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
