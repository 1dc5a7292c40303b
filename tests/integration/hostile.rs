//! Hostile or broken Genesys answers: truncated JSON, wrong types, huge
//! and endless bodies, endless paging, `Retry-After` in the past or absurdly far. Each ends in a
//! clear error that names the operation, never a panic, with bounded memory.
//!
//! Most answers come from the emulator's faults (`rawBody`, `count`, `retryAfter`); the few
//! that the emulator cannot produce (a body streamed without end, a `Retry-After` that is a
//! date or not a number) come from [`scripted`], a tiny server that plays a list of answers.
//! The decoders themselves are fuzzed in `crates/genesys-cloud/src/http.rs` (`fuzz`); here arbitrary bodies
//! go through the whole client over HTTP.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::genesys::{JANE, client_config, demo_org};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use genesys_cloud::{
    AggregationQuery, ClientConfig, ClientCredentials, Endpoints, GenesysClient, GenesysError,
    Interval, RetryClass, UserId,
};
use genesys_emulator::{Fault, Sim, SimHandle};
use proptest::prelude::*;
use serde_json::json;

const MIB: usize = 1024 * 1024;
const BILLING: &str = "9b2e4d60-0000-4000-8000-0000000000b1";

fn jane() -> UserId {
    UserId::new(JANE)
}

fn client(sim: &SimHandle, tune: impl FnOnce(ClientConfig) -> ClientConfig) -> GenesysClient {
    GenesysClient::new(tune(client_config(sim, "demo-client", "demo-secret"))).unwrap()
}

/// One read the client makes: the emulator route it hits, and the call.
struct Read {
    method: &'static str,
    path: &'static str,
    call: fn(GenesysClient) -> BoxFuture<'static, Result<(), GenesysError>>,
}

/// Every read of the client's public API that decodes a body.
fn reads() -> Vec<Read> {
    fn week() -> Interval {
        Interval::new(Utc::now() - chrono::Duration::days(7), Utc::now())
    }
    vec![
        Read {
            method: "GET",
            path: "/api/v2/users/*",
            call: |c| Box::pin(async move { c.get_user(&jane(), &["groups"]).await.map(drop) }),
        },
        Read {
            method: "GET",
            path: "/api/v2/users",
            call: |c| Box::pin(async move { c.get_users_by_ids(&[jane()]).await.map(drop) }),
        },
        Read {
            method: "POST",
            path: "/api/v2/users/search",
            call: |c| {
                Box::pin(async move {
                    c.find_users_by_email("jane.doe@example.com")
                        .await
                        .map(drop)
                })
            },
        },
        Read {
            method: "GET",
            path: "/api/v2/users/*/state",
            call: |c| Box::pin(async move { c.get_user_state(&jane()).await.map(drop) }),
        },
        Read {
            method: "GET",
            path: "/api/v2/users/*/routingstatus",
            call: |c| Box::pin(async move { c.get_routing_status(&jane()).await.map(drop) }),
        },
        Read {
            method: "GET",
            path: "/api/v2/users/*/queues",
            call: |c| Box::pin(async move { c.get_user_queues(&jane()).await.map(drop) }),
        },
        Read {
            method: "GET",
            path: "/api/v2/routing/queues/*/members",
            call: |c| Box::pin(async move { c.get_queue_members(BILLING, None).await.map(drop) }),
        },
        Read {
            method: "GET",
            path: "/api/v2/users/*/routingskills",
            call: |c| Box::pin(async move { c.get_user_skills(&jane()).await.map(drop) }),
        },
        Read {
            method: "GET",
            path: "/api/v2/users/*/routinglanguages",
            call: |c| Box::pin(async move { c.get_user_languages(&jane()).await.map(drop) }),
        },
        Read {
            method: "GET",
            path: "/api/v2/users/*/station",
            call: |c| Box::pin(async move { c.get_user_station(&jane()).await.map(drop) }),
        },
        Read {
            method: "GET",
            path: "/api/v2/users/*/presences/purecloud",
            call: |c| Box::pin(async move { c.get_presence(&jane()).await.map(drop) }),
        },
        Read {
            method: "GET",
            path: "/api/v2/presence/definitions",
            call: |c| Box::pin(async move { c.get_presence_definitions().await.map(drop) }),
        },
        Read {
            method: "GET",
            path: "/api/v2/users/*/roles",
            call: |c| Box::pin(async move { c.get_user_roles(&jane()).await.map(drop) }),
        },
        Read {
            method: "GET",
            path: "/api/v2/authorization/subjects/*",
            call: |c| Box::pin(async move { c.get_authorization_subject(&jane()).await.map(drop) }),
        },
        Read {
            method: "POST",
            path: "/api/v2/analytics/conversations/details/query",
            call: |c| {
                Box::pin(async move { c.user_conversations(&jane(), week()).await.map(drop) })
            },
        },
        Read {
            method: "POST",
            path: "/api/v2/analytics/conversations/aggregates/query",
            call: |c| {
                Box::pin(async move {
                    let query = AggregationQuery::for_user(&jane(), week(), &["tHandle"]);
                    c.aggregates_query(&query).await.map(drop)
                })
            },
        },
        Read {
            method: "GET",
            path: "/api/v2/organizations/me",
            call: |c| Box::pin(async move { c.organization().await.map(drop) }),
        },
    ]
}

