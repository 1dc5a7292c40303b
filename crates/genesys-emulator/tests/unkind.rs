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
const SAM_DELETED: &str = "6a1b0c3e-0000-4000-8000-000000000006";
const PRIYA: &str = "6a1b0c3e-0000-4000-8000-000000000007";
const ANA: &str = "6a1b0c3e-0000-4000-8000-00000000000a";
const FATIMA: &str = "6a1b0c3e-0000-4000-8000-00000000000c";
const BILLING: &str = "9b2e4d60-0000-4000-8000-0000000000b1";
const TECHNICAL_SUPPORT: &str = "9b2e4d60-0000-4000-8000-0000000000b2";
const ESCALATIONS: &str = "9b2e4d60-0000-4000-8000-0000000000b3";
const TIER_2: &str = "3c4d5e6f-0000-4000-8000-0000000000c1";
const NIGHT_SHIFT: &str = "3c4d5e6f-0000-4000-8000-0000000000c2";
const RETENTION_EXPERTS: &str = "3c4d5e6f-0000-4000-8000-0000000000c3";
const DAY_SHIFT: &str = "3c4d5e6f-0000-4000-8000-0000000000c5";
const TIER_2_SPECIALIST: &str = "8e7d6c5b-0000-4000-8000-000000000103";
const SUPPORT_DIVISION: &str = "5d1e7c2a-0000-4000-8000-0000000000d2";
const OFFLINE: &str = "6a0f1b2c-0000-4000-8000-0000000000a4";
const AWAY: &str = "6a0f1b2c-0000-4000-8000-0000000000a2";

/// Long enough for a test to see the state before an asynchronous change even on a busy
/// machine, short enough to wait out; tests wait `AFTER` for the change.
const DELAY_MS: u64 = 400;
const AFTER: Duration = Duration::from_millis(DELAY_MS + 150);

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

// ---------------------------------------------------------------- queue member groups

