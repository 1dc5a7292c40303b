//! The work a departing agent hands off: direct reports (the users' `manager`), direct-routing
//! backup settings, task-management workitems and voicemail messages. Shapes are the Python SDK
//! 269's (`AgentDirectRoutingBackupSettings`, `WorkitemQueryPostRequest`, `Workitem`,
//! `WorkitemUpdate`, `VoicemailMessage`, `CopyVoicemailMessage`).

use serde_json::{Map, Value, json};

use super::call::{Call, Expand, ListingShape, Page, Reply, decode_cursor, encode_cursor, listing};
use super::errors::ApiError;
use super::render;
use super::state::{Backup, Org, VoicemailState, WorkitemState};
use super::time::format as rfc3339;

/// The largest `pageSize` of a workitem query.
const WORKITEM_MAX_PAGE: usize = 200;
/// The largest `pageSize` of a voicemail listing.
const VOICEMAIL_MAX_PAGE: usize = 100;
/// The workitem status categories a workitem can be in.
const STATUS_CATEGORIES: &[&str] = &["Open", "InProgress", "Waiting", "Closed", "Unknown"];
/// The workitem query filter operators (`WorkitemFilter.operator`).
const OPERATORS: &[&str] = &[
    "EQ",
    "NEQ",
    "GT",
    "LT",
    "GTE",
    "LTE",
    "IN",
    "CONTAINS",
    "BETWEEN",
    "BEGINS_WITH",
];

fn user_ref(org: &Org, id: &str) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    if let Some(u) = org.user(id) {
        out.insert("name".into(), json!(u.name));
    }
    out.insert("selfUri".into(), json!(format!("/api/v2/users/{id}")));
    Value::Object(out)
}

/// `GET /api/v2/users/{userId}/directreports`.
pub fn get_user_directreports(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId");
    let expand = Expand::from_query(&call.query)?;
    org.live_user(id)?;
    let reports: Vec<Value> = org
        .users
        .iter()
        .filter(|u| !u.is_deleted() && u.manager_id.as_deref() == Some(id))
        .map(|u| render::user(org, u, &expand))
        .collect();
    Ok(Reply::ok(Value::Array(reports)))
}

fn backup_json(org: &Org, id: &str) -> Value {
    let backup = org.handoff.backups.get(id).cloned().unwrap_or_default();
    let backed_up: Vec<&str> = org
        .handoff
        .backups
        .iter()
        .filter(|(_, b)| b.user_id.as_deref() == Some(id))
        .map(|(user, _)| user.as_str())
        .collect();
    let mut out = Map::new();
    if let Some(q) = &backup.queue_id {
        out.insert("queueId".into(), json!(q));
    }
    if let Some(u) = &backup.user_id {
        out.insert("userId".into(), json!(u));
    }
    if let Some(w) = backup.wait_for_agent {
        out.insert("waitForAgent".into(), json!(w));
    }
    if let Some(s) = backup.agent_wait_seconds {
        out.insert("agentWaitSeconds".into(), json!(s));
    }
    out.insert("backedUpUsers".into(), json!(backed_up));
    Value::Object(out)
}

/// `GET /api/v2/routing/users/{userId}/directroutingbackup/settings`.
pub fn get_routing_user_directroutingbackup_settings(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let id = call.param("userId");
    org.live_user(id)?;
    Ok(Reply::ok(backup_json(org, id)))
}

