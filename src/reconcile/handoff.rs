//! `spec.handoff`: the departing agent's work goes to a successor (or a fallback queue) while
//! the user is still active.
//!
//! Three stages, each with its own I/O:
//! - [`prepare`] (every pass until the handoff is done; reads only): resolves the successor like
//!   `spec.user` (ambiguous, missing, deleted or inactive → Stalled, nothing written) and, while
//!   no snapshot is persisted, finds the work: agent-owned callbacks, pending evaluations and
//!   calibrations, direct reports, colleagues the user backs up for direct routing, open
//!   workitems, voicemail. What it finds, with where each piece goes, is
//!   recorded in the snapshot (`snapshot.handoff`), persisted before the first write.
//! - [`run`] (the `HandOff` step, before the routing drain and the deactivation): moves exactly
//!   the snapshot's list. Each move reads first and writes only what is not at its new owner
//!   yet, then reads back; `moved` counts only what a read shows. A pass after a crash between
//!   two moves reads again and moves only what is left, so nothing moves twice.
//! - Restore ([`super::restore`]) gives the direct reports their manager back.
//!
//! Why before the drain: an agent-owned callback whose owner is unavailable is disconnected,
//! and the lists that name the work are read from the user (their direct reports, the users
//! they back up, their voicemail), which an inactive user's reads no longer promise.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use genesys_cloud::{
    DirectRoutingBackup, GenesysClient, GenesysError, Interval, User, UserId, UserState,
};

use super::error::{ResolveError, StepError};
use super::observe;
use crate::crd::{
    HandoffItem, HandoffKind, HandoffKindStatus, HandoffPolicy, HandoffStatus, NotMovable,
    ResolvedUser, UserRef,
};

/// Stalled: `spec.handoff.successor` names no single live user.
pub const SUCCESSOR_UNRESOLVED: &str = "SuccessorUnresolved";
/// Stalled: the successor is not an active user.
pub const SUCCESSOR_INACTIVE: &str = "SuccessorInactive";
/// Stalled: the successor is the user being offboarded.
pub const SUCCESSOR_IS_USER: &str = "SuccessorIsUser";

/// Why the handoff cannot start. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error("spec.handoff.successor: {0}")]
    Successor(#[source] ResolveError),
    #[error("spec.handoff.successor {id} is {state}, not active: work cannot be handed to them")]
    Inactive { id: String, state: String },
    #[error("spec.handoff.successor {id} is the user being offboarded")]
    IsUser { id: String },
    #[error("failed to {what}")]
    Read {
        what: &'static str,
        #[source]
        source: GenesysError,
    },
}

impl HandoffError {
    pub fn retry_class(&self) -> genesys_cloud::RetryClass {
        match self {
            HandoffError::Successor(ResolveError::Genesys(e))
            | HandoffError::Read { source: e, .. } => e.retry_class(),
            _ => genesys_cloud::RetryClass::Never,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            HandoffError::Successor(ResolveError::Genesys(e))
            | HandoffError::Read { source: e, .. } => e.reason(),
            HandoffError::Successor(_) => SUCCESSOR_UNRESOLVED,
            HandoffError::Inactive { .. } => SUCCESSOR_INACTIVE,
            HandoffError::IsUser { .. } => SUCCESSOR_IS_USER,
        }
    }
}

fn read(what: &'static str) -> impl FnOnce(GenesysError) -> HandoffError {
    move |source| HandoffError::Read { what, source }
}

/// What [`prepare`] found: the successor, and (while no snapshot is persisted) the work.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prepared {
    pub successor: Option<ResolvedUser>,
    /// The work to hand off, in the order it is moved; `None` when a snapshot already holds it.
    pub items: Option<Vec<HandoffItem>>,
}

/// Whether the status shows the handoff finished: every piece of work found is moved (as a read
/// showed) or known not movable.
pub fn done(status: &crate::crd::GenesysUserOffboardingStatus) -> bool {
    status
        .handoff
        .as_ref()
        .is_some_and(|h| h.kinds.iter().all(HandoffKindStatus::is_complete))
}

