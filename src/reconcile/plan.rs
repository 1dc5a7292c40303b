//! The plan: from the policy (what the spec asks) and what was observed (Genesys now, plus the
//! progress recorded in status), the ordered steps that remain before the user is offboarded.
//! Pure: no I/O and no clock (the caller passes `now`). A step that is already true is left out,
//! which is what makes every rerun converge without repeating a side effect.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use genesys_cloud::{MemberBy, StateChangeReason};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Enforce changes Genesys; Observe only resolves, snapshots and plans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    #[default]
    Enforce,
    Observe,
}

/// What to do while the user is on a live conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConversationPolicy {
    #[default]
    Wait,
    Proceed,
}

/// The part of the spec the plan depends on, free of Kubernetes types. Defaults are the spec's.
// Each flag mirrors one spec field; an enum per flag would only rename the spec.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    pub set_off_queue: bool,
    pub remove_from_queues: bool,
    pub clear_station: bool,
    pub remove_skills: bool,
    pub remove_languages: bool,
    pub active_conversations: ConversationPolicy,
    pub revoke_sessions: bool,
    /// The `stateChangeReason` to record in Genesys.
    pub reason: Option<StateChangeReason>,
    pub effective_at: Option<DateTime<Utc>>,
    /// `spec.handoff` is set: the agent's work is handed off before the drain.
    pub handoff: bool,
    /// `spec.snapshot.scope: Minimal`: the snapshot reads no role grants, utilization or call
    /// forwarding, nor the queues unless they are removed.
    pub minimal_snapshot: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            set_off_queue: true,
            remove_from_queues: true,
            clear_station: true,
            remove_skills: false,
            remove_languages: false,
            active_conversations: ConversationPolicy::Wait,
            revoke_sessions: true,
            reason: None,
            effective_at: None,
            handoff: false,
            minimal_snapshot: false,
        }
    }
}

/// The user's lifecycle state as far as the plan cares (a deleted user never reaches the plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lifecycle {
    Active,
    Inactive,
}

/// An entity by id, with its display name when Genesys gave one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Named {
    pub fn new(id: impl Into<String>, name: Option<&str>) -> Self {
        Self {
            id: id.into(),
            name: name.map(str::to_owned),
        }
    }
}

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} ({})", self.id),
            None => f.write_str(&self.id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub queue: Named,
    pub joined: bool,
    /// `User` (direct) or `Group`; a membership Genesys did not say is read as direct.
    pub member_by: MemberBy,
}

/// What the reconciler knows before planning: Genesys as read now, and the progress that the
/// resource status records from earlier passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub state: Lifecycle,
    /// Routing status is `OFF_QUEUE`.
    pub off_queue: bool,
    /// Presence is the org's `Offline` system presence.
    pub presence_offline: bool,
    pub queues: Vec<Membership>,
    pub skills: Vec<Named>,
    pub languages: Vec<Named>,
    pub associated_station: Option<Named>,
    pub default_station: Option<Named>,
    /// The `stateChangeReason` Genesys holds now, if known.
    pub recorded_reason: Option<StateChangeReason>,
    /// Conversations of the user that have no end yet.
    pub ongoing_conversations: Vec<String>,
    pub progress: Progress,
}

/// Progress recorded in status by earlier passes.
// Independent facts read from status, not states of one machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// A pre-change snapshot is persisted (it is never taken twice).
    pub snapshot_taken: bool,
    /// The snapshot saw the user active: the deactivation is ours to finish.
    pub active_at_snapshot: bool,
    /// The history count before any change is persisted.
    pub history_before_counted: bool,
    /// Sessions were revoked after the last deactivation.
    pub sessions_revoked: bool,
    /// History was verified after the last change.
    pub history_verified: bool,
    /// An earlier pass saw the user deactivated (so an active user now is drift).
    pub deactivated_before: bool,
    /// The handoff ran and every piece of work it found is moved or known not movable.
    pub handed_off: bool,
}

