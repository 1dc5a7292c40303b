//! The `GenesysUserOffboarding` custom resource: its spec (what to do to which Genesys Cloud user),
//! its status (what was found, what is left, what was done, proof that history is kept), the
//! condition types and reasons the reconciler writes, and the spec checks that mirror the CEL rules
//! for the one-shot mode, where no API server validates.
//!
//! Start at [`GenesysUserOffboardingSpec`]. Every `///` on a field is user documentation: it becomes
//! `kubectl explain` text in the generated CRD (`genesys-offboarding crd`, committed in `crds/`).
//! Developer notes use `//`.

use std::collections::BTreeMap;
use std::time::Duration;

use genesys_cloud::{MemberBy, StateChangeReason, UserState};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::reconcile::plan::StepKind;

/// The API group of every resource this operator serves.
pub const API_GROUP: &str = "offboarding.genesys-operator.io";

/// The API version of [`GenesysUserOffboarding`].
pub const API_VERSION: &str = "v1alpha1";

/// The finalizer put on a resource whose `deletionPolicy` is `Restore`: it holds the deletion until
/// the user is re-activated and the snapshot put back.
pub const FINALIZER: &str = "offboarding.genesys-operator.io/restore";

/// The finalizer put on a resource whose `deletionPolicy` is `Orphan` just before the first write
/// of an offboarding to Genesys Cloud, and taken off when the offboarding is finished (or, on
/// deletion, when it could not be). Deleting the resource meanwhile lets the offboarding end
/// consistently and leaves an Event saying what was done; it never holds a deletion for longer
/// than the operator's deletion grace (5 min by default).
pub const IN_PROGRESS_FINALIZER: &str = "offboarding.genesys-operator.io/in-progress";

/// At most this many entries are kept in `status.actions` (oldest dropped first).
pub const MAX_ACTIONS: usize = 50;

/// At most this many conversation ids are listed in `status.history.checkedConversationIds`.
pub const MAX_CHECKED_CONVERSATION_IDS: usize = 5;

/// The longest condition message, action message or Event note, in bytes (the `events.k8s.io`
/// limit on a note). Longer text, such as an error message Genesys Cloud sent, is cut with `...`.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// The largest status the operator persists, in bytes of JSON. An API server refuses objects of
/// about 1.5 MiB; a larger status is trimmed (see `reconcile::report::fit`) before it is written.
pub const MAX_STATUS_BYTES: usize = 512 * 1024;

/// How many passes a change Genesys Cloud accepts without it taking effect is tried before the
/// resource stalls with `ChangeNotApplied`.
pub const MAX_NOT_APPLIED_ATTEMPTS: u32 = 5;

/// `spec.history.lookbackDays` bounds and default.
pub const LOOKBACK_DAYS_MIN: u32 = 1;
/// See [`LOOKBACK_DAYS_MIN`].
pub const LOOKBACK_DAYS_MAX: u32 = 1825;
/// See [`LOOKBACK_DAYS_MIN`].
pub const LOOKBACK_DAYS_DEFAULT: u32 = 90;

/// The latest `spec.effectiveAt` the operator decodes and handles: the end of the range of the
/// Kubernetes time type (`metav1.Time`, a jiff `Timestamp`, whose range ends a little before
/// 9999-12-31T23:59:59Z so that any UTC offset can be added to it). The CRD refuses later times
/// with a CEL rule, so a resource the API server admits is one the operator can read.
pub const EFFECTIVE_AT_MAX: &str = "9999-12-30T22:00:00.999999999Z";

/// The shape `spec.effectiveAt` must have, besides being an RFC 3339 date-time: at most nine
/// fractional digits and an offset whose minutes are below 60. The API server's date-time check
/// lets more through (any number of digits, offset minutes up to 99) and the operator could not
/// read those.
pub const EFFECTIVE_AT_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-5][0-9])$";

/// `spec.driftCheckInterval` default, and the bounds the interval must fall within.
pub const DRIFT_CHECK_INTERVAL_DEFAULT: &str = "1h";
/// See [`DRIFT_CHECK_INTERVAL_DEFAULT`].
pub const DRIFT_CHECK_INTERVAL_MIN: Duration = Duration::from_secs(60);
/// See [`DRIFT_CHECK_INTERVAL_DEFAULT`] (30 days).
pub const DRIFT_CHECK_INTERVAL_MAX: Duration = Duration::from_secs(30 * 24 * 3600);

// Length bounds shared by the schema (maxLength) and `validate`.
const EMAIL_MAX: usize = 254;
const USER_ID_LEN: usize = 36;
const SECRET_NAME_MAX: usize = 253;
const URL_MAX: usize = 2048;
const INTERVAL_MAX: usize = 16;

/// The one rule for `apiBaseUrl` and `loginBaseUrl`: a regular expression that the API server
/// evaluates (CEL `matches`, RE2) and so does [`GenesysUserOffboardingSpec::validate`] (the
/// `regex` crate), so both admit exactly the same URLs. It keeps to what both dialects read
/// alike: classes, groups, alternation, counted repetition and anchors. It admits
///
/// - `https://` with a host name whose labels are letters, digits and single inner hyphens and
///   whose last label starts with a letter (so no URL parser reads it as an IP address, and no
///   IDNA decoding applies), or a dotted-quad IPv4 address without leading zeros;
/// - `http://` only to `localhost`, `127.0.0.1` or `[::1]`;
/// - then an optional port (1 to 65535) and an optional path of unreserved characters and `/`;
///
/// and nothing else: no user info (`user:password@`), query, fragment, percent-encoding,
/// whitespace or other scheme. A URL parser's own leniency (upper-case schemes, `127.1`, ports
/// above 65535, an embedded password) therefore never decides what is admitted.
pub const BASE_URL_PATTERN: &str = concat!(
    "^(https://(",
    "([A-Za-z0-9]+(-[A-Za-z0-9]+)*[.])*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*",
    "|((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[.]){3}",
    "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])",
    ")|http://(localhost|127[.]0[.]0[.]1|\\[::1\\]))",
    "(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?",
    "(/[-A-Za-z0-9._~/]*)?$",
);

/// The message of the CEL rule on `apiBaseUrl` and `loginBaseUrl` (see [`BASE_URL_PATTERN`]).
pub const BASE_URL_RULE_MESSAGE: &str = "must be https:// with a host name or an IPv4 address, or http:// to localhost, 127.0.0.1 or [::1]; then an optional port and path; no user info, query or fragment";

/// The CEL rule on `apiBaseUrl` and `loginBaseUrl`: [`BASE_URL_PATTERN`] in a CEL string.
pub fn base_url_rule() -> String {
    format!("self.matches('{}')", BASE_URL_PATTERN.replace('\\', "\\\\"))
}

/// Condition types written to `status.conditions`.
///
/// `Ready`, `Reconciling` and `Stalled` follow kstatus (what Flux and `kubectl wait` read); the others
/// report one offboarding step each.
pub mod condition {
    /// `True` when the user is offboarded (or, in Observe mode, when the plan is reported).
    pub const READY: &str = "Ready";
    /// `True` while the operator is working or waiting (kstatus: `InProgress`).
    pub const RECONCILING: &str = "Reconciling";
    /// `True` when the operator cannot go on without a human (kstatus: Failed).
    pub const STALLED: &str = "Stalled";
    /// `True` when exactly one Genesys Cloud user matches `spec.user`.
    pub const USER_RESOLVED: &str = "UserResolved";
    /// `True` when the user is off queue, offline, out of direct queues and without a station.
    pub const ROUTING_DRAINED: &str = "RoutingDrained";
    /// `True` when the Genesys Cloud user is `inactive`.
    pub const DEACTIVATED: &str = "Deactivated";
    /// `True` when the user's OAuth tokens were revoked.
    pub const SESSIONS_REVOKED: &str = "SessionsRevoked";
    /// `True` when the user's conversation history is still attributable after deactivation.
    pub const HISTORY_VERIFIED: &str = "HistoryVerified";

    /// Every condition type, in the order a reader meets them.
    pub const ALL: [&str; 8] = [
        READY,
        RECONCILING,
        STALLED,
        USER_RESOLVED,
        ROUTING_DRAINED,
        DEACTIVATED,
        SESSIONS_REVOKED,
        HISTORY_VERIFIED,
    ];
}

/// Condition reasons (`PascalCase`, one word). The same strings serve as Event reasons and metric
/// labels. Errors from the Genesys Cloud client bring their own reasons (`RateLimited`,
/// `Forbidden`, ...) in the same style.
pub mod reason {
    /// Ready=True: the user is inactive, drained, signed out, and their history is kept.
    pub const OFFBOARDED: &str = "Offboarded";
    /// Ready=True in Observe mode: the plan is in status, nothing was written to Genesys Cloud.
    pub const OBSERVING: &str = "Observing";
    /// `spec.suspend` is true: the operator does nothing until it is false again.
    pub const SUSPENDED: &str = "Suspended";
    /// Reconciling=True: steps are being carried out.
    pub const PROGRESSING: &str = "Progressing";
    /// Reconciling=True: `spec.effectiveAt` is in the future; nothing happens before it.
    pub const SCHEDULED: &str = "Scheduled";
    /// Reconciling=True: the user is on a live conversation and `activeConversations` is `Wait`.
    pub const WAITING_FOR_ACTIVE_CONVERSATION: &str = "WaitingForActiveConversation";
    /// Reconciling=True: the resource is being deleted with `deletionPolicy: Restore`.
    pub const RESTORING: &str = "Restoring";
    /// A step condition whose step has not run yet.
    pub const PENDING: &str = "Pending";
    /// A step condition whose step is switched off in the spec.
    pub const NOT_REQUESTED: &str = "NotRequested";
    /// Reconciling=False / Stalled=False: nothing left to do or nothing blocking.
    pub const IDLE: &str = "Idle";

