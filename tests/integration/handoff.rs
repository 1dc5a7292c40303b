//! `spec.handoff` against the emulator: the demo agent's direct report, the colleague she backs
//! up, her open workitem and her voicemail go to her successor before she leaves routing, each
//! move read back; reruns and a crash between moves move nothing twice; an unusable successor
//! stalls before any write; Restore gives back what can be given back and lists the rest.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use genesys_cloud::{GenesysClient, UserId};
use genesys_emulator::{Fault, RecordedRequest, Sim, SimHandle};
use genesys_offboarding_operator::crd::{
    GenesysUserOffboarding, GenesysUserOffboardingStatus, HandoffKind, HandoffKindStatus,
    ImpactAction, ImpactKind, NotRestorableKind, condition,
};
use genesys_offboarding_operator::reconcile::{
    FixedClient, MemoryOwners, MemoryStore, Outcome, reconcile, restore,
};

use crate::support::genesys::{demo_client, demo_org, is_write, offboarding};
use crate::support::invariants::invariants;

const JANE: &str = "6a1b0c3e-0000-4000-8000-000000000001";
const MARIA: &str = "6a1b0c3e-0000-4000-8000-000000000008";
const TOM: &str = "6a1b0c3e-0000-4000-8000-000000000009";
const KEN: &str = "6a1b0c3e-0000-4000-8000-00000000000b";
const ANA: &str = "6a1b0c3e-0000-4000-8000-00000000000a";
const OMAR: &str = "6a1b0c3e-0000-4000-8000-000000000002";
const REFUND: &str = "7d8e9f00-0000-4000-8000-000000000301";
/// Jane's two agent-owned scheduled callbacks, and one of Omar's.
const JANES_CALLBACKS: [&str; 2] = [
    "cb0a8e00-0000-4000-8000-000000000501",
    "cb0a8e00-0000-4000-8000-000000000502",
];
const OMARS_CALLBACK: &str = "cb0a8e00-0000-4000-8000-000000000503";
const PRIYA: &str = "6a1b0c3e-0000-4000-8000-000000000007";
/// The call of Omar's that Jane is to evaluate, and the evaluation.
const OMARS_CALL: &str = "c0a8e001-0000-4000-8000-000000000005";
const PENDING_EVALUATION: &str = "e7a1b2c3-0000-4000-8000-000000000601";
/// The calibration Jane runs, with Priya and herself as evaluators and herself as the expert.
const CALIBRATION: &str = "ca1b0000-0000-4000-8000-000000000701";
const TECH_SUPPORT: &str = "9b2e4d60-0000-4000-8000-0000000000b2";

const JANE_TO_MARIA: &str = "user: {email: jane.doe@example.com}\nhandoff: {successor: {email: maria.garcia@example.com}}\n";

struct World {
    sim: SimHandle,
    clients: FixedClient,
    owners: MemoryOwners,
    store: MemoryStore,
    client: GenesysClient,
}

impl World {
    async fn demo() -> Self {
        let sim = Sim::start(demo_org()).await.unwrap();
        Self {
            clients: FixedClient(demo_client(&sim)),
            client: demo_client(&sim),
            sim,
            owners: MemoryOwners::new(),
            store: MemoryStore::new(),
        }
    }

    /// A pass that may fail (retried by the controller): its error's reason, or its outcome.
    async fn try_pass(
        &self,
        resource: &mut GenesysUserOffboarding,
    ) -> Result<Outcome, &'static str> {
        let result = reconcile(resource, &self.clients, &self.owners, &self.store).await;
        resource.status = Some(result.status.clone());
        result
            .into_result()
            .map(|r| r.outcome)
            .map_err(|e| e.reason())
    }

    async fn pass(&self, resource: &mut GenesysUserOffboarding) -> Outcome {
        let result = reconcile(resource, &self.clients, &self.owners, &self.store).await;
        resource.status = Some(result.status.clone());
        result
            .into_result()
            .unwrap_or_else(|e| panic!("the pass failed: {e:?}"))
            .outcome
    }

    /// The agents a callback is routed to, as `GET /conversations/callbacks/{id}` shows them.
    async fn callback_owners(&self, id: &str) -> Vec<String> {
        self.client
            .get_callback(id)
            .await
            .unwrap()
            .routed_to()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    async fn manager_of(&self, id: &str) -> Option<String> {
        self.client
            .get_user(&UserId::new(id), &[])
            .await
            .unwrap()
            .manager
            .and_then(|m| m.id)
    }

    fn requests_of(&self, operation: &str) -> Vec<RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.operation.as_deref() == Some(operation) && r.status < 300)
            .collect()
    }

    fn check_invariants(&self) {
        invariants(&self.store, &self.sim.requests()).unwrap_or_else(|e| panic!("{e}"));
    }
}

