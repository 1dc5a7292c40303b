//! Routing (docs/genesys-api.md §6.1–§6.6): routing status, a user's queues, queue members,
//! skills, languages and stations.
//!
//! - `GET /users/{id}/queues` defaults to `joined=true`; `joined=false` lists the others.
//!   Group memberships are listed per `behavior.userQueuesIncludeGroupMemberships`.
//! - `POST /routing/queues/{q}/members` adds; with `?delete=true` it removes. At most 100 ids.
//!   Removal only drops direct membership: a membership through a group, team or skill group
//!   stays (unless `behavior.groupMembersSurviveDirectRemoval` is off).
//! - The bulk `joined` changes (`PATCH`) take effect after `behavior.queueJoinPatchDelayMs`; their answer
//!   shows the memberships as they were until then.
//! - `GET /users/{id}/routingstatus` of an unknown user is a 404, or `OFF_QUEUE` with
//!   `behavior.unknownUserRoutingStatusOffQueue`.
//! - Body-less successes answer `behavior.noBodyStatus`; station clears answer 202 (§6.6).

use serde::Deserialize;
use serde_json::{Value, json};

use super::call::{Call, Expand, ListingShape, Page, Reply, descending, listing};
use super::errors::ApiError;
use super::fixture::QueueFixture;
use super::render;
use super::state::{Effect, Membership, Org, Proficiency, ROUTING_STATUSES, User, millis};

/// The most ids a bulk member call takes (§6.4).
pub const MAX_BULK_MEMBERS: usize = 100;

fn no_body(org: &Org) -> Reply {
    Reply::empty(org.behavior.no_body_status)
}

fn queue_or_404<'o>(org: &'o Org, id: &str) -> Result<&'o QueueFixture, ApiError> {
    org.queue(id)
        .ok_or_else(|| ApiError::not_found("Queue", id))
}

/// `GET /api/v2/users/{userId}/routingstatus`.
pub fn get_user_routingstatus(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId");
    match org.live_user(id) {
        Ok(user) => Ok(Reply::ok(render::routing_status(user))),
        Err(_) if org.behavior.unknown_user_routing_status_off_queue => {
            Ok(Reply::ok(json!({"userId": id, "status": "OFF_QUEUE"})))
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Deserialize)]
struct RoutingStatusBody {
    status: Option<String>,
}

/// `PUT /api/v2/users/{userId}/routingstatus` with `{"status": ...}`.
pub fn put_user_routingstatus(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId");
    org.live_user(id)?;
    let body: RoutingStatusBody = call.json()?;
    let status = body.status.ok_or_else(|| {
        ApiError::bad_request("status is required").detail("required", Some("status"))
    })?;
    if !ROUTING_STATUSES.contains(&status.as_str()) {
        return Err(ApiError::invalid_value(
            &status,
            "RoutingStatus",
            ROUTING_STATUSES,
        ));
    }
    let user = org.live_user_mut(id)?;
    user.set_routing_status(&status, call.now);
    Ok(Reply::ok(render::routing_status(user)))
}

/// The user's memberships as the queues endpoints list them.
fn listed_memberships<'u>(org: &Org, user: &'u User) -> impl Iterator<Item = &'u Membership> {
    let groups = org.behavior.user_queues_include_group_memberships;
    user.queues.iter().filter(move |m| m.direct || groups)
}

/// `GET /api/v2/users/{userId}/queues`: `joined` defaults to `true`.
pub fn get_user_queues(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = &call.query;
    let user = org.live_user(call.param("userId"))?;
    let joined = q.bool("joined", true)?;
    let divisions = q.list("divisionId");
    let page = Page::from_query_within(
        q,
        25,
        org.behavior.max_page_size as usize,
        org.behavior.page_size_over_max,
    )?;
    let mut rows: Vec<(&QueueFixture, &Membership)> = listed_memberships(org, user)
        .filter(|m| m.joined == joined)
        .filter_map(|m| org.queue(&m.queue_id).map(|queue| (queue, m)))
        .filter(|(queue, _)| divisions.is_empty() || in_divisions(org, queue, &divisions))
        .collect();
    rows.sort_by_key(|(named, _)| named.name.to_lowercase());
    let entities = page
        .slice(&rows)
        .into_iter()
        .map(|(queue, m)| render::user_queue(org, queue, m))
        .collect();
    Ok(Reply::ok(listing(
        call.path,
        q,
        page,
        rows.len(),
        entities,
        ListingShape::Full,
    )))
}

