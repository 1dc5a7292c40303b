//! The reconciler against the Genesys Cloud emulator over real HTTP: every scenario of the
//! proof, with assertions on the emulator's stored state (`SimHandle::user`) and request log
//! (`SimHandle::requests`). Every test also checks the safety invariants: no request deletes a
//! user (no `DELETE /api/v2/users/{id}`, no GDPR call), every `PATCH /api/v2/users/{id}` carries
//! only `state` and `version`, and the snapshot is persisted before the first Genesys write.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use genesys_cloud::{ClientConfig, ClientCredentials, Endpoints, GenesysClient, UserId, UserState};
use genesys_emulator::fixture::Fixture;
use genesys_emulator::{Fault, RecordedRequest, Sim, SimHandle};
use genesys_offboarding_operator::crd::{
    ActionOutcome, GenesysUserOffboarding, GenesysUserOffboardingSpec,
    GenesysUserOffboardingStatus, HistoryResult, HistoryStatus, MAX_MESSAGE_BYTES,
    MAX_NOT_APPLIED_ATTEMPTS, MAX_STATUS_BYTES, ManagementPolicy, NotRestorableKind, SnapshotPart,
    condition,
};
use genesys_offboarding_operator::reconcile::drift::{self, Drifted};
use genesys_offboarding_operator::reconcile::error::{CredentialsError, StoreError};
use genesys_offboarding_operator::reconcile::spec::{from_time, to_time};
use genesys_offboarding_operator::reconcile::verify::HISTORY_RECHECK;
use genesys_offboarding_operator::reconcile::{
    ClientProvider, FixedClient, MemoryOwners, MemoryStore, Outcome, PassResult, Reconciled,
    Requeue, StatusStore, reconcile, restore,
};
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::Notify;

use crate::support::genesys::{
    demo_client, demo_org, is_user_path, is_write, kind_demo_org, offboarding, succeeded,
};
use crate::support::invariants::{
    invariants, never_deletes_a_user, state_patches_carry_only_state_and_version,
};

const JANE: &str = "6a1b0c3e-0000-4000-8000-000000000001";
const OMAR: &str = "6a1b0c3e-0000-4000-8000-000000000002";
const LI: &str = "6a1b0c3e-0000-4000-8000-000000000003";
const SAM: &str = "6a1b0c3e-0000-4000-8000-000000000006";
const PRIYA: &str = "6a1b0c3e-0000-4000-8000-000000000007";
const MARIA: &str = "6a1b0c3e-0000-4000-8000-000000000008";
const OMARS_LIVE_CONVERSATION: &str = "c0a8e001-0000-4000-8000-000000000006";
const BILLING: &str = "9b2e4d60-0000-4000-8000-0000000000b1";
const SALES: &str = "9b2e4d60-0000-4000-8000-0000000000b4";
const ESCALATIONS: &str = "9b2e4d60-0000-4000-8000-0000000000b3";

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// How long after the emulator starts Omar's live call ends by itself, in
/// [`demo_org_where_omars_call_ends_soon`].
const OMARS_CALL_LASTS: Duration = Duration::from_secs(3);

/// The demo org in which Omar's live conversation ends by itself [`OMARS_CALL_LASTS`] after the
/// emulator starts.
fn demo_org_where_omars_call_ends_soon() -> Fixture {
    let mut fixture = demo_org();
    let call = fixture
        .conversations
        .iter_mut()
        .find(|c| c.id == OMARS_LIVE_CONVERSATION)
        .unwrap();
    assert!(call.end.is_none(), "the demo org has Omar on a live call");
    call.end = Some(format!("now+{}s", OMARS_CALL_LASTS.as_secs()));
    fixture
}

/// An emulator, a client for it, and the status store of one resource.
struct World {
    sim: SimHandle,
    clients: FixedClient,
    owners: MemoryOwners,
    store: MemoryStore,
}

impl World {
    async fn new(fixture: Fixture) -> Self {
        let sim = Sim::start(fixture).await.unwrap();
        let clients = FixedClient(demo_client(&sim));
        Self {
            sim,
            clients,
            owners: MemoryOwners::new(),
            store: MemoryStore::new(),
        }
    }

    async fn demo() -> Self {
        Self::new(demo_org()).await
    }

    /// One pass that must reach a decision; the resource gets the persisted status.
    async fn pass(&self, resource: &mut GenesysUserOffboarding) -> Reconciled {
        let result = reconcile(resource, &self.clients, &self.owners, &self.store)
            .await
            .into_result();
        let reconciled = result.unwrap_or_else(|e| panic!("the pass failed: {e:?}"));
        assert_eq!(Some(&reconciled.status), self.store.latest().as_ref());
        resource.status = Some(reconciled.status.clone());
        reconciled
    }

    fn user(&self, id: &str) -> Value {
        self.sim.user(id).unwrap()
    }

    /// Requests that change Genesys (searches, analytics queries and jobs, and the token
    /// endpoint are reads).
    fn writes(&self) -> Vec<RecordedRequest> {
        self.sim.requests().into_iter().filter(is_write).collect()
    }

    /// The safety invariants, checked at the end of every test.
    fn check_invariants(&self) {
        invariants(&self.store, &self.sim.requests()).unwrap_or_else(|e| panic!("{e}"));
    }
}

fn status(resource: &GenesysUserOffboarding) -> &GenesysUserOffboardingStatus {
    resource.status.as_ref().unwrap()
}

/// `(status, reason)` of a condition.
fn cond(resource: &GenesysUserOffboarding, type_: &str) -> (String, String) {
    let c = status(resource)
        .condition(type_)
        .unwrap_or_else(|| panic!("no {type_} condition"));
    (c.status.clone(), c.reason.clone())
}

fn message(resource: &GenesysUserOffboarding, type_: &str) -> String {
    status(resource).condition(type_).unwrap().message.clone()
}

fn is(value: &str, reason: &str) -> (String, String) {
    (value.to_owned(), reason.to_owned())
}

fn planned_steps(resource: &GenesysUserOffboarding) -> Vec<String> {
    status(resource)
        .plan
        .iter()
        .map(|p| p.step.to_string())
        .collect()
}