/// One step of the offboarding, in the order they run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all_fields = "camelCase")]
pub enum Step {
    /// Read and persist the pre-change snapshot (read only).
    TakeSnapshot,
    /// Count the user's conversations over the lookback window (read only).
    CountHistoryBefore,
    /// Hand the agent's work (the snapshot's `handoff` list) to the successor or the fallback
    /// queue, each move read back (`reconcile::handoff`).
    HandOff,
    /// `PUT /users/{id}/routingstatus` `OFF_QUEUE`.
    SetOffQueue,
    /// `PATCH /users/{id}/presences/purecloud` with the Offline definition.
    SetPresenceOffline,
    /// Remove the direct membership of a queue.
    RemoveFromQueue {
        queue: Named,
    },
    ClearAssociatedStation {
        station: Named,
    },
    ClearDefaultStation {
        station: Named,
    },
    RemoveSkill {
        skill: Named,
    },
    RemoveLanguage {
        language: Named,
    },
    /// `PATCH /users/{id}` with state and version only.
    Deactivate,
    /// `PUT /users/{id}/state` with the reason.
    RecordReason {
        reason: StateChangeReason,
    },
    /// `DELETE /tokens/{userId}`.
    RevokeSessions,
    /// Count history again over the same window and compare (read only).
    VerifyHistory,
}

impl Step {
    /// What the step does, as status and the actions log name it.
    pub fn kind(&self) -> StepKind {
        match self {
            Step::TakeSnapshot => StepKind::TakeSnapshot,
            Step::CountHistoryBefore => StepKind::CountHistoryBefore,
            Step::HandOff => StepKind::HandOff,
            Step::SetOffQueue => StepKind::SetOffQueue,
            Step::SetPresenceOffline => StepKind::SetPresenceOffline,
            Step::RemoveFromQueue { .. } => StepKind::RemoveFromQueue,
            Step::ClearAssociatedStation { .. } => StepKind::ClearAssociatedStation,
            Step::ClearDefaultStation { .. } => StepKind::ClearDefaultStation,
            Step::RemoveSkill { .. } => StepKind::RemoveSkill,
            Step::RemoveLanguage { .. } => StepKind::RemoveLanguage,
            Step::Deactivate => StepKind::Deactivate,
            Step::RecordReason { .. } => StepKind::RecordReason,
            Step::RevokeSessions => StepKind::RevokeSessions,
            Step::VerifyHistory => StepKind::VerifyHistory,
        }
    }

    /// What the step acts on besides the user, for status and the actions log.
    pub fn target(&self) -> Option<String> {
        match self {
            Step::RemoveFromQueue { queue: n }
            | Step::ClearAssociatedStation { station: n }
            | Step::ClearDefaultStation { station: n }
            | Step::RemoveSkill { skill: n }
            | Step::RemoveLanguage { language: n } => Some(n.to_string()),
            Step::RecordReason { reason } => Some(reason.to_string()),
            _ => None,
        }
    }

    /// The id the step acts on (queue, station, skill, language) or the reason it records, for
    /// `status.plan[].target` and the actions log.
    pub fn target_id(&self) -> Option<String> {
        match self {
            Step::RemoveFromQueue { queue: n }
            | Step::ClearAssociatedStation { station: n }
            | Step::ClearDefaultStation { station: n }
            | Step::RemoveSkill { skill: n }
            | Step::RemoveLanguage { language: n } => Some(n.id.clone()),
            Step::RecordReason { reason } => Some(reason.to_string()),
            _ => None,
        }
    }

    /// A human description of the step, for `status.plan[].detail`.
    pub fn describe(&self) -> String {
        match self {
            Step::TakeSnapshot => "record what the user has before any change".into(),
            Step::CountHistoryBefore => {
                "count the user's conversations in the lookback window".into()
            }
            Step::HandOff => {
                "hand the agent's work to the successor while the user is still active".into()
            }
            Step::SetOffQueue => "set the routing status to OFF_QUEUE".into(),
            Step::SetPresenceOffline => "set the presence to Offline".into(),
            Step::RemoveFromQueue { queue } => format!("leave queue {queue} (direct membership)"),
            Step::ClearAssociatedStation { station } => {
                format!("clear the associated station {station}")
            }
            Step::ClearDefaultStation { station } => format!("clear the default station {station}"),
            Step::RemoveSkill { skill } => format!("remove skill {skill}"),
            Step::RemoveLanguage { language } => format!("remove language {language}"),
            Step::Deactivate => {
                "set the user inactive (state and version only; never delete)".into()
            }
            Step::RecordReason { reason } => format!("record the state change reason {reason}"),
            Step::RevokeSessions => "revoke the user's OAuth tokens".into(),
            Step::VerifyHistory => {
                "count the conversations again over the same window and compare".into()
            }
        }
    }

