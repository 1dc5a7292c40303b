//! Read-back of the drain: a write that Genesys answered 2xx is not yet a change. Queue
//! membership changes are "processed asynchronously", a presence change does not promise to
//! take the agent off queue, and an `expand` may come back without the field asked for
//! (`docs/genesys-api.md`). So after the drain's writes, one read of what they touched (the user
//! with [`USER_EXPAND`], which concurrent passes share, and for each queue left the half of the
//! user's queue list that held it, or in a wave one listing of the queue's direct members shared
//! by everyone who left it) says for each step whether it took effect, and what was read.
//! A read that does not show it yet is repeated with backoff within the pass; what still does not
//! show is reported by the caller as awaiting confirmation. I/O: Genesys reads only.

use std::time::Duration;

use super::ReconcileError;
use super::error::{ReadError, StepError};
use super::observe::{self, Reading, USER_EXPAND};
use super::plan::{Named, Policy, Step};
use crate::crd::QueueMembership;
use genesys_cloud::{GenesysClient, RoutingStatusValue, User, UserId};

/// The waits between reads of one pass while a change does not show yet (the first read is
/// immediate): 1.75 s in all, short enough for a pass; a longer lag is read again next pass.
pub const CONFIRM_BACKOFF: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
];

/// What a read showed of one step's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub step: Step,
    /// The read shows the change.
    pub confirmed: bool,
    /// What was read, for the action log (`actions[].readBack`).
    pub read: String,
}

/// What one read-back saw, besides the per-step checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBack {
    pub checks: Vec<Check>,
    /// The routing status read, when the read covered it.
    pub routing_status: Option<RoutingStatusValue>,
}

impl ReadBack {
    pub fn all_confirmed(&self) -> bool {
        self.checks.iter().all(|c| c.confirmed)
    }

    /// The steps whose change does not show yet.
    pub fn unconfirmed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.confirmed)
    }
}

/// Reads back the changes of `steps` (drain steps only; others are ignored). `before` is the
/// reading the steps were planned from (it says which half of the queue list each queue was in).
pub async fn read_back(
    client: &GenesysClient,
    before: &Reading,
    steps: &[Step],
) -> Result<ReadBack, ReadError> {
    let id = &before.user.id;
    let needs_user = steps
        .iter()
        .any(|s| s.is_drain() && !matches!(s, Step::RemoveFromQueue { .. }));
    let removed: Vec<&Named> = steps
        .iter()
        .filter_map(|s| match s {
            Step::RemoveFromQueue { queue } => Some(queue),
            _ => None,
        })
        .collect();
    let (user, still_direct) = tokio::try_join!(
        async {
            if needs_user {
                client
                    .get_user(id, USER_EXPAND)
                    .await
                    .map(Some)
                    .map_err(ReadError::new("read the user back"))
            } else {
                Ok(None)
            }
        },
        still_direct_members(client, id, &before.queues, &removed),
    )?;
    let mut read = UserRead::default();
    if let Some(user) = &user {
        read = UserRead::of(client, user, steps).await?;
    }
    let checks = steps
        .iter()
        .filter(|s| s.is_drain())
        .map(|step| check(step, &read, &still_direct))
        .collect();
    Ok(ReadBack {
        checks,
        routing_status: read.routing_status,
    })
}

/// The parts of the user a read-back looked at (each read with its own call when the expand
/// left it out).
#[derive(Debug, Default)]
struct UserRead {
    routing_status: Option<RoutingStatusValue>,
    presence: Option<String>,
    presence_offline: bool,
    associated_station: Option<String>,
    default_station: Option<String>,
    skills: Vec<String>,
    languages: Vec<String>,
}

