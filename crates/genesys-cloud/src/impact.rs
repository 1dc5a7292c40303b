//! What depends on a user elsewhere in the org, read-only, for an offboarding's impact preflight:
//! Architect flows that consume the user (dependency tracking, object type `USER`), alert rules
//! that notify them, OAuth clients they created, media retention policies that name them, their
//! WFM management unit, their licences, DIDs and extensions they own, and WebRTC phones.
//!
//! The cost is kept low for a wave of offboardings: the org-wide listings (alert rules, OAuth
//! clients, retention policies, DIDs, extensions, phones) are read together by
//! [`GenesysClient::get_org_dependents`] and kept for a short time that the caller chooses, so
//! every offboarding of the wave shares one read of each; licences are read in batches of up to
//! 100 users (`POST /api/v2/license/users`, concurrent callers coalesced). Per user there remain
//! the flow dependencies and the WFM seat, which the API reads only one user at a time.
//!
//! A listing the OAuth client may not read (403) is not an error here: it comes back as
//! [`Unreadable`], so the caller can report that source as unknown and still use the others.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::batch::{answer_batch, coalesce};
use super::client::GenesysClient;
use super::error::GenesysError;
use super::http::{Admission, ApiRequest, MAX_PAGES, too_many_pages};
use super::models::{EntityRef, Listing, UserId};

/// The most user ids one licence batch takes.
pub(crate) const LICENSE_BATCH: usize = 100;
/// Alert rules come at most 50 to a page.
const ALERT_RULES_PAGE: u32 = 50;

/// A resource that consumes a dependency-tracking object (`Dependency`): for a user, the
/// Architect flows that reference them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumingResource {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The dependency-tracking type (`INBOUNDCALLFLOW`, ...).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

/// `AlertNotification`: who a rule notifies.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertNotification {
    #[serde(default)]
    pub recipient: Option<String>,
}

/// `CommonRule`: an alert rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRule {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub notifications: Vec<AlertNotification>,
}

impl AlertRule {
    /// Whether the rule notifies this user.
    pub fn notifies(&self, user: &UserId) -> bool {
        self.notifications
            .iter()
            .any(|n| n.recipient.as_deref() == Some(user.as_str()))
    }
}

/// `OAuthClient` as listed (never with its secret: the listing is decoded into these fields
/// only).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientInfo {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub authorized_grant_type: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub created_by: Option<EntityRef>,
}

impl std::fmt::Debug for OAuthClientInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClientInfo")
            .field("id", &self.id)
            .field("name", &self.name)
            .field(
                "created_by",
                &self.created_by.as_ref().and_then(|r| r.id.as_deref()),
            )
            .finish_non_exhaustive()
    }
}

/// A media retention policy (`Policy`) and the users it names, with the role each plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub id: String,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// `(user id, role)`: `evaluator`, `calibrator`, `expert evaluator` or `covered user`.
    pub users: Vec<(String, &'static str)>,
}

impl RetentionPolicy {
    /// From a `Policy` body: the users named by its (and each media policy's) actions and
    /// `conditions.forUsers`.
    fn from_value(value: &Value) -> Option<Self> {
        let id = value.get("id")?.as_str()?.to_owned();
        let mut users = Vec::new();
        let mut add = |v: &Value, role: &'static str| {
            if let Some(id) = v.get("id").and_then(Value::as_str)
                && !users.iter().any(|(u, r)| u == id && *r == role)
            {
                users.push((id.to_owned(), role));
            }
        };
        let list = |v: &Value, key: &str| -> Vec<Value> {
            v.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let mut scopes = vec![value.clone()];
        if let Some(media) = value.get("mediaPolicies").and_then(Value::as_object) {
            scopes.extend(media.values().cloned());
        }
        for scope in &scopes {
            if let Some(actions) = scope.get("actions") {
                for a in list(actions, "assignEvaluations") {
                    add(a.get("user").unwrap_or(&Value::Null), "evaluator");
                }
                for key in ["assignMeteredEvaluations", "assignMeteredAssignmentByAgent"] {
                    for a in list(actions, key) {
                        for e in list(&a, "evaluators") {
                            add(&e, "evaluator");
                        }
                    }
                }
                for a in list(actions, "assignCalibrations") {
                    add(a.get("calibrator").unwrap_or(&Value::Null), "calibrator");
                    add(
                        a.get("expertEvaluator").unwrap_or(&Value::Null),
                        "expert evaluator",
                    );
                    for e in list(&a, "evaluators") {
                        add(&e, "evaluator");
                    }
                }
            }
            if let Some(conditions) = scope.get("conditions") {
                for u in list(conditions, "forUsers") {
                    add(&u, "covered user");
                }
            }
        }
        Some(Self {
            id,
            name: value.get("name").and_then(Value::as_str).map(str::to_owned),
            enabled: value.get("enabled").and_then(Value::as_bool),
            users,
        })
    }
}