    /// Whether the step changes Genesys.
    pub fn is_write(&self) -> bool {
        !matches!(
            self,
            Step::TakeSnapshot | Step::CountHistoryBefore | Step::VerifyHistory
        )
    }

    /// Whether the step takes the user out of routing (the `RoutingDrained` condition).
    pub fn is_drain(&self) -> bool {
        self.kind().is_drain()
    }
}

/// Declares [`StepKind`]; each kind's name is its variant's.
macro_rules! step_kinds {
    ($($(#[$meta:meta])* $kind:ident,)+) => {
        /// What a step does, by its `PascalCase` name: the vocabulary of `status.plan`,
        /// `status.actions` and `status.notApplied`. The plan's [`Step`]s have one kind each;
        /// the `Restore*` kinds are the steps of `deletionPolicy: Restore`.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum StepKind {
            $($(#[$meta])* $kind,)+
            /// A name this version does not write, read back from a status an earlier version
            /// wrote: kept as found, so that such a status still decodes.
            Other(String),
        }

        impl StepKind {
            /// The name, as status holds it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(StepKind::$kind => stringify!($kind),)+
                    StepKind::Other(name) => name,
                }
            }
        }

        impl FromStr for StepKind {
            type Err = std::convert::Infallible;
            fn from_str(name: &str) -> Result<Self, Self::Err> {
                Ok(match name {
                    $(stringify!($kind) => StepKind::$kind,)+
                    other => StepKind::Other(other.to_owned()),
                })
            }
        }
    };
}

step_kinds! {
    TakeSnapshot,
    CountHistoryBefore,
    HandOff,
    SetOffQueue,
    SetPresenceOffline,
    RemoveFromQueue,
    ClearAssociatedStation,
    ClearDefaultStation,
    RemoveSkill,
    RemoveLanguage,
    Deactivate,
    RecordReason,
    RevokeSessions,
    VerifyHistory,
    /// Re-activate the user.
    RestoreState,
    /// Add the user back to a queue.
    RestoreQueue,
    /// Put back the user's `joined` flag in a queue.
    RestoreQueueJoined,
    RestoreSkill,
    RestoreRole,
    /// A role held through a group: never granted directly, logged as skipped while Genesys
    /// has not applied it again.
    RestoreGroupRole,
    /// Not restorable: listed in `status.notRestorable`.
    RestoreLanguage,
    /// Not restorable: listed in `status.notRestorable`.
    RestoreDefaultStation,
    /// Give a direct report their manager back (the successor took over).
    RestoreManager,
    /// Give a colleague the user back as their direct-routing backup.
    RestoreDirectRoutingBackup,
    /// Put back the user's own utilization.
    RestoreUtilization,
    /// Put back the user's call forwarding.
    RestoreCallForwarding,
    /// Add the user back to a group.
    RestoreGroup,
    /// Add the user back to their team.
    RestoreTeam,
}

impl StepKind {
    /// Whether a step of this kind takes the user out of routing (the `RoutingDrained`
    /// condition).
    pub fn is_drain(&self) -> bool {
        matches!(
            self,
            StepKind::SetOffQueue
                | StepKind::SetPresenceOffline
                | StepKind::RemoveFromQueue
                | StepKind::ClearAssociatedStation
                | StepKind::ClearDefaultStation
                | StepKind::RemoveSkill
                | StepKind::RemoveLanguage
        )
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for StepKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StepKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(name.parse().unwrap_or_else(|never| match never {}))
    }
}

/// Why the executor must stop before the first write step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// `managementPolicy: Observe`: plan only.
    ObserveOnly,
    /// The user is on a live conversation and the spec says `Wait`.
    ActiveConversation { conversation_id: String },
}

/// The remaining steps, in order, and whether the executor may run past the read-only prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub hold: Option<Hold>,
    /// The user was deactivated by an earlier pass and is active again.
    pub drift: bool,
    /// Queue memberships that come from a group: they cannot be removed per user, only reported.
    pub group_memberships: Vec<Named>,
}