fn in_divisions(org: &Org, queue: &QueueFixture, divisions: &[String]) -> bool {
    let id = queue.division_id.as_deref().unwrap_or(&org.home_division);
    divisions.iter().any(|d| d == id)
}

#[derive(Debug, Deserialize)]
struct JoinedBody {
    id: Option<String>,
    joined: Option<bool>,
}

/// `PATCH /api/v2/users/{userId}/queues`: join or unjoin several queues. Pairs where the user
/// is not a member are ignored (§6.3).
pub fn patch_user_queues(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId").to_owned();
    org.live_user(&id)?;
    let body: Vec<JoinedBody> = call.json()?;
    let divisions = call.query.list("divisionId");
    let mut changed = Vec::new();
    for item in body {
        let (Some(queue_id), Some(joined)) = (item.id, item.joined) else {
            return Err(ApiError::bad_request("Each entry needs an id and joined"));
        };
        let Some(queue) = org.queue(&queue_id) else {
            continue;
        };
        if !divisions.is_empty() && !in_divisions(org, queue, &divisions) {
            continue;
        }
        if org.live_user(&id)?.membership(&queue_id).is_some() {
            changed.push((queue_id, joined));
        }
    }
    set_joined_later(org, &id, &changed, call);
    let changed: Vec<String> = changed.into_iter().map(|(q, _)| q).collect();
    let user = org.live_user(&id)?;
    let entities: Vec<Value> = changed
        .iter()
        .filter_map(|q| Some(render::user_queue(org, org.queue(q)?, user.membership(q)?)))
        .collect();
    let total = entities.len();
    let page = Page::new(i64::try_from(total.max(1)).unwrap_or(1), 1, usize::MAX)?;
    Ok(Reply::ok(listing(
        call.path,
        &call.query,
        page,
        total,
        entities,
        ListingShape::Full,
    )))
}

/// Sets `joined` on memberships of a user, after `behavior.queueJoinPatchDelayMs` (at once
/// when it is 0), as the asynchronous bulk `PATCH` calls do.
fn set_joined_later(org: &mut Org, user_id: &str, changes: &[(String, bool)], call: &Call<'_>) {
    let due = call.now + millis(org.behavior.queue_join_patch_delay_ms);
    for (queue_id, joined) in changes {
        org.schedule(
            due,
            Effect::Join {
                user_id: user_id.to_owned(),
                queue_id: queue_id.clone(),
                joined: *joined,
            },
            call.now,
        );
    }
}

/// `PATCH /api/v2/users/{userId}/queues/{queueId}` with `{"joined": bool}`.
pub fn patch_user_queue(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId").to_owned();
    let queue_id = call.param("queueId").to_owned();
    org.live_user(&id)?;
    queue_or_404(org, &queue_id)?;
    let body: JoinedBody = call.json()?;
    let joined = body.joined.ok_or_else(|| {
        ApiError::bad_request("joined is required").detail("required", Some("joined"))
    })?;
    let user = org.live_user_mut(&id)?;
    let m = user
        .queues
        .iter_mut()
        .find(|m| m.queue_id == queue_id)
        .ok_or_else(|| ApiError::not_found("Queue membership", &queue_id))?;
    m.joined = joined;
    let user = org.live_user(&id)?;
    let (queue, m) = (queue_or_404(org, &queue_id)?, user.membership(&queue_id));
    let m = m.ok_or_else(|| ApiError::not_found("Queue membership", &queue_id))?;
    Ok(Reply::ok(render::user_queue(org, queue, m)))
}

