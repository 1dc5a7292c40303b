//! Steady-state drift checks for many offboarded users at once (a full pass per finished resource would cost about ten calls each): one
//! `GET /api/v2/users?id=…&state=any` per 100 user ids (`docs/genesys-api.md` §3.2) instead of a
//! full reconcile pass per resource. The controller collects the user ids of its `Ready`
//! resources ([`watched_user`]), calls [`check`] once per drift interval, and runs the full
//! reconcile only for the ids it returns. I/O: Genesys reads ([`check`]); [`drifted`] and
//! [`watched_user`] are pure.
//!
//! The budget: 10,000 offboarded users cost 100 requests per sweep; one sweep an hour is 100
//! requests an hour, 0.56 % of a 300-per-minute client (18,000 an hour).

use std::collections::{HashMap, HashSet};

use super::error::ReadError;
use crate::crd::{GenesysUserOffboarding, condition, reason};
use genesys_cloud::{GenesysClient, User, UserId, UserState};

/// Most user ids in one request (the client batches by this).
pub const IDS_PER_CALL: usize = 100;

/// A user no longer as the offboarding left them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drifted {
    pub id: UserId,
    /// The state Genesys reports now (`active`, `deleted`, or a state it sent without this
    /// client knowing it); `None` when Genesys returned no user with this id at all.
    pub state: Option<UserState>,
}

/// The users among `ids` (the user ids of `Ready` resources) that are no longer inactive, in
/// the order given, each once. Reads each distinct id once, 100 per request with `state=any`
/// (so deleted users come back too, as drifted).
pub async fn check(client: &GenesysClient, ids: &[UserId]) -> Result<Vec<Drifted>, ReadError> {
    let mut seen = HashSet::new();
    let distinct: Vec<UserId> = ids
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect();
    if distinct.is_empty() {
        return Ok(Vec::new());
    }
    let users = client
        .get_users_by_ids(&distinct)
        .await
        .map_err(ReadError::new("read the offboarded users' states"))?;
    Ok(drifted(&distinct, &users))
}

/// The ids whose user is missing from `users`, or present in any state but `inactive` (a user
/// sent without a state counts as drifted: the full pass finds out). Pure.
pub fn drifted(ids: &[UserId], users: &[User]) -> Vec<Drifted> {
    let by_id: HashMap<&str, &User> = users.iter().map(|u| (u.id.as_str(), u)).collect();
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .filter_map(|id| {
            let state = match by_id.get(id.as_str()) {
                None => None,
                Some(user) if user.is_state(&UserState::Inactive) => return None,
                Some(user) => Some(
                    user.state
                        .clone()
                        .unwrap_or_else(|| UserState::Unknown(String::new())),
                ),
            };
            Some(Drifted {
                id: id.clone(),
                state,
            })
        })
        .collect()
}

/// The user a resource keeps offboarded, when a batched check can stand in for its next pass:
/// `Ready=True` with reason `Offboarded` (not Observe mode, not suspended), the spec unchanged
/// since (`observedGeneration`), and a resolved user id. Pure.
pub fn watched_user(resource: &GenesysUserOffboarding) -> Option<UserId> {
    if resource.spec.suspend || resource.spec.is_observe_only() {
        return None;
    }
    let status = resource.status.as_ref()?;
    let ready = status
        .condition(condition::READY)
        .is_some_and(|c| c.status == "True" && c.reason == reason::OFFBOARDED);
    let current = status.observed_generation == resource.metadata.generation;
    let user = status.user.as_ref()?;
    (ready && current).then(|| UserId::new(user.id.as_str()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn user(id: &str, state: Option<&str>) -> User {
        let mut json = serde_json::json!({ "id": id });
        if let Some(state) = state {
            json["state"] = serde_json::json!(state);
        }
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn only_users_no_longer_inactive_are_reported_once_in_the_order_given() {
        let ids: Vec<UserId> = ["a", "b", "c", "d", "e", "b"]
            .into_iter()
            .map(UserId::new)
            .collect();
        let users = vec![
            user("a", Some("inactive")),
            user("b", Some("active")),
            user("c", Some("deleted")),
            user("e", None),
        ];

        let drifted = drifted(&ids, &users);

        assert_eq!(
            drifted,
            vec![
                Drifted {
                    id: UserId::new("b"),
                    state: Some(UserState::Active)
                },
                Drifted {
                    id: UserId::new("c"),
                    state: Some(UserState::Deleted)
                },
                Drifted {
                    id: UserId::new("d"),
                    state: None
                },
                Drifted {
                    id: UserId::new("e"),
                    state: Some(UserState::Unknown(String::new()))
                },
            ]
        );
    }

    #[test]
    fn only_an_offboarded_resource_at_its_current_generation_is_watched() {
        use crate::crd::{GenesysUserOffboardingSpec, GenesysUserOffboardingStatus, ResolvedUser};

        let resource = |ready: (bool, &str), generation: i64, observe: bool| {
            let mut spec: GenesysUserOffboardingSpec = serde_yaml::from_str(
                "user: {email: jane.doe@example.com}\ncredentialsSecretRef: {name: s}\nregion: us_east_1\n",
            )
            .unwrap();
            if observe {
                spec.management_policy = crate::crd::ManagementPolicy::Observe;
            }
            let mut resource = GenesysUserOffboarding::new("jane", spec);
            resource.metadata.generation = Some(generation);
            let mut status = GenesysUserOffboardingStatus {
                observed_generation: Some(1),
                user: Some(ResolvedUser {
                    id: "u1".into(),
                    name: None,
                    email: None,
                    division: None,
                    state_before: None,
                    state_now: None,
                    version: None,
                }),
                ..GenesysUserOffboardingStatus::default()
            };
            let now = crate::reconcile::spec::to_time(chrono::Utc::now());
            status.set_condition(condition::READY, ready.0, ready.1, "", Some(1), &now);
            resource.status = Some(status);
            resource
        };

        let table = vec![
            (
                "offboarded",
                resource((true, reason::OFFBOARDED), 1, false),
                true,
            ),
            (
                "spec changed since",
                resource((true, reason::OFFBOARDED), 2, false),
                false,
            ),
            ("not ready", resource((false, "Pending"), 1, false), false),
            (
                "observe mode",
                resource((true, reason::OFFBOARDED), 1, true),
                false,
            ),
        ];

        for (case, resource, watched) in table {
            assert_eq!(
                watched_user(&resource),
                watched.then(|| UserId::new("u1")),
                "case: {case}"
            );
        }
    }
}
