//! One resource per user: the [`OwnerRegistry`] trait the pass consults once the user is resolved
//! and before its snapshot or first write, [`MemoryOwners`] (the one-shot mode and the tests), and
//! the rule every registry follows ([`decide`]). The Kubernetes controller implements the trait
//! with its reflector store plus the claims of passes in flight
//! (`controller::claims::ClaimRegistry`).
//!
//! The rule: a user (its id, in one organization: [`UserKey`]) is owned by the first resource to
//! claim it. A claim is persisted once the owner's status names the user (`status.user`, which a
//! resource stalled as `DuplicateOffboarding` never holds), so ownership survives restarts; until
//! then a registry remembers the claims of passes in flight. Two persisted claims on one user
//! (written by an operator without this rule) are settled by age: the oldest `creationTimestamp`
//! wins, then the `namespace/name`. Every other resource stalls as `DuplicateOffboarding`, writes
//! nothing, and restores nothing when deleted. I/O: none.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::{GenesysUserOffboarding, condition, reason};

/// A user in one organization: the organization's API (see
/// [`crate::crd::ResolvedEndpoint::api_key`]) and the user's id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserKey {
    pub api: String,
    pub id: String,
}

impl std::fmt::Display for UserKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "user {} at {}", self.id, self.api)
    }
}

/// Whether a resource owns the user it resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    Owner,
    /// Another resource owns the user: its `namespace/name`.
    Duplicate {
        owner: String,
    },
}

/// A registry could not tell who owns the user yet (a cache not synced); worth retrying.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot tell which resource owns the user yet: {0}")]
pub struct OwnershipError(pub String);

/// Decides which resource owns a user. Implementations follow [`decide`].
#[async_trait]
pub trait OwnerRegistry: Send + Sync {
    /// Claims `user` for `resource` (as read for this pass, with the status last persisted):
    /// [`Ownership::Owner`] when it owns the user, from now on if nobody did, else the owner.
    async fn claim(
        &self,
        resource: &GenesysUserOffboarding,
        user: &UserKey,
    ) -> Result<Ownership, OwnershipError>;
}

/// A resource as the rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimant {
    /// The uid, or `namespace/name` for a resource that has none (read from a file).
    pub id: String,
    /// `namespace/name`.
    pub name: String,
    pub created: Option<Time>,
}

impl Claimant {
    pub fn of(resource: &GenesysUserOffboarding) -> Self {
        let name = format!(
            "{}/{}",
            resource.metadata.namespace.as_deref().unwrap_or_default(),
            resource.metadata.name.as_deref().unwrap_or_default()
        );
        Self {
            id: resource
                .metadata
                .uid
                .clone()
                .unwrap_or_else(|| name.clone()),
            name,
            created: resource.metadata.creation_timestamp.clone(),
        }
    }

    /// Oldest first: by `creationTimestamp` (a resource without one, from a file, counts as
    /// newest), then by `namespace/name`.
    fn age_order(&self) -> (bool, Option<&Time>, &str) {
        (self.created.is_none(), self.created.as_ref(), &self.name)
    }
}

/// The user `resource`'s status claims, if any: `status.user` on a resource that is not stalled
/// as a duplicate, in the organization `status.endpoint` records (else the spec's). Pure.
pub fn persisted_claim(resource: &GenesysUserOffboarding) -> Option<UserKey> {
    let status = resource.status.as_ref()?;
    let user = status.user.as_ref()?;
    let duplicate = status
        .condition(condition::STALLED)
        .is_some_and(|c| c.status == "True" && c.reason == reason::DUPLICATE_OFFBOARDING);
    if duplicate {
        return None;
    }
    let endpoint = status
        .endpoint
        .clone()
        .unwrap_or_else(|| resource.spec.endpoint());
    Some(UserKey {
        api: endpoint.api_key(),
        id: user.id.clone(),
    })
}

/// The rule. `me` claims a user; `mine_persisted`: my status already claims it; `persisted`:
/// the other resources whose status claims it; `in_flight`: the claim a pass made earlier in
/// this process and has not persisted yet (maybe mine). Pure.
pub fn decide(
    me: &Claimant,
    mine_persisted: bool,
    persisted: &[Claimant],
    in_flight: Option<&Claimant>,
) -> Ownership {
    let oldest = persisted
        .iter()
        .min_by(|a, b| a.age_order().cmp(&b.age_order()));
    if mine_persisted {
        return match oldest {
            Some(other) if other.age_order() < me.age_order() => Ownership::Duplicate {
                owner: other.name.clone(),
            },
            _ => Ownership::Owner,
        };
    }
    if let Some(other) = oldest {
        return Ownership::Duplicate {
            owner: other.name.clone(),
        };
    }
    match in_flight {
        Some(other) if other.id != me.id => Ownership::Duplicate {
            owner: other.name.clone(),
        },
        _ => Ownership::Owner,
    }
}

/// The registry of the one-shot mode and the tests: the claims made through it, in memory, for
/// the resources of one run. A resource whose status (read from the file) claims the user counts
/// as a persisted claim.
#[derive(Debug, Default)]
pub struct MemoryOwners {
    claims: Mutex<HashMap<UserKey, (Claimant, bool)>>,
}

