//! Quality evaluations and calibrations, the part a handoff touches: the evaluations query, one
//! evaluation read and replaced (`PUT`), the calibrations of a calibrator, one calibration read
//! and replaced. Shapes are the Python SDK 269's (`Evaluation`, `EvaluationResponse`,
//! `EvaluationEntityListing`, `Calibration`, `CalibrationEntityListing`).
//!
//! - The evaluations query needs one of `conversationId`, `evaluatorUserId`, `agentUserId`,
//!   `assigneeUserId` (400 otherwise), filters on `evaluationState` (the `Evaluation.status`
//!   values), pages by `pageSize`/`pageNumber` and sorts by assigned date.
//! - A `PUT` of an evaluation applies its `assignee`, `evaluator` and `status`; answers, scores
//!   and forms are not modelled. A finished or retracted evaluation cannot be reassigned (400),
//!   and an assignee or evaluator must be an active user (400). Each change bumps `version`.
//! - The calibrations listing needs `calibratorId` (the SDK's required parameter). A `PUT` of a
//!   calibration applies only what Genesys documents as editable: `evaluators` and
//!   `expertEvaluator` (each an active user, else 400); the calibrator never changes.

use serde_json::{Map, Value, json};

use super::call::{Call, ListingShape, Page, Reply, listing};
use super::errors::ApiError;
use super::state::{CalibrationState, EvaluationState, Org, UserState};
use super::time::format as rfc3339;

/// `Evaluation.status`.
const STATES: &[&str] = &["PENDING", "INPROGRESS", "FINISHED", "INREVIEW", "RETRACTED"];
/// The largest `pageSize` of the evaluations query and the calibrations listing.
const MAX_PAGE: usize = 100;

fn user_ref(org: &Org, id: &str) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    if let Some(u) = org.user(id) {
        out.insert("name".into(), json!(u.name));
    }
    out.insert("selfUri".into(), json!(format!("/api/v2/users/{id}")));
    Value::Object(out)
}

fn evaluation_json(org: &Org, e: &EvaluationState) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(e.id));
    out.insert(
        "conversation".into(),
        json!({"id": e.conversation_id, "selfUri": format!("/api/v2/conversations/{}", e.conversation_id)}),
    );
    if let Some((id, name)) = &e.form {
        out.insert(
            "evaluationForm".into(),
            json!({"id": id, "name": name, "selfUri": format!("/api/v2/quality/forms/evaluations/{id}")}),
        );
    }
    out.insert("evaluator".into(), user_ref(org, &e.evaluator_id));
    out.insert("agent".into(), user_ref(org, &e.agent_id));
    if let Some(c) = &e.calibration_id {
        out.insert(
            "calibration".into(),
            json!({"id": c, "selfUri": format!("/api/v2/quality/calibrations/{c}")}),
        );
    }
    out.insert("status".into(), json!(e.status));
    out.insert("agentHasRead".into(), json!(false));
    if let Some(a) = &e.assignee_id {
        out.insert("assignee".into(), user_ref(org, a));
    }
    out.insert("assigneeApplicable".into(), json!(true));
    out.insert("assigned".into(), json!(e.assignee_id.is_some()));
    out.insert("assignedDate".into(), json!(rfc3339(e.assigned)));
    out.insert("changedDate".into(), json!(rfc3339(e.changed)));
    if let Some(at) = e.assignee_changed {
        out.insert("dateAssigneeChanged".into(), json!(rfc3339(at)));
    }
    out.insert("neverRelease".into(), json!(false));
    out.insert("version".into(), json!(e.version));
    out.insert(
        "selfUri".into(),
        json!(format!(
            "/api/v2/quality/conversations/{}/evaluations/{}",
            e.conversation_id, e.id
        )),
    );
    Value::Object(out)
}