impl UserRead {
    async fn of(client: &GenesysClient, user: &User, steps: &[Step]) -> Result<Self, ReadError> {
        let wants = |f: fn(&Step) -> bool| steps.iter().any(f);
        let routing = wants(|s| matches!(s, Step::SetOffQueue | Step::SetPresenceOffline));
        let presence = wants(|s| matches!(s, Step::SetPresenceOffline));
        let stations = wants(|s| {
            matches!(
                s,
                Step::ClearAssociatedStation { .. } | Step::ClearDefaultStation { .. }
            )
        });
        let skills = wants(|s| matches!(s, Step::RemoveSkill { .. }));
        let languages = wants(|s| matches!(s, Step::RemoveLanguage { .. }));
        let (routing_status, (presence, presence_offline), stations, skills, languages) = tokio::try_join!(
            async {
                if routing {
                    observe::read_routing_status(client, user).await
                } else {
                    Ok(None)
                }
            },
            async {
                if presence {
                    observe::read_presence(client, user).await
                } else {
                    Ok((None, false))
                }
            },
            async {
                if stations {
                    observe::read_stations(client, user).await.map(Some)
                } else {
                    Ok(None)
                }
            },
            async {
                if skills {
                    observe::read_skills(client, user).await
                } else {
                    Ok(Vec::new())
                }
            },
            async {
                if languages {
                    observe::read_languages(client, user).await
                } else {
                    Ok(Vec::new())
                }
            },
        )?;
        let station_id = |s: Option<&genesys_cloud::UserStation>| s.and_then(|s| s.id.clone());
        Ok(Self {
            routing_status,
            presence,
            presence_offline,
            associated_station: stations
                .as_ref()
                .and_then(|s| station_id(s.associated_station.as_ref())),
            default_station: stations
                .as_ref()
                .and_then(|s| station_id(s.default_station.as_ref())),
            skills: skills.into_iter().map(|s| s.id).collect(),
            languages: languages.into_iter().map(|l| l.id).collect(),
        })
    }
}

/// The removed queues in which the user is still a direct member, each read back on its own
/// (concurrently): alone, from the half of the user's queue list (`joined` true or false) the
/// queue was in, and the queue's direct members when it has member groups; in a wave, the
/// client answers the read-backs of one queue with one listing of its direct members
/// ([`GenesysClient::is_direct_queue_member`]).
async fn still_direct_members(
    client: &GenesysClient,
    id: &UserId,
    queues: &[QueueMembership],
    removed: &[&Named],
) -> Result<Vec<String>, ReadError> {
    let joined_of = |q: &Named| {
        queues
            .iter()
            .find(|m| m.id == q.id)
            .is_none_or(|m| m.joined)
    };
    let reads = removed.iter().map(|queue| async move {
        client
            .is_direct_queue_member(&queue.id, id, joined_of(queue))
            .await
            .map(|still| still.then(|| queue.id.clone()))
    });
    let still = futures::future::try_join_all(reads)
        .await
        .map_err(ReadError::new("read the user's queues back"))?;
    Ok(still.into_iter().flatten().collect())
}

fn check(step: &Step, read: &UserRead, still_direct: &[String]) -> Check {
    let (confirmed, text) = match step {
        Step::SetOffQueue => match &read.routing_status {
            Some(RoutingStatusValue::OffQueue) => (true, "routing status reads OFF_QUEUE".into()),
            Some(other) => (false, format!("routing status reads {}", other.as_str())),
            None => (false, "no routing status was read".into()),
        },
        Step::SetPresenceOffline => match (&read.presence, read.presence_offline) {
            (_, true) => (true, "presence reads Offline".into()),
            (Some(p), false) => (false, format!("presence reads {p}")),
            (None, false) => (false, "no presence was read".into()),
        },
        Step::RemoveFromQueue { queue } => {
            if still_direct.contains(&queue.id) {
                (
                    false,
                    format!("queue {queue} still lists the user as a direct member"),
                )
            } else {
                (
                    true,
                    format!("queue {queue} no longer lists the user as a direct member"),
                )
            }
        }
        Step::ClearAssociatedStation { station } => match &read.associated_station {
            None => (true, "the user has no associated station".into()),
            Some(id) => (
                false,
                format!("the associated station reads {id} (was {station})"),
            ),
        },
        Step::ClearDefaultStation { station } => match &read.default_station {
            None => (true, "the user has no default station".into()),
            Some(id) => (
                false,
                format!("the default station reads {id} (was {station})"),
            ),
        },
        Step::RemoveSkill { skill } => {
            if read.skills.contains(&skill.id) {
                (false, format!("the user still has skill {skill}"))
            } else {
                (true, format!("skill {skill} is no longer listed"))
            }
        }
        Step::RemoveLanguage { language } => {
            if read.languages.contains(&language.id) {
                (false, format!("the user still has language {language}"))
            } else {
                (true, format!("language {language} is no longer listed"))
            }
        }
        // Only drain steps are read back here; nothing else is confirmed by this read.
        other => (false, format!("{} is not read back here", other.kind())),
    };
    Check {
        step: step.clone(),
        confirmed,
        read: text,
    }
}