/// Serves `body` (status 200) once on the read's route and checks that the call fails with a
/// `DecodeError` naming the operation the emulator saw.
async fn every_read_refuses(body: &str, what: &str) {
    let sim = Sim::start(demo_org()).await.unwrap();
    let client = client(&sim, |c| c);
    client.authenticate().await.unwrap();
    for read in reads() {
        sim.clear_requests();
        sim.inject(
            Fault::new(read.method, read.path)
                .status(200)
                .raw_body(body),
        );

        let error = (read.call)(client.clone()).await.unwrap_err();

        let seen = sim.requests();
        let operation = seen[0].operation.clone().unwrap();
        assert_eq!(
            error.reason(),
            "DecodeError",
            "{what}, {}: {error}",
            read.path
        );
        assert_eq!(error.operation(), operation, "{what}, {}", read.path);
        assert!(error.to_string().contains(&operation), "{error}");
        assert_eq!(
            seen.len(),
            1,
            "{what}, {}: a decode error is not retried",
            read.path
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Broken bodies
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn truncated_json_from_every_read_is_a_decode_error_naming_the_operation() {
    every_read_refuses(
        r#"{"id": "6a1b0c3e-0000-4000-8000-000000000001", "entities": [{"id": "q1", "na"#,
        "truncated JSON",
    )
    .await;
}

#[tokio::test]
async fn wrong_types_from_every_read_are_a_decode_error_naming_the_operation() {
    // Every response model has at least one of these fields, each of the wrong type.
    let wrong = json!({
        "id": 42, "name": 7, "status": 7, "state": 5, "entities": "none", "results": 5,
        "conversations": 5, "grants": 5, "roles": 5, "associatedStation": 5,
        "presenceDefinition": 5, "pageCount": "many",
    });
    every_read_refuses(&wrong.to_string(), "wrong types").await;
}

#[tokio::test]
async fn a_body_larger_than_the_limit_is_refused_without_being_read() {
    let sim = Sim::start(demo_org()).await.unwrap();
    let client = client(&sim, |c| c);
    let huge = " ".repeat(17 * MIB);
    sim.inject(
        Fault::new("GET", "/api/v2/users/*")
            .status(200)
            .raw_body(&huge),
    );

    let error = client.get_user(&jane(), &[]).await.unwrap_err();

    assert_eq!(error.reason(), "DecodeError");
    let shown = error.to_string();
    assert!(
        shown.contains("get_user") && shown.contains("larger than the client's limit of 16 MiB"),
        "{shown}"
    );
    client.get_user(&jane(), &[]).await.unwrap();
}

#[tokio::test]
async fn the_body_limit_is_configurable_and_a_body_under_it_is_read() {
    let sim = Sim::start(demo_org()).await.unwrap();
    let client = client(&sim, |c| c.with_max_response_bytes(64 * 1024));
    let user = |title_len: usize| {
        json!({"id": JANE, "name": "Jane Doe", "title": "t".repeat(title_len)}).to_string()
    };
    sim.inject(
        Fault::new("GET", "/api/v2/users/*")
            .status(200)
            .raw_body(&user(60 * 1024)),
    );
    sim.inject(
        Fault::new("GET", "/api/v2/users/*")
            .status(200)
            .raw_body(&user(70 * 1024)),
    );

    let under = client.get_user(&jane(), &[]).await.unwrap();
    let over = client.get_user(&jane(), &[]).await.unwrap_err();

    assert_eq!(under.title.map(|t| t.len()), Some(60 * 1024));
    assert!(over.to_string().contains("64 KiB"), "{over}");
}

#[tokio::test]
async fn a_token_response_larger_than_the_limit_is_refused_without_being_buffered() {
    let sim = Sim::start(demo_org()).await.unwrap();
    let client = client(&sim, |c| c.with_max_response_bytes(MIB));
    sim.inject(
        Fault::new("POST", "/oauth/token")
            .status(200)
            .raw_body(&" ".repeat(2 * MIB)),
    );

    let error = client.organization().await.unwrap_err();

    assert_eq!(error.reason(), "DecodeError", "{error}");
    assert!(error.to_string().contains("token response"), "{error}");
    assert!(error.to_string().contains("1 MiB"), "{error}");
    assert!(
        sim.requests()
            .iter()
            .all(|r| !r.path.starts_with("/api/v2/")),
        "no API call without a token"
    );
}

#[tokio::test]
async fn an_endless_streamed_body_is_cut_off_at_the_limit() {
    let server = scripted(vec![Answer::Endless]).await;
    let client = scripted_client(&server, |c| c.with_max_response_bytes(MIB));
    let started = Instant::now();

    let error = client.organization().await.unwrap_err();

    assert_eq!(error.reason(), "DecodeError", "{error}");
    assert!(error.to_string().contains("1 MiB"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let streamed = server.streamed.load(Ordering::SeqCst);
    assert!(
        streamed < 16 * MIB,
        "the server got to stream {streamed} bytes: the client kept reading"
    );
}

// ---------------------------------------------------------------------------------------------
// Endless paging
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_listing_that_always_has_a_next_page_is_abandoned_at_the_first_repeat() {
    let sim = Sim::start(demo_org()).await.unwrap();
    let client = client(&sim, |c| c);
    let page = json!({"entities": [{"id": BILLING, "name": "Billing"}], "pageNumber": 1,
                      "pageCount": 1_000_000, "nextUri": "/api/v2/users/x/queues?pageNumber=2"});
    sim.inject(
        Fault::new("GET", "/api/v2/users/*/queues")
            .status(200)
            .body(page)
            .times(10_000),
    );

    let error = client.get_user_queues(&jane()).await.unwrap_err();

    assert_eq!(error.reason(), "DecodeError");
    assert!(
        error
            .to_string()
            .contains("page 2 repeats page 1 (the server ignores pageNumber)"),
        "{error}"
    );
    let pages = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/queues"))
        .count();
    assert_eq!(pages, 2);
}

#[tokio::test]
async fn a_listing_whose_pages_outgrow_the_limit_is_abandoned() {
    let sim = Sim::start(demo_org()).await.unwrap();
    let client = client(&sim, |c| c.with_max_response_bytes(4 * 1024));
    let mut served = 0;
    // Every page differs (no repeat) and weighs about 3 KiB.
    for page in 0..50 {
        let body = json!({"entities": [{"id": format!("q{page}"), "name": "n".repeat(3000)}],
                          "pageCount": 1_000_000});
        sim.inject(
            Fault::new("GET", "/api/v2/routing/queues/*/members")
                .status(200)
                .body(body),
        );
        served += 1;
    }

    let error = client.get_queue_members(BILLING, None).await.unwrap_err();

    assert_eq!(error.reason(), "DecodeError");
    assert!(
        error
            .to_string()
            .contains("the listing's pages together exceed the client's limit of 4 KiB"),
        "{error}"
    );
    let pages = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/members"))
        .count();
    assert_eq!(pages, 2, "of {served} pages on offer");
}

#[tokio::test]
async fn endless_search_and_analytics_paging_stop_as_soon_as_pages_bring_nothing_new() {
    // These two listings page by request body. A server that ignores the page number answers
    // the same page forever; the client notices instead of walking to its 1000-page cap.
    let sim = Sim::start(demo_org()).await.unwrap();
    let client = client(&sim, |c| c);
    let jane_json = json!({"id": JANE, "email": "jane.doe@example.com", "state": "active"});
    sim.inject(
        Fault::new("POST", "/api/v2/users/search")
            .status(200)
            .body(json!({"results": [jane_json], "pageCount": 1_000_000, "nextPage": "next"}))
            .times(5_000),
    );
    sim.inject(
        Fault::new("POST", "/api/v2/analytics/conversations/details/query")
            .status(200)
            .body(json!({"conversations": [{"conversationId": "c1"}], "totalHits": 1_000_000}))
            .times(5_000),
    );

    let search = client
        .find_users_by_email("jane.doe@example.com")
        .await
        .unwrap_err();
    let week = Interval::new(Utc::now() - chrono::Duration::days(7), Utc::now());
    let analytics = client.user_conversations(&jane(), week).await.unwrap_err();

    assert_eq!(search.reason(), "DecodeError", "{search}");
    assert!(search.to_string().contains("page 2 repeats"), "{search}");
    assert_eq!(search.operation(), "post_users_search");
    assert_eq!(analytics.reason(), "DecodeError", "{analytics}");
    assert!(
        analytics
            .to_string()
            .contains("brought no new conversation"),
        "{analytics}"
    );
    assert_eq!(
        analytics.operation(),
        "post_analytics_conversations_details_query"
    );
    let count = |path: &str| sim.requests().iter().filter(|r| r.path == path).count();
    assert_eq!(count("/api/v2/users/search"), 2);
    // Genesys may repeat results across pages, so one page of repeats is tolerated.
    assert_eq!(count("/api/v2/analytics/conversations/details/query"), 3);
}

// ---------------------------------------------------------------------------------------------
// Retry-After
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_retry_after_in_the_past_waits_the_minimum_once_and_then_succeeds() {
    let server = scripted(vec![Answer::RateLimited(
        "Wed, 21 Oct 2015 07:28:00 GMT".into(),
    )])
    .await;
    let client = scripted_client(&server, |c| c);
    let started = Instant::now();

    client.organization().await.unwrap();

    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(950),
        "retried at once: {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(server.api_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_absurd_retry_after_fails_fast_with_the_one_hour_ceiling_and_no_panic() {
    for absurd in [
        "99999999999999999999",
        "1e20",
        "18446744073709551615",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        let server = scripted(vec![Answer::RateLimited(absurd.into())]).await;
        let client = scripted_client(&server, |c| c);
        let started = Instant::now();

        let error = client.organization().await.unwrap_err();

        assert_eq!(error.reason(), "RateLimited", "{absurd}: {error}");
        assert_eq!(
            error.retry_class(),
            RetryClass::After(Duration::from_secs(3600)),
            "{absurd}"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{absurd}");
        // Every caller of this OAuth client now fails fast too, until the hour is over.
        let again = client.organization().await.unwrap_err();
        assert_eq!(again.reason(), "RateLimited");
        assert_eq!(server.api_hits.load(Ordering::SeqCst), 1, "{absurd}");
    }
}

#[tokio::test]
async fn a_retry_after_of_the_largest_integer_from_the_emulator_does_not_overflow() {
    let sim = Sim::start(demo_org()).await.unwrap();
    let client = client(&sim, |c| c);
    sim.inject(
        Fault::new("GET", "/api/v2/organizations/me")
            .status(429)
            .retry_after(u64::MAX),
    );

    let error = client.organization().await.unwrap_err();

    assert_eq!(
        error.retry_class(),
        RetryClass::After(Duration::from_secs(3600)),
        "{error}"
    );
}

#[tokio::test]
async fn a_retry_after_that_is_not_a_delay_is_backed_off_like_a_missing_one() {
    for garbage in ["soon", "inf", "NaN"] {
        let server = scripted(vec![Answer::RateLimited(garbage.into())]).await;
        let client = scripted_client(&server, |c| c);

        client.organization().await.unwrap();

        assert_eq!(server.api_hits.load(Ordering::SeqCst), 2, "{garbage}");
    }
}

#[tokio::test]
async fn an_overflowing_retry_after_from_the_login_host_is_an_error_not_a_panic() {
    let login = Router::new().route(
        "/oauth/token",
        post(|| async {
            let mut response = Response::new(Body::from("{}"));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response.headers_mut().insert(
                HeaderName::from_static("retry-after"),
                HeaderValue::from_static("1e20"),
            );
            response
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, login).await;
    });
    let server = Scripted {
        base: url::Url::parse(&format!("http://{address}/")).unwrap(),
        api_hits: Arc::default(),
        streamed: Arc::default(),
    };
    let client = scripted_client(&server, |c| c.with_max_retries(1));

    let error = client.authenticate().await.unwrap_err();

    assert_eq!(error.reason(), "TransientError", "{error}");
}

// ---------------------------------------------------------------------------------------------
// Arbitrary bodies through the whole client
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_answers_over_http_never_panic_the_client(
        body in prop::collection::vec(any::<u8>(), 0..2048),
        status in prop::sample::select(vec![200u16, 201, 202, 204, 400, 401, 404, 409, 429, 500, 503]),
        read in 0usize..17,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let reason = runtime.block_on(async {
            let sim = Sim::start(demo_org()).await.unwrap();
            let client = client(&sim, |c| c.with_max_retries(0));
            let reads = reads();
            let read = &reads[read % reads.len()];
            let text = String::from_utf8_lossy(&body).into_owned();
            sim.inject(Fault::new(read.method, read.path).status(status).raw_body(&text));
            let result = (read.call)(client).await;
            sim.shutdown().await;
            result.err().map(|e| e.reason())
        });
        // Either the body happened to be acceptable, or a classified error came back.
        if let Some(reason) = reason {
            prop_assert!(
                [
                    "DecodeError", "InvalidRequest", "Unauthorized", "NotFound",
                    "VersionConflict", "TransientError", "RateLimited",
                ]
                .contains(&reason),
                "{reason}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A scripted server for what the emulator cannot send
// ---------------------------------------------------------------------------------------------

/// One answer of [`scripted`]; once the script is played, every API request gets an
/// organization.
enum Answer {
    /// 429 with this `Retry-After` value.
    RateLimited(String),
    /// 200 with a body streamed in 64 KiB chunks without `Content-Length`, for at most 256 MiB
    /// (so that the test ends by itself even against a client that reads on and on).
    Endless,
}

struct Scripted {
    base: url::Url,
    api_hits: Arc<AtomicUsize>,
    streamed: Arc<AtomicUsize>,
}

async fn scripted(answers: Vec<Answer>) -> Scripted {
    let script = Arc::new(Mutex::new(VecDeque::from(answers)));
    let api_hits = Arc::new(AtomicUsize::new(0));
    let streamed = Arc::new(AtomicUsize::new(0));
    let answer = {
        let (api_hits, streamed) = (Arc::clone(&api_hits), Arc::clone(&streamed));
        move || {
            api_hits.fetch_add(1, Ordering::SeqCst);
            let next = script.lock().unwrap().pop_front();
            let streamed = Arc::clone(&streamed);
            async move {
                match next {
                    None => axum::Json(json!({"id": "org", "name": "Scripted"})).into_response(),
                    Some(Answer::RateLimited(value)) => {
                        let mut response: Response = (
                            StatusCode::TOO_MANY_REQUESTS,
                            axum::Json(json!({"code": "too.many.requests", "status": 429})),
                        )
                            .into_response();
                        response.headers_mut().insert(
                            HeaderName::from_static("retry-after"),
                            HeaderValue::from_str(&value).unwrap(),
                        );
                        response
                    }
                    Some(Answer::Endless) => {
                        let chunks = futures::stream::iter(0..4096).map(move |_| {
                            streamed.fetch_add(64 * 1024, Ordering::SeqCst);
                            Ok::<_, Infallible>(Bytes::from(vec![b' '; 64 * 1024]))
                        });
                        Response::new(Body::from_stream(chunks))
                    }
                }
            }
        }
    };
    let app = Router::new()
        .route(
            "/oauth/token",
            post(|| async {
                axum::Json(json!({"access_token": "t", "token_type": "bearer", "expires_in": 3600}))
            }),
        )
        .fallback(answer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Scripted {
        base: url::Url::parse(&format!("http://{address}/")).unwrap(),
        api_hits,
        streamed,
    }
}

fn scripted_client(
    server: &Scripted,
    tune: impl FnOnce(ClientConfig) -> ClientConfig,
) -> GenesysClient {
    let config = ClientConfig::new(
        Endpoints::single(server.base.clone()).unwrap(),
        ClientCredentials::new("scripted", "secret".to_owned()),
    )
    .with_requests_per_minute(60_000)
    .with_retry_delays(Duration::from_millis(10), Duration::from_millis(50));
    GenesysClient::new(tune(config)).unwrap()
}