impl MemoryOwners {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl OwnerRegistry for MemoryOwners {
    async fn claim(
        &self,
        resource: &GenesysUserOffboarding,
        user: &UserKey,
    ) -> Result<Ownership, OwnershipError> {
        let me = Claimant::of(resource);
        let mine_persisted = persisted_claim(resource).as_ref() == Some(user);
        let mut claims = match self.claims.lock() {
            Ok(claims) => claims,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (persisted, in_flight): (Vec<Claimant>, Option<&Claimant>) = match claims.get(user) {
            Some((other, _)) if other.id == me.id => (Vec::new(), None),
            Some((other, true)) => (vec![other.clone()], None),
            Some((other, false)) => (Vec::new(), Some(other)),
            None => (Vec::new(), None),
        };
        let ownership = decide(&me, mine_persisted, &persisted, in_flight);
        if ownership == Ownership::Owner {
            claims.insert(user.clone(), (me, mine_persisted));
        }
        Ok(ownership)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn claimant(name: &str, created: Option<i64>) -> Claimant {
        Claimant {
            id: format!("uid-{name}"),
            name: format!("hr/{name}"),
            created: created.map(|s| Time(Timestamp::from_second(s).unwrap())),
        }
    }

    fn duplicate_of(name: &str) -> Ownership {
        Ownership::Duplicate {
            owner: format!("hr/{name}"),
        }
    }

    #[test]
    fn ownership_table() {
        let old = || claimant("old", Some(100));
        let young = || claimant("young", Some(200));
        let owner = Ownership::Owner;
        // (case, me, my status claims the user, other persisted claims, claim in flight, decision)
        let table = [
            (
                "nobody claims: mine",
                young(),
                false,
                vec![],
                None,
                owner.clone(),
            ),
            (
                "my own claim in flight",
                young(),
                false,
                vec![],
                Some(young()),
                owner.clone(),
            ),
            (
                "another pass claimed first",
                young(),
                false,
                vec![],
                Some(old()),
                duplicate_of("old"),
            ),
            (
                "the first to claim wins, whatever its age",
                old(),
                false,
                vec![],
                Some(young()),
                duplicate_of("young"),
            ),
            (
                "another persisted claim",
                old(),
                false,
                vec![young()],
                None,
                duplicate_of("young"),
            ),
            (
                "my persisted claim, nobody else",
                young(),
                true,
                vec![],
                None,
                owner.clone(),
            ),
            (
                "my persisted claim outranks one in flight",
                young(),
                true,
                vec![],
                Some(old()),
                owner.clone(),
            ),
            (
                "two persisted claims: the older wins",
                old(),
                true,
                vec![young()],
                None,
                owner.clone(),
            ),
            (
                "two persisted claims: the younger loses",
                young(),
                true,
                vec![old()],
                None,
                duplicate_of("old"),
            ),
            (
                "no creationTimestamp counts as newest",
                claimant("file", None),
                true,
                vec![young()],
                None,
                duplicate_of("young"),
            ),
            (
                "same age: by name",
                claimant("b", Some(100)),
                true,
                vec![claimant("a", Some(100))],
                None,
                duplicate_of("a"),
            ),
        ];
        for (case, me, mine, persisted, in_flight, expected) in table {
            assert_eq!(
                decide(&me, mine, &persisted, in_flight.as_ref()),
                expected,
                "case: {case}"
            );
        }
    }

    fn resource(name: &str) -> GenesysUserOffboarding {
        let spec = serde_yaml::from_str(
            "user: {email: a@b.io}\ncredentialsSecretRef: {name: c}\nregion: us_east_1\n",
        )
        .unwrap();
        let mut resource = GenesysUserOffboarding::new(name, spec);
        resource.metadata.namespace = Some("hr".into());
        resource
    }

    #[tokio::test]
    async fn in_memory_the_first_resource_owns_the_user_and_the_second_is_told_its_name() {
        let owners = MemoryOwners::new();
        let jane = UserKey {
            api: "https://api.mypurecloud.com/".into(),
            id: "u-1".into(),
        };
        let other = UserKey {
            id: "u-2".into(),
            ..jane.clone()
        };

        assert_eq!(
            owners.claim(&resource("first"), &jane).await.unwrap(),
            Ownership::Owner
        );
        assert_eq!(
            owners.claim(&resource("second"), &jane).await.unwrap(),
            duplicate_of("first")
        );
        assert_eq!(
            owners.claim(&resource("first"), &jane).await.unwrap(),
            Ownership::Owner
        );
        assert_eq!(
            owners.claim(&resource("second"), &other).await.unwrap(),
            Ownership::Owner
        );
    }

    #[test]
    fn a_duplicates_status_claims_nothing_and_an_owners_claims_its_user_in_its_organization() {
        let mut owner = resource("owner");
        let mut status = crate::crd::GenesysUserOffboardingStatus {
            user: Some(crate::crd::ResolvedUser {
                id: "u-1".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        owner.status = Some(status.clone());
        assert_eq!(
            persisted_claim(&owner),
            Some(UserKey {
                api: "https://api.mypurecloud.com/".into(),
                id: "u-1".into()
            })
        );

        let now = Time(Timestamp::from_second(1).unwrap());
        status.set_condition(
            condition::STALLED,
            true,
            reason::DUPLICATE_OFFBOARDING,
            "hr/x owns the user",
            None,
            &now,
        );
        owner.status = Some(status);
        assert_eq!(persisted_claim(&owner), None);
    }
}