fn queue_ids(user: &Value) -> Vec<String> {
    user["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["queueId"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The happy path and the users that must not be touched
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_demo_agent_is_offboarded_and_her_history_is_kept() {
    let world = World::demo().await;
    let mut jane = offboarding("user: {email: jane.doe@example.com}\nreason: Voluntary\n");

    let pass = world.pass(&mut jane).await;

    assert_eq!(
        pass.outcome,
        Outcome::Done {
            recheck_after: Duration::from_secs(3600)
        }
    );
    for (type_, expected) in [
        (condition::READY, is("True", "Offboarded")),
        (condition::RECONCILING, is("False", "Idle")),
        (condition::STALLED, is("False", "Idle")),
        (condition::USER_RESOLVED, is("True", "Resolved")),
        (condition::ROUTING_DRAINED, is("True", "Drained")),
        (condition::DEACTIVATED, is("True", "UserInactive")),
        (
            condition::SESSIONS_REVOKED,
            is("Unknown", "RevocationAccepted"),
        ),
        (condition::HISTORY_VERIFIED, is("True", "HistoryPreserved")),
    ] {
        assert_eq!(cond(&jane, type_), expected, "{type_}");
    }
    let s = status(&jane);
    assert_eq!(s.observed_generation, Some(1));
    assert!(s.plan.is_empty(), "nothing left to do: {:?}", s.plan);
    let history = s.history.as_ref().unwrap();
    assert_eq!(history.result, Some(HistoryResult::Preserved));
    assert_eq!(history.conversations_before, Some(4));
    assert_eq!(history.conversations_after, Some(4));
    let snapshot = s.snapshot.as_ref().unwrap();
    assert_eq!(snapshot.queues.len(), 2);
    assert_eq!(snapshot.skills.len(), 2);
    assert_eq!(snapshot.roles.len(), 1);
    assert!(
        pass.events
            .iter()
            .any(|e| e.reason == "Offboarded" && !e.warning)
    );

    let stored = world.user(JANE);
    assert_eq!(stored["state"], "inactive");
    assert_eq!(stored["routingStatus"]["status"], "OFF_QUEUE");
    assert_eq!(stored["hasSessions"], false);
    assert!(queue_ids(&stored).is_empty(), "{stored}");
    assert!(stored["station"]["associated"].is_null());
    assert!(stored["station"]["default"].is_null());
    assert_eq!(stored["stateChange"]["reason"], "Voluntary");
    assert_eq!(
        stored["skills"].as_array().unwrap().len(),
        2,
        "skills stay unless removeSkills"
    );
    let deactivations = world
        .writes()
        .into_iter()
        .filter(|r| r.method == "PATCH" && is_user_path(&r.path))
        .count();
    assert_eq!(deactivations, 1);
    world.check_invariants();
}

#[tokio::test]
async fn the_demo_agent_is_offboarded_in_twenty_three_calls_with_one_search_one_user_read_and_one_read_back()
 {
    // The anatomy of a pass when Genesys honours every `expand` (the default profile): on the
    // realistic one an answer may drop them, and each dropped part costs its own read
    // (`what_the_expand_leaves_out_is_read_with_its_own_call`).
    let world = World::new(kind_demo_org()).await;
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    let pass = world.pass(&mut jane).await;

    assert!(matches!(pass.outcome, Outcome::Done { .. }));
    // The impact preflight's reads are counted on their own: one each of its nine operations
    // for a lone offboarding (tests/integration/impact.rs shows how a wave shares them).
    let all: Vec<RecordedRequest> = world
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v2/"))
        .collect();
    let (preflight, requests): (Vec<RecordedRequest>, Vec<RecordedRequest>) =
        all.into_iter().partition(|r| {
            r.operation.as_deref().is_some_and(|op| {
                op.starts_with("get_architect_")
                    || op.starts_with("post_alerting_")
                    || op == "get_oauth_clients"
                    || op.starts_with("get_recording_")
                    || op.starts_with("get_workforcemanagement_")
                    || op == "post_license_users"
                    || op.starts_with("get_telephony_")
            })
        });
    assert_eq!(preflight.len(), 9, "{preflight:#?}");
    let count = |method: &str, path: &str| {
        requests
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    };
    let user_path = format!("/api/v2/users/{JANE}");
    assert_eq!(
        count("POST", "/api/v2/users/search"),
        1,
        "the search covers deleted users too"
    );
    assert_eq!(
        count("GET", &user_path),
        2,
        "one expanded read of the user, and one after the drain to read it back"
    );
    assert_eq!(
        count("GET", &format!("{user_path}/queues")),
        4,
        "both halves of her queue list (one queue joined, one not), then both read back"
    );
    for separate in [
        "routingstatus",
        "presences/purecloud",
        "routingskills",
        "routinglanguages",
        "station",
    ] {
        assert_eq!(
            count("GET", &format!("{user_path}/{separate}")),
            0,
            "{separate} came with expand"
        );
    }
    assert_eq!(
        count("PUT", &format!("{user_path}/routingstatus")),
        1,
        "nothing promises that presence Offline takes her off queue: the routing status is set \
         with it, and one read confirms both"
    );
    assert_eq!(world.user(JANE)["routingStatus"]["status"], "OFF_QUEUE");
    for setting in [
        format!("/api/v2/routing/users/{JANE}/utilization"),
        format!("{user_path}/callforwarding"),
    ] {
        assert_eq!(
            count("GET", &setting),
            1,
            "{setting}: read once, for the snapshot, and never written"
        );
        assert_eq!(count("PUT", &setting), 0);
    }
    assert!(
        requests.iter().all(|r| !r.path.contains("/details/jobs")),
        "90 days are read as three synchronous slices, not a job"
    );
    let queries: Vec<&RecordedRequest> = requests
        .iter()
        .filter(|r| r.path == "/api/v2/analytics/conversations/details/query")
        .collect();
    assert_eq!(
        queries.len(),
        5,
        "three slices before (which double as the live-conversation guard), then again only \
         the two that held her four conversations (the last 40 days)"
    );
    let interval = |r: &RecordedRequest| r.body.as_ref().unwrap()["interval"].clone();
    for after in &queries[3..] {
        assert!(
            queries[..3].iter().any(|b| interval(b) == interval(after)),
            "an after read is one of the slices read before"
        );
    }
    assert_ne!(interval(queries[3]), interval(queries[4]));
    let definitions = count("GET", "/api/v2/presence/definitions");
    assert_eq!(definitions, 1, "looked up once per client, then cached");
    assert_eq!(
        requests.len() - definitions,
        23,
        "{:#?}",
        requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
    assert!(requests.iter().all(succeeded));
    world.check_invariants();
}

#[tokio::test]
async fn the_tutorials_work_with_a_minimal_snapshot_costs_the_search_one_user_read_the_write_and_the_proof()
 {
    // The like-for-like spec of the race with the tutorial (examples/bulk.rs `--work tutorial`):
    // no drain, no revocation, 30 days of history, a `Minimal` snapshot and no preflight.
    let world = World::new(kind_demo_org()).await;
    let mut jane = offboarding(
        "user: {email: jane.doe@example.com}\n\
         routing: {setOffQueue: false, removeFromQueues: false, clearStation: false}\n\
         revokeSessions: false\nhistory: {lookbackDays: 30}\n\
         snapshot: {scope: Minimal}\nimpact: {preflight: false}\n",
    );

    let pass = world.pass(&mut jane).await;

    assert!(matches!(pass.outcome, Outcome::Done { .. }), "{pass:?}");
    let requests: Vec<String> = world
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v2/"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let user_path = format!("/api/v2/users/{JANE}");
    assert_eq!(
        requests,
        [
            "POST /api/v2/users/search".to_owned(),
            format!("GET {user_path}"),
            "POST /api/v2/analytics/conversations/details/query".to_owned(),
            format!("PATCH {user_path}"),
            "POST /api/v2/analytics/conversations/details/query".to_owned(),
        ],
        "no queue lists, role grants, utilization, call forwarding or preflight reads"
    );
    assert_eq!(world.user(JANE)["state"], "inactive");
    let status = jane.status.as_ref().unwrap();
    let snapshot = status.snapshot.as_ref().unwrap();
    assert_eq!(
        snapshot.not_recorded,
        [
            SnapshotPart::Queues,
            SnapshotPart::RoleGrants,
            SnapshotPart::Utilization,
            SnapshotPart::CallForwarding
        ]
    );
    assert!(snapshot.queues.is_empty() && snapshot.roles.is_empty());
    assert!(
        !snapshot.skills.is_empty(),
        "what the user read carries is kept"
    );
    assert!(status.impact.is_none(), "no preflight, no impact listed");
    world.check_invariants();
}

#[tokio::test]
async fn a_minimal_snapshot_records_the_queues_before_a_changed_spec_removes_them() {
    let world = World::demo().await;
    let mut jane = offboarding(
        "user: {email: jane.doe@example.com}\n\
         routing: {setOffQueue: false, removeFromQueues: false, clearStation: false}\n\
         snapshot: {scope: Minimal}\n",
    );
    let queues_before = queue_ids(&world.user(JANE));
    assert!(!queues_before.is_empty());
    world.pass(&mut jane).await;
    let snapshot = jane.status.as_ref().unwrap().snapshot.clone().unwrap();
    assert!(snapshot.not_recorded.contains(&SnapshotPart::Queues));
    assert_eq!(queue_ids(&world.user(JANE)), queues_before);
    let taken_at = snapshot.taken_at.clone();

    // The platform team now wants her out of her queues too.
    jane.spec.routing.remove_from_queues = true;
    let pass = world.pass(&mut jane).await;

    assert!(matches!(pass.outcome, Outcome::Done { .. }), "{pass:?}");
    let snapshot = jane.status.as_ref().unwrap().snapshot.clone().unwrap();
    assert!(!snapshot.not_recorded.contains(&SnapshotPart::Queues));
    let mut recorded: Vec<String> = snapshot
        .queues
        .iter()
        .filter(|q| q.member_by != Some(genesys_cloud::MemberBy::Group))
        .map(|q| q.id.clone())
        .collect();
    recorded.sort();
    let mut direct = queues_before.clone();
    direct.sort();
    assert_eq!(recorded, direct, "recorded before they were removed");
    assert_eq!(
        snapshot.taken_at, taken_at,
        "the same snapshot, completed, not a new one"
    );
    assert!(queue_ids(&world.user(JANE)).is_empty());
    world.check_invariants();
}

#[tokio::test]
async fn what_the_expand_leaves_out_is_read_with_its_own_call() {
    // Arrange: Genesys answers the expanded read without any sub-object ("best effort").
    let world = World::demo().await;
    world.sim.inject(
        Fault::new("GET", &format!("/api/v2/users/{JANE}"))
            .status(200)
            .body(serde_json::json!({
                "id": JANE, "name": "Jane Doe", "email": "jane.doe@example.com",
                "state": "active", "version": 7
            })),
    );
    let mut jane = offboarding(
        "user: {email: jane.doe@example.com}\nrouting: {removeSkills: true, removeLanguages: true}\n",
    );

    // Act
    let pass = world.pass(&mut jane).await;

    // Assert: each sub-object was read on its own, and the snapshot is complete.
    assert!(
        matches!(pass.outcome, Outcome::Done { .. }),
        "{:?}",
        pass.outcome
    );
    for separate in [
        "routingstatus",
        "presences/purecloud",
        "routingskills",
        "routinglanguages",
        "station",
    ] {
        let path = format!("/api/v2/users/{JANE}/{separate}");
        assert!(
            world
                .sim
                .requests()
                .iter()
                .any(|r| r.method == "GET" && r.path == path),
            "no GET {path}"
        );
    }
    let snapshot = status(&jane).snapshot.clone().unwrap();
    assert_eq!(snapshot.routing_status.as_deref(), Some("IDLE"));
    assert_eq!(snapshot.presence.as_deref(), Some("Available"));
    assert_eq!((snapshot.skills.len(), snapshot.languages.len()), (2, 1));
    assert!(snapshot.station.unwrap().associated.is_some());
    let stored = world.user(JANE);
    assert_eq!(stored["state"], "inactive");
    assert!(stored["skills"].as_array().unwrap().is_empty());
    world.check_invariants();
}

#[tokio::test]
async fn a_second_pass_over_an_offboarded_user_only_reads() {
    let world = World::demo().await;
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");
    world.pass(&mut jane).await;
    let writes_before = world.writes().len();
    let status_before = status(&jane).clone();

    let pass = world.pass(&mut jane).await;

    assert!(matches!(pass.outcome, Outcome::Done { .. }));
    assert_eq!(
        world.writes().len(),
        writes_before,
        "a re-check writes nothing"
    );
    assert_eq!(status(&jane).snapshot, status_before.snapshot);
    assert_eq!(
        status(&jane).conditions,
        status_before.conditions,
        "conditions are quiet"
    );
    assert!(status(&jane).last_drift_check.is_some());
    world.check_invariants();
}

/// The steps of a pass result: what the controller publishes one Event each for.
fn step_names(pass: &PassResult) -> Vec<String> {
    pass.steps.iter().map(|a| a.step.to_string()).collect()
}

#[tokio::test]
async fn each_pass_result_lists_the_steps_that_pass_carried_out_and_no_others() {
    let world = World::demo().await;
    // The deactivation is accepted but not applied: the first pass fails there.
    world
        .sim
        .inject(Fault::new("PATCH", &format!("/api/v2/users/{JANE}")).ignore_write());
    let mut jane = offboarding("user: {email: jane.doe@example.com}\ndeletionPolicy: Restore\n");

    let failed = reconcile(&jane, &world.clients, &world.owners, &world.store).await;
    let persisted = world.store.latest();
    jane.status = Some(failed.status.clone());
    let finished = reconcile(&jane, &world.clients, &world.owners, &world.store).await;
    jane.status = Some(finished.status.clone());
    let recheck = reconcile(&jane, &world.clients, &world.owners, &world.store).await;
    jane.status = Some(recheck.status.clone());
    let restored = restore(&jane, &world.clients, &world.owners, &world.store).await;

    // A failed pass still says what it did, and what it persisted.
    let error = failed.result.as_ref().unwrap_err();
    assert_eq!(error.reason(), "ChangeNotApplied");
    assert_eq!(failed.requeue(chrono::Utc::now()), Requeue::Backoff);
    assert_eq!(Some(&failed.status), persisted.as_ref());
    let first = step_names(&failed);
    assert!(!first.is_empty(), "the steps before the deactivation ran");
    assert!(!first.contains(&"Deactivate".to_owned()), "{first:?}");
    // The next pass carries out the rest; together, each succeeded action once, in order.
    assert!(matches!(finished.result, Ok(Outcome::Done { .. })));
    let second = step_names(&finished);
    assert!(second.contains(&"Deactivate".to_owned()), "{second:?}");
    let succeeded: Vec<String> = finished
        .status
        .actions
        .iter()
        .filter(|a| a.outcome == ActionOutcome::Succeeded)
        .map(|a| a.step.to_string())
        .collect();
    assert_eq!([first, second].concat(), succeeded);
    // A re-check does nothing, and its result says so.
    assert!(matches!(recheck.result, Ok(Outcome::Done { .. })));
    assert_eq!(step_names(&recheck), Vec::<String>::new());
    // A restore lists what it put back.
    assert!(matches!(restored.result, Ok(Outcome::Done { .. })));
    let put_back = step_names(&restored);
    assert!(
        put_back.contains(&"RestoreState".to_owned()),
        "{put_back:?}"
    );
    assert!(
        put_back.iter().all(|s| s.starts_with("Restore")),
        "{put_back:?}"
    );
    world.check_invariants();
}

#[tokio::test]
async fn an_already_inactive_user_is_only_read() {
    let world = World::demo().await;
    let mut li = offboarding("user: {email: li.wei@example.com}\nreason: Leave\n");
    let before = world.user(LI);

    let pass = world.pass(&mut li).await;

    assert!(matches!(pass.outcome, Outcome::Done { .. }));
    assert!(world.writes().is_empty(), "writes: {:?}", world.writes());
    assert_eq!(world.user(LI), before);
    assert_eq!(cond(&li, condition::READY), is("True", "Offboarded"));
    assert_eq!(
        cond(&li, condition::DEACTIVATED),
        is("True", "UserInactive")
    );
    assert_eq!(
        cond(&li, condition::SESSIONS_REVOKED),
        is("False", "AlreadyInactive")
    );
    assert_eq!(
        status(&li)
            .user
            .as_ref()
            .unwrap()
            .state_before
            .as_ref()
            .map(UserState::as_str),
        Some("inactive")
    );
    world.check_invariants();
}

#[tokio::test]
async fn a_queue_membership_through_a_group_is_reported_and_not_failed_on() {
    let world = World::demo().await;
    let mut priya = offboarding("user: {email: priya.patel@example.com}\n");

    let pass = world.pass(&mut priya).await;

    assert!(
        matches!(pass.outcome, Outcome::Done { .. }),
        "{:?}",
        pass.outcome
    );
    assert_eq!(cond(&priya, condition::READY), is("True", "Offboarded"));
    assert_eq!(
        cond(&priya, condition::ROUTING_DRAINED),
        is("True", "Drained")
    );
    assert!(message(&priya, condition::ROUTING_DRAINED).contains("through a group"));
    let groups = &status(&priya).group_memberships;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].queue.name.as_deref(), Some("Escalations"));
    assert_eq!(
        groups[0].group.as_ref().unwrap().name.as_deref(),
        Some("Tier 2")
    );
    let stored = world.user(PRIYA);
    assert_eq!(
        queue_ids(&stored),
        [ESCALATIONS],
        "only the group membership is left"
    );
    assert_eq!(stored["queues"][0]["viaGroup"], true);
    world.check_invariants();
}

#[tokio::test]
async fn an_ambiguous_email_stalls_without_touching_genesys() {
    let world = World::demo().await;
    let mut alex = offboarding("user: {email: alex.morgan@example.com}\n");

    let pass = world.pass(&mut alex).await;

    assert!(matches!(
        pass.outcome,
        Outcome::Stalled {
            reason: "AmbiguousUser",
            ..
        }
    ));
    assert!(world.writes().is_empty(), "writes: {:?}", world.writes());
    assert_eq!(cond(&alex, condition::STALLED), is("True", "AmbiguousUser"));
    assert_eq!(cond(&alex, condition::READY), is("False", "AmbiguousUser"));
    assert_eq!(cond(&alex, condition::RECONCILING).0, "False");
    assert_eq!(
        cond(&alex, condition::USER_RESOLVED),
        is("False", "AmbiguousUser")
    );
    assert!(message(&alex, condition::STALLED).contains("set spec.user.id"));
    assert!(status(&alex).snapshot.is_none());
    assert!(
        pass.events
            .iter()
            .any(|e| e.reason == "AmbiguousUser" && e.warning)
    );
    world.check_invariants();
}

#[tokio::test]
async fn a_deleted_user_stalls_and_is_never_restored() {
    let world = World::demo().await;
    let mut sam = offboarding("user: {email: sam.taylor@example.com}\n");
    let mut sam_by_id = offboarding(&format!("user: {{id: {SAM}}}\n"));

    let by_email = world.pass(&mut sam).await;
    let by_id = world.pass(&mut sam_by_id).await;

    for pass in [by_email, by_id] {
        assert!(matches!(
            pass.outcome,
            Outcome::Stalled {
                reason: "UserDeleted",
                ..
            }
        ));
    }
    assert!(world.writes().is_empty(), "writes: {:?}", world.writes());
    assert_eq!(world.user(SAM)["state"], "deleted");
    assert_eq!(cond(&sam, condition::STALLED), is("True", "UserDeleted"));
    world.check_invariants();
}

#[tokio::test]
async fn an_unknown_user_stalls_as_not_found() {
    let world = World::demo().await;
    let mut nobody = offboarding("user: {email: nobody@example.com}\n");
    let mut no_id = offboarding("user: {id: 6a1b0c3e-0000-4000-8000-0000000000ff}\n");

    let by_email = world.pass(&mut nobody).await;
    let by_id = world.pass(&mut no_id).await;

    for pass in [by_email, by_id] {
        assert!(matches!(
            pass.outcome,
            Outcome::Stalled {
                reason: "UserNotFound",
                ..
            }
        ));
    }
    assert!(world.writes().is_empty());
    assert_eq!(
        cond(&no_id, condition::USER_RESOLVED),
        is("False", "UserNotFound")
    );
    world.check_invariants();
}

#[tokio::test]
async fn an_id_and_an_email_of_two_different_users_stall_as_a_mismatch() {
    let world = World::demo().await;
    let mut mixed = offboarding(&format!(
        "user: {{id: {MARIA}, email: jane.doe@example.com}}\n"
    ));

    let pass = world.pass(&mut mixed).await;

    assert!(matches!(
        pass.outcome,
        Outcome::Stalled {
            reason: "IdEmailMismatch",
            ..
        }
    ));
    assert!(world.writes().is_empty());
    world.check_invariants();
}

#[tokio::test]
async fn an_invalid_spec_stalls_before_any_call() {
    let world = World::demo().await;
    let mut invalid = offboarding("user: {email: not-an-email}\n");

    let pass = world.pass(&mut invalid).await;

    assert!(matches!(
        pass.outcome,
        Outcome::Stalled {
            reason: "InvalidSpec",
            ..
        }
    ));
    assert!(world.sim.requests().is_empty(), "no call at all");
}

#[tokio::test]
async fn a_base_url_with_a_password_stalls_and_the_password_appears_nowhere() {
    let world = World::demo().await;
    let mut resource = offboarding("user: {email: jane.doe@example.com}\n");
    resource.spec.region = None;
    resource.spec.api_base_url = Some("https://jane:hunter2@api.example.com/".into());
    resource.spec.login_base_url = Some("https://login.example.com/?token=hunter3#hunter4".into());

    let pass = world.pass(&mut resource).await;

    assert!(matches!(
        pass.outcome,
        Outcome::Stalled {
            reason: "InvalidSpec",
            ..
        }
    ));
    let shown = format!(
        "{} {:?}",
        serde_json::to_string(&resource.status).unwrap(),
        pass.events
    );
    for secret in ["hunter2", "hunter3", "hunter4"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(world.sim.requests().is_empty(), "no call at all");
}

/// A client of `base` that gives up at once: one attempt, a short timeout.
fn impatient_client(base: &str) -> FixedClient {
    let endpoints = Endpoints::parse(base, base).unwrap();
    let credentials =
        ClientCredentials::new("demo-client", SecretString::from("demo-secret".to_owned()));
    let config = ClientConfig::new(endpoints, credentials)
        .with_max_retries(0)
        .with_request_timeout(Duration::from_secs(2));
    FixedClient(GenesysClient::new(config).unwrap())
}

/// A loopback listener that treats each connection with `serve`; its `host:port`.
async fn listener(serve: impl Fn(tokio::net::TcpStream) + Send + 'static) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            serve(stream);
        }
    });
    address
}

