//! Presence (docs/genesys-api.md §6.7), tokens (§1, §6.8), roles and authorization subjects (§6.9) and the
//! organization itself.
//!
//! A presence change also moves routing the way Genesys couples them: a presence whose
//! system presence is `OnQueue` puts an off-queue user `IDLE`; any other presence takes the
//! user `OFF_QUEUE`, except `Offline` when `behavior.offlinePresenceSetsOffQueue` is off.
//!
//! With `behavior.groupGrantSubject`, an authorization subject's grants that come through a
//! group name the group as `subjectId`, and a role granted in one division both directly and
//! through a group is listed once unless `includeDuplicates=true`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::call::{Call, Reply};
use super::errors::ApiError;
use super::render;
use super::state::{Grant, Org, User};

/// The presence source ids the emulator knows: only Genesys Cloud's own.
fn check_source(call: &Call<'_>) -> Result<(), ApiError> {
    let source = call.param("sourceId");
    if source.eq_ignore_ascii_case("purecloud") {
        Ok(())
    } else {
        Err(ApiError::not_found("Presence source", source))
    }
}

/// `GET /api/v2/users/{userId}/presences/{sourceId}` (`purecloud`).
pub fn get_user_presence(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    check_source(call)?;
    let id = call.param("userId");
    let user = org.live_user(id)?;
    render::presence(org, user)
        .map(Reply::ok)
        .ok_or_else(|| ApiError::not_found("Presence of user", id))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PresenceBody {
    presence_definition: Option<DefinitionRef>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DefinitionRef {
    id: Option<String>,
}

/// `PATCH /api/v2/users/{userId}/presences/{sourceId}` with `presenceDefinition.id` and/or
/// `message`.
pub fn patch_user_presence(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    check_source(call)?;
    let id = call.param("userId").to_owned();
    org.live_user(&id)?;
    let body: PresenceBody = call.json()?;
    let (definition, message) = presence_change(org, body.presence_definition, body.message)?;
    set_presence(org, &id, definition, message, call.now)?;
    let user = org.live_user(&id)?;
    render::presence(org, user)
        .map(Reply::ok)
        .ok_or_else(|| ApiError::not_found("Presence of user", &id))
}

/// One entry of `PUT /api/v2/users/presences/bulk` (SDK `MutableUserPresence`): `id` is "the
/// user's id"; the source is named by `sourceId` or the deprecated `source`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkPresence {
    id: Option<String>,
    source: Option<String>,
    source_id: Option<String>,
    presence_definition: Option<DefinitionRef>,
    message: Option<String>,
}

/// `PUT /api/v2/users/presences/bulk`: the Genesys Cloud presence of several users at once,
/// each entry as a `PATCH` of that user's `purecloud` presence; answers their `UserPresence`s.
///
/// Unverified, so served both ways: an entry naming an unknown user (404), or, with
/// `behavior.divisionScopedPermissions`, a user in a division the client has no role in (403
/// `not.authorized`), fails the whole request and changes nothing
/// (`behavior.presenceBulkFailsWhole`), or is left out of the answer while the others change;
/// more than `behavior.presenceBulkMaxEntries` entries (0: no
/// limit) get a 400.
pub fn put_users_presences_bulk(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let entries: Vec<BulkPresence> = call.json()?;
    let max = org.behavior.presence_bulk_max_entries;
    if max > 0 && entries.len() > max as usize {
        return Err(ApiError::bad_request(format!(
            "At most {max} user presences can be updated at once"
        )));
    }
    let mut changes = Vec::new();
    for entry in entries {
        let id = entry
            .id
            .ok_or_else(|| ApiError::bad_request("Every user presence needs the user's id"))?;
        let source = entry.source_id.or(entry.source).unwrap_or_default();
        if !source.eq_ignore_ascii_case("purecloud") {
            return Err(
                ApiError::new(400, "invalid.value", "Invalid presence source [{id}]")
                    .param("id", source.as_str()),
            );
        }
        let (definition, message) = presence_change(org, entry.presence_definition, entry.message)?;
        let refused = org.live_user(&id).and_then(|user| {
            match org.client_divisions(&call.caller.client_id) {
                Some(allowed) if !allowed.contains(&user.division_id) => {
                    Err(ApiError::outside_division(&user.division_id))
                }
                _ => Ok(()),
            }
        });
        match refused {
            Ok(()) => changes.push((id, definition, message)),
            Err(e) if org.behavior.presence_bulk_fails_whole => return Err(e),
            Err(_) => {}
        }
    }
    let mut answers = Vec::new();
    for (id, definition, message) in changes {
        set_presence(org, &id, definition, message, call.now)?;
        let user = org.live_user(&id)?;
        answers.extend(render::presence(org, user));
    }
    Ok(Reply::ok(Value::Array(answers)))
}

/// A presence definition's id and its system presence.
type Definition = (String, String);

/// What a presence write asks for: the active definition it names (with its system presence)
/// and/or a message; a 400 when it names neither or an unknown definition.
fn presence_change(
    org: &Org,
    named: Option<DefinitionRef>,
    message: Option<String>,
) -> Result<(Option<Definition>, Option<String>), ApiError> {
    let definition = presence_definition(org, named)?;
    if definition.is_none() && message.is_none() {
        return Err(ApiError::bad_request(
            "Give a presenceDefinition, a message, or both",
        ));
    }
    Ok((definition, message))
}

/// The active presence definition a write names, with its system presence.
fn presence_definition(
    org: &Org,
    named: Option<DefinitionRef>,
) -> Result<Option<Definition>, ApiError> {
    let Some(def_id) = named.and_then(|d| d.id) else {
        return Ok(None);
    };
    let d = org
        .presence_definition(&def_id)
        .filter(|d| !d.deactivated)
        .ok_or_else(|| {
            ApiError::new(
                400,
                "invalid.value",
                "Invalid presence definition id [{id}]",
            )
            .param("id", def_id.as_str())
        })?;
    Ok(Some((d.id.clone(), d.system_presence.clone())))
}

/// Sets a user's Genesys Cloud presence and moves their routing status with it (module docs).
fn set_presence(
    org: &mut Org,
    id: &str,
    definition: Option<Definition>,
    message: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    let offline_sets_off_queue = org.behavior.offline_presence_sets_off_queue;
    let user = org.live_user_mut(id)?;
    match definition {
        Some((def_id, system)) => {
            user.set_presence(&def_id, message, now);
            if system == "OnQueue" {
                if user.routing_status.status == "OFF_QUEUE" {
                    user.set_routing_status("IDLE", now);
                }
            } else if system != "Offline" || offline_sets_off_queue {
                user.set_routing_status("OFF_QUEUE", now);
            }
        }
        None => {
            if let Some(p) = user.presence.as_mut() {
                p.message = message;
                p.modified_date = now;
            }
        }
    }
    Ok(())
}

/// `GET /api/v2/presence/definitions`: `deactivated=true` lists the deactivated ones.
pub fn get_presence_definitions(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let deactivated = call.query.bool("deactivated", false)?;
    call.query.one_of(
        "localeCode",
        &[
            "ALL", "he", "fr", "en_US", "da", "de", "it", "cs", "es", "fi", "ar", "ja", "ko", "nl",
            "no", "pl", "pt_BR", "pt_PT", "ru", "sv", "th", "tr", "uk", "zh_CN", "zh_TW",
        ],
        "ALL",
    )?;
    let entities: Vec<Value> = org
        .presence_definitions
        .iter()
        .filter(|d| d.deactivated == deactivated)
        .map(|d| {
            let label = d.label.clone().unwrap_or_else(|| d.system_presence.clone());
            json!({
                "id": d.id,
                "name": label,
                "type": d.r#type,
                "languageLabels": {"en_US": label},
                "systemPresence": d.system_presence,
                "deactivated": d.deactivated,
                "selfUri": format!("/api/v2/presence/definitions/{}", d.id),
            })
        })
        .collect();
    Ok(Reply::ok(json!({
        "total": entities.len(),
        "entities": entities,
        "selfUri": "/api/v2/presence/definitions",
    })))
}

/// `DELETE /api/v2/tokens/{userId}`: ends every session of the user.
pub fn delete_token(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let status = org.behavior.no_body_status;
    let user = org.live_user_mut(call.param("userId"))?;
    user.has_sessions = false;
    user.sessions_revoked_at = Some(call.now);
    Ok(Reply::empty(status))
}

/// `GET /api/v2/tokens/me`: the calling client's token.
pub fn get_tokens_me(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    call.query.bool("preserveIdleTTL", false)?;
    let organization = json!({"id": org.organization.id, "name": org.organization.name});
    Ok(Reply::ok(json!({
        "organization": organization,
        "homeOrganization": organization,
        "authorizedScope": [],
        "OAuthClient": {
            "id": call.caller.client_id,
            "name": call.caller.client_id,
            "authorizedGrantType": "CLIENT-CREDENTIALS",
            "organization": organization,
        },
    })))
}

/// `GET /api/v2/users/{subjectId}/roles`.
pub fn get_user_roles(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user = org.live_user(call.param("subjectId"))?;
    Ok(Reply::ok(render::authorization(org, user)))
}

/// The grants an authorization subject lists: all of them, or with
/// `behavior.groupGrantSubject` and without `includeDuplicates` one per role and division (the
/// direct grant when there is one, else the first).
fn listed_grants<'u>(org: &Org, user: &'u User, include_duplicates: bool) -> Vec<&'u Grant> {
    if !org.behavior.group_grant_subject || include_duplicates {
        return user.roles.iter().collect();
    }
    let rank = |i: usize, g: &Grant| (g.group_id.is_some(), i);
    user.roles
        .iter()
        .enumerate()
        .filter(|(i, g)| {
            !user.roles.iter().enumerate().any(|(j, o)| {
                o.role_id == g.role_id && o.division_id == g.division_id && rank(j, o) < rank(*i, g)
            })
        })
        .map(|(_, g)| g)
        .collect()
}

