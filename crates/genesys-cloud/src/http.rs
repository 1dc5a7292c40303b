//! The one request path every call takes: shared rate budget, bearer token, per-request timeout,
//! observer hook (operation, status, elapsed), retries, classification and decoding.
//!
//! [`GenesysClient`] lives here; the typed calls are in the sibling modules (`users`, `routing`,
//! ...), each a thin `impl GenesysClient` block over [`GenesysClient::send_json`] and
//! [`GenesysClient::send_empty`].
//!
//! Hostile or broken answers end in a clear error, never a panic or unbounded memory: a body
//! larger than `max_response_bytes` is not read past the limit, an error body larger than
//! [`MAX_ERROR_BODY_BYTES`] is dropped (the status alone classifies the error) and the text kept
//! from one is cut (see [`ErrorBody::parse`]), a listing whose pages together
//! exceed it or that repeats a page is abandoned, and `Retry-After` is clamped to
//! [`MIN_RETRY_AFTER`, `MAX_RETRY_AFTER`] (a date in the past waits the minimum, an absurd
//! value the maximum).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use super::auth::{AccessToken, TokenSource, transport_error};
use super::batch::Coalescer;
use super::config::ClientConfig;
use super::error::{ErrorBody, GenesysError, MAX_ERROR_BODY_BYTES, classify};
use super::models::{AnalyticsConversation, EmailMatches, Interval, Listing, User, UserId};
use super::ratelimit::{RateBudget, parse_retry_after};
use super::retry::Backoff;