/// `PUT /api/v2/routing/users/{userId}/directroutingbackup/settings`: the whole settings; the
/// backup user must be an active user other than the user, the queue an existing queue.
pub fn put_routing_user_directroutingbackup_settings(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let id = call.param("userId").to_owned();
    org.live_user(&id)?;
    let body = call.json_value()?;
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::bad_request(format!("{name} must be a string"))),
        }
    };
    let user_id = text("userId")?;
    let queue_id = text("queueId")?;
    if user_id.is_none() && queue_id.is_none() {
        return Err(ApiError::bad_request(
            "A direct routing backup needs a userId, a queueId, or both",
        ));
    }
    if let Some(backup) = &user_id {
        if *backup == id {
            return Err(ApiError::bad_request(
                "A user cannot be their own direct routing backup",
            ));
        }
        let user = org.live_user(backup)?;
        if user.state != super::state::UserState::Active {
            return Err(ApiError::bad_request(
                "The direct routing backup user [{id}] is not active",
            )
            .param("id", backup.as_str()));
        }
    }
    if let Some(queue) = &queue_id
        && !org.queues.iter().any(|q| q.id == *queue)
    {
        return Err(ApiError::not_found("Queue", queue));
    }
    let settings = Backup {
        user_id,
        queue_id,
        wait_for_agent: body.get("waitForAgent").and_then(Value::as_bool),
        agent_wait_seconds: body.get("agentWaitSeconds").and_then(Value::as_i64),
    };
    org.handoff.backups.insert(id.clone(), settings);
    Ok(Reply::ok(backup_json(org, &id)))
}

fn workitem_json(org: &Org, w: &WorkitemState) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(w.id));
    out.insert("name".into(), json!(w.name));
    if let Some(a) = &w.assignee_id {
        out.insert("assignee".into(), user_ref(org, a));
    }
    if let Some(q) = &w.queue_id {
        out.insert(
            "queue".into(),
            json!({"id": q, "selfUri": format!("/api/v2/routing/queues/{q}")}),
        );
    }
    out.insert("statusCategory".into(), json!(w.status_category));
    out.insert("dateModified".into(), json!(rfc3339(w.modified)));
    out.insert(
        "selfUri".into(),
        json!(format!("/api/v2/taskmanagement/workitems/{}", w.id)),
    );
    Value::Object(out)
}

/// One `WorkitemFilter`, checked.
struct Filter {
    name: String,
    operator: String,
    values: Vec<String>,
}

fn filters(body: &Value) -> Result<Vec<Filter>, ApiError> {
    let Some(list) = body.get("filters").and_then(Value::as_array) else {
        return Err(ApiError::bad_request("filters is required"));
    };
    let mut out = Vec::new();
    for f in list {
        let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
        let kind = f.get("type").and_then(Value::as_str).unwrap_or_default();
        let operator = f
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let values: Vec<String> = f
            .get("values")
            .and_then(Value::as_array)
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if !["String", "Int"].contains(&kind) {
            return Err(ApiError::invalid_value(kind, "type", &["String", "Int"]));
        }
        if !OPERATORS.contains(&operator) {
            return Err(ApiError::invalid_value(operator, "operator", OPERATORS));
        }
        if ![
            "assigneeId",
            "statusCategory",
            "queueId",
            "workbinId",
            "typeId",
        ]
        .contains(&name)
        {
            return Err(
                ApiError::bad_request("Filtering on [{name}] is not supported").param("name", name),
            );
        }
        if !matches!(operator, "EQ" | "NEQ" | "IN") {
            return Err(
                ApiError::bad_request("The operator [{op}] is not supported for [{name}]")
                    .param("op", operator)
                    .param("name", name),
            );
        }
        if values.is_empty() || (operator != "IN" && values.len() != 1) {
            return Err(ApiError::bad_request(
                "The filter on [{name}] has the wrong number of values",
            )
            .param("name", name));
        }
        if name == "statusCategory"
            && let Some(bad) = values
                .iter()
                .find(|v| !STATUS_CATEGORIES.contains(&v.as_str()))
        {
            return Err(ApiError::invalid_value(
                bad,
                "statusCategory",
                STATUS_CATEGORIES,
            ));
        }
        out.push(Filter {
            name: name.to_owned(),
            operator: operator.to_owned(),
            values,
        });
    }
    // Genesys refuses a query that would scan every workitem.
    if !out
        .iter()
        .any(|f| ["assigneeId", "queueId", "workbinId", "typeId"].contains(&f.name.as_str()))
    {
        return Err(ApiError::bad_request(
            "A workitem query needs a filter on assigneeId, queueId, workbinId or typeId",
        ));
    }
    Ok(out)
}