/// `GET /api/v2/authorization/subjects/{subjectId}`: grants with role and division.
pub fn get_authorization_subject(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let include_duplicates = call.query.bool("includeDuplicates", false)?;
    call.query.bool("includeFullRoles", false)?;
    let id = call.param("subjectId");
    let user = org.live_user(id)?;
    let grants: Vec<Value> = listed_grants(org, user, include_duplicates)
        .into_iter()
        .map(|g| {
            // The subject a grant is held by: the group it comes through, or the user.
            let subject = g
                .group_id
                .as_ref()
                .filter(|_| org.behavior.group_grant_subject)
                .unwrap_or(&user.id);
            let role = org.roles.iter().find(|r| r.id == g.role_id);
            let division = org.division_or_home(&g.division_id);
            json!({
                "subjectId": subject,
                "division": {
                    "id": division.id,
                    "name": division.name,
                    "homeDivision": division.id == org.home_division,
                    "selfUri": format!("/api/v2/authorization/divisions/{}", division.id),
                },
                "role": {
                    "id": g.role_id,
                    "name": role.map_or(g.role_id.as_str(), |r| r.name.as_str()),
                    "default": false,
                    "selfUri": format!("/api/v2/authorization/roles/{}", g.role_id),
                },
                "grantMadeAt": super::time::format(g.granted_at),
            })
        })
        .collect();
    Ok(Reply::ok(json!({
        "id": user.id,
        "name": user.name,
        "grants": grants,
        "selfUri": format!("/api/v2/authorization/subjects/{}", user.id),
    })))
}