/// Page size used when walking listings (Genesys's documented maximum for queue members).
pub(crate) const PAGE_SIZE: u32 = 100;
/// A listing with more pages than this is treated as a server defect rather than walked forever.
pub(crate) const MAX_PAGES: u32 = 1000;
/// The shortest wait a `Retry-After` can ask for: `0`, a negative number or a date in the past
/// would otherwise make every caller retry at once, in a loop.
pub const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The longest wait a `Retry-After` can impose (one hour, 20 times the Go SDK's in-line limit):
/// a larger value, up to the largest number or the year 9999, is clamped to it.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

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
}

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
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                api: config.endpoints.api().clone(),
                tokens,
                budget,
                config,
                backoff,
                offline_presence: tokio::sync::OnceCell::new(),
                users_by_id: Coalescer::new(max_batch),
                email_searches: Coalescer::new(max_batch),
                conversations: Coalescer::new(max_batch),
                queue_removals: Coalescer::new(max_batch),
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Requests per minute the shared budget actually allows, and its burst.
    pub fn effective_rate(&self) -> (u32, u32) {
        self.inner.budget.effective()
    }

    /// Fetches a token now (normally done lazily by the first call): a cheap credentials check.
    pub async fn authenticate(&self) -> Result<(), GenesysError> {
        self.inner.tokens.token().await.map(|_| ())
    }

    /// Sends `request` and decodes a JSON body into `T`.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        request: ApiRequest,
    ) -> Result<T, GenesysError> {
        self.send_json_as(request, Admission::Wait).await
    }

    /// [`send_json`](Self::send_json), whose first attempt may already hold a slot of the
    /// budget (see [`admit`](Self::admit)).
    pub(crate) async fn send_json_as<T: DeserializeOwned>(
        &self,
        request: ApiRequest,
        admission: Admission,
    ) -> Result<T, GenesysError> {
        let (status, bytes) = self.execute(&request, admission).await?;
        decode(request.operation, status, &bytes)
    }

    /// Takes one slot of the shared budget now (waiting for it as any call would), for a
    /// request sent later with [`Admission::Admitted`]. A batch of coalesced reads is built
    /// only once its slot is granted, so that callers arriving meanwhile can join it.
    pub(crate) async fn admit(&self, operation: &str) -> Result<(), GenesysError> {
        let waited = self.inner.budget.acquire(operation).await?;
        if waited >= Duration::from_millis(1)
            && let Some(observer) = &self.inner.config.observer
        {
            observer.on_rate_limit_wait(waited);
        }
        Ok(())
    }

    /// Sends `request`; any 2xx is success, with or without a body.
    pub(crate) async fn send_empty(&self, request: ApiRequest) -> Result<(), GenesysError> {
        self.send_empty_as(request, Admission::Wait).await
    }

    /// [`send_empty`](Self::send_empty) whose first attempt may already hold a slot.
    pub(crate) async fn send_empty_as(
        &self,
        request: ApiRequest,
        admission: Admission,
    ) -> Result<(), GenesysError> {
        self.execute(&request, admission).await.map(|_| ())
    }

    /// Walks every page of a `*EntityListing` (`pageSize`/`pageNumber` paging). Gives up with a
    /// `Decode` error when the pages together exceed `max_response_bytes`, when a page repeats
    /// the one before it (a server ignoring `pageNumber` would otherwise be walked `MAX_PAGES`
    /// times), or after `MAX_PAGES` pages.
    pub(crate) async fn get_all_pages<T: DeserializeOwned>(
        &self,
        request: ApiRequest,
    ) -> Result<Vec<T>, GenesysError> {
        self.get_all_pages_as(request, Admission::Wait).await
    }

    /// [`get_all_pages`](Self::get_all_pages) whose first page may already hold a slot.
    pub(crate) async fn get_all_pages_as<T: DeserializeOwned>(
        &self,
        request: ApiRequest,
        first_page: Admission,
    ) -> Result<Vec<T>, GenesysError> {
        let operation = request.operation;
        let limit = self.inner.config.max_response_bytes;
        let mut all = Vec::new();
        let mut read = 0usize;
        let mut previous: Option<Vec<serde_json::Value>> = None;
        for page in 1..=MAX_PAGES {
            let req = request
                .clone()
                .query("pageSize", PAGE_SIZE)
                .query("pageNumber", page);
            let admission = first_page.for_page(page);
            let (status, bytes) = self.execute(&req, admission).await?;
            read = read.saturating_add(bytes.len());
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
            let listing: Listing<serde_json::Value> = decode(operation, status, &bytes)?;
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
        Err(too_many_pages(request.operation))
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

    async fn execute(
        &self,
        request: &ApiRequest,
        admission: Admission,
    ) -> Result<(u16, Bytes), GenesysError> {
        let inner = &*self.inner;
        let config = &inner.config;
        let operation = request.operation;
        let url = self.url(request)?;
        let resource = url.path().to_owned();
        let mut attempts = 0u32;
        let mut transient_retries = 0u32;
        let mut rate_limit_retries = 0u32;
        let mut refreshed_after_401 = false;
        let mut admitted = admission == Admission::Admitted;
        loop {
            attempts += 1;
            if !std::mem::take(&mut admitted) {
                self.admit(operation).await?;
            }
            let (token, generation) = inner.tokens.token().await?;
            let outcome = self
                .send_once(request, &url, &resource, &token, attempts)
                .await?;
            let error = match outcome {
                Ok((status, _, bytes)) if (200..300).contains(&status) => {
                    return Ok((status, bytes));
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
                    &resource,
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

    /// One HTTP exchange: sends, reads the whole body, reports to the observer and the log.
    async fn send_once(
        &self,
        request: &ApiRequest,
        url: &Url,
        resource: &str,
        token: &AccessToken,
        attempt: u32,
    ) -> Result<Exchange, GenesysError> {
        let config = &self.inner.config;
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), url.clone())
            .header(AUTHORIZATION, token.bearer_header()?)
            .header(ACCEPT, "application/json")
            .timeout(config.request_timeout);
        if let Some(body) = &request.body {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let started = Instant::now();
        let mut status = None;
        let limit = config.max_response_bytes;
        let outcome = async {
            let response = builder.send().await.map_err(Failure::Transport)?;
            let code = response.status().as_u16();
            status = Some(code);
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after_header(request.operation, v));
            // An error's body serves only to classify and explain it: a large one is not read.
            let error = !(200..300).contains(&code);
            let read_limit = if error {
                limit.min(MAX_ERROR_BODY_BYTES)
            } else {
                limit
            };
            let body = match read_body(response, read_limit).await {
                Ok(body) => body,
                Err(BodyFailure::TooLarge) if error => Bytes::new(),
                Err(BodyFailure::TooLarge) => return Err(Failure::TooLarge { status: code }),
                Err(BodyFailure::Transport(e)) => return Err(Failure::Transport(e)),
            };
            Ok((code, retry_after, body))
        }
        .await;
        let elapsed = started.elapsed();
        if let Some(observer) = &config.observer {
            observer.on_call(request.operation, status, elapsed);
        }
        tracing::debug!(
            operation = request.operation,
            method = %request.method,
            path = %resource,
            status,
            elapsed_ms = elapsed.as_millis(),
            attempt,
            "Genesys call"
        );
        match outcome {
            Ok(exchange) => Ok(Ok(exchange)),
            Err(Failure::Transport(e)) => Ok(Err(e)),
            Err(Failure::TooLarge { status }) => Err(GenesysError::Decode {
                operation: request.operation.to_owned(),
                status,
                detail: format!(
                    "the response body is larger than the client's limit of {} \
                     (max_response_bytes); it was not read",
                    show_bytes(limit)
                ),
            }),
        }
    }
}

/// Why one exchange produced no usable response.
enum Failure {
    /// No complete response (timeout, connection refused or reset, unreadable body).
    Transport(reqwest::Error),
    /// The body is larger than `max_response_bytes` (declared or as read).
    TooLarge { status: u16 },
}

/// Why a response body could not be read.
pub(crate) enum BodyFailure {
    /// The connection failed or timed out while the body streamed in.
    Transport(reqwest::Error),
    /// The body is larger than the limit (as declared by `Content-Length`, or as read).
    TooLarge,
}

/// Reads a response body of at most `limit` bytes: a larger declared length is refused before
/// reading, and a streamed body is cut off at the limit, so a hostile server cannot make the
/// client buffer more than `limit`.
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, BodyFailure> {
    if response
        .content_length()
        .is_some_and(|declared| declared > limit as u64)
    {
        return Err(BodyFailure::TooLarge);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyFailure::Transport)? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(BodyFailure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `16 MiB`, `64 KiB` or `1000 bytes`.
pub(crate) fn show_bytes(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// The `Retry-After` to act on: delta-seconds (integer or not) or an HTTP date, clamped to
/// [`MIN_RETRY_AFTER`, `MAX_RETRY_AFTER`]; `None` when the value is not a delay at all
/// (garbage, `inf`, `NaN`), which classifies the 429 as transient (backed off).
pub(crate) fn retry_after_header(operation: &str, value: &str) -> Option<Duration> {
    let text = value.trim();
    let seconds = match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() => seconds,
        Ok(_) => return None,
        // Not a number: an HTTP date (in the past: zero), or garbage.
        Err(_) => parse_retry_after(text)?.as_secs_f64(),
    };
    let clamped = seconds.clamp(MIN_RETRY_AFTER.as_secs_f64(), MAX_RETRY_AFTER.as_secs_f64());
    if (clamped - seconds).abs() > f64::EPSILON {
        tracing::warn!(
            operation,
            retry_after = text,
            used_s = clamped,
            "implausible Retry-After; clamped"
        );
    }
    Some(Duration::from_secs_f64(clamped))
}

pub(crate) fn too_many_pages(operation: &str) -> GenesysError {
    GenesysError::Decode {
        operation: operation.to_owned(),
        status: 200,
        detail: format!("the listing did not end within {MAX_PAGES} pages"),
    }
}

/// Decodes a success body. An empty body decodes as `{}` when `T` allows it.
pub(crate) fn decode<T: DeserializeOwned>(
    operation: &str,
    status: u16,
    bytes: &[u8],
) -> Result<T, GenesysError> {
    let fail = |detail: String| GenesysError::Decode {
        operation: operation.to_owned(),
        status,
        detail,
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return serde_json::from_slice(b"{}")
            .map_err(|_| fail("the body is empty, a JSON document was expected".into()));
    }
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Err(e) => Err(fail(format!("the body is not JSON ({e})"))),
        Ok(value) => serde_json::from_value(value)
            .map_err(|e| fail(format!("the JSON has an unexpected shape ({e})"))),
    }
}

/// Decodes one entity of a listing that was first read as JSON values.
fn decode_value<T: DeserializeOwned>(
    operation: &str,
    status: u16,
    value: serde_json::Value,
) -> Result<T, GenesysError> {
    serde_json::from_value(value).map_err(|e| GenesysError::Decode {
        operation: operation.to_owned(),
        status,
        detail: format!("the JSON has an unexpected shape ({e})"),
    })
}

/// What one HTTP exchange produced: status, `Retry-After` and body, or a transport error.
type Exchange = Result<(u16, Option<Duration>, Bytes), reqwest::Error>;

/// Whether a request's first attempt must still wait for a slot of the shared budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Wait for a slot, as every call does.
    Wait,
    /// A slot was taken with [`GenesysClient::admit`]; retries wait for their own.
    Admitted,
}

impl Admission {
    /// The admission of page `page` (from 1) of a walk whose first page is `self`: later pages
    /// wait for their own slot.
    pub(crate) fn for_page(self, page: u32) -> Admission {
        if page == 1 { self } else { Admission::Wait }
    }
}

/// One API call: operation id, method, path below `/api/v2`, query and JSON body.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub operation: &'static str,
    pub method: Method,
    pub segments: Vec<String>,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Bytes>,
}

impl ApiRequest {
    pub fn new(operation: &'static str, method: Method, segments: &[&str]) -> Self {
        Self {
            operation,
            method,
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            body: None,
        }
    }

    pub fn get(operation: &'static str, segments: &[&str]) -> Self {
        Self::new(operation, Method::GET, segments)
    }

    #[must_use]
    #[allow(clippy::needless_pass_by_value)]
    pub fn query(mut self, key: &'static str, value: impl ToString) -> Self {
        self.query.push((key, value.to_string()));
        self
    }

    /// Lists are sent comma-joined (`expand=a,b`), as both official SDKs do.
    #[must_use]
    pub fn query_list(self, key: &'static str, values: &[&str]) -> Self {
        if values.is_empty() {
            self
        } else {
            self.query(key, values.join(","))
        }
    }

    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self, GenesysError> {
        let bytes = serde_json::to_vec(body).map_err(|e| GenesysError::Config {
            detail: format!("cannot encode the {} request body: {e}", self.operation),
        })?;
        self.body = Some(Bytes::from(bytes));
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::models::User;

    #[test]
    fn decode_errors_name_the_operation_and_the_problem() {
        let e = decode::<User>("get_user", 200, b"<html>oops</html>").unwrap_err();
        assert_eq!(e.reason(), "DecodeError");
        let shown = e.to_string();
        assert!(
            shown.contains("get_user") && shown.contains("not JSON"),
            "{shown}"
        );
        let e = decode::<User>("get_user", 200, br#"{"name":"no id"}"#).unwrap_err();
        assert!(e.to_string().contains("unexpected shape"), "{e}");
        let e = decode::<User>("get_user", 200, b"").unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let ok: crate::models::AggregateQueryResponse =
            decode("post_analytics_conversations_aggregates_query", 200, b"").unwrap();
        assert!(ok.results.is_empty());
    }

    #[test]
    fn retry_after_is_clamped_between_a_second_and_an_hour_and_never_panics() {
        let header = |v: &str| retry_after_header("get_user", v);
        assert_eq!(header("5"), Some(Duration::from_secs(5)));
        assert_eq!(header("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(header("0"), Some(MIN_RETRY_AFTER), "no zero-wait loop");
        assert_eq!(header("-3"), Some(MIN_RETRY_AFTER));
        assert_eq!(
            header("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(MIN_RETRY_AFTER),
            "a date in the past waits the minimum"
        );
        assert_eq!(header("3600"), Some(MAX_RETRY_AFTER));
        // Each of these used to panic: `Duration::from_secs_f64` overflows on 1e20, and a
        // u64::MAX-second pause overflows `Instant`.
        for absurd in [
            "18446744073709551615",
            "99999999999999999999999",
            "1e20",
            "1e308",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            assert_eq!(header(absurd), Some(MAX_RETRY_AFTER), "{absurd}");
        }
        for garbage in ["soon", "", "inf", "-inf", "NaN", "1 hour", "0x10"] {
            assert_eq!(header(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn byte_sizes_are_shown_in_the_largest_exact_unit() {
        assert_eq!(show_bytes(16 * 1024 * 1024), "16 MiB");
        assert_eq!(show_bytes(64 * 1024), "64 KiB");
        assert_eq!(show_bytes(1000), "1000 bytes");
    }

    /// Fuzzing of every response decode path the client uses: no input panics, and
    /// valid models survive a round trip.
    mod fuzz {
        use proptest::prelude::*;

        use super::super::decode;
        use crate::error::{ErrorBody, OAuthErrorBody, classify};
        use crate::models::{
            AggregateQueryResponse, AnalyticsConversation, AsyncQueryResponse, AsyncQueryStatus,
            AuthzSubject, ConversationQueryPage, DetailsJobPage, EntityRef, Listing, Organization,
            PresenceDefinition, PresenceDefinitionRef, QueueMember, RoleDivision, RoutingStatus,
            StateChangeReason, User, UserAuthorization, UserId, UserPresence, UserQueue,
            UserRoutingLanguage, UserRoutingSkill, UserState, UserStateInfo, UserStations,
            UsersSearchResponse,
        };

        /// Field names of the response models, so that generated objects reach deep into them.
        const FIELDS: &[&str] = &[
            "id",
            "name",
            "email",
            "username",
            "state",
            "version",
            "division",
            "entities",
            "pageCount",
            "nextUri",
            "results",
            "nextPage",
            "conversations",
            "conversationId",
            "conversationStart",
            "participants",
            "userId",
            "sessions",
            "segments",
            "segmentStart",
            "status",
            "routingStatus",
            "presence",
            "presenceDefinition",
            "systemPresence",
            "associatedStation",
            "defaultStation",
            "grants",
            "role",
            "jobId",
            "cursor",
            "group",
            "data",
            "metrics",
            "stats",
            "count",
            "message",
            "code",
            "messageParams",
            "messageWithParams",
            "errors",
            "details",
            "limit",
            "joined",
            "memberBy",
            "proficiency",
            "languageLabels",
            "totalHits",
            "stateChangeReason",
            "primaryContactInfo",
            "skills",
            "languages",
            "authorization",
            "roles",
            "error",
            "error_description",
            "description",
            "contextId",
        ];

        fn leaf() -> impl Strategy<Value = serde_json::Value> {
            prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
                "[a-zA-Z0-9 .:_-]{0,16}".prop_map(serde_json::Value::from),
                prop::sample::select(vec![
                    "active",
                    "inactive",
                    "deleted",
                    "7",
                    "seven",
                    "FULFILLED",
                    "OFF_QUEUE",
                    "2024-04-01T00:00:00Z",
                    "not a date",
                    "directory:user:edit",
                    "user",
                ])
                .prop_map(serde_json::Value::from),
            ]
        }

        fn json() -> impl Strategy<Value = serde_json::Value> {
            leaf().prop_recursive(5, 96, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
                    prop::collection::btree_map(prop::sample::select(FIELDS), inner, 0..8)
                        .prop_map(|m| {
                            serde_json::Value::Object(
                                m.into_iter().map(|(k, v)| ((*k).to_owned(), v)).collect(),
                            )
                        }),
                ]
            })
        }

        /// Every decode the client performs on a response body, as it performs it.
        fn decode_everything(bytes: &[u8]) {
            fn one<T: serde::de::DeserializeOwned>(bytes: &[u8]) {
                if let Err(e) = decode::<T>("fuzz", 200, bytes) {
                    assert_eq!(e.reason(), "DecodeError");
                    assert!(e.to_string().contains("fuzz"));
                }
            }
            one::<User>(bytes);
            one::<Listing<User>>(bytes);
            one::<Listing<UserQueue>>(bytes);
            one::<Listing<QueueMember>>(bytes);
            one::<Listing<UserRoutingSkill>>(bytes);
            one::<Listing<UserRoutingLanguage>>(bytes);
            one::<Listing<PresenceDefinition>>(bytes);
            one::<Listing<serde_json::Value>>(bytes);
            one::<UsersSearchResponse>(bytes);
            one::<RoutingStatus>(bytes);
            one::<UserStations>(bytes);
            one::<UserPresence>(bytes);
            one::<UserAuthorization>(bytes);
            one::<AuthzSubject>(bytes);
            one::<Organization>(bytes);
            one::<UserStateInfo>(bytes);
            one::<ConversationQueryPage>(bytes);
            one::<AsyncQueryResponse>(bytes);
            one::<AsyncQueryStatus>(bytes);
            one::<DetailsJobPage>(bytes);
            one::<AggregateQueryResponse>(bytes);
            // Error bodies: parsed, classified for every status, rendered.
            let body = ErrorBody::parse(bytes);
            if let Some(b) = &body {
                let _ = b.missing_permission();
                let _ = b.to_string();
            }
            for status in [400, 401, 403, 404, 408, 409, 429, 500, 501, 503] {
                let e = classify("fuzz", "/x", status, None, body.clone(), 1);
                assert!(e.to_string().contains("fuzz"));
            }
            let _: OAuthErrorBody = serde_json::from_slice(bytes).unwrap_or_default();
        }

        fn wire<T: std::str::FromStr>(text: &str) -> T
        where
            T::Err: std::fmt::Debug,
        {
            text.parse().unwrap()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn arbitrary_bytes_never_panic_a_decoder(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                decode_everything(&bytes);
            }

            #[test]
            fn arbitrary_json_never_panics_a_decoder(value in json()) {
                decode_everything(value.to_string().as_bytes());
                // The same document truncated (a connection cut mid-body): never a panic.
                let text = value.to_string();
                for cut in [text.len() / 3, text.len() / 2, text.len().saturating_sub(1)] {
                    if let Some(head) = text.get(..cut) {
                        decode_everything(head.as_bytes());
                    }
                }
            }

            #[test]
            fn listings_nested_in_arbitrary_json_never_panic(
                entities in prop::collection::vec(json(), 0..6),
                page_count in any::<Option<i64>>(),
            ) {
                let doc = serde_json::json!({"entities": entities, "pageCount": page_count,
                    "results": entities, "conversations": entities, "grants": entities});
                decode_everything(doc.to_string().as_bytes());
            }

            #[test]
            fn user_state_info_round_trips(
                state in prop::sample::select(vec!["active", "inactive", "deleted", "suspended"]),
                version in any::<Option<i64>>(),
                reason in prop::option::of(prop::sample::select(vec![
                    "Voluntary", "Seasonal", "Leave", "Performance", "Conduct", "Unknown", "Other",
                ])),
                date in prop::option::of("[0-9T:Z-]{0,24}"),
            ) {
                let info = UserStateInfo {
                    state: Some(wire::<UserState>(state)),
                    version,
                    state_change_reason: reason.map(wire::<StateChangeReason>),
                    state_change_date: date,
                };
                let bytes = serde_json::to_vec(&info).unwrap();
                prop_assert_eq!(decode::<UserStateInfo>("fuzz", 200, &bytes).unwrap(), info);
            }

            #[test]
            fn references_round_trip(
                id in "[a-z0-9-]{1,36}",
                name in prop::option::of(".{0,20}"),
                presence in prop::option::of("[A-Za-z]{1,10}"),
            ) {
                let entity = EntityRef { id: Some(id.clone()), name, self_uri: None };
                let bytes = serde_json::to_vec(&entity).unwrap();
                prop_assert_eq!(decode::<EntityRef>("fuzz", 200, &bytes).unwrap(), entity);
                let definition = PresenceDefinitionRef { id: id.clone(), system_presence: presence };
                let bytes = serde_json::to_vec(&definition).unwrap();
                prop_assert_eq!(decode::<PresenceDefinitionRef>("fuzz", 200, &bytes).unwrap(), definition);
                let grant = RoleDivision { role_id: id.clone(), division_id: id.clone() };
                let bytes = serde_json::to_vec(&grant).unwrap();
                prop_assert_eq!(decode::<RoleDivision>("fuzz", 200, &bytes).unwrap(), grant);
                let user_id = UserId::new(id);
                let bytes = serde_json::to_vec(&user_id).unwrap();
                prop_assert_eq!(decode::<UserId>("fuzz", 200, &bytes).unwrap(), user_id);
            }

            #[test]
            fn a_valid_user_listing_decodes_to_what_it_says(
                users in prop::collection::vec((
                    "[0-9a-f-]{36}",
                    ".{0,30}",
                    prop::sample::select(vec!["active", "inactive", "deleted", "suspended"]),
                    any::<i64>(),
                    any::<bool>(),
                ), 0..5),
                page_count in 0i64..1_000,
            ) {
                let entities: Vec<serde_json::Value> = users.iter().map(|(id, name, state, version, as_text)| {
                    let version = if *as_text { serde_json::json!(version.to_string()) } else { serde_json::json!(version) };
                    serde_json::json!({"id": id, "name": name, "state": state, "version": version,
                        "division": {"id": "d1", "name": "Home"}, "unknownField": [1, 2]})
                }).collect();
                let doc = serde_json::json!({"entities": entities, "pageCount": page_count});
                let listing: Listing<User> = decode("fuzz", 200, doc.to_string().as_bytes()).unwrap();
                prop_assert_eq!(listing.page_count, Some(page_count));
                prop_assert_eq!(listing.entities.len(), users.len());
                for (user, (id, name, state, version, _)) in listing.entities.iter().zip(&users) {
                    prop_assert_eq!(user.id.as_str(), id.as_str());
                    prop_assert_eq!(user.name.as_deref(), Some(name.as_str()));
                    prop_assert_eq!(user.state.as_ref().map(UserState::as_str), Some(*state));
                    prop_assert_eq!(user.version, Some(*version));
                    prop_assert_eq!(user.division.as_ref().and_then(|d| d.id.as_deref()), Some("d1"));
                }
            }

            #[test]
            fn a_valid_conversation_page_decodes_to_what_it_says(
                conversations in prop::collection::vec(("[0-9a-f-]{36}", 0i64..4_000_000_000, "[0-9a-f-]{36}"), 0..5),
            ) {
                let docs: Vec<serde_json::Value> = conversations.iter().map(|(id, start, user)| {
                    let start = chrono::DateTime::from_timestamp(*start, 0).unwrap().to_rfc3339();
                    serde_json::json!({"conversationId": id, "conversationStart": start,
                        "participants": [{"userId": user, "purpose": "agent", "sessions": []}]})
                }).collect();
                let page: ConversationQueryPage = decode("fuzz", 200,
                    serde_json::json!({"conversations": docs, "totalHits": 3}).to_string().as_bytes()).unwrap();
                let decoded: Vec<AnalyticsConversation> = page.conversations.unwrap_or_default();
                prop_assert_eq!(decoded.len(), conversations.len());
                for (c, (id, start, user)) in decoded.iter().zip(&conversations) {
                    prop_assert_eq!(&c.conversation_id, id);
                    prop_assert_eq!(c.conversation_start.map(|t| t.timestamp()), Some(*start));
                    prop_assert!(c.involves(&UserId::new(user.clone())));
                }
            }
        }
    }
}
