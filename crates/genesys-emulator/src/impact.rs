//! What names a user elsewhere in the org, read-only: Architect dependency tracking, alert
//! rules, OAuth clients, media retention policies, the WFM management unit of an agent, licences,
//! DIDs, extensions and phones. An offboarding's impact preflight reads these before its first
//! write; the fixture's `impact` section holds the objects (see [`ImpactFixture`]).
//!
//! Shapes and parameters are those of the Python SDK 269.0.0 (contract/genesys-contract.json).
//! Paging follows the other listings (`pageSize`/`pageNumber`, `behavior.maxPageSize` and
//! `behavior.pageSizeOverMax`), except where the API has its own limit: alert rules pages hold
//! at most 50 (the SDK documents it), a licence batch at most 100 ids, and `GET
//! /api/v2/oauth/clients` has no paging at all (the SDK sends no parameter).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::call::{Call, ListingShape, Page, Reply, listing};
use super::errors::ApiError;
use super::fixture::{AlertRuleFixture, ImpactFixture, NamedEntity, NumberFixture};
use super::state::Org;
use super::time;

/// Dependency-tracking object types (`objectType`, contract enum).
const OBJECT_TYPES: &[&str] = &[
    "ACDLANGUAGE",
    "ACDSKILL",
    "ACDWRAPUPCODE",
    "BOTFLOW",
    "COMMONMODULEFLOW",
    "DATAACTION",
    "DATATABLE",
    "EMAILROUTE",
    "GROUP",
    "INBOUNDCALLFLOW",
    "INBOUNDCHATFLOW",
    "INBOUNDEMAILFLOW",
    "INBOUNDSHORTMESSAGEFLOW",
    "INQUEUECALLFLOW",
    "INQUEUEEMAILFLOW",
    "INQUEUESHORTMESSAGEFLOW",
    "IVRCONFIGURATION",
    "OAUTHCLIENT",
    "OUTBOUNDCALLFLOW",
    "QUEUE",
    "RECORDINGPOLICY",
    "SCHEDULE",
    "SCHEDULEGROUP",
    "SECURECALLFLOW",
    "SURVEYINVITEFLOW",
    "USER",
    "USERPROMPT",
    "VOICEFLOW",
    "VOICEMAILFLOW",
    "VOICESURVEYFLOW",
    "WORKFLOW",
    "WORKITEMFLOW",
];

fn page_of(org: &Org, call: &Call<'_>, max: usize) -> Result<Page, ApiError> {
    Page::from_query_within(
        &call.query,
        25,
        max.min(org.behavior.max_page_size as usize),
        org.behavior.page_size_over_max,
    )
}

fn user_ref(id: &str) -> Value {
    json!({"id": id, "selfUri": format!("/api/v2/users/{id}")})
}

fn named_user_ref(org: &Org, id: &str) -> Value {
    let mut r = user_ref(id);
    if let Some(u) = org.user(id) {
        r["name"] = json!(u.name);
    }
    r
}

fn when(org: &Org, text: &str) -> String {
    time::format(time::resolve(text, org.epoch).unwrap_or(org.epoch))
}

fn data(org: &Org) -> &ImpactFixture {
    &org.impact
}

