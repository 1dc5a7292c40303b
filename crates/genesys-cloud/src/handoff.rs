//! Handing a departing agent's work to a successor: their direct reports, the colleagues they
//! are the direct-routing backup of, their open workitems, their voicemail and the callbacks
//! they own. Every path, query parameter and body field here is the Python SDK 269's
//! (`UsersApi`, `RoutingApi`, `TaskManagementApi`, `VoicemailApi`, `ConversationsApi`,
//! `AnalyticsApi`), as recorded in `contract/genesys-contract.json`.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::analytics::split_conversations;
use super::batch::{answer_batch, coalesce};
use super::client::GenesysClient;
use super::error::GenesysError;
use super::http::{Admission, ApiRequest, MAX_PAGES, too_many_pages};
use super::models::{
    AnalyticsConversation, ConversationQuery, EntityRef, FilterType, Interval, Listing,
    QueryClause, QueryFilter, QueryPredicate, User, UserId,
};

/// Workitems asked for per page of `POST /taskmanagement/workitems/query` (the SDK's
/// `WorkitemQueryPostRequest.pageSize`; Genesys allows up to 200).
const WORKITEM_PAGE_SIZE: u32 = 200;

/// `AgentDirectRoutingBackupSettings`: who takes a user's direct-routed interactions when they
/// cannot, and (read only) whom the user backs up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectRoutingBackup {
    /// The backup queue (secondary when `userId` is set too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// The backup user (primary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for_agent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_wait_seconds: Option<i64>,
    /// The users this user is a backup for (Genesys computes it; never sent).
    #[serde(default, skip_serializing)]
    pub backed_up_users: Vec<String>,
}

/// `Workitem`, the fields a handoff reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workitem {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub assignee: Option<EntityRef>,
    #[serde(default)]
    pub queue: Option<EntityRef>,
    /// `Open`, `InProgress`, `Waiting`, `Closed` or `Unknown`.
    #[serde(default)]
    pub status_category: Option<String>,
}

/// `WorkitemFilter`.
#[derive(Debug, Serialize)]
struct WorkitemFilter<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    operator: &'a str,
    values: Vec<&'a str>,
}

/// `WorkitemQueryPostRequest`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkitemQuery<'a> {
    filters: Vec<WorkitemFilter<'a>>,
    page_size: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

/// `WorkitemPostQueryEntityListing`: cursor paging (`after`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkitemPage {
    #[serde(default)]
    entities: Vec<Workitem>,
    #[serde(default)]
    after: Option<String>,
}

/// `WorkitemUpdate`, the assignment fields. `assigneeId: null` takes the assignee away (a
/// workitem handed to a queue is assigned by routing again).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkitemAssignment<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_id: Option<&'a str>,
    assignee_id: Option<&'a str>,
}

/// `VoicemailMessage`, the fields a handoff reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoicemailMessage {
    pub id: String,
    #[serde(default)]
    pub caller_address: Option<String>,
    #[serde(default)]
    pub copied_to: Vec<VoicemailCopyRecord>,
}

impl VoicemailMessage {
    /// Whether a copy of this message went to `user`.
    pub fn copied_to_user(&self, user: &str) -> bool {
        self.copied_to
            .iter()
            .any(|c| c.user.as_ref().and_then(|u| u.id.as_deref()) == Some(user))
    }
}

/// `VoicemailCopyRecord`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoicemailCopyRecord {
    #[serde(default)]
    pub user: Option<EntityRef>,
    #[serde(default)]
    pub group: Option<EntityRef>,
}

/// `CopyVoicemailMessage`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CopyVoicemail<'a> {
    voicemail_message_id: &'a str,
    user_id: &'a str,
}

/// `UpdateUser` with the manager (a user id) and the version only.
#[derive(Debug, Serialize)]
struct ManagerPatch<'a> {
    manager: &'a str,
    version: i64,
}

/// A scheduled callback the user owns, as the analytics details show it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OwnedCallback {
    /// The callback's conversation id (what `PATCH /conversations/callbacks` names).
    pub conversation_id: String,
    /// The customer to call back (`callbackUserName`), when known.
    pub customer: Option<String>,
}

