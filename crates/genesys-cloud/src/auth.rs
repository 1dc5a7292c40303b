//! OAuth client-credentials tokens (`docs/genesys-api.md` §1): `POST {login}/oauth/token` with Basic
//! auth and `grant_type=client_credentials`.
//!
//! The token is cached and refreshed before it expires (60 s before, or at 90 % of `expires_in`
//! for short-lived tokens: see [`refresh_lead`]) and after a 401.
//! Refresh is single-flight: concurrent callers wait on one request instead of stampeding the
//! login host. Neither the secret nor the token ever reaches a log line, `Debug` or `Display`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::config::{CallObserver, ClientConfig, ClientCredentials};
use super::error::{GenesysError, MAX_ERROR_BODY_BYTES, OAuthErrorBody, bounded_text};
use super::http::{BodyFailure, read_body, show_bytes, transport_error};
use super::ratelimit::parse_retry_after;
use super::retry::Backoff;

/// The operation name used for the token request in errors and observer calls.
pub const TOKEN_OPERATION: &str = "post_oauth_token";

/// An OAuth access token. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct AccessToken(SecretString);

impl AccessToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(SecretString::from(token.into()))
    }

    /// `Authorization: Bearer <token>`, marked sensitive so that `http` never prints it.
    pub(crate) fn bearer_header(&self) -> Result<HeaderValue, GenesysError> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0.expose_secret()))
            .map_err(|_| GenesysError::Auth {
                operation: TOKEN_OPERATION.into(),
                status: 200,
                error: Some("invalid_token".into()),
                description: Some(
                    "the access token contains characters not allowed in a header".into(),
                ),
            })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([REDACTED])")
    }
}

impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// How long before expiry a token is refreshed: 60 s, but never more than 10 % of its lifetime
/// (so a 5-second token is used for 4.5 s and a 24-hour token for 23 h 59 min).
pub(crate) fn refresh_lead(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(60))
}

struct Cached {
    token: AccessToken,
    refresh_at: Instant,
    generation: u64,
}

pub(crate) struct TokenSource {
    http: reqwest::Client,
    token_url: Url,
    credentials: ClientCredentials,
    timeout: Duration,
    max_retries: u32,
    max_retry_after: Duration,
    max_response_bytes: usize,
    backoff: Backoff,
    observer: Option<Arc<dyn CallObserver>>,
    cache: Mutex<Option<Cached>>,
}

/// Lifetime assumed when the login host omits `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

impl TokenSource {
    /// The token source of a client: its login host, credentials, timeouts, retry policy and
    /// body limit come from `config`; `http` is the client's connection pool.
    pub fn new(
        http: reqwest::Client,
        config: &ClientConfig,
        backoff: Backoff,
    ) -> Result<Self, GenesysError> {
        let login = config.endpoints.login();
        let token_url = login
            .join("oauth/token")
            .map_err(|e| GenesysError::Config {
                detail: format!("cannot build the token URL from {login}: {e}"),
            })?;
        Ok(Self {
            http,
            token_url,
            credentials: config.credentials.clone(),
            timeout: config.request_timeout,
            max_retries: config.max_retries,
            max_retry_after: config.max_retry_after,
            max_response_bytes: config.max_response_bytes,
            backoff,
            observer: config.observer.clone(),
            cache: Mutex::new(None),
        })
    }

    /// A valid token and its generation (pass the generation to [`TokenSource::invalidate`]
    /// after a 401). Fetches a new one when none is cached or the cached one is due.
    pub async fn token(&self) -> Result<(AccessToken, u64), GenesysError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref()
            && Instant::now() < cached.refresh_at
        {
            return Ok((cached.token.clone(), cached.generation));
        }
        let generation = cache.as_ref().map_or(1, |c| c.generation + 1);
        let (token, lifetime) = self.fetch().await?;
        let refresh_at = Instant::now() + lifetime.saturating_sub(refresh_lead(lifetime));
        tracing::debug!(
            lifetime_s = lifetime.as_secs(),
            generation,
            "obtained a Genesys access token"
        );
        *cache = Some(Cached {
            token: token.clone(),
            refresh_at,
            generation,
        });
        Ok((token, generation))
    }

    /// Drops the cached token if it is still the one of `generation` (a 401 with an older token
    /// does not throw away a token another caller just fetched).
    pub async fn invalidate(&self, generation: u64) {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_mut()
            && c.generation == generation
        {
            c.refresh_at = Instant::now();
        }
    }

    async fn fetch(&self) -> Result<(AccessToken, Duration), GenesysError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.fetch_once(attempt).await {
                Ok(token) => return Ok(token),
                Err(FetchError::Retry { error, wait }) if attempt <= self.max_retries => {
                    let wait = wait.unwrap_or_else(|| self.backoff.delay(attempt - 1));
                    tracing::warn!(attempt, wait_ms = wait.as_millis(), error = %error, "retrying the token request");
                    tokio::time::sleep(wait).await;
                }
                Err(FetchError::Retry { error, .. } | FetchError::Fatal(error)) => {
                    return Err(error);
                }
            }
        }
    }

    async fn fetch_once(&self, attempt: u32) -> Result<(AccessToken, Duration), FetchError> {
        let started = Instant::now();
        let response = self
            .http
            .post(self.token_url.clone())
            .basic_auth(
                self.credentials.client_id(),
                Some(self.credentials.client_secret().expose_secret()),
            )
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("grant_type=client_credentials")
            .timeout(self.timeout)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                self.observe(None, started.elapsed());
                return Err(FetchError::Retry {
                    error: transport_error(TOKEN_OPERATION, attempt, e, self.timeout),
                    wait: None,
                });
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // An error's body only explains it: a large one is not read.
        let error = !(200..300).contains(&status);
        let limit = if error {
            self.max_response_bytes.min(MAX_ERROR_BODY_BYTES)
        } else {
            self.max_response_bytes
        };
        let bytes = read_body(response, limit).await;
        self.observe(Some(status), started.elapsed());
        let bytes = bytes.or_else(|failure| match failure {
            BodyFailure::TooLarge if error => Ok(bytes::Bytes::new()),
            BodyFailure::Transport(e) => Err(FetchError::Retry {
                error: transport_error(TOKEN_OPERATION, attempt, e, self.timeout),
                wait: None,
            }),
            BodyFailure::TooLarge => Err(FetchError::Fatal(GenesysError::Decode {
                operation: TOKEN_OPERATION.into(),
                status,
                detail: format!(
                    "the token response is larger than the client's limit of {} \
                     (max_response_bytes); it was not read",
                    show_bytes(self.max_response_bytes)
                ),
            })),
        })?;
        if (200..300).contains(&status) {
            let parsed: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| {
                FetchError::Fatal(GenesysError::NotOAuth {
                    operation: TOKEN_OPERATION.into(),
                    status,
                    detail: format!("the answer holds no access token: {e}"),
                })
            })?;
            let lifetime = parsed
                .expires_in
                .map_or(DEFAULT_LIFETIME, Duration::from_secs);
            return Ok((AccessToken::new(parsed.access_token), lifetime));
        }
        if status == 429 || status >= 500 && status != 501 {
            let wait = retry_after.filter(|w| *w <= self.max_retry_after);
            return Err(FetchError::Retry {
                error: GenesysError::Transient {
                    operation: TOKEN_OPERATION.into(),
                    status: Some(status),
                    attempts: attempt,
                    detail: format!("the login host answered HTTP {status}"),
                    body: None,
                    source: None,
                },
                wait,
            });
        }
        Err(FetchError::Fatal(refusal(status, &bytes)))
    }

    fn observe(&self, status: Option<u16>, elapsed: Duration) {
        if let Some(o) = &self.observer {
            o.on_call(TOKEN_OPERATION, status, elapsed);
        }
    }
}