#[tokio::test]
async fn every_way_of_not_reaching_genesys_reads_the_same_in_status() {
    use tokio::io::AsyncWriteExt as _;
    let closed = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let reset = listener(drop).await;
    let silent = listener(|stream| {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(stream);
        });
    })
    .await;
    let plain_http = listener(|mut stream| {
        tokio::spawn(async move {
            let _ = stream
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await;
        });
    })
    .await;
    let cases = [
        ("refused", format!("http://{closed}/")),
        ("reset", format!("http://{reset}/")),
        ("timeout", format!("http://{silent}/")),
        (
            "not TLS",
            format!("https://localhost:{}/", plain_http.port()),
        ),
        ("no such name", "https://genesys.invalid/".to_owned()),
    ];

    let mut messages = Vec::new();
    for (what, base) in &cases {
        let store = MemoryStore::new();
        let resource = offboarding("user: {email: jane.doe@example.com}\n");
        let result = reconcile(
            &resource,
            &impatient_client(base),
            &MemoryOwners::new(),
            &store,
        )
        .await
        .into_result();

        let error = result.expect_err(what);
        assert_eq!(error.reason(), "TransientError", "{what}: {error:?}");
        let status = store.latest().unwrap();
        let ready = status.condition(condition::READY).unwrap();
        assert_eq!(ready.reason, "TransientError", "{what}");
        messages.push((what, ready.message.clone()));
    }

    for (what, message) in &messages {
        assert_eq!(message, &messages[0].1, "{what} reads differently");
        for detail in [
            "127.0.0.1",
            "localhost",
            "invalid",
            "dns",
            "refused",
            "tls",
            "certificate",
        ] {
            assert!(
                !message.to_lowercase().contains(detail),
                "{what}: {detail} in {message}"
            );
        }
    }
    assert!(
        messages[0].1.contains("could not reach Genesys Cloud"),
        "{}",
        messages[0].1
    );
}

#[tokio::test]
async fn a_login_url_that_answers_404_is_a_wrong_endpoint_not_rejected_credentials() {
    let world = World::demo().await;
    world.sim.inject(
        Fault::new("POST", "/oauth/token")
            .status(404)
            .raw_body("<html><body>Not Found</body></html>"),
    );
    let mut resource = offboarding("user: {email: jane.doe@example.com}\n");

    let pass = world.pass(&mut resource).await;

    assert!(
        matches!(
            pass.outcome,
            Outcome::Stalled {
                reason: "LoginEndpointInvalid",
                ..
            }
        ),
        "{:?}",
        pass.outcome
    );
    assert_eq!(
        cond(&resource, condition::STALLED),
        is("True", "LoginEndpointInvalid")
    );
    let shown = message(&resource, condition::READY);
    assert!(!shown.contains("404"), "{shown}");
    assert!(shown.contains("loginBaseUrl"), "{shown}");
    assert!(
        world
            .sim
            .requests()
            .iter()
            .all(|r| !r.path.starts_with("/api/v2/")),
        "no API call without a token"
    );
}

#[tokio::test]
async fn a_suspended_resource_makes_no_call() {
    let world = World::demo().await;
    let mut suspended = offboarding("user: {email: jane.doe@example.com}\nsuspend: true\n");

    let pass = world.pass(&mut suspended).await;

    assert_eq!(pass.outcome, Outcome::Suspended);
    assert!(world.sim.requests().is_empty(), "no call at all");
    assert_eq!(
        cond(&suspended, condition::RECONCILING),
        is("False", "Suspended")
    );
}

// ---------------------------------------------------------------------------------------------
// Waiting: effectiveAt, Observe, live conversations
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_future_effective_at_waits_without_writing() {
    let world = World::demo().await;
    let mut later =
        offboarding("user: {email: jane.doe@example.com}\neffectiveAt: 2099-01-01T09:00:00Z\n");

    let pass = world.pass(&mut later).await;

    let Outcome::Wait {
        reason,
        until,
        after,
    } = pass.outcome
    else {
        panic!("expected a wait, got {:?}", pass.outcome);
    };
    assert_eq!(reason, "Scheduled");
    assert_eq!(until, Some("2099-01-01T09:00:00Z".parse().unwrap()));
    assert!(after > Duration::from_secs(365 * 24 * 3600));
    assert!(world.writes().is_empty());
    assert_eq!(world.user(JANE)["state"], "active");
    assert_eq!(
        cond(&later, condition::RECONCILING),
        is("True", "Scheduled")
    );
    assert!(message(&later, condition::RECONCILING).contains("2099-01-01T09:00:00"));
    assert_eq!(cond(&later, condition::READY), is("False", "Scheduled"));
    assert!(
        status(&later).snapshot.is_none(),
        "nothing but the resolution before effectiveAt"
    );
    world.check_invariants();
}

#[tokio::test]
async fn an_effective_at_in_the_past_does_not_hold_anything_back() {
    let world = World::demo().await;
    let mut due =
        offboarding("user: {email: jane.doe@example.com}\neffectiveAt: 2020-01-01T00:00:00Z\n");

    let pass = world.pass(&mut due).await;

    assert!(matches!(pass.outcome, Outcome::Done { .. }));
    assert_eq!(world.user(JANE)["state"], "inactive");
    world.check_invariants();
}

#[tokio::test]
async fn observe_mode_plans_everything_and_writes_nothing() {
    let world = World::demo().await;
    let mut dry = offboarding(
        "user: {email: jane.doe@example.com}\nmanagementPolicy: Observe\nreason: Voluntary\n",
    );
    let before = world.user(JANE);

    let pass = world.pass(&mut dry).await;

    assert!(matches!(pass.outcome, Outcome::Done { .. }));
    assert!(world.writes().is_empty(), "writes: {:?}", world.writes());
    assert_eq!(world.user(JANE), before);
    assert_eq!(cond(&dry, condition::READY), is("True", "Observing"));
    assert!(
        status(&dry).snapshot.is_some(),
        "Observe takes the snapshot"
    );
    assert_eq!(
        planned_steps(&dry),
        [
            "SetOffQueue",
            "SetPresenceOffline",
            "RemoveFromQueue",
            "RemoveFromQueue",
            "ClearAssociatedStation",
            "ClearDefaultStation",
            "Deactivate",
            "RecordReason",
            "RevokeSessions",
            "VerifyHistory",
        ]
    );
    let targets: Vec<_> = status(&dry)
        .plan
        .iter()
        .filter_map(|p| p.target.clone())
        .collect();
    assert!(targets.contains(&BILLING.to_owned()) && targets.contains(&SALES.to_owned()));
    assert!(status(&dry).plan.iter().all(|p| p.detail.is_some()));
    assert_eq!(cond(&dry, condition::DEACTIVATED), is("False", "Pending"));
    world.check_invariants();
}

#[tokio::test]
async fn a_live_conversation_holds_the_offboarding_until_it_ends() {
    // Arrange: Omar is on a live call that ends by itself a few seconds from now.
    let world = World::new(demo_org_where_omars_call_ends_soon()).await;
    let call_over = tokio::time::Instant::now() + OMARS_CALL_LASTS + Duration::from_millis(100);
    let mut omar = offboarding("user: {email: omar.haddad@example.com}\n");

    // Act 1: the call is live.
    let waiting = world.pass(&mut omar).await;

    let Outcome::Wait {
        reason,
        until: None,
        ..
    } = waiting.outcome
    else {
        panic!("expected a wait, got {:?}", waiting.outcome);
    };
    assert_eq!(reason, "WaitingForActiveConversation");
    assert!(world.writes().is_empty(), "writes: {:?}", world.writes());
    assert_eq!(world.user(OMAR)["state"], "active");
    assert_eq!(
        cond(&omar, condition::RECONCILING),
        is("True", "WaitingForActiveConversation")
    );
    assert!(message(&omar, condition::RECONCILING).contains(OMARS_LIVE_CONVERSATION));
    let first_snapshot = status(&omar).snapshot.clone().unwrap();
    assert!(planned_steps(&omar).contains(&"Deactivate".to_owned()));

    // Act 2: the call has ended; the resource keeps its status.
    tokio::time::sleep_until(call_over).await;
    let done = world.pass(&mut omar).await;

    assert!(
        matches!(done.outcome, Outcome::Done { .. }),
        "{:?}",
        done.outcome
    );
    assert_eq!(world.user(OMAR)["state"], "inactive");
    assert_eq!(
        status(&omar).snapshot.as_ref(),
        Some(&first_snapshot),
        "the first snapshot stays"
    );
    assert_eq!(cond(&omar, condition::READY), is("True", "Offboarded"));
    let history = status(&omar).history.clone().unwrap();
    assert_eq!(history.result, Some(HistoryResult::Preserved));
    assert_eq!(history.conversations_after, history.conversations_before);
    world.check_invariants();
}

#[tokio::test]
async fn proceed_does_not_wait_for_a_live_conversation() {
    let world = World::demo().await;
    let mut omar = offboarding(
        "user: {email: omar.haddad@example.com}\nrouting: {activeConversations: Proceed}\n",
    );

    let pass = world.pass(&mut omar).await;

    assert!(matches!(pass.outcome, Outcome::Done { .. }));
    assert_eq!(world.user(OMAR)["state"], "inactive");
    world.check_invariants();
}

// ---------------------------------------------------------------------------------------------
// History that is late or moves between pages
// ---------------------------------------------------------------------------------------------

const ANAS_CALL: &str = "c0a8e001-0000-4000-8000-00000000000a";

/// How long after the emulator starts Ana's call ends by itself, and how long its details then
/// stay missing, in [`demo_org_where_anas_call_ends_and_shows_up_late`].
const ANAS_CALL_LASTS: Duration = Duration::from_secs(2);
const ANAS_CALL_IS_LATE: Duration = Duration::from_secs(2);

/// The demo org in which Ana's last call is live instead, and ends [`ANAS_CALL_LASTS`] after
/// the emulator starts; the details reads miss a conversation for [`ANAS_CALL_IS_LATE`] after
/// it ends.
fn demo_org_where_anas_call_ends_and_shows_up_late() -> Fixture {
    let mut fixture = demo_org();
    fixture.behavior.details_late_ms = u64::try_from(ANAS_CALL_IS_LATE.as_millis()).unwrap();
    let call = fixture
        .conversations
        .iter_mut()
        .find(|c| c.id == ANAS_CALL)
        .unwrap();
    call.end = Some(format!("now+{}s", ANAS_CALL_LASTS.as_secs()));
    fixture
}

/// Moves the first short history check back by the recheck delay, as if that much time had
/// passed since.
fn recheck_delay_passes(resource: &mut GenesysUserOffboarding) {
    let history = resource
        .status
        .as_mut()
        .and_then(|s| s.history.as_mut())
        .unwrap();
    let since = from_time(history.unconfirmed_since.as_ref().unwrap());
    let earlier = since - chrono::Duration::from_std(HISTORY_RECHECK).unwrap();
    history.unconfirmed_since = Some(to_time(earlier));
}