/// The counts of `items` before anything moved: found per kind, and those known not movable.
pub fn found(items: &[HandoffItem]) -> HandoffStatus {
    let mut kinds: BTreeMap<HandoffKind, HandoffKindStatus> = BTreeMap::new();
    for item in items {
        let entry = kinds.entry(item.kind).or_insert_with(|| HandoffKindStatus {
            kind: item.kind,
            found: 0,
            moved: 0,
            not_movable: Vec::new(),
        });
        entry.found += 1;
        if let Some(reason) = &item.not_movable {
            entry.not_movable.push(NotMovable {
                id: item.id.clone(),
                reason: reason.clone(),
            });
        }
    }
    HandoffStatus {
        successor: None,
        kinds: kinds.into_values().collect(),
    }
}

/// Resolves the successor and, when `discover`, finds the work. Reads only.
pub async fn prepare(
    client: &GenesysClient,
    policy: &HandoffPolicy,
    user: &User,
    discover: bool,
    now: DateTime<Utc>,
) -> Result<Prepared, HandoffError> {
    let successor = match &policy.successor {
        Some(reference) => {
            let found = resolve_successor(client, reference).await?;
            if found.id == user.id {
                return Err(HandoffError::IsUser {
                    id: found.id.to_string(),
                });
            }
            if !found.is_state(&UserState::Active) {
                return Err(HandoffError::Inactive {
                    id: found.id.to_string(),
                    state: found
                        .state
                        .as_ref()
                        .map_or("of unknown state", UserState::as_str)
                        .to_owned(),
                });
            }
            Some(ResolvedUser {
                id: found.id.to_string(),
                name: found.name.clone(),
                email: found.email.clone(),
                ..ResolvedUser::default()
            })
        }
        None => None,
    };
    let items = if discover {
        Some(
            find(
                client,
                policy,
                &user.id,
                successor.as_ref().map(|s| s.id.as_str()),
                now,
            )
            .await?,
        )
    } else {
        None
    };
    Ok(Prepared { successor, items })
}

/// How long a successor's resolution serves the other passes of the same client: a wave's
/// offboardings mostly name one successor, and each pass resolved them anew (a search and a
/// user read, about 0.9 calls per offboarding). No longer than the few seconds a pass itself
/// takes between resolving the successor and its last move.
pub const SUCCESSOR_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(10);

/// `reference` resolved like `spec.user`, or as another pass of this client resolved it less
/// than [`SUCCESSOR_MAX_AGE`] ago. Only a resolution that found a user is remembered; the
/// caller checks its state either way.
async fn resolve_successor(
    client: &GenesysClient,
    reference: &UserRef,
) -> Result<User, HandoffError> {
    let key = format!(
        "successor {}|{}",
        reference
            .email
            .as_deref()
            .map(str::to_ascii_lowercase)
            .unwrap_or_default(),
        reference.id.as_deref().unwrap_or_default()
    );
    if let Some(user) = client.remembered_user(&key, SUCCESSOR_MAX_AGE) {
        return Ok(user);
    }
    let user = observe::resolve(client, reference)
        .await
        .map_err(HandoffError::Successor)?;
    client.remember_user(key, user.clone());
    Ok(user)
}