    /// Stalled=True: more than one live user has this email address; nothing was written.
    pub const AMBIGUOUS_USER: &str = "AmbiguousUser";
    /// Stalled=True: no user has this email address or id.
    pub const USER_NOT_FOUND: &str = "UserNotFound";
    /// Stalled=True: the user is already `deleted` in Genesys Cloud; the operator never restores one.
    pub const USER_DELETED: &str = "UserDeleted";
    /// Stalled=True: `spec.user.id` and `spec.user.email` name different users.
    pub const ID_EMAIL_MISMATCH: &str = "IdEmailMismatch";
    /// Stalled=True: the spec breaks a rule (see the message).
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Stalled=True: the API server admitted the resource but the operator cannot read a field of
    /// it (the message names the field and the problem); nothing is done until it is fixed.
    pub const UNDECODABLE: &str = "Undecodable";
    /// Stalled=True: the credentials Secret or one of its keys is missing.
    pub const CREDENTIALS_MISSING: &str = "CredentialsMissing";
    /// Stalled=True: Genesys Cloud refused the client credentials.
    pub const CREDENTIALS_REJECTED: &str = "CredentialsRejected";
    /// Stalled=True: `apiBaseUrl` / `loginBaseUrl` name a host the operator's configuration does
    /// not allow (`--allowed-endpoint`); the Secret was not read and nothing was sent.
    pub const ENDPOINT_NOT_ALLOWED: &str = "EndpointNotAllowed";
    /// Stalled=True: the login host answered the token request with something that is not an
    /// OAuth answer (e.g. a 404): the login URL is wrong, not the credentials.
    pub const LOGIN_ENDPOINT_INVALID: &str = "LoginEndpointInvalid";
    /// Stalled=True: conversations counted before deactivation are no longer found, neither in
    /// a check at least 5 minutes after the first one that came up short nor read one by one.
    pub const HISTORY_LOST: &str = "HistoryLost";
    /// Stalled=True: another resource (named in the message) offboards the same user; this one
    /// writes nothing to Genesys Cloud and restores nothing when deleted.
    pub const DUPLICATE_OFFBOARDING: &str = "DuplicateOffboarding";
    /// Stalled=True: the spec names another Genesys Cloud organization (region or base URLs)
    /// than the one the user was resolved in (`status.endpoint`); nothing is read or written.
    pub const ENDPOINT_CHANGED: &str = "EndpointChanged";
    /// Ready=False, then Stalled=True after [`super::MAX_NOT_APPLIED_ATTEMPTS`] passes: Genesys
    /// Cloud accepted a change but a read shows it did not take effect (see `status.notApplied`).
    pub const CHANGE_NOT_APPLIED: &str = "ChangeNotApplied";
    /// Ready=False (Reconciling): Genesys Cloud accepted a change that no read shows yet (queue
    /// changes are processed asynchronously); it is read again with backoff, and after
    /// [`super::MAX_NOT_APPLIED_ATTEMPTS`] passes the resource stalls with `ChangeNotApplied`.
    pub const AWAITING_CONFIRMATION: &str = "AwaitingConfirmation";
    /// Stalled=True: Genesys Cloud accepted handoff moves (`spec.handoff`) that no read showed at
    /// the new owner in [`super::MAX_NOT_APPLIED_ATTEMPTS`] passes; the message and
    /// `status.notApplied` (step `HandOff`) name them. The user is still active and in routing:
    /// nothing after the handoff ran.
    pub const HANDOFF_NOT_APPLIED: &str = "HandoffNotApplied";
    /// Ready=False (Reconciling): `spec.impact.requireAcknowledgement` is true and
    /// `spec.impact.acknowledgedDigest` does not name `status.impact.digest` (missing, or
    /// acknowledging an impact that has since changed); nothing is written until it does.
    pub const AWAITING_IMPACT_ACKNOWLEDGEMENT: &str = "AwaitingImpactAcknowledgement";
    /// SessionsRevoked=False: the user was already inactive when the operator first saw them, so
    /// the operator did not deactivate them and revoked nothing (an inactive user cannot sign in).
    pub const ALREADY_INACTIVE: &str = "AlreadyInactive";

    /// UserResolved=True.
    pub const RESOLVED: &str = "Resolved";
    /// RoutingDrained=True.
    pub const DRAINED: &str = "Drained";
    /// Deactivated=True.
    pub const USER_INACTIVE: &str = "UserInactive";
    /// SessionsRevoked=Unknown: Genesys Cloud answered the revocation of every OAuth token of the
    /// user with 2xx. No API lists another user's tokens, so it cannot be read back, and the
    /// condition never claims `True`; the user reads inactive, and inactive users cannot sign in.
    pub const REVOCATION_ACCEPTED: &str = "RevocationAccepted";
    /// HistoryVerified=True: every conversation counted before is still found.
    pub const HISTORY_PRESERVED: &str = "HistoryPreserved";
    /// HistoryVerified=True: the user had no conversation in the lookback window.
    pub const NO_HISTORY: &str = "NoHistory";
    /// HistoryVerified=False, Reconciling=True: the check after deactivation found fewer
    /// conversations than before (the remembered ones it missed were read one by one and are
    /// named in `status.history.missingConversationIds`). Genesys Cloud counts are approximate
    /// while data arrives and a conversation that just ended can be missing for a while, so the
    /// check runs again 5 minutes later before the offboarding stalls with `HistoryLost`.
    pub const HISTORY_UNCONFIRMED: &str = "HistoryUnconfirmed";

    /// Event: the user was re-activated outside the operator and deactivated again (Enforce).
    pub const DRIFT_CORRECTED: &str = "DriftCorrected";
    /// Event / Ready=False: the user was re-activated outside the operator (Observe reports only).
    pub const DRIFT_DETECTED: &str = "DriftDetected";
    /// Event: `deletionPolicy: Restore` put the user and their snapshot back.
    pub const RESTORED: &str = "Restored";
    /// Event: an `Orphan` resource was deleted while its offboarding was under way; the operator
    /// finished the offboarding, then let the resource go (the note lists the steps done).
    pub const FINISHED_BEFORE_DELETION: &str = "FinishedBeforeDeletion";
    /// Event (Warning): an `Orphan` resource was deleted while its offboarding was under way and
    /// the offboarding could not be finished (stalled, suspended, Observe, or not within the
    /// deletion grace); the note lists the steps done and those not done.
    pub const DELETED_UNFINISHED: &str = "DeletedUnfinished";

    /// Ready=False (Reconciling): the organization has used its deactivation budget
    /// (`--deactivation-cap` per `--deactivation-cap-window`); nothing was written to Genesys
    /// Cloud, and the offboarding starts when the window lets it or the cap is raised.
    pub const DEACTIVATION_CAP_REACHED: &str = "DeactivationCapReached";
    /// Stalled=True: the user is protected (`--protected-user-id`, `--protected-email`,
    /// `--protected-division`); nothing was written to Genesys Cloud.
    pub const PROTECTED_USER: &str = "ProtectedUser";
    /// Ready=False (Reconciling): approvals are required (`--require-approval`) and the
    /// resource has no approval by someone other than its requester; nothing was read from or
    /// written to Genesys Cloud.
    pub const AWAITING_APPROVAL: &str = "AwaitingApproval";
}

/// Annotations of the approval gate (`--require-approval`). The chart's
/// `ValidatingAdmissionPolicy` makes the API server, not the operator, check who sets them.
pub mod annotation {
    /// Who wrote the spec: set on create and on every spec change, and the API server admits
    /// only the name of the user making the request.
    pub const REQUESTED_BY: &str = "offboarding.genesys-operator.io/requested-by";
    /// Who approved the offboarding: the API server admits only the name of the user making
    /// the request, who must be in an approver group and must not be the requester.
    pub const APPROVED_BY: &str = "offboarding.genesys-operator.io/approved-by";
}

/// Which Genesys Cloud user to offboard, where their organization is, and how to offboard them.
/// Every field but `user` and `credentialsSecretRef` has a safe default.
// kube's printcolumn(...) attributes repeat keys such as `type_` by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "offboarding.genesys-operator.io",
    version = "v1alpha1",
    kind = "GenesysUserOffboarding",
    plural = "genesysuseroffboardings",
    singular = "genesysuseroffboarding",
    shortname = "offboarding",
    shortname = "offboardings",
    shortname = "gofb",
    category = "genesys",
    namespaced,
    status = "GenesysUserOffboardingStatus",
    derive = "PartialEq",
    doc = "Offboards one Genesys Cloud user: drains routing, deactivates the user, revokes their sessions and verifies that their conversation history is kept. Never deletes the user.",
    printcolumn(
        name = "User",
        type_ = "string",
        json_path = ".spec.user.email",
        description = "The email address of the user being offboarded"
    ),
    printcolumn(
        name = "Genesys State",
        type_ = "string",
        json_path = ".status.user.stateNow",
        description = "The user's state in Genesys Cloud now"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the offboarding is complete"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        description = "Why the offboarding is or is not complete"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "User ID",
        type_ = "string",
        json_path = ".status.user.id",
        description = "The Genesys Cloud user id",
        priority = 1
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        description = "Details about the Ready condition",
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.apiBaseUrl) == has(self.loginBaseUrl)",
        "message": "apiBaseUrl and loginBaseUrl go together: set both or neither",
        "reason": "FieldValueInvalid"
    },
    {
        "rule": "has(self.region) != (has(self.apiBaseUrl) || has(self.loginBaseUrl))",
        "message": "set exactly one of region, or apiBaseUrl with loginBaseUrl",
        "reason": "FieldValueInvalid"
    },
    {
        "rule": "(!has(oldSelf.region) || (has(self.region) && self.region == oldSelf.region)) && (!has(oldSelf.apiBaseUrl) || (has(self.apiBaseUrl) && self.apiBaseUrl == oldSelf.apiBaseUrl)) && (!has(oldSelf.loginBaseUrl) || (has(self.loginBaseUrl) && self.loginBaseUrl == oldSelf.loginBaseUrl))",
        "message": "region, apiBaseUrl and loginBaseUrl are immutable once set: the user is looked up in that organization; create another GenesysUserOffboarding for another organization",
        "reason": "FieldValueForbidden"
    }
]))]
pub struct GenesysUserOffboardingSpec {
    /// The Genesys Cloud user to offboard, by email address, by user id, or both (then both must
    /// name the same user). Immutable: to offboard someone else, create another resource.
    pub user: UserRef,

    /// The Secret, in the same namespace, that holds the OAuth client credentials (client
    /// credentials grant) under the keys `clientId` and `clientSecret`.
    pub credentials_secret_ref: SecretRef,

    /// The Genesys Cloud region of the organization, as the SDKs name it: `us_east_1`
    /// (mypurecloud.com), `eu_west_1` (mypurecloud.ie), `eu_central_1` (mypurecloud.de), ...
    /// Set this, or both `apiBaseUrl` and `loginBaseUrl`. Immutable once set, as are the base
    /// URLs: the user is looked up in that organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,