fn status(resource: &GenesysUserOffboarding) -> &GenesysUserOffboardingStatus {
    resource.status.as_ref().unwrap()
}

fn kind(resource: &GenesysUserOffboarding, kind: HandoffKind) -> HandoffKindStatus {
    status(resource)
        .handoff
        .as_ref()
        .unwrap()
        .kinds
        .iter()
        .find(|k| k.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} in status.handoff"))
        .clone()
}

fn counts(k: &HandoffKindStatus) -> (u32, u32, usize) {
    (k.found, k.moved, k.not_movable.len())
}

#[tokio::test]
async fn the_demo_agents_work_goes_to_her_successor_before_she_leaves_routing() {
    let world = World::demo().await;
    let mut jane = offboarding(JANE_TO_MARIA);

    let outcome = world.pass(&mut jane).await;

    assert!(matches!(outcome, Outcome::Done { .. }), "{outcome:?}");
    let handoff = status(&jane).handoff.as_ref().unwrap();
    assert_eq!(handoff.successor.as_ref().unwrap().id, MARIA);
    assert_eq!(counts(&kind(&jane, HandoffKind::DirectReport)), (1, 1, 0));
    assert_eq!(
        counts(&kind(&jane, HandoffKind::DirectRoutingBackup)),
        (1, 1, 0)
    );
    // The closed workitem is not open work: it is not found.
    assert_eq!(counts(&kind(&jane, HandoffKind::Workitem)), (1, 1, 0));
    assert_eq!(counts(&kind(&jane, HandoffKind::Voicemail)), (2, 2, 0));
    assert_eq!(counts(&kind(&jane, HandoffKind::Callback)), (2, 2, 0));
    // Genesys, read with the client, shows each piece at its new owner.
    for callback in JANES_CALLBACKS {
        assert_eq!(world.callback_owners(callback).await, [MARIA]);
    }
    // Omar's callback is his: not found, not touched.
    assert_eq!(world.callback_owners(OMARS_CALLBACK).await, [OMAR]);
    assert_eq!(counts(&kind(&jane, HandoffKind::Evaluation)), (1, 1, 0));
    assert_eq!(counts(&kind(&jane, HandoffKind::Calibration)), (1, 1, 0));
    let evaluation = world
        .client
        .get_evaluation(OMARS_CALL, PENDING_EVALUATION)
        .await
        .unwrap();
    assert_eq!(evaluation.assignee_id(), Some(MARIA));
    let calibration = world.client.get_calibration(CALIBRATION).await.unwrap();
    assert_eq!(calibration.evaluator_ids(), [MARIA, PRIYA]);
    assert_eq!(calibration.expert_id(), Some(MARIA));
    assert_eq!(world.manager_of(TOM).await.as_deref(), Some(MARIA));
    let backup = world
        .client
        .get_direct_routing_backup(&UserId::new(KEN))
        .await
        .unwrap();
    assert_eq!(backup.user_id.as_deref(), Some(MARIA));
    let workitem = world.client.get_workitem(REFUND).await.unwrap();
    assert_eq!(workitem.assignee.and_then(|a| a.id).as_deref(), Some(MARIA));
    let marias = world
        .client
        .get_user_voicemail(&UserId::new(MARIA))
        .await
        .unwrap();
    assert_eq!(marias.len(), 2, "both messages copied once: {marias:?}");
    assert_eq!(
        world.sim.user(JANE).unwrap()["state"].as_str(),
        Some("inactive")
    );
    // Every handoff write came before the first routing write (the presence change).
    let requests = world.sim.requests();
    let first_drain = requests
        .iter()
        .position(|r| {
            matches!(
                r.operation.as_deref(),
                Some("patch_user_presence" | "put_users_presences_bulk")
            )
        })
        .unwrap();
    for op in [
        "patch_conversations_callbacks",
        "put_quality_conversation_evaluation",
        "put_quality_calibration",
        "patch_taskmanagement_workitem",
        "put_routing_user_directroutingbackup_settings",
        "post_voicemail_messages",
    ] {
        let at = requests
            .iter()
            .position(|r| r.operation.as_deref() == Some(op))
            .unwrap();
        assert!(at < first_drain, "{op} ran after the drain began");
    }
    let manager_patch = requests
        .iter()
        .position(|r| r.operation.as_deref() == Some("patch_user") && r.path.ends_with(TOM))
        .unwrap();
    assert!(manager_patch < first_drain);
    world.check_invariants();
}