fn matches(w: &WorkitemState, f: &Filter) -> bool {
    let value = match f.name.as_str() {
        "assigneeId" => w.assignee_id.as_deref(),
        "statusCategory" => Some(w.status_category.as_str()),
        "queueId" => w.queue_id.as_deref(),
        _ => None,
    };
    let hit = value.is_some_and(|v| f.values.iter().any(|x| x == v));
    if f.operator == "NEQ" { !hit } else { hit }
}

/// `POST /api/v2/taskmanagement/workitems/query`: cursor paging (`after`), sorted by id.
pub fn post_taskmanagement_workitems_query(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let body = call.json_value()?;
    let filters = filters(&body)?;
    let size = body.get("pageSize").and_then(Value::as_i64).unwrap_or(25);
    let size = usize::try_from(size)
        .ok()
        .filter(|s| (1..=WORKITEM_MAX_PAGE).contains(s))
        .ok_or_else(|| {
            ApiError::bad_request("pageSize must be between 1 and {max}")
                .param("max", WORKITEM_MAX_PAGE.to_string())
        })?;
    let offset = match body.get("after").and_then(Value::as_str) {
        Some(cursor) => decode_cursor(cursor)?,
        None => 0,
    };
    let mut hits: Vec<&WorkitemState> = org
        .handoff
        .workitems
        .iter()
        .filter(|w| filters.iter().all(|f| matches(w, f)))
        .collect();
    hits.sort_by(|a, b| a.id.cmp(&b.id));
    let page: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(size)
        .map(|w| workitem_json(org, w))
        .collect();
    let mut out = Map::new();
    out.insert("count".into(), json!(page.len()));
    out.insert("entities".into(), Value::Array(page));
    if offset + size < hits.len() {
        out.insert("after".into(), json!(encode_cursor(offset + size)));
    }
    Ok(Reply::ok(Value::Object(out)))
}

/// `GET /api/v2/taskmanagement/workitems/{workitemId}`.
pub fn get_taskmanagement_workitem(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("workitemId");
    let w = org
        .handoff
        .workitems
        .iter()
        .find(|w| w.id == id)
        .ok_or_else(|| ApiError::not_found("Workitem", id))?;
    Ok(Reply::ok(workitem_json(org, w)))
}

/// `PATCH /api/v2/taskmanagement/workitems/{workitemId}`: the assignment fields are applied
/// (`assigneeId: null` takes the assignee away); a closed workitem cannot be reassigned.
pub fn patch_taskmanagement_workitem(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("workitemId").to_owned();
    let body = call.json_value()?;
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object",
        ));
    };
    let index = org
        .handoff
        .workitems
        .iter()
        .position(|w| w.id == id)
        .ok_or_else(|| ApiError::not_found("Workitem", &id))?;
    let assignee = match body.get("assigneeId") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(a)) => {
            let user = org.live_user(a)?;
            if user.state != super::state::UserState::Active {
                return Err(
                    ApiError::bad_request("The assignee [{id}] is not an active user")
                        .param("id", a.as_str()),
                );
            }
            Some(Some(a.clone()))
        }
        Some(_) => return Err(ApiError::bad_request("assigneeId must be a string")),
    };
    let queue = match body.get("queueId") {
        None | Some(Value::Null) => None,
        Some(Value::String(q)) => {
            if !org.queues.iter().any(|x| x.id == *q) {
                return Err(ApiError::not_found("Queue", q));
            }
            Some(q.clone())
        }
        Some(_) => return Err(ApiError::bad_request("queueId must be a string")),
    };
    let workitem = &mut org.handoff.workitems[index];
    if workitem.status_category == "Closed" && (assignee.is_some() || queue.is_some()) {
        return Err(ApiError::bad_request(
            "The workitem [{id}] is closed and cannot be reassigned",
        )
        .param("id", id.as_str()));
    }
    if let Some(a) = assignee {
        workitem.assignee_id = a;
    }
    if let Some(q) = queue {
        workitem.queue_id = Some(q);
    }
    workitem.modified = call.now;
    let w = workitem.clone();
    Ok(Reply::ok(workitem_json(org, &w)))
}