    /// The API base URL (e.g. `https://api.mypurecloud.com/`), instead of `region`, for a proxy
    /// or an emulator. The operator uses custom base URLs only when its administrator allowed
    /// their hosts (`--allowed-endpoint`); otherwise the resource stalls with
    /// `EndpointNotAllowed` and nothing is sent. Must be `https://` with a host name or an IPv4
    /// address, or `http://` to `localhost`, `127.0.0.1` or `[::1]`; then an optional port and
    /// path; no user info, query or fragment. Needs `loginBaseUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), extend("x-kubernetes-validations" = [{
        "rule": base_url_rule(),
        "message": BASE_URL_RULE_MESSAGE,
        "reason": "FieldValueInvalid"
    }]))]
    pub api_base_url: Option<String>,

    /// The login (OAuth) base URL (e.g. `https://login.mypurecloud.com/`), instead of `region`.
    /// Written, and allowed by the operator, as `apiBaseUrl` is. Needs `apiBaseUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), extend("x-kubernetes-validations" = [{
        "rule": base_url_rule(),
        "message": BASE_URL_RULE_MESSAGE,
        "reason": "FieldValueInvalid"
    }]))]
    pub login_base_url: Option<String>,

    /// How the user is taken out of routing before they are deactivated.
    #[serde(default)]
    pub routing: RoutingPolicy,

    /// Revoke the user's OAuth tokens after deactivation, so that open sessions end. Default true.
    #[serde(default = "default_true")]
    pub revoke_sessions: bool,

    /// Why the user leaves: `Voluntary`, `Seasonal`, `Leave`, `Performance`, `Conduct` or
    /// `Unknown`. When set, it is recorded in Genesys Cloud as the user's state change reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<OffboardingReason>,

    /// How the operator proves that the user's conversation history is kept.
    #[serde(default)]
    pub history: HistoryPolicy,

    /// When to offboard (RFC 3339, e.g. `2026-12-31T17:00:00Z`). Nothing happens before this time.
    /// Unset: now. At the latest 9999-12-30T22:00:00.999999999Z.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = effective_at_rules)]
    pub effective_at: Option<Time>,

    /// `Enforce` (default) makes the changes. `Observe` is a dry run: the user is resolved, the
    /// snapshot and the full plan are written to status, and nothing is written to Genesys Cloud.
    #[serde(default)]
    pub management_policy: ManagementPolicy,

    /// Pause: while true the operator does nothing for this resource. Default false.
    #[serde(default)]
    pub suspend: bool,

    /// What deleting this resource does. `Orphan` (default): the user is left as the offboarding
    /// left them. Deleted before the offboarding wrote anything, nothing is written. Deleted
    /// while it is under way (the operator holds the `offboarding.genesys-operator.io/in-progress`
    /// finalizer from its first write until it is finished), the offboarding is finished (no
    /// user is left drained but still active), then the resource goes with a
    /// `FinishedBeforeDeletion` Event listing the steps done. If it cannot be finished (it
    /// stalls, is suspended or in Observe mode, or takes longer than the operator's deletion
    /// grace, 5 min by default), the resource goes anyway with a `DeletedUnfinished` Warning
    /// Event listing the steps done and those not done. `Restore`: the user is re-activated and
    /// the snapshot put back (queue memberships, skills, languages, roles, default station)
    /// before the resource goes away.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// How often the operator re-checks a finished offboarding (e.g. `30m`, `1h`, `12h`, `1h30m`):
    /// a user re-activated outside the operator is deactivated again (Enforce) or reported
    /// (Observe). Between 1m and 720h. Default `1h`.
    #[serde(default = "default_drift_check_interval")]
    #[schemars(
        length(min = 2, max = 16),
        regex(pattern = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"),
        extend("x-kubernetes-validations" = [{
            "rule": "duration(self) >= duration('1m') && duration(self) <= duration('720h')",
            "message": "must be between 1m and 720h",
            "reason": "FieldValueInvalid"
        }])
    )]
    pub drift_check_interval: String,

    /// What the agent's work is handed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffPolicy>,

    /// What depends on the user, and whether a human must acknowledge it first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<ImpactPolicy>,

    /// What the pre-change snapshot records (`scope: Full` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotPolicy>,
}

/// Who takes over the departing agent's work, and which work moves. Everything is handed off
/// while the user is still active (before the routing drain and the deactivation): an
/// agent-owned callback whose owner is unavailable is lost, and the lists that name the work
/// (a user's direct reports, the colleagues they back up, their voicemail) are read from the
/// user. Each kind is switched on by default.
// One bool per kind is the API users write, as for `RoutingPolicy`.
#[allow(clippy::struct_excessive_bools)]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "has(self.successor) || has(self.fallbackQueue)",
    "message": "set handoff.successor, handoff.fallbackQueue, or both",
    "reason": "FieldValueRequired"
}]))]
pub struct HandoffPolicy {
    /// The user who takes over, by email address, id, or both; resolved like `spec.user`
    /// (never ambiguous) and it must be active. An unresolvable successor stalls the offboarding
    /// before anything is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<UserRef>,
    /// The queue that takes over what a queue can hold (workitems, colleagues' direct-routing
    /// backup) when there is no successor, by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_queue: Option<QueueRef>,
    /// Agent-owned scheduled callbacks go to the successor (found with the analytics details
    /// query; the API hands a callback to a user only, so without a successor each is listed
    /// not movable). Default true.
    #[serde(default = "default_true")]
    pub callbacks: bool,
    /// Open workitems assigned to the user. Default true.
    #[serde(default = "default_true")]
    pub workitems: bool,
    /// Pending quality evaluations the user is to do are assigned to the successor, and the
    /// successor takes the user's place among the evaluators of the unfinished calibrations
    /// they run. Needs a successor. Default true.
    #[serde(default = "default_true")]
    pub evaluations: bool,
    /// The manager of the user's direct reports becomes the successor. Default true.
    #[serde(default = "default_true")]
    pub direct_reports: bool,
    /// Colleagues whose direct-routing backup is the user get the successor (or the queue).
    /// Default true.
    #[serde(default = "default_true")]
    pub direct_routing_backup: bool,
    /// The user's voicemail messages are copied to the successor. Default true.
    #[serde(default = "default_true")]
    pub voicemail: bool,
}

impl Default for HandoffPolicy {
    fn default() -> Self {
        Self {
            successor: None,
            fallback_queue: None,
            callbacks: true,
            workitems: true,
            evaluations: true,
            direct_reports: true,
            direct_routing_backup: true,
            voicemail: true,
        }
    }
}

// What kind of work is handed off. No `///`, as for `Region`.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum HandoffKind {
    /// An agent-owned scheduled callback.
    Callback,
    /// An open workitem assigned to the user.
    Workitem,
    /// A pending quality evaluation the user is to do.
    Evaluation,
    /// A pending calibration.
    Calibration,
    /// A user whose manager is the departing user.
    DirectReport,
    /// A colleague whose direct-routing backup is the departing user.
    DirectRoutingBackup,
    /// A voicemail message of the user.
    Voicemail,
}

impl HandoffKind {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffKind::Callback => "Callback",
            HandoffKind::Workitem => "Workitem",
            HandoffKind::Evaluation => "Evaluation",
            HandoffKind::Calibration => "Calibration",
            HandoffKind::DirectReport => "DirectReport",
            HandoffKind::DirectRoutingBackup => "DirectRoutingBackup",
            HandoffKind::Voicemail => "Voicemail",
        }
    }
}

/// A queue, by id.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueRef {
    /// The queue id (a UUID).
    #[schemars(
        length(max = 36),
        regex(
            pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
        )
    )]
    pub id: String,
    /// Its display name, for people reading the resource (not looked up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub name: Option<String>,
}

/// The impact preflight: before its first write to Genesys Cloud (and in Observe mode too) the
/// operator lists in `status.impact` what depends on the user. With `requireAcknowledgement`
/// nothing is written until `acknowledgedDigest` names the listed impact's digest.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.preflight) || self.preflight || !has(self.requireAcknowledgement) || !self.requireAcknowledgement",
    "message": "impact.requireAcknowledgement needs impact.preflight",
    "reason": "FieldValueInvalid"
}]))]
pub struct ImpactPolicy {
    /// Read what depends on the user before the first write and list it in `status.impact`.
    /// `false` skips the preflight: no `status.impact`, and about three fewer Genesys calls per
    /// offboarding (two per-user reads, the licence read and a share of the org-wide
    /// listings), for a wave whose dependents were reviewed elsewhere. Default true.
    #[serde(default = "default_true")]
    pub preflight: bool,
    /// Hold the offboarding (Reconciling, reason `AwaitingImpactAcknowledgement`; nothing is
    /// written to Genesys Cloud) until `acknowledgedDigest` equals `status.impact.digest`.
    /// Default false.
    #[serde(default)]
    pub require_acknowledgement: bool,
    /// The `status.impact.digest` a human reviewed, e.g. `sha256:3f1c...`. When the impact
    /// changes, its digest changes and the offboarding is held again until acknowledged anew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 71), regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub acknowledged_digest: Option<String>,
}

impl Default for ImpactPolicy {
    fn default() -> Self {
        Self {
            preflight: true,
            require_acknowledgement: false,
            acknowledged_digest: None,
        }
    }
}

/// What the pre-change snapshot reads.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotPolicy {
    /// `Full` (default): everything `deletionPolicy: Restore` can put back. `Minimal`: only
    /// what the one user read carries (state, routing status, presence, skills, languages,
    /// stations, groups, team) and the queue memberships when `routing.removeFromQueues` is on;
    /// the role grants, utilization and call forwarding (one read each per user) are not read,
    /// and `status.snapshot.notRecorded` says so. Going inactive removes the roles a user holds
    /// directly, so after a `Minimal` snapshot `deletionPolicy: Restore` cannot give them back
    /// and lists them in `status.notRestorable`.
    #[serde(default)]
    pub scope: SnapshotScope,
}

// How much the snapshot records. No `///`, as for `Region`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SnapshotScope {
    /// Everything a restore can put back.
    #[default]
    Full,
    /// What the user read carries, and the queues when they are removed.
    Minimal,
}

// A part of the user a snapshot did not read. No `///`, as for `Region`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SnapshotPart {
    /// The queue memberships (not read: the offboarding does not remove them).
    Queues,
    /// The role grants (going inactive removes the direct ones).
    RoleGrants,
    /// The user's utilization.
    Utilization,
    /// The user's call forwarding.
    CallForwarding,
}

/// One piece of work found before the first write, and where it goes: recorded in the snapshot
/// so that a pass after a crash moves exactly this list (read back from Genesys Cloud first, so
/// nothing moves twice) and `deletionPolicy: Restore` knows what was there before.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HandoffItem {
    /// What kind of work.
    pub kind: HandoffKind,
    /// Its Genesys Cloud id (the callback's conversation, the workitem, the direct report, the
    /// colleague, the message, the calibration; an evaluation is `conversationId/evaluationId`,
    /// since reading it takes both).
    pub id: String,
    /// Its display name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where it goes: the successor's user id, or the fallback queue's id. Unset: it cannot be
    /// moved (see `status.handoff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Whether `to` is a queue (else a user).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub to_queue: bool,
    /// Why it cannot be moved, when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_movable: Option<String>,
}

/// The handoff of the agent's work, per kind.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HandoffStatus {
    /// The successor the spec resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<ResolvedUser>,
    /// One entry per kind handed off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<HandoffKindStatus>,
}

/// The handoff of one kind of work: `moved` counts only what a read of Genesys Cloud showed at
/// its new owner.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HandoffKindStatus {
    /// What kind of work.
    pub kind: HandoffKind,
    /// How many were found before the first write.
    pub found: u32,
    /// How many a read shows at their new owner.
    pub moved: u32,
    /// Those that cannot be moved, each with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_movable: Vec<NotMovable>,
}

impl HandoffKindStatus {
    /// Every item found is moved or known not movable.
    pub fn is_complete(&self) -> bool {
        self.moved as usize + self.not_movable.len() >= self.found as usize
    }
}

/// A piece of work the handoff cannot move.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotMovable {
    /// Its Genesys Cloud id (or what names it when there is no id).
    pub id: String,
    /// Why.
    pub reason: String,
}

/// The Genesys Cloud user to offboard.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.email) || has(self.id)",
        "message": "set user.email, user.id, or both",
        "reason": "FieldValueRequired"
    },
    {
        "rule": "self == oldSelf",
        "message": "user is immutable: create another GenesysUserOffboarding to offboard someone else",
        "reason": "FieldValueForbidden"
    }
]))]
pub struct UserRef {
    /// The user's email address (their Genesys Cloud username), matched exactly over active and
    /// inactive users. If two users share it, the operator stops and asks for `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 254), regex(pattern = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"))]
    pub email: Option<String>,