#[derive(Debug, Deserialize)]
struct RoleDivisionGrants {
    grants: Option<Vec<RoleDivision>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleDivision {
    role_id: Option<String>,
    division_id: Option<String>,
}

/// `POST /api/v2/authorization/subjects/{subjectId}/bulkadd`: adds direct grants (users only).
pub fn post_authorization_subject_bulkadd(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let id = call.param("subjectId").to_owned();
    if call
        .query
        .get("subjectType")
        .is_some_and(|t| t != "PC_USER")
    {
        return Err(ApiError::not_found("Subject", &id));
    }
    org.live_user(&id)?;
    let body: RoleDivisionGrants = call.json()?;
    let grants = body.grants.ok_or_else(|| {
        ApiError::bad_request("grants is required").detail("required", Some("grants"))
    })?;
    let mut pairs = Vec::new();
    for g in grants {
        let (Some(role_id), Some(division_id)) = (g.role_id, g.division_id) else {
            return Err(ApiError::bad_request(
                "Each grant needs a roleId and a divisionId",
            ));
        };
        if !org.roles.iter().any(|r| r.id == role_id) {
            return Err(
                ApiError::new(400, "invalid.id", "Invalid role id [{id}]").param("id", role_id)
            );
        }
        if org.division(&division_id).is_none() {
            return Err(
                ApiError::new(400, "invalid.id", "Invalid division id [{id}]")
                    .param("id", division_id),
            );
        }
        pairs.push((role_id, division_id));
    }
    let status = org.behavior.no_body_status;
    let user = org.live_user_mut(&id)?;
    for (role_id, division_id) in pairs {
        let exists = user
            .roles
            .iter()
            .any(|g| g.role_id == role_id && g.division_id == division_id && g.group_id.is_none());
        if !exists {
            user.roles.push(Grant {
                role_id,
                division_id,
                group_id: None,
                granted_at: call.now,
            });
        }
    }
    Ok(Reply::empty(status))
}

/// `GET /api/v2/organizations/me`.
pub fn get_organizations_me(org: &mut Org, _call: &Call<'_>) -> Result<Reply, ApiError> {
    let o = &org.organization;
    Ok(Reply::ok(json!({
        "id": o.id,
        "name": o.name,
        "defaultLanguage": "en_US",
        "thirdPartyOrgName": o.name.to_lowercase().replace(' ', "-"),
        "version": 1,
        "state": "active",
        "productPlatform": "GenesysCloud",
        "selfUri": format!("/api/v2/organizations/{}", o.id),
    })))
}