/// `AgentManagementUnitReference`: the WFM management unit (and business unit) of an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentManagementUnit {
    pub management_unit_id: String,
    pub business_unit_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentManagementUnitBody {
    #[serde(default)]
    management_unit: Option<EntityRef>,
    #[serde(default)]
    business_unit: Option<EntityRef>,
}

/// A DID (`phoneNumber`) or an extension (`number`) and its owner.
#[derive(Debug, Clone, PartialEq)]
pub struct TelephonyNumber {
    pub id: String,
    pub number: String,
    pub owner: Option<EntityRef>,
    /// `USER`, `PHONE`, `IVR_CONFIG` or `GROUP`.
    pub owner_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NumberBody {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    number: Option<String>,
    #[serde(default)]
    owner: Option<EntityRef>,
    #[serde(default)]
    owner_type: Option<String>,
}

impl From<NumberBody> for TelephonyNumber {
    fn from(b: NumberBody) -> Self {
        Self {
            number: b.phone_number.or(b.number).or(b.name).unwrap_or_default(),
            id: b.id,
            owner: b.owner,
            owner_type: b.owner_type,
        }
    }
}

impl TelephonyNumber {
    /// Whether a user owns it.
    pub fn owned_by(&self, user: &UserId) -> bool {
        self.owner_type.as_deref() == Some("USER")
            && self.owner.as_ref().and_then(|o| o.id.as_deref()) == Some(user.as_str())
    }
}

/// A phone; WebRTC phones name their user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Phone {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub web_rtc_user: Option<EntityRef>,
}

/// An org-wide source the OAuth client may not read (403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub operation: String,
    pub missing_permission: Option<String>,
}

/// One org-wide source: what it lists, or why it could not be read.
pub type Source<T> = Result<Vec<T>, Unreadable>;

/// The org-wide listings of the preflight, read together at `read_at`.
#[derive(Debug, Clone)]
pub struct OrgDependents {
    pub alert_rules: Source<AlertRule>,
    pub oauth_clients: Source<OAuthClientInfo>,
    pub retention_policies: Source<RetentionPolicy>,
    pub dids: Source<TelephonyNumber>,
    pub extensions: Source<TelephonyNumber>,
    pub phones: Source<Phone>,
    pub read_at: Instant,
}

/// The last [`OrgDependents`] read through a client (and its clones).
#[derive(Debug, Default)]
pub(crate) struct OrgDependentsCache(tokio::sync::Mutex<Option<Arc<OrgDependents>>>);

/// A 403 becomes [`Unreadable`]; every other failure stays an error.
fn readable<T>(result: Result<Vec<T>, GenesysError>) -> Result<Source<T>, GenesysError> {
    match result {
        Ok(items) => Ok(Ok(items)),
        Err(GenesysError::Forbidden {
            operation,
            missing_permission,
            ..
        }) => Ok(Err(Unreadable {
            operation,
            missing_permission,
        })),
        Err(e) => Err(e),
    }
}

/// `GetRulesQuery`.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RulesQuery {
    rule_type: &'static str,
    query_type: &'static str,
    enabled_type: &'static str,
    page_number: u32,
    page_size: u32,
}

impl GenesysClient {
    /// The org-wide listings, read at most once per `max_age` by this client and its clones:
    /// a fresher copy is shared; concurrent callers wait for the one read in flight. A 403 on
    /// one listing is kept as [`Unreadable`] with the others; any other failure is returned and
    /// nothing is kept, so the next caller reads again.
    pub async fn get_org_dependents(
        &self,
        max_age: Duration,
    ) -> Result<Arc<OrgDependents>, GenesysError> {
        let mut cached = self.inner.org_dependents.0.lock().await;
        if let Some(c) = cached.as_ref()
            && c.read_at.elapsed() <= max_age
        {
            return Ok(Arc::clone(c));
        }
        let (alert_rules, oauth_clients, retention_policies, dids, extensions, phones) = tokio::join!(
            self.get_alert_rules(),
            self.get_oauth_clients(),
            self.get_media_retention_policies(),
            self.get_dids(),
            self.get_extensions(),
            self.get_phones(),
        );
        let fresh = Arc::new(OrgDependents {
            alert_rules: readable(alert_rules)?,
            oauth_clients: readable(oauth_clients)?,
            retention_policies: readable(retention_policies)?,
            dids: readable(dids)?,
            extensions: readable(extensions)?,
            phones: readable(phones)?,
            read_at: Instant::now(),
        });
        *cached = Some(Arc::clone(&fresh));
        Ok(fresh)
    }

