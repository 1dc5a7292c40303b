//! The impact preflight and its acknowledgement gate against the emulator's demo org, where a
//! flow, an alert rule, an OAuth client, a recording policy, a WFM seat, licences, a DID, an
//! extension and a WebRTC phone all name Jane: in Observe and Enforce mode, held until the
//! current digest is acknowledged (and again for a stale one), a source refused with 403, and
//! the calls a wave costs. Every test checks the safety invariants too.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::BTreeMap;

use genesys_emulator::{Fault, RecordedRequest, Sim, SimHandle};
use genesys_offboarding_operator::crd::{
    GenesysUserOffboarding, ImpactAction, ImpactKind, ImpactStatus, condition, reason,
};
use genesys_offboarding_operator::reconcile::{
    FixedClient, MemoryOwners, MemoryStore, Outcome, Reconciled, reconcile,
};

use crate::support::genesys::{demo_client, demo_org, is_write, offboarding};
use crate::support::invariants::invariants;

const JANE: &str = "6a1b0c3e-0000-4000-8000-000000000001";

/// The preflight's operations, as the emulator's request log names them.
const PREFLIGHT: &[&str] = &[
    "get_architect_dependencytracking_consumingresources",
    "post_alerting_rules_query",
    "get_oauth_clients",
    "get_recording_mediaretentionpolicies",
    "get_workforcemanagement_agent_managementunit",
    "post_license_users",
    "get_telephony_providers_edges_dids",
    "get_telephony_providers_edges_extensions",
    "get_telephony_providers_edges_phones",
];

struct World {
    sim: SimHandle,
    clients: FixedClient,
    owners: MemoryOwners,
    store: MemoryStore,
}

impl World {
    async fn demo() -> Self {
        let sim = Sim::start(demo_org()).await.unwrap();
        let clients = FixedClient(demo_client(&sim));
        Self {
            sim,
            clients,
            owners: MemoryOwners::new(),
            store: MemoryStore::new(),
        }
    }

    async fn pass(&self, resource: &mut GenesysUserOffboarding) -> Reconciled {
        let reconciled = reconcile(resource, &self.clients, &self.owners, &self.store)
            .await
            .into_result()
            .unwrap_or_else(|e| panic!("the pass failed: {e:?}"));
        resource.status = Some(reconciled.status.clone());
        reconciled
    }

    fn writes(&self) -> Vec<RecordedRequest> {
        self.sim.requests().into_iter().filter(is_write).collect()
    }

    /// Preflight calls so far, by operation.
    fn preflight_calls(&self) -> BTreeMap<String, usize> {
        let mut calls = BTreeMap::new();
        for r in self.sim.requests() {
            if let Some(op) = r.operation.as_deref().filter(|op| PREFLIGHT.contains(op)) {
                *calls.entry(op.to_owned()).or_default() += 1;
            }
        }
        calls
    }

    fn check_invariants(&self) {
        invariants(&self.store, &self.sim.requests()).unwrap_or_else(|e| panic!("{e}"));
    }
}

fn impact(resource: &GenesysUserOffboarding) -> &ImpactStatus {
    resource.status.as_ref().unwrap().impact.as_ref().unwrap()
}