#[tokio::test]
async fn a_second_pass_moves_nothing_again() {
    let world = World::demo().await;
    let mut jane = offboarding(JANE_TO_MARIA);
    world.pass(&mut jane).await;
    world.sim.clear_requests();

    world.pass(&mut jane).await;

    let handoff_ops = [
        "get_user_directreports",
        "patch_taskmanagement_workitem",
        "put_routing_user_directroutingbackup_settings",
        "post_voicemail_messages",
        "post_taskmanagement_workitems_query",
        "patch_conversations_callbacks",
        "put_quality_conversation_evaluation",
        "put_quality_calibration",
    ];
    for op in handoff_ops {
        assert!(world.requests_of(op).is_empty(), "{op} sent again");
    }
    assert!(world.sim.requests().iter().all(|r| !is_write(r)));
    world.check_invariants();
}

#[tokio::test]
async fn a_crash_after_the_moves_converges_without_moving_anything_twice() {
    let world = World::demo().await;
    let mut jane = offboarding(JANE_TO_MARIA);
    // A first run moves everything, then "dies" before the handoff's result is persisted: the
    // next run starts from the status saved just before the HandOff step.
    world.pass(&mut jane).await;
    let before_handoff = world
        .store
        .history()
        .into_iter()
        .rev()
        .find(|s| {
            s.status.snapshot.is_some()
                && s.status.plan.iter().any(|p| p.step.as_str() == "HandOff")
        })
        .unwrap()
        .status;
    let mut rerun = offboarding(JANE_TO_MARIA);
    rerun.status = Some(before_handoff);

    world.pass(&mut rerun).await;

    assert_eq!(world.requests_of("post_voicemail_messages").len(), 2);
    assert_eq!(world.requests_of("patch_conversations_callbacks").len(), 2);
    assert_eq!(
        world
            .requests_of("put_quality_conversation_evaluation")
            .len(),
        1
    );
    assert_eq!(world.requests_of("put_quality_calibration").len(), 1);
    assert_eq!(world.requests_of("patch_taskmanagement_workitem").len(), 1);
    assert_eq!(
        world
            .requests_of("put_routing_user_directroutingbackup_settings")
            .len(),
        1
    );
    let manager_patches = world
        .requests_of("patch_user")
        .into_iter()
        .filter(|r| r.path.ends_with(TOM))
        .count();
    assert_eq!(manager_patches, 1);
    assert_eq!(counts(&kind(&rerun, HandoffKind::Voicemail)), (2, 2, 0));
    assert_eq!(counts(&kind(&rerun, HandoffKind::DirectReport)), (1, 1, 0));
    assert_eq!(counts(&kind(&rerun, HandoffKind::Callback)), (2, 2, 0));
}

#[tokio::test]
async fn a_move_that_fails_midway_is_finished_by_the_next_pass_and_nothing_moves_twice() {
    let world = World::demo().await;
    let mut jane = offboarding(JANE_TO_MARIA);
    world.sim.inject(
        Fault::new("PATCH", "/api/v2/taskmanagement/workitems/*")
            .status(400)
            .times(1),
    );

    // Genesys refuses the workitem's move: the pass stalls with Genesys's reason.
    let refused = world.pass(&mut jane).await;
    assert!(
        matches!(refused, Outcome::Stalled { .. }),
        "the workitem move was refused: {refused:?}"
    );
    // The pass stopped at the handoff: Jane is still active and in routing.
    assert_eq!(
        world.sim.user(JANE).unwrap()["state"].as_str(),
        Some("active")
    );
    assert!(world.requests_of("patch_user_presence").is_empty());
    assert!(world.requests_of("put_users_presences_bulk").is_empty());

    let outcome = world.pass(&mut jane).await;

    assert!(matches!(outcome, Outcome::Done { .. }), "{outcome:?}");
    assert_eq!(world.requests_of("patch_taskmanagement_workitem").len(), 1);
    assert_eq!(
        world
            .requests_of("put_routing_user_directroutingbackup_settings")
            .len(),
        1
    );
    assert_eq!(counts(&kind(&jane, HandoffKind::Workitem)), (1, 1, 0));
    world.check_invariants();
}