/// The work of `user` that `policy` hands off, each piece with its target, in the order of
/// the kinds below. The kinds are read at once (one round trip, not seven; a wave's callback
/// and workitem queries are shared by the client); the first read that fails fails the lot.
async fn find(
    client: &GenesysClient,
    policy: &HandoffPolicy,
    user: &UserId,
    successor: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<HandoffItem>, HandoffError> {
    let queue = policy.fallback_queue.as_ref().map(|q| q.id.as_str());
    let kinds = futures::future::try_join_all([
        when(
            policy.callbacks,
            find_callbacks(client, user, successor, now).boxed(),
        ),
        when(
            policy.evaluations,
            find_evaluations(client, user, successor).boxed(),
        ),
        when(
            policy.direct_reports,
            find_direct_reports(client, user, successor).boxed(),
        ),
        when(
            policy.direct_routing_backup,
            find_backed_up(client, user, successor, queue).boxed(),
        ),
        when(
            policy.workitems,
            find_workitems(client, user, successor, queue).boxed(),
        ),
        when(
            policy.voicemail,
            find_voicemail(client, user, successor).boxed(),
        ),
    ])
    .await?;
    Ok(kinds.into_iter().flatten().collect())
}

type Found<'a> = futures::future::BoxFuture<'a, Result<Vec<HandoffItem>, HandoffError>>;

/// `find` when the policy moves that kind; nothing (and no read) otherwise.
fn when(moved: bool, find: Found<'_>) -> Found<'_> {
    if moved {
        find
    } else {
        futures::future::ready(Ok(Vec::new())).boxed()
    }
}

/// The users whose manager is `user`: each goes to the successor.
async fn find_direct_reports(
    client: &GenesysClient,
    user: &UserId,
    successor: Option<&str>,
) -> Result<Vec<HandoffItem>, HandoffError> {
    let reports = client
        .get_direct_reports(user)
        .await
        .map_err(read("read the user's direct reports"))?;
    Ok(reports
        .into_iter()
        .map(|report| {
            let is_successor = Some(report.id.as_str()) == successor;
            let not_movable = match successor {
                None => Some("a manager is a user: set handoff.successor".to_owned()),
                Some(_) if is_successor => {
                    Some("the successor cannot be their own manager".to_owned())
                }
                Some(_) => None,
            };
            HandoffItem {
                kind: HandoffKind::DirectReport,
                id: report.id.to_string(),
                name: report.name.clone(),
                to: not_movable
                    .is_none()
                    .then(|| successor.map(str::to_owned))
                    .flatten(),
                to_queue: false,
                not_movable,
            }
        })
        .collect())
}

/// The colleagues `user` is the direct-routing backup of: each gets the successor, or the
/// fallback queue.
async fn find_backed_up(
    client: &GenesysClient,
    user: &UserId,
    successor: Option<&str>,
    queue: Option<&str>,
) -> Result<Vec<HandoffItem>, HandoffError> {
    let settings = client
        .get_direct_routing_backup(user)
        .await
        .map_err(read("read the user's direct-routing backup settings"))?;
    Ok(settings
        .backed_up_users
        .into_iter()
        .map(|colleague| {
            // The successor cannot back themselves up: they get the queue, if there is one.
            let (to, to_queue) = match (successor, queue) {
                (Some(s), _) if s != colleague => (Some(s), false),
                (_, Some(q)) => (Some(q), true),
                _ => (None, false),
            };
            HandoffItem {
                kind: HandoffKind::DirectRoutingBackup,
                not_movable: to.is_none().then(|| {
                    "no successor other than this colleague, and no fallback queue".to_owned()
                }),
                id: colleague,
                name: None,
                to: to.map(str::to_owned),
                to_queue,
            }
        })
        .collect())
}

/// The user's open workitems: to the successor, else to the fallback queue.
async fn find_workitems(
    client: &GenesysClient,
    user: &UserId,
    successor: Option<&str>,
    queue: Option<&str>,
) -> Result<Vec<HandoffItem>, HandoffError> {
    let open = client
        .open_workitems_of_user(user)
        .await
        .map_err(read("query the user's open workitems"))?;
    let (to, to_queue) = match (successor, queue) {
        (Some(s), _) => (Some(s), false),
        (None, Some(q)) => (Some(q), true),
        (None, None) => (None, false),
    };
    Ok(open
        .into_iter()
        .map(|w| HandoffItem {
            kind: HandoffKind::Workitem,
            id: w.id,
            name: w.name,
            to: to.map(str::to_owned),
            to_queue,
            not_movable: None,
        })
        .collect())
}

/// The user's voicemail messages: copied to the successor.
async fn find_voicemail(
    client: &GenesysClient,
    user: &UserId,
    successor: Option<&str>,
) -> Result<Vec<HandoffItem>, HandoffError> {
    let messages = client
        .get_user_voicemail(user)
        .await
        .map_err(read("read the user's voicemail"))?;
    Ok(messages
        .into_iter()
        .map(|m| HandoffItem {
            kind: HandoffKind::Voicemail,
            id: m.id,
            name: m.caller_address,
            to: successor.map(str::to_owned),
            to_queue: false,
            not_movable: successor.is_none().then(|| {
                "voicemail is copied to a user (the API copies to a user or a group, not a queue): set handoff.successor".to_owned()
            }),
        })
        .collect())
}

/// The scheduled callbacks the user owns, found with the analytics details query.
async fn find_callbacks(
    client: &GenesysClient,
    user: &UserId,
    successor: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<HandoffItem>, HandoffError> {
    // Callbacks created within the synchronous details query's longest window, ending where
    // the history windows end (one second into today): every pass of a day asks over the same
    // interval, so the client reads a wave's callbacks in shared queries.
    let window = chrono::TimeDelta::from_std(client.config().max_sync_interval)
        .unwrap_or(chrono::TimeDelta::days(31));
    let end = super::verify::window_end(now);
    let owned = client
        .owned_callbacks_of(user, Interval::new(end - window, end))
        .await
        .map_err(read("query the callbacks the user owns"))?;
    Ok(owned
        .into_iter()
        .map(|callback| HandoffItem {
            kind: HandoffKind::Callback,
            id: callback.conversation_id,
            name: callback.customer,
            to: successor.map(str::to_owned),
            to_queue: false,
            not_movable: successor.is_none().then(|| CALLBACK_NEEDS_AGENT.to_owned()),
        })
        .collect())
}

/// The evaluations `user` is to do and the calibrations they run that are not finished.
async fn find_evaluations(
    client: &GenesysClient,
    user: &UserId,
    successor: Option<&str>,
) -> Result<Vec<HandoffItem>, HandoffError> {
    let (evaluations, calibrations) = futures::try_join!(
        async {
            client
                .pending_evaluations_of(user)
                .await
                .map_err(read("query the evaluations the user is to do"))
        },
        async {
            client
                .calibrations_of(user)
                .await
                .map_err(read("read the calibrations the user runs"))
        },
    )?;
    let mut items = Vec::new();
    for e in evaluations {
        let Some(conversation) = e.conversation_id() else {
            continue;
        };
        items.push(HandoffItem {
            kind: HandoffKind::Evaluation,
            id: format!("{conversation}/{}", e.id),
            name: describe_evaluation(&e),
            to: successor.map(str::to_owned),
            to_queue: false,
            not_movable: successor
                .is_none()
                .then(|| EVALUATION_NEEDS_USER.to_owned()),
        });
    }
    for c in calibrations
        .into_iter()
        .filter(genesys_cloud::Calibration::is_pending)
    {
        let not_movable = if successor.is_none() {
            Some(EVALUATION_NEEDS_USER.to_owned())
        } else if !c.involves(user.as_str()) {
            Some(CALIBRATOR_STAYS.to_owned())
        } else {
            None
        };
        items.push(HandoffItem {
            kind: HandoffKind::Calibration,
            id: c.id.clone(),
            name: c
                .agent
                .as_ref()
                .and_then(|a| a.name.as_deref())
                .map(|agent| format!("calibration of {agent}'s conversation")),
            to: not_movable
                .is_none()
                .then(|| successor.map(str::to_owned))
                .flatten(),
            to_queue: false,
            not_movable,
        });
    }
    Ok(items)
}

/// `Billing QA of Omar Haddad`: the form and the agent evaluated, as far as the read names them.
fn describe_evaluation(e: &genesys_cloud::Evaluation) -> Option<String> {
    let form = e.evaluation_form.as_ref().and_then(|f| f.name.as_deref());
    let agent = e.agent.as_ref().and_then(|a| a.name.as_deref());
    match (form, agent) {
        (Some(form), Some(agent)) => Some(format!("{form} of {agent}")),
        (None, Some(agent)) => Some(format!("evaluation of {agent}")),
        (Some(form), None) => Some(form.to_owned()),
        (None, None) => None,
    }
}

/// Why an evaluation or a calibration needs a successor.
const EVALUATION_NEEDS_USER: &str =
    "evaluations and calibrations are done by a user, not a queue: set handoff.successor";
/// Why a calibration the user only runs stays with them.
const CALIBRATOR_STAYS: &str = "the user is only its calibrator, which Genesys does not let a PUT change (evaluators, expertEvaluator and scoringIndex only); its evaluators can still finish it";

/// Why a callback cannot go to the fallback queue.
const CALLBACK_NEEDS_AGENT: &str = "a callback is handed to a user (PATCH /api/v2/conversations/callbacks requires agentId): set handoff.successor";

/// The outcome of one item's move.
enum Moved {
    /// A read shows it at its new owner.
    Confirmed,
    /// It cannot move (the reason).
    NotMovable(String),
    /// Written, but no read shows it yet: the next pass reads again.
    Pending,
}

/// What one `HandOff` step did: the per-kind counts, and the moves Genesys accepted that no
/// read shows yet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Handed {
    pub status: HandoffStatus,
    /// `Kind id` of each item written (or found half-moved) that no read shows at its new owner.
    pub pending: Vec<String>,
}

/// The `HandOff` step: moves the snapshot's items, reading each before and after. Returns the
/// per-kind counts; an item no read confirms yet leaves its kind incomplete and is named in
/// `pending` (the caller stops the pass before the drain and retries).
pub async fn run(
    client: &GenesysClient,
    user: &UserId,
    items: &[HandoffItem],
    successor: Option<ResolvedUser>,
) -> Result<Handed, StepError> {
    let mut pending = Vec::new();
    let mut kinds: BTreeMap<HandoffKind, HandoffKindStatus> = BTreeMap::new();
    let mut voicemail = None;
    for item in items {
        let entry = kinds.entry(item.kind).or_insert_with(|| HandoffKindStatus {
            kind: item.kind,
            found: 0,
            moved: 0,
            not_movable: Vec::new(),
        });
        entry.found += 1;
        let outcome = match (&item.not_movable, &item.to) {
            (Some(reason), _) => Moved::NotMovable(reason.clone()),
            (None, None) => Moved::NotMovable("no target".into()),
            (None, Some(to)) => match item.kind {
                HandoffKind::DirectReport => move_report(client, item, to).await?,
                HandoffKind::DirectRoutingBackup => move_backup(client, user, item, to).await?,
                HandoffKind::Workitem => move_workitem(client, item, to).await?,
                HandoffKind::Voicemail => {
                    copy_voicemail(client, user, item, to, &mut voicemail).await?
                }
                HandoffKind::Callback => move_callback(client, user, item, to).await?,
                HandoffKind::Evaluation => move_evaluation(client, user, item, to).await?,
                HandoffKind::Calibration => move_calibration(client, user, item, to).await?,
            },
        };
        match outcome {
            Moved::Confirmed => entry.moved += 1,
            Moved::NotMovable(reason) => entry.not_movable.push(NotMovable {
                id: item.id.clone(),
                reason,
            }),
            Moved::Pending => pending.push(format!("{} {}", item.kind.as_str(), item.id)),
        }
    }
    Ok(Handed {
        status: HandoffStatus {
            successor,
            kinds: kinds.into_values().collect(),
        },
        pending,
    })
}

fn step_error(what: &'static str) -> impl FnOnce(GenesysError) -> StepError {
    StepError::genesys(what)
}

/// The callback is routed to the successor (`PATCH /conversations/callbacks` with `agentId`),
/// read before and after with `GET /conversations/callbacks/{id}` (`scoredAgents`).
async fn move_callback(
    client: &GenesysClient,
    user: &UserId,
    item: &HandoffItem,
    to: &str,
) -> Result<Moved, StepError> {
    let holds = |c: &genesys_cloud::CallbackConversation| {
        let routed = c.routed_to();
        routed.contains(&to) && !routed.contains(&user.as_str())
    };
    let current = match client.get_callback(&item.id).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => {
            return Ok(Moved::NotMovable("the callback no longer exists".into()));
        }
        Err(e) => return Err(step_error("read a callback")(e)),
    };
    if holds(&current) {
        return Ok(Moved::Confirmed);
    }
    if !current.is_scheduled() {
        return Ok(Moved::NotMovable(
            "the callback ended since the snapshot (made or cancelled)".into(),
        ));
    }
    if !current.routed_to().contains(&user.as_str()) {
        // Someone gave it to another agent since the snapshot: theirs to keep.
        return Ok(Moved::NotMovable(
            "the callback's owner changed since the snapshot".into(),
        ));
    }
    client
        .reassign_callback(&item.id, to)
        .await
        .map_err(step_error("reassign a callback"))?;
    let after = client
        .get_callback(&item.id)
        .await
        .map_err(step_error("read a callback back"))?;
    Ok(if holds(&after) {
        Moved::Confirmed
    } else {
        Moved::Pending
    })
}

/// The evaluation is assigned to the successor: `PUT` of the whole evaluation as read, with the
/// new `assignee`, read back with `GET`.
async fn move_evaluation(
    client: &GenesysClient,
    user: &UserId,
    item: &HandoffItem,
    to: &str,
) -> Result<Moved, StepError> {
    let Some((conversation, id)) = item.id.split_once('/') else {
        return Ok(Moved::NotMovable(
            "not a conversationId/evaluationId pair".into(),
        ));
    };
    let current = match client.get_evaluation(conversation, id).await {
        Ok(e) => e,
        Err(e) if e.is_not_found() => {
            return Ok(Moved::NotMovable("the evaluation no longer exists".into()));
        }
        Err(e) => return Err(step_error("read an evaluation")(e)),
    };
    if current.assignee_id() == Some(to) {
        return Ok(Moved::Confirmed);
    }
    if !current.is_pending() {
        return Ok(Moved::NotMovable(format!(
            "{} since the snapshot",
            current.status.as_deref().unwrap_or("changed")
        )));
    }
    if current.assignee_id() != Some(user.as_str()) {
        return Ok(Moved::NotMovable(
            "assigned to someone else since the snapshot".into(),
        ));
    }
    client
        .reassign_evaluation(&current, to)
        .await
        .map_err(step_error("reassign an evaluation"))?;
    let after = client
        .get_evaluation(conversation, id)
        .await
        .map_err(step_error("read an evaluation back"))?;
    Ok(if after.assignee_id() == Some(to) {
        Moved::Confirmed
    } else {
        Moved::Pending
    })
}

/// The successor takes the user's place among the calibration's evaluators and as its expert
/// evaluator: `PUT` of the whole calibration as read, read back with `GET`.
async fn move_calibration(
    client: &GenesysClient,
    user: &UserId,
    item: &HandoffItem,
    to: &str,
) -> Result<Moved, StepError> {
    let holds = |c: &genesys_cloud::Calibration| {
        !c.involves(user.as_str()) && (c.evaluator_ids().contains(&to) || c.expert_id() == Some(to))
    };
    let current = match client.get_calibration(&item.id).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => {
            return Ok(Moved::NotMovable("the calibration no longer exists".into()));
        }
        Err(e) => return Err(step_error("read a calibration")(e)),
    };
    if holds(&current) {
        return Ok(Moved::Confirmed);
    }
    if !current.involves(user.as_str()) {
        return Ok(Moved::NotMovable(
            "the user is no longer among its evaluators since the snapshot".into(),
        ));
    }
    if !current.is_pending() {
        return Ok(Moved::NotMovable("finished since the snapshot".into()));
    }
    client
        .replace_calibration_evaluator(&current, user.as_str(), to)
        .await
        .map_err(step_error("hand over a calibration"))?;
    let after = client
        .get_calibration(&item.id)
        .await
        .map_err(step_error("read a calibration back"))?;
    Ok(if holds(&after) {
        Moved::Confirmed
    } else {
        Moved::Pending
    })
}

