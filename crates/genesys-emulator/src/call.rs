//! What a handler sees (`Call`: path params, query, JSON body, caller, clock) and what it
//! answers (`Reply`), plus the shared query helpers: list params (repeated *and*
//! comma-joined), booleans, enums, paging and the `*EntityListing` envelope.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::fixture::OverMax;
pub use super::fixture::USER_EXPANDS;

/// A handler's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: ReplyBody,
    pub retry_after: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReplyBody {
    Json(Value),
    Empty,
    Raw { content_type: String, text: String },
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self::json(200, body)
    }

    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: ReplyBody::Json(body),
            retry_after: None,
        }
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            body: ReplyBody::Empty,
            retry_after: None,
        }
    }

    pub fn error(error: &ApiError, context_id: &str) -> Self {
        Self {
            status: error.status,
            body: ReplyBody::Json(error.body(context_id)),
            retry_after: error.retry_after,
        }
    }

    pub fn json_body(&self) -> Option<&Value> {
        match &self.body {
            ReplyBody::Json(v) => Some(v),
            _ => None,
        }
    }
}

/// The caller: the OAuth client behind the bearer token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: String,
}

/// One API call, matched to its operation by the route table (`ops`), which hands a handler
/// only what it needs: the handler never sees the table, so the table can name the handlers.
pub struct Call<'a> {
    pub path: &'a str,
    pub params: Vec<(&'static str, String)>,
    pub query: Query,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub caller: &'a Caller,
    pub now: DateTime<Utc>,
}

impl Call<'_> {
    /// A path parameter by its template name (`userId`).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The JSON body as `T`; 400 when absent or malformed, 415 for a non-JSON content type.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let value = self.json_value()?;
        serde_json::from_value(value)
            .map_err(|e| ApiError::bad_request(format!("The request body is invalid: {e}")))
    }

    pub fn json_value(&self) -> Result<Value, ApiError> {
        if let Some(ct) = self.headers.get(axum::http::header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default();
            if !ct.to_ascii_lowercase().contains("json") {
                return Err(ApiError::unsupported_media_type(ct));
            }
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("A request body is required"));
        }
        serde_json::from_slice(self.body)
            .map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}")))
    }
}

/// Query parameters, in order, keys repeated as sent.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: &str) -> Self {
        Self {
            pairs: url::form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A list parameter: `a=1&a=2` and `a=1,2` both give `[1, 2]`.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ApiError::invalid_value(v, name, &["true", "false"])),
        }
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        self.get(name).map_or(Ok(default), |v| {
            v.parse().map_err(|_| {
                ApiError::bad_request(format!("Query parameter [{name}] must be an integer"))
            })
        })
    }

    /// A single enum value (exact match), or the default.
    pub fn one_of<'v>(
        &'v self,
        name: &str,
        allowed: &[&str],
        default: &'v str,
    ) -> Result<&'v str, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) if allowed.contains(&v) => Ok(v),
            Some(v) => Err(ApiError::invalid_value(v, name, allowed)),
        }
    }

    /// The pairs minus some names, re-encoded (for paging URIs).
    pub fn encode_without(&self, skip: &[&str]) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            if !skip.contains(&k.as_str()) {
                out.append_pair(k, v);
            }
        }
        out.finish()
    }
}

/// Sort direction parsed leniently: `asc`, `ascending`, `ASC`, `desc`, ...
pub fn descending(query: &Query, name: &str) -> Result<bool, ApiError> {
    match query.get(name).map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc" | "ascending") => Ok(false),
        Some("desc" | "descending") => Ok(true),
        Some(_) => Err(ApiError::invalid_value(
            query.get(name).unwrap_or_default(),
            name,
            &["ascending", "descending"],
        )),
    }
}

/// An opaque cursor for an offset (`GET /users/query`, details job results).
pub fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

pub fn decode_cursor(cursor: &str) -> Result<usize, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::bad_request("The cursor is invalid or expired"))
}

/// `pageSize` / `pageNumber` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub size: usize,
    pub number: usize,
}

impl Page {
    /// From the query; `pageSize` is clamped to `max`.
    pub fn from_query(query: &Query, default_size: usize, max: usize) -> Result<Self, ApiError> {
        Self::new(
            query.int("pageSize", i64::try_from(default_size).unwrap_or(25))?,
            query.int("pageNumber", 1)?,
            max,
        )
    }