    /// The Genesys Cloud user id (a UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 36),
        regex(
            pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
        )
    )]
    pub id: Option<String>,
}

/// A Secret in the same namespace as the resource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// The Secret's name. It must hold the keys `clientId` and `clientSecret` (an OAuth client with
    /// the client credentials grant).
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub name: String,
}

/// The key of the OAuth client id in the credentials Secret.
pub const SECRET_KEY_CLIENT_ID: &str = "clientId";
/// The key of the OAuth client secret in the credentials Secret.
pub const SECRET_KEY_CLIENT_SECRET: &str = "clientSecret";

// The region enum is the client's (one table of regions and hosts for the whole crate).
pub use genesys_cloud::Region;
pub use genesys_cloud::redact_url;

/// How the user is taken out of routing.
// One bool per switch is the API users write; an enum set would read worse in YAML.
#[allow(clippy::struct_excessive_bools)]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RoutingPolicy {
    /// Set the routing status to `OFF_QUEUE` and the presence to Offline. Default true.
    pub set_off_queue: bool,
    /// Remove the user from every queue they are a direct member of. Memberships that come from a
    /// group cannot be removed per user: they are reported in `status.groupMemberships`. Default
    /// true.
    pub remove_from_queues: bool,
    /// Clear the user's associated and default station. Default true.
    pub clear_station: bool,
    /// Remove every routing skill from the user. Default false.
    pub remove_skills: bool,
    /// Remove every routing language from the user. Default false.
    pub remove_languages: bool,
    /// What to do while the user is on a live conversation: `Wait` (default) until it ends, or
    /// `Proceed` at once.
    pub active_conversations: ActiveConversationPolicy,
}

impl Default for RoutingPolicy {
    fn default() -> Self {
        Self {
            set_off_queue: true,
            remove_from_queues: true,
            clear_station: true,
            remove_skills: false,
            remove_languages: false,
            active_conversations: ActiveConversationPolicy::Wait,
        }
    }
}

/// What to do while the user is on a live conversation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ActiveConversationPolicy {
    /// Wait until the conversation ends before changing anything.
    #[default]
    Wait,
    /// Go on at once; the conversation may be cut.
    Proceed,
}

// Why the user leaves (the Genesys Cloud state change reason). No `///`, as for `Region`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum OffboardingReason {
    /// The user chose to leave.
    Voluntary,
    /// A seasonal contract ended.
    Seasonal,
    /// The user is on leave.
    Leave,
    /// Performance.
    Performance,
    /// Conduct.
    Conduct,
    /// Not stated.
    Unknown,
}

// The spec admits exactly these reasons (a value Genesys Cloud adds later is not asked for until
// the spec names it); from here on the reason is the client's type, up to the wire.
impl From<OffboardingReason> for StateChangeReason {
    fn from(reason: OffboardingReason) -> Self {
        match reason {
            OffboardingReason::Voluntary => StateChangeReason::Voluntary,
            OffboardingReason::Seasonal => StateChangeReason::Seasonal,
            OffboardingReason::Leave => StateChangeReason::Leave,
            OffboardingReason::Performance => StateChangeReason::Performance,
            OffboardingReason::Conduct => StateChangeReason::Conduct,
            OffboardingReason::Unknown => StateChangeReason::UnknownReason,
        }
    }
}

/// How history is verified.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct HistoryPolicy {
    /// How many days back to count the user's conversations, before and after deactivation.
    /// Between 1 and 1825. Default 90.
    #[schemars(range(min = 1, max = 1825))]
    pub lookback_days: u32,
}

impl Default for HistoryPolicy {
    fn default() -> Self {
        Self {
            lookback_days: LOOKBACK_DAYS_DEFAULT,
        }
    }
}

/// Whether the operator changes Genesys Cloud or only reports.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ManagementPolicy {
    /// Make the changes.
    #[default]
    Enforce,
    /// Dry run: resolve the user, snapshot, plan, report; never write to Genesys Cloud.
    Observe,
}

/// What deleting the resource does to the user.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Nothing: the user stays inactive.
    #[default]
    Orphan,
    /// Re-activate the user and put back what the snapshot holds.
    Restore,
}

fn default_true() -> bool {
    true
}

/// Whether `text` has the form of `status.impact.digest`: `sha256:` and 64 lowercase hex digits.
pub fn is_impact_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

// The schema rules of `spec.effectiveAt`, built from the constants the operator's own checks use.
fn effective_at_rules(schema: &mut schemars::Schema) {
    schema.insert("pattern".to_owned(), EFFECTIVE_AT_PATTERN.into());
    schema.insert(
        "x-kubernetes-validations".to_owned(),
        serde_json::json!([{
            "rule": format!("self <= timestamp('{EFFECTIVE_AT_MAX}')"),
            "message": format!(
                "must be at or before {EFFECTIVE_AT_MAX}, the latest time the operator handles"
            ),
            "reason": "FieldValueInvalid"
        }]),
    );
}

fn default_drift_check_interval() -> String {
    DRIFT_CHECK_INTERVAL_DEFAULT.to_owned()
}

/// Where the Genesys Cloud API is, as the spec says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiEndpoints {
    /// A documented region.
    Region(Region),
    /// Explicit base URLs (checked: https, or http to a loopback host).
    Custom {
        /// `spec.apiBaseUrl`.
        api_base_url: url::Url,
        /// `spec.loginBaseUrl`.
        login_base_url: url::Url,
    },
}

/// A spec that breaks a rule. The API server enforces the same rules through the CRD schema and
/// CEL; this type serves the one-shot mode and the reconciler's first step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Neither `user.email` nor `user.id`.
    #[error("set user.email, user.id, or both")]
    MissingUser,
    /// `user.email` is not an email address.
    #[error("user.email {0:?} is not an email address")]
    InvalidEmail(String),
    /// `user.id` is not a UUID.
    #[error("user.id {0:?} is not a Genesys Cloud user id (a UUID)")]
    InvalidUserId(String),
    /// `credentialsSecretRef.name` is not a Secret name.
    #[error("credentialsSecretRef.name {0:?} is not a valid Secret name")]
    InvalidSecretName(String),
    /// A string longer than its bound.
    #[error("{field} is longer than {max} characters")]
    TooLong {
        /// The field's path in the spec.
        field: &'static str,
        /// Its bound.
        max: usize,
    },
    /// Only one of the two base URLs.
    #[error("apiBaseUrl and loginBaseUrl go together: set both or neither")]
    IncompleteBaseUrls,
    /// Both or neither of region and base URLs.
    #[error("set exactly one of region, or apiBaseUrl with loginBaseUrl")]
    EndpointsNotExactlyOne,
    /// A base URL that breaks [`BASE_URL_PATTERN`].
    #[error("{field} {value:?} {BASE_URL_RULE_MESSAGE}")]
    InvalidBaseUrl {
        /// `apiBaseUrl` or `loginBaseUrl`.
        field: &'static str,
        /// The value, with any user info, query and fragment cut out ([`redact_url`]): this
        /// error reaches status, Events and logs.
        value: String,
    },
    /// `impact.acknowledgedDigest` is not a digest the operator writes.
    #[error(
        "impact.acknowledgedDigest {0:?} is not a digest of status.impact (sha256: and 64 lowercase hex digits)"
    )]
    InvalidAcknowledgedDigest(String),
    /// `impact.requireAcknowledgement` with `impact.preflight: false`: nothing to acknowledge.
    #[error(
        "impact.requireAcknowledgement needs impact.preflight: without the preflight there is no status.impact to acknowledge"
    )]
    AcknowledgementWithoutPreflight,
    /// `history.lookbackDays` out of range.
    #[error("history.lookbackDays must be between 1 and 1825, got {0}")]
    LookbackOutOfRange(u32),
    /// `driftCheckInterval` is not a duration, or out of range.
    #[error(
        "driftCheckInterval {0:?} must be a duration such as 30m, 1h or 1h30m, between 1m and 720h"
    )]
    InvalidDriftCheckInterval(String),
}

impl SpecError {
    /// The condition reason for every spec error.
    pub fn reason(&self) -> &'static str {
        reason::INVALID_SPEC
    }
}

impl GenesysUserOffboardingSpec {
    /// Checks the rules the API server checks (schema bounds and CEL), for when no API server
    /// validated the resource. Returns the first broken rule.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.user.validate()?;
        validate_secret_name(&self.credentials_secret_ref.name)?;
        self.api_endpoints()?;
        if !(LOOKBACK_DAYS_MIN..=LOOKBACK_DAYS_MAX).contains(&self.history.lookback_days) {
            return Err(SpecError::LookbackOutOfRange(self.history.lookback_days));
        }
        self.drift_check_interval()?;
        if self
            .impact
            .as_ref()
            .is_some_and(|i| i.require_acknowledgement && !i.preflight)
        {
            return Err(SpecError::AcknowledgementWithoutPreflight);
        }
        if let Some(digest) = self
            .impact
            .as_ref()
            .and_then(|i| i.acknowledged_digest.as_deref())
            && !is_impact_digest(digest)
        {
            return Err(SpecError::InvalidAcknowledgedDigest(
                digest.chars().take(80).collect(),
            ));
        }
        Ok(())
    }

    /// The organization the spec names, as `status.endpoint` records it: the region, or the two
    /// base URLs with any user info (`user:password@`) removed.
    pub fn endpoint(&self) -> ResolvedEndpoint {
        ResolvedEndpoint {
            region: self.region,
            api_base_url: self.api_base_url.as_deref().map(recorded_url),
            login_base_url: self.login_base_url.as_deref().map(recorded_url),
        }
    }

    /// Where the Genesys Cloud API is: the region, or the two base URLs (checked).
    pub fn api_endpoints(&self) -> Result<ApiEndpoints, SpecError> {
        match (
            self.region,
            self.api_base_url.as_deref(),
            self.login_base_url.as_deref(),
        ) {
            (Some(region), None, None) => Ok(ApiEndpoints::Region(region)),
            (None, Some(api), Some(login)) => Ok(ApiEndpoints::Custom {
                api_base_url: parse_base_url("apiBaseUrl", api)?,
                login_base_url: parse_base_url("loginBaseUrl", login)?,
            }),
            (_, Some(_), None) | (_, None, Some(_)) => Err(SpecError::IncompleteBaseUrls),
            (Some(_), Some(_), Some(_)) | (None, None, None) => {
                Err(SpecError::EndpointsNotExactlyOne)
            }
        }
    }

    /// `driftCheckInterval` as a duration (checked: a `h`/`m`/`s` duration between 1m and 720h).
    pub fn drift_check_interval(&self) -> Result<Duration, SpecError> {
        let invalid = || SpecError::InvalidDriftCheckInterval(self.drift_check_interval.clone());
        if self.drift_check_interval.len() > INTERVAL_MAX {
            return Err(invalid());
        }
        let interval = parse_duration(&self.drift_check_interval).ok_or_else(invalid)?;
        if (DRIFT_CHECK_INTERVAL_MIN..=DRIFT_CHECK_INTERVAL_MAX).contains(&interval) {
            Ok(interval)
        } else {
            Err(invalid())
        }
    }

    /// The lookback window for the history check.
    pub fn history_lookback(&self) -> Duration {
        Duration::from_secs(u64::from(self.history.lookback_days) * 24 * 3600)
    }

    /// True in Observe mode (dry run: no Genesys Cloud write).
    pub fn is_observe_only(&self) -> bool {
        self.management_policy == ManagementPolicy::Observe
    }

    /// `snapshot.scope`, `Full` when unset.
    pub fn snapshot_scope(&self) -> SnapshotScope {
        self.snapshot.as_ref().map(|s| s.scope).unwrap_or_default()
    }

    /// Whether the impact preflight runs (`impact.preflight`, true when unset).
    pub fn impact_preflight(&self) -> bool {
        self.impact.as_ref().is_none_or(|i| i.preflight)
    }
}

