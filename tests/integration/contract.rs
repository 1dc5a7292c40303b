//! The Genesys Cloud API contract (`contract/genesys-contract.json`) holds the client and the
//! emulator to the real API.
//!
//! Start with `client_and_emulator_traffic_matches_the_contract`: it starts the emulator with the
//! demo org, drives every public client method and calls every other route with raw HTTP
//! (including 400, 401, 403, 404, 409 and 429 answers), then checks every recorded request and
//! response against the contract, and that every contract operation was answered with a success.
//! Then: the emulator answers 404/405 with an `ErrorBody` to every method the contract lacks; a
//! wrong answer is caught from the request log; the contract copy extends the shared original; and
//! the validator (`tests/support/contract.rs`) rejects each kind of departure.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::support::contract::{Contract, Exchange, Violation, report};
use chrono::Utc;
use genesys_cloud::{
    AggregationQuery, ClientConfig, ClientCredentials, ConversationQuery, Endpoints, GenesysClient,
    GenesysError, Interval, MemberBy, RoleDivision, RoutingStatusValue, StateChangeReason, UserId,
    UserRoutingSkillPost, UserState, UserStateInfo,
};
use genesys_emulator::{Fault, RecordedRequest, Sim, SimHandle, fixture::Fixture};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The demo org (crates/genesys-emulator/demo-org.yaml).

const JANE: &str = "6a1b0c3e-0000-4000-8000-000000000001"; // normal agent with history
const LI: &str = "6a1b0c3e-0000-4000-8000-000000000003"; // inactive
const SAM: &str = "6a1b0c3e-0000-4000-8000-000000000006"; // deleted
const MARIA: &str = "6a1b0c3e-0000-4000-8000-000000000008";
const TOM: &str = "6a1b0c3e-0000-4000-8000-000000000009";
const ANA: &str = "6a1b0c3e-0000-4000-8000-00000000000a";
const KEN: &str = "6a1b0c3e-0000-4000-8000-00000000000b";
const FATIMA: &str = "6a1b0c3e-0000-4000-8000-00000000000c";
const BILLING: &str = "9b2e4d60-0000-4000-8000-0000000000b1";
const ESCALATIONS: &str = "9b2e4d60-0000-4000-8000-0000000000b3";
const SALES: &str = "9b2e4d60-0000-4000-8000-0000000000b4";
const BILLING_DISPUTES: &str = "2a3b4c5d-0000-4000-8000-0000000000e1";
const RETENTION: &str = "2a3b4c5d-0000-4000-8000-0000000000e3";
const ENGLISH: &str = "1f2e3d4c-0000-4000-8000-0000000000f1";
const AGENT_ROLE: &str = "8e7d6c5b-0000-4000-8000-000000000101";
const HOME_DIVISION: &str = "5d1e7c2a-0000-4000-8000-0000000000d1";
const FINISHED_CONVERSATION: &str = "c0a8e001-0000-4000-8000-000000000001";
const TIER_2: &str = "3c4d5e6f-0000-4000-8000-0000000000c1";
const BILLING_FLOOR: &str = "3c4d5e6f-0000-4000-8000-0000000000c4"; // Jane's group
const NIGHT_SHIFT: &str = "3c4d5e6f-0000-4000-8000-0000000000c2";
const OFFLINE: &str = "6a0f1b2c-0000-4000-8000-0000000000a4";
const DEAD: &str = "00000000-0000-4000-8000-00000000dead";

// ---------------------------------------------------------------------------------------------
// The whole traffic of client and emulator against the contract.

/// Problems found while driving the emulator (unexpected outcomes), kept to report at the end
/// with the contract violations, so one run shows everything.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    fn expect<T, E: std::fmt::Display>(&mut self, what: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.0.push(format!("{what} failed: {e}"));
                None
            }
        }
    }

    fn expect_err<T, E: std::fmt::Display>(
        &mut self,
        what: &str,
        result: Result<T, E>,
        ok: impl Fn(&E) -> bool,
    ) {
        match result {
            Ok(_) => self
                .0
                .push(format!("{what} succeeded but should have failed")),
            Err(e) if !ok(&e) => self.0.push(format!("{what} failed the wrong way: {e}")),
            Err(_) => {}
        }
    }

    fn check(&mut self, condition: bool, what: impl Into<String>) {
        if !condition {
            self.0.push(what.into());
        }
    }
}

fn last_days(days: i64) -> Interval {
    let end = Utc::now();
    Interval::new(end - chrono::Duration::days(days), end)
}

fn client_for(sim: &SimHandle) -> GenesysClient {
    let config = ClientConfig::new(
        Endpoints::single(sim.base_url()).unwrap(),
        ClientCredentials::new("demo-client", "demo-secret".to_owned()),
    )
    // The emulator counts 300 requests a minute per token; this scenario stays far below, so
    // the client's own budget only needs to not slow it down.
    .with_requests_per_minute(60_000)
    .with_request_timeout(Duration::from_secs(10))
    .with_job_polling(Duration::from_millis(10), Duration::from_secs(10));
    GenesysClient::new(config).unwrap()
}

