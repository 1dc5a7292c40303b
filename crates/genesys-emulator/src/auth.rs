//! OAuth client credentials (docs/genesys-api.md §1) and bearer-token checks.
//!
//! `POST /oauth/token` with `Authorization: Basic base64(id:secret)` and the form body
//! `grant_type=client_credentials` answers `{access_token, token_type: "bearer", expires_in}`.
//! A failed grant is a 400 with an OAuth-style body (`unauthorized_client`), not an `ErrorBody`.
//! Tokens are opaque, live `tokenLifetimeSeconds` (per client) and each carries its own rate
//! window. Expiry uses `tokio::time::Instant`, so paused-time tests can expire tokens.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use tokio::time::Instant;

use super::call::{Caller, Reply};
use super::errors::{ApiError, oauth_error};
use super::ratelimit::RateWindow;
use super::state::Org;

#[derive(Debug, Clone)]
struct Token {
    client_id: String,
    expires_at: Instant,
    window: RateWindow,
}

/// Issued tokens.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_value: HashMap<String, Token>,
}

impl Tokens {
    /// Serves `POST /oauth/token`.
    pub fn grant(&mut self, org: &Org, headers: &HeaderMap, body: &[u8]) -> Reply {
        let now = Instant::now();
        self.by_value.retain(|_, t| t.expires_at > now);
        let form: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        match form.get("grant_type").map(String::as_str) {
            Some("client_credentials") => {}
            Some(other) => {
                return Reply::json(
                    400,
                    oauth_error(
                        "unsupported_grant_type",
                        &format!("grant type {other} is not supported, use client_credentials"),
                    ),
                );
            }
            None => {
                return Reply::json(
                    400,
                    oauth_error("invalid_request", "grant_type is required"),
                );
            }
        }
        let Some((id, secret)) = basic_credentials(headers) else {
            return Reply::json(
                400,
                oauth_error(
                    "unauthorized_client",
                    "client credentials are required in a Basic Authorization header",
                ),
            );
        };
        let Some(client) = org.client(&id).filter(|c| c.client_secret == secret) else {
            return Reply::json(
                400,
                oauth_error(
                    "unauthorized_client",
                    "client not found or secret does not match",
                ),
            );
        };
        let mut bytes = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut bytes);
        let value = URL_SAFE_NO_PAD.encode(bytes);
        self.by_value.insert(
            value.clone(),
            Token {
                client_id: client.client_id.clone(),
                expires_at: now + Duration::from_secs(client.token_lifetime_seconds),
                window: RateWindow::default(),
            },
        );
        Reply::ok(json!({
            "access_token": value,
            "token_type": "bearer",
            "expires_in": client.token_lifetime_seconds,
        }))
    }

    /// Checks the bearer token and admits the request into the token's rate window.
    pub fn authenticate(&mut self, headers: &HeaderMap, limit: u32) -> Result<Caller, ApiError> {
        let value = bearer(headers).ok_or_else(ApiError::authentication_required)?;
        let now = Instant::now();
        let token = self
            .by_value
            .get_mut(&value)
            .filter(|t| t.expires_at > now)
            .ok_or_else(ApiError::bad_credentials)?;
        token
            .window
            .admit(now, limit)
            .map_err(|wait| ApiError::too_many_requests(limit, wait))?;
        Ok(Caller {
            client_id: token.client_id.clone(),
        })
    }

    /// Forgets every rate window (tokens stay valid).
    pub fn clear_windows(&mut self) {
        for t in self.by_value.values_mut() {
            t.window.clear();
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn basic_and_bearer_headers_are_parsed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode("id:se:cret"))).unwrap(),
        );
        assert_eq!(basic_credentials(&h), Some(("id".into(), "se:cret".into())));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer(&h), Some("abc".into()));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }
}
