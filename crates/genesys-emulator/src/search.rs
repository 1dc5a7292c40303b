//! User search: `POST /api/v2/users/search` and its `GET ?q64=` replay (docs/genesys-api.md §3.4).
//!
//! Criteria (`UserSearchCriteria`) are combined the way the search service does: criteria
//! with `operator` `AND` (the default) must all match, `NOT` ones must not match, and when
//! some are `OR` at least one of those must match. `group` nests criteria. Text matching is
//! case-insensitive. Deleted users are left out unless a criterion names the `state` field;
//! inactive ones too when `behavior.searchIncludesInactiveByDefault` is false. Search reads the
//! index ([`Org::search_view`]): for `behavior.searchIndexLagMs` after a state change it still
//! matches and shows the user as they were.
//!
//! The `q64` page links carry the request as URL-safe base64 JSON (the real service gzips it
//! first; clients treat it as opaque).

use std::cmp::Ordering;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use regex::RegexBuilder;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::call::{Call, Expand, INTEGRATION_PRESENCE_SOURCES, Page, Reply};
use super::errors::ApiError;
use super::render;
use super::state::{Org, User, UserState};

const TYPES: &[&str] = &[
    "EXACT",
    "STARTS_WITH",
    "CONTAINS",
    "REGEX",
    "TERM",
    "TERMS",
    "REQUIRED_FIELDS",
    "MATCH_ALL",
    "QUERY_STRING",
    "RANGE",
    "LESS_THAN",
    "LESS_THAN_EQUAL_TO",
    "GREATER_THAN",
    "GREATER_THAN_EQUAL_TO",
];

/// Fields a criterion may name.
const FIELDS: &[&str] = &[
    "id",
    "name",
    "email",
    "username",
    "state",
    "department",
    "title",
    "division.id",
    "divisionId",
    "manager.id",
    "primaryContactInfo.address",
    "groups.id",
    "routingStatus.status",
];

