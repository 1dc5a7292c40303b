//! The Genesys Cloud Platform API v2 client: only the calls offboarding needs. Its one job: talk
//! to Genesys Cloud correctly. It never depends on kube, k8s-openapi or the emulator, and it has
//! no call that deletes a user (not even a private one) and no GDPR call.
//!
//! Where to start reading:
//! - [`GenesysClient`] (`client.rs`): the one request path: shared rate budget, OAuth token,
//!   timeout, observer hook, retries, error classification, decoding. Below it, and knowing
//!   nothing of it: `http.rs` (what a request is, one exchange, bounded bodies, decoding),
//!   `auth.rs` (tokens) and `batch.rs` (coalescing), the last two built on `http.rs`.
//! - [`ClientConfig`] (`config.rs`): regions and endpoints, credentials, limits and timeouts.
//! - [`GenesysError`] (`error.rs`): what can fail, with a retry class and a `PascalCase` reason.
//! - The calls, one module per area: `users`, `routing`, `presence`, `authorization`,
//!   `analytics`, `org`, `impact` (what depends on a user, read-only); their bodies are in `models`.
//! - `batch.rs`: concurrent reads of users by id, email searches, users' conversations over
//!   one window, and removals from one queue are coalesced into one request each (a wave of
//!   offboardings costs fewer calls; a lone call is sent at once, as before).
//!
//! Behaviour in short: tokens come from `POST {login}/oauth/token` (client credentials) and are
//! cached, refreshed before expiry and once after a 401, single-flight. All clones of a client
//! share one budget of `requests_per_minute * headroom`; a 429's `Retry-After` pauses every
//! caller. Transient failures (5xx except 501, 429 without `Retry-After`, timeouts, connection
//! errors) are retried with bounded, jittered exponential backoff.

mod analytics;
mod auth;
mod authorization;
mod batch;
mod client;
mod config;
mod error;
mod handoff;
mod http;
mod impact;
mod models;
mod org;
mod presence;
mod quality;
mod ratelimit;
mod retry;
mod routing;
mod settings;
mod users;

pub use auth::{AccessToken, TOKEN_OPERATION};
pub use client::GenesysClient;
pub use config::{
    AllowedEndpoint, AllowedEndpoints, CallObserver, ClientConfig, ClientCredentials, Endpoints,
    InvalidAllowedEndpoint, Region, UnknownRegion, redact_url,
};
pub use error::{ErrorBody, ErrorDetail, ErrorLimit, GenesysError, RetryClass, classify};
pub use handoff::{
    CallbackConversation, CallbackPatched, DirectRoutingBackup, OwnedCallback, VoicemailCopyRecord,
    VoicemailMessage, Workitem,
};
pub use impact::{
    AgentManagementUnit, AlertNotification, AlertRule, ConsumingResource, OAuthClientInfo,
    OrgDependents, Phone, RetentionPolicy, Source, TelephonyNumber, Unreadable,
};
pub use models::{
    AggregateData, AggregateDataContainer, AggregateMetric, AggregateQueryResponse,
    AggregationQuery, AnalyticsConversation, AnalyticsParticipant, AnalyticsSegment,
    AnalyticsSession, AsyncQueryStatus, AuthzDivision, AuthzGrant, AuthzSubject, Contact,
    ConversationQuery, DetailsJobPage, EmailMatches, EntityRef, FilterType, Interval, JobState,
    LastTokenIssued, MemberBy, Organization, PagingSpec, PresenceDefinition, PresenceDefinitionRef,
    QueryClause, QueryFilter, QueryPredicate, QueueMember, RoleDivision, RoutingStatus,
    RoutingStatusValue, ScoredAgent, StateChangeReason, StatisticalSummary, SystemPresence, User,
    UserAuthorization, UserId, UserPresence, UserQueue, UserRoutingLanguage, UserRoutingSkill,
    UserRoutingSkillPost, UserState, UserStateInfo, UserStation, UserStations,
};
pub use quality::{Calibration, Evaluation, PENDING_STATES};
pub use settings::{
    CallForwarding, CallRoute, CallTarget, GroupInfo, LabelUtilization, MediaUtilization,
    TeamAddFailure, TeamAdded, Utilization, UtilizationRequest,
};

/// Result of a Genesys call.
pub type Result<T, E = GenesysError> = std::result::Result<T, E>;
