//! The Genesys client against the emulator over real HTTP: tokens, every call's happy path, and
//! each failure class (404, version conflict, 429 with `Retry-After`, 5xx, timeout, a body that
//! is not JSON, 401, 403, bad credentials).
//!
//! Each test starts its own emulator on `127.0.0.1:0`, so tests run in parallel.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use genesys_cloud::{
    AggregationQuery, CallObserver, ClientConfig, ClientCredentials, ConversationQuery, Endpoints,
    GenesysClient, GenesysError, Interval, MemberBy, RetryClass, RoleDivision, RoutingStatusValue,
    StateChangeReason, SystemPresence, UserId, UserRoutingSkillPost, UserState, UserStateInfo,
};
use genesys_emulator::fixture::Fixture;
use genesys_emulator::{Fault, Sim, SimHandle};
use serde_json::Value;

const JANE: &str = "6a1b0c3e-0000-4000-8000-000000000001";
const OMAR: &str = "6a1b0c3e-0000-4000-8000-000000000002";
const LI: &str = "6a1b0c3e-0000-4000-8000-000000000003";
const SAM: &str = "6a1b0c3e-0000-4000-8000-000000000006";
const PRIYA: &str = "6a1b0c3e-0000-4000-8000-000000000007";
const BILLING: &str = "9b2e4d60-0000-4000-8000-0000000000b1";
const SALES: &str = "9b2e4d60-0000-4000-8000-0000000000b4";
const ESCALATIONS: &str = "9b2e4d60-0000-4000-8000-0000000000b3";
const AGENT_ROLE: &str = "8e7d6c5b-0000-4000-8000-000000000101";
const HOME_DIVISION: &str = "5d1e7c2a-0000-4000-8000-0000000000d1";
const SKILL_BILLING: &str = "2a3b4c5d-0000-4000-8000-0000000000e1";
const LANGUAGE_ENGLISH: &str = "1f2e3d4c-0000-4000-8000-0000000000f1";
const OFFLINE: &str = "6a0f1b2c-0000-4000-8000-0000000000a4";

/// Records every observer callback with the moment it happened.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(String, Option<u16>, Instant)>>,
    waits: Mutex<Vec<Duration>>,
}

impl CallObserver for Recorder {
    fn on_call(&self, operation: &str, status: Option<u16>, _elapsed: Duration) {
        self.calls
            .lock()
            .unwrap()
            .push((operation.to_owned(), status, Instant::now()));
    }

    fn on_rate_limit_wait(&self, waited: Duration) {
        self.waits.lock().unwrap().push(waited);
    }
}

impl Recorder {
    fn count(&self, operation: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(op, ..)| op == operation)
            .count()
    }
}

struct Env {
    sim: SimHandle,
    client: GenesysClient,
    recorder: Arc<Recorder>,
}

impl Env {
    async fn start() -> Self {
        Self::with(Fixture::demo(), |c| c).await
    }

    async fn with(fixture: Fixture, tune: impl FnOnce(ClientConfig) -> ClientConfig) -> Self {
        Self::as_client(fixture, "demo-client", "demo-secret", tune).await
    }

    async fn as_client(
        mut fixture: Fixture,
        id: &str,
        secret: &str,
        tune: impl FnOnce(ClientConfig) -> ClientConfig,
    ) -> Self {
        // The budget is the client's business in these tests; the emulator's own limit is
        // exercised by the benchmark.
        fixture.requests_per_minute = 0;
        let sim = Sim::start(fixture).await.unwrap();
        let recorder = Arc::new(Recorder::default());
        let config = ClientConfig::new(
            Endpoints::single(sim.base_url()).unwrap(),
            ClientCredentials::new(id, secret.to_owned()),
        )
        .with_requests_per_minute(60_000)
        .with_retry_delays(Duration::from_millis(20), Duration::from_millis(100))
        .with_request_timeout(Duration::from_secs(5))
        .with_observer(recorder.clone());
        let client = GenesysClient::new(tune(config)).unwrap();
        Self {
            sim,
            client,
            recorder,
        }
    }

    /// Recorded API requests (method, path, query, body, status), oldest first.
    fn api_requests(
        &self,
        method: &str,
        path_prefix: &str,
    ) -> Vec<(String, String, Option<Value>, u16)> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.starts_with(path_prefix))
            .map(|r| (r.path.clone(), r.query.clone(), r.body.clone(), r.status))
            .collect()
    }
}

impl Drop for Env {
    /// Every request the client sent matched an operation of the contract, and none deleted a
    /// user.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        for r in self.sim.requests() {
            if r.path.starts_with("/api/v2/") {
                let op = r.operation.as_deref();
                assert!(
                    op.is_some(),
                    "{} {} is not in the contract",
                    r.method,
                    r.path
                );
                assert_ne!(op, Some("delete_user"));
            }
        }
    }
}

fn id(s: &str) -> UserId {
    UserId::new(s)
}