/// The report's manager becomes the successor: `PATCH /users/{id}` with `manager` and the
/// report's version, read back with `GET /users/{id}`.
async fn move_report(
    client: &GenesysClient,
    item: &HandoffItem,
    to: &str,
) -> Result<Moved, StepError> {
    let id = UserId::new(item.id.as_str());
    let manager_of = |u: &User| u.manager.as_ref().and_then(|m| m.id.clone());
    let report = match client.get_user(&id, &[]).await {
        Ok(u) => u,
        Err(e) if e.is_not_found() => {
            return Ok(Moved::NotMovable("the user no longer exists".into()));
        }
        Err(e) => return Err(step_error("read a direct report")(e)),
    };
    if manager_of(&report).as_deref() == Some(to) {
        return Ok(Moved::Confirmed);
    }
    let Some(version) = report.version else {
        return Ok(Moved::Pending);
    };
    match client.set_manager(&id, to, version).await {
        Ok(_) => {}
        // Changed since it was read: the next pass reads it again.
        Err(e) if e.is_version_conflict() => return Ok(Moved::Pending),
        Err(e) => return Err(step_error("set a direct report's manager")(e)),
    }
    let after = client
        .get_user(&id, &[])
        .await
        .map_err(step_error("read a direct report back"))?;
    Ok(if manager_of(&after).as_deref() == Some(to) {
        Moved::Confirmed
    } else {
        Moved::Pending
    })
}