/// `GET /api/v2/architect/dependencytracking/consumingresources`: what consumes object `id` of
/// `objectType`. Only users are consumed in the emulator (by flows); any other known type has
/// no consumers. `resourceType` narrows the consumer types, `flowFilter` to checked-in or
/// published flows.
pub fn get_architect_dependencytracking_consumingresources(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let q = &call.query;
    let id = q
        .get("id")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request("Missing the required parameter id"))?;
    let object_type = q
        .get("objectType")
        .ok_or_else(|| ApiError::bad_request("Missing the required parameter objectType"))?;
    if !OBJECT_TYPES.contains(&object_type) {
        return Err(ApiError::invalid_value(
            object_type,
            "objectType",
            OBJECT_TYPES,
        ));
    }
    let resource_types = q.list("resourceType");
    let flow_filter = match q.get("flowFilter") {
        None => None,
        Some(f @ ("checkedIn" | "published")) => Some(f),
        Some(other) => {
            return Err(ApiError::invalid_value(
                other,
                "flowFilter",
                &["checkedIn", "published"],
            ));
        }
    };
    let page = page_of(org, call, 100)?;
    let mut flows: Vec<_> = data(org)
        .flows
        .iter()
        .filter(|_| object_type == "USER")
        .filter(|f| f.users.iter().any(|u| u == id))
        .filter(|f| resource_types.is_empty() || resource_types.contains(&f.r#type))
        .filter(|f| flow_filter != Some("published") || f.published)
        .collect();
    flows.sort_by_key(|f| f.name.to_lowercase());
    let entities = page
        .slice(&flows)
        .into_iter()
        .map(|f| {
            json!({
                "id": f.id,
                "name": f.name,
                "version": f.version,
                "type": f.r#type,
                "deleted": false,
                "updated": false,
                "stateUnknown": false,
                "selfUri": format!("/api/v2/architect/dependencytracking/objects/{}", f.id),
            })
        })
        .collect();
    Ok(Reply::ok(listing(
        call.path,
        q,
        page,
        flows.len(),
        entities,
        ListingShape::Full,
    )))
}

/// The body of `POST /api/v2/alerting/rules/query` (`GetRulesQuery`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RulesQuery {
    rule_type: Option<String>,
    query_type: Option<String>,
    enabled_type: Option<String>,
    page_number: Option<i64>,
    page_size: Option<i64>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    rule_name: Option<String>,
    name_search_type: Option<String>,
}

fn check_enum(value: Option<&str>, field: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(ApiError::invalid_value(v, field, allowed)),
        _ => Ok(()),
    }
}