/// Text fields searched by `QUERY_STRING` without `fields`.
const DEFAULT_TEXT_FIELDS: &[&str] = &["name", "email", "username", "department", "title"];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    sort_order: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sort_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    page_size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    page_number: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sort: Option<Vec<SearchSort>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expand: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<Vec<Criterion>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    integration_presence_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enforce_permissions: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchSort {
    #[serde(skip_serializing_if = "Option::is_none")]
    sort_order: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sort_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Criterion {
    #[serde(skip_serializing_if = "Option::is_none")]
    r#type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<Vec<Criterion>>,
}

/// `POST /api/v2/users/search`.
pub fn post_users_search(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let request: SearchRequest = call.json()?;
    run(org, &request, None)
}

/// `GET /api/v2/users/search?q64=...`: replays a page link; `expand` may be given again.
pub fn get_users_search(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let q64 = call
        .query
        .get("q64")
        .ok_or_else(|| ApiError::bad_request("Missing the required parameter q64"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(q64.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(q64))
        .map_err(|_| ApiError::bad_request("q64 is not valid base64"))?;
    let request: SearchRequest = serde_json::from_slice(&bytes)
        .map_err(|_| ApiError::bad_request("q64 does not hold a search request"))?;
    let expand = call.query.list("expand");
    run(org, &request, (!expand.is_empty()).then_some(expand))
}

fn q64(request: &SearchRequest, page_number: usize) -> Result<String, ApiError> {
    let mut r = request.clone();
    r.page_number = i64::try_from(page_number).ok();
    let text = serde_json::to_vec(&r).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(format!(
        "/api/v2/users/search?q64={}",
        URL_SAFE_NO_PAD.encode(text)
    ))
}

fn run(
    org: &Org,
    request: &SearchRequest,
    expand_override: Option<Vec<String>>,
) -> Result<Reply, ApiError> {
    let page = Page::within(
        request.page_size.unwrap_or(25),
        request.page_number.unwrap_or(1),
        org.behavior.max_page_size as usize,
        org.behavior.page_size_over_max,
    )?;
    if let Some(order) = &request.sort_order {
        check_sort_order(order)?;
    }
    if let Some(source) = &request.integration_presence_source
        && !INTEGRATION_PRESENCE_SOURCES.contains(&source.as_str())
    {
        return Err(ApiError::invalid_value(
            source,
            "integrationPresenceSource",
            INTEGRATION_PRESENCE_SOURCES,
        ));
    }
    let expand =
        Expand::new(expand_override.unwrap_or_else(|| request.expand.clone().unwrap_or_default()))?;
    let criteria = request.query.clone().unwrap_or_default();
    for c in &criteria {
        validate(c)?;
    }
    let names_state = criteria.iter().any(names_state);
    let mut hits: Vec<&User> = Vec::new();
    for u in org.users.iter().map(|live| org.search_view(live)) {
        if !names_state
            && (u.state == UserState::Deleted
                || (u.state == UserState::Inactive
                    && !org.behavior.search_includes_inactive_by_default))
        {
            continue;
        }
        if matches_all(org, u, &criteria)? {
            hits.push(u);
        }
    }
    sort(org, &mut hits, request);
    let total = hits.len();
    let page_count = page.page_count(total);
    let results: Vec<Value> = page
        .slice(&hits)
        .into_iter()
        .map(|u| render::user(org, u, &expand))
        .collect();
    let mut out = Map::new();
    out.insert("total".into(), json!(total));
    out.insert("pageCount".into(), json!(page_count));
    out.insert("pageSize".into(), json!(page.size));
    out.insert("pageNumber".into(), json!(page.number));
    out.insert("types".into(), json!(["users"]));
    out.insert("results".into(), Value::Array(results));
    out.insert("currentPage".into(), json!(q64(request, page.number)?));
    if page.number < page_count {
        out.insert("nextPage".into(), json!(q64(request, page.number + 1)?));
    }
    if page.number > 1 {
        out.insert("previousPage".into(), json!(q64(request, page.number - 1)?));
    }
    Ok(Reply::ok(Value::Object(out)))
}

fn check_sort_order(order: &str) -> Result<(), ApiError> {
    if ["ASC", "DESC", "SCORE"].contains(&order) {
        Ok(())
    } else {
        Err(ApiError::invalid_value(
            order,
            "sortOrder",
            &["ASC", "DESC", "SCORE"],
        ))
    }
}

fn validate(c: &Criterion) -> Result<(), ApiError> {
    if let Some(op) = &c.operator
        && !["AND", "OR", "NOT"].contains(&op.as_str())
    {
        return Err(ApiError::invalid_value(
            op,
            "operator",
            &["AND", "OR", "NOT"],
        ));
    }
    if let Some(group) = &c.group {
        return group.iter().try_for_each(validate);
    }
    let kind = c.r#type.as_deref().ok_or_else(|| {
        ApiError::bad_request("Each search criterion needs a type").detail("required", Some("type"))
    })?;
    if !TYPES.contains(&kind) {
        return Err(ApiError::invalid_value(kind, "type", TYPES));
    }
    let fields = c.fields.as_deref().unwrap_or_default();
    for f in fields {
        if !FIELDS.contains(&f.as_str()) {
            return Err(ApiError::bad_request("Field [{field}] cannot be searched")
                .param("field", f.as_str()));
        }
    }
    let needs_fields = !matches!(kind, "MATCH_ALL" | "QUERY_STRING");
    if needs_fields && fields.is_empty() {
        return Err(
            ApiError::bad_request("Search criterion of type {type} needs fields")
                .param("type", kind),
        );
    }
    let has_value = c.value.is_some() || c.values.as_ref().is_some_and(|v| !v.is_empty());
    let ok = match kind {
        "MATCH_ALL" | "REQUIRED_FIELDS" => true,
        "RANGE" => c.start_value.is_some() || c.end_value.is_some(),
        _ => has_value,
    };
    if !ok {
        return Err(
            ApiError::bad_request("Search criterion of type {type} needs a value")
                .param("type", kind),
        );
    }
    Ok(())
}

fn names_state(c: &Criterion) -> bool {
    c.fields
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|f| f == "state")
        || c.group
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(names_state)
}

fn matches_all(org: &Org, u: &User, criteria: &[Criterion]) -> Result<bool, ApiError> {
    let mut any_or = false;
    let mut or_hit = false;
    for c in criteria {
        let hit = matches(org, u, c)?;
        match c.operator.as_deref().unwrap_or("AND") {
            "NOT" if hit => return Ok(false),
            "OR" => {
                any_or = true;
                or_hit |= hit;
            }
            "AND" if !hit => return Ok(false),
            _ => {}
        }
    }
    Ok(!any_or || or_hit)
}

