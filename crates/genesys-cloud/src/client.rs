//! The one request path every call takes: shared rate budget, bearer token, per-request timeout,
//! observer hook (operation, status, elapsed), retries, classification and decoding.
//!
//! [`GenesysClient`] lives here, on top of `http` (one exchange, bodies, decoding), `auth`
//! (tokens) and `batch` (coalesced reads); none of those knows the client. The typed calls are
//! in the sibling modules (`users`, `routing`, ...), each a thin `impl GenesysClient` block
//! that describes an [`ApiRequest`] and hands it to [`GenesysClient::send`] (or to
//! [`GenesysClient::get_all_pages`], which sends one per page).
//!
//! A listing whose pages together exceed `max_response_bytes` or that repeats a page is
//! abandoned; see `http` for the limits on a single answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use url::Url;

use super::auth::TokenSource;
use super::batch::{Admit, Coalescer};
use super::config::ClientConfig;
use super::error::{ErrorBody, GenesysError, classify};
use super::http::{
    Admission, ApiRequest, MAX_PAGES, PAGE_SIZE, Reply, decode_value, exchange, show_bytes,
    too_many_pages, transport_error,
};
use super::models::{AnalyticsConversation, EmailMatches, Interval, Listing, User, UserId};
use super::ratelimit::RateBudget;
use super::retry::Backoff;

/// The Genesys Cloud client. Cheap to clone: clones share the token cache and the rate budget.
#[derive(Clone)]
pub struct GenesysClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub http: reqwest::Client,
    pub api: Url,
    pub tokens: TokenSource,
    pub budget: RateBudget,
    pub config: ClientConfig,
    pub backoff: Backoff,
    pub offline_presence: tokio::sync::OnceCell<String>,
    /// `GET /users/{id}` reads, by `expand`.
    pub users_by_id: Coalescer<String, UserId, User>,
    /// Email searches.
    pub email_searches: Coalescer<(), String, EmailMatches>,
    /// Users' conversations from the synchronous details query, by interval.
    pub conversations: Coalescer<Interval, UserId, Vec<AnalyticsConversation>>,
    /// Direct queue memberships being removed, by queue.
    pub queue_removals: Coalescer<String, UserId, ()>,
    /// Read-backs of removed direct queue memberships, by queue: `(user, joined)`.
    pub member_checks: Coalescer<String, (UserId, bool), bool>,
    /// Open workitems by assignee, for the handoff.
    pub workitem_queries: Coalescer<(), UserId, Vec<super::handoff::Workitem>>,
    /// Open agent-owned callbacks by owner, for the handoff, by interval.
    pub callback_queries: Coalescer<Interval, UserId, Vec<super::handoff::OwnedCallback>>,
    /// Users' licences, read in batches (`POST /api/v2/license/users`).
    pub license_batches: Coalescer<(), UserId, Vec<String>>,
    /// Presence changes, by presence definition (`PUT /api/v2/users/presences/bulk`).
    pub presence_sets: Coalescer<String, UserId, ()>,
    /// Set once Genesys refused the bulk presence form with 403: this client's role lacks
    /// `presence:userPresence:edit`, which the one-user PATCH does not need.
    pub presence_bulk_refused: std::sync::atomic::AtomicBool,
    /// The impact preflight's org-wide listings, shared for a short time.
    pub org_dependents: super::impact::OrgDependentsCache,
    /// Users the caller resolved and asked to remember, by its key, with when.
    pub remembered: std::sync::Mutex<HashMap<String, (Instant, User)>>,
}

/// How many remembered users a client keeps at most; past that, all are forgotten.
const REMEMBERED_MAX: usize = 1024;

impl std::fmt::Debug for GenesysClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenesysClient")
            .field("api", &self.inner.api.as_str())
            .field("client_id", &self.inner.config.credentials.client_id())
            .finish_non_exhaustive()
    }
}

