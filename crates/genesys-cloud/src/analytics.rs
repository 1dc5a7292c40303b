//! Analytics (`docs/genesys-api.md` §7): proving a user's conversations are still attributed to them.
//!
//! - [`GenesysClient::query_conversation_details`] walks every page of the synchronous details
//!   query, stopping when `conversations` is absent, and de-duplicates by `conversationId`
//!   (`totalHits` is approximate and pages can repeat).
//! - [`GenesysClient::user_conversations`] filters on the segment dimension `userId`; windows
//!   longer than `max_sync_interval` go through the async details jobs (202 + `jobId`, poll the
//!   status, read cursor pages, delete the job).
//! - [`GenesysClient::conversation_details`] reads one conversation by id: no paging, so no
//!   record moving across a page boundary can hide it.

use std::collections::HashSet;

use reqwest::Method;
use tokio::time::Instant;

use super::batch::{answer_batch, coalesce};
use super::client::GenesysClient;
use super::error::GenesysError;
use super::http::{Admission, ApiRequest, MAX_PAGES, PAGE_SIZE, too_many_pages};
use super::models::{
    AggregateQueryResponse, AggregationQuery, AnalyticsConversation, AsyncConversationQuery,
    AsyncQueryResponse, AsyncQueryStatus, ConversationQuery, ConversationQueryPage, DetailsJobPage,
    Interval, JobState, PagingSpec, UserId,
};

/// Where a walk through the pages of the details query ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LastPage {
    /// At the first page without `conversations` (the documented end, `docs/genesys-api.md` §7.1).
    WithoutConversations,
    /// Also at a page shorter than the page size, once `totalHits` conversations are seen.
    Short,
}

/// Genesys refuses to page deeper than this many results (400 "Pagination may not exceed 100000
/// results").
const MAX_PAGED_RESULTS: u32 = 100_000;

impl GenesysClient {
    /// Every conversation matching `query`, each once, in the order first seen. `query.paging`
    /// is ignored: the client walks pages of 100 until a page without `conversations`.
    pub async fn query_conversation_details(
        &self,
        query: &ConversationQuery,
    ) -> Result<Vec<AnalyticsConversation>, GenesysError> {
        self.details_pages(query, LastPage::WithoutConversations, Admission::Wait)
            .await
    }

    /// The conversations in which `user` had a segment during `interval`, from the synchronous
    /// details query only (no job, whatever the length: the caller keeps `interval` within
    /// `max_sync_interval`, or Genesys answers 400). Paging stops at the first page shorter
    /// than the page size once `totalHits` conversations are in hand, which spares the empty
    /// page [`query_conversation_details`](Self::query_conversation_details) asks for: one
    /// request for a user with fewer than 100 conversations in the window.
    ///
    /// Concurrent reads over the same interval are coalesced into one query with a `userId`
    /// predicate per user (`or`), and each conversation goes to the users among its
    /// participants. When a conversation names none of them (it matched on something the split
    /// cannot see), or the combined query is refused (too many results, too many predicates),
    /// each user is read on their own.
    pub async fn user_conversations_sync(
        &self,
        user: &UserId,
        interval: Interval,
    ) -> Result<Vec<AnalyticsConversation>, GenesysError> {
        coalesce(
            self,
            |client| &client.inner.conversations,
            "post_analytics_conversations_details_query",
            interval,
            user.clone(),
            |client, interval, users| async move {
                client.conversations_of_users(interval, users).await
            },
        )
        .await
    }

    /// The conversations of each of `users` in `interval`, in order.
    async fn conversations_of_users(
        &self,
        interval: Interval,
        users: Vec<UserId>,
    ) -> Vec<Result<Vec<AnalyticsConversation>, GenesysError>> {
        let combined = async {
            let query = ConversationQuery::for_users(&users, interval);
            let conversations = self
                .details_pages(&query, LastPage::Short, Admission::Admitted)
                .await?;
            Ok(split_by_user(&users, conversations)
                .map(|per_user| per_user.into_iter().map(Ok).collect()))
        };
        answer_batch(&users, "details query", combined, |user, admission| {
            let query = ConversationQuery::for_user(user, interval);
            async move { self.details_pages(&query, LastPage::Short, admission).await }
        })
        .await
    }

    /// Every conversation matching `query`, each once; the walk ends at a page shorter than
    /// the page size once `totalHits` conversations are in hand. `first_page` says whether the
    /// first request still waits for a slot of the budget (a batch took one already).
    pub(crate) async fn details_until_short(
        &self,
        query: &ConversationQuery,
        first_page: Admission,
    ) -> Result<Vec<AnalyticsConversation>, GenesysError> {
        self.details_pages(query, LastPage::Short, first_page).await
    }