/// Every public method of the client, on demo users suited to it.
#[allow(clippy::too_many_lines)]
async fn drive_every_client_method(client: &GenesysClient, f: &mut Findings) {
    let jane = UserId::from(JANE);
    f.expect("authenticate", client.authenticate().await);

    // users
    if let Some(m) = f.expect(
        "find_users_by_email(jane)",
        client.find_users_by_email("jane.doe@example.com").await,
    ) {
        f.check(m.live.len() == 1, "jane.doe@example.com: one live user");
    }
    if let Some(m) = f.expect(
        "find_users_by_email(alex)",
        client.find_users_by_email("alex.morgan@example.com").await,
    ) {
        f.check(m.live.len() == 2, "alex.morgan@example.com: two live users");
    }
    if let Some(m) = f.expect(
        "find_users_by_email(sam)",
        client.find_users_by_email("sam.taylor@example.com").await,
    ) {
        f.check(
            m.live.is_empty() && m.deleted.len() == 1,
            "sam.taylor@example.com: only a deleted user",
        );
    }
    let expand = [
        "routingStatus",
        "presence",
        "station",
        "authorization",
        "groups",
        "skills",
        "languages",
        "lasttokenissued",
        "dateLastLogin",
    ];
    f.expect("get_user(expand)", client.get_user(&jane, &expand).await);
    f.expect_err(
        "get_user(unknown id)",
        client
            .get_user(&UserId::from("00000000-0000-4000-8000-00000000dead"), &[])
            .await,
        |e| e.status() == Some(404),
    );
    if let Some(u) = f.expect(
        "get_deleted_user(sam)",
        client.get_deleted_user(&UserId::from(SAM)).await,
    ) {
        f.check(u.is_some(), "get_deleted_user(sam) finds the deleted user");
    }
    if let Some(users) = f.expect(
        "get_users_by_ids",
        client
            .get_users_by_ids(&[jane.clone(), UserId::from(LI), UserId::from(SAM)])
            .await,
    ) {
        f.check(users.len() == 3, "get_users_by_ids returns all three users");
    }
    f.expect("get_user_state", client.get_user_state(&jane).await);

    // routing
    f.expect("get_routing_status", client.get_routing_status(&jane).await);
    f.expect(
        "set_routing_status",
        client
            .set_routing_status(&jane, RoutingStatusValue::OffQueue)
            .await,
    );
    if let Some(q) = f.expect("get_user_queues", client.get_user_queues(&jane).await) {
        f.check(q.len() == 2, "jane is in two queues (one joined, one not)");
    }
    f.expect(
        "get_queue_members",
        client.get_queue_members(BILLING, None).await,
    );
    f.expect(
        "get_queue_members(memberBy=group)",
        client
            .get_queue_members(ESCALATIONS, Some(MemberBy::Group))
            .await,
    );
    f.expect(
        "remove_queue_members",
        client
            .remove_queue_members(BILLING, std::slice::from_ref(&jane))
            .await,
    );
    f.expect(
        "add_queue_members",
        client
            .add_queue_members(BILLING, std::slice::from_ref(&jane))
            .await,
    );
    f.expect(
        "patch_user_queues",
        client.patch_user_queues(&jane, &[(BILLING, true)]).await,
    );
    f.expect("get_user_skills", client.get_user_skills(&jane).await);
    f.expect(
        "remove_user_skill",
        client.remove_user_skill(&jane, RETENTION).await,
    );
    let skills = [
        UserRoutingSkillPost {
            id: RETENTION.into(),
            proficiency: 2.0,
        },
        UserRoutingSkillPost {
            id: BILLING_DISPUTES.into(),
            proficiency: 4.0,
        },
    ];
    f.expect(
        "set_user_skills",
        client.set_user_skills(&jane, &skills).await,
    );
    f.expect("get_user_languages", client.get_user_languages(&jane).await);
    f.expect(
        "remove_user_language",
        client.remove_user_language(&jane, ENGLISH).await,
    );
    f.expect("get_user_station", client.get_user_station(&jane).await);
    f.expect(
        "clear_associated_station",
        client.clear_associated_station(&jane).await,
    );
    f.expect(
        "clear_default_station",
        client.clear_default_station(&jane).await,
    );

    // presence and tokens
    f.expect(
        "get_presence_definitions",
        client.get_presence_definitions().await,
    );
    let offline = f.expect("offline_presence_id", client.offline_presence_id().await);
    f.expect("get_presence", client.get_presence(&jane).await);
    if let Some(offline) = offline {
        f.expect("set_presence", client.set_presence(&jane, &offline).await);
    }
    f.expect("revoke_tokens", client.revoke_tokens(&jane).await);

    // authorization
    f.expect("get_user_roles", client.get_user_roles(&jane).await);
    f.expect(
        "get_authorization_subject",
        client.get_authorization_subject(&jane).await,
    );
    let grant = RoleDivision {
        role_id: AGENT_ROLE.into(),
        division_id: HOME_DIVISION.into(),
    };
    f.expect("grant_roles", client.grant_roles(&jane, &[grant]).await);

    // analytics
    let query = ConversationQuery::for_user(&jane, last_days(30));
    if let Some(c) = f.expect(
        "query_conversation_details",
        client.query_conversation_details(&query).await,
    ) {
        f.check(!c.is_empty(), "jane has conversations in the last 30 days");
    }
    f.expect(
        "user_conversations(30 days, sync)",
        client.user_conversations(&jane, last_days(30)).await,
    );
    f.expect(
        "user_conversations(90 days, jobs API)",
        client.user_conversations(&jane, last_days(90)).await,
    );
    if let Some(c) = f.expect(
        "conversation_details",
        client.conversation_details(FINISHED_CONVERSATION).await,
    ) {
        f.check(
            c.is_some_and(|c| c.involves(&jane)),
            "the finished conversation is read by id and names jane",
        );
    }
    if let Some(c) = f.expect(
        "conversation_details(unknown)",
        client.conversation_details("no-such-conversation").await,
    ) {
        f.check(c.is_none(), "an unknown conversation is None, not an error");
    }
    if let Some(job) = f.expect("start_details_job", client.start_details_job(&query).await) {
        f.expect("details_job_status", client.details_job_status(&job).await);
        f.expect("details_job_status", client.details_job_status(&job).await);
        f.expect(
            "details_job_results",
            client.details_job_results(&job, None).await,
        );
        f.expect("delete_details_job", client.delete_details_job(&job).await);
    }
    f.expect(
        "aggregates_query",
        client
            .aggregates_query(&AggregationQuery::for_user(
                &jane,
                last_days(30),
                &["nConnected", "tHandle"],
            ))
            .await,
    );

    // org
    f.expect("organization", client.organization().await);

    // state changes, last: they change who is active
    let fatima = UserId::from(FATIMA);
    if let Some(current) = f.expect(
        "get_user_state(fatima)",
        client.get_user_state(&fatima).await,
    ) {
        let change = UserStateInfo {
            state: Some(UserState::Inactive),
            version: current.version,
            state_change_reason: Some(StateChangeReason::Voluntary),
            state_change_date: None,
        };
        f.expect(
            "put_user_state",
            client.put_user_state(&fatima, &change).await,
        );
    }
    let ken = UserId::from(KEN);
    let before = f.expect("get_user(ken)", client.get_user(&ken, &[]).await);
    f.expect(
        "set_user_state(inactive)",
        client.set_user_state(&ken, UserState::Inactive).await,
    );
    f.expect(
        "set_user_state(inactive) again",
        client.set_user_state(&ken, UserState::Inactive).await,
    );
    if let Some(stale) = before.and_then(|u| u.version) {
        f.expect_err(
            "patch_user_state(stale version)",
            client
                .patch_user_state(&ken, UserState::Active, stale)
                .await,
            GenesysError::is_version_conflict,
        );
    }

    // what depends on a user (the impact preflight)
    if let Some(flows) = f.expect(
        "get_resources_consuming_user(jane)",
        client.get_resources_consuming_user(&jane).await,
    ) {
        f.check(flows.len() == 2, "two flows reference Jane");
    }
    if let Some(seat) = f.expect(
        "get_agent_management_unit(jane)",
        client.get_agent_management_unit(&jane).await,
    ) {
        f.check(seat.is_some(), "Jane has a WFM seat");
    }
    f.expect(
        "get_agent_management_unit(tom)",
        client.get_agent_management_unit(&UserId::from(TOM)).await,
    );
    if let Some(licenses) = f.expect(
        "get_user_licenses(jane)",
        client.get_user_licenses(&jane).await,
    ) {
        f.check(licenses.len() == 2, "Jane has two licences");
    }
    if let Some(org) = f.expect(
        "get_org_dependents",
        client.get_org_dependents(Duration::from_secs(60)).await,
    ) {
        f.check(
            org.alert_rules
                .as_ref()
                .is_ok_and(|r| r.iter().any(|r| r.notifies(&jane))),
            "an alert rule notifies Jane",
        );
        f.check(
            org.oauth_clients.as_ref().is_ok_and(|c| c.len() == 2),
            "two OAuth clients",
        );
        f.check(
            org.retention_policies
                .as_ref()
                .is_ok_and(|p| p.iter().any(|p| p.users.iter().any(|(u, _)| u == JANE))),
            "a recording policy names Jane",
        );
        f.check(
            org.dids
                .as_ref()
                .is_ok_and(|d| d.iter().any(|d| d.owned_by(&jane))),
            "Jane owns a DID",
        );
        f.check(
            org.extensions
                .as_ref()
                .is_ok_and(|e| e.iter().any(|e| e.owned_by(&jane))),
            "Jane owns an extension",
        );
        f.check(
            org.phones.as_ref().is_ok_and(|p| p.len() == 2),
            "two phones",
        );
    }
    drive_the_handoff_methods(client, f).await;
    drive_the_restore_methods(client, f).await;
}