impl GenesysClient {
    pub fn new(config: ClientConfig) -> Result<Self, GenesysError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "genesys-offboarding-operator/",
                env!("CARGO_PKG_VERSION")
            ))
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GenesysError::Config {
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        let backoff = Backoff {
            base: config.retry_base_delay,
            max: config.retry_max_delay,
        };
        let tokens = TokenSource::new(http.clone(), &config, backoff)?;
        let budget = RateBudget::new(
            config.requests_per_minute,
            config.headroom,
            config.max_retry_after,
        );
        let max_batch = config.max_batch;
        let linger = config.batch_linger;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                api: config.endpoints.api().clone(),
                tokens,
                budget,
                config,
                backoff,
                offline_presence: tokio::sync::OnceCell::new(),
                users_by_id: Coalescer::lingering(max_batch, linger),
                email_searches: Coalescer::lingering(max_batch, linger),
                conversations: Coalescer::lingering(max_batch, linger),
                queue_removals: Coalescer::lingering(max_batch, linger),
                member_checks: Coalescer::lingering(max_batch, linger),
                workitem_queries: Coalescer::lingering(max_batch, linger),
                callback_queries: Coalescer::lingering(max_batch, linger),
                license_batches: Coalescer::lingering(
                    max_batch.min(super::impact::LICENSE_BATCH),
                    linger,
                ),
                presence_sets: Coalescer::lingering(max_batch, linger),
                presence_bulk_refused: std::sync::atomic::AtomicBool::new(false),
                org_dependents: super::impact::OrgDependentsCache::default(),
                remembered: std::sync::Mutex::default(),
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The user remembered under `key` ([`Self::remember_user`]) less than `max_age` ago.
    /// Reads nothing: a resolution that many passes repeat (a wave's one successor) is made
    /// once per `max_age` instead of once per pass.
    pub fn remembered_user(&self, key: &str, max_age: Duration) -> Option<User> {
        let remembered = self
            .inner
            .remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        remembered
            .get(key)
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, user)| user.clone())
    }

    /// Remembers `user` under `key`, from now. At most [`REMEMBERED_MAX`] are kept.
    pub fn remember_user(&self, key: String, user: User) {
        let mut remembered = self
            .inner
            .remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if remembered.len() >= REMEMBERED_MAX && !remembered.contains_key(&key) {
            remembered.clear();
        }
        remembered.insert(key, (Instant::now(), user));
    }

    /// Requests per minute the shared budget actually allows, and its burst.
    pub fn effective_rate(&self) -> (u32, u32) {
        self.inner.budget.effective()
    }

    /// Fetches a token now (normally done lazily by the first call): a cheap credentials check.
    pub async fn authenticate(&self) -> Result<(), GenesysError> {
        self.inner.tokens.token().await.map(|_| ())
    }

    /// Sends `request` and returns its 2xx answer, whatever its body (decode it with
    /// [`Reply::json`]). Every API call goes through here: each attempt takes a slot of the
    /// shared budget (the first one unless the request says it holds one already) and a token;
    /// a 401 refreshes the token once; a 429 pauses every caller; transient failures are retried
    /// with backoff; any other failure is classified and returned.
    pub(crate) async fn send(&self, request: ApiRequest) -> Result<Reply, GenesysError> {
        let inner = &*self.inner;
        let config = &inner.config;
        let operation = request.operation;
        let url = self.url(&request)?;
        let mut attempts = 0u32;
        let mut transient_retries = 0u32;
        let mut rate_limit_retries = 0u32;
        let mut refreshed_after_401 = false;
        let mut admitted = request.admission == Admission::Admitted;
        loop {
            attempts += 1;
            if !std::mem::take(&mut admitted) {
                self.admit(operation).await?;
            }
            let (token, generation) = inner.tokens.token().await?;
            let outcome = exchange(
                &inner.http,
                config,
                &request,
                &url,
                token.bearer_header()?,
                attempts,
            )
            .await?;
            let error = match outcome {
                Ok((status, _, body)) if (200..300).contains(&status) => {
                    return Ok(Reply {
                        operation,
                        status,
                        body,
                    });
                }
                Ok((401, _, _)) if !refreshed_after_401 => {
                    // The token may have been revoked or expired early: fetch a new one once.
                    refreshed_after_401 = true;
                    inner.tokens.invalidate(generation).await;
                    tracing::info!(operation, "HTTP 401; refreshing the access token once");
                    continue;
                }
                Ok((status, retry_after, bytes)) => classify(
                    operation,
                    url.path(),
                    status,
                    retry_after,
                    ErrorBody::parse(&bytes),
                    attempts,
                ),
                Err(e) => transport_error(operation, attempts, e, config.request_timeout),
            };
            match &error {
                GenesysError::RateLimited { retry_after, .. } => {
                    inner.budget.pause(*retry_after);
                    if *retry_after > config.max_retry_after
                        || rate_limit_retries >= config.max_retries
                    {
                        return Err(error);
                    }
                    rate_limit_retries += 1;
                    tracing::warn!(
                        operation,
                        retry_after_ms = retry_after.as_millis(),
                        "HTTP 429; pausing every caller of this OAuth client"
                    );
                }
                GenesysError::Transient { detail, .. } => {
                    if transient_retries >= config.max_retries {
                        return Err(error);
                    }
                    let delay = inner.backoff.delay(transient_retries);
                    transient_retries += 1;
                    tracing::warn!(
                        operation,
                        detail = %detail,
                        retry_in_ms = delay.as_millis(),
                        attempt = attempts,
                        "transient Genesys failure; retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                _ => return Err(error),
            }
        }
    }

    /// Walks every page of a `*EntityListing` (`pageSize`/`pageNumber` paging), one
    /// [`send`](Self::send) per page; only the first page takes `request`'s admission. Gives up
    /// with a `Decode` error when the pages together exceed `max_response_bytes`, when a page
    /// repeats the one before it (a server ignoring `pageNumber` would otherwise be walked
    /// `MAX_PAGES` times), or after `MAX_PAGES` pages.
    pub(crate) async fn get_all_pages<T: DeserializeOwned>(
        &self,
        request: ApiRequest,
    ) -> Result<Vec<T>, GenesysError> {
        let operation = request.operation;
        let first_page = request.admission;
        let limit = self.inner.config.max_response_bytes;
        let mut all = Vec::new();
        let mut read = 0usize;
        let mut previous: Option<Vec<serde_json::Value>> = None;
        for page in 1..=MAX_PAGES {
            let reply = self
                .send(
                    request
                        .clone()
                        .query("pageSize", PAGE_SIZE)
                        .query("pageNumber", page)
                        .admission(first_page.for_page(page)),
                )
                .await?;
            let status = reply.status;
            read = read.saturating_add(reply.body.len());
            if read > limit {
                return Err(GenesysError::Decode {
                    operation: operation.to_owned(),
                    status,
                    detail: format!(
                        "the listing's pages together exceed the client's limit of {} \
                         (max_response_bytes); stopped at page {page}",
                        show_bytes(limit)
                    ),
                });
            }
            let listing: Listing<serde_json::Value> = reply.json()?;
            let count = listing.entities.len();
            if count > 0 && previous.as_ref() == Some(&listing.entities) {
                return Err(GenesysError::Decode {
                    operation: operation.to_owned(),
                    status,
                    detail: format!(
                        "page {page} repeats page {} (the server ignores pageNumber); \
                         stopped walking the listing",
                        page - 1
                    ),
                });
            }
            for entity in &listing.entities {
                all.push(decode_value::<T>(operation, status, entity.clone())?);
            }
            previous = Some(listing.entities);
            let last = match (listing.page_count, listing.next_uri) {
                _ if count == 0 => true,
                (Some(page_count), _) => i64::from(page) >= page_count,
                (None, Some(_)) => false,
                (None, None) => count < PAGE_SIZE as usize,
            };
            if last {
                return Ok(all);
            }
        }
        Err(too_many_pages(operation))
    }

    fn url(&self, request: &ApiRequest) -> Result<Url, GenesysError> {
        let mut url = self.inner.api.clone();
        {
            let mut segments = url.path_segments_mut().map_err(|()| GenesysError::Config {
                detail: format!("API base URL {} cannot take a path", self.inner.api),
            })?;
            segments.pop_if_empty().extend(["api", "v2"]);
            segments.extend(request.segments.iter().map(String::as_str));
        }
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in &request.query {
                pairs.append_pair(key, value);
            }
        }
        Ok(url)
    }
}

impl Admit for GenesysClient {
    /// Takes one slot of the shared budget now (waiting for it as any call would), for a
    /// request sent later with [`Admission::Admitted`]. A
    /// batch of coalesced reads is built only once its slot is granted, so that callers
    /// arriving meanwhile can join it.
    async fn admit(&self, operation: &str) -> Result<(), GenesysError> {
        let waited = self.inner.budget.acquire(operation).await?;
        if waited >= Duration::from_millis(1)
            && let Some(observer) = &self.inner.config.observer
        {
            observer.on_rate_limit_wait(waited);
        }
        Ok(())
    }
}
