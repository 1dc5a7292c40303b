//! Tests of fault injection, watch disconnects and restarts, through kube's client and plain
//! HTTP: what a client sees is what matters.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::{ApiFault, FakeApiServer, FakeApiServerHandle};

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"k": "v"},
    }))
    .unwrap()
}

async fn server_with(name: &str) -> (FakeApiServerHandle, Api<ConfigMap>) {
    let server = FakeApiServer::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(server.kube_client(), "default");
    api.create(&PostParams::default(), &config_map(name))
        .await
        .unwrap();
    (server, api)
}

fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Opens a raw watch on config maps and returns the response (the body streams).
async fn raw_watch(server: &FakeApiServerHandle, resource_version: &str) -> reqwest::Response {
    let url = server
        .url()
        .join(&format!(
            "api/v1/namespaces/default/configmaps?watch=true&resourceVersion={resource_version}"
        ))
        .unwrap();
    reqwest::get(url).await.unwrap()
}

/// Reads a watch body until it ends: the event types seen, and whether it ended with an error
/// (a cut) rather than cleanly.
async fn drain(mut response: reqwest::Response, until: Duration) -> (Vec<String>, bool) {
    let mut types = Vec::new();
    let deadline = tokio::time::Instant::now() + until;
    loop {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Err(elapsed) => panic!("the watch neither ended nor failed ({elapsed}); saw {types:?}"),
            Ok(Ok(None)) => return (types, false),
            Ok(Err(_)) => return (types, true),
            Ok(Ok(Some(bytes))) => {
                for line in String::from_utf8_lossy(&bytes).lines() {
                    let event: Value = serde_json::from_str(line).unwrap();
                    types.push(event["type"].as_str().unwrap().to_owned());
                }
            }
        }
    }
}

#[tokio::test]
async fn a_status_conflict_fault_fails_the_next_k_matching_writes_with_a_real_status() {
    let (server, api) = server_with("a").await;
    server.inject(
        ApiFault::new("patch", "configmaps")
            .name("a")
            .status(409)
            .times(2),
    );
    let patch = Patch::Merge(json!({"data": {"k": "w"}}));

    let first = api_error(api.patch("a", &PatchParams::default(), &patch).await);
    let second = api_error(api.patch("a", &PatchParams::default(), &patch).await);
    let third = api
        .patch("a", &PatchParams::default(), &patch)
        .await
        .unwrap();

    for status in [&first, &second] {
        assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
        assert!(status.message.contains("the object has been modified"));
    }
    assert_eq!(third.data.unwrap()["k"], "w");
    let injected: Vec<Option<u16>> = server
        .requests()
        .iter()
        .filter(|r| r.verb == "patch")
        .map(|r| r.injected)
        .collect();
    assert_eq!(injected, [Some(0), Some(0), None]);
    assert!(server.pending_faults().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn a_fault_on_one_resource_leaves_other_resources_and_verbs_alone() {
    let (server, api) = server_with("a").await;
    server.inject(ApiFault::new("get", "secrets").status(500).times(5));

    let read = api.get("a").await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(server.kube_client(), "default");
    let failed = api_error(secrets.get_opt("creds").await);

    assert_eq!(read.data.unwrap()["k"], "v");
    assert_eq!(
        (failed.code, failed.reason.as_str()),
        (500, "InternalError")
    );
    assert_eq!(server.pending_faults()[0].count, 4);
    server.clear_faults();
    assert!(secrets.get_opt("creds").await.unwrap().is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn a_throttling_fault_sends_retry_after_as_header_and_in_the_status_details() {
    let (server, _api) = server_with("a").await;
    server.inject(
        ApiFault::new("get", "configmaps")
            .status(429)
            .retry_after(2),
    );

    let url = server
        .url()
        .join("api/v1/namespaces/default/configmaps/a")
        .unwrap();
    let response = reqwest::get(url).await.unwrap();

    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "TooManyRequests");
    assert_eq!(status["details"]["retryAfterSeconds"], 2);
    server.shutdown().await;
}

#[tokio::test]
async fn an_after_commit_fault_stores_the_write_but_tells_the_client_it_failed() {
    let (server, api) = server_with("a").await;
    // 500, not 503/504: kube's client retries those itself.
    server.inject(
        ApiFault::new("patch", "configmaps")
            .status(500)
            .after_commit(),
    );

    let failed = api_error(
        api.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "committed"}})),
        )
        .await,
    );

    assert_eq!(
        (failed.code, failed.reason.as_str()),
        (500, "InternalError")
    );
    assert_eq!(api.get("a").await.unwrap().data.unwrap()["k"], "committed");
    let patch = server
        .requests()
        .into_iter()
        .find(|r| r.verb == "patch")
        .unwrap();
    assert_eq!((patch.status, patch.injected), (500, Some(200)));
    server.shutdown().await;
}