/// The handoff calls: Jane's direct report, the colleague she backs up, her workitems and her
/// voicemail, handed to Maria.
async fn drive_the_handoff_methods(client: &GenesysClient, f: &mut Findings) {
    let (jane, tom, ken) = (UserId::from(JANE), UserId::from(TOM), UserId::from(KEN));
    if let Some(reports) = f.expect("get_direct_reports", client.get_direct_reports(&jane).await) {
        f.check(
            reports.iter().map(|u| u.id.as_str()).collect::<Vec<_>>() == [TOM],
            "Jane's direct report is Tom",
        );
    }
    if let Some(version) = f
        .expect("get_user(tom)", client.get_user(&tom, &[]).await)
        .and_then(|u| u.version)
    {
        f.expect(
            "set_manager",
            client.set_manager(&tom, MARIA, version).await,
        );
    }
    if let Some(settings) = f.expect(
        "get_direct_routing_backup(jane)",
        client.get_direct_routing_backup(&jane).await,
    ) {
        f.check(settings.backed_up_users == [KEN], "Jane backs up Ken");
    }
    let backup = genesys_cloud::DirectRoutingBackup {
        user_id: Some(MARIA.to_owned()),
        ..genesys_cloud::DirectRoutingBackup::default()
    };
    f.expect(
        "put_direct_routing_backup(ken)",
        client.put_direct_routing_backup(&ken, &backup).await,
    );
    if let Some(items) = f.expect(
        "open_workitems_of(jane)",
        client.open_workitems_of(&[JANE]).await,
    ) {
        f.check(items.len() == 1, "Jane has one open workitem");
        for w in items {
            f.expect("get_workitem", client.get_workitem(&w.id).await);
            f.expect(
                "reassign_workitem",
                client.reassign_workitem(&w.id, Some(MARIA), None).await,
            );
        }
    }
    if let Some(messages) = f.expect(
        "get_user_voicemail(jane)",
        client.get_user_voicemail(&jane).await,
    ) {
        f.check(messages.len() == 2, "Jane has two voicemails");
        if let Some(m) = messages.first() {
            f.expect("copy_voicemail", client.copy_voicemail(&m.id, MARIA).await);
        }
    }
    drive_the_callback_and_quality_methods(client, f).await;
}

/// Jane's scheduled callbacks, the evaluation she is to do and the calibration she runs, handed
/// to Maria.
async fn drive_the_callback_and_quality_methods(client: &GenesysClient, f: &mut Findings) {
    let jane = UserId::from(JANE);
    let now = chrono::Utc::now();
    let window = genesys_cloud::Interval::new(now - chrono::TimeDelta::days(31), now);
    if let Some(callbacks) = f.expect(
        "owned_callbacks_of(jane)",
        client.owned_callbacks_of(&jane, window).await,
    ) {
        f.check(callbacks.len() == 2, "Jane owns two scheduled callbacks");
        for c in callbacks {
            f.expect(
                "get_callback",
                client.get_callback(&c.conversation_id).await,
            );
            f.expect(
                "reassign_callback",
                client.reassign_callback(&c.conversation_id, MARIA).await,
            );
        }
    }
    if let Some(evaluations) = f.expect(
        "pending_evaluations_of(jane)",
        client.pending_evaluations_of(&jane).await,
    ) {
        f.check(evaluations.len() == 1, "Jane has one evaluation to do");
        for e in evaluations {
            let conversation = e.conversation_id().unwrap_or_default().to_owned();
            if let Some(read) = f.expect(
                "get_evaluation",
                client.get_evaluation(&conversation, &e.id).await,
            ) {
                f.expect(
                    "reassign_evaluation",
                    client.reassign_evaluation(&read, MARIA).await,
                );
            }
        }
    }
    if let Some(calibrations) =
        f.expect("calibrations_of(jane)", client.calibrations_of(&jane).await)
    {
        f.check(calibrations.len() == 1, "Jane runs one calibration");
        for c in calibrations {
            if let Some(read) = f.expect("get_calibration", client.get_calibration(&c.id).await) {
                f.expect(
                    "replace_calibration_evaluator",
                    client
                        .replace_calibration_evaluator(&read, JANE, MARIA)
                        .await,
                );
            }
        }
    }
}

/// Jane's utilization and call forwarding read and written back, Maria added to Jane's group
/// (with its version) and to a team.
async fn drive_the_restore_methods(client: &GenesysClient, f: &mut Findings) {
    let (jane, maria) = (UserId::from(JANE), UserId::from(MARIA));
    if let Some(u) = f.expect(
        "get_user_utilization(jane)",
        client.get_user_utilization(&jane).await,
    ) {
        f.check(u.is_own(), "Jane has her own utilization");
        let request = genesys_cloud::UtilizationRequest {
            utilization: u.utilization.clone(),
            label_utilizations: u.label_utilizations.clone(),
            max_inbound_calls: u.max_inbound_calls,
        };
        f.expect(
            "put_user_utilization(jane)",
            client.put_user_utilization(&jane, &request).await,
        );
    }
    if let Some(c) = f.expect(
        "get_call_forwarding(jane)",
        client.get_call_forwarding(&jane).await,
    ) {
        f.check(c.enabled, "Jane forwards her calls");
        f.expect(
            "put_call_forwarding(jane)",
            client.put_call_forwarding(&jane, &c).await,
        );
    }
    if let Some(group) = f.expect("get_group", client.get_group(BILLING_FLOOR).await) {
        f.expect(
            "add_group_member",
            client
                .add_group_member(BILLING_FLOOR, &maria, group.version.unwrap_or_default())
                .await,
        );
    }
    if let Some(added) = f.expect(
        "add_team_member",
        client.add_team_member(NIGHT_SHIFT, &maria).await,
    ) {
        f.check(added.failures.is_empty(), "Maria joins the team");
    }
}

/// The errors of the restore operations: unknown ids, a stale group version, invalid bodies.
async fn provoke_restore_errors(raw: &Raw, f: &mut Findings) {
    raw.expect(f, 404, "GET", &format!("/api/v2/groups/{DEAD}"), None)
        .await;
    raw.expect(
        f,
        404,
        "POST",
        &format!("/api/v2/teams/{DEAD}/members"),
        Some(json!({"memberIds": [MARIA]})),
    )
    .await;
    raw.expect(
        f,
        409,
        "POST",
        &format!("/api/v2/groups/{TIER_2}/members"),
        Some(json!({"memberIds": [MARIA], "version": 99})),
    )
    .await;
    raw.expect(
        f,
        400,
        "POST",
        &format!("/api/v2/groups/{TIER_2}/members"),
        Some(json!({"memberIds": []})),
    )
    .await;
    raw.expect(
        f,
        404,
        "GET",
        &format!("/api/v2/routing/users/{DEAD}/utilization"),
        None,
    )
    .await;
    raw.expect(
        f,
        400,
        "PUT",
        &format!("/api/v2/routing/users/{JANE}/utilization"),
        Some(json!({"utilization": {"call": {"maximumCapacity": 99}}})),
    )
    .await;
    raw.expect(
        f,
        400,
        "PUT",
        &format!("/api/v2/users/{JANE}/callforwarding"),
        Some(json!({"enabled": true, "calls": []})),
    )
    .await;
    raw.expect(
        f,
        404,
        "GET",
        &format!("/api/v2/users/{DEAD}/callforwarding"),
        None,
    )
    .await;
}