impl UserRef {
    /// Checks that at least one of email and id is set and that each is well-formed.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.email.is_none() && self.id.is_none() {
            return Err(SpecError::MissingUser);
        }
        if let Some(email) = &self.email {
            if email.chars().count() > EMAIL_MAX {
                return Err(SpecError::TooLong {
                    field: "user.email",
                    max: EMAIL_MAX,
                });
            }
            if !is_email(email) {
                return Err(SpecError::InvalidEmail(email.clone()));
            }
        }
        if let Some(id) = &self.id {
            if id.chars().count() > USER_ID_LEN {
                return Err(SpecError::TooLong {
                    field: "user.id",
                    max: USER_ID_LEN,
                });
            }
            if !is_uuid(id) {
                return Err(SpecError::InvalidUserId(id.clone()));
            }
        }
        Ok(())
    }
}

// Mirrors the schema pattern `^[^@\s]+@[^@\s]+\.[^@\s]+$`.
fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    let plain = |s: &str| !s.is_empty() && !s.contains('@') && !s.chars().any(char::is_whitespace);
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    plain(local) && plain(domain) && !host.is_empty() && !tld.is_empty()
}

// Mirrors the schema pattern for a UUID (8-4-4-4-12 hex digits).
fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

// Mirrors the schema pattern `^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$` with length 1..=253.
fn validate_secret_name(name: &str) -> Result<(), SpecError> {
    if name.len() > SECRET_NAME_MAX {
        return Err(SpecError::TooLong {
            field: "credentialsSecretRef.name",
            max: SECRET_NAME_MAX,
        });
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let body_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if body_ok && edge_ok(name.chars().next()) && edge_ok(name.chars().last()) {
        Ok(())
    } else {
        Err(SpecError::InvalidSecretName(name.to_owned()))
    }
}

// The CEL rule on apiBaseUrl / loginBaseUrl, the same pattern, then the URL it names.
fn parse_base_url(field: &'static str, value: &str) -> Result<url::Url, SpecError> {
    static RULE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(BASE_URL_PATTERN).expect("BASE_URL_PATTERN is a valid regex")
    });
    let invalid = || SpecError::InvalidBaseUrl {
        field,
        value: redact_url(value),
    };
    // The schema's maxLength counts characters, as this does.
    if value.chars().count() > URL_MAX {
        return Err(SpecError::TooLong {
            field,
            max: URL_MAX,
        });
    }
    if !RULE.is_match(value) {
        return Err(invalid());
    }
    // Everything the pattern admits parses, to the same scheme, host and port: the tests feed
    // the same URLs to the CEL rule and to this function.
    url::Url::parse(value).map_err(|_| invalid())
}

/// How `status.endpoint` records a base URL: without its user info, in the `url` crate's normal
/// form (so equal URLs compare equal); text that is no URL is kept after its last `@`, so that no
/// credential it may hold is recorded.
pub fn recorded_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            // Only URLs that cannot have a user (`mailto:`, `data:`) refuse these.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => url.rsplit('@').next().unwrap_or_default().to_owned(),
    }
}

/// `text` cut to at most `max` bytes (on a character boundary), ending with `...` when cut.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Parses a duration written as hours, minutes and seconds in that order, each optional but at
/// least one present: `1h`, `30m`, `1h30m`, `90s`.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut last_unit = 0; // 0: none yet, 1: h, 2: m, 3: s (units must come in this order)
    for c in value.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let (rank, seconds) = match c {
            'h' => (1, 3600),
            'm' => (2, 60),
            's' => (3, 1),
            _ => return None,
        };
        if digits.is_empty() || rank <= last_unit {
            return None;
        }
        let amount: u64 = digits.parse().ok()?;
        total = total.checked_add(amount.checked_mul(seconds)?)?;
        digits.clear();
        last_unit = rank;
    }
    if digits.is_empty() && last_unit > 0 {
        Some(Duration::from_secs(total))
    } else {
        None
    }
}

/// What the operator found, plans, did and verified. Written by the operator only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenesysUserOffboardingStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready`, `Reconciling`, `Stalled` (kstatus) and one condition per step: `UserResolved`,
    /// `RoutingDrained`, `Deactivated`, `SessionsRevoked`, `HistoryVerified`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The Genesys Cloud user this resource resolved to. A resource stalled as
    /// `DuplicateOffboarding` has none: the user is another resource's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<ResolvedUser>,

    /// The organization the user was resolved in (the spec's region, or its base URLs without
    /// user info), recorded with the user. Fixed from then on, like `spec.user`: a spec naming
    /// another organization stalls with `EndpointChanged` and nothing is read or written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<ResolvedEndpoint>,

    /// What the user had before the first change, taken once and never overwritten. With
    /// `deletionPolicy: Restore` this is what is put back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<UserSnapshot>,

    /// The steps left to do, in order (in Observe mode: every step that Enforce would take).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlannedStep>,

    /// What the operator did, newest last; at most 50 entries are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionRecord>,

    /// The check that the user's conversation history survived deactivation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryStatus>,

    /// Queues the user is in through a group. They cannot be removed per user: remove the user
    /// from the group, or the group from the queue. Reported, not treated as a failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_memberships: Vec<GroupMembership>,

    /// What `deletionPolicy: Restore` could not put back, because none of the Genesys Cloud API
    /// calls the operator makes can set it: routing languages and the default station. Put these
    /// back by hand in Genesys Cloud. Rewritten by each restore; empty when everything the
    /// snapshot held is in place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_restorable: Vec<NotRestorable>,

    /// Changes Genesys Cloud accepted that did not take effect: a read afterwards still showed
    /// the user as before (e.g. `state active` after the deactivation). Retried with backoff; after
    /// 5 passes the resource stalls with `ChangeNotApplied`. Nothing that depends on the change
    /// (such as revoking sessions after the deactivation) runs before it takes effect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_applied: Vec<NotApplied>,

    /// The handoff of the agent's work to `spec.handoff` (successor, per kind counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffStatus>,

    /// When the operator last checked a finished offboarding for drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drift_check: Option<Time>,

    /// When the operator will check for drift next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_drift_check: Option<Time>,

    /// When the deactivation cap (`--deactivation-cap`) admitted this offboarding, persisted
    /// before its first write to Genesys Cloud. The operator counts these times across every
    /// resource of the organization, so the cap holds across restarts and replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivation_admitted_at: Option<Time>,
    /// What depends on the user elsewhere in Genesys Cloud, read before the first write (and in
    /// every pass of Observe mode), with what the operator does about each. Kept as it was read
    /// once the first write is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<ImpactStatus>,
}

/// The impact preflight's result.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImpactStatus {
    /// `sha256:` and the hex SHA-256 of the items (kind, id, action and detail, sorted; names
    /// are left out so a rename does not ask for a new acknowledgement, and so are groups and
    /// the team, which Genesys returns on a best-effort basis). Copy it into
    /// `spec.impact.acknowledgedDigest` to acknowledge this impact.
    pub digest: String,
    /// What depends on the user. A source the operator could not read (its OAuth client lacks
    /// the permission) is one item with an empty `id` and the reason in `detail`.
    #[serde(default)]
    pub items: Vec<ImpactItem>,
    /// When the impact was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<Time>,
}

/// One thing that depends on the user.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImpactItem {
    /// What it is: `ArchitectFlow`, `AlertRule`, `OAuthClient`, `RecordingPolicy`,
    /// `WfmManagementUnit`, `License`, `Did`, `Extension`, `WebRtcPhone`, `Group`, `Team`, or a
    /// kind of work `spec.handoff` moves (`Callback`, `Workitem`, `Evaluation`, `Calibration`,
    /// `DirectReport`, `DirectRoutingBackup`, `Voicemail`).
    pub kind: ImpactKind,
    /// The object's id in Genesys Cloud (the licence name for a licence, the number's id for a
    /// DID or extension); empty when the source could not be read.
    pub id: String,
    /// Its name, when Genesys Cloud gives one.
    #[serde(default)]
    pub name: String,
    /// `HandedOff` (`spec.handoff` moves it) or `ReportedOnly` (listed for a human; the
    /// operator does not change it).
    pub action: ImpactAction,
    /// How it depends on the user (the user's role in a recording policy, the flow type, the
    /// number), or why the source could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

// What depends on the user. No `///`, as for `Region`.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum ImpactKind {
    /// An Architect flow that references the user (dependency tracking, object type `USER`).
    ArchitectFlow,
    /// An alert rule that notifies the user.
    AlertRule,
    /// An OAuth client the user created.
    OAuthClient,
    /// A recording / media retention policy that names the user (evaluator, calibrator, or a
    /// user whose calls it covers).
    RecordingPolicy,
    /// The user's WFM management unit seat.
    WfmManagementUnit,
    /// A licence assigned to the user.
    License,
    /// A DID owned by the user.
    Did,
    /// An extension owned by the user.
    Extension,
    /// A WebRTC phone of the user.
    WebRtcPhone,
    /// A group the user is a member of.
    Group,
    /// The team the user is a member of.
    Team,
    /// An agent-owned scheduled callback.
    Callback,
    /// An open workitem assigned to the user.
    Workitem,
    /// A pending quality evaluation the user is to do.
    Evaluation,
    /// A pending calibration.
    Calibration,
    /// A user whose manager is the departing user.
    DirectReport,
    /// A colleague whose direct-routing backup is the departing user.
    DirectRoutingBackup,
    /// A voicemail message of the user.
    Voicemail,
}

// What the operator does about an impact item. No `///`, as for `Region`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ImpactAction {
    /// `spec.handoff` moves it to the successor (or the fallback queue).
    HandedOff,
    /// Listed for a human to deal with; the operator does not change it.
    ReportedOnly,
}

/// A condition status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    /// `"True"`.
    True,
    /// `"False"`.
    False,
    /// `"Unknown"`.
    Unknown,
}

