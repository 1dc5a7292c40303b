//! Users: read, list, cursor list, update, the state endpoint, soft delete, adjacents
//! (docs/genesys-api.md §3–§5). Search lives in the `search` module.
//!
//! Rules served here: `GET /users/{id}` hides deleted users unless `state=deleted`; the three
//! user reads may leave out expands of `behavior.droppedExpands` (best effort); a PATCH
//! carrying `state` may carry nothing else but `version`; a stale `version` is a 409
//! `general.conflict` (or the 400 variant, per `behavior.versionConflict`); every change bumps
//! `version`; DELETE is a soft delete answering 200 `{}`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::call::{
    Call, Expand, INTEGRATION_PRESENCE_SOURCES, ListingShape, Page, Reply, decode_cursor,
    descending, encode_cursor, listing,
};
use super::errors::ApiError;
use super::fixture::VersionConflictStyle;
use super::render;
use super::state::{Org, StateChange, User, UserState};
use super::time::format;

/// `UserState.stateChangeReason` values (§4.2).
pub const STATE_CHANGE_REASONS: &[&str] = &[
    "Voluntary",
    "Seasonal",
    "Leave",
    "Performance",
    "Conduct",
    "Unknown",
];

/// Fields of `UpdateUser` (§4.1).
const UPDATE_USER_FIELDS: &[&str] = &[
    "id",
    "name",
    "chat",
    "department",
    "email",
    "primaryContactInfo",
    "addresses",
    "title",
    "username",
    "preferredName",
    "manager",
    "images",
    "version",
    "profileSkills",
    "locations",
    "groups",
    "state",
    "acdAutoAnswer",
    "certifications",
    "biography",
    "employerInfo",
    "selfUri",
];

fn check_integration_source(call: &Call<'_>) -> Result<(), ApiError> {
    call.query
        .one_of(
            "integrationPresenceSource",
            INTEGRATION_PRESENCE_SOURCES,
            "",
        )
        .map(|_| ())
}

/// `expand` as served: with `behavior.droppedExpands`, the first answer that asks for one of
/// them and every `expandDropEvery`-th after it leaves those out ("best effort", SDK
/// `users_api.get_user`).
fn best_effort(org: &mut Org, expand: Expand) -> Expand {
    let dropped = &org.behavior.dropped_expands;
    if !expand.values().iter().any(|v| dropped.contains(v)) {
        return expand;
    }
    org.expand_answers += 1;
    let every = u64::from(org.behavior.expand_drop_every.max(1));
    if !(org.expand_answers - 1).is_multiple_of(every) {
        return expand;
    }
    let kept: Vec<String> = expand
        .values()
        .iter()
        .filter(|v| !org.behavior.dropped_expands.contains(v))
        .cloned()
        .collect();
    Expand::new(kept).unwrap_or_default()
}

/// `GET /api/v2/users/{userId}`.
pub fn get_user(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId");
    let wanted = call
        .query
        .one_of("state", &["active", "deleted"], "active")?;
    let expand = best_effort(org, Expand::from_query(&call.query)?);
    check_integration_source(call)?;
    let user = org
        .user(id)
        .filter(|u| u.is_deleted() == (wanted == "deleted"))
        .ok_or_else(|| ApiError::not_found("User", id))?;
    Ok(Reply::ok(render::user(org, user, &expand)))
}

fn state_filter(wanted: &str) -> impl Fn(&&User) -> bool + '_ {
    move |u: &&User| wanted == "any" || u.state.as_str() == wanted
}

fn sort_users(users: &mut [&User], descending: bool) {
    users.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then_with(|| a.id.cmp(&b.id))
    });
    if descending {
        users.reverse();
    }
}