#[tokio::test]
async fn an_ambiguous_or_inactive_successor_stalls_before_anything_is_written() {
    for (successor, reason) in [
        ("alex.morgan@example.com", "SuccessorUnresolved"),
        ("li.wei@example.com", "SuccessorInactive"),
        ("nobody@example.com", "SuccessorUnresolved"),
        ("jane.doe@example.com", "SuccessorIsUser"),
    ] {
        let world = World::demo().await;
        let mut jane = offboarding(&format!(
            "user: {{email: jane.doe@example.com}}\nhandoff: {{successor: {{email: {successor}}}}}\n"
        ));

        let outcome = world.pass(&mut jane).await;

        match outcome {
            Outcome::Stalled { reason: got, .. } => assert_eq!(got, reason, "{successor}"),
            other => panic!("{successor}: {other:?}"),
        }
        let stalled = status(&jane).condition(condition::STALLED).unwrap();
        assert_eq!(stalled.reason, reason);
        assert!(
            world.sim.requests().iter().all(|r| !is_write(r)),
            "{successor}: nothing is written"
        );
        assert!(status(&jane).snapshot.is_none());
    }
}

#[tokio::test]
async fn observe_mode_lists_the_work_and_moves_nothing() {
    let world = World::demo().await;
    let mut jane = offboarding(&format!("{JANE_TO_MARIA}managementPolicy: Observe\n"));

    world.pass(&mut jane).await;

    let items = &status(&jane).snapshot.as_ref().unwrap().handoff;
    assert_eq!(items.len(), 9, "{items:?}");
    assert!(items.iter().all(|i| i.to.as_deref() == Some(MARIA)));
    // Counted before any write: found, none moved yet.
    assert_eq!(counts(&kind(&jane, HandoffKind::Voicemail)), (2, 0, 0));
    assert_eq!(counts(&kind(&jane, HandoffKind::DirectReport)), (1, 0, 0));
    assert_eq!(counts(&kind(&jane, HandoffKind::Callback)), (2, 0, 0));
    assert_eq!(counts(&kind(&jane, HandoffKind::Evaluation)), (1, 0, 0));
    assert_eq!(counts(&kind(&jane, HandoffKind::Calibration)), (1, 0, 0));
    assert!(world.sim.requests().iter().all(|r| !is_write(r)));
    assert_eq!(world.manager_of(TOM).await.as_deref(), Some(JANE));
    // Who would take it over is claimed already: the successor was resolved by a read.
    assert_eq!(
        status(&jane)
            .handoff
            .as_ref()
            .and_then(|h| h.successor.as_ref())
            .map(|s| s.id.as_str()),
        Some(MARIA)
    );
    // The impact lists the same work, each piece to be handed off.
    let handed_off = impact_of(&jane, ImpactAction::HandedOff);
    for (kind, id) in [
        (ImpactKind::DirectReport, TOM),
        (ImpactKind::DirectRoutingBackup, KEN),
        (ImpactKind::Workitem, REFUND),
    ] {
        assert!(
            handed_off.contains(&(kind, id.to_owned())),
            "{kind:?} {id} not in {handed_off:?}"
        );
    }
    assert_eq!(
        handed_off
            .iter()
            .filter(|(k, _)| *k == ImpactKind::Voicemail)
            .count(),
        2
    );
}

/// The `(kind, id)` of the impact items of `resource` with `action`, for the kinds of work.
fn impact_of(resource: &GenesysUserOffboarding, action: ImpactAction) -> Vec<(ImpactKind, String)> {
    status(resource)
        .impact
        .as_ref()
        .expect("status.impact")
        .items
        .iter()
        .filter(|i| i.action == action)
        .map(|i| (i.kind, i.id.clone()))
        .collect()
}