/// The colleague's direct-routing backup becomes the successor (or the fallback queue): their
/// settings are read, written whole with the new backup, and read back.
async fn move_backup(
    client: &GenesysClient,
    user: &UserId,
    item: &HandoffItem,
    to: &str,
) -> Result<Moved, StepError> {
    let colleague = UserId::new(item.id.as_str());
    let holds = |s: &DirectRoutingBackup| {
        if item.to_queue {
            s.queue_id.as_deref() == Some(to) && s.user_id.as_deref() != Some(user.as_str())
        } else {
            s.user_id.as_deref() == Some(to)
        }
    };
    let current = match client.get_direct_routing_backup(&colleague).await {
        Ok(s) => s,
        Err(e) if e.is_not_found() => {
            return Ok(Moved::NotMovable("the colleague no longer exists".into()));
        }
        Err(e) => return Err(step_error("read a colleague's direct-routing backup")(e)),
    };
    if holds(&current) {
        return Ok(Moved::Confirmed);
    }
    if current.user_id.as_deref() != Some(user.as_str()) {
        // Someone changed it to another backup since the snapshot: theirs to keep.
        return Ok(Moved::NotMovable(
            "the colleague's backup changed since the snapshot".into(),
        ));
    }
    let wanted = DirectRoutingBackup {
        user_id: (!item.to_queue).then(|| to.to_owned()),
        queue_id: if item.to_queue {
            Some(to.to_owned())
        } else {
            current.queue_id.clone()
        },
        wait_for_agent: current.wait_for_agent,
        agent_wait_seconds: current.agent_wait_seconds,
        backed_up_users: Vec::new(),
    };
    client
        .put_direct_routing_backup(&colleague, &wanted)
        .await
        .map_err(step_error("set a colleague's direct-routing backup"))?;
    let after = client
        .get_direct_routing_backup(&colleague)
        .await
        .map_err(step_error("read a colleague's direct-routing backup back"))?;
    Ok(if holds(&after) {
        Moved::Confirmed
    } else {
        Moved::Pending
    })
}