/// `GET /api/v2/users`: `id` and `jabberId` filters, `state` (default `active`), paging.
pub fn get_users(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = &call.query;
    let ids = q.list("id");
    let jabber_ids = q.list("jabberId");
    if !ids.is_empty() && !jabber_ids.is_empty() {
        return Err(ApiError::bad_request("id and jabberId cannot be combined"));
    }
    let wanted = q.one_of("state", &["active", "inactive", "deleted", "any"], "active")?;
    let expand = best_effort(org, Expand::from_query(q)?);
    check_integration_source(call)?;
    let page = Page::from_query_within(
        q,
        25,
        org.behavior.max_page_size as usize,
        org.behavior.page_size_over_max,
    )?;
    let desc = descending(q, "sortOrder")?;
    let mut users: Vec<&User> = org
        .users
        .iter()
        .filter(state_filter(wanted))
        .filter(|u| ids.is_empty() || ids.contains(&u.id))
        .collect();
    if !jabber_ids.is_empty() {
        users.retain(|u| {
            let rendered = render::user(org, u, &Expand::default());
            rendered["chat"]["jabberId"]
                .as_str()
                .is_some_and(|j| jabber_ids.iter().any(|x| x == j))
        });
    }
    sort_users(&mut users, desc);
    let entities = page
        .slice(&users)
        .into_iter()
        .map(|u| render::user(org, u, &expand))
        .collect();
    Ok(Reply::ok(listing(
        call.path,
        q,
        page,
        users.len(),
        entities,
        ListingShape::Full,
    )))
}

/// `GET /api/v2/users/query`: the cursor listing (`UserCursorEntityListing`).
pub fn get_users_query(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = &call.query;
    let wanted = q.one_of("state", &["active", "inactive", "deleted", "any"], "active")?;
    let desc = q.one_of("sortOrder", &["ASC", "DESC"], "ASC")? == "DESC";
    let expand = best_effort(org, Expand::from_query(q)?);
    check_integration_source(call)?;
    let size = Page::within(
        q.int("pageSize", 25)?,
        1,
        org.behavior.max_page_size as usize,
        org.behavior.page_size_over_max,
    )?
    .size;
    let offset = match q.get("cursor") {
        None => 0,
        Some(c) => decode_cursor(c)?,
    };
    let mut users: Vec<&User> = org.users.iter().filter(state_filter(wanted)).collect();
    sort_users(&mut users, desc);
    let entities: Vec<Value> = users
        .iter()
        .skip(offset)
        .take(size)
        .map(|u| render::user(org, u, &expand))
        .collect();
    let mut out = Map::new();
    out.insert("results".into(), json!(entities.len()));
    out.insert("entities".into(), Value::Array(entities));
    let raw = q.encode_without(&[]);
    out.insert(
        "selfUri".into(),
        json!(if raw.is_empty() {
            call.path.to_owned()
        } else {
            format!("{}?{raw}", call.path)
        }),
    );
    if offset + size < users.len() {
        let cursor = encode_cursor(offset + size);
        let rest = q.encode_without(&["cursor"]);
        let mut next = format!("{}?cursor={cursor}", call.path);
        if !rest.is_empty() {
            next.push('&');
            next.push_str(&rest);
        }
        out.insert("nextUri".into(), json!(next));
        out.insert("cursor".into(), json!(cursor));
    }
    Ok(Reply::ok(Value::Object(out)))
}

/// `version` as a number, or a string holding one.
fn version_of(body: &Map<String, Value>) -> Result<i64, ApiError> {
    match body.get("version") {
        None => {
            Err(ApiError::bad_request("version is required").detail("required", Some("version")))
        }
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("version must be an integer")),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| ApiError::bad_request("version must be an integer")),
        Some(_) => Err(ApiError::bad_request("version must be an integer")),
    }
}

fn check_version(org: &Org, given: i64, current: i64) -> Result<(), ApiError> {
    if given == current {
        return Ok(());
    }
    Err(match org.behavior.version_conflict {
        VersionConflictStyle::Conflict409 => ApiError::version_conflict(),
        VersionConflictStyle::BadRequest400 => ApiError::version_mismatch_400(given, current),
    })
}

fn parse_state(value: &Value) -> Result<UserState, ApiError> {
    let text = value.as_str().unwrap_or_default();
    UserState::parse(text)
        .ok_or_else(|| ApiError::invalid_value(&value_text(value), "State", UserState::ALL))
}

