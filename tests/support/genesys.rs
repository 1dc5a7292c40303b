//! The Genesys side of the tests: the demo org, the resource and client builders, and the
//! emulator request-log helpers (which requests write, which only read). The safety invariants
//! built on them are in [`super::invariants`].
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use genesys_cloud::{ClientConfig, ClientCredentials, Endpoints, GenesysClient};
use genesys_emulator::fixture::{Fixture, Profile};
use genesys_emulator::{RecordedRequest, SimHandle};
use genesys_offboarding_operator::crd::{GenesysUserOffboarding, GenesysUserOffboardingSpec};
use secrecy::SecretString;
use serde_json::Value;

pub const JANE: &str = "6a1b0c3e-0000-4000-8000-000000000001";

/// The demo org on the emulator's realistic profile (every unkind behaviour of the real service
/// on: asynchronous queue changes, a lagging search index, dropped expands, memberships through
/// teams and skill groups, presence that leaves the agent on queue...), without its request
/// limit, so that many passes in a row never hit a 429 the test did not ask for. The suites run
/// on it: a kind emulator would make every green test a lie.
pub fn demo_org() -> Fixture {
    let mut fixture = Fixture::demo().with_profile(Profile::Realistic);
    fixture.requests_per_minute = 0;
    fixture
}

/// The demo org on the emulator's default (kind) profile, for the few tests about what the
/// realistic profile changes.
pub fn kind_demo_org() -> Fixture {
    let mut fixture = Fixture::demo();
    fixture.requests_per_minute = 0;
    fixture
}

/// A resource in namespace `default`, generation 1, with the given spec lines after the
/// Secret reference and the region.
pub fn offboarding(spec: &str) -> GenesysUserOffboarding {
    let spec: GenesysUserOffboardingSpec = serde_yaml::from_str(&format!(
        "credentialsSecretRef: {{name: genesys-credentials}}\nregion: us_east_1\n{spec}"
    ))
    .unwrap();
    let mut resource = GenesysUserOffboarding::new("offboarding", spec);
    resource.metadata.namespace = Some("default".into());
    resource.metadata.generation = Some(1);
    resource
}

/// The client configuration the tests use against `sim`: fast backoff and job polling, no
/// client-side rate limit to speak of.
pub fn client_config(sim: &SimHandle, client_id: &str, secret: &str) -> ClientConfig {
    let endpoints = Endpoints::single(sim.base_url()).unwrap();
    let credentials = ClientCredentials::new(client_id, SecretString::from(secret.to_owned()));
    ClientConfig::new(endpoints, credentials)
        .with_requests_per_minute(60_000)
        .with_retry_delays(Duration::from_millis(10), Duration::from_millis(50))
        .with_job_polling(Duration::from_millis(20), Duration::from_secs(30))
}

/// A client of the demo org's `demo-client`.
pub fn demo_client(sim: &SimHandle) -> GenesysClient {
    GenesysClient::new(client_config(sim, "demo-client", "demo-secret")).unwrap()
}

/// `POST`s that only read: the alert rules query and the licence batch of the impact preflight.
pub const READ_ONLY_POSTS: &[&str] = &["/api/v2/alerting/rules/query", "/api/v2/license/users"];

/// A request that changes Genesys: everything but GETs, the token endpoint, user searches,
/// workitem queries, analytics queries and jobs, and the impact preflight's read-only `POST`s.
pub fn is_write(request: &RecordedRequest) -> bool {
    request.method != "GET"
        && !request.path.starts_with("/oauth/")
        && request.path != "/api/v2/users/search"
        && request.path != WORKITEM_QUERY
        && !request.path.starts_with("/api/v2/analytics/")
        && !READ_ONLY_POSTS.contains(&request.path.as_str())
}

/// `POST /api/v2/taskmanagement/workitems/query`: a read.
const WORKITEM_QUERY: &str = "/api/v2/taskmanagement/workitems/query";

/// The only requests a resource that cannot proceed may make: GETs, the token endpoint, user
/// searches and synchronous analytics queries.
pub fn is_read_only(request: &RecordedRequest) -> bool {
    let analytics_query = request.path.starts_with("/api/v2/analytics/")
        && request.path.ends_with("/query")
        && request.method == "POST";
    request.method == "GET"
        || (request.method == "POST"
            && (request.path == "/oauth/token"
                || request.path == "/api/v2/users/search"
                || READ_ONLY_POSTS.contains(&request.path.as_str())
                || request.path == WORKITEM_QUERY
                || analytics_query))
}

pub fn succeeded(request: &RecordedRequest) -> bool {
    (200..300).contains(&request.status)
}

/// `/api/v2/users/{id}` itself (not a sub-resource).
pub fn is_user_path(path: &str) -> bool {
    path.strip_prefix("/api/v2/users/")
        .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

/// The path with every id-like segment (a UUID, or anything with a digit that is not `v2`)
/// replaced by `*`: the fault pattern that matches the same operation.
pub fn path_template(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let id_like = segment != "v2" && segment.chars().any(|c| c.is_ascii_digit());
            if id_like { "*" } else { segment }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `METHOD /path/template`.
pub fn operation_of(request: &RecordedRequest) -> String {
    format!("{} {}", request.method, path_template(&request.path))
}

/// The emulator's stored user without the fields that record when things happened.
pub fn stable_user(mut user: Value) -> Value {
    if let Some(object) = user.as_object_mut() {
        for key in [
            "routingStatus",
            "presence",
            "sessionsRevokedAt",
            "stateChange",
            "presenceHistory",
            "routingHistory",
            "lastTokenIssued",
        ] {
            object.remove(key);
        }
    }
    user
}