/// What a token request answered with a final non-2xx status means. Only an OAuth answer (an
/// OAuth error body on a 400, 401 or 403, as RFC 6749 §5.2 and Genesys send for refused
/// credentials, or a bare 401) judges the credentials: `Auth`. Anything else (a 404 or another
/// status, whatever its body, a 400 or 403 without an OAuth error, a redirect) says the login
/// URL is not an OAuth token endpoint: `NotOAuth`, never "credentials rejected".
fn refusal(status: u16, bytes: &[u8]) -> GenesysError {
    let body = serde_json::from_slice::<OAuthErrorBody>(bytes)
        .ok()
        .filter(|b| b.error.is_some());
    match body {
        Some(body) if matches!(status, 400 | 401 | 403) => GenesysError::Auth {
            operation: TOKEN_OPERATION.into(),
            status,
            error: body.error.as_deref().map(bounded_text),
            description: body
                .error_description
                .or(body.description)
                .as_deref()
                .map(bounded_text),
        },
        None if status == 401 => GenesysError::Auth {
            operation: TOKEN_OPERATION.into(),
            status,
            error: None,
            description: None,
        },
        _ => GenesysError::NotOAuth {
            operation: TOKEN_OPERATION.into(),
            status,
            detail: if (300..400).contains(&status) {
                "a redirect (the client follows none)".to_owned()
            } else {
                "the body holds no OAuth error".to_owned()
            },
        },
    }
}

enum FetchError {
    Retry {
        error: GenesysError,
        wait: Option<Duration>,
    },
    Fatal(GenesysError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_token_debug_and_display_redact() {
        let token = AccessToken::new("super-secret-token");
        assert!(!format!("{token:?}").contains("super-secret-token"));
        assert!(!format!("{token}").contains("super-secret-token"));
        let header = token.bearer_header().ok();
        assert!(header.is_some_and(|h| h.is_sensitive()));
    }

    #[test]
    fn only_an_oauth_answer_judges_the_credentials() {
        let oauth = br#"{"error":"unauthorized_client","description":"secret does not match"}"#;
        let table: [(u16, &[u8], &str); 10] = [
            (400, oauth, "AuthenticationFailed"),
            (401, oauth, "AuthenticationFailed"),
            (401, b"", "AuthenticationFailed"),
            (404, b"<html>Not Found</html>", "LoginEndpointInvalid"),
            (404, oauth, "LoginEndpointInvalid"),
            (400, b"{}", "LoginEndpointInvalid"),
            (403, b"forbidden", "LoginEndpointInvalid"),
            (403, oauth, "AuthenticationFailed"),
            (302, b"", "LoginEndpointInvalid"),
            (501, oauth, "LoginEndpointInvalid"),
        ];
        for (status, body, reason) in table {
            let error = refusal(status, body);
            assert_eq!(error.reason(), reason, "HTTP {status} {body:?}: {error}");
            assert_eq!(error.status(), Some(status));
        }
    }

    #[test]
    fn refresh_lead_is_a_minute_or_a_tenth_of_short_lifetimes() {
        assert_eq!(
            refresh_lead(Duration::from_secs(86_399)),
            Duration::from_secs(60)
        );
        assert_eq!(
            refresh_lead(Duration::from_secs(5)),
            Duration::from_millis(500)
        );
        assert_eq!(refresh_lead(Duration::ZERO), Duration::ZERO);
    }
}