fn last_days(days: i64) -> Interval {
    let end = Utc::now() + TimeDelta::minutes(1);
    Interval::new(end - TimeDelta::days(days), end)
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn one_token_serves_concurrent_callers_and_every_clone() {
    let env = Env::start().await;
    let clone = env.client.clone();
    let calls = (0..8).map(|i| {
        let c = if i % 2 == 0 {
            env.client.clone()
        } else {
            clone.clone()
        };
        async move { c.organization().await }
    });
    for result in futures::future::join_all(calls).await {
        assert_eq!(
            result.unwrap().name.as_deref(),
            Some("Example Contact Center")
        );
    }
    assert_eq!(
        env.recorder.count("post_oauth_token"),
        1,
        "single-flight token fetch"
    );
    let token_requests = env.api_requests("POST", "/oauth/token");
    assert!(token_requests.len() <= 1);
}

#[tokio::test]
async fn a_token_is_refreshed_before_it_expires() {
    let mut fixture = Fixture::demo();
    fixture.oauth_clients[0].token_lifetime_seconds = 2;
    let env = Env::with(fixture, |c| c).await;
    env.client.organization().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    env.client.organization().await.unwrap();
    assert_eq!(env.recorder.count("post_oauth_token"), 2);
    assert!(
        env.api_requests("GET", "/api/v2/")
            .iter()
            .all(|r| r.3 == 200),
        "the refresh happened before the server saw an expired token"
    );
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_then_succeeds() {
    let env = Env::start().await;
    env.client.organization().await.unwrap();
    env.sim
        .inject(Fault::new("GET", "/api/v2/users/*").status(401));
    let user = env.client.get_user(&id(JANE), &[]).await.unwrap();
    assert_eq!(user.id, id(JANE));
    assert_eq!(env.recorder.count("post_oauth_token"), 2);
}

#[tokio::test]
async fn a_second_401_in_a_row_is_unauthorized() {
    let env = Env::start().await;
    env.sim
        .inject(Fault::new("GET", "/api/v2/users/*").status(401).times(2));
    let err = env.client.get_user(&id(JANE), &[]).await.unwrap_err();
    assert_eq!(err.reason(), "Unauthorized", "{err}");
    assert_eq!(err.operation(), "get_user");
}

#[tokio::test]
async fn bad_credentials_fail_with_the_oauth_error_and_never_show_the_secret() {
    let env = Env::as_client(Fixture::demo(), "demo-client", "wrong-secret-value", |c| c).await;
    let err = env.client.organization().await.unwrap_err();
    assert_eq!(err.reason(), "AuthenticationFailed", "{err}");
    assert_eq!(err.retry_class(), RetryClass::Never);
    let shown = format!("{err} {err:?} {:?}", env.client);
    assert!(!shown.contains("wrong-secret-value"), "{shown}");
    assert!(!shown.contains("demo-secret"), "{shown}");
}

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn email_search_finds_active_and_inactive_users_and_reports_deleted_ones_apart() {
    let env = Env::start().await;

    let jane = env
        .client
        .find_users_by_email("jane.doe@example.com")
        .await
        .unwrap();
    assert_eq!(jane.live.len(), 1);
    assert_eq!(jane.live[0].id, id(JANE));
    assert!(jane.deleted.is_empty());

    let alex = env
        .client
        .find_users_by_email("alex.morgan@example.com")
        .await
        .unwrap();
    let mut states: Vec<_> = alex.live.iter().map(|u| u.state.clone().unwrap()).collect();
    states.sort_by_key(ToString::to_string);
    assert_eq!(
        states,
        vec![UserState::Active, UserState::Inactive],
        "ambiguous address"
    );

    let sam = env
        .client
        .find_users_by_email("sam.taylor@example.com")
        .await
        .unwrap();
    assert!(sam.live.is_empty());
    assert_eq!(sam.deleted.len(), 1);
    assert_eq!(sam.deleted[0].id, id(SAM));

    let nobody = env
        .client
        .find_users_by_email("nobody@example.com")
        .await
        .unwrap();
    assert!(nobody.live.is_empty() && nobody.deleted.is_empty());

    let searches = env.api_requests("POST", "/api/v2/users/search");
    let first = searches[0].2.as_ref().unwrap();
    assert_eq!(
        first["query"][0],
        serde_json::json!({"type":"EXACT","fields":["email"],"value":"jane.doe@example.com"})
    );
    assert_eq!(
        first["query"][1],
        serde_json::json!({"type":"EXACT","fields":["state"],"values":["active","inactive"]})
    );
    assert_eq!(
        searches[1].2.as_ref().unwrap()["query"][1]["values"],
        serde_json::json!(["deleted"])
    );
    assert_eq!(env.sim.user(SAM).unwrap()["state"], "deleted", "untouched");
}

#[tokio::test]
async fn users_are_read_with_comma_joined_expand_by_id_and_in_bulk() {
    let env = Env::start().await;
    let jane = env
        .client
        .get_user(&id(JANE), &["routingStatus", "presence"])
        .await
        .unwrap();
    assert_eq!(jane.email.as_deref(), Some("jane.doe@example.com"));
    assert_eq!(jane.version, Some(7));
    assert_eq!(
        jane.routing_status.unwrap().status,
        Some(RoutingStatusValue::Idle)
    );
    assert!(jane.presence.is_some());
    let get = &env.api_requests("GET", &format!("/api/v2/users/{JANE}"))[0];
    assert!(
        get.1.contains("expand=routingStatus%2Cpresence")
            || get.1.contains("expand=routingStatus,presence"),
        "{}",
        get.1
    );

    let inactive = env.client.get_user(&id(LI), &[]).await.unwrap();
    assert_eq!(inactive.state, Some(UserState::Inactive));

    let err = env.client.get_user(&id(SAM), &[]).await.unwrap_err();
    assert!(
        err.is_not_found(),
        "a deleted user needs state=deleted: {err}"
    );
    let sam = env
        .client
        .get_deleted_user(&id(SAM))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sam.state, Some(UserState::Deleted));
    assert!(
        env.client
            .get_deleted_user(&id("no-such-user"))
            .await
            .unwrap()
            .is_none()
    );

    let bulk = env
        .client
        .get_users_by_ids(&[id(JANE), id(SAM), id(LI), id("no-such-user")])
        .await
        .unwrap();
    let mut ids: Vec<_> = bulk.iter().map(|u| u.id.to_string()).collect();
    ids.sort();
    assert_eq!(ids, vec![JANE.to_owned(), LI.to_owned(), SAM.to_owned()]);
}

#[tokio::test]
async fn an_unknown_user_is_not_found_with_the_error_body_kept() {
    let env = Env::start().await;
    let err = env
        .client
        .get_user(&id("no-such-user"), &[])
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "NotFound");
    assert_eq!(err.retry_class(), RetryClass::Never);
    let body = err.error_body().unwrap();
    assert_eq!(body.code.as_deref(), Some("not.found"));
    assert!(body.context_id.is_some(), "contextId kept for support");
    assert!(err.to_string().contains("get_user"), "{err}");
}

#[tokio::test]
async fn deactivation_patches_only_state_and_version_and_is_idempotent() {
    let env = Env::start().await;
    let user = env
        .client
        .set_user_state(&id(JANE), UserState::Inactive)
        .await
        .unwrap();
    assert_eq!(user.state, Some(UserState::Inactive));
    assert_eq!(user.version, Some(8));
    assert_eq!(env.sim.user(JANE).unwrap()["state"], "inactive");
    let patches = env.api_requests("PATCH", "/api/v2/users/");
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0].2.as_ref().unwrap(),
        &serde_json::json!({"state": "inactive", "version": 7})
    );

    let again = env
        .client
        .set_user_state(&id(JANE), UserState::Inactive)
        .await
        .unwrap();
    assert_eq!(again.version, Some(8));
    assert_eq!(
        env.api_requests("PATCH", "/api/v2/users/").len(),
        1,
        "no-op"
    );
}

#[tokio::test]
async fn a_version_conflict_is_retried_after_a_fresh_read() {
    let env = Env::start().await;
    env.sim
        .inject(Fault::new("PATCH", "/api/v2/users/*").status(409));
    let user = env
        .client
        .set_user_state(&id(OMAR), UserState::Inactive)
        .await
        .unwrap();
    assert_eq!(user.state, Some(UserState::Inactive));
    let patches = env.api_requests("PATCH", "/api/v2/users/");
    assert_eq!(
        patches.iter().map(|p| p.3).collect::<Vec<_>>(),
        vec![409, 200]
    );
    assert_eq!(
        env.api_requests("GET", &format!("/api/v2/users/{OMAR}"))
            .len(),
        2
    );

    let stale = env
        .client
        .patch_user_state(&id(PRIYA), UserState::Inactive, 1)
        .await
        .unwrap_err();
    assert_eq!(stale.reason(), "VersionConflict", "{stale}");
    assert_eq!(stale.retry_class(), RetryClass::Backoff);
    assert_eq!(env.sim.user(PRIYA).unwrap()["state"], "active");
}

#[tokio::test]
async fn a_400_version_mismatch_is_also_a_conflict() {
    let mut fixture = Fixture::demo();
    fixture.behavior.version_conflict =
        genesys_emulator::fixture::VersionConflictStyle::BadRequest400;
    let env = Env::with(fixture, |c| c).await;
    let err = env
        .client
        .patch_user_state(&id(PRIYA), UserState::Inactive, 1)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "VersionConflict", "{err}");
    assert_eq!(err.status(), Some(400));
}

