//! A user's utilization and call forwarding, and memberships of groups and teams: what a
//! restore puts back. Shapes are the Python SDK 269's (`AgentMaxUtilizationResponse`,
//! `UtilizationRequest`, `MediaUtilization`, `CallForwarding`, `CallRoute`, `CallTarget`,
//! `Group`, `GroupMembersUpdate`, `TeamMembers`, `TeamMemberAddListingResponse`).

use serde_json::{Map, Value, json};

use super::call::{Call, Reply};
use super::errors::ApiError;
use super::state::Org;
use super::time::format as rfc3339;

/// The media types a utilization is given for.
const MEDIA_TYPES: &[&str] = &["call", "callback", "chat", "email", "message", "workitem"];
/// The largest `maximumCapacity` of one media type.
const MAX_CAPACITY: i64 = 25;
/// `CallTarget.type` (SDK `allowed_values`).
const TARGET_TYPES: &[&str] = &["STATION", "PHONENUMBER"];
/// `CallForwarding.voicemail` (SDK `allowed_values`).
const VOICEMAIL: &[&str] = &["PURECLOUD", "LASTCALL", "NONE"];

/// The organization-wide utilization, which applies to a user without their own.
fn organization_utilization() -> Value {
    json!({
        "call": {"maximumCapacity": 1, "interruptableMediaTypes": [], "includeNonAcd": false},
        "callback": {"maximumCapacity": 1, "interruptableMediaTypes": [], "includeNonAcd": false},
        "chat": {"maximumCapacity": 4, "interruptableMediaTypes": [], "includeNonAcd": false},
        "email": {"maximumCapacity": 1, "interruptableMediaTypes": [], "includeNonAcd": false},
        "message": {"maximumCapacity": 4, "interruptableMediaTypes": [], "includeNonAcd": false},
        "workitem": {"maximumCapacity": 1, "interruptableMediaTypes": [], "includeNonAcd": false}
    })
}

fn utilization_json(org: &Org, id: &str) -> Value {
    let own = org.user(id).and_then(|u| u.utilization.clone());
    let mut out = Map::new();
    if let Some(Value::Object(body)) = own {
        for (k, v) in body {
            out.insert(k, v);
        }
        // Every media type is answered whole, as Genesys does, whatever a fixture left out.
        if let Some(Value::Object(media)) = out.get_mut("utilization") {
            for setting in media.values_mut() {
                if let Value::Object(fields) = setting {
                    fields
                        .entry("interruptableMediaTypes")
                        .or_insert_with(|| json!([]));
                    fields.entry("includeNonAcd").or_insert(json!(false));
                }
            }
        }
        out.insert("level".into(), json!("Agent"));
    } else {
        out.insert("utilization".into(), organization_utilization());
        out.insert("level".into(), json!("Organization"));
    }
    Value::Object(out)
}

/// `GET /api/v2/routing/users/{userId}/utilization`.
pub fn get_routing_user_utilization(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId");
    org.live_user(id)?;
    Ok(Reply::ok(utilization_json(org, id)))
}