impl super::Pass<'_> {
    /// Runs the runnable steps in order. The drain's writes are read back together before the
    /// first step after them (and a presence change that left the user on queue is followed by
    /// the routing-status `PUT`); drain changes no read shows after [`CONFIRM_BACKOFF`] do not
    /// hold back the deactivation and what follows it, but the pass then ends with
    /// [`StepError::Unconfirmed`]: Reconciling (`AwaitingConfirmation`), read again next pass.
    pub(super) async fn run_steps(
        &mut self,
        client: &GenesysClient,
        reading: &Reading,
        policy: &Policy,
        steps: &[Step],
    ) -> Result<(), ReconcileError> {
        let mut written: Vec<Step> = Vec::new();
        let mut unconfirmed: Vec<(Check, u32)> = Vec::new();
        for step in steps {
            if !step.is_drain() && !written.is_empty() {
                let drain = std::mem::take(&mut written);
                unconfirmed.extend(self.confirm_drain(client, reading, policy, drain).await?);
            }
            self.run_step(client, reading, policy, step).await?;
            if step.is_drain() {
                written.push(step.clone());
            }
        }
        if !written.is_empty() {
            unconfirmed.extend(self.confirm_drain(client, reading, policy, written).await?);
        }
        if unconfirmed.is_empty() {
            return Ok(());
        }
        let attempts = unconfirmed.iter().map(|(_, a)| *a).max().unwrap_or(1);
        let what = unconfirmed
            .iter()
            .map(|(c, _)| format!("{} ({})", c.step.kind(), c.read))
            .collect::<Vec<_>>()
            .join("; ");
        Err(StepError::Unconfirmed {
            count: unconfirmed.len(),
            what,
            attempts,
        }
        .into())
    }

    /// Reads back `drain` (with backoff while something does not show), records each step as
    /// confirmed or not, and returns those not confirmed with their attempt counts.
    async fn confirm_drain(
        &mut self,
        client: &GenesysClient,
        reading: &Reading,
        policy: &Policy,
        drain: Vec<Step>,
    ) -> Result<Vec<(Check, u32)>, ReconcileError> {
        let mut back = settle(client, reading, &drain).await?;
        // Nothing promises that presence Offline takes the agent off queue: when the read shows
        // the presence changed but the routing status not, the routing status is set too.
        let presence_done = back
            .checks
            .iter()
            .any(|c| c.step == Step::SetPresenceOffline && c.confirmed);
        if policy.set_off_queue
            && presence_done
            && !drain.contains(&Step::SetOffQueue)
            && back.routing_status != Some(RoutingStatusValue::OffQueue)
        {
            tracing::info!(user = %reading.user.id, "presence Offline left the user on queue; setting the routing status");
            self.run_step(client, reading, policy, &Step::SetOffQueue)
                .await?;
            let off_queue = settle(client, reading, &[Step::SetOffQueue]).await?;
            back.checks.extend(off_queue.checks);
        }
        let mut left = Vec::new();
        for check in back.checks {
            if check.confirmed {
                self.report.confirmed(&check.step, &check.read, policy);
            } else {
                let attempts = self.report.unconfirmed(&check.step, &check.read);
                left.push((check, attempts));
            }
        }
        self.save().await?;
        Ok(left)
    }
}

/// Reads back `steps` until every change shows or [`CONFIRM_BACKOFF`] is spent; each later read
/// covers only what did not show yet.
async fn settle(
    client: &GenesysClient,
    reading: &Reading,
    steps: &[Step],
) -> Result<ReadBack, ReadError> {
    let mut back = read_back(client, reading, steps).await?;
    for wait in CONFIRM_BACKOFF {
        if back.all_confirmed() {
            break;
        }
        tokio::time::sleep(wait).await;
        let pending: Vec<Step> = back.unconfirmed().map(|c| c.step.clone()).collect();
        let again = read_back(client, reading, &pending).await?;
        back.routing_status = again.routing_status.or(back.routing_status);
        for check in again.checks {
            if let Some(old) = back.checks.iter_mut().find(|c| c.step == check.step) {
                *old = check;
            }
        }
    }
    Ok(back)
}