/// The errors of the callback and quality operations.
async fn provoke_handoff_errors(raw: &Raw, f: &mut Findings) {
    raw.expect(
        f,
        404,
        "PATCH",
        "/api/v2/conversations/callbacks",
        Some(json!({"conversationId": "00000000-0000-4000-8000-00000000dead", "agentId": MARIA})),
    )
    .await;
    raw.expect(
        f,
        404,
        "GET",
        "/api/v2/quality/calibrations/00000000-0000-4000-8000-00000000dead",
        None,
    )
    .await;
    // The evaluations query needs a user or a conversation to look at.
    raw.expect(
        f,
        400,
        "GET",
        "/api/v2/quality/evaluations/query?evaluationState=PENDING",
        None,
    )
    .await;
    // A finished evaluation cannot be reassigned.
    raw.expect(
        f,
        400,
        "PUT",
        "/api/v2/quality/conversations/c0a8e001-0000-4000-8000-000000000005/evaluations/e7a1b2c3-0000-4000-8000-000000000602",
        Some(json!({"assignee": {"id": MARIA}})),
    )
    .await;
    // A conversation that is not a callback cannot be patched as one.
    raw.expect(
        f,
        400,
        "PATCH",
        "/api/v2/conversations/callbacks",
        Some(json!({"conversationId": "c0a8e001-0000-4000-8000-000000000001", "agentId": MARIA})),
    )
    .await;
}

/// Raw HTTP with a token of its own, for the routes the client does not use and for errors.
struct Raw {
    http: reqwest::Client,
    base: url::Url,
    token: String,
}

struct RawResponse {
    status: u16,
    body: Option<Value>,
    retry_after: Option<String>,
}

impl Raw {
    async fn login(sim: &SimHandle, id: &str, secret: &str) -> Self {
        let http = reqwest::Client::new();
        let base = sim.base_url();
        let response: Value = http
            .post(base.join("oauth/token").unwrap())
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = response["access_token"].as_str().unwrap().to_owned();
        Self { http, base, token }
    }

    fn with_token(&self, token: &str) -> Self {
        Self {
            http: self.http.clone(),
            base: self.base.clone(),
            token: token.to_owned(),
        }
    }

    /// `target` is a path with an optional query, e.g. `/api/v2/users?pageSize=5`.
    async fn call(&self, method: &str, target: &str, body: Option<Value>) -> RawResponse {
        let url = self.base.join(target.trim_start_matches('/')).unwrap();
        let mut request = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.unwrap();
        RawResponse {
            status,
            body: serde_json::from_slice(&bytes).ok(),
            retry_after,
        }
    }

    async fn expect(
        &self,
        f: &mut Findings,
        want: u16,
        method: &str,
        target: &str,
        body: Option<Value>,
    ) -> RawResponse {
        let response = self.call(method, target, body).await;
        f.check(
            response.status == want,
            format!(
                "{method} {target}: expected {want}, got {} {}",
                response.status,
                response
                    .body
                    .as_ref()
                    .map(Value::to_string)
                    .unwrap_or_default()
            ),
        );
        response
    }
}