fn history(resource: &GenesysUserOffboarding) -> HistoryStatus {
    status(resource).history.clone().unwrap()
}

#[tokio::test]
async fn a_conversation_that_ended_and_is_not_in_analytics_yet_is_read_by_id_and_checked_again_not_lost()
 {
    // Fails on the code before: the check after deactivation found 0 of 1 conversations and
    // the offboarding stalled with HistoryLost.
    let world = World::new(demo_org_where_anas_call_ends_and_shows_up_late()).await;
    let started = tokio::time::Instant::now();
    let mut ana = offboarding("user: {email: ana.silva@example.com}\n");

    // Act 1: the call is live: counted, and waited for.
    let waiting = world.pass(&mut ana).await;
    assert!(
        matches!(
            waiting.outcome,
            Outcome::Wait {
                reason: "WaitingForActiveConversation",
                ..
            }
        ),
        "{:?}",
        waiting.outcome
    );
    assert_eq!(history(&ana).conversations_before, Some(1));
    assert_eq!(history(&ana).checked_conversation_ids, [ANAS_CALL]);

    // Act 2: the call has ended and its details are not there yet.
    tokio::time::sleep_until(started + ANAS_CALL_LASTS + Duration::from_millis(200)).await;
    let short = world.pass(&mut ana).await;

    let Outcome::Wait {
        reason,
        until: Some(until),
        ..
    } = short.outcome
    else {
        panic!("expected a wait, got {:?}", short.outcome);
    };
    assert_eq!(reason, "HistoryUnconfirmed");
    assert_eq!(
        world.user(ANA)["state"],
        "inactive",
        "the offboarding is done"
    );
    assert_eq!(
        cond(&ana, condition::READY),
        is("False", "HistoryUnconfirmed")
    );
    assert_eq!(
        cond(&ana, condition::RECONCILING),
        is("True", "HistoryUnconfirmed")
    );
    assert_eq!(cond(&ana, condition::STALLED), is("False", "Idle"));
    assert_eq!(
        cond(&ana, condition::HISTORY_VERIFIED),
        is("False", "HistoryUnconfirmed")
    );
    let unconfirmed = history(&ana);
    assert_eq!(unconfirmed.result, Some(HistoryResult::Unconfirmed));
    assert_eq!(unconfirmed.conversations_after, Some(0));
    assert_eq!(unconfirmed.missing_conversation_ids, [ANAS_CALL]);
    let since = from_time(unconfirmed.unconfirmed_since.as_ref().unwrap());
    assert_eq!(
        until - since,
        chrono::Duration::from_std(HISTORY_RECHECK).unwrap()
    );
    let read_by_id = world
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path == format!("/api/v2/analytics/conversations/{ANAS_CALL}/details"))
        .map(|r| r.status)
        .collect::<Vec<_>>();
    assert_eq!(
        read_by_id,
        [404],
        "the missing conversation was read on its own"
    );

    // Act 3: the delay has passed and the late data has arrived.
    tokio::time::sleep_until(
        started + ANAS_CALL_LASTS + ANAS_CALL_IS_LATE + Duration::from_millis(200),
    )
    .await;
    recheck_delay_passes(&mut ana);
    let done = world.pass(&mut ana).await;

    assert!(
        matches!(done.outcome, Outcome::Done { .. }),
        "{:?}",
        done.outcome
    );
    assert_eq!(cond(&ana, condition::READY), is("True", "Offboarded"));
    assert_eq!(
        cond(&ana, condition::HISTORY_VERIFIED),
        is("True", "HistoryPreserved")
    );
    assert!(
        done.events
            .iter()
            .any(|e| e.reason == "Offboarded" && !e.warning),
        "the offboarding is finished only now: {:?}",
        done.events
    );
    assert!(
        !short.events.iter().any(|e| e.reason == "Offboarded"),
        "not while the history is unconfirmed: {:?}",
        short.events
    );
    let preserved = history(&ana);
    assert_eq!(preserved.result, Some(HistoryResult::Preserved));
    assert_eq!(preserved.conversations_after, Some(1));
    assert!(preserved.missing_conversation_ids.is_empty());
    assert_eq!(preserved.unconfirmed_since, None);
    world.check_invariants();
}

#[tokio::test]
async fn a_record_that_moves_across_a_page_boundary_is_checked_again_not_lost() {
    // Fails on the code before: the second walk through Fatima's two pages skipped the record
    // that moved, 100 of 101 were found, and the offboarding stalled with HistoryLost.
    let mut fixture = demo_org();
    fixture.behavior.details_paging_drift = true;
    let world = World::new(fixture).await;
    let mut fatima = offboarding("user: {email: fatima.khan@example.com}\n");

    let short = world.pass(&mut fatima).await;

    assert!(
        matches!(
            short.outcome,
            Outcome::Wait {
                reason: "HistoryUnconfirmed",
                ..
            }
        ),
        "{:?}",
        short.outcome
    );
    assert_eq!(world.user(FATIMA)["state"], "inactive");
    let unconfirmed = history(&fatima);
    assert_eq!(
        (
            unconfirmed.conversations_before,
            unconfirmed.conversations_after
        ),
        (Some(101), Some(100))
    );
    assert!(
        unconfirmed.missing_conversation_ids.is_empty(),
        "every remembered conversation was listed"
    );
    assert!(
        message(&fatima, condition::HISTORY_VERIFIED).contains("101 conversation(s) counted"),
        "{}",
        message(&fatima, condition::HISTORY_VERIFIED)
    );

    recheck_delay_passes(&mut fatima);
    let done = world.pass(&mut fatima).await;

    assert!(
        matches!(done.outcome, Outcome::Done { .. }),
        "{:?}",
        done.outcome
    );
    assert_eq!(history(&fatima).result, Some(HistoryResult::Preserved));
    assert_eq!(history(&fatima).conversations_after, Some(101));
    assert_eq!(cond(&fatima, condition::READY), is("True", "Offboarded"));
    world.check_invariants();
}

#[tokio::test]
async fn history_still_missing_after_the_recheck_delay_stalls_as_lost() {
    // Arrange: Jane's history is counted (Observe mode), then analytics loses it: the listing
    // comes back empty and every conversation read by id is not found.
    let world = World::demo().await;
    let mut jane = offboarding("user: {email: jane.doe@example.com}\nmanagementPolicy: Observe\n");
    world.pass(&mut jane).await;
    assert_eq!(history(&jane).conversations_before, Some(4));
    world.sim.inject(
        Fault::new("POST", "/api/v2/analytics/conversations/details/query")
            .status(200)
            .body(serde_json::json!({"totalHits": 0}))
            .times(100),
    );
    world.sim.inject(
        Fault::new("GET", "/api/v2/analytics/conversations/*/details")
            .status(404)
            .times(100),
    );
    jane.spec.management_policy = ManagementPolicy::Enforce;
    jane.metadata.generation = Some(2);

    // Act 1: deactivated, and the first check comes up short.
    let short = world.pass(&mut jane).await;

    assert!(
        matches!(
            short.outcome,
            Outcome::Wait {
                reason: "HistoryUnconfirmed",
                ..
            }
        ),
        "{:?}",
        short.outcome
    );
    assert_eq!(history(&jane).missing_conversation_ids.len(), 4);

    // Act 2: a check that comes too early is still not a stall.
    let early = world.pass(&mut jane).await;
    assert!(
        matches!(
            early.outcome,
            Outcome::Wait {
                reason: "HistoryUnconfirmed",
                ..
            }
        ),
        "{:?}",
        early.outcome
    );

    // Act 3: the delay has passed and the history is still missing.
    recheck_delay_passes(&mut jane);
    let lost = world.pass(&mut jane).await;

    let Outcome::Stalled { reason, message } = lost.outcome else {
        panic!("expected a stall, got {:?}", lost.outcome);
    };
    assert_eq!(reason, "HistoryLost");
    assert!(
        message.contains("0 found after") && message.contains("not found even read one by one"),
        "{message}"
    );
    assert_eq!(history(&jane).result, Some(HistoryResult::Lost));
    assert_eq!(cond(&jane, condition::STALLED), is("True", "HistoryLost"));
    let by_id = world
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/details"))
        .count();
    assert_eq!(
        by_id,
        3 * 4,
        "each remembered conversation read once per check"
    );
    world.check_invariants();
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_version_conflict_on_deactivate_is_retried_and_succeeds() {
    let world = World::demo().await;
    world
        .sim
        .inject(Fault::new("PATCH", "/api/v2/users/*").status(409));
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    let pass = world.pass(&mut jane).await;

    assert!(
        matches!(pass.outcome, Outcome::Done { .. }),
        "{:?}",
        pass.outcome
    );
    let patches: Vec<u16> = world
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && is_user_path(&r.path))
        .map(|r| r.status)
        .collect();
    assert_eq!(patches, [409, 200]);
    assert_eq!(world.user(JANE)["state"], "inactive");
    world.check_invariants();
}

#[tokio::test]
async fn a_rate_limit_in_the_middle_of_the_drain_is_waited_out() {
    let world = World::demo().await;
    world.sim.inject(
        Fault::new("POST", "/api/v2/routing/queues/*/members")
            .status(429)
            .retry_after(1),
    );
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    let mut outcome = None;
    for _ in 0..3 {
        match reconcile(&jane, &world.clients, &world.owners, &world.store)
            .await
            .into_result()
        {
            Ok(pass) => {
                jane.status = Some(pass.status);
                outcome = Some(pass.outcome);
                break;
            }
            Err(e) => {
                assert_eq!(e.reason(), "RateLimited");
                jane.status = world.store.latest();
                tokio::time::sleep(e.retry_after().unwrap()).await;
            }
        }
    }

    assert!(matches!(outcome, Some(Outcome::Done { .. })), "{outcome:?}");
    let removals: Vec<(String, u16)> = world
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.starts_with("/api/v2/routing/queues/"))
        .map(|r| (r.path.clone(), r.status))
        .collect();
    assert!(removals.iter().any(|(_, s)| *s == 429), "{removals:?}");
    let successes = removals
        .iter()
        .filter(|(_, s)| (200..300).contains(s))
        .count();
    assert_eq!(
        successes, 2,
        "each direct queue left exactly once: {removals:?}"
    );
    assert!(queue_ids(&world.user(JANE)).is_empty());
    world.check_invariants();
}

#[tokio::test]
async fn a_forbidden_write_stalls_with_the_clients_reason() {
    let world = World::demo().await;
    world
        .sim
        .inject(Fault::new("DELETE", "/api/v2/tokens/*").status(403));
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    let pass = world.pass(&mut jane).await;

    assert!(matches!(
        pass.outcome,
        Outcome::Stalled {
            reason: "Forbidden",
            ..
        }
    ));
    assert_eq!(
        cond(&jane, condition::SESSIONS_REVOKED),
        is("False", "Pending")
    );
    let failed = status(&jane).actions.last().unwrap();
    assert_eq!(
        (failed.step.as_str(), failed.outcome),
        ("RevokeSessions", ActionOutcome::Failed)
    );
    world.check_invariants();
}

// ---------------------------------------------------------------------------------------------
// Stop between any two steps, then rerun
// ---------------------------------------------------------------------------------------------

/// A store that records every status and, at save number `stop_at`, keeps it and then never
/// returns: the pass is dropped right after that status was persisted, as if the process died
/// between two steps.
struct StopAfter {
    saved: MemoryStore,
    stop_at: usize,
    count: AtomicUsize,
    reached: Notify,
}

