//! The one request path every call takes: shared rate budget, bearer token, per-request timeout,
//! observer hook (operation, status, elapsed), retries, classification and decoding.
//!
//! [`GenesysClient`] lives here; the typed calls are in the sibling modules (`users`, `routing`,
//! ...), each a thin `impl GenesysClient` block over [`GenesysClient::send_json`] and
//! [`GenesysClient::send_empty`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use super::auth::{AccessToken, TokenSource, transport_error};
use super::config::ClientConfig;
use super::error::{ErrorBody, GenesysError, classify};
use super::models::Listing;
use super::ratelimit::{RateBudget, parse_retry_after};
use super::retry::Backoff;

/// Page size used when walking listings (Genesys's documented maximum for queue members).
pub(crate) const PAGE_SIZE: u32 = 100;
/// A listing with more pages than this is treated as a server defect rather than walked forever.
pub(crate) const MAX_PAGES: u32 = 1000;

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
        let tokens = TokenSource::new(
            http.clone(),
            config.endpoints.login(),
            config.credentials.clone(),
            config.request_timeout,
            config.max_retries,
            config.max_retry_after,
            backoff,
            config.observer.clone(),
        )?;
        let budget = RateBudget::new(
            config.requests_per_minute,
            config.headroom,
            config.max_retry_after,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                api: config.endpoints.api().clone(),
                tokens,
                budget,
                config,
                backoff,
                offline_presence: tokio::sync::OnceCell::new(),
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
        let (status, bytes) = self.execute(&request).await?;
        decode(request.operation, status, &bytes)
    }

    /// Sends `request`; any 2xx is success, with or without a body.
    pub(crate) async fn send_empty(&self, request: ApiRequest) -> Result<(), GenesysError> {
        self.execute(&request).await.map(|_| ())
    }

    /// Walks every page of a `*EntityListing` (`pageSize`/`pageNumber` paging).
    pub(crate) async fn get_all_pages<T: DeserializeOwned>(
        &self,
        request: ApiRequest,
    ) -> Result<Vec<T>, GenesysError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let req = request
                .clone()
                .query("pageSize", PAGE_SIZE)
                .query("pageNumber", page);
            let listing: Listing<T> = self.send_json(req).await?;
            let count = listing.entities.len();
            all.extend(listing.entities);
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

    async fn execute(&self, request: &ApiRequest) -> Result<(u16, Bytes), GenesysError> {
        let inner = &*self.inner;
        let config = &inner.config;
        let operation = request.operation;
        let url = self.url(request)?;
        let resource = url.path().to_owned();
        let mut attempts = 0u32;
        let mut transient_retries = 0u32;
        let mut rate_limit_retries = 0u32;
        let mut refreshed_after_401 = false;
        loop {
            attempts += 1;
            let waited = inner.budget.acquire(operation).await?;
            if waited >= Duration::from_millis(1)
                && let Some(observer) = &config.observer
            {
                observer.on_rate_limit_wait(waited);
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
        let outcome = async {
            let response = builder.send().await?;
            let code = response.status().as_u16();
            status = Some(code);
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let bytes = response.bytes().await?;
            Ok((code, retry_after, bytes))
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
        Ok(outcome)
    }
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

/// What one HTTP exchange produced: status, `Retry-After` and body, or a transport error.
type Exchange = Result<(u16, Option<Duration>, Bytes), reqwest::Error>;

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
    use crate::genesys::models::User;

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
        let ok: crate::genesys::models::AggregateQueryResponse =
            decode("post_analytics_conversations_aggregates_query", 200, b"").unwrap();
        assert!(ok.results.is_empty());
    }
}