#[tokio::test]
async fn without_a_successor_the_queue_takes_what_a_queue_can_hold() {
    let world = World::demo().await;
    let mut jane = offboarding(&format!(
        "user: {{email: jane.doe@example.com}}\nhandoff: {{fallbackQueue: {{id: {TECH_SUPPORT}}}}}\n"
    ));

    world.pass(&mut jane).await;

    assert_eq!(counts(&kind(&jane, HandoffKind::Workitem)), (1, 1, 0));
    assert_eq!(
        counts(&kind(&jane, HandoffKind::DirectRoutingBackup)),
        (1, 1, 0)
    );
    assert_eq!(counts(&kind(&jane, HandoffKind::DirectReport)), (1, 0, 1));
    assert_eq!(counts(&kind(&jane, HandoffKind::Voicemail)), (2, 0, 2));
    // A callback is handed to a user (the API requires an agent): not to a queue, and the
    // status says why.
    let callbacks = kind(&jane, HandoffKind::Callback);
    assert_eq!(counts(&callbacks), (2, 0, 2));
    assert!(
        callbacks.not_movable[0].reason.contains("requires agentId"),
        "{callbacks:?}"
    );
    for callback in JANES_CALLBACKS {
        assert_eq!(world.callback_owners(callback).await, [JANE]);
    }
    // So are evaluations and calibrations: they are done by a person.
    assert_eq!(counts(&kind(&jane, HandoffKind::Evaluation)), (1, 0, 1));
    assert_eq!(counts(&kind(&jane, HandoffKind::Calibration)), (1, 0, 1));
    // The impact read before the first write says the same: a queue takes the workitem and the
    // backup; the direct report and the voicemail, which need a person, are only reported.
    let handed_off = impact_of(&jane, ImpactAction::HandedOff);
    assert!(handed_off.contains(&(ImpactKind::Workitem, REFUND.to_owned())));
    assert!(handed_off.contains(&(ImpactKind::DirectRoutingBackup, KEN.to_owned())));
    let reported = impact_of(&jane, ImpactAction::ReportedOnly);
    assert!(reported.contains(&(ImpactKind::DirectReport, TOM.to_owned())));
    assert_eq!(
        reported
            .iter()
            .filter(|(k, _)| *k == ImpactKind::Voicemail)
            .count(),
        2
    );
    let workitem = world.client.get_workitem(REFUND).await.unwrap();
    assert!(workitem.assignee.is_none());
    assert_eq!(
        workitem.queue.and_then(|q| q.id).as_deref(),
        Some(TECH_SUPPORT)
    );
    let backup = world
        .client
        .get_direct_routing_backup(&UserId::new(KEN))
        .await
        .unwrap();
    assert_eq!(backup.queue_id.as_deref(), Some(TECH_SUPPORT));
    assert_eq!(backup.user_id, None);
    assert_eq!(world.manager_of(TOM).await.as_deref(), Some(JANE));
    world.check_invariants();
}

#[tokio::test]
async fn an_agent_with_nothing_to_hand_off_costs_a_few_reads() {
    let world = World::demo().await;
    let mut ana = offboarding(
        "user: {email: ana.silva@example.com}\nhandoff: {successor: {email: maria.garcia@example.com}}\n",
    );
    let mut plain = offboarding("user: {email: ana.silva@example.com}\n");
    let baseline_world = World::demo().await;

    world.pass(&mut ana).await;
    baseline_world.pass(&mut plain).await;

    // Left out: the snapshot's own reads of the groups and team, made only when an answer's
    // best-effort `expand` left them out, and which answer does depends on how many came before.
    let counted = |sim: &genesys_emulator::SimHandle| {
        sim.requests()
            .iter()
            .filter(|r| {
                let expand = r.query.replace("%2C", ",");
                !(r.operation.as_deref() == Some("get_user") && expand == "expand=groups,team")
            })
            .count()
    };
    let with = counted(&world.sim);
    let without = counted(&baseline_world.sim);
    // Successor search and read, then one read per kind: owned callbacks (one analytics details
    // page), pending evaluations, calibrations, direct reports, direct-routing backup, open
    // workitems, voicemail.
    assert_eq!(
        with - without,
        9,
        "{:#?}",
        world
            .sim
            .requests()
            .iter()
            .map(|r| r.operation.clone())
            .collect::<Vec<_>>()
    );
    assert!(status(&ana).handoff.as_ref().unwrap().kinds.is_empty());
    assert!(world.sim.user(ANA).is_some());
}