/// `GET /api/v2/routing/queues/{queueId}/members`: `memberBy`, `joined`, `name`,
/// `routingStatus`, `presence`, `skills`, `languages` filters; at most 100 per page.
pub fn get_routing_queue_members(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = &call.query;
    let queue = queue_or_404(org, call.param("queueId"))?;
    let page = Page::from_query_within(q, 25, 100, org.behavior.page_size_over_max)?;
    let desc = q.one_of("sortOrder", &["asc", "desc"], "asc")? == "desc";
    let expand = Expand::from_query(q)?;
    let member_by = q.get("memberBy").map(str::to_owned);
    if let Some(m) = &member_by
        && m != "user"
        && m != "group"
    {
        return Err(ApiError::invalid_value(m, "memberBy", &["user", "group"]));
    }
    let joined = q
        .get("joined")
        .map(|_| q.bool("joined", true))
        .transpose()?;
    let name = q.get("name").map(str::to_lowercase);
    let statuses = q.list("routingStatus");
    let presences: Vec<String> = q
        .list("presence")
        .iter()
        .map(|p| p.to_lowercase())
        .collect();
    let skills = q.list("skills");
    let languages = q.list("languages");
    let profile_skills = q.list("profileSkills");
    let mut rows: Vec<(&User, &Membership)> = org
        .users
        .iter()
        .filter(|u| !u.is_deleted())
        .filter_map(|u| u.membership(&queue.id).map(|m| (u, m)))
        .filter(|(_, m)| member_by.as_deref().is_none_or(|b| m.member_by() == b))
        .filter(|(_, m)| joined.is_none_or(|j| m.joined == j))
        .filter(|(u, _)| {
            name.as_deref()
                .is_none_or(|n| u.name.to_lowercase().contains(n))
        })
        .filter(|(u, _)| statuses.is_empty() || statuses.contains(&u.routing_status.status))
        .filter(|(u, _)| {
            presences.is_empty()
                || u.presence
                    .as_ref()
                    .and_then(|p| org.presence_definition(&p.definition_id))
                    .is_some_and(|d| presences.contains(&d.system_presence.to_lowercase()))
        })
        .filter(|(u, _)| skills.is_empty() || has_any(&org.skills, &u.skills, &skills))
        .filter(|(u, _)| languages.is_empty() || has_any(&org.languages, &u.languages, &languages))
        .filter(|(u, _)| {
            profile_skills.is_empty() || profile_skills.iter().any(|p| u.profile_skills.contains(p))
        })
        .collect();
    rows.sort_by_key(|(named, _)| named.name.to_lowercase());
    if desc {
        rows.reverse();
    }
    let entities = page
        .slice(&rows)
        .into_iter()
        .map(|(u, m)| render::queue_member(org, u, m, &expand))
        .collect();
    Ok(Reply::ok(listing(
        call.path,
        q,
        page,
        rows.len(),
        entities,
        ListingShape::NoTotals,
    )))
}

/// Whether the user holds one of the named (by id or name) skills or languages.
fn has_any(
    catalogue: &[super::fixture::NamedEntity],
    held: &[Proficiency],
    wanted: &[String],
) -> bool {
    held.iter().any(|h| {
        wanted.iter().any(|w| {
            *w == h.id
                || catalogue
                    .iter()
                    .any(|e| e.id == h.id && e.name.eq_ignore_ascii_case(w))
        })
    })
}

#[derive(Debug, Deserialize)]
struct Entity {
    id: Option<String>,
}

fn bulk_ids(call: &Call<'_>) -> Result<Vec<String>, ApiError> {
    let body: Vec<Entity> = call.json()?;
    if body.is_empty() || body.len() > MAX_BULK_MEMBERS {
        return Err(ApiError::bad_request(
            "The request must contain a valid number of queue members (1 to {max}); it contained {count}",
        )
        .param("max", MAX_BULK_MEMBERS.to_string())
        .param("count", body.len().to_string()));
    }
    body.into_iter()
        .map(|e| {
            e.id.ok_or_else(|| ApiError::new(400, "invalid.id", "Every member needs an id"))
        })
        .collect()
}