fn value_text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// `PATCH /api/v2/users/{userId}` with `UpdateUser`.
pub fn patch_user(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId").to_owned();
    let Value::Object(body) = call.json_value()? else {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object",
        ));
    };
    // Absent and null are the same (SDKs drop or null out unset fields).
    let body: Map<String, Value> = body.into_iter().filter(|(_, v)| !v.is_null()).collect();
    if org.user(&id).is_none() {
        return Err(ApiError::not_found("User", &id));
    }
    let version = version_of(&body)?;
    if let Some(state) = body.get("state") {
        let to = parse_state(state)?;
        let others: Vec<&str> = body
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "state" && *k != "version")
            .collect();
        if !others.is_empty() {
            return Err(ApiError::bad_request(
                "When state is present it must be the only field modified besides version; also present: {fields}",
            )
            .param("fields", others.join(", ")));
        }
        let current = org.user(&id).map_or(0, |u| u.version);
        check_version(org, version, current)?;
        org.change_state(&id, to, call.now)?;
        if let Some(u) = org.user_mut(&id) {
            u.state_change = Some(StateChange {
                reason: None,
                date: call.now,
            });
        }
    } else {
        let current = org.live_user(&id)?.version;
        check_version(org, version, current)?;
        let update = validate_update(org, &id, &body)?;
        let user = org.live_user_mut(&id)?;
        update.apply(user);
        user.version += 1;
    }
    let user = org
        .user(&id)
        .ok_or_else(|| ApiError::not_found("User", &id))?;
    Ok(Reply::ok(render::user(org, user, &Expand::default())))
}

/// The fields of an `UpdateUser` the emulator stores; the others are accepted and ignored.
#[derive(Debug, Default)]
struct Update {
    name: Option<String>,
    department: Option<String>,
    title: Option<String>,
    preferred_name: Option<String>,
    acd_auto_answer: Option<bool>,
    manager: Option<String>,
    certifications: Option<Vec<String>>,
    profile_skills: Option<Vec<String>>,
}

impl Update {
    fn apply(self, user: &mut User) {
        if let Some(v) = self.name {
            user.name = v;
        }
        if let Some(v) = self.department {
            user.department = Some(v);
        }
        if let Some(v) = self.title {
            user.title = Some(v);
        }
        if let Some(v) = self.preferred_name {
            user.preferred_name = Some(v);
        }
        if let Some(v) = self.acd_auto_answer {
            user.acd_auto_answer = v;
        }
        if let Some(v) = self.manager {
            user.manager_id = Some(v);
        }
        if let Some(v) = self.certifications {
            user.certifications = v;
        }
        if let Some(v) = self.profile_skills {
            user.profile_skills = v;
        }
    }
}

fn validate_update(org: &Org, id: &str, body: &Map<String, Value>) -> Result<Update, ApiError> {
    let text = |key: &str| -> Result<Option<String>, ApiError> {
        body.get(key).map_or(Ok(None), |v| {
            v.as_str()
                .map(|s| Some(s.to_owned()))
                .ok_or_else(|| ApiError::bad_request(format!("{key} must be a string")))
        })
    };
    let strings = |key: &str| -> Result<Option<Vec<String>>, ApiError> {
        body.get(key).map_or(Ok(None), |v| {
            serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("{key} must be a list of strings")))
        })
    };
    for key in body.keys() {
        if !UPDATE_USER_FIELDS.contains(&key.as_str()) {
            return Err(
                ApiError::new(400, "invalid.property", "Unrecognized field [{field}]")
                    .param("field", key.as_str()),
            );
        }
    }
    let user = org.live_user(id)?;
    if let Some(email) = text("email")?
        && !email.eq_ignore_ascii_case(&user.email)
    {
        return Err(ApiError::bad_request(
            "The primary email address of a user cannot be changed",
        ));
    }
    let manager = text("manager")?;
    if let Some(m) = &manager
        && (m == id || org.live_user(m).is_err())
    {
        return Err(
            ApiError::new(400, "invalid.id", "Invalid manager id [{id}]").param("id", m.as_str()),
        );
    }
    let acd_auto_answer = body
        .get("acdAutoAnswer")
        .map(|v| {
            v.as_bool()
                .ok_or_else(|| ApiError::bad_request("acdAutoAnswer must be a boolean"))
        })
        .transpose()?;
    Ok(Update {
        name: text("name")?,
        department: text("department")?,
        title: text("title")?,
        preferred_name: text("preferredName")?,
        acd_auto_answer,
        manager,
        certifications: strings("certifications")?,
        profile_skills: strings("profileSkills")?,
    })
}