/// `POST /api/v2/alerting/rules/query`: a page (at most 50) of alert rules. `ruleType` and
/// `queryType` are required in the body; `queryType: Count` answers the total without
/// entities.
pub fn post_alerting_rules_query(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let body: RulesQuery = call.json()?;
    let rule_type = body
        .rule_type
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("ruleType is required"))?;
    let query_type = body
        .query_type
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("queryType is required"))?;
    check_enum(
        Some(rule_type),
        "ruleType",
        &[
            "Conversation",
            "Presence",
            "WorkforceManagement",
            "OperationalConsole",
            "Anomaly",
            "All",
        ],
    )?;
    check_enum(Some(query_type), "queryType", &["Info", "Count"])?;
    check_enum(
        body.enabled_type.as_deref(),
        "enabledType",
        &["Enabled", "Disabled", "All"],
    )?;
    check_enum(body.sort_by.as_deref(), "sortBy", &["Name", "DateCreated"])?;
    check_enum(body.sort_order.as_deref(), "sortOrder", &["Asc", "Desc"])?;
    check_enum(
        body.name_search_type.as_deref(),
        "nameSearchType",
        &["Exact", "Contains", "Unknown"],
    )?;
    let page = Page::within(
        body.page_size.unwrap_or(25),
        body.page_number.unwrap_or(1),
        50,
        org.behavior.page_size_over_max,
    )?;
    let wanted_type = match rule_type {
        "Conversation" => Some("ConversationMetrics"),
        "Presence" => Some("UserPresence"),
        "All" => None,
        other => Some(other),
    };
    let name = body.rule_name.as_deref().map(str::to_lowercase);
    let exact = body.name_search_type.as_deref() == Some("Exact");
    let mut rules: Vec<_> = data(org)
        .alert_rules
        .iter()
        .filter(|r| wanted_type.is_none_or(|t| t == r.r#type))
        .filter(|r| match body.enabled_type.as_deref() {
            Some("Enabled") => r.enabled,
            Some("Disabled") => !r.enabled,
            _ => true,
        })
        .filter(|r| {
            name.as_deref().is_none_or(|n| {
                let have = r.name.to_lowercase();
                if exact { have == n } else { have.contains(n) }
            })
        })
        .collect();
    if body.sort_by.as_deref() == Some("DateCreated") {
        rules.sort_by_key(|r| time::resolve(&r.date_created, org.epoch).unwrap_or(org.epoch));
    } else {
        rules.sort_by_key(|r| r.name.to_lowercase());
    }
    if body.sort_order.as_deref() == Some("Desc") {
        rules.reverse();
    }
    let entities: Vec<Value> = if query_type == "Count" {
        Vec::new()
    } else {
        page.slice(&rules)
            .into_iter()
            .map(|r| render_rule(org, r))
            .collect()
    };
    Ok(Reply::ok(listing(
        call.path,
        &call.query,
        page,
        rules.len(),
        entities,
        ListingShape::Full,
    )))
}

/// A `CommonRule`.
fn render_rule(org: &Org, r: &AlertRuleFixture) -> Value {
    let created = when(org, &r.date_created);
    json!({
        "id": r.id,
        "name": r.name,
        "enabled": r.enabled,
        "type": r.r#type,
        "inAlarm": false,
        "notifications": r.recipients.iter().map(|u| json!({
            "recipient": u,
            "notificationTypes": ["Email", "Sms"],
        })).collect::<Vec<_>>(),
        "version": 1,
        "dateCreated": created,
        "dateLastModified": created,
        "selfUri": format!("/api/v2/alerting/rules/{}", r.id),
    })
}

/// `GET /api/v2/oauth/clients`: every OAuth client of the org in one answer (the API pages
/// nothing here). Secrets are never listed.
pub fn get_oauth_clients(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let clients = &data(org).oauth_clients;
    let entities: Vec<Value> = clients
        .iter()
        .map(|c| {
            let mut out = Map::new();
            out.insert("id".into(), json!(c.id));
            out.insert("name".into(), json!(c.name));
            out.insert("authorizedGrantType".into(), json!(c.authorized_grant_type));
            out.insert("state".into(), json!(c.state));
            out.insert("dateCreated".into(), json!(when(org, &c.date_created)));
            if let Some(u) = &c.created_by {
                out.insert("createdBy".into(), named_user_ref(org, u));
            }
            out.insert(
                "selfUri".into(),
                json!(format!("/api/v2/oauth/clients/{}", c.id)),
            );
            Value::Object(out)
        })
        .collect();
    let total = entities.len();
    Ok(Reply::ok(json!({
        "entities": entities,
        "pageSize": total.max(1),
        "pageNumber": 1,
        "total": total,
        "pageCount": 1,
        "firstUri": format!("{}?pageSize={}&pageNumber=1", call.path, total.max(1)),
        "selfUri": format!("{}?pageSize={}&pageNumber=1", call.path, total.max(1)),
        "lastUri": format!("{}?pageSize={}&pageNumber=1", call.path, total.max(1)),
    })))
}

fn policy_user(org: &Org, id: &str) -> Value {
    let mut out = named_user_ref(org, id);
    if let Some(u) = org.user(id) {
        out["version"] = json!(u.version);
    }
    out
}

/// `GET /api/v2/recording/mediaretentionpolicies`: paged, filtered by `name` (prefix, any
/// case) and `enabled`; `summary=true` leaves out conditions and actions.
pub fn get_recording_mediaretentionpolicies(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let q = &call.query;
    let page = page_of(org, call, 100)?;
    let summary = q.bool("summary", false)?;
    let enabled = match q.get("enabled") {
        None => None,
        Some(_) => Some(q.bool("enabled", true)?),
    };
    let name = q.get("name").map(str::to_lowercase);
    let mut policies: Vec<_> = data(org)
        .retention_policies
        .iter()
        .filter(|p| enabled.is_none_or(|e| p.enabled == e))
        .filter(|p| {
            name.as_deref()
                .is_none_or(|n| p.name.to_lowercase().starts_with(n))
        })
        .collect();
    policies.sort_by_key(|p| p.name.to_lowercase());
    let entities = page
        .slice(&policies)
        .into_iter()
        .map(|p| {
            let mut out = Map::new();
            out.insert("id".into(), json!(p.id));
            out.insert("name".into(), json!(p.name));
            out.insert("enabled".into(), json!(p.enabled));
            out.insert("order".into(), json!(0));
            if !summary {
                let for_users: Vec<Value> =
                    p.for_users.iter().map(|u| policy_user(org, u)).collect();
                let form = p.evaluation_form.as_ref().map(
                    |f: &NamedEntity| json!({"id": f.id, "name": f.name, "questionGroups": []}),
                );
                let assignments: Vec<Value> = p
                    .evaluators
                    .iter()
                    .map(|u| {
                        let mut a = json!({"user": policy_user(org, u)});
                        if let Some(form) = &form {
                            a["evaluationForm"] = form.clone();
                        }
                        a
                    })
                    .collect();
                out.insert(
                    "mediaPolicies".into(),
                    json!({"callPolicy": {
                        "conditions": {"forUsers": for_users},
                        "actions": {"retainRecording": true, "assignEvaluations": assignments},
                    }}),
                );
            }
            out.insert(
                "selfUri".into(),
                json!(format!("/api/v2/recording/mediaretentionpolicies/{}", p.id)),
            );
            Value::Object(out)
        })
        .collect();
    Ok(Reply::ok(listing(
        call.path,
        q,
        page,
        policies.len(),
        entities,
        ListingShape::Full,
    )))
}

/// `GET /api/v2/workforcemanagement/agents/{agentId}/managementunit`: 404 when the user is
/// unknown or in no management unit.
pub fn get_workforcemanagement_agent_managementunit(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let id = call.param("agentId");
    org.live_user(id)?;
    let unit = data(org)
        .management_units
        .iter()
        .find(|m| m.agents.iter().any(|a| a == id))
        .ok_or_else(|| ApiError::not_found("Management unit of agent", id))?;
    Ok(Reply::ok(json!({
        "user": user_ref(id),
        "managementUnit": {
            "id": unit.id,
            "selfUri": format!("/api/v2/workforcemanagement/businessunits/{}/managementunits/{}", unit.business_unit_id, unit.id),
        },
        "businessUnit": {
            "id": unit.business_unit_id,
            "selfUri": format!("/api/v2/workforcemanagement/businessunits/{}", unit.business_unit_id),
        },
    })))
}

/// The most user ids one `POST /api/v2/license/users` takes.
pub const LICENSE_BATCH_MAX: usize = 100;

/// `POST /api/v2/license/users` with a list of user ids: each known, not deleted user's id to
/// the list of its licence ids (empty when none); other ids are left out.
pub fn post_license_users(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let ids: Vec<String> = call.json()?;
    if ids.len() > LICENSE_BATCH_MAX {
        return Err(
            ApiError::bad_request("At most [{max}] user ids can be fetched at once")
                .param("max", LICENSE_BATCH_MAX.to_string()),
        );
    }
    let mut out = Map::new();
    for id in ids {
        if org.live_user(&id).is_ok() {
            let licenses = data(org).licenses.get(&id).cloned().unwrap_or_default();
            out.insert(id, json!(licenses));
        }
    }
    Ok(Reply::ok(Value::Object(out)))
}

fn sort_numbers(numbers: &mut [&NumberFixture], call: &Call<'_>) -> Result<(), ApiError> {
    let q = &call.query;
    let by = q.one_of("sortBy", &["number", "id"], "number")?;
    let desc = q.one_of("sortOrder", &["ASC", "DESC", "asc", "desc"], "ASC")?;
    if by == "id" {
        numbers.sort_by(|a, b| a.id.cmp(&b.id));
    } else {
        numbers.sort_by(|a, b| a.number.cmp(&b.number));
    }
    if desc.eq_ignore_ascii_case("desc") {
        numbers.reverse();
    }
    Ok(())
}

fn number_entity(
    org: &Org,
    n: &NumberFixture,
    field: &str,
    pool: &str,
    epoch: DateTime<Utc>,
) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(n.id));
    out.insert("name".into(), json!(n.number));
    out.insert("state".into(), json!("active"));
    out.insert("version".into(), json!(1));
    out.insert("dateCreated".into(), json!(time::format(epoch)));
    out.insert(field.into(), json!(n.number));
    if let (Some(owner), Some(t)) = (&n.owner, &n.owner_type) {
        let name = if t == "USER" {
            org.user(owner).map(|u| u.name.clone())
        } else {
            None
        };
        let mut r = json!({"id": owner});
        if let Some(name) = name {
            r["name"] = json!(name);
        }
        out.insert("owner".into(), r);
        out.insert("ownerType".into(), json!(t));
    }
    out.insert(
        "selfUri".into(),
        json!(format!("/api/v2/telephony/providers/edges/{pool}/{}", n.id)),
    );
    Value::Object(out)
}