    /// `GET /api/v2/architect/dependencytracking/consumingresources?id={user}&objectType=USER`,
    /// every page: the flows (and other resources) that reference the user.
    pub async fn get_resources_consuming_user(
        &self,
        id: &UserId,
    ) -> Result<Vec<ConsumingResource>, GenesysError> {
        let request = ApiRequest::get(
            "get_architect_dependencytracking_consumingresources",
            &["architect", "dependencytracking", "consumingresources"],
        )
        .query("id", id.as_str())
        .query("objectType", "USER");
        self.get_all_pages(request).await
    }

    /// `POST /api/v2/alerting/rules/query`, every page of 50, all types, enabled or not.
    pub async fn get_alert_rules(&self) -> Result<Vec<AlertRule>, GenesysError> {
        let operation = "post_alerting_rules_query";
        let mut rules = Vec::new();
        for page in 1..=MAX_PAGES {
            let request = ApiRequest::new(operation, Method::POST, &["alerting", "rules", "query"])
                .json(&RulesQuery {
                    rule_type: "All",
                    query_type: "Info",
                    enabled_type: "All",
                    page_number: page,
                    page_size: ALERT_RULES_PAGE,
                })?;
            let listing: Listing<AlertRule> = self.send(request).await?.json()?;
            let count = listing.entities.len();
            rules.extend(listing.entities);
            let last = match listing.page_count {
                _ if count == 0 => true,
                Some(pages) => i64::from(page) >= pages,
                None => count < ALERT_RULES_PAGE as usize,
            };
            if last {
                return Ok(rules);
            }
        }
        Err(too_many_pages(operation))
    }

    /// `GET /api/v2/oauth/clients`: every OAuth client of the org (one answer, no paging).
    pub async fn get_oauth_clients(&self) -> Result<Vec<OAuthClientInfo>, GenesysError> {
        let listing: Listing<OAuthClientInfo> = self
            .send(ApiRequest::get("get_oauth_clients", &["oauth", "clients"]))
            .await?
            .json()?;
        Ok(listing.entities)
    }

    /// `GET /api/v2/recording/mediaretentionpolicies`, every page, in full (not `summary`).
    pub async fn get_media_retention_policies(&self) -> Result<Vec<RetentionPolicy>, GenesysError> {
        let request = ApiRequest::get(
            "get_recording_mediaretentionpolicies",
            &["recording", "mediaretentionpolicies"],
        );
        let raw: Vec<Value> = self.get_all_pages(request).await?;
        Ok(raw.iter().filter_map(RetentionPolicy::from_value).collect())
    }

