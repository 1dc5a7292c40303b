//! The Genesys Cloud emulator over real HTTP, with plain reqwest: OAuth, users, search, routing,
//! analytics, permissions, rate limits and the `/__sim` control API. The demo org
//! (`crates/genesys-emulator/demo-org.yaml`) is the default fixture; tests that need something else use a few
//! lines of inline YAML.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use genesys_emulator::Fault;
use genesys_emulator::fixture::Fixture;
use serde_json::{Value, json};
use support::{Api, assert_error_body, demo, inline, interval, start, user_filter};

const JANE: &str = "6a1b0c3e-0000-4000-8000-000000000001";
const OMAR: &str = "6a1b0c3e-0000-4000-8000-000000000002";
const ALEX_ACTIVE: &str = "6a1b0c3e-0000-4000-8000-000000000004";
const SAM_DELETED: &str = "6a1b0c3e-0000-4000-8000-000000000006";
const PRIYA: &str = "6a1b0c3e-0000-4000-8000-000000000007";
const TOM: &str = "6a1b0c3e-0000-4000-8000-000000000009";
const KEN: &str = "6a1b0c3e-0000-4000-8000-00000000000b";
const FATIMA: &str = "6a1b0c3e-0000-4000-8000-00000000000c";
const BILLING: &str = "9b2e4d60-0000-4000-8000-0000000000b1";
const ESCALATIONS: &str = "9b2e4d60-0000-4000-8000-0000000000b3";
const OFFLINE: &str = "6a0f1b2c-0000-4000-8000-0000000000a4";

// ---------------------------------------------------------------- OAuth

#[tokio::test]
async fn a_client_credentials_grant_returns_a_bearer_token() {
    let api = demo().await;
    let granted = api.grant("demo-client", "demo-secret").await;
    assert_eq!(granted.body["token_type"], "bearer");
    assert_eq!(granted.body["expires_in"], 86_399);
    assert!(granted.body["access_token"].as_str().unwrap().len() > 20);
    assert_eq!(api.get(&format!("/api/v2/users/{JANE}")).await.status, 200);
}

#[tokio::test]
async fn a_wrong_secret_is_a_400_unauthorized_client_in_oauth_shape() {
    let api = demo().await;
    let refused = api.grant("demo-client", "nope").await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["error"], "unauthorized_client");
    assert!(refused.body["description"].is_string());
    assert!(refused.body["error_description"].is_string());
}

