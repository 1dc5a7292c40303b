//! Quality evaluations and calibrations a departing evaluator still has to do. Every path, query
//! parameter and body field is the Python SDK 269's `QualityApi` (`get_quality_evaluations_query`,
//! `get_quality_conversation_evaluation`, `put_quality_conversation_evaluation`,
//! `get_quality_calibrations`, `get_quality_calibration`, `put_quality_calibration`), as recorded
//! in `contract/genesys-contract.json`.
//!
//! Both `PUT`s replace the whole entity, so each sends back the entity exactly as it was read,
//! with only the fields the handoff changes replaced: nothing else an evaluator wrote is lost.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::client::GenesysClient;
use super::error::GenesysError;
use super::http::{ApiRequest, MAX_PAGES, too_many_pages};
use super::models::{EntityRef, Listing, UserId};

/// Evaluations and calibrations asked for per page.
const PAGE_SIZE: u32 = 100;
/// The evaluation states of work still to do (`Evaluation.status`).
pub const PENDING_STATES: &[&str] = &["PENDING", "INPROGRESS"];

/// `Evaluation` / `EvaluationResponse`, the fields a handoff reads, with the whole entity as read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub id: String,
    #[serde(default)]
    pub conversation: Option<EntityRef>,
    #[serde(default)]
    pub evaluator: Option<EntityRef>,
    #[serde(default)]
    pub agent: Option<EntityRef>,
    #[serde(default)]
    pub assignee: Option<EntityRef>,
    /// `PENDING`, `INPROGRESS`, `FINISHED`, `INREVIEW` or `RETRACTED`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub calibration: Option<EntityRef>,
    #[serde(default)]
    pub evaluation_form: Option<EntityRef>,
    /// The entity as read, sent back by [`GenesysClient::reassign_evaluation`].
    #[serde(skip)]
    pub raw: Value,
}

impl Evaluation {
    pub fn conversation_id(&self) -> Option<&str> {
        self.conversation.as_ref().and_then(|c| c.id.as_deref())
    }

    pub fn assignee_id(&self) -> Option<&str> {
        self.assignee.as_ref().and_then(|a| a.id.as_deref())
    }

    /// Still to be done (`PENDING` or `INPROGRESS`).
    pub fn is_pending(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| PENDING_STATES.contains(&s))
    }
}

/// `Calibration`, the fields a handoff reads, with the whole entity as read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Calibration {
    pub id: String,
    #[serde(default)]
    pub calibrator: Option<EntityRef>,
    /// The agent whose conversation is calibrated.
    #[serde(default)]
    pub agent: Option<EntityRef>,
    #[serde(default)]
    pub conversation: Option<EntityRef>,
    #[serde(default)]
    pub evaluators: Vec<EntityRef>,
    #[serde(default)]
    pub expert_evaluator: Option<EntityRef>,
    #[serde(default)]
    pub evaluations: Vec<Evaluation>,
    /// The entity as read, sent back by [`GenesysClient::replace_calibration_evaluator`].
    #[serde(skip)]
    pub raw: Value,
}

impl Calibration {
    /// The ids of its evaluators.
    pub fn evaluator_ids(&self) -> Vec<&str> {
        self.evaluators
            .iter()
            .filter_map(|e| e.id.as_deref())
            .collect()
    }

    pub fn expert_id(&self) -> Option<&str> {
        self.expert_evaluator.as_ref().and_then(|e| e.id.as_deref())
    }

    /// Still to be done: an evaluator has no finished evaluation of it yet.
    pub fn is_pending(&self) -> bool {
        self.evaluator_ids().iter().any(|evaluator| {
            !self.evaluations.iter().any(|e| {
                e.status.as_deref() == Some("FINISHED")
                    && e.evaluator.as_ref().and_then(|v| v.id.as_deref()) == Some(evaluator)
            })
        })
    }

    /// Whether `user` has a part in it that can be handed over: an evaluator or the expert.
    pub fn involves(&self, user: &str) -> bool {
        self.evaluator_ids().contains(&user) || self.expert_id() == Some(user)
    }
}

/// Decodes an entity and keeps it whole in `raw`.
fn with_raw<T: for<'de> Deserialize<'de>>(
    operation: &str,
    value: Value,
    set: impl FnOnce(&mut T, Value),
) -> Result<T, GenesysError> {
    let mut parsed: T =
        serde_json::from_value(value.clone()).map_err(|e| GenesysError::Decode {
            operation: operation.into(),
            status: 200,
            detail: e.to_string(),
        })?;
    set(&mut parsed, value);
    Ok(parsed)
}

fn evaluation_from(operation: &str, value: Value) -> Result<Evaluation, GenesysError> {
    with_raw(operation, value, |e: &mut Evaluation, raw| e.raw = raw)
}

fn calibration_from(operation: &str, value: Value) -> Result<Calibration, GenesysError> {
    with_raw(operation, value, |c: &mut Calibration, raw| c.raw = raw)
}

/// A user reference in a request body.
fn user(id: &str) -> Value {
    json!({ "id": id })
}