    /// `GET /api/v2/workforcemanagement/agents/{id}/managementunit`; `None` when the agent has
    /// no management unit (404).
    pub async fn get_agent_management_unit(
        &self,
        id: &UserId,
    ) -> Result<Option<AgentManagementUnit>, GenesysError> {
        let request = ApiRequest::get(
            "get_workforcemanagement_agent_managementunit",
            &[
                "workforcemanagement",
                "agents",
                id.as_str(),
                "managementunit",
            ],
        );
        let body: AgentManagementUnitBody = match self.send(request).await {
            Ok(reply) => reply.json()?,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(body
            .management_unit
            .and_then(|m| m.id)
            .map(|management_unit_id| AgentManagementUnit {
                management_unit_id,
                business_unit_id: body.business_unit.and_then(|b| b.id),
            }))
    }

    /// The user's licences, from `POST /api/v2/license/users` (a map of user id to licences).
    /// Concurrent callers share one request of up to 100 ids; a user the answer leaves out has
    /// none that the API reports.
    pub async fn get_user_licenses(&self, id: &UserId) -> Result<Vec<String>, GenesysError> {
        coalesce(
            self,
            |client| &client.inner.license_batches,
            "post_license_users",
            (),
            id.clone(),
            |client, (), ids| async move { client.read_licenses(ids).await },
        )
        .await
    }

    async fn read_licenses(&self, ids: Vec<UserId>) -> Vec<Result<Vec<String>, GenesysError>> {
        let combined = async {
            let map = self.post_license_users(&ids, Admission::Admitted).await?;
            Ok(Some(
                ids.iter().map(|id| Ok(licenses_of(&map, id))).collect(),
            ))
        };
        answer_batch(
            &ids,
            "licence batch",
            combined,
            |id, admission| async move {
                let map = self
                    .post_license_users(std::slice::from_ref(id), admission)
                    .await?;
                Ok(licenses_of(&map, id))
            },
        )
        .await
    }

    async fn post_license_users(
        &self,
        ids: &[UserId],
        admission: Admission,
    ) -> Result<HashMap<String, Value>, GenesysError> {
        let body: Vec<&str> = ids.iter().map(UserId::as_str).collect();
        let request = ApiRequest::new("post_license_users", Method::POST, &["license", "users"])
            .json(&body)?
            .admission(admission);
        self.send(request).await?.json()
    }

    /// `GET /api/v2/telephony/providers/edges/dids`, every page.
    pub async fn get_dids(&self) -> Result<Vec<TelephonyNumber>, GenesysError> {
        let request = ApiRequest::get(
            "get_telephony_providers_edges_dids",
            &["telephony", "providers", "edges", "dids"],
        );
        let raw: Vec<NumberBody> = self.get_all_pages(request).await?;
        Ok(raw.into_iter().map(TelephonyNumber::from).collect())
    }

    /// `GET /api/v2/telephony/providers/edges/extensions`, every page.
    pub async fn get_extensions(&self) -> Result<Vec<TelephonyNumber>, GenesysError> {
        let request = ApiRequest::get(
            "get_telephony_providers_edges_extensions",
            &["telephony", "providers", "edges", "extensions"],
        );
        let raw: Vec<NumberBody> = self.get_all_pages(request).await?;
        Ok(raw.into_iter().map(TelephonyNumber::from).collect())
    }

    /// `GET /api/v2/telephony/providers/edges/phones`, every page.
    pub async fn get_phones(&self) -> Result<Vec<Phone>, GenesysError> {
        let request = ApiRequest::get(
            "get_telephony_providers_edges_phones",
            &["telephony", "providers", "edges", "phones"],
        );
        self.get_all_pages(request).await
    }
}

/// A user's licences in a `POST /api/v2/license/users` answer: a list of licence ids (or of
/// objects with an `id`); none when the user is left out.
fn licenses_of(map: &HashMap<String, Value>, id: &UserId) -> Vec<String> {
    map.get(id.as_str())
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| {
                    v.as_str()
                        .or_else(|| v.get("id").and_then(Value::as_str))
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn a_policy_names_its_evaluators_calibrators_and_covered_users_in_any_media_policy() {
        let policy = json!({
            "id": "p1", "name": "QA", "enabled": true,
            "mediaPolicies": {
                "callPolicy": {"actions": {"assignEvaluations": [{"user": {"id": "u1"}}]},
                               "conditions": {"forUsers": [{"id": "u2"}]}},
                "chatPolicy": {"actions": {"assignCalibrations": [
                    {"calibrator": {"id": "u3"}, "evaluators": [{"id": "u1"}], "expertEvaluator": {"id": "u4"}}]}}
            },
            "actions": {"assignMeteredEvaluations": [{"evaluators": [{"id": "u5"}]}]}
        });
        let p = RetentionPolicy::from_value(&policy).unwrap();
        assert_eq!(
            p.users,
            vec![
                ("u5".to_owned(), "evaluator"),
                ("u1".to_owned(), "evaluator"),
                ("u2".to_owned(), "covered user"),
                ("u3".to_owned(), "calibrator"),
                ("u4".to_owned(), "expert evaluator"),
            ]
        );
    }

    #[test]
    fn licences_are_ids_or_objects_with_an_id_and_none_when_left_out() {
        let map: HashMap<String, Value> =
            serde_json::from_value(json!({"u1": ["a", {"id": "b"}], "u2": "odd"})).unwrap();
        assert_eq!(licenses_of(&map, &UserId::from("u1")), ["a", "b"]);
        assert!(licenses_of(&map, &UserId::from("u2")).is_empty());
        assert!(licenses_of(&map, &UserId::from("u3")).is_empty());
    }

    #[test]
    fn only_a_user_owned_number_belongs_to_the_user() {
        let n = |t: &str| TelephonyNumber {
            id: "d".into(),
            number: "+1".into(),
            owner: Some(EntityRef {
                id: Some("u1".into()),
                name: None,
                self_uri: None,
            }),
            owner_type: Some(t.into()),
        };
        assert!(n("USER").owned_by(&UserId::from("u1")));
        assert!(!n("PHONE").owned_by(&UserId::from("u1")));
        assert!(!n("USER").owned_by(&UserId::from("u2")));
    }
}