#[tokio::test]
async fn offboardings_that_name_one_successor_resolve_them_once_per_short_while() {
    // Ana and Omar leave at once and both hand their work to Maria, through one client.
    let world = World::demo().await;
    let to_maria = "handoff: {successor: {email: maria.garcia@example.com}}\n";
    let mut ana = offboarding(&format!(
        "user: {{email: ana.silva@example.com}}\n{to_maria}"
    ));
    let mut omar = offboarding(&format!(
        "user: {{email: omar.haddad@example.com}}\nrouting: {{activeConversations: Proceed}}\n{to_maria}"
    ));

    world.pass(&mut ana).await;
    world.pass(&mut omar).await;

    let searches_for_maria = world
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r.path == "/api/v2/users/search"
                && r.body
                    .as_ref()
                    .is_some_and(|b| b.to_string().contains("maria.garcia@example.com"))
        })
        .count();
    assert_eq!(
        searches_for_maria, 1,
        "the second pass takes the resolution the first made (handoff::SUCCESSOR_MAX_AGE)"
    );
    for resource in [&ana, &omar] {
        let successor = status(resource).handoff.as_ref().unwrap().successor.clone();
        assert_eq!(successor.unwrap().id, MARIA);
    }
}

#[tokio::test]
async fn restore_gives_back_the_manager_and_the_backup_and_lists_the_workitem() {
    let world = World::demo().await;
    let mut jane = offboarding(&format!("{JANE_TO_MARIA}deletionPolicy: Restore\n"));
    world.pass(&mut jane).await;

    let restored = restore(&jane, &world.clients, &world.owners, &world.store).await;

    let status = restored.status;
    assert!(restored.result.is_ok(), "{:?}", restored.result);
    assert_eq!(world.manager_of(TOM).await.as_deref(), Some(JANE));
    let backup = world
        .client
        .get_direct_routing_backup(&UserId::new(KEN))
        .await
        .unwrap();
    assert_eq!(backup.user_id.as_deref(), Some(JANE));
    let listed: Vec<(NotRestorableKind, &str)> = status
        .not_restorable
        .iter()
        .map(|n| (n.what, n.id.as_str()))
        .collect();
    assert!(
        listed.contains(&(NotRestorableKind::Workitem, REFUND)),
        "{listed:?}"
    );
    for callback in JANES_CALLBACKS {
        assert!(
            listed.contains(&(NotRestorableKind::Callback, callback)),
            "{listed:?}"
        );
    }
    let evaluation = format!("{OMARS_CALL}/{PENDING_EVALUATION}");
    assert!(
        listed.contains(&(NotRestorableKind::Evaluation, evaluation.as_str())),
        "{listed:?}"
    );
    assert!(
        listed.contains(&(NotRestorableKind::Calibration, CALIBRATION)),
        "{listed:?}"
    );
    world.check_invariants();
}