/// `GET /api/v2/telephony/providers/edges/dids`: paged, filtered by `phoneNumber`, `owner.id`
/// and `id`.
pub fn get_telephony_providers_edges_dids(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let q = &call.query;
    let page = page_of(org, call, 100)?;
    let ids = q.list("id");
    let mut dids: Vec<_> = data(org)
        .dids
        .iter()
        .filter(|d| q.get("phoneNumber").is_none_or(|p| p == d.number))
        .filter(|d| {
            q.get("owner.id")
                .is_none_or(|o| d.owner.as_deref() == Some(o))
        })
        .filter(|d| ids.is_empty() || ids.contains(&d.id))
        .collect();
    sort_numbers(&mut dids, call)?;
    let epoch = org.epoch;
    let entities = page
        .slice(&dids)
        .into_iter()
        .map(|d| number_entity(org, d, "phoneNumber", "dids", epoch))
        .collect();
    let mut body = listing(call.path, q, page, dids.len(), entities, ListingShape::Full);
    body["totalNumberOfEntities"] = json!(dids.len());
    Ok(Reply::ok(body))
}

/// `GET /api/v2/telephony/providers/edges/extensions`: paged, filtered by `number`.
pub fn get_telephony_providers_edges_extensions(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let q = &call.query;
    let page = page_of(org, call, 100)?;
    let mut extensions: Vec<_> = data(org)
        .extensions
        .iter()
        .filter(|e| q.get("number").is_none_or(|n| n == e.number))
        .collect();
    sort_numbers(&mut extensions, call)?;
    let epoch = org.epoch;
    let entities = page
        .slice(&extensions)
        .into_iter()
        .map(|e| number_entity(org, e, "number", "extensions", epoch))
        .collect();
    let mut body = listing(
        call.path,
        q,
        page,
        extensions.len(),
        entities,
        ListingShape::Full,
    );
    body["totalNumberOfEntities"] = json!(extensions.len());
    Ok(Reply::ok(body))
}