impl Plan {
    /// The steps the executor runs now: all of them, or under a hold those before the first write.
    pub fn runnable(&self) -> &[Step] {
        if self.hold.is_none() {
            return &self.steps;
        }
        let first_write = self
            .steps
            .iter()
            .position(Step::is_write)
            .unwrap_or(self.steps.len());
        &self.steps[..first_write]
    }

    pub fn has_writes(&self) -> bool {
        self.steps.iter().any(Step::is_write)
    }

    pub fn is_done(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Whether `plan` (made without knowing the user's live conversations) needs them: only an
/// enforcing plan that still writes waits for a live conversation. A re-check that finds
/// nothing to change skips the query.
pub fn needs_conversation_guard(policy: &Policy, plan: &Plan) -> bool {
    policy.mode == Mode::Enforce
        && policy.active_conversations == ConversationPolicy::Wait
        && plan.has_writes()
}

/// When the spec's `effectiveAt` is still in the future, the time to wait for.
pub fn scheduled_until(policy: &Policy, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    policy.effective_at.filter(|at| *at > now)
}

/// The ordered steps that remain. Steps already true are omitted.
pub fn plan(policy: &Policy, observed: &Observed) -> Plan {
    let progress = observed.progress;
    let active = observed.state == Lifecycle::Active;
    // The deactivation is ours when we saw the user active (now, or in the snapshot). A user
    // who was inactive before we came is left as found, apart from routing leftovers.
    let ours = active || (progress.snapshot_taken && progress.active_at_snapshot);

    let mut steps = Vec::new();
    if !progress.snapshot_taken {
        steps.push(Step::TakeSnapshot);
    }
    if !progress.history_before_counted {
        steps.push(Step::CountHistoryBefore);
    }
    // Before the drain: an agent-owned callback whose owner is unavailable is lost.
    if policy.handoff && !progress.handed_off {
        steps.push(Step::HandOff);
    }
    steps.extend(drain_steps(policy, observed));
    if active {
        steps.push(Step::Deactivate);
    }
    if let Some(reason) = &policy.reason
        && ours
        && observed.recorded_reason.as_ref() != Some(reason)
    {
        steps.push(Step::RecordReason {
            reason: reason.clone(),
        });
    }
    if policy.revoke_sessions && ours && (active || !progress.sessions_revoked) {
        steps.push(Step::RevokeSessions);
    }
    let changes = steps.iter().any(Step::is_write);
    if changes || !progress.history_verified {
        steps.push(Step::VerifyHistory);
    }

    let hold = if policy.mode == Mode::Observe {
        Some(Hold::ObserveOnly)
    } else if policy.active_conversations == ConversationPolicy::Wait && changes {
        observed
            .ongoing_conversations
            .first()
            .map(|id| Hold::ActiveConversation {
                conversation_id: id.clone(),
            })
    } else {
        None
    };

    Plan {
        steps,
        hold,
        drift: progress.deactivated_before && active,
        group_memberships: observed
            .queues
            .iter()
            .filter(|m| m.member_by == MemberBy::Group)
            .map(|m| m.queue.clone())
            .collect(),
    }
}

/// Step 7 of the pipeline: presence Offline (or off queue), leave direct queues, clear
/// station, then the optional skills and languages.
fn drain_steps(policy: &Policy, observed: &Observed) -> Vec<Step> {
    let mut steps = Vec::new();
    // Nothing guarantees that presence Offline takes the agent off queue (docs/genesys-api.md
    // §6.1; the emulator's realistic profile leaves them on queue), so a user read on queue gets
    // the routing-status PUT too, before the presence change: both writes are then confirmed by
    // one read of the user, where a PUT sent only after a read showed the presence change left
    // them on queue costs a second read.
    if policy.set_off_queue {
        if !observed.off_queue {
            steps.push(Step::SetOffQueue);
        }
        if !observed.presence_offline {
            steps.push(Step::SetPresenceOffline);
        }
    }
    if policy.remove_from_queues {
        steps.extend(
            observed
                .queues
                .iter()
                .filter(|m| m.member_by == MemberBy::User)
                .map(|m| Step::RemoveFromQueue {
                    queue: m.queue.clone(),
                }),
        );
    }
    if policy.clear_station {
        if let Some(station) = &observed.associated_station {
            steps.push(Step::ClearAssociatedStation {
                station: station.clone(),
            });
        }
        if let Some(station) = &observed.default_station {
            steps.push(Step::ClearDefaultStation {
                station: station.clone(),
            });
        }
    }
    if policy.remove_skills {
        steps.extend(
            observed
                .skills
                .iter()
                .map(|s| Step::RemoveSkill { skill: s.clone() }),
        );
    }
    if policy.remove_languages {
        steps.extend(observed.languages.iter().map(|l| Step::RemoveLanguage {
            language: l.clone(),
        }));
    }
    steps
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    /// An active agent as first seen: on queue, available, two direct queues and one through a
    /// group, a station, a skill and a language, nothing done yet.
    fn fresh_agent() -> Observed {
        Observed {
            state: Lifecycle::Active,
            off_queue: false,
            presence_offline: false,
            queues: vec![
                Membership {
                    queue: Named::new("q-billing", Some("Billing")),
                    joined: true,
                    member_by: MemberBy::User,
                },
                Membership {
                    queue: Named::new("q-sales", Some("Sales")),
                    joined: false,
                    member_by: MemberBy::User,
                },
                Membership {
                    queue: Named::new("q-esc", Some("Escalations")),
                    joined: true,
                    member_by: MemberBy::Group,
                },
            ],
            skills: vec![Named::new("s-1", Some("Retention"))],
            languages: vec![Named::new("l-1", Some("English"))],
            associated_station: Some(Named::new("st-1", None)),
            default_station: Some(Named::new("st-1", None)),
            recorded_reason: None,
            ongoing_conversations: vec![],
            progress: Progress::default(),
        }
    }

    /// The same agent after a complete offboarding: nothing left to change.
    fn offboarded_agent() -> Observed {
        Observed {
            state: Lifecycle::Inactive,
            off_queue: true,
            presence_offline: true,
            queues: vec![Membership {
                queue: Named::new("q-esc", Some("Escalations")),
                joined: true,
                member_by: MemberBy::Group,
            }],
            associated_station: None,
            default_station: None,
            recorded_reason: Some(StateChangeReason::Voluntary),
            progress: Progress {
                snapshot_taken: true,
                active_at_snapshot: true,
                history_before_counted: true,
                sessions_revoked: true,
                history_verified: true,
                deactivated_before: true,
                handed_off: true,
            },
            ..fresh_agent()
        }
    }

    /// A user who was already inactive, with no routing left, as first seen.
    fn already_inactive() -> Observed {
        Observed {
            state: Lifecycle::Inactive,
            off_queue: true,
            presence_offline: true,
            queues: vec![],
            skills: vec![],
            languages: vec![],
            associated_station: None,
            default_station: None,
            ..fresh_agent()
        }
    }

    fn names(plan: &Plan) -> Vec<String> {
        plan.steps
            .iter()
            .map(|s| match s.target() {
                Some(t) => format!("{}:{t}", s.kind()),
                None => s.kind().to_string(),
            })
            .collect()
    }

    fn with_reason(reason: StateChangeReason) -> Policy {
        Policy {
            reason: Some(reason),
            ..Policy::default()
        }
    }

    #[test]
    #[allow(clippy::too_many_lines)] // one table, one row per case
    fn plan_table_over_observed_state_and_spec() {
        let all_optional = Policy {
            remove_skills: true,
            remove_languages: true,
            ..with_reason(StateChangeReason::Voluntary)
        };
        let nothing_optional = Policy {
            set_off_queue: false,
            remove_from_queues: false,
            clear_station: false,
            revoke_sessions: false,
            ..Policy::default()
        };
        let stopped_after_deactivate = Observed {
            state: Lifecycle::Inactive,
            off_queue: true,
            presence_offline: true,
            queues: vec![],
            associated_station: None,
            default_station: None,
            progress: Progress {
                snapshot_taken: true,
                active_at_snapshot: true,
                history_before_counted: true,
                ..Progress::default()
            },
            ..fresh_agent()
        };
        let stopped_after_first_queue = Observed {
            off_queue: true,
            presence_offline: true,
            queues: fresh_agent().queues[1..].to_vec(),
            progress: Progress {
                snapshot_taken: true,
                active_at_snapshot: true,
                history_before_counted: true,
                ..Progress::default()
            },
            ..fresh_agent()
        };
        let reactivated = Observed {
            state: Lifecycle::Active,
            ..offboarded_agent()
        };
        let inactive_with_leftovers = Observed {
            queues: vec![Membership {
                queue: Named::new("q-billing", Some("Billing")),
                joined: false,
                member_by: MemberBy::User,
            }],
            ..already_inactive()
        };

        let table: Vec<(&str, Policy, Observed, Vec<&str>)> = vec![
            (
                "fresh agent, default spec",
                Policy::default(),
                fresh_agent(),
                vec![
                    "TakeSnapshot",
                    "CountHistoryBefore",
                    "SetOffQueue",
                    "SetPresenceOffline",
                    "RemoveFromQueue:Billing (q-billing)",
                    "RemoveFromQueue:Sales (q-sales)",
                    "ClearAssociatedStation:st-1",
                    "ClearDefaultStation:st-1",
                    "Deactivate",
                    "RevokeSessions",
                    "VerifyHistory",
                ],
            ),
            (
                "fresh agent, every optional step and a reason",
                all_optional.clone(),
                fresh_agent(),
                vec![
                    "TakeSnapshot",
                    "CountHistoryBefore",
                    "SetOffQueue",
                    "SetPresenceOffline",
                    "RemoveFromQueue:Billing (q-billing)",
                    "RemoveFromQueue:Sales (q-sales)",
                    "ClearAssociatedStation:st-1",
                    "ClearDefaultStation:st-1",
                    "RemoveSkill:Retention (s-1)",
                    "RemoveLanguage:English (l-1)",
                    "Deactivate",
                    "RecordReason:Voluntary",
                    "RevokeSessions",
                    "VerifyHistory",
                ],
            ),
            (
                "fresh agent, routing and sessions switched off",
                nothing_optional,
                fresh_agent(),
                vec![
                    "TakeSnapshot",
                    "CountHistoryBefore",
                    "Deactivate",
                    "VerifyHistory",
                ],
            ),
            (
                "fully offboarded agent: nothing left",
                all_optional.clone(),
                Observed {
                    skills: vec![],
                    languages: vec![],
                    ..offboarded_agent()
                },
                vec![],
            ),
            (
                "already inactive when first seen: reads only",
                with_reason(StateChangeReason::Voluntary),
                already_inactive(),
                vec!["TakeSnapshot", "CountHistoryBefore", "VerifyHistory"],
            ),
            (
                "already inactive with a leftover direct queue: drain only",
                Policy::default(),
                inactive_with_leftovers,
                vec![
                    "TakeSnapshot",
                    "CountHistoryBefore",
                    "RemoveFromQueue:Billing (q-billing)",
                    "VerifyHistory",
                ],
            ),
            (
                "stopped after deactivate: reason, revoke, verify; no second snapshot",
                with_reason(StateChangeReason::Leave),
                stopped_after_deactivate.clone(),
                vec!["RecordReason:Leave", "RevokeSessions", "VerifyHistory"],
            ),
            (
                "stopped after deactivate, reason already recorded",
                with_reason(StateChangeReason::Leave),
                Observed {
                    recorded_reason: Some(StateChangeReason::Leave),
                    ..stopped_after_deactivate.clone()
                },
                vec!["RevokeSessions", "VerifyHistory"],
            ),
            (
                "stopped after revoke: only the verification",
                Policy::default(),
                Observed {
                    progress: Progress {
                        sessions_revoked: true,
                        ..stopped_after_deactivate.progress
                    },
                    ..stopped_after_deactivate
                },
                vec!["VerifyHistory"],
            ),
            (
                "stopped after the first queue: the rest of the drain",
                Policy::default(),
                stopped_after_first_queue,
                vec![
                    "RemoveFromQueue:Sales (q-sales)",
                    "ClearAssociatedStation:st-1",
                    "ClearDefaultStation:st-1",
                    "Deactivate",
                    "RevokeSessions",
                    "VerifyHistory",
                ],
            ),
            (
                "re-activated after offboarding: deactivate and revoke again",
                Policy::default(),
                reactivated,
                vec!["Deactivate", "RevokeSessions", "VerifyHistory"],
            ),
            (
                "skills and languages stay unless asked",
                Policy::default(),
                Observed {
                    off_queue: true,
                    presence_offline: true,
                    queues: vec![],
                    associated_station: None,
                    default_station: None,
                    ..fresh_agent()
                },
                vec![
                    "TakeSnapshot",
                    "CountHistoryBefore",
                    "Deactivate",
                    "RevokeSessions",
                    "VerifyHistory",
                ],
            ),
            (
                "presence Offline already but still on queue: the routing status is PUT",
                Policy::default(),
                Observed {
                    presence_offline: true,
                    queues: vec![],
                    associated_station: None,
                    default_station: None,
                    progress: stopped_after_deactivate.progress,
                    state: Lifecycle::Inactive,
                    ..fresh_agent()
                },
                vec!["SetOffQueue", "RevokeSessions", "VerifyHistory"],
            ),
            (
                "off queue but available: the presence change alone",
                Policy::default(),
                Observed {
                    off_queue: true,
                    queues: vec![],
                    associated_station: None,
                    default_station: None,
                    progress: stopped_after_deactivate.progress,
                    state: Lifecycle::Inactive,
                    ..fresh_agent()
                },
                vec!["SetPresenceOffline", "RevokeSessions", "VerifyHistory"],
            ),
        ];

        for (case, policy, observed, expected) in table {
            assert_eq!(names(&plan(&policy, &observed)), expected, "case: {case}");
        }
    }

    #[test]
    fn the_live_conversation_guard_is_needed_only_by_an_enforcing_plan_that_writes() {
        let proceed = Policy {
            active_conversations: ConversationPolicy::Proceed,
            ..Policy::default()
        };
        let observe = Policy {
            mode: Mode::Observe,
            ..Policy::default()
        };
        let table = vec![
            ("fresh agent", Policy::default(), fresh_agent(), true),
            (
                "nothing left to write",
                Policy::default(),
                offboarded_agent(),
                false,
            ),
            ("Proceed", proceed, fresh_agent(), false),
            ("Observe", observe, fresh_agent(), false),
        ];

        for (case, policy, observed, needed) in table {
            let plan = plan(&policy, &observed);
            assert_eq!(
                needs_conversation_guard(&policy, &plan),
                needed,
                "case: {case}"
            );
        }
    }

    #[test]
    fn group_memberships_are_reported_and_never_planned() {
        let plan = plan(&Policy::default(), &fresh_agent());

        assert_eq!(
            plan.group_memberships,
            vec![Named::new("q-esc", Some("Escalations"))]
        );
        assert!(
            !plan
                .steps
                .iter()
                .any(|s| s.target().is_some_and(|t| t.contains("q-esc")))
        );
    }

    #[test]
    fn hold_table_over_mode_conversation_policy_and_live_conversations() {
        let on_call = Observed {
            ongoing_conversations: vec!["c-live".into()],
            ..fresh_agent()
        };
        let done_on_call = Observed {
            ongoing_conversations: vec!["c-live".into()],
            ..offboarded_agent()
        };
        let proceed = Policy {
            active_conversations: ConversationPolicy::Proceed,
            ..Policy::default()
        };
        let observe = Policy {
            mode: Mode::Observe,
            ..Policy::default()
        };
        let waiting = Some(Hold::ActiveConversation {
            conversation_id: "c-live".into(),
        });

        let table: Vec<(&str, Policy, Observed, Option<Hold>)> = vec![
            (
                "enforce, no conversation",
                Policy::default(),
                fresh_agent(),
                None,
            ),
            (
                "enforce, live conversation, Wait",
                Policy::default(),
                on_call.clone(),
                waiting,
            ),
            (
                "enforce, live conversation, Proceed",
                proceed,
                on_call.clone(),
                None,
            ),
            (
                "observe, no conversation",
                observe.clone(),
                fresh_agent(),
                Some(Hold::ObserveOnly),
            ),
            (
                "observe, live conversation",
                observe,
                on_call,
                Some(Hold::ObserveOnly),
            ),
            (
                "nothing left to write, live conversation",
                Policy::default(),
                done_on_call,
                None,
            ),
        ];

        for (case, policy, observed, expected) in table {
            assert_eq!(plan(&policy, &observed).hold, expected, "case: {case}");
        }
    }

    #[test]
    fn a_hold_lets_only_the_read_only_prefix_run() {
        let on_call = Observed {
            ongoing_conversations: vec!["c-live".into()],
            ..fresh_agent()
        };

        let plan = plan(&Policy::default(), &on_call);

        assert_eq!(
            plan.runnable(),
            &[Step::TakeSnapshot, Step::CountHistoryBefore]
        );
        assert!(plan.steps.len() > 2, "the whole plan stays visible");
    }

    #[test]
    fn observe_mode_keeps_the_full_plan_and_runs_no_write() {
        let observe = Policy {
            mode: Mode::Observe,
            ..Policy::default()
        };

        let plan = plan(&observe, &fresh_agent());

        assert_eq!(
            plan.steps,
            super::plan(&Policy::default(), &fresh_agent()).steps
        );
        assert!(plan.runnable().iter().all(|s| !s.is_write()));
    }

    #[test]
    fn without_a_hold_every_step_is_runnable() {
        let plan = plan(&Policy::default(), &fresh_agent());

        assert_eq!(plan.runnable(), plan.steps.as_slice());
    }

    #[test]
    fn drift_is_flagged_only_when_an_offboarded_user_is_active_again() {
        let table = vec![
            ("first run", fresh_agent(), false),
            ("offboarded, still inactive", offboarded_agent(), false),
            (
                "offboarded, active again",
                Observed {
                    state: Lifecycle::Active,
                    ..offboarded_agent()
                },
                true,
            ),
        ];

        for (case, observed, drift) in table {
            assert_eq!(
                plan(&Policy::default(), &observed).drift,
                drift,
                "case: {case}"
            );
        }
    }

    #[test]
    fn a_reactivation_revokes_sessions_even_if_revoked_before() {
        let reactivated = Observed {
            state: Lifecycle::Active,
            ..offboarded_agent()
        };

        let plan = plan(&Policy::default(), &reactivated);

        assert!(plan.steps.contains(&Step::RevokeSessions));
    }

    #[test]
    fn effective_at_table() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 22, 9, 0, 0)
            .single()
            .unwrap();
        let later = now + chrono::Duration::hours(3);
        let earlier = now - chrono::Duration::hours(3);
        let at = |t: Option<DateTime<Utc>>| Policy {
            effective_at: t,
            ..Policy::default()
        };

        let table = vec![
            ("no effectiveAt", at(None), None),
            ("effectiveAt in the past", at(Some(earlier)), None),
            ("effectiveAt now", at(Some(now)), None),
            ("effectiveAt in the future", at(Some(later)), Some(later)),
        ];

        for (case, policy, expected) in table {
            assert_eq!(scheduled_until(&policy, now), expected, "case: {case}");
        }
    }

    #[test]
    fn steps_serialize_with_their_name_and_target() {
        let step = Step::RemoveFromQueue {
            queue: Named::new("q-1", Some("Billing")),
        };

        let json = serde_json::to_value(&step).unwrap();

        assert_eq!(
            json,
            serde_json::json!({"step": "RemoveFromQueue", "queue": {"id": "q-1", "name": "Billing"}})
        );
        assert!(step.is_write() && step.is_drain());
        assert!(!Step::VerifyHistory.is_write());
    }

    #[test]
    fn a_step_kind_is_named_as_the_step_and_reads_back_as_itself() {
        let named = Named::new("x", None);
        let steps = [
            Step::TakeSnapshot,
            Step::CountHistoryBefore,
            Step::SetOffQueue,
            Step::SetPresenceOffline,
            Step::RemoveFromQueue {
                queue: named.clone(),
            },
            Step::ClearAssociatedStation {
                station: named.clone(),
            },
            Step::ClearDefaultStation {
                station: named.clone(),
            },
            Step::RemoveSkill {
                skill: named.clone(),
            },
            Step::RemoveLanguage { language: named },
            Step::Deactivate,
            Step::RecordReason {
                reason: StateChangeReason::Leave,
            },
            Step::RevokeSessions,
            Step::VerifyHistory,
        ];

        for step in steps {
            let kind = step.kind();
            let name = serde_json::to_value(&kind).unwrap();

            assert_eq!(name, serde_json::to_value(&step).unwrap()["step"]);
            assert_eq!(serde_json::from_value::<StepKind>(name).unwrap(), kind);
        }
        assert_eq!(
            "LeaveQueue".parse::<StepKind>().unwrap(),
            StepKind::Other("LeaveQueue".into())
        );
    }
}
