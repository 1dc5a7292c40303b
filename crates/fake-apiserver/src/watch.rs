//! Watches: a chunked stream of JSON lines (`{"type":"ADDED","object":{...}}`). A watch starts
//! with synthetic ADDED events (no `resourceVersion`, `"0"`, or `sendInitialEvents=true`, which
//! ends the initial events with a `k8s.io/initial-events-end` BOOKMARK) or replays the changes
//! after a given `resourceVersion` (an ERROR 410 when they are no longer kept), then follows live
//! changes, sends BOOKMARKs when `allowWatchBookmarks=true`, and ends at `timeoutSeconds`.
//! Objects that start or stop matching the selectors arrive as ADDED or DELETED.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::errors::{ApiError, Cause};
use super::ops::{Selectors, State, Target};
use super::query::{IncludeObject, Representation};
use super::registry::{ResourceType, StorageKey, to_served};
use super::store::{Change, ChangeType};
use super::table;
use super::wire;

/// Everything a watch needs once the lock is released.
pub(crate) struct WatchPlan {
    rt: Arc<ResourceType>,
    key: StorageKey,
    namespace: Option<String>,
    selectors: Selectors,
    /// Events to send first: (type, served object).
    initial: Vec<(&'static str, Value)>,
    /// Live changes at or below this version were covered by `initial`.
    start_rv: u64,
    initial_end_bookmark: bool,
    bookmarks: bool,
    timeout: Duration,
    representation: Representation,
    include: IncludeObject,
    gone: Option<String>,
    rx: broadcast::Receiver<Arc<Change>>,
}

fn invalid_list_options(field: &str, reason: &str, message: &str) -> ApiError {
    ApiError::invalid(
        "meta.k8s.io",
        "ListOptions",
        "",
        &[Cause::new(reason, field, message)],
    )
}

/// Plans a watch under the lock: the initial events and a subscription taken atomically.
pub(crate) fn plan(
    state: &State,
    t: &Target<'_>,
    representation: Representation,
    include: IncludeObject,
    default_timeout: Duration,
) -> Result<WatchPlan, ApiError> {
    let selectors = Selectors::parse(t)?;
    let bookmarks = t.query.flag("allowWatchBookmarks");
    let send_initial = t.query.get("sendInitialEvents");
    let rv = t.query.get("resourceVersion");
    if send_initial == Some("true") {
        if t.query.get("resourceVersionMatch") != Some("NotOlderThan") {
            return Err(invalid_list_options(
                "resourceVersionMatch",
                "FieldValueForbidden",
                "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !bookmarks {
            return Err(invalid_list_options(
                "allowWatchBookmarks",
                "FieldValueRequired",
                "Required value: sendInitialEvents requires setting allowWatchBookmarks to true",
            ));
        }
    }
    let timeout = t
        .query
        .number("timeoutSeconds")?
        .map_or(default_timeout, Duration::from_secs);
    let key = t.rt.storage_key();
    let current = state.store.current_rv();
    let matches = |o: &Value| selectors.matches(o);
    let mut initial = Vec::new();
    let mut gone = None;
    let start_rv;
    let synthetic = send_initial == Some("true")
        || (send_initial != Some("false") && matches!(rv, None | Some("0")));
    if synthetic || rv.is_none() {
        if synthetic {
            for object in state.store.list(&key, t.namespace.as_deref()) {
                let served = to_served(&t.rt, object.clone());
                if matches(&served) {
                    initial.push(("ADDED", served));
                }
            }
        }
        start_rv = current;
    } else {
        let from = rv.unwrap_or_default().parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid resource version: {}",
                rv.unwrap_or_default()
            ))
        })?;
        match state.store.changes_since(from) {
            None => {
                gone = Some(format!("too old resource version: {from} ({current})"));
            }
            Some(changes) => {
                for change in changes.iter().filter(|c| c.key == key) {
                    if let Some(event) =
                        render_change(&t.rt, t.namespace.as_deref(), &selectors, change)
                    {
                        initial.push(event);
                    }
                }
            }
        }
        start_rv = current.max(from);
    }
    Ok(WatchPlan {
        rt: Arc::clone(&t.rt),
        key,
        namespace: t.namespace.clone(),
        selectors,
        initial,
        start_rv,
        initial_end_bookmark: send_initial == Some("true"),
        bookmarks,
        timeout,
        representation,
        include,
        gone,
        rx: state.store.subscribe(),
    })
}

/// The watch event (if any) a change produces for a watcher with these filters.
fn render_change(
    rt: &ResourceType,
    namespace: Option<&str>,
    selectors: &Selectors,
    change: &Change,
) -> Option<(&'static str, Value)> {
    let in_namespace = |o: &Value| {
        namespace.is_none_or(|ns| {
            o.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                == ns
        })
    };
    let now = to_served(rt, (*change.object).clone());
    let now_matches = in_namespace(&now) && selectors.matches(&now);
    let before = change.previous.as_ref().map(|p| {
        let mut served = to_served(rt, (**p).clone());
        if let Some(meta) = served.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".to_owned(), json!(change.rv.to_string()));
        }
        served
    });
    let before_matches = before
        .as_ref()
        .is_some_and(|b| in_namespace(b) && selectors.matches(b));
    match change.kind {
        ChangeType::Added => now_matches.then_some(("ADDED", now)),
        ChangeType::Deleted => (now_matches || before_matches).then_some(("DELETED", now)),
        ChangeType::Modified => match (before_matches, now_matches) {
            (true, true) => Some(("MODIFIED", now)),
            (false, true) => Some(("ADDED", now)),
            (true, false) => before.map(|b| ("DELETED", b)),
            (false, false) => None,
        },
    }
}