    async fn details_pages(
        &self,
        query: &ConversationQuery,
        last_page: LastPage,
        first_page: Admission,
    ) -> Result<Vec<AnalyticsConversation>, GenesysError> {
        const OPERATION: &str = "post_analytics_conversations_details_query";
        let mut seen = HashSet::new();
        let mut conversations = Vec::new();
        let mut page_query = query.clone();
        let mut stale_pages = 0;
        for page in 1..=MAX_PAGED_RESULTS / PAGE_SIZE {
            page_query.paging = Some(PagingSpec {
                page_size: PAGE_SIZE,
                page_number: page,
            });
            let request = ApiRequest::new(
                OPERATION,
                Method::POST,
                &["analytics", "conversations", "details", "query"],
            )
            .json(&page_query)?;
            let admission = first_page.for_page(page);
            let response: ConversationQueryPage =
                self.send(request.admission(admission)).await?.json()?;
            let Some(batch) = response.conversations.filter(|c| !c.is_empty()) else {
                return Ok(conversations);
            };
            let count = batch.len();
            let before = conversations.len();
            for conversation in batch {
                if seen.insert(conversation.conversation_id.clone()) {
                    conversations.push(conversation);
                }
            }
            // Genesys says results can repeat across pages, so one page of repeats is allowed;
            // two in a row mean the server is not moving through the listing.
            stale_pages = if conversations.len() == before {
                stale_pages + 1
            } else {
                0
            };
            if stale_pages >= 2 {
                return Err(GenesysError::Decode {
                    operation: OPERATION.into(),
                    status: 200,
                    detail: format!(
                        "pages {} and {page} brought no new conversation (the server does not \
                         move through the listing); stopped walking it",
                        page - 1
                    ),
                });
            }
            let all_in_hand = response
                .total_hits
                .is_none_or(|hits| usize::try_from(hits).is_ok_and(|h| conversations.len() >= h));
            if last_page == LastPage::Short && count < PAGE_SIZE as usize && all_in_hand {
                return Ok(conversations);
            }
        }
        Err(GenesysError::Invalid {
            operation: OPERATION.into(),
            status: 400,
            body: Some(Box::new(super::error::ErrorBody {
                message: Some(format!(
                    "more than {MAX_PAGED_RESULTS} results; narrow the interval or use the details jobs"
                )),
                ..Default::default()
            })),
        })
    }

    /// The conversations in which `user` had a segment during `interval` (segment predicate on
    /// dimension `userId`). Uses the async jobs API when the interval is longer than
    /// `max_sync_interval`.
    pub async fn user_conversations(
        &self,
        user: &UserId,
        interval: Interval,
    ) -> Result<Vec<AnalyticsConversation>, GenesysError> {
        let query = ConversationQuery::for_user(user, interval);
        if interval.duration() > self.inner.config.max_sync_interval {
            tracing::debug!(user = %user, interval = %interval, "long window: using a details job");
            self.conversations_via_job(&query).await
        } else {
            self.query_conversation_details(&query).await
        }
    }

    /// Runs `query` as a details job and returns all of its conversations, each once. The job is
    /// deleted afterwards (best effort).
    pub async fn conversations_via_job(
        &self,
        query: &ConversationQuery,
    ) -> Result<Vec<AnalyticsConversation>, GenesysError> {
        let job_id = self.start_details_job(query).await?;
        let result = self.collect_job(&job_id).await;
        if let Err(e) = self.delete_details_job(&job_id).await {
            tracing::warn!(job = %job_id, error = %e, "could not delete the analytics job");
        }
        result
    }