fn members(body: &Value) -> Vec<(String, String)> {
    body["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["memberBy"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn queue_members_include_users_who_belong_through_a_team_or_a_skill_group() {
    let api = demo_with(|_| {}).await;

    let support = api
        .get(&format!(
            "/api/v2/routing/queues/{TECHNICAL_SUPPORT}/members"
        ))
        .await
        .body;
    let escalations = api
        .get(&format!("/api/v2/routing/queues/{ESCALATIONS}"))
        .await
        .body;
    let ana = api
        .get(&format!("/api/v2/users/{ANA}?expand=team,groups"))
        .await
        .body;
    let ana_queues = api.get(&format!("/api/v2/users/{ANA}/queues")).await.body;

    assert!(members(&support).contains(&(ANA.to_owned(), "group".to_owned())));
    assert_eq!(
        escalations["memberGroups"],
        json!([
            {"id": TIER_2, "name": "Tier 2", "type": "GROUP", "memberCount": 1,
             "selfUri": format!("/api/v2/groups/{TIER_2}")},
            {"id": RETENTION_EXPERTS, "name": "Retention Experts", "type": "SKILLGROUP",
             "memberCount": 1, "selfUri": format!("/api/v2/routing/skillgroups/{RETENTION_EXPERTS}")},
        ])
    );
    assert_eq!(escalations["memberCount"], 2);
    assert_eq!(escalations["userMemberCount"], 0);
    assert_eq!(ana["team"]["id"], NIGHT_SHIFT);
    assert_eq!(ana["groups"], json!([]), "a team is not a group");
    assert_eq!(queue_names(&ana_queues), ["Sales", "Technical Support"]);
}

#[tokio::test]
async fn a_group_or_team_change_moves_the_queue_memberships_that_come_through_it() {
    let api = demo_with(|_| {}).await;
    let group = api.get(&format!("/api/v2/groups/{TIER_2}")).await.body;

    // Jane joins Tier 2, a member group of Escalations.
    let added = api
        .post(
            &format!("/api/v2/groups/{TIER_2}/members"),
            json!({"memberIds": [JANE], "version": group["version"]}),
        )
        .await;
    // Ana moves from Night Shift, the member team of Technical Support, to Day Shift.
    let moved = api
        .post(
            &format!("/api/v2/teams/{DAY_SHIFT}/members"),
            json!({"memberIds": [ANA]}),
        )
        .await;

    assert!((200..300).contains(&added.status), "{added:?}");
    assert!((200..300).contains(&moved.status), "{moved:?}");
    let escalations = api
        .get(&format!("/api/v2/routing/queues/{ESCALATIONS}/members"))
        .await
        .body;
    assert!(
        members(&escalations).contains(&(JANE.to_owned(), "group".to_owned())),
        "{escalations}"
    );
    let support = api
        .get(&format!(
            "/api/v2/routing/queues/{TECHNICAL_SUPPORT}/members"
        ))
        .await
        .body;
    assert!(
        !members(&support).iter().any(|(id, _)| id == ANA),
        "{support}"
    );
    let ana_queues = api.get(&format!("/api/v2/users/{ANA}/queues")).await.body;
    assert_eq!(
        queue_names(&ana_queues),
        ["Sales"],
        "her direct queue stays"
    );
}

/// Removes Ana (team) from Technical Support and Fatima (skill group) from Escalations the
/// direct way, and returns who is still a member of each.
async fn remove_group_members_directly(
    api: &Api,
) -> (Vec<(String, String)>, Vec<(String, String)>) {
    let delete = api
        .call(
            "DELETE",
            &format!("/api/v2/routing/queues/{TECHNICAL_SUPPORT}/members/{ANA}"),
            None,
        )
        .await;
    assert!((200..300).contains(&delete.status), "{delete:?}");
    let bulk = api
        .post(
            &format!("/api/v2/routing/queues/{ESCALATIONS}/members?delete=true"),
            json!([{"id": FATIMA}]),
        )
        .await;
    assert!((200..300).contains(&bulk.status), "{bulk:?}");
    let support = api
        .get(&format!(
            "/api/v2/routing/queues/{TECHNICAL_SUPPORT}/members"
        ))
        .await
        .body;
    let escalations = api
        .get(&format!("/api/v2/routing/queues/{ESCALATIONS}/members"))
        .await
        .body;
    (members(&support), members(&escalations))
}

#[tokio::test]
async fn removing_a_group_member_directly_leaves_them_in_the_queue_unless_the_switch_says_so() {
    let surviving = demo_with(|b| b.group_members_survive_direct_removal = true).await;
    let removable = demo_with(|b| b.group_members_survive_direct_removal = false).await;
    let ana = (ANA.to_owned(), "group".to_owned());
    let fatima = (FATIMA.to_owned(), "group".to_owned());

    let (support, escalations) = remove_group_members_directly(&surviving).await;
    assert!(support.contains(&ana), "{support:?}");
    assert!(escalations.contains(&fatima), "{escalations:?}");

    let (support, escalations) = remove_group_members_directly(&removable).await;
    assert!(!support.iter().any(|(id, _)| id == ANA), "{support:?}");
    assert!(
        !escalations.iter().any(|(id, _)| id == FATIMA),
        "{escalations:?}"
    );
}

// ---------------------------------------------------------------- roles

fn grants(body: &Value) -> Vec<(String, String)> {
    body["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["role"]["id"].as_str().unwrap().to_owned(),
                g["subjectId"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn set_state(api: &Api, user: &str, state: &str) {
    let version = api.sim.user(user).unwrap()["version"].clone();
    let patched = api
        .patch(
            &format!("/api/v2/users/{user}"),
            json!({"state": state, "version": version}),
        )
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");
}

#[tokio::test]
async fn deactivation_keeps_group_roles_unless_the_switch_says_so_then_they_return_late() {
    let kind = demo_with(|_| {}).await;
    let unkind = demo_with(|b| {
        b.deactivation_removes_group_roles = true;
        b.group_roles_return_after_ms = DELAY_MS;
    })
    .await;
    let subject = format!("/api/v2/authorization/subjects/{PRIYA}");
    let roles = format!("/api/v2/users/{PRIYA}/roles");
    let specialist = (TIER_2_SPECIALIST.to_owned(), PRIYA.to_owned());

    set_state(&kind, PRIYA, "inactive").await;
    assert_eq!(
        grants(&kind.get(&subject).await.body),
        std::slice::from_ref(&specialist)
    );
    set_state(&kind, PRIYA, "active").await;
    assert_eq!(
        grants(&kind.get(&subject).await.body),
        std::slice::from_ref(&specialist)
    );

    set_state(&unkind, PRIYA, "inactive").await;
    assert_eq!(grants(&unkind.get(&subject).await.body), []);
    assert_eq!(unkind.get(&roles).await.body["roles"], json!([]));
    set_state(&unkind, PRIYA, "active").await;
    assert_eq!(
        grants(&unkind.get(&subject).await.body),
        [],
        "the group's roles are not back yet"
    );
    tokio::time::sleep(AFTER).await;
    assert_eq!(
        grants(&unkind.get(&subject).await.body),
        [specialist],
        "only the role through the group returns; direct ones stay gone"
    );
}

#[tokio::test]
async fn a_second_deactivation_cancels_the_return_of_group_roles() {
    let api = demo_with(|b| {
        b.deactivation_removes_group_roles = true;
        b.group_roles_return_after_ms = DELAY_MS;
    })
    .await;
    let subject = format!("/api/v2/authorization/subjects/{PRIYA}");

    set_state(&api, PRIYA, "inactive").await;
    set_state(&api, PRIYA, "active").await;
    set_state(&api, PRIYA, "inactive").await;
    tokio::time::sleep(AFTER).await;

    assert_eq!(grants(&api.get(&subject).await.body), []);
    assert_eq!(
        api.sim.user(PRIYA).unwrap()["suspendedGroupRoles"][0]["roleId"],
        TIER_2_SPECIALIST
    );
}

const DUPLICATE_GRANTS: &str = "
oauthClients: [{clientId: c, clientSecret: s}]
roles: [{id: agent, name: Agent}, {id: lead, name: Lead}]
groups: [{id: g1, name: Tier 2}]
users:
  - id: u1
    name: U
    email: u@example.com
    groups: [g1]
    roles:
      - {roleId: agent}
      - {roleId: agent, groupId: g1}
      - {roleId: lead, groupId: g1}
";

#[tokio::test]
async fn a_grant_through_a_group_names_the_group_as_subject_only_when_the_switch_says_so() {
    let yaml = |on: bool| format!("behavior: {{groupGrantSubject: {on}}}\n{DUPLICATE_GRANTS}");
    let kind = start(Fixture::from_yaml(&yaml(false)).unwrap(), "c", "s").await;
    let unkind = start(Fixture::from_yaml(&yaml(true)).unwrap(), "c", "s").await;
    let subject = "/api/v2/authorization/subjects/u1";
    let with_duplicates = "/api/v2/authorization/subjects/u1?includeDuplicates=true";
    let pair = |role: &str, subject: &str| (role.to_owned(), subject.to_owned());

    let all_by_user = [pair("agent", "u1"), pair("agent", "u1"), pair("lead", "u1")];
    assert_eq!(grants(&kind.get(subject).await.body), all_by_user);
    assert_eq!(grants(&kind.get(with_duplicates).await.body), all_by_user);

    assert_eq!(
        grants(&unkind.get(subject).await.body),
        [pair("agent", "u1"), pair("lead", "g1")],
        "one grant per role and division, the direct one first"
    );
    assert_eq!(
        grants(&unkind.get(with_duplicates).await.body),
        [pair("agent", "u1"), pair("agent", "g1"), pair("lead", "g1")]
    );
}

// ---------------------------------------------------------------- best-effort expand

async fn expanded_groups(api: &Api, path: &str) -> Vec<bool> {
    let mut seen = Vec::new();
    for _ in 0..4 {
        let body = api.get(path).await.body;
        let user = if body["entities"].is_array() {
            body["entities"][0].clone()
        } else {
            body
        };
        assert!(user["presence"].is_object(), "other expands stay: {user}");
        seen.push(user["groups"].is_array());
    }
    seen
}

#[tokio::test]
async fn expands_are_best_effort_only_when_the_switch_says_so() {
    let dropped = |every: u32| {
        move |b: &mut Behavior| {
            b.dropped_expands = vec!["groups".to_owned()];
            b.expand_drop_every = every;
        }
    };
    let kind = demo_with(|_| {}).await;
    let alternate = demo_with(dropped(2)).await;
    let never = demo_with(dropped(1)).await;
    let one = format!("/api/v2/users/{PRIYA}?expand=groups,presence");
    let list = format!("/api/v2/users?id={PRIYA}&expand=groups,presence");
    let cursor = "/api/v2/users/query?expand=groups&expand=presence&pageSize=1";

    assert_eq!(expanded_groups(&kind, &one).await, [true; 4]);
    assert_eq!(
        expanded_groups(&alternate, &one).await,
        [false, true, false, true]
    );
    assert_eq!(
        expanded_groups(&alternate, &list).await,
        [false, true, false, true]
    );
    assert_eq!(
        expanded_groups(&alternate, cursor).await,
        [false, true, false, true]
    );
    assert_eq!(expanded_groups(&never, &one).await, [false; 4]);
    let plain = alternate.get(&format!("/api/v2/users/{PRIYA}")).await;
    assert_eq!(
        plain.status, 200,
        "an answer without the expand does not count"
    );
    assert_eq!(
        expanded_groups(&alternate, &one).await,
        [false, true, false, true]
    );
}

// ---------------------------------------------------------------- asynchronous changes

/// The names of the queues a listing holds, in order.
fn queue_names(body: &Value) -> Vec<String> {
    body["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_bulk_unjoin_takes_effect_at_once_or_after_the_delay() {
    let kind = demo_with(|_| {}).await;
    let unkind = demo_with(|b| b.queue_join_patch_delay_ms = DELAY_MS).await;
    let patch = format!("/api/v2/users/{JANE}/queues");
    let body = json!([{"id": BILLING, "joined": false}]);

    let answer = kind.patch(&patch, body.clone()).await;
    assert_eq!(answer.body["entities"][0]["joined"], false);
    assert_eq!(
        queue_names(&kind.get(&patch).await.body),
        Vec::<String>::new()
    );

    let answer = unkind.patch(&patch, body).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body["entities"][0]["joined"], true,
        "the answer may not reflect the final state"
    );
    assert_eq!(queue_names(&unkind.get(&patch).await.body), ["Billing"]);
    tokio::time::sleep(AFTER).await;
    assert_eq!(
        queue_names(&unkind.get(&patch).await.body),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_bulk_unjoin_on_the_queue_side_is_asynchronous_too() {
    let api = demo_with(|b| b.queue_join_patch_delay_ms = DELAY_MS).await;
    let billing = format!("/api/v2/routing/queues/{BILLING}/members");

    let answer = api
        .patch(&billing, json!([{"id": JANE, "joined": false}]))
        .await;
    let before = api.get(&format!("{billing}?joined=false")).await.body;
    tokio::time::sleep(AFTER).await;
    let after = api.get(&format!("{billing}?joined=false")).await.body;

    assert_eq!(answer.status, 200);
    assert!(!members(&before).iter().any(|(id, _)| id == JANE));
    assert!(members(&after).iter().any(|(id, _)| id == JANE));
}

async fn search_jane(api: &Api, state: Option<&str>) -> Vec<String> {
    let mut query =
        vec![json!({"type": "EXACT", "fields": ["email"], "value": "jane.doe@example.com"})];
    if let Some(state) = state {
        query.push(json!({"type": "EXACT", "fields": ["state"], "value": state}));
    }
    let found = api
        .post("/api/v2/users/search", json!({"query": query}))
        .await;
    assert_eq!(found.status, 200, "{found:?}");
    found.body["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|u| u["state"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn search_shows_a_deactivation_at_once_or_after_the_index_lag() {
    let kind = demo_with(|_| {}).await;
    let unkind = demo_with(|b| b.search_index_lag_ms = DELAY_MS).await;

    set_state(&kind, JANE, "inactive").await;
    assert_eq!(search_jane(&kind, None).await, ["inactive"]);
    assert_eq!(search_jane(&kind, Some("inactive")).await, ["inactive"]);

    set_state(&unkind, JANE, "inactive").await;
    assert_eq!(
        search_jane(&unkind, None).await,
        ["active"],
        "the index lags"
    );
    assert_eq!(
        search_jane(&unkind, Some("inactive")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        unkind.get(&format!("/api/v2/users/{JANE}")).await.body["state"],
        "inactive",
        "reads by id are not behind"
    );
    tokio::time::sleep(AFTER).await;
    assert_eq!(search_jane(&unkind, Some("inactive")).await, ["inactive"]);
}

async fn routing_after_presence(api: &Api, presence: &str) -> String {
    let patched = api
        .patch(
            &format!("/api/v2/users/{JANE}/presences/purecloud"),
            json!({"presenceDefinition": {"id": presence}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    let status = api
        .get(&format!("/api/v2/users/{JANE}/routingstatus"))
        .await;
    status.body["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn offline_takes_the_user_off_queue_unless_the_switch_says_otherwise() {
    let kind = demo_with(|_| {}).await;
    let unkind = demo_with(|b| b.offline_presence_sets_off_queue = false).await;

    assert_eq!(routing_after_presence(&kind, OFFLINE).await, "OFF_QUEUE");
    assert_eq!(
        routing_after_presence(&unkind, OFFLINE).await,
        "IDLE",
        "Jane's routing status is untouched"
    );
    assert_eq!(routing_after_presence(&unkind, AWAY).await, "OFF_QUEUE");
}

// ---------------------------------------------------------------- smaller points

#[tokio::test]
async fn a_page_size_over_the_maximum_is_clamped_or_refused_per_the_switch() {
    let clamp = demo_with(|b| b.page_size_over_max = OverMax::Clamp).await;
    let reject = demo_with(|b| b.page_size_over_max = OverMax::Reject).await;
    let members = format!("/api/v2/routing/queues/{BILLING}/members?pageSize=101");
    let search = json!({"pageSize": 501, "query": [{"type": "EXACT", "fields": ["email"],
                        "value": "jane.doe@example.com"}]});

    assert_eq!(
        clamp.get("/api/v2/users?pageSize=501").await.body["pageSize"],
        500
    );
    assert_eq!(clamp.get(&members).await.body["pageSize"], 100);
    assert_eq!(
        clamp
            .post("/api/v2/users/search", search.clone())
            .await
            .status,
        200
    );

    assert_error_body(
        &reject.get("/api/v2/users?pageSize=501").await,
        400,
        "bad.request",
    );
    assert_error_body(&reject.get(&members).await, 400, "bad.request");
    assert_error_body(
        &reject.post("/api/v2/users/search", search).await,
        400,
        "bad.request",
    );
    assert_error_body(
        &reject.get("/api/v2/users/query?pageSize=501").await,
        400,
        "bad.request",
    );
    assert_eq!(reject.get("/api/v2/users?pageSize=500").await.status, 200);
}

#[tokio::test]
async fn the_routing_status_of_an_unknown_user_is_a_404_or_off_queue_per_the_switch() {
    let kind = demo_with(|_| {}).await;
    let unkind = demo_with(|b| b.unknown_user_routing_status_off_queue = true).await;
    let nobody = "/api/v2/users/nobody/routingstatus";

    assert_error_body(&kind.get(nobody).await, 404, "not.found");
    let answer = unkind.get(nobody).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        json!({"userId": "nobody", "status": "OFF_QUEUE"})
    );
    let deleted = unkind
        .get(&format!("/api/v2/users/{SAM_DELETED}/routingstatus"))
        .await;
    assert_eq!(deleted.body["status"], "OFF_QUEUE");
    let jane = unkind
        .get(&format!("/api/v2/users/{JANE}/routingstatus"))
        .await;
    assert_eq!(
        jane.body["status"], "IDLE",
        "a known user answers as before"
    );
}

#[tokio::test]
async fn a_presence_names_its_source_id_only_when_the_switch_says_so() {
    let kind = demo_with(|_| {}).await;
    let unkind = demo_with(|b| b.presence_source_id = true).await;
    let presence = format!("/api/v2/users/{JANE}/presences/purecloud");
    let user = format!("/api/v2/users/{JANE}?expand=presence");

    let plain = kind.get(&presence).await.body;
    assert_eq!(plain["source"], "PURECLOUD");
    assert!(plain.get("sourceId").is_none());
    assert_eq!(unkind.get(&presence).await.body["sourceId"], "PURECLOUD");
    assert_eq!(
        unkind.get(&user).await.body["presence"]["sourceId"],
        "PURECLOUD"
    );
}

fn bulk_offline(users: &[&str]) -> Value {
    Value::Array(
        users
            .iter()
            .map(|u| json!({"id": u, "sourceId": "PURECLOUD", "presenceDefinition": {"id": OFFLINE}}))
            .collect(),
    )
}

async fn presence_of(api: &Api, user: &str) -> String {
    let presence = api
        .get(&format!("/api/v2/users/{user}/presences/purecloud"))
        .await;
    presence.body["presenceDefinition"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_bulk_presence_change_with_an_unknown_user_fails_whole_or_skips_them_per_the_switch() {
    let skips = demo_with(|b| b.presence_bulk_fails_whole = false).await;
    let fails = demo_with(|b| b.presence_bulk_fails_whole = true).await;
    let body = bulk_offline(&[JANE, SAM_DELETED, PRIYA]);

    let answer = skips
        .call("PUT", "/api/v2/users/presences/bulk", Some(body.clone()))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.body.as_array().unwrap().len(),
        2,
        "the deleted user is left out"
    );
    assert_eq!(presence_of(&skips, JANE).await, OFFLINE);
    assert_eq!(presence_of(&skips, PRIYA).await, OFFLINE);

    let answer = fails
        .call("PUT", "/api/v2/users/presences/bulk", Some(body))
        .await;
    assert_error_body(&answer, 404, "not.found");
    assert_ne!(presence_of(&fails, JANE).await, OFFLINE, "nothing changed");
}

#[tokio::test]
async fn a_bulk_presence_change_over_the_limit_is_refused_and_one_within_moves_routing_too() {
    let unlimited = demo_with(|b| b.presence_bulk_max_entries = 0).await;
    let limited = demo_with(|b| {
        b.presence_bulk_max_entries = 1;
        b.offline_presence_sets_off_queue = true;
    })
    .await;
    let two = bulk_offline(&[JANE, PRIYA]);

    let answer = unlimited
        .call("PUT", "/api/v2/users/presences/bulk", Some(two.clone()))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = limited
        .call("PUT", "/api/v2/users/presences/bulk", Some(two))
        .await;
    assert_error_body(&answer, 400, "bad.request");

    let answer = limited
        .call(
            "PUT",
            "/api/v2/users/presences/bulk",
            Some(bulk_offline(&[JANE])),
        )
        .await;
    assert_eq!(answer.body[0]["presenceDefinition"]["id"], OFFLINE);
    let routing = limited
        .get(&format!("/api/v2/users/{JANE}/routingstatus"))
        .await;
    assert_eq!(
        routing.body["status"], "OFF_QUEUE",
        "as the one-user PATCH does"
    );
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
    let unkind = demo_with(|b| b.max_sync_interval_days_unfiltered = 7).await;
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
    assert_eq!(realistic.max_sync_interval_days_unfiltered, 7);
    assert_eq!(realistic.page_size_over_max, OverMax::Reject);
    assert!(realistic.division_scoped_permissions);
    assert!(realistic.deactivation_removes_group_roles);
    assert!(realistic.group_grant_subject);
    assert!(realistic.dropped_expands.contains(&"groups".to_owned()));
    assert!(!realistic.offline_presence_sets_off_queue);
    assert!(realistic.unknown_user_routing_status_off_queue);
    assert!(realistic.presence_source_id);
    assert!(realistic.presence_bulk_fails_whole);
    assert_eq!(realistic.presence_bulk_max_entries, 50);
    assert!(realistic.details_paging_drift);
    for delay in [
        realistic.queue_join_patch_delay_ms,
        realistic.search_index_lag_ms,
        realistic.group_roles_return_after_ms,
        realistic.details_late_ms,
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