/// `POST /api/v2/routing/queues/{queueId}/members`: adds members, or with `delete=true`
/// removes their direct membership (≤ 100 ids).
pub fn post_routing_queue_members(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let queue_id = call.param("queueId").to_owned();
    queue_or_404(org, &queue_id)?;
    let delete = call.query.bool("delete", false)?;
    let ids = bulk_ids(call)?;
    let survive = org.behavior.group_members_survive_direct_removal;
    if delete {
        for id in &ids {
            if let Ok(user) = org.live_user_mut(id) {
                remove_direct(user, &queue_id, survive);
            }
        }
    } else {
        if let Some(bad) = ids.iter().find(|id| org.live_user(id).is_err()) {
            return Err(ApiError::new(400, "invalid.id", "Invalid user id [{id}]")
                .param("id", bad.as_str()));
        }
        for id in &ids {
            let user = org.live_user_mut(id)?;
            match user.queues.iter_mut().find(|m| m.queue_id == queue_id) {
                Some(m) => m.direct = true,
                None => user.queues.push(Membership {
                    queue_id: queue_id.clone(),
                    joined: true,
                    direct: true,
                    via_group: false,
                }),
            }
        }
    }
    Ok(no_body(org))
}

/// Drops a user's direct membership of a queue; one through a member group stays when
/// `survive` (`behavior.groupMembersSurviveDirectRemoval`), else it goes too.
fn remove_direct(user: &mut User, queue_id: &str, survive: bool) {
    if let Some(m) = user.queues.iter_mut().find(|m| m.queue_id == queue_id) {
        m.direct = false;
        m.via_group &= survive;
    }
    user.queues.retain(|m| m.direct || m.via_group);
}

/// `DELETE /api/v2/routing/queues/{queueId}/members/{memberId}`: removes direct membership
/// (a membership through a group stays, as with the bulk call).
pub fn delete_routing_queue_member(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let queue_id = call.param("queueId").to_owned();
    let member_id = call.param("memberId").to_owned();
    queue_or_404(org, &queue_id)?;
    let survive = org.behavior.group_members_survive_direct_removal;
    let user = org.live_user_mut(&member_id)?;
    if user.membership(&queue_id).is_none() {
        return Err(ApiError::not_found("Queue member", &member_id));
    }
    remove_direct(user, &queue_id, survive);
    Ok(no_body(org))
}

/// `PATCH /api/v2/routing/queues/{queueId}/members`: join or unjoin members (≤ 100).
pub fn patch_routing_queue_members(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let queue_id = call.param("queueId").to_owned();
    queue_or_404(org, &queue_id)?;
    let body: Vec<JoinedBody> = call.json()?;
    if body.is_empty() || body.len() > MAX_BULK_MEMBERS {
        return Err(ApiError::bad_request(
            "The request must contain a valid number of queue members (1 to {max}); it contained {count}",
        )
        .param("max", MAX_BULK_MEMBERS.to_string())
        .param("count", body.len().to_string()));
    }
    let mut changed = Vec::new();
    for item in body {
        let (Some(id), Some(joined)) = (item.id, item.joined) else {
            return Err(ApiError::bad_request("Each entry needs an id and joined"));
        };
        if org
            .live_user(&id)
            .is_ok_and(|u| u.membership(&queue_id).is_some())
        {
            changed.push(id.clone());
            set_joined_later(org, &id, &[(queue_id.clone(), joined)], call);
        }
    }
    let expand = Expand::default();
    let entities: Vec<Value> = changed
        .iter()
        .filter_map(|id| {
            let u = org.user(id)?;
            Some(render::queue_member(
                org,
                u,
                u.membership(&queue_id)?,
                &expand,
            ))
        })
        .collect();
    let page = Page::new(
        i64::try_from(entities.len().max(1)).unwrap_or(1),
        1,
        usize::MAX,
    )?;
    let total = entities.len();
    Ok(Reply::ok(listing(
        call.path,
        &call.query,
        page,
        total,
        entities,
        ListingShape::NoTotals,
    )))
}