struct Encoder {
    rt: Arc<ResourceType>,
    representation: Representation,
    include: IncludeObject,
    columns_sent: bool,
}

impl Encoder {
    fn line(&mut self, event_type: &str, object: Value) -> Bytes {
        let object = match self.representation {
            Representation::Full => object,
            Representation::Metadata { beta } => table::partial(&object, beta),
            Representation::Table { beta } => {
                let rv = object
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(Value::Null);
                let with_columns = !self.columns_sent;
                self.columns_sent = true;
                table::table(
                    &self.rt,
                    &[object],
                    self.include,
                    beta,
                    &json!({"resourceVersion": rv}),
                    with_columns,
                )
            }
        };
        Bytes::from(wire::watch_line(event_type, &object))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            // The empty list newer client-go versions build a list from when they list through a
            // watch ("watch-list").
            let blueprint = json!({
                "kind": self.rt.list_kind,
                "apiVersion": self.rt.api_version(),
                "metadata": {"resourceVersion": rv.to_string()},
                "items": [],
            });
            metadata["annotations"] = json!({
                "k8s.io/initial-events-end": "true",
                "k8s.io/initial-events-list-blueprint": base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    blueprint.to_string(),
                ),
            });
        }
        let object = match self.representation {
            Representation::Full => {
                json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": metadata})
            }
            Representation::Metadata { beta } => json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": if beta { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" },
                "metadata": metadata,
            }),
            Representation::Table { beta } => json!({
                "kind": "Table",
                "apiVersion": if beta { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" },
                "metadata": metadata,
                "columnDefinitions": [],
                "rows": [],
            }),
        };
        Bytes::from(wire::watch_line("BOOKMARK", &object))
    }
}

fn gone_line(message: &str) -> Bytes {
    Bytes::from(wire::watch_line("ERROR", &ApiError::gone(message).status()))
}

/// What ends a watch besides its timeout and the client going away.
pub(crate) struct Ends {
    /// The server stops for good: the stream ends cleanly.
    pub shutdown: watch::Receiver<bool>,
    /// The server stops serving (a restart): the stream fails mid-body.
    pub connections: watch::Receiver<u64>,
    /// A watch disconnect: the stream fails mid-body.
    pub watches: watch::Receiver<u64>,
}

fn cut() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the fake API server cut the watch",
    )
}

/// Runs a planned watch; the returned stream is the response body. A cut makes the stream fail,
/// so the client sees the connection break in the middle of the body, not a clean end.
pub(crate) fn run(
    plan: WatchPlan,
    ends: Ends,
    bookmark_interval: Duration,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let (cut_tx, cut_rx) = oneshot::channel::<()>();
    let Ends {
        mut shutdown,
        mut connections,
        mut watches,
    } = ends;
    tokio::spawn(async move {
        let WatchPlan {
            rt,
            key,
            namespace,
            selectors,
            initial,
            start_rv,
            initial_end_bookmark,
            bookmarks,
            timeout,
            representation,
            include,
            gone,
            rx: mut changes,
        } = plan;
        let mut encoder = Encoder {
            rt: Arc::clone(&rt),
            representation,
            include,
            columns_sent: false,
        };
        if let Some(message) = gone {
            let _ = tx.send(gone_line(&message)).await;
            return;
        }
        for (event_type, object) in initial {
            if tx.send(encoder.line(event_type, object)).await.is_err() {
                return;
            }
        }
        if initial_end_bookmark && tx.send(encoder.bookmark(start_rv, true)).await.is_err() {
            return;
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let period = bookmark_interval.max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let mut last_rv = start_rv;
        let mut was_cut = false;
        if *shutdown.borrow() {
            return;
        }
        loop {
            tokio::select! {
                () = &mut deadline => {
                    if bookmarks {
                        let _ = tx.send(encoder.bookmark(last_rv, false)).await;
                    }
                    break;
                }
                _ = shutdown.changed() => break,
                _ = connections.changed() => {
                    was_cut = true;
                    break;
                }
                _ = watches.changed() => {
                    was_cut = true;
                    break;
                }
                () = tx.closed() => break,
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(encoder.bookmark(last_rv, false)).await.is_err() {
                        break;
                    }
                }
                received = changes.recv() => match received {
                    Ok(change) => {
                        if change.rv <= start_rv {
                            continue;
                        }
                        last_rv = change.rv;
                        if change.key != key {
                            continue;
                        }
                        if let Some((event_type, object)) = render_change(&rt, namespace.as_deref(), &selectors, &change) && tx.send(encoder.line(event_type, object)).await.is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = tx.send(gone_line("the watch fell too far behind; restart it from a fresh list")).await;
                        break;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        if was_cut {
            let _ = cut_tx.send(());
        }
    });
    body(rx, cut_rx)
}

/// The response body: the events already queued go out first; then a cut fails the body, else
/// it just ends.
fn body(
    rx: mpsc::Receiver<Bytes>,
    cut_rx: oneshot::Receiver<()>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::unfold(Some((rx, cut_rx)), |state| async move {
        let (mut rx, cut_rx) = state?;
        match rx.recv().await {
            Some(bytes) => Some((Ok(bytes), Some((rx, cut_rx)))),
            None => match cut_rx.await {
                Ok(()) => Some((Err(cut()), None)),
                Err(_) => None,
            },
        }
    })
}