#[tokio::test]
async fn calls_without_a_token_or_with_an_expired_one_get_401() {
    let api = inline(
        "oauthClients: [{clientId: c, clientSecret: s, tokenLifetimeSeconds: 1}]\nusers: [{id: u1, name: U, email: u@example.com}]",
    )
    .await;
    let missing = api.call_with(None, "GET", "/api/v2/users/u1", None).await;
    assert_error_body(&missing, 401, "authentication.required");
    let forged = api
        .call_with(Some("forged"), "GET", "/api/v2/users/u1", None)
        .await;
    assert_error_body(&forged, 401, "bad.credentials");
    assert_eq!(api.get("/api/v2/users/u1").await.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_error_body(&api.get("/api/v2/users/u1").await, 401, "bad.credentials");
}

// ---------------------------------------------------------------- users

#[tokio::test]
async fn unknown_ids_are_404_not_found_with_a_context_id() {
    let api = demo().await;
    let answer = api.get("/api/v2/users/no-such-user").await;
    assert_error_body(&answer, 404, "not.found");
    assert_error_body(
        &api.get("/api/v2/routing/queues/nope/members").await,
        404,
        "not.found",
    );
    assert_error_body(&api.get("/api/v2/no/such/route").await, 404, "not.found");
}

#[tokio::test]
async fn a_user_has_the_user_model_fields_and_expands_only_on_request() {
    let api = demo().await;
    let jane = api.get(&format!("/api/v2/users/{JANE}")).await.body;
    assert_eq!(jane["state"], "active");
    assert_eq!(jane["version"], 7);
    assert_eq!(jane["username"], "jane.doe@example.com");
    assert_eq!(jane["division"]["name"], "Home");
    assert!(jane["chat"]["jabberId"].is_string());
    assert_eq!(jane["primaryContactInfo"][0]["type"], "PRIMARY");
    assert_eq!(jane["selfUri"], format!("/api/v2/users/{JANE}"));
    assert!(jane.get("routingStatus").is_none() && jane.get("station").is_none());

    for query in [
        "expand=routingStatus&expand=station",
        "expand=routingStatus,station",
    ] {
        let jane = api.get(&format!("/api/v2/users/{JANE}?{query}")).await.body;
        assert_eq!(jane["routingStatus"]["status"], "IDLE", "{query}");
        assert_eq!(
            jane["station"]["associatedStation"]["id"], "4b5c6d7e-0000-4000-8000-000000000201",
            "{query}"
        );
    }
    let bad = api
        .get(&format!("/api/v2/users/{JANE}?expand=nonsense"))
        .await;
    assert_error_body(&bad, 400, "invalid.value");
}

#[tokio::test]
async fn a_state_patch_may_carry_nothing_but_state_and_version() {
    let api = demo().await;
    let path = format!("/api/v2/users/{JANE}");
    let mixed = api
        .patch(
            &path,
            json!({"state": "inactive", "version": 7, "title": "x"}),
        )
        .await;
    assert_error_body(&mixed, 400, "bad.request");
    let unversioned = api.patch(&path, json!({"state": "inactive"})).await;
    assert_error_body(&unversioned, 400, "bad.request");
    let misspelt = api
        .patch(&path, json!({"status": "inactive", "version": 7}))
        .await;
    assert_error_body(&misspelt, 400, "invalid.property");
    let ok = api
        .patch(&path, json!({"state": "inactive", "version": 7}))
        .await;
    assert_eq!(
        (ok.status, &ok.body["state"], &ok.body["version"]),
        (200, &json!("inactive"), &json!(8))
    );
}

#[tokio::test]
async fn a_stale_version_is_a_409_and_every_change_bumps_the_version() {
    let api = demo().await;
    let path = format!("/api/v2/users/{JANE}");
    let stale = api
        .patch(&path, json!({"state": "inactive", "version": 6}))
        .await;
    assert_error_body(&stale, 409, "general.conflict");
    assert_eq!(
        stale.body["message"],
        "Resource conflict - Unexpected version was provided"
    );
    assert_eq!(api.sim.user(JANE).unwrap()["state"], "active");

    let titled = api
        .patch(&path, json!({"title": "Lead Agent", "version": 7}))
        .await;
    assert_eq!(
        (
            titled.body["title"].as_str(),
            titled.body["version"].as_i64()
        ),
        (Some("Lead Agent"), Some(8))
    );
    let put_state = api
        .call(
            "PUT",
            &format!("{path}/state"),
            Some(json!({"state": "inactive", "stateChangeReason": "Voluntary"})),
        )
        .await;
    assert_eq!(put_state.body["version"], 9);
    assert_eq!(put_state.body["stateChangeReason"], "Voluntary");
    assert!(put_state.body["stateChangeDate"].is_string());
}

#[tokio::test]
async fn the_400_version_conflict_variant_can_be_chosen_in_the_fixture() {
    let api = inline(
        "behavior: {versionConflict: badRequest400}\noauthClients: [{clientId: c, clientSecret: s}]\nusers: [{id: u1, name: U, email: u@example.com, version: 3}]",
    )
    .await;
    let stale = api
        .patch(
            "/api/v2/users/u1",
            json!({"state": "inactive", "version": 2}),
        )
        .await;
    assert_error_body(&stale, 400, "bad.request");
    assert!(
        stale.body["message"]
            .as_str()
            .unwrap()
            .contains("does not match the current version")
    );
}

#[tokio::test]
async fn an_invalid_state_change_reason_is_a_400_invalid_value() {
    let api = demo().await;
    let answer = api
        .call(
            "PUT",
            &format!("/api/v2/users/{JANE}/state"),
            Some(json!({"state": "inactive", "stateChangeReason": "Bored"})),
        )
        .await;
    assert_error_body(&answer, 400, "invalid.value");
    assert_eq!(
        answer.body["message"],
        "Value [Bored] is not valid for field type [StateChangeReason]. Allowable values are: Voluntary, Seasonal, Leave, Performance, Conduct, Unknown"
    );
}

#[tokio::test]
async fn going_inactive_strips_direct_roles_keeps_group_roles_and_goes_off_queue() {
    let api = inline(
        r"
oauthClients: [{clientId: c, clientSecret: s}]
roles: [{id: r-agent, name: Agent}, {id: r-sup, name: Supervisor}]
groups: [{id: g1, name: Tier 2}]
users:
  - id: u1
    name: U One
    email: u1@example.com
    routingStatus: IDLE
    groups: [g1]
    roles: [{roleId: r-agent}, {roleId: r-sup, groupId: g1}]
",
    )
    .await;
    let roles = api.get("/api/v2/users/u1/roles").await.body;
    assert_eq!(roles["roles"].as_array().unwrap().len(), 2);

    let off = api
        .patch(
            "/api/v2/users/u1",
            json!({"state": "inactive", "version": 1}),
        )
        .await;
    assert_eq!(off.status, 200);
    let roles = api.get("/api/v2/users/u1/roles").await.body;
    assert_eq!(
        roles["roles"],
        json!([{"id": "r-sup", "name": "Supervisor"}])
    );
    assert_eq!(
        api.get("/api/v2/users/u1/routingstatus").await.body["status"],
        "OFF_QUEUE"
    );

    api.patch("/api/v2/users/u1", json!({"state": "active", "version": 2}))
        .await;
    let roles = api.get("/api/v2/users/u1/roles").await.body;
    assert_eq!(
        roles["roles"].as_array().unwrap().len(),
        1,
        "reactivating restores nothing"
    );
    let grant = api
        .post("/api/v2/authorization/subjects/u1/bulkadd", json!({"grants": [{"roleId": "r-agent", "divisionId": "00000000-0000-4000-8000-0000000000d0"}]}))
        .await;
    assert_eq!(grant.status, 204);
    let subject = api.get("/api/v2/authorization/subjects/u1").await.body;
    assert_eq!(subject["grants"].as_array().unwrap().len(), 2);
    assert_eq!(subject["grants"][0]["division"]["homeDivision"], true);
}

#[tokio::test]
async fn delete_is_a_soft_delete_hidden_unless_the_state_is_asked_for() {
    let api = demo().await;
    let path = format!("/api/v2/users/{KEN}");
    let deleted = api.call("DELETE", &path, None).await;
    assert_eq!((deleted.status, &deleted.body), (200, &json!({})));
    assert_error_body(&api.get(&path).await, 404, "not.found");
    let by_state = api.get(&format!("{path}?state=deleted")).await;
    assert_eq!(
        (by_state.status, &by_state.body["state"]),
        (200, &json!("deleted"))
    );
    assert_error_body(
        &api.get(&format!("/api/v2/users/{JANE}?state=deleted"))
            .await,
        404,
        "not.found",
    );

    let email = json!({"type": "EXACT", "fields": ["email"], "value": "ken.sato@example.com"});
    assert_eq!(api.search(json!({"query": [email]})).await.body["total"], 0);
    let with_state = api
        .search(json!({"query": [email, {"type": "EXACT", "fields": ["state"], "values": ["deleted"]}]}))
        .await;
    assert_eq!(Api::ids(&with_state.body["results"]), [KEN]);

    let listed = api
        .get(&format!("/api/v2/users?id={KEN},{JANE}&state=any"))
        .await
        .body;
    assert_eq!(listed["total"], 2);
    let listed = api
        .get(&format!("/api/v2/users?id={KEN}&id={JANE}"))
        .await
        .body;
    assert_eq!(
        Api::ids(&listed["entities"]),
        [JANE],
        "the default state is active"
    );
    assert_error_body(
        &api.call("DELETE", &path, None).await,
        404,
        "user.not.found.on.delete",
    );
    assert_eq!(api.sim.user(KEN).unwrap()["state"], "deleted");
}

#[tokio::test]
async fn search_pages_with_q64_links_and_filters_by_state_criteria() {
    let api = demo().await;
    let alex = json!({"type": "EXACT", "fields": ["email"], "value": "Alex.Morgan@example.com"});
    let both = api.search(json!({"query": [alex]})).await.body;
    assert_eq!(
        both["total"], 2,
        "inactive users are searched by default: {both}"
    );
    let active = api
        .search(
            json!({"query": [alex, {"type": "EXACT", "fields": ["state"], "values": ["active"]}]}),
        )
        .await
        .body;
    assert_eq!(Api::ids(&active["results"]), [ALEX_ACTIVE]);
    let deleted = api
        .search(json!({"query": [{"type": "STARTS_WITH", "fields": ["email"], "value": "sam."}, {"type": "EXACT", "fields": ["state"], "value": "deleted"}]}))
        .await
        .body;
    assert_eq!(Api::ids(&deleted["results"]), [SAM_DELETED]);

    let everyone = json!({"pageSize": 4, "query": [{"type": "CONTAINS", "fields": ["email"], "value": "@example.com"}]});
    let first = api.search(everyone).await.body;
    assert_eq!(
        (first["total"].as_u64(), first["pageCount"].as_u64()),
        (Some(11), Some(3))
    );
    assert_eq!(first["types"], json!(["users"]));
    assert!(first.get("previousPage").is_none());
    let next = first["nextPage"].as_str().unwrap();
    assert!(next.starts_with("/api/v2/users/search?q64="));
    let second = api.get(next).await.body;
    assert_eq!(second["pageNumber"], 2);
    assert_eq!(second["results"].as_array().unwrap().len(), 4);
    assert_ne!(Api::ids(&first["results"]), Api::ids(&second["results"]));
    assert!(second["previousPage"].is_string());
    let third = api.get(second["nextPage"].as_str().unwrap()).await.body;
    assert_eq!(third["results"].as_array().unwrap().len(), 3);
    assert!(third.get("nextPage").is_none());

    let untyped = api
        .search(json!({"query": [{"fields": ["email"], "value": "x"}]}))
        .await;
    assert_error_body(&untyped, 400, "bad.request");
}

#[tokio::test]
async fn the_user_list_pages_with_navigation_uris() {
    let api = demo().await;
    let page = api
        .get("/api/v2/users?pageSize=5&pageNumber=2&state=any")
        .await
        .body;
    assert_eq!(
        (page["total"].as_u64(), page["pageCount"].as_u64()),
        (Some(12), Some(3))
    );
    assert_eq!(page["entities"].as_array().unwrap().len(), 5);
    assert_eq!(
        page["nextUri"],
        "/api/v2/users?pageSize=5&pageNumber=3&state=any"
    );
    assert_eq!(
        page["previousUri"],
        "/api/v2/users?pageSize=5&pageNumber=1&state=any"
    );
    let inactive = api.get("/api/v2/users?state=inactive").await.body;
    assert_eq!(inactive["total"], 2);
}

// ---------------------------------------------------------------- routing

#[tokio::test]
async fn user_queues_default_to_the_joined_ones_and_list_group_memberships() {
    let api = demo().await;
    let joined = api.get(&format!("/api/v2/users/{JANE}/queues")).await.body;
    assert_eq!(joined["entities"][0]["name"], "Billing");
    assert_eq!(joined["entities"][0]["joined"], true);
    assert_eq!(joined["total"], 1);
    let unjoined = api
        .get(&format!("/api/v2/users/{JANE}/queues?joined=false"))
        .await
        .body;
    assert_eq!(unjoined["entities"][0]["name"], "Sales");
    let priya = api.get(&format!("/api/v2/users/{PRIYA}/queues")).await.body;
    let names: Vec<&str> = priya["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Escalations", "Technical Support"]);
    let members = api
        .get(&format!(
            "/api/v2/routing/queues/{ESCALATIONS}/members?memberBy=group"
        ))
        .await
        .body;
    // Priya through the Tier 2 group, Fatima through the Retention Experts skill group.
    assert_eq!(Api::ids(&members["entities"]), [FATIMA, PRIYA]);
    assert_eq!(members["entities"][0]["memberBy"], "group");
}