#[async_trait]
impl StatusStore for StopAfter {
    async fn save(
        &self,
        resource: &GenesysUserOffboarding,
        status: &GenesysUserOffboardingStatus,
    ) -> Result<(), StoreError> {
        self.saved.save(resource, status).await?;
        if self.count.fetch_add(1, Ordering::SeqCst) + 1 == self.stop_at {
            self.reached.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_stop_after_any_step_then_a_rerun_converges_without_repeating_a_side_effect() {
    let spec = "user: {email: jane.doe@example.com}\nreason: Voluntary\nhistory: {lookbackDays: 30}\n\
                routing: {removeSkills: true, removeLanguages: true}\n";
    // How many times a complete pass saves status.
    let baseline = World::demo().await;
    let mut reference = offboarding(spec);
    baseline.pass(&mut reference).await;
    let saves = baseline.store.history().len();
    let expected_user = baseline.user(JANE);
    assert!(saves >= 10, "one save per step: {saves}");

    for stop_at in 1..=saves {
        // Arrange
        let world = World::demo().await;
        let stopping = Arc::new(StopAfter {
            saved: MemoryStore::new(),
            stop_at,
            count: AtomicUsize::new(0),
            reached: Notify::new(),
        });
        let mut jane = offboarding(spec);

        // Act: a pass that dies right after save `stop_at`, then reruns until done.
        tokio::select! {
            result = reconcile(&jane, &world.clients, &world.owners, stopping.as_ref()) => {
                panic!("the pass should have stopped at save {stop_at}: {result:?}");
            }
            () = stopping.reached.notified() => {}
        }
        let persisted = stopping.saved.latest().unwrap();
        let first_snapshot = persisted.snapshot.clone();
        jane.status = Some(persisted);
        let rerun = world.pass(&mut jane).await;

        // Assert
        assert!(
            matches!(rerun.outcome, Outcome::Done { .. }),
            "stop at {stop_at}: {:?}",
            rerun.outcome
        );
        assert_eq!(
            cond(&jane, condition::READY),
            is("True", "Offboarded"),
            "stop at {stop_at}"
        );
        if first_snapshot.is_some() {
            assert_eq!(
                status(&jane).snapshot,
                first_snapshot,
                "stop at {stop_at}: snapshot replaced"
            );
        }
        let mut done: Vec<String> = world
            .writes()
            .iter()
            .filter(|r| succeeded(r))
            .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
            .collect();
        let all = done.len();
        done.sort();
        done.dedup();
        assert_eq!(
            done.len(),
            all,
            "stop at {stop_at}: a side effect ran twice: {done:?}"
        );
        let mut stored = world.user(JANE);
        let mut expected = expected_user.clone();
        for volatile in [&mut stored, &mut expected] {
            for key in [
                "routingStatus",
                "presence",
                "sessionsRevokedAt",
                "stateChange",
                "presenceHistory",
                "routingHistory",
                "roles",
                "lastTokenIssued",
            ] {
                volatile.as_object_mut().unwrap().remove(key);
            }
        }
        assert_eq!(
            stored, expected,
            "stop at {stop_at}: the user ends as after one clean pass"
        );
        let snapshot_first = stopping
            .saved
            .history()
            .into_iter()
            .chain(world.store.history());
        let first_with_snapshot = snapshot_first
            .into_iter()
            .find(|s| s.status.snapshot.is_some())
            .unwrap();
        let first_write = world.writes().into_iter().next().unwrap();
        assert!(
            first_with_snapshot.at <= first_write.time,
            "stop at {stop_at}"
        );
        never_deletes_a_user(&world.sim.requests()).unwrap_or_else(|e| panic!("{e}"));
        state_patches_carry_only_state_and_version(&world.sim.requests())
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Drift and restore
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_user_reactivated_outside_the_operator_is_deactivated_again() {
    let world = World::demo().await;
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");
    world.pass(&mut jane).await;
    // Someone re-activates Jane by hand.
    world
        .clients
        .0
        .set_user_state(&UserId::new(JANE), UserState::Active)
        .await
        .unwrap();
    assert_eq!(world.user(JANE)["state"], "active");

    let recheck = world.pass(&mut jane).await;

    assert!(matches!(recheck.outcome, Outcome::Done { .. }));
    assert_eq!(world.user(JANE)["state"], "inactive");
    assert!(
        recheck.events.iter().any(|e| e.reason == "DriftCorrected"),
        "{:?}",
        recheck.events
    );
    assert_eq!(cond(&jane, condition::READY), is("True", "Offboarded"));
    assert_eq!(
        cond(&jane, condition::SESSIONS_REVOKED),
        is("Unknown", "RevocationAccepted")
    );
    assert!(status(&jane).last_drift_check.is_some());
    let revocations = world
        .writes()
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.starts_with("/api/v2/tokens/"))
        .count();
    assert_eq!(
        revocations, 2,
        "sessions are revoked again after a re-activation"
    );
    world.check_invariants();
}

/// The demo org plus `count` offboarded (inactive) agents, `drift-agent-0000`, ...
fn org_with_offboarded_agents(count: usize) -> (Fixture, Vec<UserId>) {
    let mut fixture = demo_org();
    let template = fixture.users.iter().find(|u| u.id == LI).cloned().unwrap();
    let ids: Vec<UserId> = (0..count)
        .map(|i| {
            let mut agent = template.clone();
            agent.id = format!("drift-agent-{i:04}");
            agent.email = format!("drift.agent.{i}@example.com");
            agent.username = None;
            fixture.users.push(agent);
            UserId::new(format!("drift-agent-{i:04}"))
        })
        .collect();
    (fixture, ids)
}

#[tokio::test]
async fn a_batched_drift_check_reports_only_the_users_no_longer_inactive() {
    // Arrange: 250 offboarded agents; one is re-activated by hand with a raw PATCH; Sam (deleted)
    // and an unknown id are watched too.
    let (fixture, mut ids) = org_with_offboarded_agents(250);
    let world = World::new(fixture).await;
    let client = &world.clients.0;
    let reactivated = ids[117].clone();
    let version = client
        .get_user(&reactivated, &[])
        .await
        .unwrap()
        .version
        .unwrap();
    client
        .patch_user_state(&reactivated, UserState::Active, version)
        .await
        .unwrap();
    ids.push(UserId::new(SAM));
    ids.push(UserId::new("6a1b0c3e-0000-4000-8000-0000000000ff"));
    ids.push(ids[3].clone());
    let before = world.sim.requests().len();

    // Act
    let drifted = drift::check(client, &ids).await.unwrap();

    // Assert
    assert_eq!(
        drifted,
        vec![
            Drifted {
                id: reactivated,
                state: Some(UserState::Active)
            },
            Drifted {
                id: UserId::new(SAM),
                state: Some(UserState::Deleted)
            },
            Drifted {
                id: UserId::new("6a1b0c3e-0000-4000-8000-0000000000ff"),
                state: None
            },
        ]
    );
    let reads: Vec<RecordedRequest> = world.sim.requests().into_iter().skip(before).collect();
    assert_eq!(reads.len(), 3, "252 distinct ids, 100 per request");
    for read in &reads {
        assert_eq!(
            (read.method.as_str(), read.path.as_str()),
            ("GET", "/api/v2/users")
        );
        assert!(read.query.contains("state=any"), "{}", read.query);
    }
    assert_eq!(world.writes().len(), 1, "only the hand-made PATCH");
    never_deletes_a_user(&world.sim.requests()).unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn no_ids_make_no_drift_call() {
    let world = World::demo().await;

    let drifted = drift::check(&world.clients.0, &[]).await.unwrap();

    assert!(drifted.is_empty());
    assert!(world.sim.requests().is_empty());
}

#[tokio::test]
async fn in_observe_mode_a_reactivation_is_only_reported() {
    let world = World::demo().await;
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");
    world.pass(&mut jane).await;
    world
        .clients
        .0
        .set_user_state(&UserId::new(JANE), UserState::Active)
        .await
        .unwrap();
    jane.spec.management_policy = genesys_offboarding_operator::crd::ManagementPolicy::Observe;
    jane.metadata.generation = Some(2);
    let writes_before = world.writes().len();

    let recheck = world.pass(&mut jane).await;

    assert!(matches!(recheck.outcome, Outcome::Done { .. }));
    assert_eq!(
        world.writes().len(),
        writes_before,
        "Observe writes nothing"
    );
    assert_eq!(world.user(JANE)["state"], "active");
    assert_eq!(cond(&jane, condition::READY), is("False", "DriftDetected"));
    assert_eq!(
        cond(&jane, condition::DEACTIVATED),
        is("False", "DriftDetected")
    );
    assert!(
        recheck
            .events
            .iter()
            .any(|e| e.reason == "DriftDetected" && e.warning)
    );
    assert_eq!(status(&jane).observed_generation, Some(2));
    world.check_invariants();
}

#[tokio::test]
async fn restore_puts_back_what_the_snapshot_held() {
    let world = World::demo().await;
    let mut jane = offboarding(
        "user: {email: jane.doe@example.com}\ndeletionPolicy: Restore\n\
         routing: {removeSkills: true, removeLanguages: true}\n",
    );
    world.pass(&mut jane).await;
    let offboarded = world.user(JANE);
    assert!(offboarded["skills"].as_array().unwrap().is_empty());
    assert!(
        offboarded["roles"].as_array().unwrap().is_empty(),
        "deactivation drops direct roles"
    );

    let restored = restore(&jane, &world.clients, &world.owners, &world.store)
        .await
        .into_result()
        .unwrap();
    jane.status = Some(restored.status.clone());

    assert!(matches!(restored.outcome, Outcome::Done { .. }));
    let snapshot = status(&jane).snapshot.clone().unwrap();
    let user = world.user(JANE);
    assert_eq!(user["state"], "active");
    let mut queues: Vec<(&str, bool)> = user["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["queueId"].as_str().unwrap(),
                q["joined"].as_bool().unwrap(),
            )
        })
        .collect();
    queues.sort_unstable();
    assert_eq!(
        queues,
        [(BILLING, true), (SALES, false)],
        "each membership is back with the joined flag it had"
    );
    let joined_patches: Vec<_> = world
        .writes()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path == format!("/api/v2/users/{JANE}/queues"))
        .collect();
    assert_eq!(joined_patches.len(), 1, "{joined_patches:?}");
    assert_eq!(
        joined_patches[0].body,
        Some(serde_json::json!([{"id": SALES, "joined": false}]))
    );
    let skills: Vec<(&str, f64)> = user["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap(),
                s["proficiency"].as_f64().unwrap(),
            )
        })
        .collect();
    let expected_skills: Vec<(&str, f64)> = snapshot
        .skills
        .iter()
        .map(|s| (s.id.as_str(), s.proficiency))
        .collect();
    assert_eq!(skills, expected_skills);
    let roles: Vec<(&str, &str)> = user["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["roleId"].as_str().unwrap(),
                r["divisionId"].as_str().unwrap(),
            )
        })
        .collect();
    let expected_roles: Vec<(&str, &str)> = snapshot
        .roles
        .iter()
        .map(|r| (r.role_id.as_str(), r.division_id.as_str()))
        .collect();
    assert_eq!(roles, expected_roles);
    // What the contract has no operation for is listed in status, not improvised.
    assert_eq!(cond(&jane, condition::READY), is("True", "Restored"));
    let said = message(&jane, condition::READY);
    assert!(
        said.contains("joined=false in queue Sales") && said.contains("status.notRestorable"),
        "{said}"
    );
    let not_restorable: Vec<(NotRestorableKind, Option<&str>)> = status(&jane)
        .not_restorable
        .iter()
        .map(|n| (n.what, n.name.as_deref()))
        .collect();
    assert_eq!(not_restorable.len(), 2, "{not_restorable:?}");
    assert_eq!(
        not_restorable[0],
        (NotRestorableKind::Language, Some("English"))
    );
    assert_eq!(not_restorable[1].0, NotRestorableKind::DefaultStation);
    assert!(
        status(&jane)
            .not_restorable
            .iter()
            .all(|n| !n.why.is_empty() && !n.id.is_empty())
    );
    assert!(
        restored
            .events
            .iter()
            .any(|e| e.reason == "Restored" && e.warning && e.message.contains("English")),
        "{:?}",
        restored.events
    );
    let skipped: Vec<_> = status(&jane)
        .actions
        .iter()
        .filter(|a| a.outcome == ActionOutcome::Skipped)
        .map(|a| a.step.as_str())
        .collect();
    assert!(
        skipped.contains(&"RestoreLanguage") && skipped.contains(&"RestoreDefaultStation"),
        "{skipped:?}"
    );
    assert!(
        user["languages"].as_array().unwrap().is_empty(),
        "no language endpoint was invented"
    );
    let reactivation = world
        .writes()
        .into_iter()
        .rfind(|r| r.method == "PATCH" && is_user_path(&r.path))
        .unwrap();
    assert_eq!(reactivation.body.as_ref().unwrap()["state"], "active");
    world.check_invariants();

    // A second restore finds everything in place and writes nothing; what cannot be put back
    // is still listed.
    let writes = world.writes().len();
    let again = restore(&jane, &world.clients, &world.owners, &world.store)
        .await
        .into_result()
        .unwrap();
    assert_eq!(world.writes().len(), writes);
    assert_eq!(again.status.not_restorable.len(), 2);
}

const TIER_2: &str = "3c4d5e6f-0000-4000-8000-0000000000c1";
const AGENT_ROLE: &str = "8e7d6c5b-0000-4000-8000-000000000101";
const SUPERVISOR_ROLE: &str = "8e7d6c5b-0000-4000-8000-000000000102";
const TIER_2_SPECIALIST_ROLE: &str = "8e7d6c5b-0000-4000-8000-000000000103";

/// The demo org (Priya holds Agent and Supervisor directly, Tier 2 Specialist through her group
/// Tier 2) with the real service's role rules: going inactive removes every role, grants
/// through groups name the group as subject and come back one second after a re-activation.
fn demo_org_with_real_group_roles() -> Fixture {
    let mut fixture = demo_org();
    fixture.behavior.deactivation_removes_group_roles = true;
    fixture.behavior.group_grant_subject = true;
    fixture.behavior.group_roles_return_after_ms = 1000;
    let priya = fixture.users.iter().find(|u| u.id == PRIYA).unwrap();
    assert!(
        priya
            .roles
            .iter()
            .any(|r| r.role_id == TIER_2_SPECIALIST_ROLE && r.group_id.as_deref() == Some(TIER_2)),
        "the demo org gives Priya a role through Tier 2"
    );
    fixture
}

/// A user's grants in the emulator: (role, the group it comes through).
fn grants(user: &Value) -> Vec<(String, Option<String>)> {
    let mut grants: Vec<(String, Option<String>)> = user["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["roleId"].as_str().unwrap().to_owned(),
                g["groupId"].as_str().map(str::to_owned),
            )
        })
        .collect();
    grants.sort();
    grants
}