/// `GET /api/v2/quality/evaluations/query`.
pub fn get_quality_evaluations_query(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = &call.query;
    let by = |name: &str| q.get(name).filter(|v| !v.is_empty());
    let (conversation, agent, evaluator, assignee) = (
        by("conversationId"),
        by("agentUserId"),
        by("evaluatorUserId"),
        by("assigneeUserId"),
    );
    if conversation.is_none() && agent.is_none() && evaluator.is_none() && assignee.is_none() {
        return Err(ApiError::bad_request(
            "Query params must include one of conversationId, evaluatorUserId, agentUserId or assigneeUserId",
        ));
    }
    let states = q.list("evaluationState");
    if let Some(bad) = states.iter().find(|s| !STATES.contains(&s.as_str())) {
        return Err(ApiError::invalid_value(bad, "evaluationState", STATES));
    }
    let page = Page::from_query(q, 25, MAX_PAGE)?;
    let mut hits: Vec<&EvaluationState> = org
        .handoff
        .evaluations
        .iter()
        .filter(|e| conversation.is_none_or(|c| e.conversation_id == c))
        .filter(|e| agent.is_none_or(|a| e.agent_id == a))
        .filter(|e| evaluator.is_none_or(|v| e.evaluator_id == v))
        .filter(|e| assignee.is_none_or(|a| e.assignee_id.as_deref() == Some(a)))
        .filter(|e| states.is_empty() || states.contains(&e.status))
        .collect();
    hits.sort_by(|a, b| a.assigned.cmp(&b.assigned).then(a.id.cmp(&b.id)));
    let total = hits.len();
    let entities: Vec<Value> = page
        .slice(&hits)
        .into_iter()
        .map(|e| evaluation_json(org, e))
        .collect();
    Ok(Reply::ok(listing(
        call.path,
        q,
        page,
        total,
        entities,
        ListingShape::Full,
    )))
}

fn evaluation_index(org: &Org, call: &Call<'_>) -> Result<usize, ApiError> {
    let conversation = call.param("conversationId");
    let id = call.param("evaluationId");
    org.handoff
        .evaluations
        .iter()
        .position(|e| e.id == id && e.conversation_id == conversation)
        .ok_or_else(|| ApiError::not_found("Evaluation", id))
}

/// `GET /api/v2/quality/conversations/{conversationId}/evaluations/{evaluationId}`.
pub fn get_quality_conversation_evaluation(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let i = evaluation_index(org, call)?;
    Ok(Reply::ok(evaluation_json(org, &org.handoff.evaluations[i])))
}

/// The active user an entity reference in `body` names, if the field is there.
fn active_user_of(org: &Org, body: &Value, field: &str) -> Result<Option<String>, ApiError> {
    let Some(reference) = body.get(field).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Some(id) = reference.get("id").and_then(Value::as_str) else {
        return Err(ApiError::bad_request("{field}.id is required").param("field", field));
    };
    let user = org.live_user(id)?;
    if user.state != UserState::Active {
        return Err(
            ApiError::bad_request("The {field} [{id}] is not an active user")
                .param("field", field)
                .param("id", id),
        );
    }
    Ok(Some(id.to_owned()))
}

/// `PUT /api/v2/quality/conversations/{conversationId}/evaluations/{evaluationId}`.
pub fn put_quality_conversation_evaluation(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let i = evaluation_index(org, call)?;
    let body = call.json_value()?;
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object",
        ));
    }
    let assignee = active_user_of(org, &body, "assignee")?;
    let evaluator = active_user_of(org, &body, "evaluator")?;
    if assignee.is_some() && body.get("assigned") == Some(&Value::Bool(false)) {
        return Err(ApiError::bad_request(
            "assigned cannot be false when assignee is set",
        ));
    }
    let status = match body.get("status").and_then(Value::as_str) {
        Some(s) if !STATES.contains(&s) => {
            return Err(ApiError::invalid_value(s, "status", STATES));
        }
        other => other.map(str::to_owned),
    };
    let e = &mut org.handoff.evaluations[i];
    let reassigned = assignee
        .as_ref()
        .is_some_and(|a| e.assignee_id.as_ref() != Some(a));
    if reassigned && matches!(e.status.as_str(), "FINISHED" | "RETRACTED") {
        return Err(ApiError::bad_request(
            "The evaluation [{id}] is {status} and cannot be reassigned",
        )
        .param("id", e.id.as_str())
        .param("status", e.status.as_str()));
    }
    if reassigned {
        e.assignee_id = assignee;
        e.assignee_changed = Some(call.now);
    }
    if let Some(v) = evaluator {
        e.evaluator_id = v;
    }
    if let Some(s) = status {
        e.status = s;
    }
    e.version += 1;
    e.changed = call.now;
    let e = e.clone();
    Ok(Reply::ok(evaluation_json(org, &e)))
}

