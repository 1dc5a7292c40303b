//! HTTP below the client: what one API request is ([`ApiRequest`]), one exchange with the
//! server ([`exchange`]), a bounded read of a body, transport failures as errors, `Retry-After`
//! and the decoding of a success body. It knows neither tokens nor batching: `auth` and `batch`
//! build on it, and the client (`client.rs`) puts them together into the one send path.
//!
//! Hostile or broken answers end in a clear error, never a panic or unbounded memory: a body
//! larger than `max_response_bytes` is not read past the limit, an error body larger than
//! [`MAX_ERROR_BODY_BYTES`] is dropped (the status alone classifies the error) and the text kept
//! from one is cut (see [`ErrorBody::parse`](crate::ErrorBody::parse)), and `Retry-After` is
//! clamped to [`MIN_RETRY_AFTER`, `MAX_RETRY_AFTER`] (a date in the past waits the minimum, an
//! absurd value the maximum).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use super::config::ClientConfig;
use super::error::{GenesysError, MAX_ERROR_BODY_BYTES};
use super::ratelimit::parse_retry_after;

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

/// Whether a request's first attempt must still wait for a slot of the shared budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Wait for a slot, as every call does.
    Wait,
    /// A slot was already taken (a batch takes it before it is sealed); retries wait for their
    /// own.
    Admitted,
}

impl Admission {
    /// The admission of page `page` (from 1) of a walk whose first page is `self`: later pages
    /// wait for their own slot.
    pub(crate) fn for_page(self, page: u32) -> Admission {
        if page == 1 { self } else { Admission::Wait }
    }
}

/// One API call: operation id, method, path below `/api/v2`, query, JSON body, and whether its
/// first attempt already holds a slot of the budget.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub operation: &'static str,
    pub method: Method,
    pub segments: Vec<String>,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Bytes>,
    pub admission: Admission,
}

impl ApiRequest {
    pub fn new(operation: &'static str, method: Method, segments: &[&str]) -> Self {
        Self {
            operation,
            method,
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            body: None,
            admission: Admission::Wait,
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

    /// The same request, whose first attempt is admitted as `admission` says.
    #[must_use]
    pub fn admission(mut self, admission: Admission) -> Self {
        self.admission = admission;
        self
    }
}

/// A 2xx answer, its body read in full.
pub(crate) struct Reply {
    pub operation: &'static str,
    pub status: u16,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON of type `T`; an empty body decodes as `{}` when `T` allows it.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, GenesysError> {
        decode(self.operation, self.status, &self.body)
    }
}

/// What one HTTP exchange produced: status, `Retry-After` and body, or a transport error.
pub(crate) type Exchange = Result<(u16, Option<Duration>, Bytes), reqwest::Error>;

/// One HTTP exchange of `request` at `url` with `bearer` as `Authorization`: sends, reads the
/// whole body (bounded), reports to the observer and the log. A transport failure is the
/// `Err` of the [`Exchange`], for the caller to retry; a success body too large to read is a
/// `Decode` error.
pub(crate) async fn exchange(
    http: &reqwest::Client,
    config: &ClientConfig,
    request: &ApiRequest,
    url: &Url,
    bearer: HeaderValue,
    attempt: u32,
) -> Result<Exchange, GenesysError> {
    let mut builder = http
        .request(request.method.clone(), url.clone())
        .header(AUTHORIZATION, bearer)
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
        path = %url.path(),
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

/// A transport failure (no usable response) as a `Transient` error.
pub(crate) fn transport_error(
    operation: &str,
    attempts: u32,
    error: reqwest::Error,
    timeout: Duration,
) -> GenesysError {
    let detail = if error.is_timeout() {
        format!("no response within the {} ms timeout", timeout.as_millis())
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else if error.is_body() || error.is_decode() {
        "the response body could not be read".to_owned()
    } else {
        "the request failed in transport".to_owned()
    };
    GenesysError::Transient {
        operation: operation.to_owned(),
        status: error.status().map(|s| s.as_u16()),
        attempts,
        detail,
        body: None,
        // reqwest's message names the URL; URLs carry ids, never the token or the secret.
        // Shared, so that the error can be cloned for every caller of a batch.
        source: Some(Arc::new(error)),
    }
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
pub(crate) fn decode_value<T: DeserializeOwned>(
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
