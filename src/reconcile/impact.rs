//! The impact preflight: what depends on the user elsewhere in Genesys Cloud, read after the
//! snapshot is persisted and before the first write (and in every pass of Observe mode), and the
//! acknowledgement gate (`spec.impact.requireAcknowledgement`). Reads only.
//!
//! Sources (docs/impact.md has each one's API and permission): Architect flows that reference
//! the user (dependency tracking, object type `USER`), alert rules that notify them, OAuth
//! clients they created, recording policies that name them, their WFM management unit, their
//! licences, DIDs and extensions they own, their WebRTC phones, and their groups and team (both
//! from the user read the pass already made).
//!
//! Cost: the org-wide listings (alert rules, OAuth clients, recording policies, DIDs, extensions,
//! phones) are shared by every offboarding that uses the same client for
//! [`ORG_LISTINGS_MAX_AGE`]; licences are read in batches across concurrent offboardings. What
//! remains per offboarding is the flow dependencies and the WFM seat: two calls.
//!
//! A source the OAuth client may not read (403) becomes one item with an empty id saying so:
//! the offboarding goes on (the impact is a report, and a missing permission for a report must
//! not hold up an offboarding), and the item is part of the digest, so a required
//! acknowledgement covers the fact that this source is unknown. Any other failure of a read
//! fails the pass, to be retried: an impact half read is never reported as complete.

use std::fmt::Write as _;
use std::time::Duration;

use super::spec::to_time;
use chrono::{DateTime, Utc};

use super::error::{ReadError, ReconcileError};
use super::observe::Reading;
use super::plan::{Hold, Plan, StepKind};
use super::{Outcome, Pass};
use crate::crd::{
    GenesysUserOffboardingStatus, HandoffItem, HandoffKind, HandoffPolicy, ImpactAction,
    ImpactItem, ImpactKind, ImpactPolicy, ImpactStatus,
};
use genesys_cloud::{GenesysClient, GenesysError, OrgDependents, Unreadable, User, UserId};

/// How long the org-wide listings read for one offboarding serve the others of a wave.
pub const ORG_LISTINGS_MAX_AGE: Duration = Duration::from_secs(60);

/// How often a held offboarding reads the impact again (an acknowledgement is a change of the
/// resource, which starts a pass at once).
pub const IMPACT_RECHECK: Duration = Duration::from_secs(300);

/// What the operator will do with an item of `kind`: hand it off when `spec.handoff` moves that
/// kind of work and names someone (or a queue) who can take it; otherwise only report it.
pub fn planned_action(kind: &ImpactKind, handoff: Option<&HandoffPolicy>) -> ImpactAction {
    let Some(h) = handoff else {
        return ImpactAction::ReportedOnly;
    };
    let person = h.successor.is_some();
    let anyone = person || h.fallback_queue.is_some();
    let moved = match kind {
        // The API hands a callback to a user only (`agentId` is required).
        ImpactKind::Callback => h.callbacks && person,
        ImpactKind::Workitem => h.workitems && anyone,
        ImpactKind::DirectRoutingBackup => h.direct_routing_backup && anyone,
        ImpactKind::Evaluation | ImpactKind::Calibration => h.evaluations && person,
        ImpactKind::DirectReport => h.direct_reports && person,
        ImpactKind::Voicemail => h.voicemail && person,
        ImpactKind::ArchitectFlow
        | ImpactKind::AlertRule
        | ImpactKind::OAuthClient
        | ImpactKind::RecordingPolicy
        | ImpactKind::WfmManagementUnit
        | ImpactKind::License
        | ImpactKind::Did
        | ImpactKind::Extension
        | ImpactKind::WebRtcPhone
        | ImpactKind::Group
        | ImpactKind::Team => false,
    };
    if moved {
        ImpactAction::HandedOff
    } else {
        ImpactAction::ReportedOnly
    }
}

