//! Guardrails against a bad HR feed, checked by the pipeline before it writes anything: an
//! approval by someone other than the requester, protected users that are never offboarded,
//! and a cap on the deactivations one Genesys organization takes per time window.
//!
//! The approval annotations are trusted because the API server checks who sets them (the
//! chart's `ValidatingAdmissionPolicy`); this module only reads them. The cap's bookkeeping lives
//! behind [`DeactivationCap`] (the controller counts what every resource's status says was
//! admitted). I/O: none here.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::crd::{GenesysUserOffboarding, annotation};
use genesys_cloud::User;

/// What the operator is configured to refuse or hold (`--deactivation-cap`,
/// `--protected-*`, `--require-approval`). The default holds nothing back.
#[derive(Clone, Default)]
pub struct Guardrails {
    /// Users never offboarded.
    pub protected: ProtectedUsers,
    /// No Genesys call before an approval by someone other than the requester.
    pub require_approval: bool,
    /// The deactivations one organization may take per window; `None`: no cap.
    pub cap: Option<Arc<dyn DeactivationCap>>,
}

impl std::fmt::Debug for Guardrails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guardrails")
            .field("protected", &self.protected)
            .field("require_approval", &self.require_approval)
            .field("cap", &self.cap.as_ref().map(|c| c.describe()))
            .finish()
    }
}

/// Users that are never offboarded, by id, email address (any case) or division (id or name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtectedUsers {
    ids: BTreeSet<String>,
    emails: BTreeSet<String>,
    divisions: BTreeSet<String>,
}

impl ProtectedUsers {
    pub fn new(
        ids: impl IntoIterator<Item = String>,
        emails: impl IntoIterator<Item = String>,
        divisions: impl IntoIterator<Item = String>,
    ) -> Self {
        let clean = |values: &mut dyn Iterator<Item = String>, lower: bool| {
            values
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(|v| if lower { v.to_lowercase() } else { v })
                .collect::<BTreeSet<String>>()
        };
        Self {
            ids: clean(&mut ids.into_iter(), false),
            emails: clean(&mut emails.into_iter(), true),
            divisions: clean(&mut divisions.into_iter(), false),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.emails.is_empty() && self.divisions.is_empty()
    }

    /// Why `user` is protected, or `None`. Every address Genesys holds for the user counts
    /// (the primary email and the email contacts), so a feed naming the user by id cannot get
    /// past a protection by email.
    pub fn protects(&self, user: &User) -> Option<String> {
        if self.ids.contains(user.id.as_str()) {
            return Some(format!("the user id {} is protected", user.id));
        }
        let emails = user
            .email
            .iter()
            .chain(
                user.primary_contact_info
                    .iter()
                    .filter(|c| {
                        c.media_type
                            .as_deref()
                            .is_none_or(|m| m.eq_ignore_ascii_case("EMAIL"))
                    })
                    .filter_map(|c| c.address.as_ref()),
            )
            .map(|e| e.trim().to_lowercase());
        for email in emails {
            if self.emails.contains(&email) {
                return Some(format!("the email address {email} is protected"));
            }
        }
        let division = user.division.as_ref()?;
        [division.id.as_ref(), division.name.as_ref()]
            .into_iter()
            .flatten()
            .find(|d| self.divisions.contains(d.as_str()))
            .map(|d| format!("the division {d} is protected"))
    }
}

/// Whether the resource is approved: `None` when it is, else why not. An approval by the
/// requester does not count (the admission policy refuses it too; this keeps a resource
/// written before the policy was installed from approving itself).
pub fn unapproved(resource: &GenesysUserOffboarding) -> Option<String> {
    let annotations = resource.metadata.annotations.as_ref();
    let get = |key: &str| {
        annotations
            .and_then(|a| a.get(key))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    match (get(annotation::REQUESTED_BY), get(annotation::APPROVED_BY)) {
        (_, None) => Some(format!(
            "approvals are required: an approver (not the requester) must set the annotation {}",
            annotation::APPROVED_BY
        )),
        (Some(requester), Some(approver)) if requester == approver => Some(format!(
            "{approver} requested this offboarding and cannot approve it: another approver must set {}",
            annotation::APPROVED_BY
        )),
        (None, Some(_)) => Some(format!(
            "the annotation {} is missing, so the approval cannot be checked against the requester",
            annotation::REQUESTED_BY
        )),
        (Some(_), Some(_)) => None,
    }
}

/// The answer of the deactivation cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The offboarding may start writing; it counts against the window from `at`.
    Admitted { at: DateTime<Utc> },
    /// The organization's budget is used up: try again at `retry_at` (when the oldest
    /// admission of the window leaves it).
    Full {
        used: u32,
        cap: u32,
        window: Duration,
        retry_at: DateTime<Utc>,
    },
    /// The count cannot be trusted yet (the controller's view of the cluster is not synced):
    /// try again after this long.
    Unknown { after: Duration },
}

/// The per-organization budget of deactivations per window. Implementations count from durable
/// state (the resources' `status.deactivationAdmittedAt`) plus what they admitted themselves
/// and the watch has not shown yet.
pub trait DeactivationCap: Send + Sync {
    /// Asks to start an offboarding that will deactivate its user.
    fn admit(&self, resource: &GenesysUserOffboarding, now: DateTime<Utc>) -> Admission;