    pub fn new(size: i64, number: i64, max: usize) -> Result<Self, ApiError> {
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s >= 1)
            .ok_or_else(|| ApiError::bad_request("pageSize must be at least 1"))?;
        let number = usize::try_from(number)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ApiError::bad_request("pageNumber must be at least 1"))?;
        Ok(Self {
            size: size.min(max.max(1)),
            number,
        })
    }

    /// From the query; a `pageSize` over `max` is clamped or refused with a 400, per `over`
    /// (`behavior.pageSizeOverMax`).
    pub fn from_query_within(
        query: &Query,
        default_size: usize,
        max: usize,
        over: OverMax,
    ) -> Result<Self, ApiError> {
        Self::within(
            query.int("pageSize", i64::try_from(default_size).unwrap_or(25))?,
            query.int("pageNumber", 1)?,
            max,
            over,
        )
    }

    /// As [`Page::new`], with a `pageSize` over `max` clamped or refused per `over`.
    pub fn within(size: i64, number: i64, max: usize, over: OverMax) -> Result<Self, ApiError> {
        let too_big = usize::try_from(size).is_ok_and(|s| s > max);
        if over == OverMax::Reject && too_big {
            return Err(ApiError::bad_request(
                "pageSize [{size}] is larger than the largest allowed, [{max}]",
            )
            .param("size", size.to_string())
            .param("max", max.to_string()));
        }
        Self::new(size, number, max)
    }

    pub fn offset(&self) -> usize {
        (self.number - 1).saturating_mul(self.size)
    }

    pub fn slice<T: Clone>(&self, items: &[T]) -> Vec<T> {
        items
            .iter()
            .skip(self.offset())
            .take(self.size)
            .cloned()
            .collect()
    }

    pub fn page_count(&self, total: usize) -> usize {
        total.div_ceil(self.size)
    }
}

/// Which `*EntityListing` fields a model has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingShape {
    /// `entities, pageSize, pageNumber, total, pageCount, firstUri, selfUri, nextUri, previousUri, lastUri`.
    Full,
    /// `QueueMemberEntityListing`: no `total`, `pageCount` or `lastUri`.
    NoTotals,
}

/// A paged listing of `entities` (already sliced) with its navigation URIs.
pub fn listing(
    path: &str,
    query: &Query,
    page: Page,
    total: usize,
    entities: Vec<Value>,
    shape: ListingShape,
) -> Value {
    let rest = query.encode_without(&["pageSize", "pageNumber"]);
    let uri = |n: usize| {
        let mut u = format!("{path}?pageSize={}&pageNumber={n}", page.size);
        if !rest.is_empty() {
            u.push('&');
            u.push_str(&rest);
        }
        u
    };
    let page_count = page.page_count(total);
    let mut out = Map::new();
    out.insert("entities".into(), Value::Array(entities));
    out.insert("pageSize".into(), json!(page.size));
    out.insert("pageNumber".into(), json!(page.number));
    if shape == ListingShape::Full {
        out.insert("total".into(), json!(total));
        out.insert("pageCount".into(), json!(page_count));
        out.insert("lastUri".into(), json!(uri(page_count.max(1))));
    }
    out.insert("firstUri".into(), json!(uri(1)));
    out.insert("selfUri".into(), json!(uri(page.number)));
    if page.number < page_count {
        out.insert("nextUri".into(), json!(uri(page.number + 1)));
    }
    if page.number > 1 {
        out.insert("previousUri".into(), json!(uri(page.number - 1)));
    }
    Value::Object(out)
}

/// `integrationPresenceSource` values (user reads and search).
pub const INTEGRATION_PRESENCE_SOURCES: &[&str] =
    &["MicrosoftTeams", "ZoomPhone", "EightByEight", "RingCentral"];

/// The set of `expand` values asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expand(Vec<String>);

impl Expand {
    /// Validates each value against [`USER_EXPANDS`].
    pub fn new(values: Vec<String>) -> Result<Self, ApiError> {
        for v in &values {
            if !USER_EXPANDS.contains(&v.as_str()) {
                return Err(ApiError::invalid_value(v, "expand", USER_EXPANDS));
            }
        }
        Ok(Self(values))
    }

    pub fn from_query(query: &Query) -> Result<Self, ApiError> {
        Self::new(query.list("expand"))
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|v| v == name)
    }

    pub fn values(&self) -> &[String] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn list_params_accept_repeated_and_comma_joined_forms() {
        let q = Query::parse("expand=a&expand=b,c&id=x");
        assert_eq!(q.list("expand"), ["a", "b", "c"]);
        assert_eq!(q.list("missing"), Vec::<String>::new());
    }

    #[test]
    fn listing_links_pages_and_keeps_other_params() {
        let q = Query::parse("state=any&pageSize=2&pageNumber=2");
        let page = Page::from_query(&q, 25, 500).unwrap();
        let l = listing("/api/v2/users", &q, page, 5, vec![], ListingShape::Full);
        assert_eq!(l["pageCount"], 3);
        assert_eq!(
            l["nextUri"],
            "/api/v2/users?pageSize=2&pageNumber=3&state=any"
        );
        assert_eq!(
            l["previousUri"],
            "/api/v2/users?pageSize=2&pageNumber=1&state=any"
        );
        assert_eq!(
            l["lastUri"],
            "/api/v2/users?pageSize=2&pageNumber=3&state=any"
        );
    }

    #[test]
    fn page_size_is_clamped_and_zero_is_rejected() {
        assert_eq!(Page::new(900, 1, 500).unwrap().size, 500);
        assert!(Page::new(0, 1, 500).is_err());
        assert!(Page::new(10, 0, 500).is_err());
    }
}