impl ConditionStatus {
    /// The wire value: `True`, `False` or `Unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

impl From<bool> for ConditionStatus {
    fn from(value: bool) -> Self {
        if value {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

impl GenesysUserOffboardingStatus {
    /// The condition of this type, if any.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// True when the condition of this type exists with status `True`.
    pub fn is_true(&self, type_: &str) -> bool {
        self.condition(type_).is_some_and(|c| c.status == "True")
    }

    /// Sets a condition (its message cut to [`MAX_MESSAGE_BYTES`]). `lastTransitionTime` becomes
    /// `now` only when the status flips (or the condition is new); when nothing but the timestamp
    /// would change this is a no-op. Returns whether anything changed.
    pub fn set_condition(
        &mut self,
        type_: &str,
        status: impl Into<ConditionStatus>,
        reason: &str,
        message: impl Into<String>,
        observed_generation: Option<i64>,
        now: &Time,
    ) -> bool {
        let status = status.into().as_str();
        let message = bounded(&message.into(), MAX_MESSAGE_BYTES);
        if let Some(existing) = self.conditions.iter_mut().find(|c| c.type_ == type_) {
            let unchanged = existing.status == status
                && existing.reason == reason
                && existing.message == message
                && existing.observed_generation == observed_generation;
            if unchanged {
                return false;
            }
            if existing.status != status {
                status.clone_into(&mut existing.status);
                existing.last_transition_time = now.clone();
            }
            reason.clone_into(&mut existing.reason);
            existing.message = message;
            existing.observed_generation = observed_generation;
            return true;
        }
        self.conditions.push(Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message,
            observed_generation,
            last_transition_time: now.clone(),
        });
        true
    }

    /// Appends an action to `actions`, dropping the oldest beyond [`MAX_ACTIONS`]; its message
    /// is cut to [`MAX_MESSAGE_BYTES`].
    pub fn record_action(&mut self, mut action: ActionRecord) {
        if let Some(message) = &mut action.message {
            *message = bounded(message, MAX_MESSAGE_BYTES);
        }
        self.actions.push(action);
        if self.actions.len() > MAX_ACTIONS {
            let excess = self.actions.len() - MAX_ACTIONS;
            self.actions.drain(..excess);
        }
    }
}

/// An object named by id, with its display name when known.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamedRef {
    /// The Genesys Cloud id.
    pub id: String,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The Genesys Cloud user the resource resolved to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedUser {
    /// The user id.
    pub id: String,
    /// The user's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's division.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<NamedRef>,
    // Genesys Cloud's own type: its schema admits the states the client knows, and a state it
    // does not know is left out (`reconcile::observe::crd_state`), never written.
    /// The user's state (`active`, `inactive` or `deleted`) when the operator first saw them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_before: Option<UserState>,
    /// The user's state (`active`, `inactive` or `deleted`) at the last check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_now: Option<UserState>,
    /// The user's version at the last check (Genesys Cloud's optimistic lock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// The Genesys Cloud organization a user was resolved in: a region, or base URLs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedEndpoint {
    /// The region (as in `spec.region`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// The API base URL, without user info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// The login base URL, without user info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_base_url: Option<String>,
}

impl ResolvedEndpoint {
    /// Where the organization's API is, one string per organization: the region's API base URL,
    /// or the API base URL (so `us_east_1` and `https://api.mypurecloud.com/` are the same).
    pub fn api_key(&self) -> String {
        match (self.region, &self.api_base_url) {
            (Some(region), _) => genesys_cloud::Endpoints::for_region(region)
                .api()
                .to_string(),
            (None, Some(api)) => api.clone(),
            (None, None) => String::new(),
        }
    }
}

impl std::fmt::Display for ResolvedEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.region, &self.api_base_url, &self.login_base_url) {
            (Some(region), _, _) => write!(f, "region {}", region.as_str()),
            (None, Some(api), Some(login)) => {
                write!(f, "apiBaseUrl {api} with loginBaseUrl {login}")
            }
            (None, Some(api), None) => write!(f, "apiBaseUrl {api}"),
            (None, None, Some(login)) => write!(f, "loginBaseUrl {login}"),
            (None, None, None) => f.write_str("no endpoint"),
        }
    }
}

/// A change Genesys Cloud accepted without it taking effect.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotApplied {
    /// The step (as in `plan`), e.g. `Deactivate`.
    #[schemars(with = "String")]
    pub step: StepKind,
    /// What it acted on (as in `plan`), e.g. the queue id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// What Genesys Cloud read back afterwards, e.g. `state active`.
    pub observed: String,
    /// Passes that made the change without it taking effect.
    pub attempts: u32,
    /// When it first did not take effect.
    pub since: Time,
}

/// What the user had before the first change.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSnapshot {
    /// The user's state: `active`, `inactive` or `deleted`.
    pub state: UserState,
    /// The routing status (`OFF_QUEUE`, `IDLE`, `INTERACTING`, `NOT_RESPONDING`, `COMMUNICATING`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_status: Option<String>,
    /// The system presence (e.g. `Available`, `Offline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<String>,
    /// Every queue the user was in, directly or through a group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<QueueMembership>,
    /// Routing skills.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<ProficiencyRef>,
    /// Routing languages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<ProficiencyRef>,
    /// Stations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station: Option<StationSnapshot>,
    /// Role grants the user held directly, each in a division: what `deletionPolicy: Restore`
    /// grants back (going inactive removes them for good).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleGrant>,
    /// Role grants the user held through a group, each in a division. Going inactive removes
    /// them too, and Genesys Cloud applies them again by itself some time after a
    /// re-activation: `deletionPolicy: Restore` never grants them to the user directly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_roles: Vec<GroupRoleGrant>,
    /// Groups the user belongs to (each a membership of the user's own): `deletionPolicy:
    /// Restore` adds the user back to one they are no longer in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<NamedRef>,
    /// The team the user belongs to (a user is in at most one): `deletionPolicy: Restore` adds
    /// the user back when they are in none or another. Absent in a snapshot taken before this
    /// field existed, or when the user had no team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<NamedRef>,
    /// The utilization that applied to the user (`GET /routing/users/{id}/utilization`).
    /// Absent in a snapshot taken before this field existed, or when the read was refused
    /// (a missing permission): then nothing is put back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization: Option<UtilizationSnapshot>,
    /// The user's call forwarding (`GET /users/{id}/callforwarding`). Absent as `utilization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_forwarding: Option<CallForwardingSnapshot>,
    /// The work `spec.handoff` found before the first write, and where each piece goes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handoff: Vec<HandoffItem>,
    /// What this snapshot did not read (`spec.snapshot.scope: Minimal`): `Queues`,
    /// `RoleGrants`, `Utilization`, `CallForwarding`. Their fields above are empty for that
    /// reason, not because the user had none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_recorded: Vec<SnapshotPart>,
    /// When the snapshot was taken.
    pub taken_at: Time,
}

/// The utilization that applied to the user: how many interactions of each media type they
/// take at once.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UtilizationSnapshot {
    /// `Agent`: the user's own settings, which `deletionPolicy: Restore` puts back.
    /// `Organization`: the organization's, which the user inherited; they are never written as
    /// the user's own.
    pub level: String,
    /// By media type (`call`, `callback`, `chat`, `email`, `message`, `workitem`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub media: BTreeMap<String, MediaCapacity>,
    /// By label id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, LabelCapacity>,
    /// The most inbound calls at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_inbound_calls: Option<i64>,
}

/// The capacity for one media type.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaCapacity {
    /// How many at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_capacity: Option<i64>,
    /// The media types that may interrupt this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interruptable_media_types: Vec<String>,
    /// Whether non-ACD interactions count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_non_acd: Option<bool>,
}

/// The capacity for one label.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelCapacity {
    /// How many at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_capacity: Option<i64>,
    /// The labels that may interrupt this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interrupting_label_ids: Vec<String>,
}

/// The user's call forwarding.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallForwardingSnapshot {
    /// Whether calls were forwarded.
    pub enabled: bool,
    /// The forwarding number of the older single-number form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// The routes, tried in order; each rings its targets together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<CallRouteSnapshot>,
    /// Where unanswered calls go: `PURECLOUD`, `LASTCALL` or `NONE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail: Option<String>,
}

/// One forwarding route.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallRouteSnapshot {
    /// The targets rung together.
    #[serde(default)]
    pub targets: Vec<CallTargetSnapshot>,
}

/// A forwarding target.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallTargetSnapshot {
    /// `STATION` or `PHONENUMBER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// The station id or the phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A queue membership.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueMembership {
    /// The queue id.
    pub id: String,
    /// The queue name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the user was joined (active) in the queue.
    pub joined: bool,
    /// `user` (direct) or `group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_by: Option<MemberBy>,
}

/// A skill or language with its proficiency.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProficiencyRef {
    /// The skill or language id.
    pub id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The proficiency (0 to 5).
    pub proficiency: f64,
}

/// The user's stations.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StationSnapshot {
    /// The station the user was signed in to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associated: Option<NamedRef>,
    /// The user's default station.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<NamedRef>,
}

/// A role granted in a division.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleGrant {
    /// The role id.
    pub role_id: String,
    /// The role name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    /// The division id.
    pub division_id: String,
    /// The division name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division_name: Option<String>,
}

/// A role held through a group, in a division.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupRoleGrant {
    /// The role id.
    pub role_id: String,
    /// The role name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    /// The division id.
    pub division_id: String,
    /// The division name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division_name: Option<String>,
    /// The group that holds the grant (the grant's subject in Genesys Cloud).
    pub group: NamedRef,
}

/// A step still to do.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedStep {
    /// The step (`PascalCase`, e.g. `SetOffQueue`, `LeaveQueue`, `Deactivate`, `RevokeSessions`).
    #[schemars(with = "String")]
    pub step: StepKind,
    /// What it acts on (a queue, skill, station id), when not the user as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// How an action ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ActionOutcome {
    /// Done.
    Succeeded,
    /// Not needed: already true in Genesys Cloud.
    Skipped,
    /// Failed (see the message); it is retried.
    Failed,
    /// Genesys Cloud accepted the change, but no read has shown it yet (see `readBack`); it is
    /// read again, and becomes `Succeeded` once a read shows it.
    Unconfirmed,
    /// Genesys Cloud answered 2xx, and no API can read the result back (another user's OAuth
    /// tokens cannot be listed): done as far as anyone can tell, never claimed `Succeeded`.
    Accepted,
}

/// One thing the operator did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    /// The step (as in `plan`).
    #[schemars(with = "String")]
    pub step: StepKind,
    /// What it acted on, when not the user as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// When.
    pub time: Time,
    /// `Succeeded` (a read confirmed it), `Skipped`, `Failed`, `Unconfirmed` (accepted, not
    /// read yet) or `Accepted` (accepted, and nothing can read it back).
    pub outcome: ActionOutcome,
    /// Details, e.g. the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What a read of Genesys Cloud showed after the change, e.g. `routing status reads
    /// OFF_QUEUE`: a step is `Succeeded` only once such a read confirms it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_back: Option<String>,
}

// The result of the history check. No `///`, as for `Region`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum HistoryResult {
    /// Every conversation counted before deactivation is still found.
    Preserved,
    /// Some conversations counted before are no longer found, in two checks 5 minutes apart.
    Lost,
    /// The user had no conversation in the window.
    NoHistory,
    /// The last check found fewer conversations than before; it runs again before the result
    /// is `Lost` (see `unconfirmedSince`).
    Unconfirmed,
}