fn calibration_json(org: &Org, c: &CalibrationState) -> Value {
    let evaluations: Vec<Value> = org
        .handoff
        .evaluations
        .iter()
        .filter(|e| e.calibration_id.as_deref() == Some(c.id.as_str()))
        .map(|e| evaluation_json(org, e))
        .collect();
    let mut out = Map::new();
    out.insert("id".into(), json!(c.id));
    out.insert("calibrator".into(), user_ref(org, &c.calibrator_id));
    out.insert("agent".into(), user_ref(org, &c.agent_id));
    out.insert(
        "conversation".into(),
        json!({"id": c.conversation_id, "selfUri": format!("/api/v2/conversations/{}", c.conversation_id)}),
    );
    out.insert("createdDate".into(), json!(rfc3339(c.created)));
    out.insert("evaluations".into(), Value::Array(evaluations));
    out.insert(
        "evaluators".into(),
        Value::Array(c.evaluator_ids.iter().map(|u| user_ref(org, u)).collect()),
    );
    if let Some(x) = &c.expert_evaluator_id {
        out.insert("expertEvaluator".into(), user_ref(org, x));
    }
    out.insert(
        "selfUri".into(),
        json!(format!("/api/v2/quality/calibrations/{}", c.id)),
    );
    Value::Object(out)
}

/// `GET /api/v2/quality/calibrations`: the calibrations of `calibratorId` (required).
pub fn get_quality_calibrations(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = &call.query;
    let Some(calibrator) = q.get("calibratorId").filter(|v| !v.is_empty()) else {
        return Err(ApiError::bad_request("calibratorId is required"));
    };
    let conversation = q.get("conversationId").filter(|v| !v.is_empty());
    let page = Page::from_query(q, 25, MAX_PAGE)?;
    let mut hits: Vec<&CalibrationState> = org
        .handoff
        .calibrations
        .iter()
        .filter(|c| c.calibrator_id == calibrator)
        .filter(|c| conversation.is_none_or(|x| c.conversation_id == x))
        .collect();
    hits.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
    let total = hits.len();
    let entities: Vec<Value> = page
        .slice(&hits)
        .into_iter()
        .map(|c| calibration_json(org, c))
        .collect();
    Ok(Reply::ok(listing(
        call.path,
        q,
        page,
        total,
        entities,
        ListingShape::Full,
    )))
}

fn calibration_index(org: &Org, id: &str) -> Result<usize, ApiError> {
    org.handoff
        .calibrations
        .iter()
        .position(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found("Calibration", id))
}

/// `GET /api/v2/quality/calibrations/{calibrationId}`.
pub fn get_quality_calibration(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let i = calibration_index(org, call.param("calibrationId"))?;
    Ok(Reply::ok(calibration_json(
        org,
        &org.handoff.calibrations[i],
    )))
}

/// `PUT /api/v2/quality/calibrations/{calibrationId}`: `evaluators` and `expertEvaluator`.
pub fn put_quality_calibration(org: &mut Org, call: &Call<'_>) -> Result<Reply, ApiError> {
    let i = calibration_index(org, call.param("calibrationId"))?;
    let body = call.json_value()?;
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object",
        ));
    }
    let evaluators = match body.get("evaluators") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => {
            let mut ids = Vec::new();
            for reference in list {
                let wrapped = json!({ "evaluator": reference });
                if let Some(id) = active_user_of(org, &wrapped, "evaluator")?
                    && !ids.contains(&id)
                {
                    ids.push(id);
                }
            }
            Some(ids)
        }
        Some(_) => return Err(ApiError::bad_request("evaluators must be a list")),
    };
    let expert = active_user_of(org, &body, "expertEvaluator")?;
    let c = &mut org.handoff.calibrations[i];
    if let Some(ids) = evaluators {
        c.evaluator_ids = ids;
    }
    if let Some(x) = expert {
        c.expert_evaluator_id = Some(x);
    }
    let c = c.clone();
    Ok(Reply::ok(calibration_json(org, &c)))
}