/// The impact kind of a kind of work the handoff moves (the same names).
pub fn impact_kind(kind: HandoffKind) -> ImpactKind {
    match kind {
        HandoffKind::Callback => ImpactKind::Callback,
        HandoffKind::Workitem => ImpactKind::Workitem,
        HandoffKind::Evaluation => ImpactKind::Evaluation,
        HandoffKind::Calibration => ImpactKind::Calibration,
        HandoffKind::DirectReport => ImpactKind::DirectReport,
        HandoffKind::DirectRoutingBackup => ImpactKind::DirectRoutingBackup,
        HandoffKind::Voicemail => ImpactKind::Voicemail,
    }
}

/// Whether a write to Genesys Cloud was recorded (attempted or done): from then on the impact
/// stays as it was read before it, and the gate, passed once, does not hold again.
pub fn wrote(status: &GenesysUserOffboardingStatus) -> bool {
    status.actions.iter().any(|a| {
        !matches!(
            a.step,
            StepKind::TakeSnapshot | StepKind::CountHistoryBefore | StepKind::VerifyHistory
        )
    })
}

impl Pass<'_> {
    /// The preflight of this pass, persisted: in Observe mode every pass, in Enforce mode while
    /// writes lie ahead and none was made yet; never with `spec.impact.preflight: false`.
    /// Returns the outcome when the gate holds.
    pub(super) async fn impact(
        &mut self,
        client: &GenesysClient,
        reading: &Reading,
        plan: &Plan,
        writes_ahead: bool,
    ) -> Result<Option<Outcome>, ReconcileError> {
        let observe = matches!(plan.hold, Some(Hold::ObserveOnly));
        let before_first_write = writes_ahead && !wrote(&self.persisted);
        let spec = &self.resource.spec;
        if (!observe && !before_first_write) || !spec.impact_preflight() {
            return Ok(None);
        }
        // The work the handoff found is in the snapshot, persisted by now.
        let handoff_items = self
            .report
            .status
            .snapshot
            .as_ref()
            .map_or(&[][..], |s| s.handoff.as_slice());
        let impact = preflight(
            client,
            &reading.user,
            spec.handoff.as_ref(),
            handoff_items,
            self.now,
        )
        .await?;
        let gate = if before_first_write {
            gate(spec.impact.as_ref(), &impact)
        } else {
            Gate::Open
        };
        tracing::info!(user = %reading.user.id, items = impact.items.len(), digest = %impact.digest, "impact read");
        self.report.impact_read(impact);
        let held = match gate {
            Gate::Open => None,
            Gate::Held { message } => {
                // The Event once per hold (and per new message), not on every recheck: compared
                // with the status the pass started from.
                let announced = self
                    .resource
                    .status
                    .as_ref()
                    .and_then(|s| s.condition(crate::crd::condition::RECONCILING))
                    .is_some_and(|c| {
                        c.reason == crate::crd::reason::AWAITING_IMPACT_ACKNOWLEDGEMENT
                            && c.message == message
                    });
                Some(self.report.awaiting_impact_acknowledgement(
                    message,
                    IMPACT_RECHECK,
                    !announced,
                ))
            }
        };
        self.save().await?;
        Ok(held)
    }
}

/// Builds the items; `handoff` decides each one's action.
struct Items<'a> {
    items: Vec<ImpactItem>,
    handoff: Option<&'a HandoffPolicy>,
}

