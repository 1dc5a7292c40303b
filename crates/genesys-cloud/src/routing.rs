//! Taking a user out of routing (`docs/genesys-api.md` §6.1–§6.6): routing status, queue memberships
//! (both joined and unjoined), skills, languages and stations; plus the restore calls.

use std::collections::HashSet;

use reqwest::Method;
use serde::Serialize;

use super::batch::{answer_batch, coalesce};
use super::client::GenesysClient;
use super::error::GenesysError;
use super::http::{Admission, ApiRequest, MAX_PAGES, PAGE_SIZE};
use super::models::{
    Listing, MemberBy, QueueMember, RoutingStatus, RoutingStatusValue, UserId, UserQueue,
    UserRoutingLanguage, UserRoutingSkill, UserRoutingSkillPost, UserStations,
};

/// `WritableEntity`.
#[derive(Debug, Serialize)]
struct WritableEntity<'a> {
    id: &'a str,
}

#[derive(Debug, Serialize)]
struct RoutingStatusBody<'a> {
    status: &'a RoutingStatusValue,
}

/// One entry of `PATCH /users/{id}/queues` (a `UserQueue` with only `id` and `joined`).
#[derive(Debug, Serialize)]
struct JoinedEntry<'a> {
    id: &'a str,
    joined: bool,
}

/// Listing of `PUT .../routingskills/bulk`.
#[derive(Debug, serde::Deserialize)]
struct SkillListing {
    #[serde(default)]
    entities: Vec<UserRoutingSkill>,
}

impl GenesysClient {
    /// `GET /api/v2/users/{id}/routingstatus`.
    pub async fn get_routing_status(&self, id: &UserId) -> Result<RoutingStatus, GenesysError> {
        self.send(ApiRequest::get(
            "get_user_routingstatus",
            &["users", id.as_str(), "routingstatus"],
        ))
        .await?
        .json()
    }

    /// `PUT /api/v2/users/{id}/routingstatus` with `{"status": ..}`.
    pub async fn set_routing_status(
        &self,
        id: &UserId,
        status: RoutingStatusValue,
    ) -> Result<RoutingStatus, GenesysError> {
        let request = ApiRequest::new(
            "put_user_routingstatus",
            Method::PUT,
            &["users", id.as_str(), "routingstatus"],
        )
        .json(&RoutingStatusBody { status: &status })?;
        self.send(request).await?.json()
    }

    /// Every queue the user is a member of: `joined=true` and `joined=false` (a plain GET only
    /// returns joined queues), every page, each queue once with `joined` filled in.
    pub async fn get_user_queues(&self, id: &UserId) -> Result<Vec<UserQueue>, GenesysError> {
        let mut seen = HashSet::new();
        let mut queues = Vec::new();
        for joined in [true, false] {
            for queue in self.get_user_queues_where(id, joined).await? {
                if seen.insert(queue.id.clone()) {
                    queues.push(queue);
                }
            }
        }
        Ok(queues)
    }

    /// One half of [`get_user_queues`](Self::get_user_queues): the queues the user is a member
    /// of with `joined` as given (`GET /users/{id}/queues?joined=..`, every page), `joined`
    /// filled in. A caller can read both halves concurrently and merge them, joined first.
    pub async fn get_user_queues_where(
        &self,
        id: &UserId,
        joined: bool,
    ) -> Result<Vec<UserQueue>, GenesysError> {
        let request = ApiRequest::get("get_user_queues", &["users", id.as_str(), "queues"])
            .query("joined", joined);
        let mut queues = self.get_all_pages::<UserQueue>(request).await?;
        for queue in &mut queues {
            queue.joined.get_or_insert(joined);
        }
        Ok(queues)
    }

    /// Joins or un-joins the user in several queues at once: `PATCH /api/v2/users/{id}/queues`
    /// with `[{"id": queue, "joined": bool}, ..]` (§6.3). The user stays a member either way.
    /// Genesys processes it asynchronously, so the returned queues may not show the final state
    /// yet (re-read with [`get_user_queues`](Self::get_user_queues)); pairs naming a queue the
    /// user is not a member of are silently ignored. An empty list makes no call.
    pub async fn patch_user_queues(
        &self,
        id: &UserId,
        queues: &[(&str, bool)],
    ) -> Result<Vec<UserQueue>, GenesysError> {
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        let body: Vec<JoinedEntry> = queues
            .iter()
            .map(|&(id, joined)| JoinedEntry { id, joined })
            .collect();
        let request = ApiRequest::new(
            "patch_user_queues",
            Method::PATCH,
            &["users", id.as_str(), "queues"],
        )
        .json(&body)?;
        let listing: Listing<UserQueue> = self.send(request).await?.json()?;
        Ok(listing.entities)
    }