/// The check that history survived deactivation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryStatus {
    /// The window checked (ISO 8601 interval, `start/end`).
    pub interval: String,
    /// Conversations of the user in the window before any change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversations_before: Option<u64>,
    /// Conversations of the user in the window after deactivation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversations_after: Option<u64>,
    /// A few of the conversation ids that were checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checked_conversation_ids: Vec<String>,
    /// `Preserved`, `NoHistory`, `Unconfirmed` or `Lost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<HistoryResult>,
    /// When the check after deactivation ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<Time>,
    /// Of `checkedConversationIds`, those the last check found neither in the listing nor
    /// read one by one (or found no longer attributed to the user).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_conversation_ids: Vec<String>,
    /// When a check after deactivation first found fewer conversations than before. The
    /// result is `Lost` only if a check at least 5 minutes later still does; until then it is
    /// `Unconfirmed`. Cleared by a check that finds them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unconfirmed_since: Option<Time>,
}

/// A queue the user is in through a group.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupMembership {
    /// The queue.
    pub queue: NamedRef,
    /// The group that brings the user in, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<NamedRef>,
    /// What kind of member group it is (`GROUP`, `TEAM` or `SKILLGROUP`, as the queue's
    /// `memberGroups` say): the user leaves the queue only when they leave that group, team or
    /// skill group, or it leaves the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<String>,
}

// What kind of thing could not be restored. No `///`, as for `Region`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum NotRestorableKind {
    /// A routing language (with its proficiency).
    Language,
    /// The user's default station.
    DefaultStation,
    /// A direct report whose manager changed again after the handoff (someone else's choice).
    DirectReportManager,
    /// A colleague whose direct-routing backup changed again after the handoff.
    DirectRoutingBackup,
    /// A workitem handed to the successor or the queue: it stays with its new owner, who may
    /// have worked on it.
    Workitem,
    /// An agent-owned callback handed to the successor: it stays with them, who may have made
    /// or rescheduled it.
    Callback,
    /// An evaluation assigned to the successor: it stays with them, who may have started it.
    Evaluation,
    /// A calibration the successor took the user's place in.
    Calibration,
    /// The user's own utilization.
    Utilization,
    /// The user's call forwarding.
    CallForwarding,
    /// A group the user was in.
    Group,
    /// The team the user was in.
    Team,
    /// The role grants going inactive removed, which the snapshot did not record.
    RoleGrants,
}

impl NotRestorableKind {
    /// The wire value: `Language` or `DefaultStation`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotRestorableKind::Language => "Language",
            NotRestorableKind::DefaultStation => "DefaultStation",
            NotRestorableKind::DirectReportManager => "DirectReportManager",
            NotRestorableKind::DirectRoutingBackup => "DirectRoutingBackup",
            NotRestorableKind::Workitem => "Workitem",
            NotRestorableKind::Callback => "Callback",
            NotRestorableKind::Evaluation => "Evaluation",
            NotRestorableKind::Calibration => "Calibration",
            NotRestorableKind::Utilization => "Utilization",
            NotRestorableKind::CallForwarding => "CallForwarding",
            NotRestorableKind::Group => "Group",
            NotRestorableKind::Team => "Team",
            NotRestorableKind::RoleGrants => "RoleGrants",
        }
    }
}

/// Something the snapshot held that `deletionPolicy: Restore` could not put back.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotRestorable {
    /// `Language` (a routing language), `DefaultStation`, `DirectReportManager`,
    /// `DirectRoutingBackup`, `Workitem`, `Callback`, `Evaluation`, `Calibration`,
    /// `Utilization`, `CallForwarding`, `Group`, `Team` or `RoleGrants`.
    pub what: NotRestorableKind,
    /// Its Genesys Cloud id.
    pub id: String,
    /// Its display name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Why it was not put back, and what the snapshot held (e.g. the proficiency).
    pub why: String,
}