impl GenesysClient {
    /// `GET /api/v2/quality/evaluations/query?assigneeUserId=…&evaluationState=PENDING,INPROGRESS`:
    /// the evaluations `user` is to do, every page.
    pub async fn pending_evaluations_of(
        &self,
        user: &UserId,
    ) -> Result<Vec<Evaluation>, GenesysError> {
        const OPERATION: &str = "get_quality_evaluations_query";
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let request = ApiRequest::get(OPERATION, &["quality", "evaluations", "query"])
                .query("assigneeUserId", user.as_str())
                .query_list("evaluationState", PENDING_STATES)
                .query("pageSize", PAGE_SIZE)
                .query("pageNumber", page);
            let listing: Listing<Value> = self.send(request).await?.json()?;
            let count = listing.entities.len();
            for entity in listing.entities {
                all.push(evaluation_from(OPERATION, entity)?);
            }
            let last = listing
                .page_count
                .map_or(count < PAGE_SIZE as usize, |pages| i64::from(page) >= pages);
            if last || count == 0 {
                return Ok(all);
            }
        }
        Err(too_many_pages(OPERATION))
    }

    /// `GET /api/v2/quality/conversations/{conversationId}/evaluations/{evaluationId}`.
    pub async fn get_evaluation(
        &self,
        conversation: &str,
        id: &str,
    ) -> Result<Evaluation, GenesysError> {
        const OPERATION: &str = "get_quality_conversation_evaluation";
        let value: Value = self
            .send(ApiRequest::get(
                OPERATION,
                &["quality", "conversations", conversation, "evaluations", id],
            ))
            .await?
            .json()?;
        evaluation_from(OPERATION, value)
    }

    /// `PUT /api/v2/quality/conversations/{conversationId}/evaluations/{evaluationId}`: the
    /// evaluation as read, assigned to `assignee`. The read's `evaluationForm`
    /// (`EvaluationFormResponse`) and `calibration` are sent as references, the types an
    /// `Evaluation` body holds.
    pub async fn reassign_evaluation(
        &self,
        evaluation: &Evaluation,
        assignee: &str,
    ) -> Result<Evaluation, GenesysError> {
        const OPERATION: &str = "put_quality_conversation_evaluation";
        let conversation = evaluation.conversation_id().unwrap_or_default();
        let mut body = match &evaluation.raw {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        for reference in ["evaluationForm", "calibration"] {
            if let Some(id) = body.get(reference).and_then(|v| v.get("id")).cloned() {
                body.insert(reference.into(), json!({ "id": id }));
            }
        }
        body.insert("assignee".into(), user(assignee));
        body.insert("assigned".into(), Value::Bool(true));
        let request = ApiRequest::new(
            OPERATION,
            Method::PUT,
            &[
                "quality",
                "conversations",
                conversation,
                "evaluations",
                &evaluation.id,
            ],
        )
        .json(&Value::Object(body))?;
        let value: Value = self.send(request).await?.json()?;
        evaluation_from(OPERATION, value)
    }

    /// `GET /api/v2/quality/calibrations?calibratorId=…`: the calibrations `calibrator` runs,
    /// every page.
    pub async fn calibrations_of(
        &self,
        calibrator: &UserId,
    ) -> Result<Vec<Calibration>, GenesysError> {
        const OPERATION: &str = "get_quality_calibrations";
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let request = ApiRequest::get(OPERATION, &["quality", "calibrations"])
                .query("calibratorId", calibrator.as_str())
                .query("pageSize", PAGE_SIZE)
                .query("pageNumber", page);
            let listing: Listing<Value> = self.send(request).await?.json()?;
            let count = listing.entities.len();
            for entity in listing.entities {
                all.push(calibration_from(OPERATION, entity)?);
            }
            let last = listing
                .page_count
                .map_or(count < PAGE_SIZE as usize, |pages| i64::from(page) >= pages);
            if last || count == 0 {
                return Ok(all);
            }
        }
        Err(too_many_pages(OPERATION))
    }

    /// `GET /api/v2/quality/calibrations/{calibrationId}`.
    pub async fn get_calibration(&self, id: &str) -> Result<Calibration, GenesysError> {
        const OPERATION: &str = "get_quality_calibration";
        let value: Value = self
            .send(ApiRequest::get(OPERATION, &["quality", "calibrations", id]))
            .await?
            .json()?;
        calibration_from(OPERATION, value)
    }

    /// `PUT /api/v2/quality/calibrations/{calibrationId}`: the calibration as read, with `from`
    /// replaced by `to` among its evaluators and as its expert evaluator (the fields Genesys
    /// lets a `PUT` edit; the calibrator is not one of them).
    pub async fn replace_calibration_evaluator(
        &self,
        calibration: &Calibration,
        from: &str,
        to: &str,
    ) -> Result<Calibration, GenesysError> {
        const OPERATION: &str = "put_quality_calibration";
        let mut body = match &calibration.raw {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        let mut evaluators: Vec<&str> = Vec::new();
        for id in calibration.evaluator_ids() {
            let id = if id == from { to } else { id };
            if !evaluators.contains(&id) {
                evaluators.push(id);
            }
        }
        body.insert(
            "evaluators".into(),
            Value::Array(evaluators.into_iter().map(user).collect()),
        );
        if calibration.expert_id() == Some(from) {
            body.insert("expertEvaluator".into(), user(to));
        }
        let request = ApiRequest::new(
            OPERATION,
            Method::PUT,
            &["quality", "calibrations", &calibration.id],
        )
        .json(&Value::Object(body))?;
        let value: Value = self.send(request).await?.json()?;
        calibration_from(OPERATION, value)
    }
}