impl Items<'_> {
    fn add(&mut self, kind: ImpactKind, id: &str, name: Option<&str>, detail: Option<String>) {
        self.items.push(ImpactItem {
            kind,
            id: id.to_owned(),
            name: name.unwrap_or_default().to_owned(),
            action: planned_action(&kind, self.handoff),
            detail,
        });
    }

    /// A piece of work the handoff found: handed off as `spec.handoff` says, unless it was found
    /// not movable (then reported only, with the reason).
    fn handoff_item(&mut self, item: &HandoffItem) {
        let kind = impact_kind(item.kind);
        match &item.not_movable {
            Some(reason) => self.items.push(ImpactItem {
                kind,
                id: item.id.clone(),
                name: item.name.clone().unwrap_or_default(),
                action: ImpactAction::ReportedOnly,
                detail: Some(format!("not movable: {reason}")),
            }),
            None => self.add(kind, &item.id, item.name.as_deref(), None),
        }
    }

    fn unreadable(&mut self, kind: ImpactKind, why: &Unreadable) {
        let detail = match &why.missing_permission {
            Some(p) => format!(
                "unknown: the OAuth client lacks permission {p} ({} was refused)",
                why.operation
            ),
            None => format!("unknown: Genesys Cloud refused {} (403)", why.operation),
        };
        self.items.push(ImpactItem {
            kind,
            id: String::new(),
            name: String::new(),
            action: ImpactAction::ReportedOnly,
            detail: Some(detail),
        });
    }
}

/// A per-user read: a 403 becomes [`Unreadable`], any other failure fails the pass.
fn per_user<T>(
    what: &'static str,
    result: Result<T, GenesysError>,
) -> Result<Result<T, Unreadable>, ReconcileError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(GenesysError::Forbidden {
            operation,
            missing_permission,
            ..
        }) => Ok(Err(Unreadable {
            operation,
            missing_permission,
        })),
        Err(e) => Err(ReadError::new(what)(e).into()),
    }
}

impl Items<'_> {
    /// The items of the org-wide listings that name `id`.
    fn org_wide(&mut self, org: &OrgDependents, id: &UserId) {
        let out = self;
        match &org.alert_rules {
            Ok(rules) => {
                for r in rules.iter().filter(|r| r.notifies(id)) {
                    out.add(
                        ImpactKind::AlertRule,
                        &r.id,
                        r.name.as_deref(),
                        Some("notifies the user".to_owned()),
                    );
                }
            }
            Err(why) => out.unreadable(ImpactKind::AlertRule, why),
        }
        match &org.oauth_clients {
            Ok(clients) => {
                let created = clients.iter().filter(|c| {
                    c.created_by.as_ref().and_then(|r| r.id.as_deref()) == Some(id.as_str())
                });
                for c in created {
                    out.add(
                        ImpactKind::OAuthClient,
                        &c.id,
                        c.name.as_deref(),
                        c.authorized_grant_type
                            .as_ref()
                            .map(|g| format!("created by the user; grant {g}")),
                    );
                }
            }
            Err(why) => out.unreadable(ImpactKind::OAuthClient, why),
        }
        match &org.retention_policies {
            Ok(policies) => {
                for p in policies {
                    let roles: Vec<&str> = p
                        .users
                        .iter()
                        .filter(|(u, _)| u == id.as_str())
                        .map(|(_, role)| *role)
                        .collect();
                    if !roles.is_empty() {
                        out.add(
                            ImpactKind::RecordingPolicy,
                            &p.id,
                            p.name.as_deref(),
                            Some(format!("names the user as {}", roles.join(", "))),
                        );
                    }
                }
            }
            Err(why) => out.unreadable(ImpactKind::RecordingPolicy, why),
        }
        for (kind, source) in [
            (ImpactKind::Did, &org.dids),
            (ImpactKind::Extension, &org.extensions),
        ] {
            match source {
                Ok(numbers) => {
                    for n in numbers.iter().filter(|n| n.owned_by(id)) {
                        out.add(kind, &n.id, Some(&n.number), None);
                    }
                }
                Err(why) => out.unreadable(kind, why),
            }
        }
        match &org.phones {
            Ok(phones) => {
                let of_user = phones.iter().filter(|p| {
                    p.web_rtc_user.as_ref().and_then(|r| r.id.as_deref()) == Some(id.as_str())
                });
                for p in of_user {
                    out.add(ImpactKind::WebRtcPhone, &p.id, p.name.as_deref(), None);
                }
            }
            Err(why) => out.unreadable(ImpactKind::WebRtcPhone, why),
        }
    }
}