#[tokio::test]
async fn conflicts_that_never_clear_are_surfaced_after_the_bounded_retries() {
    let env = Env::with(Fixture::demo(), |c| c.with_max_conflict_retries(3)).await;
    env.sim
        .inject(Fault::new("PATCH", "/api/v2/users/*").status(409).times(10));
    let err = env
        .client
        .set_user_state(&id(OMAR), UserState::Inactive)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "VersionConflict");
    assert_eq!(env.api_requests("PATCH", "/api/v2/users/").len(), 3);
}

#[tokio::test]
async fn the_state_endpoint_records_a_reason() {
    let env = Env::start().await;
    let before = env.client.get_user_state(&id(JANE)).await.unwrap();
    assert_eq!(before.state, Some(UserState::Active));
    let after = env
        .client
        .put_user_state(
            &id(JANE),
            &UserStateInfo {
                state: Some(UserState::Inactive),
                version: before.version,
                state_change_reason: Some(StateChangeReason::Voluntary),
                state_change_date: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(after.state, Some(UserState::Inactive));
    assert_eq!(
        after.state_change_reason,
        Some(StateChangeReason::Voluntary)
    );
    assert_eq!(env.sim.user(JANE).unwrap()["state"], "inactive");
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn routing_status_queues_skills_languages_and_station_round_trip() {
    let env = Env::start().await;
    let jane = id(JANE);

    let status = env.client.get_routing_status(&jane).await.unwrap();
    assert_eq!(status.status, Some(RoutingStatusValue::Idle));
    let status = env
        .client
        .set_routing_status(&jane, RoutingStatusValue::OffQueue)
        .await
        .unwrap();
    assert_eq!(status.status, Some(RoutingStatusValue::OffQueue));

    let queues = env.client.get_user_queues(&jane).await.unwrap();
    let mut seen: Vec<_> = queues
        .iter()
        .map(|q| (q.id.as_str(), q.joined.unwrap()))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, vec![(BILLING, true), (SALES, false)]);
    let queue_gets = env.api_requests("GET", &format!("/api/v2/users/{JANE}/queues"));
    assert!(queue_gets.iter().any(|q| q.1.contains("joined=true")));
    assert!(queue_gets.iter().any(|q| q.1.contains("joined=false")));

    let members = env
        .client
        .get_queue_members(BILLING, Some(MemberBy::User))
        .await
        .unwrap();
    assert!(members.iter().any(|m| m.id == JANE));
    env.client
        .remove_queue_members(BILLING, std::slice::from_ref(&jane))
        .await
        .unwrap();
    let removal =
        &env.api_requests("POST", &format!("/api/v2/routing/queues/{BILLING}/members"))[0];
    assert!(removal.1.contains("delete=true"), "{}", removal.1);
    assert_eq!(
        removal.2.as_ref().unwrap(),
        &serde_json::json!([{ "id": JANE }])
    );
    let queues = env.client.get_user_queues(&jane).await.unwrap();
    assert!(queues.iter().all(|q| q.id != BILLING));
    env.client
        .add_queue_members(BILLING, std::slice::from_ref(&jane))
        .await
        .unwrap();
    let queues = env.client.get_user_queues(&jane).await.unwrap();
    assert!(queues.iter().any(|q| q.id == BILLING));

    let skills = env.client.get_user_skills(&jane).await.unwrap();
    assert_eq!(skills.len(), 2);
    env.client
        .remove_user_skill(&jane, SKILL_BILLING)
        .await
        .unwrap();
    assert_eq!(env.client.get_user_skills(&jane).await.unwrap().len(), 1);
    let restored = env
        .client
        .set_user_skills(
            &jane,
            &skills
                .iter()
                .map(|s| UserRoutingSkillPost {
                    id: s.id.clone(),
                    proficiency: s.proficiency.unwrap_or_default(),
                })
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    assert_eq!(restored.len(), 2);

    let languages = env.client.get_user_languages(&jane).await.unwrap();
    assert_eq!(languages.len(), 1);
    env.client
        .remove_user_language(&jane, LANGUAGE_ENGLISH)
        .await
        .unwrap();
    assert!(
        env.client
            .get_user_languages(&jane)
            .await
            .unwrap()
            .is_empty()
    );

    let station = env.client.get_user_station(&jane).await.unwrap();
    assert!(station.associated_station.is_some());
    assert!(station.default_station.is_some());
    env.client.clear_associated_station(&jane).await.unwrap();
    env.client.clear_default_station(&jane).await.unwrap();
    let station = env.client.get_user_station(&jane).await.unwrap();
    assert!(station.associated_station.is_none());
    assert!(station.default_station.is_none());
}

#[tokio::test]
async fn joined_flags_are_set_in_one_patch_and_queues_the_user_is_not_in_are_ignored() {
    // Arrange: Jane is joined in Billing, a member of Sales without being joined, and not in
    // Escalations.
    let env = Env::start().await;
    let jane = id(JANE);

    // Act
    env.client
        .patch_user_queues(
            &jane,
            &[(BILLING, false), (SALES, true), (ESCALATIONS, true)],
        )
        .await
        .unwrap();
    let nothing = env.client.patch_user_queues(&jane, &[]).await.unwrap();

    // Assert: the flags flipped, memberships unchanged, one request with the pairs as sent.
    let mut seen: Vec<_> = env
        .client
        .get_user_queues(&jane)
        .await
        .unwrap()
        .iter()
        .map(|q| (q.id.clone(), q.joined.unwrap()))
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        vec![(BILLING.to_owned(), false), (SALES.to_owned(), true)]
    );
    assert!(nothing.is_empty());
    let patches = env.api_requests("PATCH", &format!("/api/v2/users/{JANE}/queues"));
    assert_eq!(patches.len(), 1, "an empty list makes no call");
    assert_eq!(
        patches[0].2.as_ref().unwrap(),
        &serde_json::json!([
            {"id": BILLING, "joined": false},
            {"id": SALES, "joined": true},
            {"id": ESCALATIONS, "joined": true},
        ])
    );
    assert_eq!(patches[0].3, 200);
    assert_eq!(env.recorder.count("patch_user_queues"), 1);
}

#[tokio::test]
async fn group_memberships_are_listed_with_member_by() {
    let env = Env::start().await;
    let queues = env.client.get_user_queues(&id(PRIYA)).await.unwrap();
    assert!(queues.iter().any(|q| q.id == ESCALATIONS));
    let members = env
        .client
        .get_queue_members(ESCALATIONS, Some(MemberBy::Group))
        .await
        .unwrap();
    assert!(
        members
            .iter()
            .any(|m| m.id == PRIYA && m.member_by == Some(MemberBy::Group))
    );
}

#[tokio::test]
async fn bulk_member_removal_sends_at_most_100_ids_per_request() {
    let mut yaml = String::from(
        "oauthClients:\n  - { clientId: demo-client, clientSecret: demo-secret }\n\
         queues:\n  - { id: q1, name: Big Queue }\nusers:\n",
    );
    for i in 0..150 {
        writeln!(
            yaml,
            "  - {{ id: u{i}, name: User {i}, email: u{i}@example.com, queues: [{{ queueId: q1 }}] }}"
        )
        .unwrap();
    }
    let env = Env::with(Fixture::from_yaml(&yaml).unwrap(), |c| c).await;
    let members = env.client.get_queue_members("q1", None).await.unwrap();
    assert_eq!(members.len(), 150, "every page of members");
    let ids: Vec<UserId> = (0..150).map(|i| id(&format!("u{i}"))).collect();
    env.client.remove_queue_members("q1", &ids).await.unwrap();
    let posts = env.api_requests("POST", "/api/v2/routing/queues/q1/members");
    let sizes: Vec<usize> = posts
        .iter()
        .map(|p| p.2.as_ref().unwrap().as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![100, 50]);
    assert!(
        env.client
            .get_queue_members("q1", None)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Presence, tokens, authorization, organization
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn presence_goes_to_the_cached_offline_definition_and_sessions_are_revoked() {
    let env = Env::start().await;
    let definitions = env.client.get_presence_definitions().await.unwrap();
    assert!(
        definitions
            .iter()
            .any(|d| d.system_presence == Some(SystemPresence::Offline))
    );
    assert_eq!(env.client.offline_presence_id().await.unwrap(), OFFLINE);
    assert_eq!(env.client.offline_presence_id().await.unwrap(), OFFLINE);
    assert_eq!(
        env.api_requests("GET", "/api/v2/presence/definitions")
            .len(),
        2,
        "one explicit read, then the cached lookup"
    );

    let presence = env.client.set_presence(&id(JANE), OFFLINE).await.unwrap();
    assert_eq!(presence.presence_definition.unwrap().id, OFFLINE);
    let presence = env.client.get_presence(&id(JANE)).await.unwrap();
    assert_eq!(presence.presence_definition.unwrap().id, OFFLINE);
    let patch = &env.api_requests(
        "PATCH",
        &format!("/api/v2/users/{JANE}/presences/purecloud"),
    )[0];
    assert_eq!(
        patch.2.as_ref().unwrap(),
        &serde_json::json!({"presenceDefinition": {"id": OFFLINE}})
    );

    env.client.revoke_tokens(&id(JANE)).await.unwrap();
    assert_eq!(
        env.api_requests("DELETE", &format!("/api/v2/tokens/{JANE}"))
            .len(),
        1
    );
}

/// Sets `users` to Offline at once (the current-thread runtime makes every caller join the
/// batch before it is sent) and answers each result.
async fn all_offline(env: &Env, users: &[&str]) -> Vec<Result<(), GenesysError>> {
    futures::future::join_all(
        users
            .iter()
            .map(|u| async move { env.client.set_presence_together(&id(u), OFFLINE).await }),
    )
    .await
}

/// The Genesys Cloud presence each of `users` reads now.
async fn presence_ids(env: &Env, users: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for u in users {
        let p = env.client.get_presence(&id(u)).await.unwrap();
        ids.push(p.presence_definition.unwrap().id);
    }
    ids
}

#[tokio::test]
async fn a_wave_going_offline_sends_one_bulk_presence_request_and_a_lone_change_one_patch() {
    let env = Env::start().await;

    let results = all_offline(&env, &[JANE, OMAR, PRIYA]).await;

    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let puts = env.api_requests("PUT", "/api/v2/users/presences/bulk");
    assert_eq!(puts.len(), 1, "three changes, one request");
    let entry = |u: &str| {
        serde_json::json!({"id": u, "source": "PURECLOUD", "sourceId": "PURECLOUD",
                           "presenceDefinition": {"id": OFFLINE}})
    };
    assert_eq!(
        puts[0].2.as_ref().unwrap(),
        &serde_json::json!([entry(JANE), entry(OMAR), entry(PRIYA)])
    );
    assert!(env.api_requests("PATCH", "/api/v2/users/").is_empty());
    assert_eq!(presence_ids(&env, &[JANE, OMAR, PRIYA]).await, [OFFLINE; 3]);

    env.client
        .set_presence_together(&id(LI), OFFLINE)
        .await
        .unwrap();
    assert_eq!(
        env.api_requests("PATCH", &format!("/api/v2/users/{LI}/presences/purecloud"))
            .len(),
        1,
        "a change alone is the one-user PATCH"
    );
    assert_eq!(
        env.api_requests("PUT", "/api/v2/users/presences/bulk")
            .len(),
        1
    );
}

#[tokio::test]
async fn a_bulk_presence_request_refused_is_sent_again_one_user_at_a_time() {
    // More entries than the org takes: 400, then one PATCH each.
    let mut fixture = Fixture::demo();
    fixture.behavior.presence_bulk_max_entries = 2;
    let env = Env::with(fixture, |c| c).await;
    let results = all_offline(&env, &[JANE, OMAR, PRIYA]).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let puts = env.api_requests("PUT", "/api/v2/users/presences/bulk");
    assert_eq!(puts.iter().map(|p| p.3).collect::<Vec<_>>(), [400]);
    assert_eq!(env.api_requests("PATCH", "/api/v2/users/").len(), 3);
    assert_eq!(presence_ids(&env, &[JANE, OMAR, PRIYA]).await, [OFFLINE; 3]);

    // An unknown user fails the whole request on some orgs: the others still change, the
    // unknown one gets its own 404. On the others the bulk request changes the known users and
    // leaves the unknown one out: its read-back tells.
    for fails_whole in [true, false] {
        let mut fixture = Fixture::demo();
        fixture.behavior.presence_bulk_fails_whole = fails_whole;
        let env = Env::with(fixture, |c| c).await;
        let ghost = "00000000-0000-4000-8000-00000000dead";
        let results = all_offline(&env, &[JANE, ghost, OMAR]).await;
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert_eq!(
            results[1].as_ref().is_err_and(GenesysError::is_not_found),
            fails_whole,
            "{results:?}"
        );
        assert_eq!(presence_ids(&env, &[JANE, OMAR]).await, [OFFLINE; 2]);
        let patches = env.api_requests("PATCH", "/api/v2/users/").len();
        assert_eq!(patches, if fails_whole { 3 } else { 0 });
    }
}

#[tokio::test]
async fn a_user_outside_the_clients_divisions_refuses_that_bulk_request_only() {
    let mut fixture = Fixture::demo();
    fixture.behavior.division_scoped_permissions = true;
    fixture.behavior.presence_bulk_fails_whole = true;
    let env = Env::as_client(fixture, "support-client", "support-secret", |c| c).await;

    // Priya is in Support, Jane in Home.
    for _ in 0..2 {
        let results = all_offline(&env, &[PRIYA, JANE]).await;
        assert!(results[0].is_ok(), "{results:?}");
        assert!(
            matches!(
                &results[1],
                Err(GenesysError::Forbidden {
                    missing_permission: None,
                    ..
                })
            ),
            "{results:?}"
        );
    }

    let puts = env.api_requests("PUT", "/api/v2/users/presences/bulk");
    assert_eq!(
        puts.iter().map(|p| p.3).collect::<Vec<_>>(),
        [403, 403],
        "a division refusal is no reason to stop asking"
    );
    assert_eq!(presence_ids(&env, &[PRIYA]).await, [OFFLINE]);
}

#[tokio::test]
async fn a_role_without_the_bulk_presence_permission_gets_one_patch_per_user_from_then_on() {
    let mut fixture = Fixture::demo();
    let mut client = fixture.oauth_clients[0].clone();
    client.client_id = "no-bulk-client".into();
    client.permissions = Some(
        ["directory:user:view", "presence:presenceDefinition:view"]
            .map(String::from)
            .to_vec(),
    );
    fixture.oauth_clients.push(client);
    let env = Env::as_client(fixture, "no-bulk-client", "demo-secret", |c| c).await;

    let first = all_offline(&env, &[JANE, OMAR]).await;
    let then = all_offline(&env, &[PRIYA, LI]).await;

    assert!(
        first.iter().chain(&then).all(Result::is_ok),
        "{first:?} {then:?}"
    );
    let puts = env.api_requests("PUT", "/api/v2/users/presences/bulk");
    assert_eq!(
        puts.iter().map(|p| p.3).collect::<Vec<_>>(),
        [403],
        "refused once, never asked again"
    );
    assert_eq!(env.api_requests("PATCH", "/api/v2/users/").len(), 4);
    assert_eq!(
        presence_ids(&env, &[JANE, OMAR, PRIYA, LI]).await,
        [OFFLINE; 4]
    );
}

#[tokio::test]
async fn roles_and_grants_are_read_and_granted_back() {
    let env = Env::start().await;
    let roles = env.client.get_user_roles(&id(JANE)).await.unwrap();
    assert!(
        roles
            .roles
            .iter()
            .any(|r| r.id.as_deref() == Some(AGENT_ROLE))
    );
    let subject = env
        .client
        .get_authorization_subject(&id(JANE))
        .await
        .unwrap();
    let grant = &subject.grants[0];
    assert_eq!(grant.role.as_ref().unwrap().id.as_deref(), Some(AGENT_ROLE));
    assert!(grant.division.as_ref().unwrap().id.is_some());

    env.client
        .set_user_state(&id(JANE), UserState::Inactive)
        .await
        .unwrap();
    assert!(
        env.client
            .get_authorization_subject(&id(JANE))
            .await
            .unwrap()
            .grants
            .is_empty()
    );
    env.client
        .grant_roles(
            &id(JANE),
            &[RoleDivision {
                role_id: AGENT_ROLE.into(),
                division_id: HOME_DIVISION.into(),
            }],
        )
        .await
        .unwrap();
    let subject = env
        .client
        .get_authorization_subject(&id(JANE))
        .await
        .unwrap();
    assert_eq!(subject.grants.len(), 1);
}

#[tokio::test]
async fn the_organization_is_read() {
    let env = Env::start().await;
    let org = env.client.organization().await.unwrap();
    assert_eq!(
        org.id.as_deref(),
        Some("7f3c9a10-2b4d-4e6f-8a1b-000000000001")
    );
}

#[tokio::test]
async fn a_client_without_a_permission_is_forbidden_and_told_which() {
    let env = Env::as_client(Fixture::demo(), "readonly-client", "readonly-secret", |c| c).await;
    let err = env
        .client
        .set_user_state(&id(JANE), UserState::Inactive)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "Forbidden", "{err}");
    let GenesysError::Forbidden {
        missing_permission, ..
    } = &err
    else {
        unreachable!()
    };
    assert!(
        missing_permission.as_deref().unwrap().contains(':'),
        "{err}"
    );
    assert!(err.to_string().contains("patch_user"), "{err}");
    assert_eq!(env.sim.user(JANE).unwrap()["state"], "active");
}

// ---------------------------------------------------------------------------------------------
// Analytics
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_users_conversations_come_from_the_sync_query_or_a_job_for_long_windows() {
    let env = Env::start().await;
    let sync = env
        .client
        .user_conversations(&id(JANE), last_days(30))
        .await
        .unwrap();
    assert_eq!(sync.len(), 3, "{sync:?}");
    assert!(sync.iter().all(|c| c.involves(&id(JANE))));
    let query = &env.api_requests("POST", "/api/v2/analytics/conversations/details/query")[0];
    let body = query.2.as_ref().unwrap();
    assert_eq!(
        body["segmentFilters"][0]["predicates"][0]["dimension"],
        "userId"
    );
    assert_eq!(body["segmentFilters"][0]["predicates"][0]["value"], JANE);
    assert!(
        env.api_requests("POST", "/api/v2/analytics/conversations/details/jobs")
            .is_empty()
    );

    let long = env
        .client
        .user_conversations(&id(JANE), last_days(45))
        .await
        .unwrap();
    assert_eq!(long.len(), 4, "{long:?}");
    assert_eq!(
        env.api_requests("POST", "/api/v2/analytics/conversations/details/jobs")
            .len(),
        1
    );
    assert!(
        !env.api_requests("GET", "/api/v2/analytics/conversations/details/jobs/")
            .is_empty()
    );
    assert_eq!(
        env.api_requests("DELETE", "/api/v2/analytics/conversations/details/jobs/")
            .len(),
        1,
        "the job is cleaned up"
    );
}

#[tokio::test]
async fn details_are_paged_until_conversations_is_absent_and_deduplicated() {
    let mut yaml = String::from(
        "oauthClients:\n  - { clientId: demo-client, clientSecret: demo-secret }\n\
         users:\n  - { id: agent, name: Agent, email: agent@example.com }\nconversations:\n",
    );
    for i in 0..230 {
        writeln!(
            yaml,
            "  - {{ id: c{i:03}, start: now-{}h, end: now-{}h+5m, participants: [{{ purpose: agent, userId: agent }}] }}",
            i + 2,
            i + 2
        )
        .unwrap();
    }
    let env = Env::with(Fixture::from_yaml(&yaml).unwrap(), |c| c).await;
    let all = env
        .client
        .query_conversation_details(&ConversationQuery::for_user(&id("agent"), last_days(20)))
        .await
        .unwrap();
    assert_eq!(all.len(), 230);
    let mut ids: Vec<_> = all.iter().map(|c| c.conversation_id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 230);
    let pages = env.api_requests("POST", "/api/v2/analytics/conversations/details/query");
    assert_eq!(
        pages.len(),
        4,
        "3 full or partial pages, then one without conversations"
    );
}

#[tokio::test]
async fn aggregates_count_a_users_handled_conversations() {
    let env = Env::start().await;
    let response = env
        .client
        .aggregates_query(&AggregationQuery::for_user(
            &id(JANE),
            last_days(30),
            &["tHandle", "nConnected"],
        ))
        .await
        .unwrap();
    assert!(response.count("tHandle") >= 1, "{response:?}");
}

// ---------------------------------------------------------------------------------------------
// Failures: 429, 5xx, timeout, decode
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_429_retry_after_pauses_every_caller_of_the_client() {
    let env = Env::start().await;
    env.client.organization().await.unwrap();
    env.sim.inject(
        Fault::new("GET", "/api/v2/organizations/me")
            .status(429)
            .retry_after(2),
    );
    let first = tokio::spawn({
        let c = env.client.clone();
        async move { c.organization().await }
    });
    // Wait until the 429 has been received by the client.
    let started = Instant::now();
    let limited_at = loop {
        let hit = env
            .recorder
            .calls
            .lock()
            .unwrap()
            .iter()
            .find(|(_, status, _)| *status == Some(429))
            .map(|(.., at)| *at);
        if let Some(at) = hit {
            break at;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "no 429 seen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let others = (0..4).map(|_| {
        let c = env.client.clone();
        // A read that is never coalesced, so that each caller sends its own request.
        tokio::spawn(async move { c.get_user_queues_where(&id(JANE), true).await })
    });
    for other in futures::future::join_all(others).await {
        other.unwrap().unwrap();
    }
    first.await.unwrap().unwrap();

    let calls = env.recorder.calls.lock().unwrap().clone();
    let after: Vec<_> = calls
        .iter()
        .filter(|(op, ..)| op == "get_user_queues")
        .collect();
    assert_eq!(after.len(), 4);
    for (_, status, at) in after {
        assert_eq!(*status, Some(200));
        assert!(
            at.duration_since(limited_at) >= Duration::from_millis(1800),
            "a caller went through during the pause"
        );
    }
    assert!(env.recorder.waits.lock().unwrap().len() >= 4);
}

#[tokio::test]
async fn an_absurd_retry_after_fails_fast_with_the_time_to_wait() {
    let env = Env::start().await;
    env.sim.inject(
        Fault::new("GET", "/api/v2/organizations/me")
            .status(429)
            .retry_after(3600),
    );
    let err = env.client.organization().await.unwrap_err();
    assert_eq!(
        err.retry_class(),
        RetryClass::After(Duration::from_secs(3600))
    );
    // Other callers are not blocked for an hour either: they fail fast too.
    let started = Instant::now();
    let err = env.client.get_user(&id(JANE), &[]).await.unwrap_err();
    assert_eq!(err.reason(), "RateLimited");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_429_without_retry_after_is_transient_and_backed_off() {
    let env = Env::start().await;
    env.sim
        .inject(Fault::new("GET", "/api/v2/users/*").status(429));
    env.client.get_user(&id(JANE), &[]).await.unwrap();
    assert_eq!(env.recorder.count("get_user"), 2);
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let env = Env::start().await;
    env.sim
        .inject(Fault::new("GET", "/api/v2/users/*").status(503).times(2));
    let user = env.client.get_user(&id(JANE), &[]).await.unwrap();
    assert_eq!(user.id, id(JANE));
    assert_eq!(env.recorder.count("get_user"), 3);
}

#[tokio::test]
async fn server_errors_that_persist_are_surfaced_clearly_after_bounded_retries() {
    let env = Env::with(Fixture::demo(), |c| c.with_max_retries(2)).await;
    env.sim
        .inject(Fault::new("GET", "/api/v2/users/*").status(502).times(10));
    let err = env.client.get_user(&id(JANE), &[]).await.unwrap_err();
    assert_eq!(err.reason(), "TransientError");
    assert_eq!(err.retry_class(), RetryClass::Backoff);
    let shown = err.to_string();
    assert!(
        shown.contains("get_user") && shown.contains("3 attempt") && shown.contains("502"),
        "{shown}"
    );
    assert_eq!(env.recorder.count("get_user"), 3);

    env.sim
        .inject(Fault::new("GET", "/api/v2/organizations/me").status(501));
    let err = env.client.organization().await.unwrap_err();
    assert_eq!(err.reason(), "InvalidRequest", "501 is not retried");
    assert_eq!(env.recorder.count("get_organizations_me"), 1);
}

#[tokio::test]
async fn a_response_slower_than_the_timeout_is_a_transient_error() {
    let env = Env::with(Fixture::demo(), |c| {
        c.with_request_timeout(Duration::from_millis(300))
            .with_max_retries(1)
    })
    .await;
    env.client.organization().await.unwrap();
    env.sim
        .inject(Fault::new("GET", "/api/v2/users/*").delay_ms(1500).times(2));
    let started = Instant::now();
    let err = env.client.get_user(&id(JANE), &[]).await.unwrap_err();
    assert_eq!(err.reason(), "TransientError", "{err}");
    assert!(err.to_string().contains("timeout"), "{err}");
    assert!(started.elapsed() < Duration::from_millis(1400));
    let calls = env.recorder.calls.lock().unwrap().clone();
    assert!(
        calls
            .iter()
            .filter(|(op, ..)| op == "get_user")
            .all(|(_, status, _)| status.is_none())
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_decode_error_naming_the_operation() {
    let env = Env::start().await;
    env.sim.inject(
        Fault::new("GET", "/api/v2/users/*")
            .status(200)
            .raw_body("<html>surprise</html>"),
    );
    let err = env.client.get_user(&id(JANE), &[]).await.unwrap_err();
    assert_eq!(err.reason(), "DecodeError", "{err}");
    assert_eq!(err.operation(), "get_user");
    assert!(err.to_string().contains("get_user"), "{err}");
}

#[tokio::test]
async fn an_error_body_is_read_only_up_to_a_bound_and_its_text_is_cut() {
    let env = Env::start().await;
    // Under the bound: parsed, the message cut to 1 KiB.
    let long = "m".repeat(60 * 1024);
    env.sim.inject(
        Fault::new("GET", "/api/v2/users/*")
            .status(400)
            .body(serde_json::json!({"message": long, "code": "bad.request", "contextId": "c-1"})),
    );
    let err = env.client.get_user(&id(JANE), &[]).await.unwrap_err();
    let body = err.error_body().unwrap();
    assert_eq!(body.code.as_deref(), Some("bad.request"));
    assert_eq!(body.context_id.as_deref(), Some("c-1"));
    assert!(body.message.as_ref().unwrap().len() <= 1024);
    assert!(
        err.to_string().len() < 2048,
        "{} bytes",
        err.to_string().len()
    );

    // Over the bound (2 MiB): not kept at all; the status alone classifies the error.
    let huge = "m".repeat(2 * 1024 * 1024);
    env.sim.inject(
        Fault::new("GET", "/api/v2/users/*")
            .status(404)
            .body(serde_json::json!({"message": huge, "code": "not.found"})),
    );
    let err = env.client.get_user(&id(JANE), &[]).await.unwrap_err();
    assert_eq!(err.reason(), "NotFound", "{err}");
    assert!(err.error_body().is_none());
    assert!(
        err.to_string().len() < 2048,
        "{} bytes",
        err.to_string().len()
    );
}

#[tokio::test]
async fn body_less_calls_accept_any_2xx_with_or_without_a_body() {
    let env = Env::start().await;
    env.sim.inject(
        Fault::new("DELETE", "/api/v2/tokens/*")
            .status(200)
            .body(serde_json::json!({})),
    );
    env.client.revoke_tokens(&id(JANE)).await.unwrap();
    env.sim
        .inject(Fault::new("DELETE", "/api/v2/tokens/*").status(202));
    env.client.revoke_tokens(&id(JANE)).await.unwrap();
    env.client.revoke_tokens(&id(JANE)).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Never delete
// ---------------------------------------------------------------------------------------------

#[test]
fn the_client_has_no_way_to_delete_a_user_or_call_gdpr() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/genesys-cloud/src");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("\"delete_user\""),
            "{} names delete_user",
            path.display()
        );
        assert!(
            !text.to_ascii_lowercase().contains("\"gdpr\""),
            "{}",
            path.display()
        );
        assert!(!text.contains("fn delete_user("), "{}", path.display());
    }
}

// ---------------------------------------------------------------------------------------------
// Coalescing: concurrent reads of the same kind share one request
// ---------------------------------------------------------------------------------------------

fn ids_of(conversations: &[genesys_cloud::AnalyticsConversation]) -> Vec<String> {
    let mut ids: Vec<String> = conversations
        .iter()
        .map(|c| c.conversation_id.clone())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn concurrent_reads_of_users_by_id_share_one_request_and_answer_each_as_alone() {
    let env = Env::start().await;
    let expand = &["routingStatus", "station"];
    let wanted = [JANE, OMAR, LI, SAM, "6a1b0c3e-0000-4000-8000-00000000dead"];
    let together = futures::future::join_all(
        wanted
            .iter()
            .map(|u| async { env.client.get_user(&id(u), expand).await }),
    )
    .await;
    assert_eq!(
        env.recorder.count("get_users"),
        1,
        "one request for five reads"
    );
    assert_eq!(env.recorder.count("get_user"), 0);
    let (_, query, ..) = &env.api_requests("GET", "/api/v2/users")[0];
    assert!(query.contains("state=any"), "{query}");
    assert!(query.contains("expand=routingStatus%2Cstation"), "{query}");

    for (user, read) in wanted.iter().zip(&together) {
        let alone = env.client.get_user(&id(user), expand).await;
        match (read, alone) {
            (Ok(read), Ok(alone)) => {
                assert_eq!(read.id, id(user));
                assert_eq!(read.state, alone.state, "{user}");
                assert_eq!(read.version, alone.version, "{user}");
                assert_eq!(
                    read.routing_status.as_ref().map(|r| r.status.clone()),
                    alone.routing_status.as_ref().map(|r| r.status.clone()),
                    "expand is applied to the combined read: {user}"
                );
            }
            (Err(read), Err(alone)) => {
                assert!(
                    read.is_not_found() && alone.is_not_found(),
                    "{user}: {read} / {alone}"
                );
            }
            (read, alone) => panic!("{user}: together {read:?}, alone {alone:?}"),
        }
    }
    assert!(together[2].is_ok(), "an inactive user is found");
    assert!(
        together[3].as_ref().unwrap_err().is_not_found(),
        "a deleted user is not found"
    );
}

#[tokio::test]
async fn concurrent_email_searches_share_one_search_and_an_ambiguous_email_stays_ambiguous() {
    let env = Env::start().await;
    let emails = [
        "jane.doe@example.com",
        "ALEX.MORGAN@example.com",
        "sam.taylor@example.com",
        "nobody@example.com",
    ];
    let together = futures::future::join_all(
        emails
            .iter()
            .map(|e| async { env.client.find_users_by_email_all_states(e).await }),
    )
    .await;
    assert_eq!(env.recorder.count("post_users_search"), 1);
    let body = env.api_requests("POST", "/api/v2/users/search")[0]
        .2
        .clone()
        .unwrap();
    assert_eq!(body["query"][0]["values"].as_array().unwrap().len(), 4);

    let ids = |users: &[genesys_cloud::User]| {
        let mut ids: Vec<UserId> = users.iter().map(|u| u.id.clone()).collect();
        ids.sort();
        ids
    };
    for (email, found) in emails.iter().zip(together) {
        let found = found.unwrap();
        let alone = env
            .client
            .find_users_by_email_all_states(email)
            .await
            .unwrap();
        assert_eq!(ids(&found.live), ids(&alone.live), "{email}");
        assert_eq!(ids(&found.deleted), ids(&alone.deleted), "{email}");
    }
    let alex = env
        .client
        .find_users_by_email_all_states("alex.morgan@example.com")
        .await
        .unwrap();
    assert_eq!(alex.live.len(), 2, "still ambiguous");
}

#[tokio::test]
async fn a_combined_search_with_a_result_nobody_asked_for_is_redone_email_by_email() {
    let env = Env::start().await;
    // The combined search answers with a user whose email none of the callers named (as a
    // match on another address would): it cannot be attributed, so each email is searched alone.
    env.sim
        .inject(Fault::new("POST", "/api/v2/users/search").status(200).body(
        serde_json::json!({
            "total": 1, "pageCount": 1, "pageSize": 100, "pageNumber": 1, "types": ["users"],
            "results": [{"id": "6a1b0c3e-0000-4000-8000-0000000000ff", "name": "Someone Else",
                         "email": "someone.else@example.com", "state": "active", "version": 1}]
        }),
    ));
    let emails = ["jane.doe@example.com", "alex.morgan@example.com"];
    let together = futures::future::join_all(
        emails
            .iter()
            .map(|e| async { env.client.find_users_by_email_all_states(e).await }),
    )
    .await;
    assert_eq!(
        env.recorder.count("post_users_search"),
        3,
        "one combined, then one each"
    );
    let jane = together[0].as_ref().unwrap();
    assert_eq!(jane.live.len(), 1);
    assert_eq!(jane.live[0].id, id(JANE));
    assert_eq!(together[1].as_ref().unwrap().live.len(), 2, "ambiguous");
}

#[tokio::test]
async fn concurrent_conversation_reads_over_one_window_share_one_query() {
    let env = Env::start().await;
    let window = last_days(30);
    let users = [JANE, OMAR, PRIYA, LI];
    let together = futures::future::join_all(
        users
            .iter()
            .map(|u| async { env.client.user_conversations_sync(&id(u), window).await }),
    )
    .await;
    let queries = env.api_requests("POST", "/api/v2/analytics/conversations/details/query");
    assert_eq!(queries.len(), 1, "one query for four users");
    let filter = &queries[0].2.as_ref().unwrap()["segmentFilters"][0];
    assert_eq!(filter["type"], "or");
    assert_eq!(filter["predicates"].as_array().unwrap().len(), 4);

    let mut any = false;
    for (user, read) in users.iter().zip(together) {
        let read = read.unwrap();
        let alone = env
            .client
            .user_conversations_sync(&id(user), window)
            .await
            .unwrap();
        assert_eq!(ids_of(&read), ids_of(&alone), "{user}");
        assert!(read.iter().all(|c| c.involves(&id(user))), "{user}");
        any |= !read.is_empty();
    }
    assert!(any, "the demo org has history in the window");
}

#[tokio::test]
async fn a_refused_combined_query_is_redone_user_by_user() {
    let env = Env::start().await;
    env.sim
        .inject(Fault::new("POST", "/api/v2/analytics/conversations/details/query").status(400));
    let window = last_days(30);
    let users = [JANE, OMAR];
    let together = futures::future::join_all(
        users
            .iter()
            .map(|u| async { env.client.user_conversations_sync(&id(u), window).await }),
    )
    .await;
    assert_eq!(
        env.api_requests("POST", "/api/v2/analytics/conversations/details/query")
            .len(),
        3,
        "the refused combined query, then one per user"
    );
    for (user, read) in users.iter().zip(together) {
        let alone = env
            .client
            .user_conversations_sync(&id(user), window)
            .await
            .unwrap();
        assert_eq!(ids_of(&read.unwrap()), ids_of(&alone), "{user}");
    }
}

#[tokio::test]
async fn a_failed_combined_read_answers_every_caller_with_the_error() {
    let env = Env::with(Fixture::demo(), |c| c.with_max_retries(0)).await;
    env.sim
        .inject(Fault::new("GET", "/api/v2/users").status(503).times(5));
    let reads = futures::future::join_all(
        [JANE, OMAR]
            .iter()
            .map(|u| async { env.client.get_user(&id(u), &[]).await }),
    )
    .await;
    for read in reads {
        let err = read.unwrap_err();
        assert_eq!(err.retry_class(), RetryClass::Backoff, "{err}");
    }
    assert_eq!(env.recorder.count("get_users"), 1);
}

#[tokio::test]
async fn reads_arriving_while_one_of_their_kind_is_in_flight_go_together_in_the_next_request() {
    // Each request takes 300 ms, and the budget is far from spent: before a batch waited for the
    // one in flight, each of these reads took a slot the moment it arrived and went alone.
    let mut fixture = Fixture::demo();
    fixture.latency_ms = 300;
    let env = Env::with(fixture, |c| c).await;
    let client = env.client.clone();
    let first = tokio::spawn(async move { client.get_user(&id(JANE), &[]).await });
    let mut later = Vec::new();
    for user in [OMAR, LI, PRIYA] {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let client = env.client.clone();
        later.push(tokio::spawn(async move {
            client.get_user(&id(user), &[]).await
        }));
    }
    assert_eq!(first.await.unwrap().unwrap().id, id(JANE));
    for (user, read) in [OMAR, LI, PRIYA].iter().zip(later) {
        assert_eq!(read.await.unwrap().unwrap().id, id(user));
    }
    assert_eq!(env.recorder.count("get_user"), 1, "the first, alone");
    assert_eq!(
        env.recorder.count("get_users"),
        1,
        "the three that came while it was in flight, together"
    );
}

#[tokio::test]
async fn concurrent_read_backs_of_one_queue_share_one_listing_of_its_direct_members() {
    let env = Env::start().await;
    let members = env
        .client
        .get_queue_members(BILLING, Some(MemberBy::User))
        .await
        .unwrap();
    let leaving: Vec<UserId> = members
        .iter()
        .map(|m| UserId::new(m.id.as_str()))
        .take(2)
        .collect();
    assert_eq!(leaving.len(), 2, "the demo queue has two direct members");
    env.client
        .remove_queue_member(BILLING, &leaving[0])
        .await
        .unwrap();
    let listings_before = env.recorder.count("get_routing_queue_members");

    // One has left, the other has not: one listing tells both, and no user's queue list is read.
    let reads = futures::future::join_all(
        leaving
            .iter()
            .map(|u| async { env.client.is_direct_queue_member(BILLING, u, true).await }),
    )
    .await;
    let reads: Vec<bool> = reads.into_iter().map(Result::unwrap).collect();
    assert_eq!(reads, [false, true]);
    assert_eq!(
        env.recorder.count("get_routing_queue_members") - listings_before,
        1,
        "one listing for both"
    );
    assert_eq!(env.recorder.count("get_user_queues"), 0);

    // Alone, the user's own queue list is read, as before there were read-backs to share.
    let alone = env
        .client
        .is_direct_queue_member(BILLING, &leaving[1], true)
        .await
        .unwrap();
    assert!(alone);
    assert_eq!(env.recorder.count("get_user_queues"), 1);
}

#[tokio::test]
async fn concurrent_workitem_queries_share_one_query_and_each_user_gets_their_own() {
    let env = Env::start().await;
    let users = [JANE, OMAR, PRIYA];
    let together = futures::future::join_all(
        users
            .iter()
            .map(|u| async { env.client.open_workitems_of_user(&id(u)).await }),
    )
    .await;
    let queries = env.api_requests("POST", "/api/v2/taskmanagement/workitems/query");
    assert_eq!(queries.len(), 1, "one query for three users");
    let values = &queries[0].2.as_ref().unwrap()["filters"][0]["values"];
    assert_eq!(values.as_array().unwrap().len(), 3);
    for (user, read) in users.iter().zip(together) {
        let read: Vec<String> = read.unwrap().into_iter().map(|w| w.id).collect();
        let alone: Vec<String> = env
            .client
            .open_workitems_of(&[user])
            .await
            .unwrap()
            .into_iter()
            .map(|w| w.id)
            .collect();
        assert_eq!(read, alone, "{user}");
    }
}

#[tokio::test]
async fn concurrent_callback_queries_share_one_details_query_and_each_owner_gets_their_own() {
    let env = Env::start().await;
    let window = last_days(30);
    let owners = [JANE, OMAR, PRIYA];
    let client = &env.client;
    let together = futures::future::join_all(
        owners
            .iter()
            .map(|u| async move { client.owned_callbacks_of(&id(u), window).await }),
    )
    .await;
    let queries = env.api_requests("POST", "/api/v2/analytics/conversations/details/query");
    assert_eq!(queries.len(), 1, "one query for three owners");
    let filter = &queries[0].2.as_ref().unwrap()["segmentFilters"][0];
    assert_eq!(filter["type"], "and");
    let scored: Vec<&str> = filter["clauses"][0]["predicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_str().unwrap())
        .collect();
    assert_eq!(filter["clauses"][0]["type"], "or");
    assert_eq!(scored.len(), 3, "one scoredAgentId predicate per owner");

    let ids = |read: Vec<genesys_cloud::OwnedCallback>| -> Vec<String> {
        let mut ids: Vec<String> = read.into_iter().map(|c| c.conversation_id).collect();
        ids.sort();
        ids
    };
    let together: Vec<Vec<String>> = together.into_iter().map(|r| ids(r.unwrap())).collect();
    assert_eq!(
        together,
        [
            vec![
                "cb0a8e00-0000-4000-8000-000000000501".to_owned(),
                "cb0a8e00-0000-4000-8000-000000000502".to_owned()
            ],
            vec!["cb0a8e00-0000-4000-8000-000000000503".to_owned()],
            vec![],
        ]
    );
    // Each owner alone reads the same.
    for (owner, read) in owners.iter().zip(&together) {
        let alone = env.client.owned_callbacks_of(&id(owner), window).await;
        assert_eq!(&ids(alone.unwrap()), read, "{owner}");
    }
}

#[tokio::test]
async fn coalescing_can_be_turned_off() {
    let env = Env::with(Fixture::demo(), |c| c.with_max_batch(1)).await;
    let reads = futures::future::join_all(
        [JANE, OMAR]
            .iter()
            .map(|u| async { env.client.get_user(&id(u), &[]).await }),
    )
    .await;
    assert!(reads.iter().all(Result::is_ok));
    assert_eq!(env.recorder.count("get_user"), 2);
    assert_eq!(env.recorder.count("get_users"), 0);
}

#[tokio::test]
async fn concurrent_removals_from_one_queue_share_one_request() {
    let env = Env::start().await;
    let members = env
        .client
        .get_queue_members(BILLING, Some(MemberBy::User))
        .await
        .unwrap();
    let leaving: Vec<UserId> = members
        .iter()
        .map(|m| UserId::new(m.id.as_str()))
        .take(2)
        .collect();
    assert_eq!(leaving.len(), 2, "the demo queue has two direct members");

    let removals = futures::future::join_all(
        leaving
            .iter()
            .map(|u| async { env.client.remove_queue_member(BILLING, u).await }),
    )
    .await;
    assert!(removals.iter().all(Result::is_ok), "{removals:?}");
    let posts = env.api_requests("POST", &format!("/api/v2/routing/queues/{BILLING}/members"));
    assert_eq!(posts.len(), 1, "one request for both");
    assert!(posts[0].1.contains("delete=true"));
    assert_eq!(posts[0].2.as_ref().unwrap().as_array().unwrap().len(), 2);

    let left = env
        .client
        .get_queue_members(BILLING, Some(MemberBy::User))
        .await
        .unwrap();
    for user in &leaving {
        assert!(
            !left.iter().any(|m| m.id == user.as_str()),
            "{user} is still a member"
        );
    }
}