    /// `GET /api/v2/routing/queues/{queueId}/members`, every page, optionally only direct
    /// (`user`) or group members.
    pub async fn get_queue_members(
        &self,
        queue_id: &str,
        member_by: Option<MemberBy>,
    ) -> Result<Vec<QueueMember>, GenesysError> {
        let mut request = ApiRequest::get(
            "get_routing_queue_members",
            &["routing", "queues", queue_id, "members"],
        );
        if let Some(member_by) = member_by {
            request = request.query("memberBy", member_by);
        }
        self.get_all_pages(request).await
    }

    /// Removes direct memberships: `POST /routing/queues/{q}/members?delete=true` with at most
    /// 100 `{"id": ..}` per request. Group memberships cannot be removed this way.
    pub async fn remove_queue_members(
        &self,
        queue_id: &str,
        users: &[UserId],
    ) -> Result<(), GenesysError> {
        self.post_queue_members(queue_id, users, true, Admission::Wait)
            .await
    }

    /// Removes `user`'s direct membership of one queue. Concurrent removals from the same queue
    /// (a team leaving together) are coalesced into one
    /// `POST /routing/queues/{q}/members?delete=true` naming them all (at most `max_batch`);
    /// if that request is refused, each user is removed on their own.
    pub async fn remove_queue_member(
        &self,
        queue_id: &str,
        user: &UserId,
    ) -> Result<(), GenesysError> {
        coalesce(
            self,
            |client| &client.inner.queue_removals,
            "post_routing_queue_members",
            queue_id.to_owned(),
            user.clone(),
            |client, queue, users| async move {
                let combined = async {
                    client
                        .post_queue_members(&queue, &users, true, Admission::Admitted)
                        .await?;
                    Ok(Some(users.iter().map(|_| Ok(())).collect()))
                };
                answer_batch(&users, "queue removal", combined, |user, admission| {
                    client.post_queue_members(&queue, std::slice::from_ref(user), true, admission)
                })
                .await
            },
        )
        .await
    }

    /// Whether `user` is still a direct member of `queue_id`: the read-back of a removal.
    /// `joined` is the half of the user's queue list (`joined` true or false) the queue was in.
    ///
    /// Alone, the user's queue list of that half is read, and when it still lists the queue and
    /// the queue has member groups, the queue's direct members tell. Concurrent read-backs of
    /// one queue (a team leaving together) are coalesced into one listing of the queue's direct
    /// members (`memberBy=user`) that answers them all, when that listing takes no more pages
    /// than there are callers; a longer one is abandoned after its first page, and each user is
    /// read alone.
    pub async fn is_direct_queue_member(
        &self,
        queue_id: &str,
        user: &UserId,
        joined: bool,
    ) -> Result<bool, GenesysError> {
        coalesce(
            self,
            |client| &client.inner.member_checks,
            "get_routing_queue_members",
            queue_id.to_owned(),
            (user.clone(), joined),
            |client, queue, keys| async move {
                let combined = async {
                    let members = client
                        .direct_members_within(&queue, keys.len(), Admission::Admitted)
                        .await?;
                    Ok(members.map(|members| {
                        keys.iter()
                            .map(|(user, _)| Ok(members.contains(user.as_str())))
                            .collect()
                    }))
                };
                answer_batch(
                    &keys,
                    "queue member read-back",
                    combined,
                    |(user, joined), admission| {
                        client.is_direct_member_alone(&queue, user, *joined, admission)
                    },
                )
                .await
            },
        )
        .await
    }

    /// The ids of `queue_id`'s direct members, or `None` when the listing has more than
    /// `max_pages` pages (only the first is read then).
    async fn direct_members_within(
        &self,
        queue_id: &str,
        max_pages: usize,
        first: Admission,
    ) -> Result<Option<HashSet<String>>, GenesysError> {
        let mut members = HashSet::new();
        for page in 1..=MAX_PAGES {
            let request = ApiRequest::get(
                "get_routing_queue_members",
                &["routing", "queues", queue_id, "members"],
            )
            .query("memberBy", MemberBy::User)
            .query("pageSize", PAGE_SIZE)
            .query("pageNumber", page)
            .admission(first.for_page(page));
            let listing: Listing<QueueMember> = self.send(request).await?.json()?;
            let pages = listing.page_count.unwrap_or(1);
            if usize::try_from(pages).unwrap_or(usize::MAX) > max_pages {
                return Ok(None);
            }
            let count = listing.entities.len();
            let before = members.len();
            members.extend(listing.entities.into_iter().map(|m| m.id));
            if count > 0 && members.len() == before {
                // The server ignores pageNumber: the listing cannot be trusted as complete.
                return Ok(None);
            }
            if count == 0 || i64::from(page) >= pages {
                return Ok(Some(members));
            }
        }
        Ok(None)
    }

