//! The behaviours that make the emulator as unkind as the real Genesys Cloud, each behind a
//! `behavior` switch of the fixture: every test here runs the same calls with the switch off
//! (the emulator's default) and on (as the `realistic` profile sets it), and shows both
//! answers. The profile itself is checked last: it turns every switch on, and a fixture can
//! name it and still override single switches.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use chrono::TimeDelta;
use genesys_emulator::fixture::{Behavior, Fixture, OverMax, Profile};
use serde_json::{Value, json};
use support::{Api, assert_error_body, interval, start, user_filter};

const JANE: &str = "6a1b0c3e-0000-4000-8000-000000000001";
const PRIYA: &str = "6a1b0c3e-0000-4000-8000-000000000007";
const SUPPORT_DIVISION: &str = "5d1e7c2a-0000-4000-8000-0000000000d2";

/// The demo org with some switches changed.
async fn demo_with(change: impl FnOnce(&mut Behavior)) -> Api {
    let mut fixture = Fixture::demo();
    change(&mut fixture.behavior);
    start(fixture, "demo-client", "demo-secret").await
}

/// The demo org and a token of a client whose roles cover only the Support division.
async fn support_only_client(scoped: bool) -> Api {
    let mut fixture = Fixture::demo();
    fixture.behavior.division_scoped_permissions = scoped;
    let client = fixture
        .oauth_clients
        .iter_mut()
        .find(|c| c.client_id == "demo-client")
        .unwrap();
    client.divisions = Some(vec![SUPPORT_DIVISION.to_owned()]);
    start(fixture, "demo-client", "demo-secret").await
}