/// The operations the client has no method for, with raw HTTP.
#[allow(clippy::too_many_lines)]
async fn call_the_routes_the_client_does_not_use(raw: &Raw, f: &mut Findings) {
    // The client sends the bulk presence form only for changes that coalesce, which this
    // multi-threaded test cannot make sure of (`coalesced_requests_match_the_contract` checks
    // the client's own); served here so that the operation is answered at least once.
    let bulk = json!([{"id": TOM, "sourceId": "PURECLOUD", "presenceDefinition": {"id": OFFLINE}}]);
    raw.expect(f, 200, "PUT", "/api/v2/users/presences/bulk", Some(bulk))
        .await;
    let end = Utc::now();
    let interval = format!(
        "{}/{}",
        (end - chrono::Duration::days(30)).format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        end.format("%Y-%m-%dT%H:%M:%S%.3fZ")
    );
    raw.expect(
        f,
        200,
        "GET",
        "/api/v2/users/query?pageSize=5&state=any",
        None,
    )
    .await;
    let search = json!({
        "pageSize": 1, "pageNumber": 1,
        "query": [
            {"type": "EXACT", "fields": ["email"], "value": "alex.morgan@example.com"},
            {"type": "EXACT", "fields": ["state"], "values": ["active", "inactive"]}
        ]
    });
    let page = raw
        .expect(f, 200, "POST", "/api/v2/users/search", Some(search))
        .await;
    let next = page.body.as_ref().and_then(|b| {
        b.get("nextPage")
            .or_else(|| b.get("currentPage"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    match next {
        Some(q64) => {
            raw.expect(f, 200, "GET", &q64, None).await;
        }
        None => f.check(
            false,
            "POST /api/v2/users/search with 2 hits and pageSize 1 returned no nextPage/currentPage \
             q64 URI, so get_users_search could not be called",
        ),
    }
    raw.expect(
        f,
        200,
        "GET",
        &format!("/api/v2/users/{JANE}/adjacents"),
        None,
    )
    .await;
    raw.expect(
        f,
        200,
        "PATCH",
        &format!("/api/v2/users/{JANE}/queues"),
        Some(json!([{"id": SALES, "joined": true}])),
    )
    .await;
    raw.expect(
        f,
        200,
        "PATCH",
        &format!("/api/v2/users/{JANE}/queues/{SALES}"),
        Some(json!({"id": SALES, "joined": false})),
    )
    .await;
    raw.expect(
        f,
        200,
        "GET",
        &format!("/api/v2/routing/queues/{BILLING}"),
        None,
    )
    .await;
    raw.expect(
        f,
        200,
        "GET",
        "/api/v2/routing/queues?pageSize=10&name=Bill*",
        None,
    )
    .await;
    raw.expect(
        f,
        200,
        "PATCH",
        &format!("/api/v2/routing/queues/{BILLING}/members"),
        Some(json!([{"id": MARIA, "joined": false}])),
    )
    .await;
    let deleted = raw
        .call(
            "DELETE",
            &format!("/api/v2/routing/queues/{SALES}/members/{ANA}"),
            None,
        )
        .await;
    f.check(
        (200..300).contains(&deleted.status),
        format!("delete_routing_queue_member: got {}", deleted.status),
    );
    raw.expect(f, 200, "GET", "/api/v2/tokens/me", None).await;
    raw.expect(
        f,
        200,
        "GET",
        &format!("/api/v2/analytics/conversations/{FINISHED_CONVERSATION}/details"),
        None,
    )
    .await;
    raw.expect(
        f,
        200,
        "GET",
        "/api/v2/analytics/conversations/details/jobs/availability",
        None,
    )
    .await;
    raw.expect(
        f,
        200,
        "POST",
        "/api/v2/analytics/users/details/query",
        Some(json!({
            "interval": interval,
            "userFilters": [{"type": "or", "predicates": [
                {"type": "dimension", "dimension": "userId", "operator": "matches", "value": JANE}
            ]}],
            "order": "asc",
            "paging": {"pageSize": 25, "pageNumber": 1}
        })),
    )
    .await;
    // The emulator implements DELETE only so tests can prove the client never calls it.
    let deleted = raw
        .call("DELETE", &format!("/api/v2/users/{TOM}"), None)
        .await;
    f.check(
        (200..300).contains(&deleted.status),
        format!("delete_user: got {}", deleted.status),
    );
}

/// 400, 401, 403, 404 and 429 with raw HTTP (the client already met 404 and 409).
async fn provoke_error_responses(sim: &SimHandle, raw: &Raw, f: &mut Findings) {
    let too_many: Vec<Value> = (0..101)
        .map(|i| json!({"id": format!("6a1b0c3e-0000-4000-8000-{i:012}")}))
        .collect();
    raw.expect(
        f,
        400,
        "POST",
        &format!("/api/v2/routing/queues/{BILLING}/members?delete=true"),
        Some(Value::Array(too_many)),
    )
    .await;
    raw.expect(f, 404, "GET", "/api/v2/routing/queues/no-such-queue", None)
        .await;
    provoke_handoff_errors(raw, f).await;
    provoke_restore_errors(raw, f).await;
    raw.with_token("not-a-token")
        .expect(f, 401, "GET", "/api/v2/organizations/me", None)
        .await;
    let readonly = Raw::login(sim, "readonly-client", "readonly-secret").await;
    readonly
        .expect(
            f,
            403,
            "PATCH",
            &format!("/api/v2/users/{MARIA}"),
            Some(json!({"state": "inactive", "version": 2})),
        )
        .await;
    readonly
        .expect(f, 403, "GET", "/api/v2/oauth/clients", None)
        .await;
    let too_many_users: Vec<String> = (0..101)
        .map(|i| format!("6a1b0c3e-0000-4000-8000-{i:012}"))
        .collect();
    raw.expect(
        f,
        400,
        "POST",
        "/api/v2/license/users",
        Some(json!(too_many_users)),
    )
    .await;
    raw.expect(
        f,
        404,
        "GET",
        &format!("/api/v2/workforcemanagement/agents/{TOM}/managementunit"),
        None,
    )
    .await;
    // Past the per-token limit (300 a minute in the demo org) with a fresh token.
    let hammer = Raw::login(sim, "demo-client", "demo-secret").await;
    let mut limited = None;
    for _ in 0..400 {
        let r = hammer.call("GET", "/api/v2/organizations/me", None).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    match limited {
        Some(r) => f.check(
            r.retry_after
                .as_deref()
                .is_some_and(|v| v.parse::<u64>().is_ok()),
            format!("429 without a numeric Retry-After: {:?}", r.retry_after),
        ),
        None => f.check(false, "400 requests on one token never got a 429"),
    }
}

fn exchange(r: &RecordedRequest) -> Exchange<'_> {
    Exchange {
        method: &r.method,
        path: &r.path,
        query: &r.query,
        body: r.body.as_ref(),
        status: r.status,
        response_body: r.response_body.as_ref(),
    }
}

/// Concurrent reads share one request (users by id with expand, one search naming several
/// emails, one details query with an `or` of userId predicates, one callback query with an
/// `or` clause of scoredAgentId predicates), concurrent removals from
/// one queue one member POST and concurrent presence changes one bulk PUT: those coalesced forms match the contract too. A current-thread
/// runtime makes the batching deterministic: every caller joins before the batch is sent.
#[tokio::test]
async fn coalesced_requests_match_the_contract() {
    let contract = Contract::load();
    let sim = Sim::start(Fixture::demo()).await.unwrap();
    let client = &client_for(&sim);
    let mut f = Findings::default();

    // Coalesced forms: concurrent reads share one request (users by id with expand, one search
    // naming several emails, one details query with an `or` of userId predicates) and
    // concurrent removals from one queue one member POST.
    let expand = [
        "routingStatus",
        "presence",
        "station",
        "skills",
        "languages",
    ];
    for (i, read) in futures::future::join_all(
        [JANE, LI, TOM]
            .iter()
            .map(|u| async { client.get_user(&UserId::from(*u), &expand).await }),
    )
    .await
    .into_iter()
    .enumerate()
    {
        f.expect(&format!("coalesced get_user #{i}"), read);
    }
    for (i, search) in futures::future::join_all(
        [
            "jane.doe@example.com",
            "alex.morgan@example.com",
            "sam.taylor@example.com",
        ]
        .iter()
        .map(|e| client.find_users_by_email_all_states(e)),
    )
    .await
    .into_iter()
    .enumerate()
    {
        f.expect(&format!("coalesced email search #{i}"), search);
    }
    let window = last_days(30);
    for (i, read) in futures::future::join_all([JANE, MARIA, ANA].iter().map(|u| async move {
        client
            .user_conversations_sync(&UserId::from(*u), window)
            .await
    }))
    .await
    .into_iter()
    .enumerate()
    {
        f.expect(&format!("coalesced conversations #{i}"), read);
    }
    for (i, read) in futures::future::join_all(
        [JANE, MARIA, ANA]
            .iter()
            .map(|u| async move { client.owned_callbacks_of(&UserId::from(*u), window).await }),
    )
    .await
    .into_iter()
    .enumerate()
    {
        f.expect(&format!("coalesced callback query #{i}"), read);
    }
    for (i, removal) in futures::future::join_all(
        [MARIA, ANA]
            .iter()
            .map(|u| async { client.remove_queue_member(BILLING, &UserId::from(*u)).await }),
    )
    .await
    .into_iter()
    .enumerate()
    {
        f.expect(&format!("coalesced queue removal #{i}"), removal);
    }

    let offline = client.offline_presence_id().await.unwrap();
    for (i, change) in futures::future::join_all([MARIA, ANA].iter().map(|u| async {
        client
            .set_presence_together(&UserId::from(*u), &offline)
            .await
    }))
    .await
    .into_iter()
    .enumerate()
    {
        f.expect(&format!("coalesced presence change #{i}"), change);
    }

    let sent = sim.requests();
    coalesced_forms_were_sent(&sent, &mut f);
    let violations: Vec<String> = sent
        .iter()
        .filter(|r| r.path.starts_with("/api/"))
        .flat_map(|r| contract.check_exchange(&exchange(r)))
        .map(|v| v.to_string())
        .collect();
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(f.0.is_empty(), "{:#?}", f.0);
}

/// The coalesced forms were really sent (they are then checked like every other request).
fn coalesced_forms_were_sent(sent: &[RecordedRequest], findings: &mut Findings) {
    findings.check(
        sent.iter()
            .any(|r| r.path == "/api/v2/users" && r.query.contains("expand=")),
        "a coalesced read of users by id with expand",
    );
    findings.check(
        sent.iter().any(|r| {
            r.path == "/api/v2/users/search"
                && r.body
                    .as_ref()
                    .is_some_and(|b| b["query"][0]["values"].is_array())
        }),
        "a coalesced email search",
    );
    findings.check(
        sent.iter().any(|r| {
            r.path == "/api/v2/analytics/conversations/details/query"
                && r.body
                    .as_ref()
                    .is_some_and(|b| b["segmentFilters"][0]["type"] == "or")
        }),
        "a coalesced details query",
    );
    findings.check(
        sent.iter().any(|r| {
            r.path == "/api/v2/analytics/conversations/details/query"
                && r.body
                    .as_ref()
                    .is_some_and(|b| b["segmentFilters"][0]["clauses"][0]["type"] == "or")
        }),
        "a coalesced callback query (scoredAgentId predicates or-ed in a clause)",
    );
    findings.check(
        sent.iter().any(|r| {
            r.path == "/api/v2/users/presences/bulk"
                && r.body.as_ref().and_then(Value::as_array).map(Vec::len) == Some(2)
        }),
        "a bulk presence change",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_and_emulator_traffic_matches_the_contract() {
    // Arrange
    let contract = Contract::load();
    let sim = Sim::start(Fixture::demo()).await.unwrap();
    let client = client_for(&sim);
    let mut findings = Findings::default();

    // Act
    drive_every_client_method(&client, &mut findings).await;
    let client_requests = sim.requests().len();
    let raw = Raw::login(&sim, "demo-client", "demo-secret").await;
    call_the_routes_the_client_does_not_use(&raw, &mut findings).await;
    provoke_error_responses(&sim, &raw, &mut findings).await;
    let requests = sim.requests();

    // Assert: every exchange matches the contract ...
    let mut violations: Vec<String> = Vec::new();
    let mut succeeded: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    let mut statuses = BTreeSet::new();
    for (i, r) in requests.iter().enumerate() {
        if !r.path.starts_with("/api/") {
            continue; // POST /oauth/token is not an API operation
        }
        let who = if i < client_requests { "client" } else { "raw" };
        statuses.insert(r.status);
        for v in contract.check_exchange(&exchange(r)) {
            violations.push(format!("[{who}] {v}"));
        }
        let Ok(op) = contract.operation(&r.method, &r.path) else {
            continue;
        };
        succeeded.entry(op.id.clone()).or_default().insert(r.status);
        if r.operation.as_deref() != Some(op.id.as_str()) {
            violations.push(format!(
                "[{who}] {} {}: the emulator routed it to {:?}, the contract says {}",
                r.method, r.path, r.operation, op.id
            ));
        }
        if who == "client" && op.id == "delete_user" {
            violations.push(format!(
                "[client] {} {}: the client deleted a user",
                r.method, r.path
            ));
        }
    }

    // ... every contract operation was served with a success ...
    let mut unserved = Vec::new();
    for op in &contract.operations {
        let seen = succeeded.get(&op.id);
        if !seen.is_some_and(|s| s.iter().any(|st| (200..300).contains(st))) {
            unserved.push(format!(
                "{} {} ({}): statuses seen {:?}",
                op.method,
                op.path,
                op.id,
                seen.map(|s| s.iter().collect::<Vec<_>>())
                    .unwrap_or_default()
            ));
        }
    }

    // ... and every kind of error response was exercised.
    for want in [400, 401, 403, 404, 409, 429] {
        findings.check(
            statuses.contains(&want),
            format!("no {want} response was recorded"),
        );
    }

    let mut sections = Vec::new();
    if !violations.is_empty() {
        sections.push(format!(
            "{} contract violations in {} requests:\n  - {}",
            violations.len(),
            requests.len(),
            violations.join("\n  - ")
        ));
    }
    if !unserved.is_empty() {
        sections.push(format!(
            "contract operations never answered with a success:\n  - {}",
            unserved.join("\n  - ")
        ));
    }
    if !findings.0.is_empty() {
        sections.push(format!(
            "unexpected outcomes while driving the emulator:\n  - {}",
            findings.0.join("\n  - ")
        ));
    }
    let message = sections.join("\n");
    assert!(message.is_empty(), "{message}");
    println!(
        "checked {} recorded requests ({} from the client) covering {} of {} contract operations",
        requests.len(),
        client_requests,
        succeeded.len(),
        contract.operations.len()
    );
    sim.shutdown().await;
}

/// A value for each path parameter of the contract, from the demo org.
fn demo_path_params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("userId", JANE),
        ("subjectId", JANE),
        ("memberId", JANE),
        ("queueId", BILLING),
        ("skillId", RETENTION),
        ("languageId", ENGLISH),
        ("sourceId", "purecloud"),
        ("conversationId", FINISHED_CONVERSATION),
        ("jobId", "00000000-0000-4000-8000-0000000000f0"),
        ("agentId", JANE),
        ("workitemId", "7d8e9f00-0000-4000-8000-000000000301"),
        ("evaluationId", "e7a1b2c3-0000-4000-8000-000000000601"),
        ("calibrationId", "ca1b0000-0000-4000-8000-000000000701"),
        ("groupId", BILLING_FLOOR),
        ("teamId", NIGHT_SHIFT),
    ]
}

#[tokio::test]
async fn the_emulator_serves_no_method_the_contract_does_not_declare() {
    // Arrange
    let contract = Contract::load();
    let sim = Sim::start(Fixture::demo()).await.unwrap();
    let raw = Raw::login(&sim, "demo-client", "demo-secret").await;
    let params = demo_path_params();
    let mut paths: Vec<String> = contract
        .operations
        .iter()
        .map(|op| op.path_with(&params))
        .collect();
    paths.sort();
    paths.dedup();
    paths.push("/api/v2/no/such/route".into());

    // Act: every method the contract does not have for each path.
    let mut served = Vec::new();
    let mut probes = 0;
    for path in &paths {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if contract.operation(method, path).is_ok() {
                continue;
            }
            probes += 1;
            let body = (method != "GET" && method != "DELETE").then(|| json!({}));
            let r = raw.call(method, path, body).await;
            if r.status == 404 || r.status == 405 {
                let problems = contract.validate_error_body(r.status, r.body.as_ref());
                if !problems.is_empty() {
                    served.push(format!(
                        "{method} {path}: {}\n{}",
                        r.status,
                        report(&problems)
                    ));
                }
            } else {
                served.push(format!(
                    "{method} {path}: answered {} instead of 404/405",
                    r.status
                ));
            }
        }
    }

    // Assert
    assert!(probes > 100, "only {probes} probes");
    assert!(
        served.is_empty(),
        "the emulator answers methods the contract does not declare:\n  - {}",
        served.join("\n  - ")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_emulator_answer_that_breaks_the_contract_is_caught_from_the_request_log() {
    // Arrange: make the emulator answer one GET with a wrong User and one with a non-ErrorBody.
    let contract = Contract::load();
    let sim = Sim::start(Fixture::demo()).await.unwrap();
    sim.inject(
        Fault::new("GET", "/api/v2/users/*")
            .status(200)
            .body(json!({"id": JANE, "status": "active", "version": "7"})),
    );
    sim.inject(
        Fault::new("GET", "/api/v2/organizations/me")
            .status(503)
            .body(json!({"error": "unavailable"})),
    );
    let raw = Raw::login(&sim, "demo-client", "demo-secret").await;

    // Act
    raw.call("GET", &format!("/api/v2/users/{JANE}?expand=bogus"), None)
        .await;
    raw.call("GET", "/api/v2/organizations/me", None).await;
    let found: Vec<Violation> = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/"))
        .flat_map(|r| contract.check_exchange(&exchange(r)))
        .collect();

    // Assert
    let at: Vec<String> = found
        .iter()
        .map(|v| v.at.rsplit("] ").next().unwrap().to_owned())
        .collect();
    assert_eq!(
        at,
        [
            "?expand",
            "response body $.status",
            "response body $.version",
            "response body $.error",
            "response body $.code",
            "response body $.message",
            "response body $.status",
        ],
        "{}",
        report(&found)
    );
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The copy in contract/ is the shared original, extended only by the operations listed in the
// provenance note (regenerated by the same generator), and the provenance note names its sources.

#[test]
fn contract_copy_extends_the_shared_original_unchanged() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/genesys-contract/contract.json");
    let ours = crate::support::contract::contract_path();
    if !shared.exists() {
        println!(
            "note: {} is absent; skipping the check that {} extends it unchanged",
            shared.display(),
            ours.display()
        );
        return;
    }
    let original: Value = serde_json::from_slice(&std::fs::read(&shared).unwrap()).unwrap();
    let copy: Value = serde_json::from_slice(&std::fs::read(&ours).unwrap()).unwrap();
    let note = std::fs::read_to_string(root.join("contract/PROVENANCE.md")).unwrap();
    // The same generator over a longer operation list: every shared operation and model is there
    // byte for byte, and only from the same sources.
    for key in ["python_sdk", "npm_sdk", "reference_docs", "generator"] {
        assert_eq!(copy["source"][key], original["source"][key], "source.{key}");
    }
    let ops = |doc: &Value| -> BTreeMap<String, Value> {
        doc["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let key = format!(
                    "{} {}",
                    o["method"].as_str().unwrap(),
                    o["path"].as_str().unwrap()
                );
                (key, o.clone())
            })
            .collect()
    };
    let (shared_ops, our_ops) = (ops(&original), ops(&copy));
    for (key, op) in &shared_ops {
        assert_eq!(
            our_ops.get(key),
            Some(op),
            "{key} differs from the shared original"
        );
    }
    for (name, model) in original["models"].as_object().unwrap() {
        assert_eq!(
            &copy["models"][name], model,
            "model {name} differs from the shared original"
        );
    }
    for key in our_ops.keys().filter(|k| !shared_ops.contains_key(*k)) {
        let (method, path) = key.split_once(' ').unwrap();
        assert!(
            note.contains(&format!("(\"{method}\", \"{path}\")")),
            "{key} is not in the shared original and contract/PROVENANCE.md does not list it"
        );
    }
}

#[test]
fn provenance_note_names_the_sdk_versions_the_contract_was_generated_from() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let note = std::fs::read_to_string(root.join("contract/PROVENANCE.md")).unwrap();
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::support::contract::contract_path()).unwrap(),
    )
    .unwrap();
    for key in ["python_sdk", "npm_sdk"] {
        let source = doc["source"][key].as_str().unwrap();
        let (package, version) = source.split_once(' ').unwrap();
        assert!(
            note.contains(package) && note.contains(version),
            "contract/PROVENANCE.md does not name {source} (source.{key} of the contract)"
        );
    }
    assert!(note.contains(doc["source"]["generator"].as_str().unwrap()));
}

