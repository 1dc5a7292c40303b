//! `deletionPolicy: Restore` with full fidelity: the snapshot keeps the user's utilization, call
//! forwarding, groups and team; a restore puts back what changed since (an administrator pulled
//! the user from a group, someone reset the forwarding), claims only what a read shows, and
//! lists what it cannot put back with the reason. Real reconcile passes against the emulator's
//! demo org (Jane: her own utilization, calls forwarded to a phone number, group Billing Floor,
//! team Day Shift).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use genesys_cloud::{CallForwarding, GenesysClient, UserId, UtilizationRequest};
use genesys_emulator::{Fault, Sim, SimHandle};
use genesys_offboarding_operator::crd::{
    ActionOutcome, GenesysUserOffboarding, NotRestorableKind, UserSnapshot, condition,
};
use genesys_offboarding_operator::reconcile::{
    FixedClient, MemoryOwners, MemoryStore, Outcome, Reconciled, reconcile, restore,
};

use crate::support::genesys::{demo_client, demo_org, offboarding};
use crate::support::invariants::invariants;

const JANE: &str = "6a1b0c3e-0000-4000-8000-000000000001";
const BILLING_FLOOR: &str = "3c4d5e6f-0000-4000-8000-0000000000c4";
const DAY_SHIFT: &str = "3c4d5e6f-0000-4000-8000-0000000000c5";
const NIGHT_SHIFT: &str = "3c4d5e6f-0000-4000-8000-0000000000c2";
const SPEC: &str = "user: {email: jane.doe@example.com}\ndeletionPolicy: Restore\n";

struct World {
    sim: SimHandle,
    client: GenesysClient,
    clients: FixedClient,
    owners: MemoryOwners,
    store: MemoryStore,
}

impl World {
    async fn demo() -> Self {
        Self::new(demo_org()).await
    }

    async fn new(fixture: genesys_emulator::fixture::Fixture) -> Self {
        let sim = Sim::start(fixture).await.unwrap();
        Self {
            client: demo_client(&sim),
            clients: FixedClient(demo_client(&sim)),
            sim,
            owners: MemoryOwners::new(),
            store: MemoryStore::new(),
        }
    }

    /// Jane offboarded (the realistic profile may need more than one pass).
    async fn offboarded(&self) -> GenesysUserOffboarding {
        self.offboarded_with(SPEC).await
    }