#[tokio::test]
async fn restore_grants_back_only_direct_roles_and_leaves_group_roles_to_the_group() {
    // Fails before the snapshot told group grants apart: it recorded Tier 2 Specialist as
    // Priya's own and Restore granted it to her directly, for good.
    let world = World::new(demo_org_with_real_group_roles()).await;
    let mut priya =
        offboarding("user: {email: priya.patel@example.com}\ndeletionPolicy: Restore\n");
    world.pass(&mut priya).await;
    assert_eq!(cond(&priya, condition::READY), is("True", "Offboarded"));
    let snapshot = status(&priya).snapshot.clone().unwrap();
    let mut direct: Vec<&str> = snapshot.roles.iter().map(|r| r.role_id.as_str()).collect();
    direct.sort_unstable();
    assert_eq!(
        direct,
        [AGENT_ROLE, SUPERVISOR_ROLE],
        "only what she holds directly is hers"
    );
    let through: Vec<(&str, &str, Option<&str>)> = snapshot
        .group_roles
        .iter()
        .map(|r| {
            (
                r.role_id.as_str(),
                r.group.id.as_str(),
                r.group.name.as_deref(),
            )
        })
        .collect();
    assert_eq!(through, [(TIER_2_SPECIALIST_ROLE, TIER_2, Some("Tier 2"))]);
    assert_eq!(
        grants(&world.user(PRIYA)),
        [],
        "going inactive removes every role"
    );

    let restored = restore(&priya, &world.clients, &world.owners, &world.store)
        .await
        .into_result()
        .unwrap();
    priya.status = Some(restored.status.clone());

    assert!(matches!(restored.outcome, Outcome::Done { .. }));
    let granted: Vec<Value> = world
        .writes()
        .into_iter()
        .filter(|r| r.path.ends_with("/bulkadd"))
        .map(|r| r.body.unwrap())
        .collect();
    assert_eq!(granted.len(), 1, "{granted:?}");
    let mut roles: Vec<&str> = granted[0]["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["roleId"].as_str().unwrap())
        .collect();
    roles.sort_unstable();
    assert_eq!(
        roles,
        [AGENT_ROLE, SUPERVISOR_ROLE],
        "the group's role is never granted directly"
    );
    let skipped: Vec<_> = status(&priya)
        .actions
        .iter()
        .filter(|a| a.step.as_str() == "RestoreGroupRole")
        .map(|a| (a.outcome, a.message.clone().unwrap_or_default()))
        .collect();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].0, ActionOutcome::Skipped);
    assert!(skipped[0].1.contains("Tier 2"), "{}", skipped[0].1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        grants(&world.user(PRIYA)),
        [
            (AGENT_ROLE.to_owned(), None),
            (SUPERVISOR_ROLE.to_owned(), None),
            (TIER_2_SPECIALIST_ROLE.to_owned(), Some(TIER_2.to_owned()))
        ],
        "Agent and Supervisor granted back, Tier 2 Specialist back through the group only"
    );
    world.check_invariants();

    // A second restore, the group's role back by now, grants nothing and skips nothing.
    let writes = world.writes().len();
    let again = restore(&priya, &world.clients, &world.owners, &world.store)
        .await
        .into_result()
        .unwrap();
    assert_eq!(world.writes().len(), writes);
    let skipped_again = again
        .status
        .actions
        .iter()
        .filter(|a| a.step.as_str() == "RestoreGroupRole")
        .count();
    assert_eq!(skipped_again, 1, "no new skip: the role is back");
}

// ---------------------------------------------------------------------------------------------
// A change Genesys accepts without applying it
// ---------------------------------------------------------------------------------------------

/// A pass that must fail with a reason worth retrying; the resource gets the status persisted.
async fn failing_pass(world: &World, resource: &mut GenesysUserOffboarding) -> String {
    let error = reconcile(resource, &world.clients, &world.owners, &world.store)
        .await
        .into_result()
        .expect_err("the pass should fail and be retried");
    assert!(error.retry_after().is_some(), "{error:?} is worth retrying");
    resource.status = world.store.latest();
    error.reason().to_owned()
}

fn token_revocations(world: &World) -> usize {
    world
        .writes()
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.starts_with("/api/v2/tokens/"))
        .count()
}

#[tokio::test]
async fn a_deactivation_answered_with_state_active_is_not_reported_and_sessions_stay_until_a_read_shows_it_inactive()
 {
    let world = World::demo().await;
    // Genesys answers the state PATCH 200 with the user unchanged (`state: active`), once.
    world
        .sim
        .inject(Fault::new("PATCH", &format!("/api/v2/users/{JANE}")).ignore_write());
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    let reason = failing_pass(&world, &mut jane).await;

    assert_eq!(reason, "ChangeNotApplied");
    assert_eq!(world.user(JANE)["state"], "active");
    assert_eq!(
        cond(&jane, condition::DEACTIVATED),
        is("False", "ChangeNotApplied")
    );
    assert_ne!(cond(&jane, condition::READY).0, "True");
    assert_ne!(cond(&jane, condition::SESSIONS_REVOKED).0, "True");
    assert_eq!(
        token_revocations(&world),
        0,
        "no session revoked while active"
    );
    let not_applied = &status(&jane).not_applied;
    assert_eq!(not_applied.len(), 1, "{not_applied:?}");
    assert_eq!(
        (
            not_applied[0].step.as_str(),
            not_applied[0].observed.as_str(),
            not_applied[0].attempts
        ),
        ("Deactivate", "state active", 1)
    );
    let failed = status(&jane).actions.last().unwrap();
    assert_eq!(
        (failed.step.as_str(), failed.outcome),
        ("Deactivate", ActionOutcome::Failed)
    );

    // The next pass (after the backoff) deactivates for real, then revokes.
    world.pass(&mut jane).await;

    assert_eq!(world.user(JANE)["state"], "inactive");
    assert_eq!(cond(&jane, condition::READY), is("True", "Offboarded"));
    assert_eq!(
        cond(&jane, condition::DEACTIVATED),
        is("True", "UserInactive")
    );
    assert!(status(&jane).not_applied.is_empty());
    assert_eq!(token_revocations(&world), 1);
    world.check_invariants();
}

#[tokio::test]
async fn a_deactivation_that_never_takes_effect_stalls_after_a_bounded_number_of_passes_without_revoking_sessions()
 {
    let world = World::demo().await;
    world.sim.inject(
        Fault::new("PATCH", &format!("/api/v2/users/{JANE}"))
            .ignore_write()
            .times(1000),
    );
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    for attempt in 1..MAX_NOT_APPLIED_ATTEMPTS {
        assert_eq!(failing_pass(&world, &mut jane).await, "ChangeNotApplied");
        assert_eq!(status(&jane).not_applied[0].attempts, attempt);
        assert_eq!(
            cond(&jane, condition::RECONCILING),
            is("True", "ChangeNotApplied"),
            "retried"
        );
    }
    let last = world.pass(&mut jane).await;

    assert!(
        matches!(
            last.outcome,
            Outcome::Stalled {
                reason: "ChangeNotApplied",
                ..
            }
        ),
        "{:?}",
        last.outcome
    );
    assert_eq!(
        cond(&jane, condition::STALLED),
        is("True", "ChangeNotApplied")
    );
    assert_eq!(
        cond(&jane, condition::READY),
        is("False", "ChangeNotApplied")
    );
    let stalled = message(&jane, condition::STALLED);
    assert!(
        stalled.contains("Deactivate") && stalled.contains("state active"),
        "{stalled}"
    );
    assert_eq!(
        status(&jane).not_applied[0].attempts,
        MAX_NOT_APPLIED_ATTEMPTS
    );
    assert_eq!(world.user(JANE)["state"], "active");
    assert_eq!(world.user(JANE)["hasSessions"], true);
    assert_eq!(token_revocations(&world), 0);
    let patches = world
        .writes()
        .iter()
        .filter(|r| r.method == "PATCH" && is_user_path(&r.path))
        .count();
    assert_eq!(
        patches, MAX_NOT_APPLIED_ATTEMPTS as usize,
        "one deactivation per pass, no more"
    );
    world.check_invariants();
}

#[tokio::test]
async fn a_reactivation_genesys_answers_without_applying_is_not_reported_as_restored() {
    let world = World::demo().await;
    let mut jane = offboarding("user: {email: jane.doe@example.com}\ndeletionPolicy: Restore\n");
    world.pass(&mut jane).await;
    world
        .sim
        .inject(Fault::new("PATCH", &format!("/api/v2/users/{JANE}")).ignore_write());

    let error = restore(&jane, &world.clients, &world.owners, &world.store)
        .await
        .into_result()
        .expect_err("the restore should fail and be retried");

    assert_eq!(error.reason(), "ChangeNotApplied");
    assert!(error.retry_after().is_some());
    assert_eq!(world.user(JANE)["state"], "inactive");
    jane.status = world.store.latest();
    assert_ne!(cond(&jane, condition::READY), is("True", "Restored"));
    let not_applied = &status(&jane).not_applied;
    assert_eq!(
        not_applied
            .iter()
            .map(|n| (n.step.as_str(), n.attempts))
            .collect::<Vec<_>>(),
        [("RestoreState", 1)]
    );

    // Retried, it takes effect.
    let restored = restore(&jane, &world.clients, &world.owners, &world.store)
        .await
        .into_result()
        .unwrap();
    assert!(matches!(restored.outcome, Outcome::Done { .. }));
    assert_eq!(world.user(JANE)["state"], "active");
    assert!(restored.status.not_applied.is_empty());
    world.check_invariants();
}

// ---------------------------------------------------------------------------------------------
// Two resources for one user
// ---------------------------------------------------------------------------------------------

/// A resource named `name` with the given spec lines.
fn named(name: &str, spec: &str) -> GenesysUserOffboarding {
    let mut resource = offboarding(spec);
    resource.metadata.name = Some(name.to_owned());
    resource
}

#[tokio::test]
async fn a_second_resource_for_the_same_user_stalls_naming_the_owner_and_writes_nothing() {
    let world = World::demo().await;
    let mut first = named("first", "user: {email: jane.doe@example.com}\n");
    let mut second = named(
        "second",
        "user: {id: 6a1b0c3e-0000-4000-8000-000000000001}\n",
    );
    world.pass(&mut first).await;
    world.sim.clear_requests();

    let pass = world.pass(&mut second).await;

    assert!(
        matches!(
            pass.outcome,
            Outcome::Stalled {
                reason: "DuplicateOffboarding",
                ..
            }
        ),
        "{:?}",
        pass.outcome
    );
    assert_eq!(
        cond(&second, condition::STALLED),
        is("True", "DuplicateOffboarding")
    );
    let stalled = message(&second, condition::STALLED);
    assert!(stalled.contains("default/first"), "{stalled}");
    let s = status(&second);
    assert!(
        s.user.is_none() && s.snapshot.is_none() && s.plan.is_empty(),
        "{s:?}"
    );
    assert!(world.writes().is_empty(), "{:?}", world.writes());
    assert!(
        pass.events
            .iter()
            .any(|e| e.reason == "DuplicateOffboarding" && e.warning)
    );

    // The owner keeps the user; the duplicate stays one on its next pass.
    world.pass(&mut first).await;
    world.pass(&mut second).await;
    assert_eq!(cond(&first, condition::READY), is("True", "Offboarded"));
    assert_eq!(
        cond(&second, condition::STALLED),
        is("True", "DuplicateOffboarding")
    );
    assert!(world.writes().is_empty());
    world.check_invariants();
}

#[tokio::test]
async fn of_two_concurrent_resources_for_one_user_one_deactivates_and_deleting_the_other_restores_nothing()
 {
    let world = World::demo().await;
    let mut a = named(
        "a",
        "user: {email: jane.doe@example.com}\ndeletionPolicy: Restore\n",
    );
    let mut b = named(
        "b",
        "user: {email: jane.doe@example.com}\ndeletionPolicy: Restore\n",
    );

    let (pass_a, pass_b) = tokio::join!(
        reconcile(&a, &world.clients, &world.owners, &world.store),
        reconcile(&b, &world.clients, &world.owners, &world.store),
    );
    a.status = Some(pass_a.into_result().unwrap().status);
    b.status = Some(pass_b.into_result().unwrap().status);

    let ready: Vec<bool> = [&a, &b]
        .iter()
        .map(|r| cond(r, condition::READY) == is("True", "Offboarded"))
        .collect();
    assert_eq!(
        ready.iter().filter(|r| **r).count(),
        1,
        "exactly one owner: {ready:?}"
    );
    let (owner, duplicate) = if ready[0] { (&a, &b) } else { (&b, &a) };
    assert_eq!(
        cond(duplicate, condition::STALLED),
        is("True", "DuplicateOffboarding")
    );
    let deactivations = world
        .writes()
        .into_iter()
        .filter(|r| r.method == "PATCH" && is_user_path(&r.path))
        .count();
    assert_eq!(deactivations, 1);
    let writes = world.writes().len();

    let deleted = restore(duplicate, &world.clients, &world.owners, &world.store)
        .await
        .into_result()
        .unwrap();

    assert!(
        matches!(deleted.outcome, Outcome::Done { .. }),
        "{:?}",
        deleted.outcome
    );
    assert_eq!(
        world.writes().len(),
        writes,
        "a duplicate's deletion writes nothing"
    );
    assert_eq!(world.user(JANE)["state"], "inactive");
    assert_eq!(cond(owner, condition::READY), is("True", "Offboarded"));
    world.check_invariants();
}

// ---------------------------------------------------------------------------------------------
// The organization is fixed once the user is resolved
// ---------------------------------------------------------------------------------------------