/// `DELETE /api/v2/users/{userId}`: soft delete, 200 `{}` (§5.1).
pub fn delete_user(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId").to_owned();
    if org.live_user(&id).is_err() {
        return Err(
            ApiError::new(404, "user.not.found.on.delete", "User not found on delete.").entity(&id),
        );
    }
    org.change_state(&id, UserState::Deleted, call.now)?;
    Ok(Reply::ok(json!({})))
}

fn user_state_json(user: &User) -> Value {
    let mut out = json!({"state": user.state.as_str(), "version": user.version});
    if let Some(change) = &user.state_change {
        if let Some(reason) = &change.reason {
            out["stateChangeReason"] = json!(reason);
        }
        out["stateChangeDate"] = json!(format(change.date));
    }
    out
}

/// `GET /api/v2/users/{userId}/state`.
pub fn get_user_state(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId");
    let user = org
        .user(id)
        .ok_or_else(|| ApiError::not_found("User", id))?;
    Ok(Reply::ok(user_state_json(user)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserStateBody {
    state: Option<Value>,
    version: Option<Value>,
    state_change_reason: Option<Value>,
}

/// `PUT /api/v2/users/{userId}/state` with a `stateChangeReason` (§4.2).
pub fn put_user_state(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId").to_owned();
    let current = org
        .user(&id)
        .ok_or_else(|| ApiError::not_found("User", &id))?
        .version;
    let body: UserStateBody = call.json()?;
    let to = parse_state(body.state.as_ref().ok_or_else(|| {
        ApiError::bad_request("state is required").detail("required", Some("state"))
    })?)?;
    let reason = match &body.state_change_reason {
        None | Some(Value::Null) => None,
        Some(v) => {
            let text = value_text(v);
            if !STATE_CHANGE_REASONS.contains(&text.as_str()) {
                return Err(ApiError::invalid_value(
                    &text,
                    "StateChangeReason",
                    STATE_CHANGE_REASONS,
                ));
            }
            Some(text)
        }
    };
    if org.behavior.state_put_requires_version {
        let mut map = Map::new();
        if let Some(v) = body.version.filter(|v| !v.is_null()) {
            map.insert("version".into(), v);
        }
        check_version(org, version_of(&map)?, current)?;
    }
    org.change_state(&id, to, call.now)?;
    let user = org
        .user_mut(&id)
        .ok_or_else(|| ApiError::not_found("User", &id))?;
    user.state_change = Some(StateChange {
        reason,
        date: call.now,
    });
    Ok(Reply::ok(user_state_json(user)))
}

/// `GET /api/v2/users/{userId}/adjacents`: manager, peers, direct reports.
pub fn get_user_adjacents(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId");
    let expand = Expand::from_query(&call.query)?;
    let user = org.live_user(id)?;
    let live = || org.users.iter().filter(|u| !u.is_deleted());
    let render = |u: &User| render::user(org, u, &expand);
    let superiors: Vec<Value> = user
        .manager_id
        .as_deref()
        .and_then(|m| org.live_user(m).ok())
        .map(render)
        .into_iter()
        .collect();
    let siblings: Vec<Value> = match &user.manager_id {
        Some(m) => live()
            .filter(|u| u.id != user.id && u.manager_id.as_ref() == Some(m))
            .map(render)
            .collect(),
        None => Vec::new(),
    };
    let reports: Vec<Value> = live()
        .filter(|u| u.manager_id.as_deref() == Some(id))
        .map(render)
        .collect();
    Ok(Reply::ok(json!({
        "superiors": superiors,
        "siblings": siblings,
        "directReports": reports,
    })))
}