/// `PUT /api/v2/routing/users/{userId}/utilization`: the user's own utilization, whole; known
/// media types only, capacities 0 to [`MAX_CAPACITY`].
pub fn put_routing_user_utilization(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId").to_owned();
    org.live_user(&id)?;
    let body = call.json_value()?;
    let Some(media) = body.get("utilization").and_then(Value::as_object) else {
        return Err(ApiError::bad_request("utilization is required"));
    };
    let mut stored = Map::new();
    let mut checked = Map::new();
    for (kind, setting) in media {
        if !MEDIA_TYPES.contains(&kind.as_str()) {
            return Err(ApiError::invalid_value(kind, "mediaType", MEDIA_TYPES));
        }
        let capacity = setting.get("maximumCapacity").and_then(Value::as_i64);
        let Some(capacity) = capacity.filter(|c| (0..=MAX_CAPACITY).contains(c)) else {
            return Err(ApiError::bad_request(format!(
                "utilization.{kind}.maximumCapacity must be an integer from 0 to {MAX_CAPACITY}"
            )));
        };
        let interruptable = setting
            .get("interruptableMediaTypes")
            .cloned()
            .unwrap_or_else(|| json!([]));
        let Some(list) = interruptable.as_array() else {
            return Err(ApiError::bad_request(format!(
                "utilization.{kind}.interruptableMediaTypes must be a list"
            )));
        };
        for t in list {
            let t = t.as_str().unwrap_or_default();
            if !MEDIA_TYPES.contains(&t) {
                return Err(ApiError::invalid_value(t, "mediaType", MEDIA_TYPES));
            }
        }
        checked.insert(
            kind.clone(),
            json!({
                "maximumCapacity": capacity,
                "interruptableMediaTypes": interruptable,
                "includeNonAcd": setting.get("includeNonAcd").and_then(Value::as_bool).unwrap_or(false),
            }),
        );
    }
    stored.insert("utilization".into(), Value::Object(checked));
    if let Some(labels) = body.get("labelUtilizations") {
        if !labels.is_object() {
            return Err(ApiError::bad_request("labelUtilizations must be an object"));
        }
        stored.insert("labelUtilizations".into(), labels.clone());
    }
    if let Some(max) = body.get("maxInboundCalls") {
        if max.as_i64().is_none_or(|m| m < 1) {
            return Err(ApiError::bad_request(
                "maxInboundCalls must be a positive integer",
            ));
        }
        stored.insert("maxInboundCalls".into(), max.clone());
    }
    if let Some(user) = org.user_mut(&id) {
        user.utilization = Some(Value::Object(stored));
    }
    Ok(Reply::ok(utilization_json(org, &id)))
}

fn forwarding_json(org: &Org, id: &str, modified: Option<String>) -> Value {
    let mut out = Map::new();
    if let Some(Value::Object(stored)) = org.user(id).map(|u| u.call_forwarding.clone()) {
        for (k, v) in stored {
            out.insert(k, v);
        }
    }
    let name = org.user(id).map(|u| u.name.clone()).unwrap_or_default();
    out.insert(
        "user".into(),
        json!({"id": id, "name": name, "selfUri": format!("/api/v2/users/{id}")}),
    );
    if let Some(m) = modified {
        out.insert("modifiedDate".into(), json!(m));
    }
    out.insert(
        "selfUri".into(),
        json!(format!("/api/v2/users/{id}/callforwarding")),
    );
    Value::Object(out)
}

/// `GET /api/v2/users/{userId}/callforwarding`.
pub fn get_user_callforwarding(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId");
    org.live_user(id)?;
    Ok(Reply::ok(forwarding_json(org, id, None)))
}

/// `PUT /api/v2/users/{userId}/callforwarding`: the whole settings. Targets are stations of
/// the organization or phone numbers; forwarding switched on needs at least one target.
pub fn put_user_callforwarding(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId").to_owned();
    org.live_user(&id)?;
    let body = call.json_value()?;
    let enabled = match body.get("enabled") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("enabled must be a boolean")),
    };
    let calls = body.get("calls").cloned().unwrap_or_else(|| json!([]));
    let Some(routes) = calls.as_array() else {
        return Err(ApiError::bad_request("calls must be a list"));
    };
    let mut targets = 0;
    for route in routes {
        let Some(list) = route.get("targets").and_then(Value::as_array) else {
            return Err(ApiError::bad_request("calls[].targets must be a list"));
        };
        for target in list {
            let kind = target
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !TARGET_TYPES.contains(&kind) {
                return Err(ApiError::invalid_value(kind, "type", TARGET_TYPES));
            }
            let value = target
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if value.is_empty() {
                return Err(ApiError::bad_request("calls[].targets[].value is required"));
            }
            if kind == "STATION" && !org.stations.iter().any(|s| s.id == value) {
                return Err(ApiError::not_found("Station", value));
            }
            targets += 1;
        }
    }
    let phone = body
        .get("phoneNumber")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty());
    if enabled && targets == 0 && phone.is_none() {
        return Err(ApiError::bad_request(
            "Call forwarding cannot be enabled without a target",
        ));
    }
    let voicemail = match body.get("voicemail") {
        None | Some(Value::Null) => "PURECLOUD".to_owned(),
        Some(Value::String(v)) if VOICEMAIL.contains(&v.as_str()) => v.clone(),
        Some(v) => {
            return Err(ApiError::invalid_value(
                v.as_str().unwrap_or_default(),
                "voicemail",
                VOICEMAIL,
            ));
        }
    };
    let mut stored = Map::new();
    stored.insert("enabled".into(), json!(enabled));
    if let Some(p) = phone {
        stored.insert("phoneNumber".into(), json!(p));
    }
    stored.insert("calls".into(), calls.clone());
    stored.insert("voicemail".into(), json!(voicemail));
    if let Some(user) = org.user_mut(&id) {
        user.call_forwarding = Value::Object(stored);
    }
    Ok(Reply::ok(forwarding_json(
        org,
        &id,
        Some(rfc3339(call.now)),
    )))
}