    /// Forgets an admission that was never persisted (the status write after it failed), so it
    /// does not count twice once the resource asks again.
    fn release(&self, resource: &GenesysUserOffboarding);

    /// For logs: `N per WINDOW`.
    fn describe(&self) -> String;
}

/// A duration as the flags take it: `1h30m`, `45s`.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut text = String::new();
    for (value, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if value > 0 {
            let _ = write!(text, "{value}{unit}");
        }
    }
    if text.is_empty() {
        text.push_str("0s");
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn user(json: serde_json::Value) -> User {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn protection_by_id_email_or_division_names_what_matched() {
        let protected = ProtectedUsers::new(
            ["u-ceo".to_owned()],
            [" CFO@Example.com ".to_owned()],
            ["Executives".to_owned(), "div-legal".to_owned()],
        );

        let ceo = user(serde_json::json!({"id": "u-ceo"}));
        let cfo = user(serde_json::json!({"id": "u-2", "email": "cfo@example.COM"}));
        let alias = user(serde_json::json!({"id": "u-3", "email": "x@example.com",
            "primaryContactInfo": [{"address": "cfo@example.com", "mediaType": "EMAIL", "type": "PRIMARY"}]}));
        let exec =
            user(serde_json::json!({"id": "u-4", "division": {"id": "d-1", "name": "Executives"}}));
        let legal = user(serde_json::json!({"id": "u-5", "division": {"id": "div-legal"}}));
        let agent = user(
            serde_json::json!({"id": "u-6", "email": "agent@example.com",
            "division": {"id": "d-9", "name": "Home"}}),
        );

        assert!(protected.protects(&ceo).unwrap().contains("u-ceo"));
        assert!(
            protected
                .protects(&cfo)
                .unwrap()
                .contains("cfo@example.com")
        );
        assert!(
            protected.protects(&alias).is_some(),
            "any address of the user counts"
        );
        assert!(protected.protects(&exec).unwrap().contains("Executives"));
        assert!(protected.protects(&legal).is_some());
        assert_eq!(protected.protects(&agent), None);
        assert!(ProtectedUsers::default().is_empty());
    }

    fn annotated(annotations: &[(&str, &str)]) -> GenesysUserOffboarding {
        let spec = serde_yaml::from_str(
            "user: {email: jane.doe@example.com}\ncredentialsSecretRef: {name: c}\nregion: us_east_1\n",
        )
        .unwrap();
        let mut resource = GenesysUserOffboarding::new("jane", spec);
        resource.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        resource
    }

    #[test]
    fn durations_read_as_the_flags_take_them() {
        assert_eq!(human(Duration::from_secs(5400)), "1h30m");
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::ZERO), "0s");
    }

    #[test]
    fn only_an_approval_by_someone_other_than_the_requester_counts() {
        let (req, app) = (annotation::REQUESTED_BY, annotation::APPROVED_BY);
        assert_eq!(
            unapproved(&annotated(&[(req, "alice"), (app, "bob")])),
            None
        );
        assert!(unapproved(&annotated(&[(req, "alice")])).is_some());
        assert!(
            unapproved(&annotated(&[(req, "alice"), (app, "alice")]))
                .unwrap()
                .contains("cannot approve")
        );
        assert!(unapproved(&annotated(&[(app, "bob")])).is_some());
        assert!(unapproved(&annotated(&[(req, "alice"), (app, "  ")])).is_some());
    }
}