/// `GET /api/v2/routing/queues/{queueId}`.
pub fn get_routing_queue(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    call.query.list("expand").iter().try_for_each(|e| {
        if e == "identityresolution" {
            Ok(())
        } else {
            Err(ApiError::invalid_value(
                e,
                "expand",
                &["identityresolution"],
            ))
        }
    })?;
    let queue = queue_or_404(org, call.param("queueId"))?;
    Ok(Reply::ok(render::queue(org, queue)))
}

/// `GET /api/v2/routing/queues`: `name` (with `*` wildcards), `id`, `divisionId` filters.
pub fn get_routing_queues(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = &call.query;
    let page = Page::from_query_within(
        q,
        25,
        org.behavior.max_page_size as usize,
        org.behavior.page_size_over_max,
    )?;
    let desc = q.one_of("sortOrder", &["asc", "desc"], "asc")? == "desc";
    let name = q.get("name").map(str::to_lowercase);
    let ids = q.list("id");
    let divisions = q.list("divisionId");
    let wants_peer = q.get("peerId").is_some() || q.bool("hasPeer", false)?;
    let mut queues: Vec<&QueueFixture> = org
        .queues
        .iter()
        .filter(|_| !wants_peer)
        .filter(|queue| ids.is_empty() || ids.contains(&queue.id))
        .filter(|queue| divisions.is_empty() || in_divisions(org, queue, &divisions))
        .filter(|queue| {
            name.as_deref()
                .is_none_or(|n| wildcard_match(n, &queue.name.to_lowercase()))
        })
        .collect();
    queues.sort_by_key(|queue| queue.name.to_lowercase());
    if desc {
        queues.reverse();
    }
    let entities = page
        .slice(&queues)
        .into_iter()
        .map(|queue| render::queue(org, queue))
        .collect();
    Ok(Reply::ok(listing(
        call.path,
        q,
        page,
        queues.len(),
        entities,
        ListingShape::Full,
    )))
}

/// `*` matches any run of characters; without `*` the whole name must match.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

fn proficiency_listing(
    call: &Call<'_>,
    org: &Org,
    user: &User,
    held: &[Proficiency],
    render_one: fn(&Org, &User, &Proficiency) -> Value,
    names: &[super::fixture::NamedEntity],
) -> Result<Reply, ApiError> {
    let q = &call.query;
    let page = Page::from_query_within(
        q,
        25,
        org.behavior.max_page_size as usize,
        org.behavior.page_size_over_max,
    )?;
    let desc = descending(q, "sortOrder")?;
    let name_of = |p: &Proficiency| {
        names
            .iter()
            .find(|e| e.id == p.id)
            .map_or_else(|| p.id.to_lowercase(), |e| e.name.to_lowercase())
    };
    let mut rows: Vec<&Proficiency> = held.iter().collect();
    rows.sort_by_key(|p| name_of(p));
    if desc {
        rows.reverse();
    }
    let entities = page
        .slice(&rows)
        .into_iter()
        .map(|p| render_one(org, user, p))
        .collect();
    Ok(Reply::ok(listing(
        call.path,
        q,
        page,
        rows.len(),
        entities,
        ListingShape::Full,
    )))
}

/// `GET /api/v2/users/{userId}/routingskills`.
pub fn get_user_routingskills(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = org.live_user(call.param("userId"))?;
    proficiency_listing(call, org, user, &user.skills, render::skill, &org.skills)
}