fn voicemail_json(org: &Org, v: &VoicemailState) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(v.id));
    out.insert("read".into(), json!(false));
    out.insert("createdDate".into(), json!(rfc3339(v.created)));
    if let Some(c) = &v.caller_address {
        out.insert("callerAddress".into(), json!(c));
    }
    out.insert("deleted".into(), json!(false));
    out.insert("user".into(), user_ref(org, &v.user_id));
    if let Some(from) = &v.copied_from
        && let Some(original) = org.handoff.voicemail.iter().find(|m| m.id == *from)
    {
        out.insert(
            "copiedFrom".into(),
            json!({"user": user_ref(org, &original.user_id), "date": rfc3339(v.created)}),
        );
    }
    let copies: Vec<Value> = v
        .copied_to
        .iter()
        .map(|(user, date)| json!({"user": user_ref(org, user), "date": rfc3339(*date)}))
        .collect();
    if !copies.is_empty() {
        out.insert("copiedTo".into(), Value::Array(copies));
    }
    out.insert(
        "selfUri".into(),
        json!(format!("/api/v2/voicemail/messages/{}", v.id)),
    );
    Value::Object(out)
}

/// `GET /api/v2/voicemail/users/{userId}/messages`, newest first, paged.
pub fn get_voicemail_user_messages(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let id = call.param("userId");
    org.live_user(id)?;
    let page = Page::from_query(&call.query, 25, VOICEMAIL_MAX_PAGE)?;
    let mut mine: Vec<&VoicemailState> = org
        .handoff
        .voicemail
        .iter()
        .filter(|v| v.user_id == id)
        .collect();
    mine.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    let total = mine.len();
    let entities: Vec<Value> = page
        .slice(&mine)
        .into_iter()
        .map(|v| voicemail_json(org, v))
        .collect();
    Ok(Reply::ok(listing(
        call.path,
        &call.query,
        page,
        total,
        entities,
        ListingShape::Full,
    )))
}

/// `POST /api/v2/voicemail/messages`: copies a message to a user (a new message in their
/// mailbox, `copiedFrom` the original; the original lists the copy in `copiedTo`). Copying to a
/// group is not modelled and answers 400.
pub fn post_voicemail_messages(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let body = call.json_value()?;
    let Some(message) = body.get("voicemailMessageId").and_then(Value::as_str) else {
        return Err(ApiError::bad_request("voicemailMessageId is required"));
    };
    let Some(user) = body.get("userId").and_then(Value::as_str) else {
        return Err(ApiError::bad_request(
            "The emulator copies voicemail to a user only: userId is required",
        ));
    };
    let target = org.live_user(user)?;
    if target.state != super::state::UserState::Active {
        return Err(ApiError::bad_request("The user [{id}] is not active").param("id", user));
    }
    let index = org
        .handoff
        .voicemail
        .iter()
        .position(|v| v.id == message)
        .ok_or_else(|| ApiError::not_found("VoicemailMessage", message))?;
    org.handoff.copies += 1;
    let copy = VoicemailState {
        id: format!("00000000-0000-4000-9000-{:012x}", org.handoff.copies),
        user_id: user.to_owned(),
        caller_address: org.handoff.voicemail[index].caller_address.clone(),
        created: call.now,
        copied_from: Some(message.to_owned()),
        copied_to: Vec::new(),
    };
    org.handoff.voicemail[index]
        .copied_to
        .push((user.to_owned(), call.now));
    org.handoff.voicemail.push(copy.clone());
    Ok(Reply::ok(voicemail_json(org, &copy)))
}