#[tokio::test]
async fn bulk_member_removal_needs_delete_true_and_at_most_100_ids() {
    let api = demo().await;
    let members = format!("/api/v2/routing/queues/{BILLING}/members");
    let added = api.post(&members, json!([{"id": JANE}])).await;
    assert_eq!(added.status, 204);
    assert_eq!(
        api.get(&format!("/api/v2/users/{JANE}/queues")).await.body["total"],
        1,
        "without delete=true it adds"
    );

    let too_many: Vec<Value> = (0..101).map(|i| json!({"id": format!("u{i}")})).collect();
    assert_error_body(
        &api.post(&format!("{members}?delete=true"), json!(too_many))
            .await,
        400,
        "bad.request",
    );

    let removed = api
        .post(&format!("{members}?delete=true"), json!([{"id": JANE}]))
        .await;
    assert_eq!(removed.status, 204);
    for joined in ["true", "false"] {
        let queues = api
            .get(&format!("/api/v2/users/{JANE}/queues?joined={joined}"))
            .await
            .body;
        let names: Vec<&str> = queues["entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["name"].as_str().unwrap())
            .collect();
        assert!(!names.contains(&"Billing"), "{names:?}");
    }

    let escalations = format!("/api/v2/routing/queues/{ESCALATIONS}/members");
    api.post(
        &format!("{escalations}?delete=true"),
        json!([{"id": PRIYA}]),
    )
    .await;
    let priya = api.sim.user(PRIYA).unwrap();
    assert!(
        priya["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["queueId"] == ESCALATIONS && m["viaGroup"] == true),
        "a group membership is not removed per user"
    );
    api.post(&escalations, json!([{"id": TOM}])).await;
    let direct = api.get(&format!("{escalations}?memberBy=user")).await.body;
    assert_eq!(Api::ids(&direct["entities"]), [TOM]);
}

#[tokio::test]
async fn routing_status_skills_station_presence_and_sessions_can_be_cleared() {
    let api = demo().await;
    let status = api
        .call(
            "PUT",
            &format!("/api/v2/users/{JANE}/routingstatus"),
            Some(json!({"status": "BUSY"})),
        )
        .await;
    assert_error_body(&status, 400, "invalid.value");
    let status = api
        .call(
            "PUT",
            &format!("/api/v2/users/{JANE}/routingstatus"),
            Some(json!({"status": "OFF_QUEUE"})),
        )
        .await;
    assert_eq!(status.body["status"], "OFF_QUEUE");

    let skills = api
        .get(&format!("/api/v2/users/{JANE}/routingskills"))
        .await
        .body;
    assert_eq!(skills["total"], 2);
    assert_eq!(skills["entities"][0]["state"], "active");
    let skill = skills["entities"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/v2/users/{JANE}/routingskills/{skill}"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api.get(&format!("/api/v2/users/{JANE}/routingskills"))
            .await
            .body["total"],
        1
    );
    let restored = api
        .call(
            "PUT",
            &format!("/api/v2/users/{JANE}/routingskills/bulk"),
            Some(json!([{"id": skill, "proficiency": 4}])),
        )
        .await;
    assert_eq!(restored.body["total"], 1);

    let station = format!("/api/v2/users/{JANE}/station");
    assert_eq!(
        api.get(&station).await.body["effectiveStation"]["name"],
        "WebRTC Jane Doe"
    );
    assert_eq!(
        api.call("DELETE", &format!("{station}/associatedstation"), None)
            .await
            .status,
        202
    );
    assert_eq!(
        api.call("DELETE", &format!("{station}/defaultstation"), None)
            .await
            .status,
        202
    );
    let cleared = api.get(&station).await.body;
    assert!(cleared.get("associatedStation").is_none() && cleared.get("defaultStation").is_none());
    assert_eq!(cleared["lastAssociatedStation"]["name"], "WebRTC Jane Doe");

    let offline = api
        .patch(
            &format!("/api/v2/users/{OMAR}/presences/purecloud"),
            json!({"presenceDefinition": {"id": OFFLINE}}),
        )
        .await;
    assert_eq!(
        offline.body["presenceDefinition"]["systemPresence"],
        "Offline"
    );
    assert_eq!(
        api.get(&format!("/api/v2/users/{OMAR}/routingstatus"))
            .await
            .body["status"],
        "OFF_QUEUE"
    );

    assert_eq!(
        api.call("DELETE", &format!("/api/v2/tokens/{OMAR}"), None)
            .await
            .status,
        204
    );
    assert_eq!(api.sim.user(OMAR).unwrap()["hasSessions"], false);
}

// ---------------------------------------------------------------- analytics

#[tokio::test]
async fn details_query_filters_by_user_pages_and_omits_conversations_on_an_empty_page() {
    let api = demo().await;
    let query = |page: u32| {
        json!({
            "interval": interval(TimeDelta::days(-30), TimeDelta::hours(1)),
            "order": "asc", "orderBy": "conversationStart",
            "paging": {"pageSize": 2, "pageNumber": page},
            "segmentFilters": user_filter(JANE),
        })
    };
    let path = "/api/v2/analytics/conversations/details/query";
    let first = api.post(path, query(1)).await.body;
    assert_eq!(first["totalHits"], 3, "{first}");
    let ids: Vec<&str> = first["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversationId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "c0a8e001-0000-4000-8000-000000000002",
            "c0a8e001-0000-4000-8000-000000000003"
        ]
    );
    let agent = &first["conversations"][0]["participants"][1];
    assert_eq!(
        (agent["userId"].as_str(), agent["purpose"].as_str()),
        (Some(JANE), Some("agent"))
    );
    assert_eq!(
        api.post(path, query(2)).await.body["conversations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let empty = api.post(path, query(3)).await.body;
    assert!(empty.get("conversations").is_none(), "{empty}");
    assert_eq!(empty["totalHits"], 3);

    let too_long = json!({"interval": interval(TimeDelta::days(-40), TimeDelta::zero())});
    assert_error_body(&api.post(path, too_long).await, 400, "bad.request");
    let bad_dimension = json!({"interval": interval(TimeDelta::days(-1), TimeDelta::zero()),
        "segmentFilters": [{"type": "and", "predicates": [{"dimension": "userid", "value": JANE}]}]});
    assert_error_body(&api.post(path, bad_dimension).await, 400, "invalid.value");
}

#[tokio::test]
async fn an_ongoing_conversation_has_no_conversation_end() {
    let api = demo().await;
    let answer = api
        .post(
            "/api/v2/analytics/conversations/details/query",
            json!({
                "interval": interval(TimeDelta::days(-1), TimeDelta::hours(1)),
                "segmentFilters": user_filter(OMAR),
            }),
        )
        .await
        .body;
    let live = &answer["conversations"][0];
    assert_eq!(
        live["conversationId"],
        "c0a8e001-0000-4000-8000-000000000006"
    );
    assert!(live.get("conversationEnd").is_none(), "{live}");
    assert!(
        live["participants"][1]["sessions"][0]["segments"][0]
            .get("segmentEnd")
            .is_none()
    );
}

#[tokio::test]
async fn a_conversation_whose_end_is_in_the_future_is_ongoing_until_then() {
    // Arrange: a call that started a minute ago and ends by itself 2 s after the emulator starts.
    let api = inline(
        "oauthClients: [{clientId: c, clientSecret: s}]\n\
         users: [{id: u1, name: U, email: u@example.com}]\n\
         conversations: [{id: c1, start: now-1m, end: now+2s, participants: [\
         {purpose: customer, name: caller}, {purpose: agent, userId: u1, name: U}]}]",
    )
    .await;
    let details = json!({
        "interval": interval(TimeDelta::days(-1), TimeDelta::hours(1)),
        "segmentFilters": user_filter("u1"),
    });
    let talk = json!({
        "interval": interval(TimeDelta::days(-1), TimeDelta::hours(1)),
        "metrics": ["tTalk"],
        "filter": {"type": "and", "predicates": [{"dimension": "userId", "value": "u1"}]},
    });
    let query = "/api/v2/analytics/conversations/details/query";
    let aggregates = "/api/v2/analytics/conversations/aggregates/query";
    let single = "/api/v2/analytics/conversations/c1/details";

    // Act 1: before the end.
    let during = api.post(query, details.clone()).await.body;
    let during_single = api.get(single).await.body;
    let during_talk = api.post(aggregates, talk.clone()).await.body;

    let live = &during["conversations"][0];
    assert_eq!(live["conversationId"], "c1");
    assert!(live.get("conversationEnd").is_none(), "{live}");
    let segment = &live["participants"][1]["sessions"][0]["segments"][0];
    assert!(segment.get("segmentEnd").is_none(), "{segment}");
    assert!(
        during_single.get("conversationEnd").is_none(),
        "{during_single}"
    );
    assert_eq!(during_talk, json!({}), "no talk time before the talk ends");

    // Act 2: once the end has passed, the same queries see it ended.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let after = api.post(query, details).await.body;
    let after_talk = api.post(aggregates, talk).await.body;

    let ended = &after["conversations"][0];
    assert!(ended["conversationEnd"].is_string(), "{ended}");
    assert!(
        ended["participants"][1]["sessions"][0]["segments"][0]["segmentEnd"].is_string(),
        "{ended}"
    );
    assert!(api.get(single).await.body["conversationEnd"].is_string());
    assert_eq!(
        after_talk["results"][0]["data"][0]["metrics"][0]["stats"]["count"], 1,
        "{after_talk}"
    );
}

/// An org whose user `u1` has had `count` conversations, `c1` the oldest, two minutes apart.
fn org_with_conversations(count: usize, behavior: &str) -> String {
    use std::fmt::Write as _;
    let mut yaml = format!(
        "oauthClients: [{{clientId: c, clientSecret: s}}]\n\
         behavior: {behavior}\n\
         users: [{{id: u1, name: U, email: u@example.com}}]\n\
         conversations:\n"
    );
    for n in 1..=count {
        let ago = 2 * (count + 1 - n);
        writeln!(
            yaml,
            "  - {{id: c{n}, start: now-{ago}m, end: now-{ago}m+30s, participants: [{{purpose: agent, userId: u1}}]}}"
        )
        .unwrap();
    }
    yaml
}

/// Every page of a details query for `user` in pages of `size`, walked until a page without
/// `conversations` over `window` (the same for every walk: the interval is part of what makes
/// the same query): the ids in the order read, and the last `totalHits`.
async fn walk(api: &Api, user: &str, size: u32, window: &str) -> (Vec<String>, u64) {
    let mut ids = Vec::new();
    let mut total = 0;
    for page in 1.. {
        let body = api
            .post(
                "/api/v2/analytics/conversations/details/query",
                json!({
                    "interval": window,
                    "segmentFilters": user_filter(user),
                    "paging": {"pageSize": size, "pageNumber": page},
                }),
            )
            .await
            .body;
        total = body["totalHits"].as_u64().unwrap();
        let Some(conversations) = body["conversations"].as_array() else {
            break;
        };
        ids.extend(
            conversations
                .iter()
                .map(|c| c["conversationId"].as_str().unwrap().to_owned()),
        );
    }
    (ids, total)
}

#[tokio::test]
async fn with_paging_drift_a_record_moves_across_a_page_boundary_during_the_second_walk() {
    let api = inline(&org_with_conversations(5, "{detailsPagingDrift: true}")).await;
    let ids = |list: &[&str]| -> Vec<String> { list.iter().map(|s| (*s).to_owned()).collect() };
    let window = interval(TimeDelta::days(-1), TimeDelta::hours(1));

    let first = walk(&api, "u1", 2, &window).await;
    let second = walk(&api, "u1", 2, &window).await;
    let third = walk(&api, "u1", 2, &window).await;

    assert_eq!(first, (ids(&["c1", "c2", "c3", "c4", "c5"]), 5));
    assert_eq!(
        second.0,
        ids(&["c1", "c2", "c2", "c4", "c4"]),
        "at each boundary the next page's first record moved back once the page before was \
         read: c3 and c5 are skipped, c2 and c4 read twice"
    );
    assert_eq!(second.1, 7, "totalHits counts each record that moved twice");
    let mut settled = third.0.clone();
    settled.sort();
    assert_eq!(settled, ids(&["c1", "c2", "c3", "c4", "c5"]), "{third:?}");
}

#[tokio::test]
async fn without_paging_drift_every_walk_is_the_same() {
    let api = inline(&org_with_conversations(5, "{}")).await;
    let window = interval(TimeDelta::days(-1), TimeDelta::hours(1));

    let first = walk(&api, "u1", 2, &window).await;
    let second = walk(&api, "u1", 2, &window).await;

    assert_eq!(first, second);
    assert_eq!(first.0.len(), 5);
}

#[tokio::test]
async fn in_the_demo_org_fatimas_history_crosses_a_page_boundary_where_drift_loses_a_record() {
    let mut fixture = Fixture::demo();
    fixture.behavior.details_paging_drift = true;
    let api = start(fixture, "demo-client", "demo-secret").await;
    let window = interval(TimeDelta::days(-31), TimeDelta::zero());
    let distinct = |ids: &[String]| ids.iter().collect::<std::collections::HashSet<_>>().len();

    let first = walk(&api, FATIMA, 100, &window).await;
    let second = walk(&api, FATIMA, 100, &window).await;

    assert_eq!((first.0.len(), distinct(&first.0)), (101, 101));
    assert_eq!(
        (second.0.len(), distinct(&second.0)),
        (101, 100),
        "one read twice, one skipped"
    );
}

#[tokio::test]
async fn with_late_data_a_conversation_that_just_ended_is_missing_for_a_while() {
    // Arrange: a call that ends by itself 1 s after the emulator starts, then stays out of
    // the details reads for 2 s.
    let api = inline(
        "oauthClients: [{clientId: c, clientSecret: s}]\n\
         behavior: {detailsLateMs: 2000}\n\
         users: [{id: u1, name: U, email: u@example.com}]\n\
         conversations: [{id: c1, start: now-1m, end: now+1s, participants: [\
         {purpose: customer, name: caller}, {purpose: agent, userId: u1, name: U}]}]",
    )
    .await;
    let started = Instant::now();
    let details = json!({
        "interval": interval(TimeDelta::days(-1), TimeDelta::hours(1)),
        "segmentFilters": user_filter("u1"),
    });
    let query = "/api/v2/analytics/conversations/details/query";
    let single = "/api/v2/analytics/conversations/c1/details";
    let found = |body: &Value| body["conversations"].as_array().map_or(0, Vec::len);

    // Act 1: ongoing, it is there.
    assert_eq!(found(&api.post(query, details.clone()).await.body), 1);
    assert_eq!(api.get(single).await.status, 200);

    // Act 2: just ended, it is missing everywhere.
    tokio::time::sleep_until((started + Duration::from_millis(1200)).into()).await;
    let missing = api.post(query, details.clone()).await.body;
    assert_eq!(found(&missing), 0, "{missing}");
    assert_eq!(missing["totalHits"], 0);
    assert_error_body(&api.get(single).await, 404, "not.found");

    // Act 3: the late data has arrived.
    tokio::time::sleep_until((started + Duration::from_millis(3300)).into()).await;
    let back = api.post(query, details).await.body;
    assert_eq!(found(&back), 1, "{back}");
    assert!(back["conversations"][0]["conversationEnd"].is_string());
    assert_eq!(api.get(single).await.status, 200);
}

#[tokio::test]
async fn aggregates_report_handle_time_and_connected_count_per_user() {
    let api = demo().await;
    let answer = api
        .post(
            "/api/v2/analytics/conversations/aggregates/query",
            json!({
                "interval": interval(TimeDelta::days(-30), TimeDelta::zero()),
                "groupBy": ["userId"],
                "metrics": ["tHandle", "nConnected"],
                "filter": {"type": "and", "predicates": [{"dimension": "userId", "value": JANE}]},
            }),
        )
        .await
        .body;
    let result = &answer["results"][0];
    assert_eq!(result["group"], json!({"userId": JANE}));
    let metrics = &result["data"][0]["metrics"];
    assert_eq!(metrics[0]["metric"], "tHandle");
    assert_eq!(metrics[0]["stats"]["count"], 3);
    assert_eq!(metrics[0]["stats"]["sum"], (12 + 4 + 20) * 60_000);
    assert_eq!(
        metrics[1],
        json!({"metric": "nConnected", "stats": {"count": 3}})
    );
    let nobody = api
        .post("/api/v2/analytics/conversations/aggregates/query", json!({
            "interval": interval(TimeDelta::days(-1), TimeDelta::zero()),
            "metrics": ["tHandle"],
            "filter": {"type": "and", "predicates": [{"dimension": "userId", "value": "nobody"}]},
        }))
        .await;
    assert_eq!((nobody.status, nobody.body), (200, json!({})));
}

#[tokio::test]
async fn a_details_job_is_queued_then_fulfilled_and_pages_by_cursor() {
    let api = demo().await;
    let jobs = "/api/v2/analytics/conversations/details/jobs";
    let submitted = api
        .post(jobs, json!({"interval": interval(TimeDelta::days(-90), TimeDelta::zero()), "segmentFilters": user_filter(JANE)}))
        .await;
    assert_eq!(submitted.status, 202);
    let job = submitted.body["jobId"].as_str().unwrap().to_owned();
    let early = api.get(&format!("{jobs}/{job}/results")).await;
    assert_error_body(&early, 400, "bad.request");
    assert_eq!(
        api.get(&format!("{jobs}/{job}")).await.body["state"],
        "QUEUED"
    );
    let done = api.get(&format!("{jobs}/{job}")).await.body;
    assert_eq!(done["state"], "FULFILLED");
    assert!(done["completionDate"].is_string());

    let first = api
        .get(&format!("{jobs}/{job}/results?pageSize=3"))
        .await
        .body;
    assert_eq!(first["conversations"].as_array().unwrap().len(), 3);
    let cursor = first["cursor"].as_str().unwrap();
    let last = api
        .get(&format!("{jobs}/{job}/results?pageSize=3&cursor={cursor}"))
        .await
        .body;
    assert_eq!(last["conversations"].as_array().unwrap().len(), 1);
    assert!(last.get("cursor").is_none());
    assert!(last["dataAvailabilityDate"].is_string());

    assert_eq!(
        api.call("DELETE", &format!("{jobs}/{job}"), None)
            .await
            .status,
        204
    );
    assert_error_body(&api.get(&format!("{jobs}/{job}")).await, 404, "not.found");
    assert!(
        api.get(&format!("{jobs}/availability")).await.body["dataAvailabilityDate"].is_string()
    );
}

#[tokio::test]
async fn user_details_show_the_routing_history_after_a_change() {
    let api = demo().await;
    api.call(
        "PUT",
        &format!("/api/v2/users/{JANE}/routingstatus"),
        Some(json!({"status": "OFF_QUEUE"})),
    )
    .await;
    let answer = api
        .post("/api/v2/analytics/users/details/query", json!({
            "interval": interval(TimeDelta::hours(-1), TimeDelta::hours(1)),
            "userFilters": [{"type": "or", "predicates": [{"dimension": "userId", "value": JANE}]}],
        }))
        .await
        .body;
    let routing = &answer["userDetails"][0]["routingStatus"];
    assert_eq!(routing[0]["routingStatus"], "IDLE");
    assert!(routing[0]["endTime"].is_string());
    assert_eq!(routing[1]["routingStatus"], "OFF_QUEUE");
    assert_eq!(
        answer["userDetails"][0]["primaryPresence"][0]["systemPresence"],
        "AVAILABLE"
    );
}

// ---------------------------------------------------------------- permissions, limits, control

#[tokio::test]
async fn a_restricted_client_gets_403_naming_the_missing_permission() {
    let api = start(Fixture::demo(), "readonly-client", "readonly-secret").await;
    assert_eq!(
        api.search(json!({"query": [{"type": "MATCH_ALL"}]}))
            .await
            .status,
        200
    );
    let denied = api
        .patch(
            &format!("/api/v2/users/{JANE}"),
            json!({"state": "inactive", "version": 7}),
        )
        .await;
    assert_error_body(&denied, 403, "missing.permissions");
    assert!(
        denied.body["message"]
            .as_str()
            .unwrap()
            .contains("directory:user:edit")
    );
    assert!(
        denied.body["messageParams"]["permissions"]
            .as_str()
            .unwrap()
            .contains("directory:user:edit")
    );
    let denied = api
        .call("DELETE", &format!("/api/v2/tokens/{JANE}"), None)
        .await;
    assert_eq!(
        denied.body["messageParams"]["permissions"],
        "oauth:token:delete"
    );
    assert_eq!(api.sim.user(JANE).unwrap()["state"], "active");
}

#[tokio::test]
async fn requests_past_the_per_token_limit_get_429_with_retry_after() {
    let api = inline(
        "requestsPerMinute: 3\noauthClients: [{clientId: c, clientSecret: s}]\nusers: [{id: u1, name: U, email: u@example.com}]",
    )
    .await;
    for _ in 0..3 {
        assert_eq!(api.get("/api/v2/users/u1").await.status, 200);
    }
    let limited = api.get("/api/v2/users/u1").await;
    assert_error_body(&limited, 429, "too.many.requests");
    assert_eq!(
        limited.body["message"],
        "Rate limit exceeded the maximum [3] requests within [60] seconds"
    );
    assert_eq!(
        limited.body["limit"],
        json!({"key": "client.credentials.token.rate.per.minute", "namespace": "platform.api", "value": 3})
    );
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(
        !limited
            .headers
            .keys()
            .any(|k| k.as_str().starts_with("inin-ratelimit"))
    );

    let other = api.grant("c", "s").await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let fresh = api
        .call_with(Some(&other), "GET", "/api/v2/users/u1", None)
        .await;
    assert_eq!(fresh.status, 200, "the limit is per token");
}

#[tokio::test]
async fn injected_faults_fire_count_times_then_requests_are_served_again() {
    let api = demo().await;
    api.sim.inject(
        Fault::new("PATCH", "/api/v2/users/*")
            .status(503)
            .times(2)
            .retry_after(2),
    );
    let path = format!("/api/v2/users/{JANE}");
    for _ in 0..2 {
        let failed = api.patch(&path, json!({"title": "x", "version": 7})).await;
        assert_error_body(&failed, 503, "service.unavailable");
        assert_eq!(failed.headers["retry-after"], "2");
    }
    assert_eq!(
        api.patch(&path, json!({"title": "x", "version": 7}))
            .await
            .status,
        200
    );

    let armed = api
        .http
        .post(api.url("/__sim/faults"))
        .json(&json!([
            {"method": "GET", "path": "/api/v2/users/**", "status": 500, "body": {"custom": true}},
            {"path": "/api/v2/organizations/me", "delayMs": 300},
            {"method": "GET", "path": "/api/v2/tokens/me", "status": 200, "rawBody": "not json"}
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(armed.status(), 201);
    let custom = api.get(&format!("{path}/queues")).await;
    assert_eq!((custom.status, custom.body), (500, json!({"custom": true})));
    let started = Instant::now();
    assert_eq!(api.get("/api/v2/organizations/me").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(api.get("/api/v2/tokens/me").await.body, json!("not json"));
    let bad = api
        .http
        .post(api.url("/__sim/faults"))
        .json(&json!({"path": "/x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn requests_are_recorded_with_bodies_status_and_operation() {
    let api = demo().await;
    api.patch(
        &format!("/api/v2/users/{JANE}?x=1"),
        json!({"state": "inactive", "version": 7}),
    )
    .await;
    let log: Value = api
        .http
        .get(api.url("/__sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let log = log.as_array().unwrap();
    assert_eq!(log[0]["path"], "/oauth/token");
    assert_eq!(log[0]["body"], Value::Null);
    let patch = &log[1];
    assert_eq!(patch["method"], "PATCH");
    assert_eq!(patch["query"], "x=1");
    assert_eq!(patch["body"], json!({"state": "inactive", "version": 7}));
    assert_eq!(patch["status"], 200);
    assert_eq!(patch["responseBody"]["version"], 8);
    assert_eq!(patch["operation"], "patch_user");
    assert!(patch["time"].is_string());
    assert_eq!(api.sim.requests().len(), 2);
}

#[tokio::test]
async fn reset_restores_the_fixture_and_clears_the_log() {
    let api = demo().await;
    api.patch(
        &format!("/api/v2/users/{JANE}"),
        json!({"state": "inactive", "version": 7}),
    )
    .await;
    api.sim
        .inject(Fault::new("GET", "/api/v2/**").status(500).times(5));
    let reset = api.http.post(api.url("/__sim/reset")).send().await.unwrap();
    assert_eq!(reset.status(), 204);
    assert!(api.sim.requests().is_empty());
    let jane = api.get(&format!("/api/v2/users/{JANE}")).await.body;
    assert_eq!(
        (jane["state"].as_str(), jane["version"].as_i64()),
        (Some("active"), Some(7))
    );
    let stored: Value = api
        .http
        .get(api.url(&format!("/__sim/users/{JANE}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["roles"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.http
            .get(api.url("/__sim/users/nobody"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[test]
fn the_route_table_serves_every_contract_operation() {
    // The contract sits at the workspace root, two levels above this crate.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contract/genesys-contract.json"
    );
    let contract: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut expected: Vec<(String, String, String)> = contract["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().into(),
                o["method"].as_str().unwrap().into(),
                o["path"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut served: Vec<(String, String, String)> = genesys_emulator::ops::OPERATIONS
        .iter()
        .map(|o| (o.id.into(), o.method.into(), o.path.into()))
        .collect();
    expected.sort();
    served.sort();
    assert_eq!(served, expected);
}