/// Reads what depends on `user` (the user as this pass read it, with its groups and team), and
/// lists the work `spec.handoff` found (`handoff_items`, from the snapshot: no read of its own).
pub async fn preflight(
    client: &GenesysClient,
    user: &User,
    handoff: Option<&HandoffPolicy>,
    handoff_items: &[HandoffItem],
    now: DateTime<Utc>,
) -> Result<ImpactStatus, ReconcileError> {
    let id = &user.id;
    let (org, flows, seat, licenses) = tokio::join!(
        client.get_org_dependents(ORG_LISTINGS_MAX_AGE),
        client.get_resources_consuming_user(id),
        client.get_agent_management_unit(id),
        client.get_user_licenses(id),
    );
    let org = org.map_err(ReadError::new("impact: org-wide listings"))?;
    let flows = per_user("impact: flows referencing the user", flows)?;
    let seat = per_user("impact: WFM management unit", seat)?;
    let licenses = per_user("impact: licences", licenses)?;

    let mut out = Items {
        items: Vec::new(),
        handoff,
    };
    match &flows {
        Ok(flows) => {
            for f in flows {
                out.add(
                    ImpactKind::ArchitectFlow,
                    &f.id,
                    f.name.as_deref(),
                    f.kind.clone(),
                );
            }
        }
        Err(why) => out.unreadable(ImpactKind::ArchitectFlow, why),
    }
    out.org_wide(&org, id);
    match &seat {
        Ok(Some(seat)) => out.add(
            ImpactKind::WfmManagementUnit,
            &seat.management_unit_id,
            None,
            seat.business_unit_id
                .as_ref()
                .map(|b| format!("business unit {b}")),
        ),
        Ok(None) => {}
        Err(why) => out.unreadable(ImpactKind::WfmManagementUnit, why),
    }
    match &licenses {
        Ok(licenses) => {
            for l in licenses {
                out.add(ImpactKind::License, l, Some(l), None);
            }
        }
        Err(why) => out.unreadable(ImpactKind::License, why),
    }
    for g in user.groups.iter().flatten() {
        if let Some(gid) = &g.id {
            out.add(ImpactKind::Group, gid, g.name.as_deref(), None);
        }
    }
    if let Some(team) = &user.team
        && let Some(tid) = &team.id
    {
        out.add(ImpactKind::Team, tid, team.name.as_deref(), None);
    }
    for item in handoff_items {
        out.handoff_item(item);
    }
    Ok(impact_status(out.items, now))
}

/// The items, sorted, with their digest.
pub fn impact_status(mut items: Vec<ImpactItem>, now: DateTime<Utc>) -> ImpactStatus {
    items.sort_by(|a, b| (a.kind, &a.id, &a.detail).cmp(&(b.kind, &b.id, &b.detail)));
    items.dedup();
    ImpactStatus {
        digest: digest(&items),
        items,
        observed_at: Some(to_time(now)),
    }
}

/// `sha256:` and the hex SHA-256 of each item's kind, id, action and detail, one line each, in
/// the items' order. Names are left out: renaming a flow does not change what the offboarding
/// does to it. Groups and the team are left out too: they come from the user read's `expand`,
/// which Genesys answers on a best-effort basis, so a read that drops them must not ask for a
/// new acknowledgement (they are in the snapshot either way).
pub fn digest(items: &[ImpactItem]) -> String {
    let mut text = String::new();
    for i in items
        .iter()
        .filter(|i| !matches!(i.kind, ImpactKind::Group | ImpactKind::Team))
    {
        let line = format!(
            "{:?}\t{}\t{:?}\t{}\n",
            i.kind,
            i.id,
            i.action,
            i.detail.as_deref().unwrap_or_default()
        );
        text.push_str(&line);
    }
    let hash = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let hex = hash.as_ref().iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    });
    format!("sha256:{hex}")
}