/// `GET /api/v2/telephony/providers/edges/phones`: paged, filtered by `webRtcUser.id`,
/// `site.id`, `phoneBaseSettings.id` and `name` (comma-separated names).
pub fn get_telephony_providers_edges_phones(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let q = &call.query;
    let page = page_of(org, call, 100)?;
    let desc = q
        .one_of("sortOrder", &["ASC", "DESC", "asc", "desc"], "ASC")?
        .eq_ignore_ascii_case("desc");
    let by = q.one_of(
        "sortBy",
        &[
            "id",
            "name",
            "status.operationalStatus",
            "secondaryStatus.operationalStatus",
        ],
        "name",
    )?;
    let names: Vec<String> = q.list("name");
    let mut phones: Vec<_> = data(org)
        .phones
        .iter()
        .filter(|p| {
            q.get("webRtcUser.id")
                .is_none_or(|u| p.web_rtc_user.as_deref() == Some(u))
        })
        .filter(|p| q.get("site.id").is_none_or(|s| p.site.id == s))
        .filter(|p| {
            q.get("phoneBaseSettings.id")
                .is_none_or(|s| p.phone_base_settings.id == s)
        })
        .filter(|p| names.is_empty() || names.contains(&p.name))
        .collect();
    if by == "id" {
        phones.sort_by(|a, b| a.id.cmp(&b.id));
    } else {
        phones.sort_by_key(|p| p.name.to_lowercase());
    }
    if desc {
        phones.reverse();
    }
    let entities = page
        .slice(&phones)
        .into_iter()
        .map(|p| {
            let mut out = json!({
                "id": p.id,
                "name": p.name,
                "state": "active",
                "site": {"id": p.site.id, "name": p.site.name, "selfUri": format!("/api/v2/telephony/providers/edges/sites/{}", p.site.id)},
                "phoneBaseSettings": {"id": p.phone_base_settings.id, "name": p.phone_base_settings.name, "selfUri": format!("/api/v2/telephony/providers/edges/phonebasesettings/{}", p.phone_base_settings.id)},
                "lines": [{"id": format!("{}-line1", p.id), "name": format!("{} line 1", p.name), "state": "active"}],
                "selfUri": format!("/api/v2/telephony/providers/edges/phones/{}", p.id),
            });
            if let Some(u) = &p.web_rtc_user {
                let mut r = json!({"id": u, "selfUri": format!("/api/v2/users/{u}")});
                if let Some(user) = org.user(u) {
                    r["name"] = json!(user.name);
                }
                out["webRtcUser"] = r;
            }
            out
        })
        .collect();
    let mut body = listing(
        call.path,
        q,
        page,
        phones.len(),
        entities,
        ListingShape::Full,
    );
    body["totalNumberOfEntities"] = json!(phones.len());
    Ok(Reply::ok(body))
}