    /// One user's read-back of one queue: the user's queue list of half `joined`, then, when
    /// the queue is still listed and has member groups, its direct members.
    async fn is_direct_member_alone(
        &self,
        queue_id: &str,
        user: &UserId,
        joined: bool,
        admission: Admission,
    ) -> Result<bool, GenesysError> {
        let request = ApiRequest::get("get_user_queues", &["users", user.as_str(), "queues"])
            .query("joined", joined)
            .admission(admission);
        let queues = self.get_all_pages::<UserQueue>(request).await?;
        let Some(queue) = queues.iter().find(|q| q.id == queue_id) else {
            return Ok(false);
        };
        if queue.member_groups.as_ref().is_none_or(Vec::is_empty) {
            return Ok(true);
        }
        Ok(self
            .get_queue_members(queue_id, Some(MemberBy::User))
            .await?
            .iter()
            .any(|m| m.id == user.as_str()))
    }

    /// Adds direct memberships (restore): the same POST without `delete`.
    pub async fn add_queue_members(
        &self,
        queue_id: &str,
        users: &[UserId],
    ) -> Result<(), GenesysError> {
        self.post_queue_members(queue_id, users, false, Admission::Wait)
            .await
    }

    /// `POST /routing/queues/{q}/members[?delete=true]`, 100 users per request; the first
    /// request is admitted as `first` says, the others wait for their own slot.
    async fn post_queue_members(
        &self,
        queue_id: &str,
        users: &[UserId],
        delete: bool,
        first: Admission,
    ) -> Result<(), GenesysError> {
        for (page, chunk) in (1..).zip(users.chunks(PAGE_SIZE as usize)) {
            let body: Vec<WritableEntity> = chunk
                .iter()
                .map(|u| WritableEntity { id: u.as_str() })
                .collect();
            let mut request = ApiRequest::new(
                "post_routing_queue_members",
                Method::POST,
                &["routing", "queues", queue_id, "members"],
            );
            if delete {
                request = request.query("delete", true);
            }
            self.send(request.json(&body)?.admission(first.for_page(page)))
                .await?;
        }
        Ok(())
    }

    /// `GET /api/v2/users/{id}/routingskills`, every page.
    pub async fn get_user_skills(
        &self,
        id: &UserId,
    ) -> Result<Vec<UserRoutingSkill>, GenesysError> {
        self.get_all_pages(ApiRequest::get(
            "get_user_routingskills",
            &["users", id.as_str(), "routingskills"],
        ))
        .await
    }

    /// `DELETE /api/v2/users/{id}/routingskills/{skillId}`.
    pub async fn remove_user_skill(&self, id: &UserId, skill_id: &str) -> Result<(), GenesysError> {
        self.send(ApiRequest::new(
            "delete_user_routingskill",
            Method::DELETE,
            &["users", id.as_str(), "routingskills", skill_id],
        ))
        .await
        .map(drop)
    }

    /// `PUT /api/v2/users/{id}/routingskills/bulk`: replaces the user's skills (restore).
    pub async fn set_user_skills(
        &self,
        id: &UserId,
        skills: &[UserRoutingSkillPost],
    ) -> Result<Vec<UserRoutingSkill>, GenesysError> {
        let request = ApiRequest::new(
            "put_user_routingskills_bulk",
            Method::PUT,
            &["users", id.as_str(), "routingskills", "bulk"],
        )
        .json(skills)?;
        let listing: SkillListing = self.send(request).await?.json()?;
        Ok(listing.entities)
    }

    /// `GET /api/v2/users/{id}/routinglanguages`, every page.
    pub async fn get_user_languages(
        &self,
        id: &UserId,
    ) -> Result<Vec<UserRoutingLanguage>, GenesysError> {
        self.get_all_pages(ApiRequest::get(
            "get_user_routinglanguages",
            &["users", id.as_str(), "routinglanguages"],
        ))
        .await
    }

    /// `DELETE /api/v2/users/{id}/routinglanguages/{languageId}`.
    pub async fn remove_user_language(
        &self,
        id: &UserId,
        language_id: &str,
    ) -> Result<(), GenesysError> {
        self.send(ApiRequest::new(
            "delete_user_routinglanguage",
            Method::DELETE,
            &["users", id.as_str(), "routinglanguages", language_id],
        ))
        .await
        .map(drop)
    }

    /// `GET /api/v2/users/{id}/station`.
    pub async fn get_user_station(&self, id: &UserId) -> Result<UserStations, GenesysError> {
        self.send(ApiRequest::get(
            "get_user_station",
            &["users", id.as_str(), "station"],
        ))
        .await?
        .json()
    }

    /// `DELETE /api/v2/users/{id}/station/associatedstation` (202, no body).
    pub async fn clear_associated_station(&self, id: &UserId) -> Result<(), GenesysError> {
        self.send(ApiRequest::new(
            "delete_user_station_associatedstation",
            Method::DELETE,
            &["users", id.as_str(), "station", "associatedstation"],
        ))
        .await
        .map(drop)
    }

    /// `DELETE /api/v2/users/{id}/station/defaultstation` (202, no body).
    pub async fn clear_default_station(&self, id: &UserId) -> Result<(), GenesysError> {
        self.send(ApiRequest::new(
            "delete_user_station_defaultstation",
            Method::DELETE,
            &["users", id.as_str(), "station", "defaultstation"],
        ))
        .await
        .map(drop)
    }
}