#[tokio::test]
async fn a_move_genesys_accepts_but_never_applies_is_counted_and_stalls_naming_it() {
    let world = World::demo().await;
    let mut jane = offboarding(JANE_TO_MARIA);
    // Genesys answers the workitem's PATCH 2xx (with the workitem as it is) and never applies it.
    world.sim.inject(
        Fault::new("PATCH", "/api/v2/taskmanagement/workitems/*")
            .ignore_write()
            .times(100),
    );

    // Each pass writes again (no read shows the move), counts the pass, and stops before the
    // drain; the fifth stalls, naming the workitem.
    for attempt in 1..=4 {
        let result = world.try_pass(&mut jane).await;
        assert_eq!(result, Err("AwaitingConfirmation"), "pass {attempt}");
        let entry = status(&jane)
            .not_applied
            .iter()
            .find(|n| n.step.as_str() == "HandOff")
            .unwrap_or_else(|| panic!("pass {attempt}: no HandOff in status.notApplied"))
            .clone();
        assert_eq!(entry.attempts, attempt);
        assert!(entry.observed.contains(REFUND), "{}", entry.observed);
    }
    let stalled = world.try_pass(&mut jane).await;

    match stalled {
        Ok(Outcome::Stalled { reason, message }) => {
            assert_eq!(reason, "HandoffNotApplied");
            assert!(message.contains(&format!("Workitem {REFUND}")), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let entry = status(&jane)
        .not_applied
        .iter()
        .find(|n| n.step.as_str() == "HandOff")
        .unwrap()
        .clone();
    assert_eq!(entry.attempts, 5);
    // The rest moved once, in the first pass, and was never written again.
    assert_eq!(world.requests_of("patch_conversations_callbacks").len(), 2);
    assert_eq!(world.requests_of("post_voicemail_messages").len(), 2);
    assert_eq!(counts(&kind(&jane, HandoffKind::Workitem)), (1, 0, 0));
    assert_eq!(counts(&kind(&jane, HandoffKind::Callback)), (2, 2, 0));
    // Nothing after the handoff ran: Jane is active and was never drained.
    assert_eq!(
        world.sim.user(JANE).unwrap()["state"].as_str(),
        Some("active")
    );
    assert!(world.requests_of("patch_user_presence").is_empty());
    assert!(world.requests_of("put_users_presences_bulk").is_empty());
    world.check_invariants();
}

#[tokio::test]
async fn a_move_that_shows_late_clears_its_count_and_the_offboarding_goes_on() {
    let world = World::demo().await;
    let mut jane = offboarding(JANE_TO_MARIA);
    world.sim.inject(
        Fault::new("PATCH", "/api/v2/taskmanagement/workitems/*")
            .ignore_write()
            .times(2),
    );

    assert_eq!(world.try_pass(&mut jane).await, Err("AwaitingConfirmation"));
    assert_eq!(world.try_pass(&mut jane).await, Err("AwaitingConfirmation"));
    let outcome = world.pass(&mut jane).await;

    assert!(matches!(outcome, Outcome::Done { .. }), "{outcome:?}");
    assert!(
        status(&jane)
            .not_applied
            .iter()
            .all(|n| n.step.as_str() != "HandOff"),
        "{:?}",
        status(&jane).not_applied
    );
    assert_eq!(counts(&kind(&jane, HandoffKind::Workitem)), (1, 1, 0));
    world.check_invariants();
}

#[tokio::test]
async fn a_crash_between_two_moves_converges_without_moving_anything_twice() {
    let world = World::demo().await;
    let mut jane = offboarding(JANE_TO_MARIA);
    // The evaluation's PUT is applied but no answer ever arrives, through every retry of the
    // client (the pass ends there, as a process dying between two moves would): the callbacks
    // before it are moved, the calibration and everything after are not.
    world.sim.inject(
        Fault::new("PUT", "/api/v2/quality/conversations/*/evaluations/*")
            .after_serve()
            .reset()
            .times(20),
    );
    let crashed = world.try_pass(&mut jane).await;
    assert!(crashed.is_err(), "{crashed:?}");
    assert_eq!(world.requests_of("patch_conversations_callbacks").len(), 2);
    assert_eq!(world.requests_of("put_quality_calibration").len(), 0);
    // The evaluation's move took effect though its answer was lost.
    let evaluation = world
        .client
        .get_evaluation(OMARS_CALL, PENDING_EVALUATION)
        .await
        .unwrap();
    assert_eq!(evaluation.assignee_id(), Some(MARIA));
    // The next run starts from the last status persisted before the HandOff step.
    let before_handoff = world
        .store
        .history()
        .into_iter()
        .rev()
        .find(|s| {
            s.status.snapshot.is_some()
                && s.status.plan.iter().any(|p| p.step.as_str() == "HandOff")
        })
        .unwrap()
        .status;
    let mut rerun = offboarding(JANE_TO_MARIA);
    rerun.status = Some(before_handoff);
    world.sim.clear_requests();

    let outcome = world.pass(&mut rerun).await;

    assert!(matches!(outcome, Outcome::Done { .. }), "{outcome:?}");
    let sent = |operation: &str| {
        world
            .sim
            .requests()
            .into_iter()
            .filter(|r| r.operation.as_deref() == Some(operation))
            .count()
    };
    // The rerun read every piece first: what had moved is not written again, the rest once.
    assert_eq!(sent("patch_conversations_callbacks"), 0);
    assert_eq!(sent("put_quality_conversation_evaluation"), 0);
    assert_eq!(sent("put_quality_calibration"), 1);
    assert_eq!(sent("patch_taskmanagement_workitem"), 1);
    assert_eq!(sent("post_voicemail_messages"), 2);
    assert_eq!(counts(&kind(&rerun, HandoffKind::Evaluation)), (1, 1, 0));
    assert_eq!(counts(&kind(&rerun, HandoffKind::Callback)), (2, 2, 0));
    world.check_invariants();
}