/// Whether the offboarding may write, given the impact just read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Held until acknowledged; `message` says what to acknowledge (and whether the
    /// acknowledgement given is for an impact that has since changed).
    Held {
        message: String,
    },
}

/// The acknowledgement gate: open unless `requireAcknowledgement` is set and
/// `acknowledgedDigest` is not the impact's digest.
pub fn gate(policy: Option<&ImpactPolicy>, impact: &ImpactStatus) -> Gate {
    let Some(policy) = policy.filter(|p| p.require_acknowledgement) else {
        return Gate::Open;
    };
    let count = impact.items.len();
    match policy.acknowledged_digest.as_deref() {
        Some(ack) if ack == impact.digest => Gate::Open,
        Some(ack) => Gate::Held {
            message: format!(
                "spec.impact.acknowledgedDigest {ack} acknowledges an earlier impact; it has \
                 changed to {} ({count} item(s), see status.impact): review it and set \
                 spec.impact.acknowledgedDigest to the new digest. Nothing is written to Genesys \
                 Cloud until then",
                impact.digest
            ),
        },
        None => Gate::Held {
            message: format!(
                "spec.impact.requireAcknowledgement is true: review status.impact ({count} \
                 item(s)) and set spec.impact.acknowledgedDigest to {}. Nothing is written to \
                 Genesys Cloud until then",
                impact.digest
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crd::{QueueRef, UserRef};

    fn item(kind: ImpactKind, id: &str, name: &str) -> ImpactItem {
        ImpactItem {
            kind,
            id: id.into(),
            name: name.into(),
            action: ImpactAction::ReportedOnly,
            detail: None,
        }
    }

    #[test]
    fn only_work_a_handoff_moves_to_someone_who_can_take_it_is_handed_off() {
        assert_eq!(
            planned_action(&ImpactKind::Callback, None),
            ImpactAction::ReportedOnly
        );
        let queue_only = HandoffPolicy {
            fallback_queue: Some(QueueRef {
                id: "9b2e4d60-0000-4000-8000-0000000000b1".into(),
                name: None,
            }),
            ..HandoffPolicy::default()
        };
        assert_eq!(
            planned_action(&ImpactKind::Workitem, Some(&queue_only)),
            ImpactAction::HandedOff
        );
        assert_eq!(
            planned_action(&ImpactKind::Voicemail, Some(&queue_only)),
            ImpactAction::ReportedOnly,
            "a queue cannot take voicemail"
        );
        let successor = HandoffPolicy {
            successor: Some(UserRef {
                email: Some("sam@example.com".into()),
                id: None,
            }),
            callbacks: false,
            ..HandoffPolicy::default()
        };
        assert_eq!(
            planned_action(&ImpactKind::DirectReport, Some(&successor)),
            ImpactAction::HandedOff
        );
        assert_eq!(
            planned_action(&ImpactKind::Callback, Some(&successor)),
            ImpactAction::ReportedOnly,
            "callbacks switched off"
        );
        for kind in [
            ImpactKind::ArchitectFlow,
            ImpactKind::OAuthClient,
            ImpactKind::License,
            ImpactKind::Group,
        ] {
            assert_eq!(
                planned_action(&kind, Some(&successor)),
                ImpactAction::ReportedOnly
            );
        }
    }

    #[test]
    fn work_the_handoff_found_is_listed_handed_off_unless_it_was_found_not_movable() {
        let successor = HandoffPolicy {
            successor: Some(UserRef {
                email: Some("sam@example.com".into()),
                id: None,
            }),
            ..HandoffPolicy::default()
        };
        let found = |kind, id: &str, not_movable: Option<&str>| HandoffItem {
            kind,
            id: id.into(),
            name: Some(format!("{id} name")),
            to: not_movable.is_none().then(|| "sam".to_owned()),
            to_queue: false,
            not_movable: not_movable.map(str::to_owned),
        };
        let mut out = Items {
            items: Vec::new(),
            handoff: Some(&successor),
        };
        out.handoff_item(&found(HandoffKind::DirectReport, "tom", None));
        out.handoff_item(&found(
            HandoffKind::Workitem,
            "w1",
            Some("closed since the snapshot"),
        ));

        assert_eq!(
            out.items,
            vec![
                ImpactItem {
                    kind: ImpactKind::DirectReport,
                    id: "tom".into(),
                    name: "tom name".into(),
                    action: ImpactAction::HandedOff,
                    detail: None,
                },
                ImpactItem {
                    kind: ImpactKind::Workitem,
                    id: "w1".into(),
                    name: "w1 name".into(),
                    action: ImpactAction::ReportedOnly,
                    detail: Some("not movable: closed since the snapshot".into()),
                },
            ]
        );
    }

    #[test]
    fn the_digest_is_stable_in_order_and_names_but_follows_ids_and_actions() {
        let now = Utc::now();
        let a = impact_status(
            vec![
                item(ImpactKind::License, "cloudcx3", "cloudcx3"),
                item(ImpactKind::ArchitectFlow, "f1", "Main Menu"),
            ],
            now,
        );
        let b = impact_status(
            vec![
                item(ImpactKind::ArchitectFlow, "f1", "Main Menu (renamed)"),
                item(ImpactKind::License, "cloudcx3", "cloudcx3"),
            ],
            now,
        );
        assert_eq!(a.digest, b.digest);
        assert!(crate::crd::is_impact_digest(&a.digest), "{}", a.digest);
        assert_eq!(a.items[0].kind, ImpactKind::ArchitectFlow);
        let more = impact_status(
            vec![
                item(ImpactKind::ArchitectFlow, "f1", "Main Menu"),
                item(ImpactKind::ArchitectFlow, "f2", "Overflow"),
                item(ImpactKind::License, "cloudcx3", "cloudcx3"),
            ],
            now,
        );
        assert_ne!(a.digest, more.digest);
        let mut handed = a.items.clone();
        handed[0].action = ImpactAction::HandedOff;
        assert_ne!(digest(&handed), a.digest);
        let mut grouped = a.items.clone();
        grouped.push(item(ImpactKind::Group, "g1", "Tier 2"));
        grouped.push(item(ImpactKind::Team, "t1", "Night Shift"));
        assert_eq!(
            digest(&grouped),
            a.digest,
            "best-effort expands do not move the digest"
        );
    }

    #[test]
    fn the_gate_holds_until_the_current_digest_is_acknowledged_and_says_when_it_is_stale() {
        let impact = impact_status(vec![item(ImpactKind::Did, "d1", "+1")], Utc::now());
        assert_eq!(gate(None, &impact), Gate::Open);
        let off = ImpactPolicy::default();
        assert_eq!(gate(Some(&off), &impact), Gate::Open);
        let unacknowledged = ImpactPolicy {
            preflight: true,
            require_acknowledgement: true,
            acknowledged_digest: None,
        };
        let Gate::Held { message } = gate(Some(&unacknowledged), &impact) else {
            panic!("held");
        };
        assert!(message.contains(&impact.digest) && message.contains("1 item(s)"));
        let stale = ImpactPolicy {
            preflight: true,
            require_acknowledgement: true,
            acknowledged_digest: Some(format!("sha256:{}", "0".repeat(64))),
        };
        let Gate::Held { message } = gate(Some(&stale), &impact) else {
            panic!("held");
        };
        assert!(message.contains("earlier impact") && message.contains(&impact.digest));
        let current = ImpactPolicy {
            preflight: true,
            require_acknowledgement: true,
            acknowledged_digest: Some(impact.digest.clone()),
        };
        assert_eq!(gate(Some(&current), &impact), Gate::Open);
    }
}