// ---------------------------------------------------------------------------------------------
// The validator: it accepts good traffic and rejects each kind of departure.

fn contract() -> Contract {
    Contract::load()
}

fn jane() -> Value {
    json!({
        "id": "6a1b0c3e-0000-4000-8000-000000000001",
        "name": "Jane Doe",
        "division": {"id": "d1", "name": "Home", "selfUri": "/api/v2/authorization/divisions/d1"},
        "email": "jane.doe@example.com",
        "state": "active",
        "version": 7,
        "primaryContactInfo": [{"address": "jane.doe@example.com", "mediaType": "EMAIL", "type": "PRIMARY"}],
        "manager": {"id": "m1", "selfUri": "/api/v2/users/m1"},
        "routingStatus": {"userId": "6a1b", "status": "IDLE", "startTime": "2024-05-01T10:00:00.000Z"},
        "acdAutoAnswer": false,
        "selfUri": "/api/v2/users/6a1b0c3e-0000-4000-8000-000000000001"
    })
}

fn problems_at(found: &[Violation]) -> Vec<&str> {
    found.iter().map(|v| v.at.as_str()).collect()
}

#[test]
fn contract_loads_with_every_operation_and_type_resolved() {
    let c = contract();
    assert_eq!(c.operations.len(), 80);
    assert!(c.models.contains_key("ErrorBody"));
    assert!(c.operation_by_id("patch_user").is_some());
}