fn cond(resource: &GenesysUserOffboarding, type_: &str) -> (String, String, String) {
    let c = resource.status.as_ref().unwrap().condition(type_).unwrap();
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// `(kind, id)` of every item.
fn kinds_and_ids(impact: &ImpactStatus) -> Vec<(ImpactKind, String)> {
    impact
        .items
        .iter()
        .map(|i| (i.kind, i.id.clone()))
        .collect()
}

/// What names Jane in the demo org.
fn janes_impact() -> Vec<(ImpactKind, String)> {
    [
        (
            ImpactKind::ArchitectFlow,
            "a1f0e2d3-0000-4000-8000-000000000301",
        ),
        (
            ImpactKind::ArchitectFlow,
            "a1f0e2d3-0000-4000-8000-000000000302",
        ),
        (
            ImpactKind::AlertRule,
            "b2e1d3c4-0000-4000-8000-000000000401",
        ),
        (
            ImpactKind::OAuthClient,
            "c3d2e4f5-0000-4000-8000-000000000501",
        ),
        (
            ImpactKind::RecordingPolicy,
            "d4e3f5a6-0000-4000-8000-000000000601",
        ),
        (
            ImpactKind::WfmManagementUnit,
            "e5f4a6b7-0000-4000-8000-000000000701",
        ),
        (ImpactKind::License, "cloudcx3"),
        (ImpactKind::License, "wem_addon"),
        (ImpactKind::Did, "f6a5b7c8-0000-4000-8000-000000000801"),
        (
            ImpactKind::Extension,
            "f6a5b7c8-0000-4000-8000-000000000901",
        ),
        (
            ImpactKind::WebRtcPhone,
            "0a1b2c3d-0000-4000-8000-000000000a01",
        ),
    ]
    .into_iter()
    .map(|(k, id)| (k, id.to_owned()))
    .collect()
}

#[tokio::test]
async fn observe_mode_lists_what_depends_on_the_user_and_writes_nothing() {
    let world = World::demo().await;
    let mut dry = offboarding("user: {email: jane.doe@example.com}\nmanagementPolicy: Observe\n");

    let pass = world.pass(&mut dry).await;

    assert!(matches!(pass.outcome, Outcome::Done { .. }));
    assert!(world.writes().is_empty(), "writes: {:?}", world.writes());
    let found = impact(&dry).clone();
    assert_eq!(kinds_and_ids(&found), janes_impact());
    assert!(
        found
            .items
            .iter()
            .all(|i| i.action == ImpactAction::ReportedOnly)
    );
    let flow = &found.items[0];
    assert_eq!(flow.name, "Billing Main Menu");
    assert_eq!(flow.detail.as_deref(), Some("INBOUNDCALLFLOW"));
    let policy = found
        .items
        .iter()
        .find(|i| i.kind == ImpactKind::RecordingPolicy)
        .unwrap();
    assert_eq!(
        policy.detail.as_deref(),
        Some("names the user as evaluator")
    );
    assert!(found.digest.starts_with("sha256:") && found.digest.len() == 71);
    assert!(found.observed_at.is_some());
    assert_eq!(cond(&dry, condition::READY).1, reason::OBSERVING);

    // Observe reads the impact again on every pass; the org-wide listings come from the
    // client's short-lived copy.
    let again = world.pass(&mut dry).await;
    assert!(matches!(again.outcome, Outcome::Done { .. }));
    assert_eq!(impact(&dry).digest, found.digest);
    let calls = world.preflight_calls();
    assert_eq!(
        calls["get_architect_dependencytracking_consumingresources"],
        2
    );
    assert_eq!(calls["get_oauth_clients"], 1, "{calls:?}");
    assert!(world.writes().is_empty());
    world.check_invariants();
}

#[tokio::test]
async fn enforce_reads_the_impact_before_the_first_write_and_keeps_it_afterwards() {
    let world = World::demo().await;
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    let pass = world.pass(&mut jane).await;

    assert!(matches!(pass.outcome, Outcome::Done { .. }));
    assert_eq!(cond(&jane, condition::READY).1, reason::OFFBOARDED);
    assert_eq!(kinds_and_ids(impact(&jane)), janes_impact());
    // Every preflight read happened before the first write.
    let requests = world.sim.requests();
    let first_write = requests.iter().position(is_write).unwrap();
    let last_preflight = requests
        .iter()
        .rposition(|r| {
            r.operation
                .as_deref()
                .is_some_and(|op| PREFLIGHT.contains(&op))
        })
        .unwrap();
    assert!(last_preflight < first_write);

    // Deactivated, Jane's licences and seat may read differently; the impact stays as read.
    let digest = impact(&jane).digest.clone();
    let before = world.preflight_calls();
    world.pass(&mut jane).await;
    assert_eq!(impact(&jane).digest, digest);
    assert_eq!(
        world.preflight_calls(),
        before,
        "no preflight after the first write"
    );
    world.check_invariants();
}

#[tokio::test]
async fn a_required_acknowledgement_holds_every_write_until_the_current_digest_is_named() {
    let world = World::demo().await;
    let mut jane = offboarding(
        "user: {email: jane.doe@example.com}\nimpact: {requireAcknowledgement: true}\n",
    );

    // Held: progressing, not stalled; the snapshot is persisted; nothing written.
    let held = world.pass(&mut jane).await;
    let Outcome::Wait { reason: why, .. } = held.outcome else {
        panic!("held, not {:?}", held.outcome);
    };
    assert_eq!(why, reason::AWAITING_IMPACT_ACKNOWLEDGEMENT);
    let digest = impact(&jane).digest.clone();
    let (ready, ready_reason, _) = cond(&jane, condition::READY);
    let (reconciling, _, message) = cond(&jane, condition::RECONCILING);
    let (stalled, _, _) = cond(&jane, condition::STALLED);
    assert_eq!(
        (
            ready.as_str(),
            ready_reason.as_str(),
            reconciling.as_str(),
            stalled.as_str()
        ),
        (
            "False",
            reason::AWAITING_IMPACT_ACKNOWLEDGEMENT,
            "True",
            "False"
        )
    );
    assert!(
        message.contains(&digest) && message.contains("11 item(s)"),
        "{message}"
    );
    assert!(jane.status.as_ref().unwrap().snapshot.is_some());
    assert!(world.writes().is_empty(), "writes: {:?}", world.writes());
    let events = |r: &Reconciled| {
        r.events
            .iter()
            .filter(|e| e.reason == reason::AWAITING_IMPACT_ACKNOWLEDGEMENT)
            .count()
    };
    assert_eq!(events(&held), 1);
    assert_eq!(world.sim.user(JANE).unwrap()["state"], "active");

    // Still held on the next pass, without a second Event for the same hold.
    let still = world.pass(&mut jane).await;
    assert!(matches!(still.outcome, Outcome::Wait { .. }));
    assert_eq!(events(&still), 0);

    // A stale acknowledgement (of another impact) says so and still holds.
    jane.spec.impact.as_mut().unwrap().acknowledged_digest =
        Some(format!("sha256:{}", "0".repeat(64)));
    let stale = world.pass(&mut jane).await;
    assert!(matches!(stale.outcome, Outcome::Wait { .. }));
    let (_, _, message) = cond(&jane, condition::RECONCILING);
    assert!(
        message.contains("earlier impact") && message.contains(&digest),
        "{message}"
    );
    assert_eq!(events(&stale), 1, "a new message is a new Event");
    assert!(world.writes().is_empty());

    // Acknowledged: the offboarding goes on.
    jane.spec.impact.as_mut().unwrap().acknowledged_digest = Some(digest);
    let done = world.pass(&mut jane).await;
    assert!(
        matches!(done.outcome, Outcome::Done { .. }),
        "{:?}",
        done.outcome
    );
    assert_eq!(cond(&jane, condition::READY).1, reason::OFFBOARDED);
    assert_eq!(world.sim.user(JANE).unwrap()["state"], "inactive");
    world.check_invariants();
}

#[tokio::test]
async fn an_unacknowledged_gate_does_not_hold_observe_mode() {
    let world = World::demo().await;
    let mut dry = offboarding(
        "user: {email: jane.doe@example.com}\nmanagementPolicy: Observe\nimpact: {requireAcknowledgement: true}\n",
    );
    let pass = world.pass(&mut dry).await;
    assert!(matches!(pass.outcome, Outcome::Done { .. }));
    assert_eq!(cond(&dry, condition::READY).1, reason::OBSERVING);
    assert!(world.writes().is_empty());
    world.check_invariants();
}

#[tokio::test]
async fn a_source_refused_with_403_is_reported_unknown_and_the_offboarding_goes_on() {
    let world = World::demo().await;
    world
        .sim
        .inject(Fault::new("POST", "/api/v2/alerting/rules/query").status(403));
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    let pass = world.pass(&mut jane).await;

    assert!(
        matches!(pass.outcome, Outcome::Done { .. }),
        "{:?}",
        pass.outcome
    );
    assert_eq!(cond(&jane, condition::READY).1, reason::OFFBOARDED);
    let rules: Vec<_> = impact(&jane)
        .items
        .iter()
        .filter(|i| i.kind == ImpactKind::AlertRule)
        .collect();
    assert_eq!(rules.len(), 1);
    assert!(rules[0].id.is_empty());
    assert!(
        rules[0].detail.as_deref().unwrap().starts_with("unknown:"),
        "{:?}",
        rules[0].detail
    );
    assert!(
        impact(&jane)
            .items
            .iter()
            .any(|i| i.kind == ImpactKind::ArchitectFlow),
        "the other sources are still listed"
    );
    world.check_invariants();
}

#[tokio::test]
async fn a_transient_failure_of_a_preflight_read_fails_the_pass_before_any_write() {
    let world = World::demo().await;
    world.sim.inject(
        Fault::new("GET", "/api/v2/telephony/providers/edges/phones")
            .status(503)
            .times(20),
    );
    let mut jane = offboarding("user: {email: jane.doe@example.com}\n");

    let result = reconcile(&jane, &world.clients, &world.owners, &world.store).await;

    assert!(result.result.is_err(), "{:?}", result.result);
    assert!(world.writes().is_empty(), "writes: {:?}", world.writes());
    assert!(
        result.status.impact.is_none(),
        "no half-read impact is reported"
    );
    jane.status = Some(result.status);
    world.check_invariants();
}

#[tokio::test]
async fn a_wave_reads_each_org_wide_listing_once_and_costs_few_calls_per_offboarding() {
    let world = World::demo().await;
    let emails = [
        "jane.doe@example.com",
        "maria.garcia@example.com",
        "tom.nguyen@example.com",
        "ana.silva@example.com",
        "ken.sato@example.com",
    ];
    let mut resources: Vec<GenesysUserOffboarding> = emails
        .iter()
        .enumerate()
        .map(|(i, email)| {
            let mut r = offboarding(&format!(
                "user: {{email: {email}}}\nmanagementPolicy: Observe\n"
            ));
            r.metadata.name = Some(format!("offboarding-{i}"));
            r
        })
        .collect();
    let stores: Vec<MemoryStore> = emails.iter().map(|_| MemoryStore::new()).collect();

    let passes = futures::future::join_all(
        resources
            .iter()
            .zip(&stores)
            .map(|(r, store)| reconcile(r, &world.clients, &world.owners, store)),
    )
    .await;

    for (pass, resource) in passes.into_iter().zip(&mut resources) {
        let reconciled = pass.into_result().unwrap();
        assert!(matches!(reconciled.outcome, Outcome::Done { .. }));
        assert!(reconciled.status.impact.is_some());
        resource.status = Some(reconciled.status);
    }
    let calls = world.preflight_calls();
    for shared in [
        "post_alerting_rules_query",
        "get_oauth_clients",
        "get_recording_mediaretentionpolicies",
        "get_telephony_providers_edges_dids",
        "get_telephony_providers_edges_extensions",
        "get_telephony_providers_edges_phones",
    ] {
        assert_eq!(
            calls[shared], 1,
            "{shared} is read once per wave: {calls:?}"
        );
    }
    let n = emails.len();
    assert_eq!(
        calls["get_architect_dependencytracking_consumingresources"],
        n
    );
    assert_eq!(calls["get_workforcemanagement_agent_managementunit"], n);
    assert!(calls["post_license_users"] <= n, "{calls:?}");
    let batches = calls["post_license_users"];
    let total: usize = calls.values().sum();
    assert_eq!(total, 2 * n + 6 + batches, "{calls:?}");
    #[allow(clippy::cast_precision_loss)]
    let per_offboarding = total as f64 / n as f64;
    println!(
        "impact preflight: {total} calls for {n} offboardings ({per_offboarding:.1} each; \
         {batches} licence batch(es))"
    );
    assert!(world.writes().is_empty());
}