/// The workitem is assigned to the successor (or handed to the fallback queue without an
/// assignee), read back with `GET /taskmanagement/workitems/{id}`.
async fn move_workitem(
    client: &GenesysClient,
    item: &HandoffItem,
    to: &str,
) -> Result<Moved, StepError> {
    let holds = |w: &genesys_cloud::Workitem| {
        let assignee = w.assignee.as_ref().and_then(|a| a.id.as_deref());
        if item.to_queue {
            w.queue.as_ref().and_then(|q| q.id.as_deref()) == Some(to) && assignee.is_none()
        } else {
            assignee == Some(to)
        }
    };
    let current = match client.get_workitem(&item.id).await {
        Ok(w) => w,
        Err(e) if e.is_not_found() => {
            return Ok(Moved::NotMovable("the workitem no longer exists".into()));
        }
        Err(e) => return Err(step_error("read a workitem")(e)),
    };
    if holds(&current) {
        return Ok(Moved::Confirmed);
    }
    if current.status_category.as_deref() == Some("Closed") {
        return Ok(Moved::NotMovable("closed since the snapshot".into()));
    }
    let (user, queue) = if item.to_queue {
        (None, Some(to))
    } else {
        (Some(to), None)
    };
    client
        .reassign_workitem(&item.id, user, queue)
        .await
        .map_err(step_error("reassign a workitem"))?;
    let after = client
        .get_workitem(&item.id)
        .await
        .map_err(step_error("read a workitem back"))?;
    Ok(if holds(&after) {
        Moved::Confirmed
    } else {
        Moved::Pending
    })
}