fn conversation_ids(body: &Value) -> Vec<String> {
    body["conversations"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| c["conversationId"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls a details job's status `polls` times and returns the states seen.
async fn job_states(api: &Api, polls: usize) -> Vec<String> {
    let job = api
        .post(
            "/api/v2/analytics/conversations/details/jobs",
            json!({"interval": interval(TimeDelta::days(-50), TimeDelta::zero())}),
        )
        .await;
    assert_eq!(job.status, 202, "{job:?}");
    let path = format!(
        "/api/v2/analytics/conversations/details/jobs/{}",
        job.body["jobId"].as_str().unwrap()
    );
    let mut states = Vec::new();
    for _ in 0..polls {
        states.push(
            api.get(&path).await.body["state"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    states
}

// ---------------------------------------------------------------- analytics

#[tokio::test]
async fn a_details_job_passes_through_pending_only_when_the_switch_says_so() {
    let kind = demo_with(|_| {}).await;
    let unkind = demo_with(|b| b.details_job_pending_polls = 2).await;

    assert_eq!(
        job_states(&kind, 3).await,
        ["QUEUED", "FULFILLED", "FULFILLED"]
    );
    assert_eq!(
        job_states(&unkind, 5).await,
        ["QUEUED", "PENDING", "PENDING", "FULFILLED", "FULFILLED"]
    );
}

#[tokio::test]
async fn results_of_a_pending_job_are_refused_until_it_is_fulfilled() {
    let api = demo_with(|b| b.details_job_pending_polls = 1).await;
    let job = api
        .post(
            "/api/v2/analytics/conversations/details/jobs",
            json!({"interval": interval(TimeDelta::days(-50), TimeDelta::zero())}),
        )
        .await;
    let status = format!(
        "/api/v2/analytics/conversations/details/jobs/{}",
        job.body["jobId"].as_str().unwrap()
    );
    let results = format!("{status}/results");
    api.get(&status).await;
    assert_eq!(api.get(&status).await.body["state"], "PENDING");

    assert_error_body(&api.get(&results).await, 400, "bad.request");
    assert_eq!(api.get(&status).await.body["state"], "FULFILLED");
    assert_eq!(api.get(&results).await.status, 200);
}

#[tokio::test]
async fn an_unfiltered_details_query_is_limited_to_7_days_only_when_the_switch_says_so() {
    let ten_days = interval(TimeDelta::days(-10), TimeDelta::zero());
    let unfiltered = json!({"interval": ten_days});
    let filtered = json!({"interval": ten_days, "segmentFilters": user_filter(JANE)});
    let kind = demo_with(|_| {}).await;
    let unkind = demo_with(|b| b.max_sync_interval_days_unfiltered = Some(7)).await;
    let query = "/api/v2/analytics/conversations/details/query";

    assert_eq!(kind.post(query, unfiltered.clone()).await.status, 200);
    assert_error_body(&unkind.post(query, unfiltered).await, 400, "bad.request");
    assert_eq!(unkind.post(query, filtered).await.status, 200);
    let month = json!({"interval": interval(TimeDelta::days(-31), TimeDelta::zero()),
                       "segmentFilters": user_filter(JANE)});
    assert_eq!(
        unkind.post(query, month).await.status,
        200,
        "31 days with a filter"
    );
}

#[tokio::test]
async fn a_client_scoped_to_a_division_sees_only_its_conversations_and_users() {
    let query = json!({"interval": interval(TimeDelta::days(-30), TimeDelta::zero())});
    let users = json!({"interval": interval(TimeDelta::days(-1), TimeDelta::days(1))});
    let everywhere = support_only_client(false).await;
    let scoped = support_only_client(true).await;
    let details = "/api/v2/analytics/conversations/details/query";
    let user_details = "/api/v2/analytics/users/details/query";

    let all = everywhere.post(details, query.clone()).await.body;
    let support = scoped.post(details, query).await.body;
    let all_users = everywhere.post(user_details, users.clone()).await.body;
    let support_users = scoped.post(user_details, users).await.body;

    assert!(conversation_ids(&all).len() > conversation_ids(&support).len());
    assert_eq!(
        conversation_ids(&support),
        [
            "c0a8e001-0000-4000-8000-000000000009",
            "c0a8e001-0000-4000-8000-000000000004"
        ],
        "only conversations with a Support participant (Priya)"
    );
    let ids = |b: &Value| -> Vec<String> {
        b["userDetails"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["userId"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(ids(&all_users).contains(&JANE.to_owned()));
    assert_eq!(ids(&support_users), [PRIYA]);
}

#[tokio::test]
async fn a_client_scoped_to_a_division_gets_403_on_users_and_queues_outside_it() {
    let everywhere = support_only_client(false).await;
    let scoped = support_only_client(true).await;
    let jane = format!("/api/v2/users/{JANE}");
    let billing = "/api/v2/routing/queues/9b2e4d60-0000-4000-8000-0000000000b1";

    assert_eq!(everywhere.get(&jane).await.status, 200);
    assert_error_body(&scoped.get(&jane).await, 403, "not.authorized");
    assert_error_body(&scoped.get(billing).await, 403, "not.authorized");
    assert_eq!(
        scoped.get(&format!("/api/v2/users/{PRIYA}")).await.status,
        200
    );
    assert_eq!(
        scoped.get("/api/v2/users/nobody").await.status,
        404,
        "an unknown user is still a 404"
    );
    let deactivate = scoped
        .patch(&jane, json!({"state": "inactive", "version": 7}))
        .await;
    assert_error_body(&deactivate, 403, "not.authorized");
    assert_eq!(scoped.sim.user(JANE).unwrap()["state"], "active");
}

// ---------------------------------------------------------------- profile

#[test]
fn the_realistic_profile_turns_every_unkind_switch_on() {
    let kind = Behavior::for_profile(Profile::Default);
    let realistic = Behavior::for_profile(Profile::Realistic);

    assert_eq!(kind, Behavior::default());
    assert_eq!(realistic.details_job_pending_polls, 1);
    assert_eq!(realistic.max_sync_interval_days_unfiltered, Some(7));
    assert_eq!(realistic.page_size_over_max, OverMax::Reject);
    assert!(realistic.division_scoped_permissions);
    assert!(realistic.deactivation_removes_group_roles);
    assert!(realistic.group_grant_subject);
    assert!(realistic.dropped_expands.contains(&"groups".to_owned()));
    assert!(!realistic.offline_presence_sets_off_queue);
    assert!(realistic.unknown_user_routing_status_off_queue);
    assert!(realistic.presence_source_id);
    for delay in [
        realistic.queue_join_patch_delay_ms,
        realistic.search_index_lag_ms,
        realistic.group_roles_return_after_ms,
    ] {
        assert!(
            (1..=Duration::from_millis(200).as_millis()).contains(&u128::from(delay)),
            "delays stay small: {delay} ms"
        );
    }
}

#[test]
fn a_fixture_names_the_profile_and_overrides_single_switches() {
    let yaml = "profile: realistic\nbehavior: {searchIndexLagMs: 5, detailsJobPendingPolls: 0}\n\
                oauthClients: [{clientId: c, clientSecret: s}]\nusers: []";

    let fixture = Fixture::from_yaml(yaml).unwrap();
    let default = Fixture::from_yaml("users: []").unwrap();
    let forced = Fixture::from_yaml_with_profile("users: []", Some(Profile::Realistic)).unwrap();

    assert_eq!(fixture.profile, Profile::Realistic);
    assert_eq!(fixture.behavior.search_index_lag_ms, 5);
    assert_eq!(fixture.behavior.details_job_pending_polls, 0);
    assert!(fixture.behavior.deactivation_removes_group_roles);
    assert_eq!(default.behavior, Behavior::default());
    assert_eq!(forced.behavior, Behavior::realistic());
    assert_eq!(
        Fixture::demo().with_profile(Profile::Realistic).behavior,
        Behavior::realistic()
    );
    let typo = Fixture::from_yaml("behavior: {searchIndexLag: 5}").unwrap_err();
    assert!(format!("{typo:?}").contains("searchIndexLag"), "{typo:?}");
}