/// The callback a conversation of the callback query stands for; `None` once it has ended.
fn owned_callback(conversation: AnalyticsConversation) -> Option<OwnedCallback> {
    conversation
        .conversation_end
        .is_none()
        .then(|| OwnedCallback {
            customer: conversation
                .participants
                .iter()
                .flat_map(|p| &p.sessions)
                .find_map(|s| s.callback_user_name.clone()),
            conversation_id: conversation.conversation_id,
        })
}

/// The agents a conversation's agent-owned callback segments are scored for.
fn scored_owners(conversation: &AnalyticsConversation) -> impl Iterator<Item = &str> {
    conversation
        .participants
        .iter()
        .flat_map(|p| &p.sessions)
        .filter(|s| s.agent_owned == Some(true))
        .flat_map(|s| &s.segments)
        .flat_map(|segment| &segment.scored_agents)
        .filter_map(|agent| agent.scored_agent_id.as_deref())
}

/// The callbacks of a combined query, by owner in the order of `owners`; `None` when one
/// scores none of them (the split cannot tell whose it is). Pure.
fn callbacks_by_owner(
    owners: &[UserId],
    conversations: Vec<AnalyticsConversation>,
) -> Option<Vec<Vec<OwnedCallback>>> {
    let split = split_conversations(owners, conversations, |conversation, owner| {
        scored_owners(conversation).any(|id| id == owner.as_str())
    })?;
    Some(
        split
            .into_iter()
            .map(|owned| owned.into_iter().filter_map(owned_callback).collect())
            .collect(),
    )
}

/// `CallbackConversation`, the fields a handoff reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackConversation {
    pub id: String,
    #[serde(default)]
    pub participants: Vec<CallbackParticipant>,
}

/// `CallbackMediaParticipant`, the fields a handoff reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackParticipant {
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub callback_scheduled_time: Option<String>,
    #[serde(default)]
    pub queue: Option<EntityRef>,
    #[serde(default)]
    pub conversation_routing_data: Option<CallbackRoutingData>,
}

/// `ConversationRoutingData`, its scored agents.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackRoutingData {
    #[serde(default)]
    pub scored_agents: Vec<ScoredAgent>,
}

/// `ScoredAgent`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoredAgent {
    #[serde(default)]
    pub agent: Option<EntityRef>,
}

impl CallbackConversation {
    /// The participant holding the scheduled callback (the one with `callbackScheduledTime`).
    fn callback(&self) -> Option<&CallbackParticipant> {
        self.participants
            .iter()
            .find(|p| p.callback_scheduled_time.is_some())
    }