/// The message is copied to the successor unless the user's mailbox shows a copy to them
/// already (`copiedTo`); the mailbox is read once per pass before, and once after the copies.
async fn copy_voicemail(
    client: &GenesysClient,
    user: &UserId,
    item: &HandoffItem,
    to: &str,
    mailbox: &mut Option<Vec<genesys_cloud::VoicemailMessage>>,
) -> Result<Moved, StepError> {
    if mailbox.is_none() {
        *mailbox = Some(
            client
                .get_user_voicemail(user)
                .await
                .map_err(step_error("read the user's voicemail"))?,
        );
    }
    let find = |messages: &[genesys_cloud::VoicemailMessage]| {
        messages.iter().find(|m| m.id == item.id).cloned()
    };
    let Some(message) = mailbox.as_deref().and_then(find) else {
        return Ok(Moved::NotMovable("the message no longer exists".into()));
    };
    if message.copied_to_user(to) {
        return Ok(Moved::Confirmed);
    }
    match client.copy_voicemail(&item.id, to).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {
            return Ok(Moved::NotMovable("the message no longer exists".into()));
        }
        Err(e) => return Err(step_error("copy a voicemail message")(e)),
    }
    let after = client
        .get_user_voicemail(user)
        .await
        .map_err(step_error("read the user's voicemail back"))?;
    let confirmed = find(&after).is_some_and(|m| m.copied_to_user(to));
    *mailbox = Some(after);
    Ok(if confirmed {
        Moved::Confirmed
    } else {
        Moved::Pending
    })
}