/// The `CustomResourceDefinition` as YAML, exactly as committed in `crds/genesysuseroffboardings.yaml`.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt as _;
    serde_yaml::to_string(&GenesysUserOffboarding::crd())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
    }

    fn spec(yaml: &str) -> GenesysUserOffboardingSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn minimal() -> GenesysUserOffboardingSpec {
        spec(
            "user: {email: jane.doe@example.com}\ncredentialsSecretRef: {name: genesys-credentials}\nregion: us_east_1\n",
        )
    }

    #[test]
    fn a_minimal_spec_takes_the_safe_defaults() {
        let spec = minimal();

        assert_eq!(spec.routing, RoutingPolicy::default());
        assert!(
            spec.routing.set_off_queue
                && spec.routing.remove_from_queues
                && spec.routing.clear_station
        );
        assert!(!spec.routing.remove_skills && !spec.routing.remove_languages);
        assert_eq!(
            spec.routing.active_conversations,
            ActiveConversationPolicy::Wait
        );
        assert!(spec.revoke_sessions);
        assert_eq!(spec.reason, None);
        assert_eq!(spec.history.lookback_days, 90);
        assert_eq!(spec.effective_at, None);
        assert_eq!(spec.management_policy, ManagementPolicy::Enforce);
        assert!(!spec.suspend);
        assert_eq!(spec.deletion_policy, DeletionPolicy::Orphan);
        assert_eq!(
            spec.drift_check_interval().unwrap(),
            Duration::from_secs(3600)
        );
        assert_eq!(spec.validate(), Ok(()));
    }

    #[test]
    fn the_latest_effective_at_is_the_end_of_the_kubernetes_time_range() {
        let latest: Time = serde_json::from_value(serde_json::json!(EFFECTIVE_AT_MAX)).unwrap();
        let later = serde_json::from_value::<Time>(serde_json::json!("9999-12-30T22:00:01Z"));

        assert_eq!(latest.0, k8s_openapi::jiff::Timestamp::MAX);
        assert!(later.is_err(), "one second later cannot be decoded");
    }

    #[test]
    fn the_effective_at_pattern_admits_what_the_time_type_decodes() {
        let pattern = regex::Regex::new(EFFECTIVE_AT_PATTERN).unwrap();
        let decodes = |s: &str| serde_json::from_value::<Time>(serde_json::Value::from(s)).is_ok();

        for admitted in [
            "2026-12-31T17:00:00Z",
            "2026-12-31T17:00:00.5+02:00",
            "2026-12-31T17:00:00.123456789-05:30",
            "0001-01-01T00:00:00Z",
            EFFECTIVE_AT_MAX,
        ] {
            assert!(pattern.is_match(admitted), "{admitted}");
            assert!(decodes(admitted), "{admitted}");
        }
        for refused in [
            "2026-12-31T17:00:00.1234567890Z",
            "2026-12-31T17:00:00+01:60",
            "2026-12-31T17:00:00",
        ] {
            assert!(!pattern.is_match(refused), "{refused}");
            assert!(!decodes(refused), "{refused}");
        }
    }

    #[test]
    fn a_partial_routing_block_keeps_the_other_defaults() {
        let spec = spec(
            "user: {id: 6a1b0c3e-0000-4000-8000-000000000001}\ncredentialsSecretRef: {name: c}\nregion: eu_west_1\nrouting: {removeSkills: true}\n",
        );

        assert!(spec.routing.remove_skills);
        assert!(spec.routing.set_off_queue);
        assert_eq!(
            spec.routing.active_conversations,
            ActiveConversationPolicy::Wait
        );
    }

    #[test]
    fn a_user_with_neither_email_nor_id_is_rejected() {
        let mut spec = minimal();
        spec.user = UserRef::default();

        assert_eq!(spec.validate(), Err(SpecError::MissingUser));
        assert_eq!(SpecError::MissingUser.reason(), reason::INVALID_SPEC);
    }

    #[test]
    fn malformed_emails_and_ids_are_rejected() {
        for email in [
            "jane",
            "jane@",
            "@example.com",
            "jane@example",
            "ja ne@example.com",
            "a@b@c.d",
        ] {
            let mut spec = minimal();
            spec.user.email = Some(email.to_owned());
            assert_eq!(
                spec.validate(),
                Err(SpecError::InvalidEmail(email.to_owned())),
                "{email}"
            );
        }
        for id in [
            "42",
            "6a1b0c3e-0000-4000-8000-00000000000g",
            "6a1b0c3e000040008000000000000001xxxx",
        ] {
            let mut spec = minimal();
            spec.user.id = Some(id.to_owned());
            assert_eq!(
                spec.validate(),
                Err(SpecError::InvalidUserId(id.to_owned())),
                "{id}"
            );
        }
    }

    #[test]
    fn ten_thousand_character_strings_are_rejected() {
        let long = "a".repeat(10_000);
        let mut spec = minimal();
        spec.user.email = Some(format!("{long}@example.com"));
        assert!(matches!(
            spec.validate(),
            Err(SpecError::TooLong {
                field: "user.email",
                ..
            })
        ));

        let mut spec = minimal();
        spec.credentials_secret_ref.name.clone_from(&long);
        assert!(matches!(spec.validate(), Err(SpecError::TooLong { .. })));

        let mut spec = minimal();
        spec.region = None;
        spec.api_base_url = Some(format!("https://{long}.example.com/"));
        spec.login_base_url = Some("https://login.example.com/".to_owned());
        assert!(matches!(
            spec.validate(),
            Err(SpecError::TooLong {
                field: "apiBaseUrl",
                ..
            })
        ));

        let mut spec = minimal();
        spec.drift_check_interval = format!("{long}h");
        assert!(matches!(
            spec.validate(),
            Err(SpecError::InvalidDriftCheckInterval(_))
        ));
    }

    #[test]
    fn secret_names_follow_kubernetes_naming() {
        for name in ["", "Genesys", "-genesys", "genesys-", "genesys_credentials"] {
            let mut spec = minimal();
            name.clone_into(&mut spec.credentials_secret_ref.name);
            assert_eq!(
                spec.validate(),
                Err(SpecError::InvalidSecretName(name.to_owned())),
                "{name:?}"
            );
        }
    }

    #[test]
    fn exactly_one_of_region_or_both_base_urls_is_required() {
        let urls =
            |spec: &mut GenesysUserOffboardingSpec, api: Option<&str>, login: Option<&str>| {
                spec.api_base_url = api.map(str::to_owned);
                spec.login_base_url = login.map(str::to_owned);
            };
        let api = Some("https://api.example.com/");
        let login = Some("https://login.example.com/");

        let mut both = minimal();
        urls(&mut both, api, login);
        assert_eq!(both.validate(), Err(SpecError::EndpointsNotExactlyOne));

        let mut neither = minimal();
        neither.region = None;
        assert_eq!(neither.validate(), Err(SpecError::EndpointsNotExactlyOne));

        let mut half = minimal();
        half.region = None;
        urls(&mut half, api, None);
        assert_eq!(half.validate(), Err(SpecError::IncompleteBaseUrls));
        urls(&mut half, None, login);
        assert_eq!(half.validate(), Err(SpecError::IncompleteBaseUrls));

        let mut custom = minimal();
        custom.region = None;
        urls(&mut custom, api, login);
        assert_eq!(custom.validate(), Ok(()));
        assert!(matches!(
            custom.api_endpoints(),
            Ok(ApiEndpoints::Custom { .. })
        ));
        assert_eq!(
            minimal().api_endpoints(),
            Ok(ApiEndpoints::Region(Region::UsEast1))
        );
    }

    #[test]
    fn base_urls_must_be_https_or_loopback_http() {
        let check = |url: &str| {
            let mut spec = minimal();
            spec.region = None;
            spec.api_base_url = Some(url.to_owned());
            spec.login_base_url = Some("https://login.example.com/".to_owned());
            spec.validate()
        };

        for ok in [
            "https://api.mypurecloud.com/",
            "http://127.0.0.1:8080/",
            "http://localhost:8080",
            "http://[::1]:9000/",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://api.mypurecloud.com/",
            "http://10.0.0.1:8080/",
            "ftp://127.0.0.1/",
            "api.mypurecloud.com",
            "https://",
            "https://user:password@api.example.com/",
            "https://api.example.com/?x=1",
            "https://api.example.com/#x",
            "http://127.1:8080/",
            "http://localhost:99999/",
            "HTTPS://api.example.com/",
        ] {
            assert!(
                matches!(
                    check(bad),
                    Err(SpecError::InvalidBaseUrl {
                        field: "apiBaseUrl",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_base_url_error_never_echoes_user_info_a_query_or_a_fragment() {
        for (url, secret) in [
            ("https://jane:hunter2@api.example.com/", "hunter2"),
            ("https://hunter2@api.example.com/", "hunter2"),
            ("https://jane:p?ss@hunter2@api.example.com/", "hunter2"),
            ("https://api.example.com/?access_token=hunter2", "hunter2"),
            ("https://api.example.com/#hunter2", "hunter2"),
            ("http://jane:hunter2@127.0.0.1:8080/", "hunter2"),
        ] {
            let mut spec = minimal();
            spec.region = None;
            spec.api_base_url = Some(url.to_owned());
            spec.login_base_url = Some("https://login.example.com/".to_owned());

            let error = spec.validate().unwrap_err();

            assert!(
                matches!(error, SpecError::InvalidBaseUrl { .. }),
                "{url}: {error}"
            );
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains(secret), "{url}: {shown}");
            assert!(shown.contains("[REDACTED]"), "{url}: {shown}");
        }
    }

    #[test]
    fn lookback_days_must_stay_within_five_years() {
        for (days, ok) in [
            (0, false),
            (1, true),
            (90, true),
            (1825, true),
            (1826, false),
        ] {
            let mut spec = minimal();
            spec.history.lookback_days = days;
            assert_eq!(spec.validate().is_ok(), ok, "{days}");
        }
        assert_eq!(
            minimal().history_lookback(),
            Duration::from_secs(90 * 24 * 3600)
        );
    }

    #[test]
    fn drift_check_intervals_parse_like_go_durations_within_bounds() {
        let cases = [
            ("1h", Some(3600)),
            ("30m", Some(1800)),
            ("1h30m", Some(5400)),
            ("90s", Some(90)),
            ("2h0m5s", Some(7205)),
            ("720h", Some(720 * 3600)),
        ];
        for (text, seconds) in cases {
            assert_eq!(parse_duration(text).map(|d| d.as_secs()), seconds, "{text}");
            let mut spec = minimal();
            text.clone_into(&mut spec.drift_check_interval);
            assert!(spec.validate().is_ok(), "{text}");
        }
        for bad in ["", "1", "h", "1d", "30m1h", "1h1h", "-1h", " 1h"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        for out_of_bounds in ["59s", "0m", "721h"] {
            let mut spec = minimal();
            out_of_bounds.clone_into(&mut spec.drift_check_interval);
            assert!(
                matches!(
                    spec.validate(),
                    Err(SpecError::InvalidDriftCheckInterval(_))
                ),
                "{out_of_bounds}"
            );
        }
    }

    #[test]
    fn every_region_round_trips_through_its_sdk_key() {
        for region in Region::ALL {
            let json = serde_json::to_value(region).unwrap();
            assert_eq!(json, serde_json::json!(region.as_str()));
            assert_eq!(serde_json::from_value::<Region>(json).unwrap(), region);
        }
    }

    #[test]
    fn a_new_condition_is_added_with_the_current_time() {
        let mut status = GenesysUserOffboardingStatus::default();

        let changed = status.set_condition(
            condition::READY,
            false,
            reason::PROGRESSING,
            "working",
            Some(1),
            &at(100),
        );

        assert!(changed);
        let ready = status.condition(condition::READY).unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason, "Progressing");
        assert_eq!(ready.message, "working");
        assert_eq!(ready.observed_generation, Some(1));
        assert_eq!(ready.last_transition_time, at(100));
        assert!(!status.is_true(condition::READY));
    }

    #[test]
    fn setting_the_same_condition_again_changes_nothing() {
        let mut status = GenesysUserOffboardingStatus::default();
        status.set_condition(
            condition::READY,
            true,
            reason::OFFBOARDED,
            "done",
            Some(1),
            &at(100),
        );
        let before = status.clone();

        let changed = status.set_condition(
            condition::READY,
            true,
            reason::OFFBOARDED,
            "done",
            Some(1),
            &at(200),
        );

        assert!(!changed);
        assert_eq!(status, before);
    }

    #[test]
    fn a_new_reason_without_a_status_flip_keeps_the_transition_time() {
        let mut status = GenesysUserOffboardingStatus::default();
        status.set_condition(
            condition::READY,
            false,
            reason::PROGRESSING,
            "draining",
            Some(1),
            &at(100),
        );

        let changed = status.set_condition(
            condition::READY,
            ConditionStatus::False,
            reason::WAITING_FOR_ACTIVE_CONVERSATION,
            "on a call",
            Some(2),
            &at(200),
        );

        assert!(changed);
        let ready = status.condition(condition::READY).unwrap();
        assert_eq!(ready.reason, "WaitingForActiveConversation");
        assert_eq!(ready.message, "on a call");
        assert_eq!(ready.observed_generation, Some(2));
        assert_eq!(ready.last_transition_time, at(100));
    }

    #[test]
    fn a_status_flip_moves_the_transition_time() {
        let mut status = GenesysUserOffboardingStatus::default();
        status.set_condition(
            condition::READY,
            false,
            reason::PROGRESSING,
            "draining",
            Some(1),
            &at(100),
        );

        let changed = status.set_condition(
            condition::READY,
            true,
            reason::OFFBOARDED,
            "done",
            Some(1),
            &at(300),
        );

        assert!(changed);
        let ready = status.condition(condition::READY).unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(ready.last_transition_time, at(300));
        assert!(status.is_true(condition::READY));
        assert_eq!(status.conditions.len(), 1);
    }

    #[test]
    fn conditions_of_different_types_live_side_by_side() {
        let mut status = GenesysUserOffboardingStatus::default();
        for type_ in condition::ALL {
            status.set_condition(
                type_,
                ConditionStatus::Unknown,
                reason::PENDING,
                "",
                None,
                &at(1),
            );
        }

        assert_eq!(status.conditions.len(), condition::ALL.len());
        assert_eq!(
            status
                .condition(condition::HISTORY_VERIFIED)
                .unwrap()
                .status,
            "Unknown"
        );
        assert!(status.condition("Other").is_none());
    }

    #[test]
    fn the_action_log_keeps_only_the_newest_fifty() {
        let mut status = GenesysUserOffboardingStatus::default();
        for i in 0..60 {
            status.record_action(ActionRecord {
                step: StepKind::RemoveFromQueue,
                target: Some(format!("queue-{i}")),
                time: at(i),
                outcome: ActionOutcome::Succeeded,
                message: None,
                read_back: None,
            });
        }

        assert_eq!(status.actions.len(), MAX_ACTIONS);
        assert_eq!(status.actions[0].target.as_deref(), Some("queue-10"));
        assert_eq!(status.actions[49].target.as_deref(), Some("queue-59"));
    }

    #[test]
    fn long_condition_and_action_messages_are_cut_to_the_message_bound() {
        let mut status = GenesysUserOffboardingStatus::default();
        let long = "é".repeat(MAX_MESSAGE_BYTES);

        status.set_condition(condition::STALLED, true, "X", long.clone(), None, &at(1));
        status.record_action(ActionRecord {
            step: StepKind::Deactivate,
            target: None,
            time: at(1),
            outcome: ActionOutcome::Failed,
            message: Some(long),
            read_back: None,
        });

        let condition = &status.conditions[0].message;
        let action = status.actions[0].message.as_ref().unwrap();
        for message in [condition, action] {
            assert!(
                message.len() <= MAX_MESSAGE_BYTES,
                "{} bytes",
                message.len()
            );
            assert!(message.ends_with("..."));
        }
        assert_eq!(bounded("short", MAX_MESSAGE_BYTES), "short");
    }

    #[test]
    fn the_endpoint_is_recorded_without_user_info_and_a_region_is_its_api_url() {
        let custom = spec(
            "user: {email: a@b.io}\ncredentialsSecretRef: {name: c}\n\
             apiBaseUrl: https://svc:hunter2@api.mypurecloud.com\n\
             loginBaseUrl: https://login.mypurecloud.com/\n",
        );

        let endpoint = custom.endpoint();

        assert_eq!(
            endpoint.api_base_url.as_deref(),
            Some("https://api.mypurecloud.com/")
        );
        assert_eq!(endpoint.region, None);
        assert!(!endpoint.to_string().contains("hunter2"));
        assert_eq!(endpoint.api_key(), minimal().endpoint().api_key());
        assert_eq!(minimal().endpoint().to_string(), "region us_east_1");
        assert_eq!(recorded_url("not a url, user:pw@host"), "host");
    }

    #[test]
    fn a_status_naming_a_step_this_version_does_not_write_still_decodes_and_keeps_it() {
        let json = serde_json::json!({
            "plan": [{"step": "LeaveQueue", "target": "q1"}],
            "actions": [{"step": "LeaveQueue", "time": "2026-01-01T00:00:00Z", "outcome": "Succeeded"}],
            "notApplied": [{"step": "Deactivate", "observed": "state active", "attempts": 1,
                            "since": "2026-01-01T00:00:00Z"}],
        });

        let status: GenesysUserOffboardingStatus = serde_json::from_value(json.clone()).unwrap();

        assert_eq!(status.plan[0].step, StepKind::Other("LeaveQueue".into()));
        assert_eq!(status.actions[0].step.as_str(), "LeaveQueue");
        assert_eq!(status.not_applied[0].step, StepKind::Deactivate);
        assert_eq!(serde_json::to_value(&status).unwrap(), json);
    }

    #[test]
    fn every_spec_reason_reaches_genesys_under_its_own_name() {
        for reason in [
            OffboardingReason::Voluntary,
            OffboardingReason::Seasonal,
            OffboardingReason::Leave,
            OffboardingReason::Performance,
            OffboardingReason::Conduct,
            OffboardingReason::Unknown,
        ] {
            let sent = StateChangeReason::from(reason);

            assert_eq!(
                serde_json::to_value(sent).unwrap(),
                serde_json::to_value(reason).unwrap()
            );
        }
    }

    #[test]
    fn an_empty_status_serializes_to_an_empty_object() {
        let json = serde_json::to_value(GenesysUserOffboardingStatus::default()).unwrap();

        assert_eq!(json, serde_json::json!({}));
    }
}