#[test]
fn a_contract_naming_an_unknown_model_is_refused() {
    let doc = json!({
        "operations": [{"id": "get_x", "method": "GET", "path": "/x", "query": [], "response": "Missing"}],
        "models": {"ErrorBody": {"fields": {}}}
    });
    let err = Contract::from_value(&doc).unwrap_err();
    assert!(err.contains("Missing"), "{err}");
}

#[test]
fn a_well_formed_user_passes() {
    let found = contract().validate(&jane(), "User");
    assert!(found.is_empty(), "{}", report(&found));
}

#[test]
fn an_unknown_field_is_rejected() {
    let mut user = jane();
    user["status"] = json!("active"); // User has `state`, not `status`
    let found = contract().validate(&user, "User");
    assert_eq!(problems_at(&found), ["$.status"], "{}", report(&found));
}

#[test]
fn a_wrong_json_type_is_rejected() {
    let mut user = jane();
    user["version"] = json!("7");
    user["acdAutoAnswer"] = json!("false");
    user["routingStatus"]["startTime"] = json!("yesterday");
    user["dateLastLogin"] = json!("2024-05-01T10:00:00+02:00"); // Genesys writes UTC, with Z
    let found = contract().validate(&user, "User");
    assert_eq!(
        problems_at(&found),
        [
            "$.acdAutoAnswer",
            "$.dateLastLogin",
            "$.routingStatus.startTime",
            "$.version"
        ],
        "{}",
        report(&found)
    );
}

#[test]
fn a_float_where_an_int_belongs_and_a_null_are_rejected() {
    let mut user = jane();
    user["version"] = json!(7.5);
    user["title"] = Value::Null;
    let found = contract().validate(&user, "User");
    assert_eq!(
        problems_at(&found),
        ["$.title", "$.version"],
        "{}",
        report(&found)
    );
}

#[test]
fn an_out_of_enum_value_is_rejected_also_in_nested_objects() {
    let mut user = jane();
    user["state"] = json!("disabled");
    user["routingStatus"]["status"] = json!("AWAY");
    let found = contract().validate(&user, "User");
    assert_eq!(
        problems_at(&found),
        ["$.routingStatus.status", "$.state"],
        "{}",
        report(&found)
    );
}

#[test]
fn a_missing_required_field_is_rejected_at_the_top_level() {
    let mut user = jane();
    user.as_object_mut().unwrap().remove("version");
    let found = contract().validate(&user, "User");
    assert_eq!(problems_at(&found), ["$.version"], "{}", report(&found));
}