    async fn collect_job(&self, job_id: &str) -> Result<Vec<AnalyticsConversation>, GenesysError> {
        let config = &self.inner.config;
        let deadline = Instant::now() + config.job_timeout;
        loop {
            let status = self.details_job_status(job_id).await?;
            match status.state {
                Some(JobState::Fulfilled) => break,
                Some(state) if state.is_terminal() => {
                    return Err(GenesysError::JobFailed {
                        operation: "get_analytics_conversations_details_job".into(),
                        job_id: job_id.to_owned(),
                        state: state.to_string(),
                        message: status.error_message,
                    });
                }
                _ if Instant::now() >= deadline => {
                    return Err(GenesysError::JobFailed {
                        operation: "get_analytics_conversations_details_job".into(),
                        job_id: job_id.to_owned(),
                        state: format!(
                            "still {} after {} s",
                            status
                                .state
                                .map_or_else(|| "unknown".into(), |s| s.to_string()),
                            config.job_timeout.as_secs()
                        ),
                        message: status.error_message,
                    });
                }
                _ => tokio::time::sleep(config.job_poll_interval).await,
            }
        }
        let mut seen = HashSet::new();
        let mut conversations = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self.details_job_results(job_id, cursor.as_deref()).await?;
            for conversation in page.conversations {
                if seen.insert(conversation.conversation_id.clone()) {
                    conversations.push(conversation);
                }
            }
            match page.cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(conversations),
            }
        }
        Err(too_many_pages(
            "get_analytics_conversations_details_job_results",
        ))
    }

    /// `POST /api/v2/analytics/conversations/details/jobs` (202 `{"jobId"}`); `query.paging` is
    /// not sent. Returns the job id.
    pub async fn start_details_job(
        &self,
        query: &ConversationQuery,
    ) -> Result<String, GenesysError> {
        const OPERATION: &str = "post_analytics_conversations_details_jobs";
        let request = ApiRequest::new(
            OPERATION,
            Method::POST,
            &["analytics", "conversations", "details", "jobs"],
        )
        .json(&AsyncConversationQuery::from(query))?;
        let response: AsyncQueryResponse = self.send(request).await?.json()?;
        response.job_id.ok_or_else(|| GenesysError::Decode {
            operation: OPERATION.into(),
            status: 202,
            detail: "the response has no jobId".into(),
        })
    }

    /// `GET /api/v2/analytics/conversations/details/jobs/{jobId}`.
    pub async fn details_job_status(&self, job_id: &str) -> Result<AsyncQueryStatus, GenesysError> {
        self.send(ApiRequest::get(
            "get_analytics_conversations_details_job",
            &["analytics", "conversations", "details", "jobs", job_id],
        ))
        .await?
        .json()
    }

    /// `GET /api/v2/analytics/conversations/details/jobs/{jobId}/results[?cursor=]`: one page.
    pub async fn details_job_results(
        &self,
        job_id: &str,
        cursor: Option<&str>,
    ) -> Result<DetailsJobPage, GenesysError> {
        let mut request = ApiRequest::get(
            "get_analytics_conversations_details_job_results",
            &[
                "analytics",
                "conversations",
                "details",
                "jobs",
                job_id,
                "results",
            ],
        );
        if let Some(cursor) = cursor {
            request = request.query("cursor", cursor);
        }
        self.send(request).await?.json()
    }

    /// `DELETE /api/v2/analytics/conversations/details/jobs/{jobId}`.
    pub async fn delete_details_job(&self, job_id: &str) -> Result<(), GenesysError> {
        self.send(ApiRequest::new(
            "delete_analytics_conversations_details_job",
            Method::DELETE,
            &["analytics", "conversations", "details", "jobs", job_id],
        ))
        .await
        .map(drop)
    }

    /// `GET /api/v2/analytics/conversations/{conversationId}/details`: one conversation, as the
    /// details query renders it; `None` when Genesys answers 404 (no such conversation, or not
    /// there yet).
    pub async fn conversation_details(
        &self,
        conversation_id: &str,
    ) -> Result<Option<AnalyticsConversation>, GenesysError> {
        let request = ApiRequest::get(
            "get_analytics_conversation_details",
            &["analytics", "conversations", conversation_id, "details"],
        );
        match self.send(request).await {
            Ok(reply) => reply.json().map(Some),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /api/v2/analytics/conversations/aggregates/query`.
    pub async fn aggregates_query(
        &self,
        query: &AggregationQuery,
    ) -> Result<AggregateQueryResponse, GenesysError> {
        let request = ApiRequest::new(
            "post_analytics_conversations_aggregates_query",
            Method::POST,
            &["analytics", "conversations", "aggregates", "query"],
        )
        .json(query)?;
        self.send(request).await?.json()
    }
}

/// Each conversation of a combined query, given to every user of `users` among its
/// participants; `None` when one names none of them.
fn split_by_user(
    users: &[UserId],
    conversations: Vec<AnalyticsConversation>,
) -> Option<Vec<Vec<AnalyticsConversation>>> {
    split_conversations(users, conversations, |conversation, user| {
        conversation
            .participants
            .iter()
            .any(|p| p.user_id.as_ref() == Some(user))
    })
}

/// Each conversation of a combined query, given to every user of `users` it `names`; `None`
/// when one names none of them (the split cannot tell whose it is). Pure.
pub(crate) fn split_conversations(
    users: &[UserId],
    conversations: Vec<AnalyticsConversation>,
    names: impl Fn(&AnalyticsConversation, &UserId) -> bool,
) -> Option<Vec<Vec<AnalyticsConversation>>> {
    let mut per_user: Vec<Vec<AnalyticsConversation>> = users.iter().map(|_| Vec::new()).collect();
    for conversation in conversations {
        let mut matched = false;
        for (user, list) in users.iter().zip(per_user.iter_mut()) {
            if names(&conversation, user) {
                list.push(conversation.clone());
                matched = true;
            }
        }
        if !matched {
            return None;
        }
    }
    Some(per_user)
}