/// `GET /api/v2/users/{userId}/routinglanguages`.
pub fn get_user_routinglanguages(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = org.live_user(call.param("userId"))?;
    proficiency_listing(
        call,
        org,
        user,
        &user.languages,
        render::language,
        &org.languages,
    )
}

/// `DELETE /api/v2/users/{userId}/routingskills/{skillId}`.
pub fn delete_user_routingskill(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let skill_id = call.param("skillId");
    let user = org.live_user_mut(call.param("userId"))?;
    let before = user.skills.len();
    user.skills.retain(|s| s.id != skill_id);
    if user.skills.len() == before {
        return Err(ApiError::not_found("User routing skill", skill_id));
    }
    Ok(no_body(org))
}

/// `DELETE /api/v2/users/{userId}/routinglanguages/{languageId}`.
pub fn delete_user_routinglanguage(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let language_id = call.param("languageId");
    let user = org.live_user_mut(call.param("userId"))?;
    let before = user.languages.len();
    user.languages.retain(|l| l.id != language_id);
    if user.languages.len() == before {
        return Err(ApiError::not_found("User routing language", language_id));
    }
    Ok(no_body(org))
}

#[derive(Debug, Deserialize)]
struct SkillPost {
    id: Option<String>,
    proficiency: Option<f64>,
}

/// `PUT /api/v2/users/{userId}/routingskills/bulk`: replaces all the user's skills.
pub fn put_user_routingskills_bulk(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId").to_owned();
    org.live_user(&id)?;
    let body: Vec<SkillPost> = call.json()?;
    let mut skills: Vec<Proficiency> = Vec::new();
    for s in body {
        let (Some(skill_id), Some(proficiency)) = (s.id, s.proficiency) else {
            return Err(ApiError::bad_request(
                "Each skill needs an id and a proficiency",
            ));
        };
        if !org.skills.iter().any(|e| e.id == skill_id) {
            return Err(
                ApiError::new(400, "invalid.id", "Invalid skill id [{id}]").param("id", skill_id)
            );
        }
        if !(0.0..=5.0).contains(&proficiency) {
            return Err(ApiError::bad_request("proficiency must be between 0 and 5"));
        }
        skills.retain(|e| e.id != skill_id);
        skills.push(Proficiency {
            id: skill_id,
            proficiency,
        });
    }
    org.live_user_mut(&id)?.skills = skills;
    let user = org.live_user(&id)?;
    let entities: Vec<Value> = user
        .skills
        .iter()
        .map(|s| render::skill(org, user, s))
        .collect();
    let total = entities.len();
    let page = Page::new(i64::try_from(total.max(25)).unwrap_or(25), 1, usize::MAX)?;
    Ok(Reply::ok(listing(
        &format!("/api/v2/users/{id}/routingskills"),
        &super::call::Query::default(),
        page,
        total,
        entities,
        ListingShape::Full,
    )))
}

/// `GET /api/v2/users/{userId}/station`.
pub fn get_user_station(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = org.live_user(call.param("userId"))?;
    Ok(Reply::ok(render::stations(org, user)))
}

/// `DELETE /api/v2/users/{userId}/station/associatedstation`: 202 (§6.6).
pub fn delete_user_station_associatedstation(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let user = org.live_user_mut(call.param("userId"))?;
    if let Some(s) = user.station.associated.take() {
        user.station.last_associated = Some(s);
        user.station.associated_date = None;
    }
    Ok(Reply::empty(202))
}

/// `DELETE /api/v2/users/{userId}/station/defaultstation`: 202 (§6.6).
pub fn delete_user_station_defaultstation(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let user = org.live_user_mut(call.param("userId"))?;
    user.station.default = None;
    Ok(Reply::empty(202))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_name_wildcards_match_like_the_api() {
        assert!(wildcard_match("bill*", "billing"));
        assert!(wildcard_match("*support", "technical support"));
        assert!(wildcard_match("*chn*", "technical support"));
        assert!(!wildcard_match("bill", "billing"));
        assert!(wildcard_match("billing", "billing"));
    }
}