/// A client per emulator (by its port), chosen by the port of the resource's `apiBaseUrl`, as
/// the controller chooses by the spec's endpoints.
struct ByEndpoint(Vec<(Option<u16>, GenesysClient)>);

#[async_trait]
impl ClientProvider for ByEndpoint {
    async fn client_for(
        &self,
        resource: &GenesysUserOffboarding,
    ) -> Result<GenesysClient, CredentialsError> {
        let wanted = resource.spec.api_base_url.as_deref().unwrap_or_default();
        let port = url::Url::parse(wanted).unwrap().port();
        self.0
            .iter()
            .find(|(sim_port, _)| *sim_port == port)
            .map(|(_, client)| client.clone())
            .ok_or_else(|| CredentialsError::Missing(format!("no emulator at {wanted}")))
    }
}

/// `apiBaseUrl` and `loginBaseUrl` lines for `sim` (a URL with user info is refused by the
/// spec rules, see `a_base_url_with_a_password_stalls_and_the_password_appears_nowhere`).
fn endpoint_lines(sim: &SimHandle) -> String {
    let base = sim.base_url();
    let port = base.port().unwrap();
    format!("apiBaseUrl: http://127.0.0.1:{port}/\nloginBaseUrl: http://127.0.0.1:{port}/\n")
}

fn endpoint_offboarding(sim: &SimHandle) -> GenesysUserOffboarding {
    let spec: GenesysUserOffboardingSpec = serde_yaml::from_str(&format!(
        "credentialsSecretRef: {{name: genesys-credentials}}\nuser: {{email: jane.doe@example.com}}\n{}",
        endpoint_lines(sim)
    ))
    .unwrap();
    let mut resource = GenesysUserOffboarding::new("offboarding", spec);
    resource.metadata.namespace = Some("default".into());
    resource.metadata.generation = Some(1);
    resource
}

#[tokio::test]
async fn pointing_a_finished_offboarding_at_another_organization_stalls_and_touches_neither() {
    let org_a = Sim::start(demo_org()).await.unwrap();
    let org_b = Sim::start(demo_org()).await.unwrap();
    let clients = ByEndpoint(vec![
        (org_a.base_url().port(), demo_client(&org_a)),
        (org_b.base_url().port(), demo_client(&org_b)),
    ]);
    let (owners, store) = (MemoryOwners::new(), MemoryStore::new());
    let mut jane = endpoint_offboarding(&org_a);
    let first = reconcile(&jane, &clients, &owners, &store)
        .await
        .into_result()
        .unwrap();
    jane.status = Some(first.status);
    assert_eq!(cond(&jane, condition::READY), is("True", "Offboarded"));
    let recorded = status(&jane).endpoint.clone().unwrap();
    let port = org_a.base_url().port().unwrap();
    assert_eq!(
        recorded.api_base_url.as_deref(),
        Some(format!("http://127.0.0.1:{port}/").as_str()),
        "recorded in normal form"
    );
    let snapshot = status(&jane).snapshot.clone();
    org_a.clear_requests();

    // Someone edits the endpoints to another organization.
    let edited = endpoint_offboarding(&org_b);
    jane.spec.api_base_url = edited.spec.api_base_url;
    jane.spec.login_base_url = edited.spec.login_base_url;
    jane.metadata.generation = Some(2);
    let pass = reconcile(&jane, &clients, &owners, &store)
        .await
        .into_result()
        .unwrap();
    jane.status = Some(pass.status);

    assert!(
        matches!(
            pass.outcome,
            Outcome::Stalled {
                reason: "EndpointChanged",
                ..
            }
        ),
        "{:?}",
        pass.outcome
    );
    assert_eq!(
        cond(&jane, condition::STALLED),
        is("True", "EndpointChanged")
    );
    let stalled = message(&jane, condition::STALLED);
    assert!(stalled.contains(&format!("127.0.0.1:{port}")), "{stalled}");
    assert!(org_b.requests().is_empty(), "{:?}", org_b.requests());
    assert!(org_a.requests().is_empty(), "{:?}", org_a.requests());
    assert_eq!(org_b.user(JANE).unwrap()["state"], "active");
    assert_eq!(status(&jane).snapshot, snapshot, "the first snapshot stays");
    assert_eq!(status(&jane).endpoint.as_ref(), Some(&recorded));
    assert!(
        !pass.events.iter().any(|e| e.reason == "DriftCorrected"),
        "{:?}",
        pass.events
    );
    org_a.shutdown().await;
    org_b.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Hostile sizes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_two_megabyte_error_message_from_genesys_leaves_a_small_status_and_bounded_messages() {
    let world = World::demo().await;
    let huge = "x".repeat(2 * 1024 * 1024);
    world.sim.inject(
        Fault::new("PATCH", &format!("/api/v2/users/{JANE}"))
            .status(400)
            .body(serde_json::json!({"message": huge, "code": "bad.request", "status": 400})),
    );
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    let pass = world.pass(&mut jane).await;

    assert!(
        matches!(pass.outcome, Outcome::Stalled { .. }),
        "{:?}",
        pass.outcome
    );
    for saved in world.store.history() {
        let size = serde_json::to_vec(&saved.status).unwrap().len();
        assert!(size < 64 * 1024, "a status of {size} bytes was saved");
        for c in &saved.status.conditions {
            assert!(
                c.message.len() <= MAX_MESSAGE_BYTES,
                "{}: {} bytes",
                c.type_,
                c.message.len()
            );
        }
        for a in &saved.status.actions {
            let len = a.message.as_ref().map_or(0, String::len);
            assert!(len <= MAX_MESSAGE_BYTES, "{}: {len} bytes", a.step);
        }
    }
    for event in &pass.events {
        assert!(
            event.message.len() <= MAX_MESSAGE_BYTES,
            "{}: {} bytes",
            event.reason,
            event.message.len()
        );
    }
    if let Outcome::Stalled { message, .. } = &pass.outcome {
        assert!(message.len() <= MAX_MESSAGE_BYTES);
    }
    world.check_invariants();
}

#[tokio::test]
async fn a_user_in_queues_with_huge_names_gets_a_status_trimmed_to_fit_with_every_queue_kept() {
    let mut fixture = demo_org();
    let long = |i: usize| format!("queue-{i}-{}", "n".repeat(100 * 1024));
    let mut ids = Vec::new();
    for i in 0..20 {
        let id = format!("9b2e4d60-0000-4000-8000-0000000{i:05}");
        fixture
            .queues
            .push(serde_yaml::from_str(&format!("{{id: {id}, name: {}}}", long(i))).unwrap());
        let jane = fixture.users.iter_mut().find(|u| u.id == JANE).unwrap();
        jane.queues
            .push(serde_yaml::from_str(&format!("{{queueId: {id}}}")).unwrap());
        ids.push(id);
    }
    let world = World::new(fixture).await;
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    let pass = world.pass(&mut jane).await;

    assert!(
        matches!(pass.outcome, Outcome::Done { .. }),
        "{:?}",
        pass.outcome
    );
    for saved in world.store.history() {
        let size = serde_json::to_vec(&saved.status).unwrap().len();
        assert!(
            size <= MAX_STATUS_BYTES,
            "a status of {size} bytes was saved"
        );
    }
    let snapshot = status(&jane).snapshot.as_ref().unwrap();
    for id in &ids {
        assert!(
            snapshot.queues.iter().any(|q| &q.id == id),
            "queue {id} is in the snapshot (restore needs it)"
        );
    }
    assert!(queue_ids(&world.user(JANE)).is_empty());
    world.check_invariants();
}

// ---------------------------------------------------------------------------------------------
// One-shot mode
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_readme_command_prints_the_offboarded_resource_with_ready_true() {
    use genesys_offboarding_operator::oneshot::{OutputFormat, ReconcileArgs, run};
    // `genesys-offboarding reconcile --sim -f examples/offboarding.yaml`
    let args = ReconcileArgs {
        file: concat!(env!("CARGO_MANIFEST_DIR"), "/examples/offboarding.yaml").into(),
        sim: Some(None),
        sim_profile: genesys_emulator::fixture::Profile::Realistic,
        api_url: None,
        login_url: None,
        allowed_endpoints: Vec::new(),
        dry_run: false,
        output: OutputFormat::Yaml,
        max_wait: Duration::from_secs(30),
    };
    let (mut out, mut notes) = (Vec::new(), Vec::new());

    let summaries = Box::pin(run(&args, &mut out, &mut notes)).await.unwrap();

    assert!(
        summaries.iter().all(|s| s.ready && !s.failed),
        "{summaries:?}"
    );
    let printed: GenesysUserOffboarding = serde_yaml::from_slice(&out).unwrap();
    assert_eq!(cond(&printed, condition::READY), is("True", "Offboarded"));
    assert_eq!(
        status(&printed)
            .user
            .as_ref()
            .unwrap()
            .state_now
            .as_ref()
            .map(UserState::as_str),
        Some("inactive")
    );
    assert!(status(&printed).snapshot.is_some() && status(&printed).history.is_some());
    let notes = String::from_utf8(notes).unwrap();
    assert!(notes.contains("Offboarded"), "{notes}");
    assert!(!notes.contains("demo-secret"), "no secret in the notes");
}

/// `genesys-offboarding reconcile -f FILE` with the credentials in the environment, `args`
/// added; its exit status and stderr.
fn one_shot(file: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_genesys-offboarding"))
        .args(["reconcile", "-f"])
        .arg(file)
        .args(args)
        .env("GENESYS_CLIENT_ID", "demo-client")
        .env("GENESYS_CLIENT_SECRET", "demo-secret")
        .env_remove("GENESYS_REGION")
        .env_remove("ALLOWED_ENDPOINTS")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_files_custom_endpoints_get_the_environments_secret_only_when_allowed() {
    let world = World::demo().await;
    let base = world.sim.base_url();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("offboarding.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: offboarding.genesys-operator.io/v1alpha1\nkind: GenesysUserOffboarding\n\
             metadata: {{name: jane}}\nspec:\n  user: {{email: jane.doe@example.com}}\n  \
             credentialsSecretRef: {{name: genesys-credentials}}\n  apiBaseUrl: {base}\n  \
             loginBaseUrl: {base}\n  managementPolicy: Observe\n"
        ),
    )
    .unwrap();
    let port = base.port().unwrap().to_string();

    let (ok, stderr) = tokio::task::block_in_place(|| one_shot(&file, &[]));
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("--allowed-endpoint"), "{stderr}");
    let (ok, stderr) = tokio::task::block_in_place(|| {
        one_shot(
            &file,
            &[
                "--allowed-endpoint",
                &format!("127.0.0.1:{}", port.parse::<u16>().unwrap() + 1),
            ],
        )
    });
    assert!(!ok, "another port: {stderr}");
    assert!(world.sim.requests().is_empty(), "nothing was sent");

    let (ok, stderr) = tokio::task::block_in_place(|| {
        one_shot(&file, &["--allowed-endpoint", &format!("127.0.0.1:{port}")])
    });
    assert!(ok, "{stderr}");
    assert!(
        world
            .sim
            .requests()
            .iter()
            .any(|r| r.path == "/oauth/token"),
        "the allowed emulator got the token request"
    );
}