    /// The agents the callback is routed to (its owner, when agent-owned).
    pub fn routed_to(&self) -> Vec<&str> {
        self.callback()
            .and_then(|p| p.conversation_routing_data.as_ref())
            .map(|r| {
                r.scored_agents
                    .iter()
                    .filter_map(|a| a.agent.as_ref().and_then(|a| a.id.as_deref()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the callback is still to be made: its participants have not ended.
    pub fn is_scheduled(&self) -> bool {
        self.callback().is_some() && self.participants.iter().all(|p| p.end_time.is_none())
    }
}

/// `PatchCallbackRequest`: `conversationId` and `agentId` are required (the SDK's typings), so a
/// callback is always handed to a user.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CallbackPatch<'a> {
    conversation_id: &'a str,
    agent_id: &'a str,
}

/// `PatchCallbackResponse`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackPatched {
    #[serde(default)]
    pub conversation: Option<EntityRef>,
}

impl GenesysClient {
    /// The scheduled callbacks `user` owns that were created during `interval`: the analytics
    /// details query (`POST /api/v2/analytics/conversations/details/query`) for conversations
    /// without an end (`conversationEnd notExists`) with a segment of an agent-owned callback
    /// session scored for the user (`mediaType callback`, `agentOwned true`,
    /// `scoredAgentId user`). No other operation lists callbacks by owner:
    /// `GET /api/v2/conversations/callbacks` lists the calling user's own, and a client
    /// credentials token has no user. `interval` stays within `max_sync_interval`.
    ///
    /// Concurrent reads over the same interval share one query whose `scoredAgentId`
    /// predicates are `or`-ed in a clause; each callback goes to the users among its segments'
    /// `scoredAgents`. A callback naming none of them, or a refused combined query, makes every
    /// user read on their own.
    pub async fn owned_callbacks_of(
        &self,
        user: &UserId,
        interval: Interval,
    ) -> Result<Vec<OwnedCallback>, GenesysError> {
        coalesce(
            self,
            |client| &client.inner.callback_queries,
            "post_analytics_conversations_details_query",
            interval,
            user.clone(),
            |client, interval, users| async move {
                let combined = async {
                    let conversations = client
                        .owned_callbacks_query(&users, interval, Admission::Admitted)
                        .await?;
                    Ok(callbacks_by_owner(&users, conversations)
                        .map(|per_user| per_user.into_iter().map(Ok).collect()))
                };
                answer_batch(&users, "callback query", combined, |user, admission| {
                    let client = client.clone();
                    async move {
                        let conversations = client
                            .owned_callbacks_query(std::slice::from_ref(user), interval, admission)
                            .await?;
                        Ok(conversations
                            .into_iter()
                            .filter_map(owned_callback)
                            .collect())
                    }
                })
                .await
            },
        )
        .await
    }

    /// The details query for the open agent-owned callbacks scored for any of `owners`.
    async fn owned_callbacks_query(
        &self,
        owners: &[UserId],
        interval: Interval,
        first_page: Admission,
    ) -> Result<Vec<AnalyticsConversation>, GenesysError> {
        let mut query = ConversationQuery::new(interval);
        query.conversation_filters = vec![QueryFilter::and(vec![QueryPredicate {
            kind: Some("dimension".into()),
            dimension: Some("conversationEnd".into()),
            operator: Some("notExists".into()),
            ..QueryPredicate::default()
        }])];
        let callback = vec![
            QueryPredicate::dimension("mediaType", "callback"),
            QueryPredicate::dimension("agentOwned", "true"),
        ];
        let scored = |owner: &UserId| QueryPredicate::dimension("scoredAgentId", owner.as_str());
        query.segment_filters = vec![match owners {
            [owner] => QueryFilter::and(callback.into_iter().chain([scored(owner)]).collect()),
            _ => QueryFilter {
                kind: FilterType::And,
                predicates: callback,
                clauses: vec![QueryClause {
                    kind: FilterType::Or,
                    predicates: owners.iter().map(scored).collect(),
                }],
            },
        }];
        self.details_until_short(&query, first_page).await
    }

    /// `GET /api/v2/conversations/callbacks/{conversationId}`.
    pub async fn get_callback(
        &self,
        conversation: &str,
    ) -> Result<CallbackConversation, GenesysError> {
        self.send(ApiRequest::get(
            "get_conversations_callback",
            &["conversations", "callbacks", conversation],
        ))
        .await?
        .json()
    }

    /// `PATCH /api/v2/conversations/callbacks` with `conversationId` and `agentId`: the callback
    /// is routed to `agent` (its owner, when agent-owned), in the queue it was in.
    pub async fn reassign_callback(
        &self,
        conversation: &str,
        agent: &str,
    ) -> Result<CallbackPatched, GenesysError> {
        let request = ApiRequest::new(
            "patch_conversations_callbacks",
            Method::PATCH,
            &["conversations", "callbacks"],
        )
        .json(&CallbackPatch {
            conversation_id: conversation,
            agent_id: agent,
        })?;
        self.send(request).await?.json()
    }

    /// `GET /api/v2/users/{userId}/directreports`: the users whose manager is `id` (one list,
    /// not paged).
    pub async fn get_direct_reports(&self, id: &UserId) -> Result<Vec<User>, GenesysError> {
        self.send(ApiRequest::get(
            "get_user_directreports",
            &["users", id.as_str(), "directreports"],
        ))
        .await?
        .json()
    }

    /// `PATCH /api/v2/users/{userId}` with `manager` and `version` only.
    pub async fn set_manager(
        &self,
        id: &UserId,
        manager: &str,
        version: i64,
    ) -> Result<User, GenesysError> {
        let request = ApiRequest::new("patch_user", Method::PATCH, &["users", id.as_str()])
            .json(&ManagerPatch { manager, version })?;
        self.send(request).await?.json()
    }

    /// `GET /api/v2/routing/users/{userId}/directroutingbackup/settings`.
    pub async fn get_direct_routing_backup(
        &self,
        id: &UserId,
    ) -> Result<DirectRoutingBackup, GenesysError> {
        self.send(ApiRequest::get(
            "get_routing_user_directroutingbackup_settings",
            &[
                "routing",
                "users",
                id.as_str(),
                "directroutingbackup",
                "settings",
            ],
        ))
        .await?
        .json()
    }

    /// `PUT /api/v2/routing/users/{userId}/directroutingbackup/settings` (the whole settings).
    pub async fn put_direct_routing_backup(
        &self,
        id: &UserId,
        settings: &DirectRoutingBackup,
    ) -> Result<DirectRoutingBackup, GenesysError> {
        let request = ApiRequest::new(
            "put_routing_user_directroutingbackup_settings",
            Method::PUT,
            &[
                "routing",
                "users",
                id.as_str(),
                "directroutingbackup",
                "settings",
            ],
        )
        .json(settings)?;
        self.send(request).await?.json()
    }

    /// `POST /api/v2/taskmanagement/workitems/query`: the workitems assigned to any of `users`
    /// that are not closed, every page (cursor `after`). One query covers a whole wave.
    pub async fn open_workitems_of(&self, users: &[&str]) -> Result<Vec<Workitem>, GenesysError> {
        self.workitems_query(users, Admission::Wait).await
    }

    /// The open workitems assigned to `user`. Concurrent callers (a wave looking for work to hand
    /// off) share one query naming them all, and each gets the workitems assigned to them; when a
    /// result names no assignee or one nobody asked about, or the combined query is refused, each
    /// user is queried alone.
    pub async fn open_workitems_of_user(
        &self,
        user: &UserId,
    ) -> Result<Vec<Workitem>, GenesysError> {
        coalesce(
            self,
            |client| &client.inner.workitem_queries,
            "post_taskmanagement_workitems_query",
            (),
            user.clone(),
            |client, (), users| async move {
                let ids: Vec<&str> = users.iter().map(UserId::as_str).collect();
                let combined = async {
                    let items = client.workitems_query(&ids, Admission::Admitted).await?;
                    let mut per_user: Vec<Vec<Workitem>> =
                        users.iter().map(|_| Vec::new()).collect();
                    for item in items {
                        let assignee = item.assignee.as_ref().and_then(|a| a.id.as_deref());
                        let Some(at) = ids.iter().position(|id| Some(*id) == assignee) else {
                            return Ok(None);
                        };
                        per_user[at].push(item);
                    }
                    Ok(Some(per_user.into_iter().map(Ok).collect()))
                };
                answer_batch(&ids, "workitem query", combined, |user, admission| {
                    client.workitems_query(std::slice::from_ref(user), admission)
                })
                .await
            },
        )
        .await
    }

    async fn workitems_query(
        &self,
        users: &[&str],
        first: Admission,
    ) -> Result<Vec<Workitem>, GenesysError> {
        let mut all = Vec::new();
        let mut after = None;
        for page in 1..=MAX_PAGES {
            let body = WorkitemQuery {
                filters: vec![
                    WorkitemFilter {
                        name: "assigneeId",
                        kind: "String",
                        operator: "IN",
                        values: users.to_vec(),
                    },
                    WorkitemFilter {
                        name: "statusCategory",
                        kind: "String",
                        operator: "IN",
                        values: vec!["Open", "InProgress", "Waiting"],
                    },
                ],
                page_size: WORKITEM_PAGE_SIZE,
                after: after.take(),
            };
            let request = ApiRequest::new(
                "post_taskmanagement_workitems_query",
                Method::POST,
                &["taskmanagement", "workitems", "query"],
            )
            .json(&body)?
            .admission(first.for_page(page));
            let listing: WorkitemPage = self.send(request).await?.json()?;
            all.extend(listing.entities);
            match listing.after {
                Some(next) if !next.is_empty() => after = Some(next),
                _ => return Ok(all),
            }
        }
        Err(too_many_pages("post_taskmanagement_workitems_query"))
    }

    /// `GET /api/v2/taskmanagement/workitems/{workitemId}`.
    pub async fn get_workitem(&self, id: &str) -> Result<Workitem, GenesysError> {
        self.send(ApiRequest::get(
            "get_taskmanagement_workitem",
            &["taskmanagement", "workitems", id],
        ))
        .await?
        .json()
    }

    /// `PATCH /api/v2/taskmanagement/workitems/{workitemId}`: assigned to `user`, or handed to
    /// `queue` without an assignee.
    pub async fn reassign_workitem(
        &self,
        id: &str,
        user: Option<&str>,
        queue: Option<&str>,
    ) -> Result<Workitem, GenesysError> {
        let request = ApiRequest::new(
            "patch_taskmanagement_workitem",
            Method::PATCH,
            &["taskmanagement", "workitems", id],
        )
        .json(&WorkitemAssignment {
            queue_id: queue,
            assignee_id: user,
        })?;
        self.send(request).await?.json()
    }

    /// `GET /api/v2/voicemail/users/{userId}/messages`, every page.
    pub async fn get_user_voicemail(
        &self,
        id: &UserId,
    ) -> Result<Vec<VoicemailMessage>, GenesysError> {
        let mut all: Vec<VoicemailMessage> = Vec::new();
        for page in 1..=MAX_PAGES {
            let request = ApiRequest::get(
                "get_voicemail_user_messages",
                &["voicemail", "users", id.as_str(), "messages"],
            )
            .query("pageSize", 100)
            .query("pageNumber", page);
            let listing: Listing<VoicemailMessage> = self.send(request).await?.json()?;
            let count = listing.entities.len();
            all.extend(listing.entities);
            let last = listing
                .page_count
                .map_or(count < 100, |pages| i64::from(page) >= pages);
            if last || count == 0 {
                return Ok(all);
            }
        }
        Err(too_many_pages("get_voicemail_user_messages"))
    }

    /// `POST /api/v2/voicemail/messages`: copies a message to `user`'s mailbox.
    pub async fn copy_voicemail(
        &self,
        message: &str,
        user: &str,
    ) -> Result<VoicemailMessage, GenesysError> {
        let request = ApiRequest::new(
            "post_voicemail_messages",
            Method::POST,
            &["voicemail", "messages"],
        )
        .json(&CopyVoicemail {
            voicemail_message_id: message,
            user_id: user,
        })?;
        self.send(request).await?.json()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A callback conversation scored for `owners`, ended or not.
    fn callback(id: &str, owners: &[&str], ended: bool) -> AnalyticsConversation {
        let scored: Vec<serde_json::Value> = owners
            .iter()
            .map(|o| serde_json::json!({ "scoredAgentId": o }))
            .collect();
        let mut conversation = serde_json::json!({
            "conversationId": id,
            "participants": [{
                "purpose": "acd",
                "sessions": [{
                    "mediaType": "callback",
                    "agentOwned": true,
                    "callbackUserName": "Chris Lane",
                    "segments": [{ "segmentType": "interact", "scoredAgents": scored }],
                }],
            }],
        });
        if ended {
            conversation["conversationEnd"] = serde_json::json!("2026-12-01T10:00:00Z");
        }
        serde_json::from_value(conversation).unwrap()
    }

    fn owners(ids: &[&str]) -> Vec<UserId> {
        ids.iter().map(|id| UserId::from(*id)).collect()
    }

    fn ids(split: &[Vec<OwnedCallback>]) -> Vec<Vec<&str>> {
        split
            .iter()
            .map(|l| l.iter().map(|c| c.conversation_id.as_str()).collect())
            .collect()
    }

    #[test]
    fn each_callback_goes_to_the_owners_it_is_scored_for() {
        let split = callbacks_by_owner(
            &owners(&["a", "b", "c"]),
            vec![
                callback("1", &["a"], false),
                callback("2", &["b", "a"], false),
                callback("3", &["b", "someone-else"], false),
            ],
        )
        .unwrap();
        assert_eq!(ids(&split), [vec!["1", "2"], vec!["2", "3"], vec![]]);
        assert_eq!(split[0][0].customer.as_deref(), Some("Chris Lane"));
    }

    #[test]
    fn a_callback_scored_for_none_of_the_owners_cannot_be_split() {
        let split = callbacks_by_owner(
            &owners(&["a", "b"]),
            vec![callback("1", &["a"], false), callback("2", &["x"], false)],
        );
        assert!(split.is_none());
        // Nor one without scored agents at all.
        assert!(callbacks_by_owner(&owners(&["a"]), vec![callback("1", &[], false)]).is_none());
    }

    #[test]
    fn an_ended_callback_is_not_work_to_hand_off() {
        let split = callbacks_by_owner(
            &owners(&["a"]),
            vec![callback("1", &["a"], true), callback("2", &["a"], false)],
        )
        .unwrap();
        assert_eq!(ids(&split), [vec!["2"]]);
    }
}