fn group_json(org: &Org, id: &str) -> Option<Value> {
    let group = org.groups.iter().find(|g| g.id == id)?;
    let members = org
        .users
        .iter()
        .filter(|u| !u.is_deleted() && u.groups.iter().any(|g| g == id))
        .count();
    Some(json!({
        "id": group.id,
        "name": group.name,
        "memberCount": members,
        "state": "active",
        "version": org.group_versions.get(id).copied().unwrap_or(1),
        "type": "official",
        "rulesVisible": false,
        "visibility": "public",
        "selfUri": format!("/api/v2/groups/{id}"),
    }))
}

/// `GET /api/v2/groups/{groupId}`.
pub fn get_group(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("groupId");
    group_json(org, id)
        .map(Reply::ok)
        .ok_or_else(|| ApiError::not_found("Group", id))
}

/// The `memberIds` of a members body: a non-empty list of strings.
fn member_ids(body: &Value) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> = body
        .get("memberIds")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("memberIds is required"))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| ApiError::bad_request("memberIds must be user ids"))
        })
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "memberIds must name at least one user",
        ));
    }
    Ok(ids)
}

/// `POST /api/v2/groups/{groupId}/members`: adds users to the group. `version` must be the
/// group's current one (a stale one is a 409, as for the other versioned writes). The npm
/// typings mark `version` optional; unverified against the live API, the emulator takes the
/// stricter reading and answers a body without it 400. Every member must be a user that is not
/// deleted. Answered 202 without a body.
pub fn post_group_members(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("groupId").to_owned();
    if !org.groups.iter().any(|g| g.id == id) {
        return Err(ApiError::not_found("Group", &id));
    }
    let body = call.json_value()?;
    let members = member_ids(&body)?;
    let Some(version) = body.get("version").and_then(Value::as_i64) else {
        return Err(ApiError::bad_request("version is required"));
    };
    let current = org.group_versions.get(&id).copied().unwrap_or(1);
    if version != current {
        return Err(ApiError::version_conflict());
    }
    for m in &members {
        org.live_user(m)?;
    }
    for m in &members {
        if let Some(user) = org.user_mut(m)
            && !user.groups.contains(&id)
        {
            user.groups.push(id.clone());
        }
        org.follow_member_groups(m);
    }
    org.group_versions.insert(id, current + 1);
    Ok(Reply::empty(202))
}

/// `POST /api/v2/teams/{teamId}/members`: adds users to the team (a user is in at most one
/// team, so this moves them from any other). A user that does not exist is a failure
/// (`UserNotFound`) and the others are added.
pub fn post_team_members(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("teamId").to_owned();
    if !org.teams.iter().any(|t| t.id == id) {
        return Err(ApiError::not_found("Team", &id));
    }
    let members = member_ids(&call.json_value()?)?;
    let mut entities = Vec::new();
    let mut failures = Vec::new();
    for m in members {
        match org.user_mut(&m).filter(|u| !u.is_deleted()) {
            Some(user) => {
                user.team = Some(id.clone());
                org.follow_member_groups(&m);
                entities.push(json!({"id": m, "selfUri": format!("/api/v2/users/{m}")}));
            }
            None => failures.push(json!({"id": m, "reason": "UserNotFound"})),
        }
    }
    Ok(Reply::ok(
        json!({"entities": entities, "failures": failures}),
    ))
}