#[tokio::test]
async fn with_sim_the_files_custom_endpoints_are_ignored_and_never_contacted() {
    use genesys_offboarding_operator::oneshot::{OutputFormat, ReconcileArgs, run};
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", elsewhere.local_addr().unwrap());
    let contacted = Arc::new(AtomicUsize::new(0));
    let count = contacted.clone();
    tokio::spawn(async move {
        while elsewhere.accept().await.is_ok() {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("offboarding.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: offboarding.genesys-operator.io/v1alpha1\nkind: GenesysUserOffboarding\n\
             metadata: {{name: jane}}\nspec:\n  user: {{email: jane.doe@example.com}}\n  \
             credentialsSecretRef: {{name: genesys-credentials}}\n  apiBaseUrl: {base}\n  \
             loginBaseUrl: {base}\n"
        ),
    )
    .unwrap();
    let args = ReconcileArgs {
        file,
        sim: Some(None),
        sim_profile: genesys_emulator::fixture::Profile::Realistic,
        api_url: None,
        login_url: None,
        allowed_endpoints: Vec::new(),
        dry_run: true,
        output: OutputFormat::Yaml,
        max_wait: Duration::from_secs(30),
    };
    let (mut out, mut notes) = (Vec::new(), Vec::new());

    let summaries = Box::pin(run(&args, &mut out, &mut notes)).await.unwrap();

    assert!(
        summaries.iter().all(|s| s.ready && !s.failed),
        "{summaries:?} {}",
        String::from_utf8_lossy(&notes)
    );
    assert_eq!(contacted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn in_a_file_with_two_documents_for_one_user_the_second_stalls_as_a_duplicate() {
    use genesys_offboarding_operator::oneshot::{OutputFormat, ReconcileArgs, run};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twice.yaml");
    let document = |name: &str, user: &str| {
        format!(
            "apiVersion: offboarding.genesys-operator.io/v1alpha1\nkind: GenesysUserOffboarding\n\
             metadata: {{name: {name}, namespace: hr}}\nspec:\n  user: {user}\n  \
             credentialsSecretRef: {{name: genesys-credentials}}\n  region: us_east_1\n"
        )
    };
    std::fs::write(
        &file,
        format!(
            "{}---\n{}",
            document("jane-doe", "{email: jane.doe@example.com}"),
            document("jane-again", &format!("{{id: {JANE}}}"))
        ),
    )
    .unwrap();
    let args = ReconcileArgs {
        file,
        sim: Some(None),
        sim_profile: genesys_emulator::fixture::Profile::Realistic,
        api_url: None,
        login_url: None,
        allowed_endpoints: Vec::new(),
        dry_run: false,
        output: OutputFormat::Json,
        max_wait: Duration::from_secs(30),
    };
    let (mut out, mut notes) = (Vec::new(), Vec::new());

    let summaries = Box::pin(run(&args, &mut out, &mut notes)).await.unwrap();

    let outcome: Vec<(&str, bool, bool)> = summaries
        .iter()
        .map(|s| (s.name.as_str(), s.ready, s.failed))
        .collect();
    assert_eq!(
        outcome,
        [("jane-doe", true, false), ("jane-again", false, true)]
    );
    let printed: Vec<GenesysUserOffboarding> = serde_json::Deserializer::from_slice(&out)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        cond(&printed[1], condition::STALLED),
        is("True", "DuplicateOffboarding")
    );
    assert!(message(&printed[1], condition::STALLED).contains("hr/jane-doe"));
    assert!(status(&printed[1]).snapshot.is_none());
}

// ---------------------------------------------------------------------------------------------
// Read-back of the drain
// ---------------------------------------------------------------------------------------------

/// The actions recorded for one step and target, in order: `(outcome, readBack)`.
fn actions_of(
    resource: &GenesysUserOffboarding,
    step: &str,
    target: &str,
) -> Vec<(ActionOutcome, Option<String>)> {
    status(resource)
        .actions
        .iter()
        .filter(|a| a.step.as_str() == step && a.target.as_deref() == Some(target))
        .map(|a| (a.outcome, a.read_back.clone()))
        .collect()
}

// Before the read-back, the 2xx of the removal counted as done: the step was `Succeeded`,
// `RoutingDrained` True and the resource Ready while Genesys still listed her in the queue.
#[tokio::test]
async fn a_queue_removal_that_does_not_show_is_awaiting_confirmation_not_succeeded() {
    let world = World::demo().await;
    // Genesys answers the removal 2xx without applying it, for every read of this pass.
    world.sim.inject(
        Fault::new("POST", &format!("/api/v2/routing/queues/{BILLING}/members"))
            .ignore_write()
            .times(1),
    );
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    let reason = failing_pass(&world, &mut jane).await;

    assert_eq!(reason, "AwaitingConfirmation");
    assert!(queue_ids(&world.user(JANE)).contains(&BILLING.to_owned()));
    let routing = cond(&jane, condition::ROUTING_DRAINED);
    assert_eq!(routing.0, "False", "{routing:?}");
    assert_ne!(cond(&jane, condition::READY).0, "True");
    assert_eq!(
        cond(&jane, condition::RECONCILING),
        is("True", "AwaitingConfirmation")
    );
    let billing = actions_of(&jane, "RemoveFromQueue", BILLING);
    assert!(
        billing
            .iter()
            .all(|(outcome, _)| *outcome != ActionOutcome::Succeeded),
        "{billing:?}"
    );
    let (outcome, read) = billing.last().unwrap();
    assert_eq!(*outcome, ActionOutcome::Unconfirmed);
    assert!(
        read.as_deref().unwrap().contains("still lists the user"),
        "{read:?}"
    );
    let pending = &status(&jane).not_applied;
    assert_eq!(
        (
            pending[0].step.as_str(),
            pending[0].target.as_deref(),
            pending[0].attempts
        ),
        ("RemoveFromQueue", Some(BILLING), 1),
        "{pending:?}"
    );
    // The other queue showed the change: it is confirmed, with what was read.
    let sales = actions_of(&jane, "RemoveFromQueue", SALES);
    assert_eq!(sales.last().unwrap().0, ActionOutcome::Succeeded);
    assert!(sales.last().unwrap().1.is_some());
    // Security first: the deactivation did not wait for the queue.
    assert_eq!(world.user(JANE)["state"], "inactive");

    // The next pass sends the removal again, reads it back and is done.
    world.pass(&mut jane).await;

    assert!(!queue_ids(&world.user(JANE)).contains(&BILLING.to_owned()));
    assert_eq!(cond(&jane, condition::READY), is("True", "Offboarded"));
    assert_eq!(cond(&jane, condition::ROUTING_DRAINED).0, "True");
    assert!(status(&jane).not_applied.is_empty());
    let (outcome, read) = actions_of(&jane, "RemoveFromQueue", BILLING)
        .last()
        .cloned()
        .unwrap();
    assert_eq!(outcome, ActionOutcome::Succeeded);
    assert!(read.unwrap().contains("no longer lists the user"));
    world.check_invariants();
}

#[tokio::test]
async fn a_queue_removal_that_never_shows_stalls_after_a_bounded_number_of_passes_naming_it() {
    let world = World::demo().await;
    world.sim.inject(
        Fault::new("POST", &format!("/api/v2/routing/queues/{BILLING}/members"))
            .ignore_write()
            .times(1000),
    );
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    for attempt in 1..MAX_NOT_APPLIED_ATTEMPTS {
        assert_eq!(
            failing_pass(&world, &mut jane).await,
            "AwaitingConfirmation"
        );
        assert_eq!(status(&jane).not_applied[0].attempts, attempt);
    }
    let last = world.pass(&mut jane).await;

    assert!(
        matches!(
            last.outcome,
            Outcome::Stalled {
                reason: "ChangeNotApplied",
                ..
            }
        ),
        "{:?}",
        last.outcome
    );
    let stalled = message(&jane, condition::STALLED);
    assert!(
        stalled.contains("RemoveFromQueue") && stalled.contains(BILLING),
        "{stalled}"
    );
    assert_ne!(cond(&jane, condition::ROUTING_DRAINED).0, "True");
    world.check_invariants();
}

// ---------------------------------------------------------------------------------------------
// The realistic profile: the divergences of the real service
// ---------------------------------------------------------------------------------------------

const ANA: &str = "6a1b0c3e-0000-4000-8000-00000000000a";
const FATIMA: &str = "6a1b0c3e-0000-4000-8000-00000000000c";
const TECHNICAL_SUPPORT: &str = "9b2e4d60-0000-4000-8000-0000000000b2";

async fn realistic() -> World {
    World::new(demo_org()).await
}

/// One pass after another until the resource is Ready or `passes` ran (a pass may end waiting
/// for a change to show).
async fn until_ready(world: &World, resource: &mut GenesysUserOffboarding, passes: usize) {
    for _ in 0..passes {
        let result = reconcile(resource, &world.clients, &world.owners, &world.store)
            .await
            .into_result();
        resource.status = world.store.latest();
        if result.is_ok() && cond(resource, condition::READY).0 == "True" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "never Ready: {}",
        serde_yaml::to_string(&resource.status).unwrap()
    );
}

// Before: Observe matched only `GROUP` member groups against the user's groups, so a membership
// through a team was taken for direct: `RemoveFromQueue` "succeeded" every pass while she stayed
// in the queue, and `RoutingDrained` said she was out of routing.
#[tokio::test]
async fn a_queue_membership_through_a_team_is_reported_never_removed_as_direct() {
    let world = realistic().await;
    let mut ana = offboarding("user: {email: ana.silva@example.com}\n");

    until_ready(&world, &mut ana, 5).await;

    let removals: Vec<String> = world
        .writes()
        .iter()
        .filter(|r| r.path.contains(TECHNICAL_SUPPORT))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(removals.is_empty(), "{removals:?}");
    let groups = &status(&ana).group_memberships;
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].queue.id, TECHNICAL_SUPPORT);
    assert_eq!(groups[0].group_type.as_deref(), Some("TEAM"));
    let drained = message(&ana, condition::ROUTING_DRAINED);
    assert!(
        drained.contains("through a group, team or skill group"),
        "{drained}"
    );
    assert!(
        status(&ana)
            .actions
            .iter()
            .all(|a| a.target.as_deref() != Some(TECHNICAL_SUPPORT)),
        "no action on the team's queue"
    );
    // Her direct queue is gone, read back.
    assert!(!queue_ids(&world.user(ANA)).contains(&SALES.to_owned()));
    world.check_invariants();
}

#[tokio::test]
async fn a_queue_membership_through_a_skill_group_is_reported_never_removed_as_direct() {
    let world = realistic().await;
    let mut fatima = offboarding("user: {email: fatima.khan@example.com}\n");

    until_ready(&world, &mut fatima, 5).await;

    let groups = &status(&fatima).group_memberships;
    assert!(
        groups
            .iter()
            .any(|g| g.queue.id == ESCALATIONS && g.group_type.as_deref() == Some("SKILLGROUP")),
        "{groups:?}"
    );
    assert!(
        world.writes().iter().all(|r| !r.path.contains(ESCALATIONS)),
        "nothing written to the skill group's queue"
    );
    assert_eq!(world.user(FATIMA)["state"], "inactive");
    world.check_invariants();
}

// Before: the routing-status PUT was skipped once presence was set to Offline, so with a
// presence that does not take the agent off queue, status claimed OFF_QUEUE while she was on.
#[tokio::test]
async fn when_presence_offline_leaves_the_agent_on_queue_the_routing_status_is_set_and_read_back() {
    let world = realistic().await;
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    until_ready(&world, &mut jane, 5).await;

    assert_eq!(world.user(JANE)["routingStatus"]["status"], "OFF_QUEUE");
    let puts = world
        .writes()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/routingstatus"))
        .count();
    assert_eq!(puts, 1, "presence alone did not take her off queue");
    let set_off_queue = status(&jane)
        .actions
        .iter()
        .rfind(|a| a.step.as_str() == "SetOffQueue")
        .cloned()
        .unwrap();
    assert_eq!(set_off_queue.outcome, ActionOutcome::Succeeded);
    assert_eq!(
        set_off_queue.read_back.as_deref(),
        Some("routing status reads OFF_QUEUE")
    );
    assert_eq!(cond(&jane, condition::ROUTING_DRAINED).0, "True");
    world.check_invariants();
}

// Every drain action that is `Succeeded` says what was read back, on the realistic profile
// (expands dropped, queue changes late, search lagging).
#[tokio::test]
async fn on_the_realistic_profile_every_succeeded_drain_action_says_what_was_read() {
    let world = realistic().await;
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    until_ready(&world, &mut jane, 5).await;

    let drained: Vec<_> = status(&jane)
        .actions
        .iter()
        .filter(|a| a.step.is_drain() && a.outcome == ActionOutcome::Succeeded)
        .cloned()
        .collect();
    assert!(drained.len() >= 4, "{drained:?}");
    assert!(drained.iter().all(|a| a.read_back.is_some()), "{drained:?}");
    let stored = world.user(JANE);
    assert!(queue_ids(&stored).is_empty(), "{stored}");
    assert!(stored["station"]["associated"].is_null());
    assert!(stored["station"]["default"].is_null());
    world.check_invariants();
}

// Before the restore read its changes back, a 2xx on the re-add counted as put back: the
// action was `Succeeded` and the restore done while Genesys did not list her in the queue.
#[tokio::test]
async fn a_restore_whose_queue_add_does_not_show_is_awaiting_confirmation_then_confirmed() {
    let world = World::demo().await;
    let mut jane = offboarding("user: {email: jane.doe@example.com}\ndeletionPolicy: Restore\n");
    until_ready(&world, &mut jane, 5).await;
    assert!(!queue_ids(&world.user(JANE)).contains(&BILLING.to_owned()));
    // Genesys answers the re-add 2xx without applying it, once.
    world.sim.inject(
        Fault::new("POST", &format!("/api/v2/routing/queues/{BILLING}/members"))
            .ignore_write()
            .times(1),
    );

    let first = restore(&jane, &world.clients, &world.owners, &world.store)
        .await
        .into_result();
    let error = first.expect_err("nothing shows the queue back: the restore is not done");
    assert_eq!(error.reason(), "AwaitingConfirmation", "{error}");
    jane.status = world.store.latest();
    let billing = actions_of(&jane, "RestoreQueue", BILLING);
    let (outcome, read) = billing.last().unwrap();
    assert_eq!(*outcome, ActionOutcome::Unconfirmed, "{billing:?}");
    assert!(read.as_deref().unwrap().contains("do not list"), "{read:?}");

    // The next pass adds her again (nothing showed it) and reads it back.
    let second = restore(&jane, &world.clients, &world.owners, &world.store)
        .await
        .into_result()
        .unwrap();
    jane.status = Some(second.status.clone());
    assert!(matches!(second.outcome, Outcome::Done { .. }));
    assert!(queue_ids(&world.user(JANE)).contains(&BILLING.to_owned()));
    let billing = actions_of(&jane, "RestoreQueue", BILLING);
    let (outcome, read) = billing.last().unwrap();
    assert_eq!(*outcome, ActionOutcome::Succeeded, "{billing:?}");
    assert!(read.as_deref().unwrap().contains("list"), "{read:?}");
    for action in &status(&jane).actions {
        if action.step.as_str().starts_with("Restore") && action.outcome == ActionOutcome::Succeeded
        {
            assert!(
                action.read_back.is_some(),
                "{action:?} claims what no read showed"
            );
        }
    }
    world.check_invariants();
}