    /// Jane offboarded by `spec`.
    async fn offboarded_with(&self, spec: &str) -> GenesysUserOffboarding {
        let mut jane = offboarding(spec);
        for _ in 0..5 {
            let result = reconcile(&jane, &self.clients, &self.owners, &self.store)
                .await
                .into_result();
            jane.status = self.store.latest();
            let ready = jane
                .status
                .as_ref()
                .and_then(|s| s.condition(condition::READY))
                .is_some_and(|c| c.status == "True");
            if result.is_ok() && ready {
                return jane;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never Ready: {:?}", jane.status);
    }

    /// `jane` restored in one pass, which must finish.
    async fn restored(&self, jane: &GenesysUserOffboarding) -> Reconciled {
        let restored = restore(jane, &self.clients, &self.owners, &self.store)
            .await
            .into_result()
            .unwrap();
        assert!(
            matches!(restored.outcome, Outcome::Done { .. }),
            "{:?}",
            restored.outcome
        );
        restored
    }

    fn snapshot(jane: &GenesysUserOffboarding) -> UserSnapshot {
        jane.status.as_ref().unwrap().snapshot.clone().unwrap()
    }

    fn jane(&self) -> serde_json::Value {
        self.sim.user(JANE).unwrap()
    }

    fn check_invariants(&self) {
        invariants(&self.store, &self.sim.requests()).unwrap_or_else(|e| panic!("{e}"));
    }
}

fn actions(jane: &GenesysUserOffboarding, step: &str) -> Vec<(ActionOutcome, Option<String>)> {
    jane.status
        .as_ref()
        .unwrap()
        .actions
        .iter()
        .filter(|a| a.step.as_str() == step)
        .map(|a| (a.outcome, a.read_back.clone()))
        .collect()
}

#[tokio::test]
async fn the_snapshot_records_utilization_call_forwarding_groups_and_team() {
    let world = World::demo().await;

    let jane = world.offboarded().await;

    let snapshot = World::snapshot(&jane);
    let utilization = snapshot.utilization.unwrap();
    assert_eq!(utilization.level, "Agent");
    assert_eq!(
        utilization.media["chat"].maximum_capacity,
        Some(3),
        "{utilization:?}"
    );
    assert_eq!(
        utilization.media["chat"].interruptable_media_types,
        ["call"]
    );
    let forwarding = snapshot.call_forwarding.unwrap();
    assert!(forwarding.enabled);
    assert_eq!(forwarding.voicemail.as_deref(), Some("LASTCALL"));
    assert_eq!(
        forwarding.calls[0].targets[0].value.as_deref(),
        Some("+13175550142")
    );
    let groups: Vec<&str> = snapshot.groups.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(groups, [BILLING_FLOOR]);
    let team = snapshot.team.unwrap();
    assert_eq!(
        (team.id.as_str(), team.name.as_deref()),
        (DAY_SHIFT, Some("Day Shift"))
    );
    // The offboarding itself never changes them.
    let stored = world.jane();
    assert_eq!(stored["groups"], serde_json::json!([BILLING_FLOOR]));
    assert_eq!(stored["team"], DAY_SHIFT);
    assert_eq!(stored["callForwarding"]["enabled"], true);
    world.check_invariants();
}

#[tokio::test]
async fn an_old_snapshot_without_the_new_fields_still_restores() {
    let world = World::demo().await;
    let mut jane = world.offboarded().await;
    // A status written before the snapshot had these fields.
    let mut status = jane.status.clone().unwrap();
    let mut raw = serde_json::to_value(status.snapshot.take().unwrap()).unwrap();
    for field in ["utilization", "callForwarding", "team"] {
        raw.as_object_mut().unwrap().remove(field);
    }
    status.snapshot = Some(serde_json::from_value(raw).unwrap());
    jane.status = Some(status);
    world
        .client
        .put_call_forwarding(&UserId::new(JANE), &CallForwarding::default())
        .await
        .unwrap();
    world.sim.clear_requests();

    world.restored(&jane).await;

    assert_eq!(world.jane()["state"], "active");
    assert_eq!(
        world.jane()["callForwarding"]["enabled"],
        false,
        "what the snapshot does not hold is left alone"
    );
    assert!(
        world
            .sim
            .requests()
            .iter()
            .all(|r| !r.path.ends_with("/callforwarding") && !r.path.ends_with("/utilization")),
        "nothing read or written for fields the snapshot lacks"
    );
}

#[tokio::test]
async fn restore_puts_back_a_changed_utilization_call_forwarding_group_and_team() {
    let world = World::demo().await;
    let mut jane = world.offboarded().await;
    let id = UserId::new(JANE);
    // Behind the operator's back: someone lowers her chat capacity and turns forwarding off,
    // an administrator pulls her from her group and her team.
    let mut lowered = UtilizationRequest::default();
    lowered.utilization.insert(
        "chat".into(),
        genesys_cloud::MediaUtilization {
            maximum_capacity: Some(1),
            ..Default::default()
        },
    );
    world
        .client
        .put_user_utilization(&id, &lowered)
        .await
        .unwrap();
    world
        .client
        .put_call_forwarding(&id, &CallForwarding::default())
        .await
        .unwrap();
    world.sim.edit_org(|org| {
        let user = org.user_mut(JANE).unwrap();
        user.groups.clear();
        user.team = None;
    });

    let restored = restore(&jane, &world.clients, &world.owners, &world.store)
        .await
        .into_result()
        .unwrap();
    jane.status = Some(restored.status.clone());

    assert!(matches!(restored.outcome, Outcome::Done { .. }));
    let stored = world.jane();
    assert_eq!(
        stored["utilization"]["utilization"]["chat"]["maximumCapacity"],
        3
    );
    assert_eq!(stored["callForwarding"]["enabled"], true);
    assert_eq!(stored["callForwarding"]["voicemail"], "LASTCALL");
    assert_eq!(stored["groups"], serde_json::json!([BILLING_FLOOR]));
    assert_eq!(stored["team"], DAY_SHIFT);
    for step in [
        "RestoreUtilization",
        "RestoreCallForwarding",
        "RestoreGroup",
        "RestoreTeam",
    ] {
        let done = actions(&jane, step);
        assert_eq!(done.len(), 1, "{step}: {done:?}");
        assert_eq!(done[0].0, ActionOutcome::Succeeded, "{step}: {done:?}");
        assert!(done[0].1.is_some(), "{step} claims what a read showed");
    }
    let group_add = world
        .sim
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == format!("/api/v2/groups/{BILLING_FLOOR}/members"))
        .unwrap();
    assert_eq!(
        group_add.body.unwrap(),
        serde_json::json!({"memberIds": [JANE], "version": 1}),
        "the group's version as read"
    );
    assert!(
        restored.status.not_restorable.iter().all(|n| !matches!(
            n.what,
            NotRestorableKind::Utilization
                | NotRestorableKind::CallForwarding
                | NotRestorableKind::Group
                | NotRestorableKind::Team
        )),
        "{:?}",
        restored.status.not_restorable
    );

    // A second restore finds everything as the snapshot holds it and writes nothing.
    world.sim.clear_requests();
    restore(&jane, &world.clients, &world.owners, &world.store)
        .await
        .into_result()
        .unwrap();
    let writes: Vec<_> = world
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" || r.method == "POST" && r.path.contains("/members"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    world.check_invariants();
}

#[tokio::test]
async fn a_forwarding_write_genesys_accepts_without_applying_is_not_claimed_restored() {
    let world = World::demo().await;
    let jane = world.offboarded().await;
    let id = UserId::new(JANE);
    world
        .client
        .put_call_forwarding(&id, &CallForwarding::default())
        .await
        .unwrap();
    world.sim.inject(
        Fault::new("PUT", &format!("/api/v2/users/{JANE}/callforwarding"))
            .ignore_write()
            .times(1),
    );

    let first = restore(&jane, &world.clients, &world.owners, &world.store)
        .await
        .into_result();

    let error = first.expect_err("no read shows the forwarding back: not done");
    assert_eq!(error.reason(), "AwaitingConfirmation", "{error}");
    let mut jane = jane;
    jane.status = world.store.latest();
    let forwarding = actions(&jane, "RestoreCallForwarding");
    assert_eq!(forwarding.len(), 1, "{forwarding:?}");
    assert_eq!(forwarding[0].0, ActionOutcome::Unconfirmed);
    assert!(
        forwarding[0]
            .1
            .as_deref()
            .unwrap()
            .contains("does not read"),
        "{forwarding:?}"
    );
    assert_eq!(world.jane()["callForwarding"]["enabled"], false);

    // The next pass writes again and reads it back.
    let second = restore(&jane, &world.clients, &world.owners, &world.store)
        .await
        .into_result()
        .unwrap();
    assert!(matches!(second.outcome, Outcome::Done { .. }));
    assert_eq!(world.jane()["callForwarding"]["enabled"], true);
    jane.status = Some(second.status);
    assert_eq!(
        actions(&jane, "RestoreCallForwarding").last().unwrap().0,
        ActionOutcome::Succeeded
    );
    world.check_invariants();
}

#[tokio::test]
async fn a_deleted_group_and_a_later_team_are_listed_not_restorable_with_the_reason() {
    let world = World::demo().await;
    let jane = world.offboarded().await;
    // Her group is deleted; she is moved to another team.
    world.sim.edit_org(|org| {
        org.groups.retain(|g| g.id != BILLING_FLOOR);
        org.user_mut(JANE).unwrap().groups.clear();
    });
    world
        .client
        .add_team_member(NIGHT_SHIFT, &UserId::new(JANE))
        .await
        .unwrap();

    let restored = world.restored(&jane).await;

    let listed: Vec<_> = restored
        .status
        .not_restorable
        .iter()
        .map(|n| (n.what, n.id.as_str(), n.why.as_str()))
        .collect();
    let group = listed
        .iter()
        .find(|(what, id, _)| *what == NotRestorableKind::Group && *id == BILLING_FLOOR)
        .unwrap_or_else(|| panic!("{listed:?}"));
    assert!(group.2.contains("no longer exists"), "{listed:?}");
    let team = listed
        .iter()
        .find(|(what, id, _)| *what == NotRestorableKind::Team && *id == DAY_SHIFT)
        .unwrap_or_else(|| panic!("{listed:?}"));
    assert!(team.2.contains(NIGHT_SHIFT), "{listed:?}");
    assert_eq!(world.jane()["team"], NIGHT_SHIFT, "the later choice stands");
    assert!(
        world
            .sim
            .requests()
            .iter()
            .all(|r| !(r.method == "POST" && r.path.contains("/groups/"))),
        "nothing is added to a group that is gone"
    );
    world.check_invariants();
}

#[tokio::test]
async fn an_inherited_utilization_is_never_written_as_the_users_own() {
    // Jane without utilization of her own: the organization's applies to her.
    let mut fixture = demo_org();
    fixture
        .users
        .iter_mut()
        .find(|u| u.id == JANE)
        .unwrap()
        .utilization = None;
    let world = World::new(fixture).await;
    let jane = world.offboarded().await;
    assert_eq!(
        World::snapshot(&jane).utilization.unwrap().level,
        "Organization"
    );
    // Someone gives her a utilization of her own after the offboarding.
    let mut own = UtilizationRequest::default();
    own.utilization.insert(
        "call".into(),
        genesys_cloud::MediaUtilization {
            maximum_capacity: Some(1),
            ..Default::default()
        },
    );
    world
        .client
        .put_user_utilization(&UserId::new(JANE), &own)
        .await
        .unwrap();
    world.sim.clear_requests();

    let restored = world.restored(&jane).await;

    let listed = restored
        .status
        .not_restorable
        .iter()
        .find(|n| n.what == NotRestorableKind::Utilization)
        .unwrap_or_else(|| panic!("{:?}", restored.status.not_restorable));
    assert!(listed.why.contains("organization"), "{listed:?}");
    assert!(
        world
            .sim
            .requests()
            .iter()
            .all(|r| !(r.method == "PUT" && r.path.ends_with("/utilization"))),
        "the organization's values are never written as hers"
    );
    assert_eq!(
        world.jane()["utilization"]["utilization"]["call"]["maximumCapacity"],
        1,
        "her own stays as it is"
    );
    world.check_invariants();
}

#[tokio::test]
async fn after_a_minimal_snapshot_the_role_grants_are_listed_not_restorable_and_nothing_is_guessed()
{
    let world = World::demo().await;
    let spec = format!("{SPEC}snapshot: {{scope: Minimal}}\n");
    let jane = world.offboarded_with(&spec).await;
    let snapshot = World::snapshot(&jane);
    assert!(snapshot.roles.is_empty() && snapshot.utilization.is_none());
    assert!(
        !snapshot.queues.is_empty(),
        "the queues she is removed from are recorded: the restore puts them back"
    );
    let writes_before = world.sim.requests().len();

    let restored = world.restored(&jane).await;

    assert_eq!(world.jane()["state"], "active");
    let roles: Vec<_> = restored
        .status
        .not_restorable
        .iter()
        .filter(|n| n.what == NotRestorableKind::RoleGrants)
        .collect();
    assert_eq!(roles.len(), 1, "{:?}", restored.status.not_restorable);
    assert_eq!(roles[0].id, JANE);
    assert!(roles[0].why.contains("Minimal"), "{}", roles[0].why);
    let restore_writes: Vec<String> = world.sim.requests()[writes_before..]
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        restore_writes.iter().all(|w| !w.contains("/authorization/")
            && !w.contains("/utilization")
            && !w.contains("/callforwarding")),
        "no grant, utilization or call forwarding is written from a snapshot that did not \
         record them: {restore_writes:?}"
    );
    assert!(
        restore_writes.iter().any(|w| w.contains("/queues")),
        "the queues are put back: {restore_writes:?}"
    );
    world.check_invariants();
}