#[test]
fn nested_reference_stubs_may_omit_required_fields_but_full_nested_objects_may_not() {
    let c = contract();
    let mut stub_results = json!({
        "total": 1, "pageCount": 1, "pageSize": 25, "pageNumber": 1, "types": ["users"],
        "results": [jane()]
    });
    // A group reference as a stub is fine although Group requires name, type, ...
    stub_results["results"][0]["groups"] = json!([{"id": "g1", "selfUri": "/api/v2/groups/g1"}]);
    let found = c.validate(&stub_results, "UsersSearchResponse");
    assert!(found.is_empty(), "{}", report(&found));

    // A full user among the results must carry its required version.
    let mut full = stub_results.clone();
    full["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("version");
    let found = c.validate(&full, "UsersSearchResponse");
    assert_eq!(
        problems_at(&found),
        ["$.results[0].version"],
        "{}",
        report(&found)
    );

    // And a listing itself must have its required fields.
    let found = c.validate(&json!({"results": []}), "UsersSearchResponse");
    assert_eq!(found.len(), 5, "{}", report(&found));
}

#[test]
fn lists_and_dicts_check_every_item() {
    let c = contract();
    let body =
        json!({"message": "m", "code": "c", "status": 409, "messageParams": {"a": "x", "b": 3}});
    let found = c.validate(&body, "ErrorBody");
    assert_eq!(
        problems_at(&found),
        ["$.messageParams.b"],
        "{}",
        report(&found)
    );
    let found = c.validate(&json!([{"id": "u1"}, {"id": 2}]), "list[WritableEntity]");
    assert_eq!(problems_at(&found), ["$[1].id"], "{}", report(&found));
    let found = c.validate(&json!({"id": "u1"}), "list[WritableEntity]");
    assert_eq!(problems_at(&found), ["$"], "{}", report(&found));
}

#[test]
fn operations_are_found_by_path_template_preferring_literal_segments() {
    let c = contract();
    let id = |m: &str, p: &str| c.operation(m, p).map(|op| op.id.clone());
    assert_eq!(
        id("POST", "/api/v2/users/search").unwrap(),
        "post_users_search"
    );
    assert_eq!(
        id("GET", "/api/v2/users/search").unwrap(),
        "get_users_search"
    );
    assert_eq!(id("GET", "/api/v2/users/abc").unwrap(), "get_user");
    assert_eq!(id("patch", "/api/v2/users/abc/").unwrap(), "patch_user");
    assert_eq!(
        id(
            "GET",
            "/api/v2/analytics/conversations/details/jobs/availability"
        )
        .unwrap(),
        "get_analytics_conversations_details_jobs_availability"
    );
    assert_eq!(
        id("GET", "/api/v2/analytics/conversations/details/jobs/j1").unwrap(),
        "get_analytics_conversations_details_job"
    );
    assert_eq!(id("GET", "/api/v2/tokens/me").unwrap(), "get_tokens_me");
}

#[test]
fn an_unknown_path_or_method_is_rejected() {
    let c = contract();
    let err = c.operation("GET", "/api/v2/users/abc/unknown").unwrap_err();
    assert!(err.problem.contains("no operation"), "{err}");
    // There is no POST /api/v2/users/query (docs/genesys-api.md §3.3), only GET.
    let err = c.operation("POST", "/api/v2/users/query").unwrap_err();
    assert!(err.problem.contains("only as: GET"), "{err}");
    let err = c.operation("GET", "/oauth/token").unwrap_err();
    assert!(err.problem.contains("no operation"), "{err}");
}

#[test]
fn query_params_accept_comma_joined_and_repeated_lists() {
    let c = contract();
    let get_user = c.operation_by_id("get_user").unwrap();
    for raw in [
        "",
        "expand=routingStatus,presence",
        "expand=routingStatus&expand=presence",
        "expand=routingStatus%2Cpresence&state=deleted",
    ] {
        let found = get_user.validate_query(raw);
        assert!(found.is_empty(), "{raw}: {}", report(&found));
    }
    let get_users = c.operation_by_id("get_users").unwrap();
    let found = get_users.validate_query("id=a,b&id=c&state=any&pageSize=100&pageNumber=2");
    assert!(found.is_empty(), "{}", report(&found));
}

#[test]
fn query_params_reject_unknown_names_bad_values_and_missing_required_ones() {
    let c = contract();
    let get_user = c.operation_by_id("get_user").unwrap();
    let found = get_user.validate_query("expand=routingStatus,bogus&state=inactive&foo=1");
    assert_eq!(
        problems_at(&found),
        ["?expand", "?foo", "?state"],
        "{}",
        report(&found)
    );
    let get_users = c.operation_by_id("get_users").unwrap();
    let found = get_users.validate_query("pageSize=ten&state=any&state=active");
    assert_eq!(
        problems_at(&found),
        ["?pageSize", "?state"],
        "{}",
        report(&found)
    );
    let members = c.operation_by_id("post_routing_queue_members").unwrap();
    let found = members.validate_query("delete=yes");
    assert_eq!(problems_at(&found), ["?delete"], "{}", report(&found));
    let replay = c.operation_by_id("get_users_search").unwrap();
    let found = replay.validate_query("expand=presence");
    assert_eq!(problems_at(&found), ["?q64"], "{}", report(&found));
}

#[test]
fn request_bodies_are_checked_against_the_operation_body_type() {
    let c = contract();
    let patch = c.operation_by_id("patch_user").unwrap();
    let ok = json!({"state": "inactive", "version": 7});
    assert!(c.validate_request_body(patch, Some(&ok)).is_empty());
    let found = c.validate_request_body(patch, Some(&json!({"state": "inactive"})));
    assert_eq!(
        problems_at(&found),
        ["request body $.version"],
        "{}",
        report(&found)
    );
    let found = c.validate_request_body(patch, None);
    assert_eq!(problems_at(&found), ["request body"], "{}", report(&found));
    let get = c.operation_by_id("get_user").unwrap();
    let found = c.validate_request_body(get, Some(&json!({})));
    assert_eq!(problems_at(&found), ["request body"], "{}", report(&found));
}

#[test]
fn error_responses_must_be_error_bodies_with_code_message_and_status() {
    let c = contract();
    let get = c.operation_by_id("get_user").unwrap();
    let good = json!({
        "message": "Resource conflict", "code": "general.conflict", "status": 409,
        "messageWithParams": "Resource conflict", "messageParams": {}, "contextId": "x",
        "details": [], "errors": []
    });
    assert!(c.validate_response_body(get, 409, Some(&good)).is_empty());
    let found = c.validate_response_body(get, 404, Some(&good));
    assert_eq!(
        problems_at(&found),
        ["response body $.status"],
        "{}",
        report(&found)
    );
    let found = c.validate_response_body(get, 400, Some(&json!({"error": "bad"})));
    assert_eq!(
        problems_at(&found),
        [
            "response body $.error",
            "response body $.code",
            "response body $.message",
            "response body $.status"
        ],
        "{}",
        report(&found)
    );
    assert_eq!(c.validate_response_body(get, 500, None).len(), 1);
}

#[test]
fn success_responses_are_checked_against_the_response_type() {
    let c = contract();
    let get = c.operation_by_id("get_user").unwrap();
    assert!(c.validate_response_body(get, 200, Some(&jane())).is_empty());
    assert_eq!(c.validate_response_body(get, 200, None).len(), 1);
    let delete = c.operation_by_id("delete_token").unwrap();
    assert!(c.validate_response_body(delete, 204, None).is_empty());
    assert_eq!(
        c.validate_response_body(delete, 200, Some(&json!({"x": 1})))
            .len(),
        1
    );
}

#[test]
fn check_exchange_reports_every_problem_with_the_request_line() {
    let c = contract();
    let body = json!({"state": "inactive", "version": 7, "enabled": false});
    let mut response = jane();
    response["state"] = json!("gone");
    let found = c.check_exchange(&Exchange {
        method: "PATCH",
        path: "/api/v2/users/u1",
        query: "expand=presence",
        body: Some(&body),
        status: 200,
        response_body: Some(&response),
    });
    let lines: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 3, "{}", report(&found));
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("PATCH /api/v2/users/u1?expand=presence -> 200 [patch_user]")),
        "{lines:?}"
    );
    let unknown = c.check_exchange(&Exchange {
        method: "POST",
        path: "/api/v2/users/query",
        query: "",
        body: Some(&json!({})),
        status: 404,
        response_body: None,
    });
    assert_eq!(unknown.len(), 1, "{}", report(&unknown));
}