fn field_values(org: &Org, u: &User, field: &str) -> Vec<String> {
    match field {
        "id" => vec![u.id.clone()],
        "name" => vec![u.name.clone()],
        "email" | "primaryContactInfo.address" => vec![u.email.clone()],
        "username" => vec![u.username.clone()],
        "state" => vec![u.state.as_str().to_owned()],
        "department" => u.department.clone().into_iter().collect(),
        "title" => u.title.clone().into_iter().collect(),
        "division.id" | "divisionId" => vec![org.division_or_home(&u.division_id).id],
        "manager.id" => u.manager_id.clone().into_iter().collect(),
        "groups.id" => u.groups.clone(),
        "routingStatus.status" => vec![u.routing_status.status.clone()],
        _ => Vec::new(),
    }
}

fn matches(org: &Org, u: &User, c: &Criterion) -> Result<bool, ApiError> {
    if let Some(group) = &c.group {
        return matches_all(org, u, group);
    }
    let kind = c.r#type.as_deref().unwrap_or_default();
    let named: Vec<&str> = c
        .fields
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    let fields: &[&str] = if named.is_empty() {
        DEFAULT_TEXT_FIELDS
    } else {
        &named
    };
    let wanted: Vec<String> = c
        .value
        .iter()
        .chain(c.values.iter().flatten())
        .map(|v| v.to_lowercase())
        .collect();
    let values: Vec<String> = fields
        .iter()
        .flat_map(|f| field_values(org, u, f))
        .map(|v| v.to_lowercase())
        .collect();
    Ok(match kind {
        "MATCH_ALL" => true,
        "EXACT" => values.iter().any(|v| wanted.contains(v)),
        "STARTS_WITH" => values
            .iter()
            .any(|v| wanted.iter().any(|w| v.starts_with(w.as_str()))),
        "CONTAINS" => values
            .iter()
            .any(|v| wanted.iter().any(|w| v.contains(w.as_str()))),
        "TERM" | "TERMS" => values.iter().any(|v| {
            v.split(|ch: char| !ch.is_alphanumeric())
                .any(|token| wanted.iter().any(|w| w == token))
        }),
        "REQUIRED_FIELDS" => fields
            .iter()
            .all(|f| field_values(org, u, f).iter().any(|v| !v.is_empty())),
        "QUERY_STRING" => wanted.iter().all(|w| {
            w.split_whitespace()
                .all(|word| values.iter().any(|v| v.contains(word)))
        }),
        "REGEX" => {
            let mut hit = false;
            for w in c.value.iter().chain(c.values.iter().flatten()) {
                let re = RegexBuilder::new(&format!("^(?:{w})$"))
                    .case_insensitive(true)
                    .build()
                    .map_err(|_| {
                        ApiError::bad_request("Invalid regular expression [{regex}]")
                            .param("regex", w.as_str())
                    })?;
                hit |= values.iter().any(|v| re.is_match(v));
            }
            hit
        }
        "RANGE" => values.iter().any(|v| {
            c.start_value
                .as_ref()
                .is_none_or(|s| compare(v, &s.to_lowercase()) != Ordering::Less)
                && c.end_value
                    .as_ref()
                    .is_none_or(|e| compare(v, &e.to_lowercase()) != Ordering::Greater)
        }),
        "LESS_THAN" => values
            .iter()
            .any(|v| wanted.iter().any(|w| compare(v, w) == Ordering::Less)),
        "LESS_THAN_EQUAL_TO" => values
            .iter()
            .any(|v| wanted.iter().any(|w| compare(v, w) != Ordering::Greater)),
        "GREATER_THAN" => values
            .iter()
            .any(|v| wanted.iter().any(|w| compare(v, w) == Ordering::Greater)),
        "GREATER_THAN_EQUAL_TO" => values
            .iter()
            .any(|v| wanted.iter().any(|w| compare(v, w) != Ordering::Less)),
        _ => false,
    })
}

/// Numbers compare as numbers, everything else as text.
fn compare(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn sort(org: &Org, hits: &mut [&User], request: &SearchRequest) {
    let mut keys: Vec<(String, bool)> = Vec::new();
    if let Some(by) = &request.sort_by {
        keys.push((by.clone(), request.sort_order.as_deref() == Some("DESC")));
    }
    for s in request.sort.iter().flatten() {
        if let Some(by) = &s.sort_by {
            keys.push((by.clone(), s.sort_order.as_deref() == Some("DESC")));
        }
    }
    if keys.is_empty() {
        return;
    }
    hits.sort_by(|a, b| {
        for (field, desc) in &keys {
            let x = field_values(org, a, field).join(",").to_lowercase();
            let y = field_values(org, b, field).join(",").to_lowercase();
            let o = compare(&x, &y);
            if o != Ordering::Equal {
                return if *desc { o.reverse() } else { o };
            }
        }
        Ordering::Equal
    });
}