#[tokio::test]
async fn kube_s_client_retries_503_by_itself_so_a_short_burst_never_reaches_the_caller() {
    let (server, api) = server_with("a").await;
    server.inject(ApiFault::new("get", "configmaps").status(503).times(2));

    let read = api.get("a").await.unwrap();

    assert_eq!(read.data.unwrap()["k"], "v");
    let statuses: Vec<u16> = server
        .requests()
        .iter()
        .filter(|r| r.verb == "get")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [503, 503, 200]);
    server.shutdown().await;
}

#[tokio::test]
async fn faults_are_armed_listed_and_disarmed_over_http() {
    let (server, api) = server_with("a").await;
    let faults = server.url().join("__fake/faults").unwrap();
    let http = reqwest::Client::new();

    let armed = http
        .post(faults.clone())
        .json(&json!([
            {"verb": "get", "resource": "configmaps", "status": 500, "count": 2},
            {"verb": "watch", "forMs": 60000, "status": 500},
        ]))
        .send()
        .await
        .unwrap();
    let listed: Vec<Value> = http
        .get(faults.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refused = http
        .post(faults.clone())
        .json(&json!({"status": 200}))
        .send()
        .await
        .unwrap();
    let failed = api_error(api.get("a").await);
    http.delete(faults).send().await.unwrap();

    assert_eq!(armed.status().as_u16(), 200);
    assert_eq!(listed.len(), 2);
    assert_eq!(refused.status().as_u16(), 400);
    assert_eq!(failed.code, 500);
    assert!(server.pending_faults().is_empty());
    assert!(api.get("a").await.is_ok());
    assert!(
        server
            .requests()
            .iter()
            .all(|r| !r.path.starts_with("/__fake")),
        "control requests are not recorded"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_watch_disconnect_cuts_open_watches_and_refuses_new_ones_for_a_while() {
    let (server, api) = server_with("a").await;
    let rv = api
        .get("a")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let open = raw_watch(&server, &rv).await;
    assert_eq!(open.status().as_u16(), 200);

    server.disconnect_watches(Duration::from_millis(300));
    let (_, cut) = drain(open, Duration::from_secs(10)).await;
    let refused = raw_watch(&server, &rv).await;
    let read_meanwhile = api.get("a").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let accepted = raw_watch(&server, &rv).await;

    assert!(
        cut,
        "the open watch failed mid-stream instead of ending cleanly"
    );
    assert_eq!(refused.status().as_u16(), 503);
    assert!(read_meanwhile.is_ok(), "only watches are refused");
    assert_eq!(accepted.status().as_u16(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn a_restart_cuts_connections_refuses_new_ones_then_serves_the_same_state_on_the_same_address()
 {
    let (server, api) = server_with("a").await;
    let before = api.get("a").await.unwrap();
    let rv: u64 = before
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    let open = raw_watch(&server, &rv.to_string()).await;
    let addr = server.addr();

    server.stop_serving().await;
    let (_, cut) = drain(open, Duration::from_secs(10)).await;
    let refused = tokio::net::TcpStream::connect(addr).await;
    let failed = api.get("a").await;
    server.start_serving().await.unwrap();
    let after = api.get("a").await.unwrap();
    let resumed = raw_watch(&server, &rv.to_string()).await;
    api.create(&PostParams::default(), &config_map("b"))
        .await
        .unwrap();

    assert!(cut, "the open watch was cut, not ended cleanly");
    assert!(refused.is_err(), "nothing listens while the server is down");
    assert!(
        !matches!(failed, Err(kube::Error::Api(_)) | Ok(_)),
        "the client sees a transport error while the server is down: {failed:?}"
    );
    assert!(server.is_serving() && server.addr() == addr);
    assert_eq!(after.metadata.uid, before.metadata.uid);
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    let b_rv: u64 = api
        .get("b")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap()
        .parse()
        .unwrap();
    assert!(b_rv > rv, "the resourceVersion counter carried on");
    server.disconnect_watches(Duration::ZERO);
    let (types, _) = drain(resumed, Duration::from_secs(10)).await;
    assert_eq!(
        types,
        ["ADDED"],
        "a watch resumed after the restart sees what came next"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn after_a_restart_the_same_kube_client_reconnects_and_reads_what_was_stored() {
    let (server, _api) = server_with("a").await;
    // An idle keep-alive connection of kube's pool is reset by the restart; the next request
    // opens a fresh one.
    let client = server.kube_client();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.get("a").await.unwrap();

    server.restart(Duration::from_millis(200)).await.unwrap();
    let mut read = api.get("a").await;
    for _ in 0..20 {
        if read.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        read = api.get("a").await;
    }

    assert_eq!(read.unwrap().data.unwrap()["k"], "v");
    assert!(server.requests().iter().filter(|r| r.verb == "get").count() >= 2);
    server.shutdown().await;
}
