//! The read-only operations an offboarding's impact preflight uses, over real HTTP against the
//! demo org: what names Jane (a flow, an alert rule, an OAuth client she created, a recording
//! policy, her WFM seat, licences, a DID, an extension, a WebRTC phone), with paging, filters,
//! 400s for bad input, 404s and permission 403s.
#![allow(clippy::unwrap_used)]

mod support;

use genesys_emulator::Fault;
use serde_json::json;
use support::{assert_error_body, demo, start};

const JANE: &str = "6a1b0c3e-0000-4000-8000-000000000001";
const OMAR: &str = "6a1b0c3e-0000-4000-8000-000000000002";
const TOM: &str = "6a1b0c3e-0000-4000-8000-000000000009";
const SAM_DELETED: &str = "6a1b0c3e-0000-4000-8000-000000000006";

fn ids(body: &serde_json::Value) -> Vec<String> {
    body["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn dependency_tracking_lists_the_flows_that_consume_a_user_with_paging_and_filters() {
    let api = demo().await;
    let base = "/api/v2/architect/dependencytracking/consumingresources";
    let all = api.get(&format!("{base}?id={JANE}&objectType=USER")).await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(all.body["total"], 2);
    assert_eq!(all.body["entities"][0]["name"], "Billing After Hours");
    assert_eq!(all.body["entities"][0]["type"], "INQUEUECALLFLOW");
    assert_eq!(all.body["entities"][1]["version"], "12.0");

    let first = api
        .get(&format!("{base}?id={JANE}&objectType=USER&pageSize=1"))
        .await
        .body;
    assert_eq!(
        (
            first["pageCount"].as_u64(),
            first["entities"].as_array().unwrap().len()
        ),
        (Some(2), 1)
    );
    assert!(first["nextUri"].as_str().unwrap().contains("pageNumber=2"));

    let published = api
        .get(&format!(
            "{base}?id={JANE}&objectType=USER&flowFilter=published"
        ))
        .await
        .body;
    assert_eq!(
        ids(&published),
        vec!["a1f0e2d3-0000-4000-8000-000000000301"]
    );
    let typed = api
        .get(&format!(
            "{base}?id={JANE}&objectType=USER&resourceType=INQUEUECALLFLOW"
        ))
        .await
        .body;
    assert_eq!(ids(&typed), vec!["a1f0e2d3-0000-4000-8000-000000000302"]);
    let nobody = api
        .get(&format!("{base}?id={TOM}&objectType=USER"))
        .await
        .body;
    assert_eq!(nobody["total"], 0);

    assert_error_body(
        &api.get(&format!("{base}?id={JANE}")).await,
        400,
        "bad.request",
    );
    assert_error_body(
        &api.get(&format!("{base}?id={JANE}&objectType=PERSON"))
            .await,
        400,
        "invalid.value",
    );
}

#[tokio::test]
async fn alert_rules_query_finds_rules_by_type_name_and_state_at_most_50_a_page() {
    let api = demo().await;
    let path = "/api/v2/alerting/rules/query";
    let all = api
        .post(path, json!({"ruleType": "All", "queryType": "Info"}))
        .await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(all.body["total"], 2);
    let rule = &all.body["entities"][1];
    assert_eq!(rule["name"], "Billing queue SLA breach");
    assert_eq!(rule["notifications"][0]["recipient"], JANE);

    let presence = api
        .post(path, json!({"ruleType": "Presence", "queryType": "Info"}))
        .await
        .body;
    assert_eq!(ids(&presence), vec!["b2e1d3c4-0000-4000-8000-000000000402"]);
    let count = api
        .post(path, json!({"ruleType": "All", "queryType": "Count"}))
        .await
        .body;
    assert_eq!(
        (
            count["total"].as_u64(),
            count["entities"].as_array().unwrap().len()
        ),
        (Some(2), 0)
    );
    let named = api
        .post(
            path,
            json!({"ruleType": "All", "queryType": "Info", "ruleName": "sla", "nameSearchType": "Contains"}),
        )
        .await
        .body;
    assert_eq!(named["total"], 1);
    let big = api
        .post(
            path,
            json!({"ruleType": "All", "queryType": "Info", "pageSize": 500}),
        )
        .await
        .body;
    assert_eq!(
        big["pageSize"], 50,
        "the default profile clamps to the API's 50"
    );

    assert_error_body(
        &api.post(path, json!({"queryType": "Info"})).await,
        400,
        "bad.request",
    );
    assert_error_body(
        &api.post(path, json!({"ruleType": "Everything", "queryType": "Info"}))
            .await,
        400,
        "invalid.value",
    );
}

#[tokio::test]
async fn oauth_clients_retention_policies_and_the_wfm_seat_name_their_users() {
    let api = demo().await;
    let clients = api.get("/api/v2/oauth/clients").await.body;
    assert_eq!(clients["total"], 2);
    let wallboard = &clients["entities"][0];
    assert_eq!(wallboard["createdBy"]["id"], JANE);
    assert_eq!(wallboard["createdBy"]["name"], "Jane Doe");
    assert!(
        wallboard.get("secret").is_none(),
        "a listing never carries secrets"
    );

    let policies = api
        .get("/api/v2/recording/mediaretentionpolicies")
        .await
        .body;
    assert_eq!(policies["total"], 2);
    let qa = &policies["entities"][0];
    assert_eq!(qa["name"], "Billing QA sampling");
    let assignment = &qa["mediaPolicies"]["callPolicy"]["actions"]["assignEvaluations"][0];
    assert_eq!(assignment["user"]["id"], JANE);
    assert_eq!(assignment["evaluationForm"]["name"], "Billing call review");
    let summary = api
        .get("/api/v2/recording/mediaretentionpolicies?summary=true&name=billing")
        .await
        .body;
    assert_eq!(summary["total"], 1);
    assert!(summary["entities"][0].get("mediaPolicies").is_none());

    let seat = api
        .get(&format!(
            "/api/v2/workforcemanagement/agents/{JANE}/managementunit"
        ))
        .await;
    assert_eq!(
        seat.body["managementUnit"]["id"],
        "e5f4a6b7-0000-4000-8000-000000000701"
    );
    assert_eq!(
        seat.body["businessUnit"]["id"],
        "e5f4a6b7-0000-4000-8000-000000000700"
    );
    assert_error_body(
        &api.get(&format!(
            "/api/v2/workforcemanagement/agents/{TOM}/managementunit"
        ))
        .await,
        404,
        "not.found",
    );
}

#[tokio::test]
async fn licences_come_in_one_batch_of_at_most_100_users() {
    let api = demo().await;
    let batch = api
        .post(
            "/api/v2/license/users",
            json!([JANE, OMAR, TOM, SAM_DELETED, "nobody"]),
        )
        .await;
    assert_eq!(batch.status, 200, "{batch:?}");
    assert_eq!(batch.body[JANE], json!(["cloudcx3", "wem_addon"]));
    assert_eq!(batch.body[TOM], json!([]));
    assert!(batch.body.get(SAM_DELETED).is_none() && batch.body.get("nobody").is_none());
    let too_many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    assert_error_body(
        &api.post("/api/v2/license/users", json!(too_many)).await,
        400,
        "bad.request",
    );
}

#[tokio::test]
async fn dids_extensions_and_phones_filter_by_owner_and_page() {
    let api = demo().await;
    let dids = api
        .get(&format!(
            "/api/v2/telephony/providers/edges/dids?owner.id={JANE}"
        ))
        .await
        .body;
    assert_eq!(dids["total"], 1);
    assert_eq!(dids["entities"][0]["phoneNumber"], "+13175550101");
    assert_eq!(dids["entities"][0]["ownerType"], "USER");
    let extensions = api
        .get("/api/v2/telephony/providers/edges/extensions?pageSize=1")
        .await
        .body;
    assert_eq!(
        (
            extensions["total"].as_u64(),
            extensions["pageCount"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(extensions["entities"][0]["number"], "4101");
    let phones = api
        .get(&format!(
            "/api/v2/telephony/providers/edges/phones?webRtcUser.id={JANE}"
        ))
        .await
        .body;
    assert_eq!(ids(&phones), vec!["0a1b2c3d-0000-4000-8000-000000000a01"]);
    assert_eq!(phones["entities"][0]["webRtcUser"]["id"], JANE);
    assert_error_body(
        &api.get("/api/v2/telephony/providers/edges/phones?sortBy=owner")
            .await,
        400,
        "invalid.value",
    );
}

#[tokio::test]
async fn each_source_needs_its_own_permission_and_takes_faults_like_any_route() {
    let api = start(
        genesys_emulator::fixture::Fixture::from_yaml(
            "oauthClients: [{clientId: c, clientSecret: s, permissions: [oauth:client:view]}]\nusers: [{id: u1, name: U, email: u@example.com}]",
        )
        .unwrap(),
        "c",
        "s",
    )
    .await;
    assert_eq!(api.get("/api/v2/oauth/clients").await.status, 200);
    let refused = api
        .post(
            "/api/v2/alerting/rules/query",
            json!({"ruleType": "All", "queryType": "Info"}),
        )
        .await;
    assert_error_body(&refused, 403, "missing.permissions");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("alerting:rule:view")
    );

    api.sim
        .inject(Fault::new("GET", "/api/v2/oauth/clients").status(503));
    assert_eq!(api.get("/api/v2/oauth/clients").await.status, 503);
    assert_eq!(api.get("/api/v2/oauth/clients").await.status, 200);
}
