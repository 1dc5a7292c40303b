//! The fake API server against real clients: kube-rs `Api` calls, kube-runtime's watcher,
//! finalizer helper and event Recorder, kube-lease-manager, and the real `kubectl`.
//!
//! The kubectl tests run kubectl through [`Kubectl`]: `$KUBECTL`, else `.tools/bin/kubectl`, else
//! `kubectl` on `PATH` (the machine image ships 1.32); no kubectl fails them unless
//! `GENESYS_KUBECTL_TESTS=skip`.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::sync::Arc;
use std::time::Duration;

use fake_apiserver::{FakeApiServer, FakeApiServerHandle};
use futures::{StreamExt, TryStreamExt};
use genesys_offboarding_operator::crd::GenesysUserOffboarding;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Namespace, ObjectReference, Secret, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{finalizer, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};

use crate::support::kubectl::Kubectl;

const CRD_YAML: &str = include_str!("../../crds/genesysuseroffboardings.yaml");
const CRD_NAME: &str = "genesysuseroffboardings.offboarding.genesys-operator.io";
const FINALIZER: &str = "offboarding.genesys-operator.io/restore";

// ---------------------------------------------------------------------------------------------
// Fixtures

async fn server_with_crd() -> (FakeApiServerHandle, Client) {
    server_with_crd_of(serde_yaml::from_str(CRD_YAML).unwrap()).await
}

/// The committed CRD without the operator's own bounds on `spec.effectiveAt` (a pattern and a
/// CEL rule): what is left is the API server's `date-time` format check alone.
fn crd_with_plain_date_time() -> CustomResourceDefinition {
    let mut crd: Value = serde_yaml::from_str(CRD_YAML).unwrap();
    let effective_at = crd
        .pointer_mut(
            "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/effectiveAt",
        )
        .and_then(Value::as_object_mut)
        .unwrap();
    effective_at.remove("pattern");
    effective_at.remove("x-kubernetes-validations");
    assert_eq!(effective_at["format"], "date-time");
    serde_json::from_value(crd).unwrap()
}

async fn server_with_crd_of(crd: CustomResourceDefinition) -> (FakeApiServerHandle, Client) {
    let server = FakeApiServer::builder()
        .bookmark_interval(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let client = server.kube_client();
    Api::<CustomResourceDefinition>::all(client.clone())
        .patch(
            CRD_NAME,
            &PatchParams::apply("tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
    (server, client)
}

fn offboarding_json(name: &str) -> Value {
    json!({
        "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
        "kind": "GenesysUserOffboarding",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "user": {"email": "jane.doe@example.com"},
            "credentialsSecretRef": {"name": "genesys-credentials"},
            "region": "us_east_1",
        },
    })
}

fn offboarding(name: &str) -> GenesysUserOffboarding {
    serde_json::from_value(offboarding_json(name)).unwrap()
}

fn offboardings(client: &Client) -> Api<GenesysUserOffboarding> {
    Api::namespaced(client.clone(), "default")
}

fn dynamic_offboardings(client: &Client) -> Api<DynamicObject> {
    let resource = ApiResource::erase::<GenesysUserOffboarding>(&());
    Api::namespaced_with(client.clone(), "default", &resource)
}

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn ready_status(generation: i64) -> Value {
    json!({"status": {
        "observedGeneration": generation,
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "Offboarded",
            "message": "the user is offboarded", "lastTransitionTime": "2026-01-01T00:00:00Z",
            "observedGeneration": generation,
        }],
    }})
}

// ---------------------------------------------------------------------------------------------
// kube-rs Api calls

#[tokio::test]
async fn created_objects_get_server_metadata_and_can_be_read_and_listed() {
    let (server, client) = server_with_crd().await;
    let api = offboardings(&client);

    let created = api
        .create(&PostParams::default(), &offboarding("jane"))
        .await
        .unwrap();
    let mut generated = offboarding("ignored");
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("jane-".to_owned());
    let other = api
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();

    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert!(created.metadata.resource_version.is_some());
    assert_eq!(created.metadata.generation, Some(1));
    assert!(other.name_any().starts_with("jane-") && other.name_any().len() == 10);
    // Defaults from the schema were applied.
    assert_eq!(created.spec.drift_check_interval, "1h");
    let fetched = api.get("jane").await.unwrap();
    assert_eq!(fetched.metadata.uid, created.metadata.uid);
    let names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    assert_eq!(names.len(), 2);
    let all: Api<GenesysUserOffboarding> = Api::all(client.clone());
    assert_eq!(
        all.list(&ListParams::default().fields("metadata.name=jane"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let again = api_error(
        api.create(&PostParams::default(), &offboarding("jane"))
            .await,
    );
    assert_eq!((again.code, again.reason.as_str()), (409, "AlreadyExists"));
    let missing = api_error(api.get("nobody").await);
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    server.shutdown().await;
}

#[tokio::test]
async fn an_update_with_a_stale_resource_version_is_a_409_conflict() {
    let (server, client) = server_with_crd().await;
    let api = offboardings(&client);
    let created = api
        .create(&PostParams::default(), &offboarding("jane"))
        .await
        .unwrap();

    let mut first = created.clone();
    first.spec.suspend = true;
    api.replace("jane", &PostParams::default(), &first)
        .await
        .unwrap();
    let mut stale = created;
    stale.spec.revoke_sessions = false;
    let status = api_error(api.replace("jane", &PostParams::default(), &stale).await);

    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status.message.contains("the object has been modified"),
        "{}",
        status.message
    );
    server.shutdown().await;
}

#[tokio::test]
async fn apply_creates_then_updates_and_a_second_manager_conflicts_unless_forced() {
    let (server, client) = server_with_crd().await;
    let api = dynamic_offboardings(&client);
    let mut config = offboarding_json("jane");

    let created = api
        .patch(
            "jane",
            &PatchParams::apply("team-a"),
            &Patch::Apply(&config),
        )
        .await
        .unwrap();
    config["spec"]["suspend"] = json!(true);
    let updated = api
        .patch(
            "jane",
            &PatchParams::apply("team-a"),
            &Patch::Apply(&config),
        )
        .await
        .unwrap();
    let mut other = offboarding_json("jane");
    other["spec"]["suspend"] = json!(false);
    let conflict = api_error(
        api.patch("jane", &PatchParams::apply("team-b"), &Patch::Apply(&other))
            .await,
    );
    let forced = api
        .patch(
            "jane",
            &PatchParams::apply("team-b").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();

    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(updated.data["spec"]["suspend"], json!(true));
    assert_eq!(updated.metadata.generation, Some(2));
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert!(
        conflict.message.contains(".spec.suspend"),
        "{}",
        conflict.message
    );
    assert_eq!(forced.data["spec"]["suspend"], json!(false));
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"team-a".to_owned()) && managers.contains(&"team-b".to_owned()));
    let missing_manager = api_error(
        api.patch("x", &PatchParams::default(), &Patch::Apply(&config))
            .await,
    );
    assert_eq!(missing_manager.code, 422);
    server.shutdown().await;
}

#[tokio::test]
async fn writes_to_the_resource_ignore_status_and_writes_to_status_ignore_everything_else() {
    let (server, client) = server_with_crd().await;
    let api = dynamic_offboardings(&client);
    let mut with_status = offboarding_json("jane");
    with_status["status"] = ready_status(1)["status"].clone();
    let created = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(with_status).unwrap(),
        )
        .await
        .unwrap();
    assert!(created.data.get("status").is_none(), "create drops status");

    let patched = api
        .patch(
            "jane",
            &PatchParams::default(),
            &Patch::Merge(ready_status(1)),
        )
        .await
        .unwrap();
    assert!(
        patched.data.get("status").is_none(),
        "a main-resource patch ignores status"
    );

    let status_patch = json!({
        "metadata": {"labels": {"sneaky": "yes"}},
        "spec": {"suspend": true},
        "status": ready_status(1)["status"],
    });
    let after_status = api
        .patch_status("jane", &PatchParams::default(), &Patch::Merge(status_patch))
        .await
        .unwrap();
    assert_eq!(
        after_status.data["status"]["conditions"][0]["type"],
        "Ready"
    );
    assert_eq!(
        after_status.data["spec"]["suspend"],
        json!(false),
        "a status patch ignores spec"
    );
    assert!(
        after_status.metadata.labels.is_none(),
        "a status patch ignores metadata"
    );
    assert_eq!(after_status.metadata.generation, Some(1));

    let mut applied_status = offboarding_json("jane");
    applied_status["status"] = json!({"observedGeneration": 1});
    let applied = api
        .patch_status(
            "jane",
            &PatchParams::apply("status-writer").force(),
            &Patch::Apply(&applied_status),
        )
        .await
        .unwrap();
    assert_eq!(applied.data["status"]["observedGeneration"], json!(1));
    assert_eq!(
        server.count_requests(fake_status_writes),
        2,
        "the request log counts status writes"
    );
    server.shutdown().await;
}

fn fake_status_writes(r: &fake_apiserver::RecordedRequest) -> bool {
    r.is_status_write() && r.resource == "genesysuseroffboardings"
}

#[tokio::test]
async fn generation_is_bumped_only_when_the_spec_changes() {
    let (server, client) = server_with_crd().await;
    let api = dynamic_offboardings(&client);
    api.create(
        &PostParams::default(),
        &serde_json::from_value(offboarding_json("jane")).unwrap(),
    )
    .await
    .unwrap();

    let labelled = api
        .patch(
            "jane",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    let with_status = api
        .patch_status(
            "jane",
            &PatchParams::default(),
            &Patch::Merge(ready_status(1)),
        )
        .await
        .unwrap();
    let rv_before_noop = with_status.metadata.resource_version.clone();
    let noop = api
        .patch(
            "jane",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": false}})),
        )
        .await
        .unwrap();
    let changed = api
        .patch(
            "jane",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": true}})),
        )
        .await
        .unwrap();

    assert_eq!(labelled.metadata.generation, Some(1));
    assert_eq!(with_status.metadata.generation, Some(1));
    assert_eq!(noop.metadata.generation, Some(1));
    assert_eq!(
        noop.metadata.resource_version, rv_before_noop,
        "a no-op write keeps the resourceVersion"
    );
    assert_eq!(changed.metadata.generation, Some(2));
    server.shutdown().await;
}

#[derive(Debug, thiserror::Error)]
#[error("never fails")]
struct NeverFails;

#[tokio::test]
async fn the_finalizer_helper_adds_its_finalizer_and_deletion_waits_for_cleanup() {
    let (server, client) = server_with_crd().await;
    let api = offboardings(&client);
    api.create(&PostParams::default(), &offboarding("jane"))
        .await
        .unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let run = |obj: GenesysUserOffboarding| {
        let api = api.clone();
        let seen = Arc::clone(&seen);
        async move {
            finalizer::finalizer(&api, FINALIZER, Arc::new(obj), |event| async move {
                let label = match event {
                    finalizer::Event::Apply(_) => "apply",
                    finalizer::Event::Cleanup(_) => "cleanup",
                };
                seen.lock().unwrap().push(label);
                Ok::<_, NeverFails>(kube::runtime::controller::Action::await_change())
            })
            .await
        }
    };

    // First visit: the helper adds the finalizer with a JSON patch that tests for null.
    run(api.get("jane").await.unwrap()).await.unwrap();
    let with_finalizer = api.get("jane").await.unwrap();
    assert_eq!(with_finalizer.finalizers(), [FINALIZER.to_owned()]);
    // Second visit: Apply.
    run(with_finalizer).await.unwrap();
    // Delete: the object stays, with a deletionTimestamp, until the finalizer goes.
    let deleting = api.delete("jane", &DeleteParams::default()).await.unwrap();
    let deleting = deleting
        .left()
        .expect("an object with a finalizer is not deleted at once");
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(deleting.metadata.generation, Some(2));
    let status = api_error(
        api.patch(
            "jane",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": [FINALIZER, "example.com/new"]}})),
        )
        .await,
    );
    assert_eq!(status.code, 422, "no new finalizers while deleting");
    run(api.get("jane").await.unwrap()).await.unwrap();

    assert_eq!(*seen.lock().unwrap(), vec!["apply", "cleanup"]);
    assert_eq!(api_error(api.get("jane").await).code, 404);
    // Without finalizers, deletion is immediate and answers with a Status.
    api.create(&PostParams::default(), &offboarding("john"))
        .await
        .unwrap();
    assert!(
        api.delete("john", &DeleteParams::default())
            .await
            .unwrap()
            .is_right()
    );
    server.shutdown().await;
}

async fn collect_watch_events(client: &Client, config: watcher::Config) -> Vec<String> {
    let api = offboardings(client);
    api.create(&PostParams::default(), &offboarding("before"))
        .await
        .unwrap();
    let stream = watcher(api.clone(), config);
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let task = tokio::spawn(async move {
        stream
            .try_for_each(|event| {
                let label = match event {
                    watcher::Event::Init => "init".to_owned(),
                    watcher::Event::InitApply(o) => format!("init-apply {}", o.name_any()),
                    watcher::Event::InitDone => "init-done".to_owned(),
                    watcher::Event::Apply(o) => {
                        format!("apply {} {}", o.name_any(), o.spec.suspend)
                    }
                    watcher::Event::Delete(o) => format!("delete {}", o.name_any()),
                };
                sink.lock().unwrap().push(label);
                futures::future::ready(Ok(()))
            })
            .await
    });
    let wait_for = |n: usize| {
        let events = Arc::clone(&events);
        async move {
            for _ in 0..100 {
                if events.lock().unwrap().len() >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for(3).await;
    api.create(&PostParams::default(), &offboarding("jane"))
        .await
        .unwrap();
    wait_for(4).await;
    api.patch(
        "jane",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": true}})),
    )
    .await
    .unwrap();
    wait_for(5).await;
    api.delete("jane", &DeleteParams::default()).await.unwrap();
    wait_for(6).await;
    task.abort();
    events.lock().unwrap().clone()
}

#[tokio::test]
async fn a_watcher_sees_objects_added_modified_and_deleted() {
    let (server, client) = server_with_crd().await;

    let events = collect_watch_events(&client, watcher::Config::default()).await;

    assert_eq!(
        events,
        vec![
            "init",
            "init-apply before",
            "init-done",
            "apply jane false",
            "apply jane true",
            "delete jane"
        ]
    );
    assert!(
        server
            .count_requests(|r| r.verb == "watch" && r.query.contains("allowWatchBookmarks=true"))
            >= 1
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_streaming_list_watcher_gets_initial_events_and_the_end_bookmark() {
    let (server, client) = server_with_crd().await;

    let events = collect_watch_events(&client, watcher::Config::default().streaming_lists()).await;

    assert_eq!(
        events,
        vec![
            "init",
            "init-apply before",
            "init-done",
            "apply jane false",
            "apply jane true",
            "delete jane"
        ]
    );
    assert!(
        server.count_requests(|r| r.verb == "watch" && r.query.contains("sendInitialEvents=true"))
            >= 1
    );
    assert_eq!(
        server.count_requests(|r| r.verb == "list" && r.resource == "genesysuseroffboardings"),
        0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_watch_resumed_from_a_resource_version_replays_what_happened_since() {
    let (server, client) = server_with_crd().await;
    let api = offboardings(&client);
    let first = api
        .create(&PostParams::default(), &offboarding("jane"))
        .await
        .unwrap();
    api.patch(
        "jane",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": true}})),
    )
    .await
    .unwrap();
    api.create(&PostParams::default(), &offboarding("john"))
        .await
        .unwrap();

    let stream = api
        .watch(
            &kube::api::WatchParams::default().timeout(1),
            first.metadata.resource_version.as_deref().unwrap(),
        )
        .await
        .unwrap();
    let events: Vec<String> = stream
        .map(|e| match e.unwrap() {
            kube::api::WatchEvent::Added(o) => format!("ADDED {}", o.name_any()),
            kube::api::WatchEvent::Modified(o) => format!("MODIFIED {}", o.name_any()),
            kube::api::WatchEvent::Deleted(o) => format!("DELETED {}", o.name_any()),
            kube::api::WatchEvent::Bookmark(_) => "BOOKMARK".to_owned(),
            kube::api::WatchEvent::Error(e) => format!("ERROR {}", e.code),
        })
        .collect()
        .await;

    let (bookmarks, changes): (Vec<String>, Vec<String>) =
        events.into_iter().partition(|e| e == "BOOKMARK");
    assert_eq!(changes, vec!["MODIFIED jane", "ADDED john"]);
    assert!(
        !bookmarks.is_empty(),
        "allowWatchBookmarks=true brings bookmarks"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_object_that_breaks_the_schema_is_rejected_with_422_and_field_causes() {
    let (server, client) = server_with_crd().await;
    let api = dynamic_offboardings(&client);
    let mut bad = offboarding_json("bad");
    bad["spec"]["region"] = json!("mars");
    bad["spec"]["user"] = json!({"email": "not-an-email"});
    bad["spec"]["history"] = json!({"lookbackDays": 0});
    bad["spec"]["apiBaseUrl"] = json!("http://example.com/");

    let status = api_error(
        api.create(
            &PostParams::default(),
            &serde_json::from_value(bad).unwrap(),
        )
        .await,
    );

    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status.message.starts_with(
            "GenesysUserOffboarding.offboarding.genesys-operator.io \"bad\" is invalid: ["
        ),
        "{}",
        status.message
    );
    let causes: Vec<(String, String)> = status
        .details
        .unwrap()
        .causes
        .into_iter()
        .map(|c| (c.field, c.reason))
        .collect();
    for expected in [
        ("spec.region", "FieldValueNotSupported"),
        ("spec.user.email", "FieldValueInvalid"),
        ("spec.history.lookbackDays", "FieldValueInvalid"),
        ("spec.apiBaseUrl", "FieldValueInvalid"),
        ("spec", "FieldValueInvalid"),
    ] {
        assert!(
            causes.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "missing {expected:?} in {causes:?}"
        );
    }
    // Transition rule: the user is immutable once set.
    api.create(
        &PostParams::default(),
        &serde_json::from_value(offboarding_json("jane")).unwrap(),
    )
    .await
    .unwrap();
    let immutable = api_error(
        api.patch(
            "jane",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"user": {"email": "john@example.com"}}})),
        )
        .await,
    );
    assert_eq!(immutable.code, 422);
    assert!(
        immutable
            .message
            .contains("spec.user: Forbidden: user is immutable"),
        "{}",
        immutable.message
    );
    // Unknown fields: pruned by default, rejected with fieldValidation=Strict (400).
    let mut unknown = offboarding_json("extra");
    unknown["spec"]["colour"] = json!("blue");
    let created = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(unknown.clone()).unwrap(),
        )
        .await
        .unwrap();
    assert!(created.data["spec"].get("colour").is_none());
    unknown["metadata"]["name"] = json!("strict");
    let strict = PatchParams::apply("tests").validation_strict();
    let rejected = api_error(api.patch("strict", &strict, &Patch::Apply(&unknown)).await);
    assert_eq!(rejected.code, 400);
    assert!(
        rejected.message.contains("unknown field \"spec.colour\""),
        "{}",
        rejected.message
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_lease_is_acquired_through_the_api_and_only_one_manager_holds_it() {
    let (server, client) = server_with_crd().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");

    // Plain API: create, replace, stale replace.
    let lease: Lease = serde_json::from_value(
        json!({"metadata": {"name": "plain"}, "spec": {"holderIdentity": "a"}}),
    )
    .unwrap();
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut renewed = created.clone();
    renewed.spec.as_mut().unwrap().lease_duration_seconds = Some(15);
    leases
        .replace("plain", &PostParams::default(), &renewed)
        .await
        .unwrap();
    assert_eq!(
        api_error(
            leases
                .replace("plain", &PostParams::default(), &created)
                .await
        )
        .code,
        409
    );

    // kube-lease-manager: two candidates, one lease.
    let manager = |identity: &str| {
        kube_lease_manager::LeaseManagerBuilder::new(client.clone(), "operator-leader")
            .with_namespace("default")
            .with_identity(identity)
            .with_duration(3)
            .with_grace(1)
            .build()
    };
    let a = manager("a").await.unwrap();
    let b = manager("b").await.unwrap();
    assert!(a.changed().await.unwrap(), "a acquires the free lease");
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), b.changed())
            .await
            .is_err(),
        "b cannot take a held lease"
    );
    a.release().await.unwrap();
    let b_leads = tokio::time::timeout(Duration::from_secs(10), b.changed())
        .await
        .unwrap()
        .unwrap();
    assert!(b_leads, "b acquires the lease once a releases it");
    let holder = leases
        .get("operator-leader")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity;
    assert_eq!(holder.as_deref(), Some("b"));
    server.shutdown().await;
}

#[tokio::test]
async fn recorder_events_are_created_then_patched_and_readable_as_core_events() {
    let (server, client) = server_with_crd().await;
    let created = offboardings(&client)
        .create(&PostParams::default(), &offboarding("jane"))
        .await
        .unwrap();
    let reference: ObjectReference = created.object_ref(&());
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "genesys-offboarding".to_owned(),
            instance: Some("pod-1".to_owned()),
        },
    );
    let event = Event {
        type_: EventType::Normal,
        reason: "Deactivated".to_owned(),
        note: Some("the user was deactivated".to_owned()),
        action: "Deactivate".to_owned(),
        secondary: None,
    };

    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();

    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let selector = format!(
        "involvedObject.kind=GenesysUserOffboarding,involvedObject.name=jane,involvedObject.uid={}",
        created.uid().unwrap()
    );
    let events = core
        .list(&ListParams::default().fields(&selector))
        .await
        .unwrap()
        .items;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason.as_deref(), Some("Deactivated"));
    assert_eq!(
        events[0].reporting_component.as_deref(),
        Some("genesys-offboarding")
    );
    assert_eq!(events[0].series.as_ref().and_then(|s| s.count), Some(2));
    assert_eq!(
        server.count_requests(|r| r.group == "events.k8s.io" && r.verb == "create"),
        1
    );
    assert_eq!(
        server.count_requests(|r| r.group == "events.k8s.io" && r.verb == "patch"),
        1
    );
    server.shutdown().await;
}

#[tokio::test]
async fn namespaces_and_secrets_behave_like_a_cluster() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.kube_client();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    assert!(names.contains(&"default".to_owned()));

    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "creds"}, "stringData": {"clientId": "demo-client"},
    }))
    .unwrap();
    let in_missing_namespace = api_error(
        Api::<Secret>::namespaced(client.clone(), "nowhere")
            .create(&PostParams::default(), &secret)
            .await,
    );
    assert_eq!(in_missing_namespace.code, 404);
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "team");
    let stored = secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    assert!(
        stored.string_data.is_none(),
        "stringData is folded into data"
    );
    assert_eq!(stored.data.unwrap()["clientId"].0, b"demo-client".to_vec());
    assert_eq!(stored.type_.as_deref(), Some("Opaque"));
    let deleting = namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        deleting
            .left()
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    assert_eq!(api_error(secrets.get("creds").await).code, 404);
    assert_eq!(api_error(namespaces.get("team").await).code, 404);
    assert_eq!(
        api_error(namespaces.delete("default", &DeleteParams::default()).await).code,
        403
    );
    server.shutdown().await;
}

struct ControllerContext {
    api: Api<GenesysUserOffboarding>,
    reconciles: std::sync::atomic::AtomicUsize,
}

async fn write_observed_generation(
    object: Arc<GenesysUserOffboarding>,
    ctx: Arc<ControllerContext>,
) -> Result<kube::runtime::controller::Action, kube::Error> {
    ctx.reconciles
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let status = json!({
        "apiVersion": "offboarding.genesys-operator.io/v1alpha1",
        "kind": "GenesysUserOffboarding",
        "status": {"observedGeneration": object.metadata.generation},
    });
    ctx.api
        .patch_status(
            &object.name_any(),
            &PatchParams::apply("genesys-offboarding").force(),
            &Patch::Apply(&status),
        )
        .await?;
    Ok(kube::runtime::controller::Action::await_change())
}

#[tokio::test]
async fn a_real_controller_follows_spec_changes_and_an_unchanged_status_apply_does_not_loop() {
    let (server, client) = server_with_crd().await;
    let api = offboardings(&client);
    api.create(&PostParams::default(), &offboarding("jane"))
        .await
        .unwrap();
    let ctx = Arc::new(ControllerContext {
        api: api.clone(),
        reconciles: std::sync::atomic::AtomicUsize::new(0),
    });
    let controller = kube::runtime::Controller::new(api.clone(), watcher::Config::default())
        .run(
            write_observed_generation,
            |_, _, _| kube::runtime::controller::Action::requeue(Duration::from_secs(60)),
            Arc::clone(&ctx),
        )
        .for_each(|_| futures::future::ready(()));
    let task = tokio::spawn(controller);
    let observed = |generation: i64| {
        let api = api.clone();
        async move {
            for _ in 0..100 {
                let status = api.get("jane").await.unwrap().status;
                if status.and_then(|s| s.observed_generation) == Some(generation) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }
    };

    assert!(
        observed(1).await,
        "the controller wrote status for generation 1"
    );
    api.patch(
        "jane",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": true}})),
    )
    .await
    .unwrap();
    assert!(observed(2).await, "the controller followed the spec change");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rv = api.get("jane").await.unwrap().metadata.resource_version;
    let reconciles = ctx.reconciles.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;

    assert_eq!(
        api.get("jane").await.unwrap().metadata.resource_version,
        rv,
        "quiet: no status rewrite"
    );
    assert_eq!(
        ctx.reconciles.load(std::sync::atomic::Ordering::SeqCst),
        reconciles,
        "quiet: no reconcile loop"
    );
    // Each status write that changed something triggered exactly one more (no-op) reconcile.
    assert_eq!(reconciles, 4);
    task.abort();
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The real kubectl

/// The CRD, the Secret and the resource from the examples, applied with kubectl.
async fn kubectl_setup() -> Option<(FakeApiServerHandle, Kubectl)> {
    let server = FakeApiServer::start().await.unwrap();
    let kubectl = Kubectl::for_server(&server)?;
    let out = kubectl
        .run(&["apply", "--server-side", "-f", "crds/"])
        .await;
    assert!(out.contains("serverside-applied"), "{out}");
    let out = kubectl
        .run(&["apply", "-f", "examples/offboarding-local.yaml"])
        .await;
    assert!(
        out.contains("secret/genesys-sim-credentials created"),
        "{out}"
    );
    assert!(
        out.contains(
            "genesysuseroffboarding.offboarding.genesys-operator.io/jane-doe-local created"
        ),
        "{out}"
    );
    Some((server, kubectl))
}

#[tokio::test]
async fn kubectl_applies_the_crd_and_the_example_and_lists_them_with_printer_columns() {
    let Some((server, kubectl)) = kubectl_setup().await else {
        return;
    };
    let client = server.kube_client();
    offboardings(&client)
        .patch_status(
            "jane-doe-local",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "user": {"id": "3e6f1c1e-0000-4000-8000-000000000001", "stateNow": "inactive"},
                "conditions": ready_status(1)["status"]["conditions"],
            }})),
        )
        .await
        .unwrap();

    let table = kubectl.run(&["get", "offboardings"]).await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "USER", "GENESYS", "STATE", "READY", "REASON", "AGE"]
    );
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..5],
        [
            "jane-doe-local",
            "jane.doe@example.com",
            "inactive",
            "True",
            "Offboarded"
        ]
    );
    let wide = kubectl.run(&["get", "offboardings", "-o", "wide"]).await;
    assert!(
        wide.contains("USER ID") && wide.contains("3e6f1c1e-0000-4000-8000-000000000001"),
        "{wide}"
    );
    let by_category = kubectl.run(&["get", "genesys"]).await;
    assert!(by_category.contains("jane-doe-local"), "{by_category}");
    let yaml = kubectl
        .run(&["get", "genesysuseroffboardings", "-o", "yaml"])
        .await;
    assert!(
        yaml.contains("driftCheckInterval: 1h") && yaml.contains("kind: GenesysUserOffboarding"),
        "{yaml}"
    );
    let secret = kubectl
        .run(&[
            "create",
            "secret",
            "generic",
            "other",
            "--from-literal=clientId=x",
        ])
        .await;
    assert!(secret.contains("secret/other created"), "{secret}");
    let secrets = kubectl.run(&["get", "secrets"]).await;
    assert!(
        secrets.contains("genesys-sim-credentials") && secrets.contains("Opaque"),
        "{secrets}"
    );
    let crds = kubectl.run(&["get", "crds"]).await;
    assert!(crds.contains(CRD_NAME), "{crds}");
    let explain = kubectl.run(&["explain", "offboarding.spec.user"]).await;
    assert!(
        explain.contains("The Genesys Cloud user to offboard"),
        "{explain}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn kubectl_describes_patches_status_and_waits_for_ready() {
    let Some((server, kubectl)) = kubectl_setup().await else {
        return;
    };
    let client = server.kube_client();
    let api = offboardings(&client);
    let object = api.get("jane-doe-local").await.unwrap();
    Recorder::new(
        client.clone(),
        Reporter {
            controller: "genesys-offboarding".to_owned(),
            instance: None,
        },
    )
    .publish(
        &Event {
            type_: EventType::Normal,
            reason: "UserResolved".to_owned(),
            note: Some("found jane.doe@example.com".to_owned()),
            action: "Resolve".to_owned(),
            secondary: None,
        },
        &object.object_ref(&()),
    )
    .await
    .unwrap();

    let reconciling = r#"{"status":{"conditions":[{"type":"Reconciling","status":"True","reason":"Progressing","message":"working","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#;
    let patched = kubectl
        .run(&[
            "patch",
            "offboarding",
            "jane-doe-local",
            "--subresource=status",
            "--type=merge",
            "-p",
            reconciling,
        ])
        .await;
    assert!(patched.contains("patched"), "{patched}");
    let mut wait = kubectl
        .command(&[
            "wait",
            "--for=condition=Ready",
            "genesysuseroffboarding/jane-doe-local",
            "--timeout=30s",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        wait.try_wait().unwrap().is_none(),
        "kubectl wait returned before Ready"
    );
    api.patch_status(
        "jane-doe-local",
        &PatchParams::default(),
        &Patch::Merge(ready_status(1)),
    )
    .await
    .unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(20), wait.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        waited.success(),
        "kubectl wait --for=condition=Ready failed"
    );

    let describe = kubectl
        .run(&["describe", "offboarding", "jane-doe-local"])
        .await;
    assert!(
        describe.contains("Name:         jane-doe-local"),
        "{describe}"
    );
    assert!(
        describe.contains("UserResolved") && describe.contains("found jane.doe@example.com"),
        "{describe}"
    );
    assert!(describe.contains("genesys-offboarding"), "{describe}");
    let deleted = kubectl
        .run(&["delete", "-f", "examples/offboarding-local.yaml"])
        .await;
    assert!(deleted.contains("deleted"), "{deleted}");
    assert!(
        kubectl
            .run(&["get", "offboardings", "-o", "name"])
            .await
            .trim()
            .is_empty()
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// What goes over the wire

/// A request the way any HTTP client sends it: status, headers and the body as text.
async fn raw(
    server: &FakeApiServerHandle,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request =
        reqwest::Client::new().request(method, format!("{}{}", server.url(), &path[1..]));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn built_in_kinds_are_written_in_go_field_order_and_custom_resources_sorted() {
    let (server, client) = server_with_crd().await;
    offboardings(&client)
        .create(&PostParams::default(), &offboarding("jane"))
        .await
        .unwrap();
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "creds", "labels": {"b": "2", "a": "1"}}, "stringData": {"clientId": "x"}}),
    )
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let get = |path: &'static str| {
        let server = &server;
        async move { raw(server, reqwest::Method::GET, path, &[], None).await.2 }
    };

    let secret = get("/api/v1/namespaces/default/secrets/creds").await;
    assert!(
        secret.starts_with(
            r#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"creds","namespace":"default","uid":"#
        ),
        "{secret}"
    );
    assert!(secret.contains(r#""labels":{"a":"1","b":"2"}"#), "{secret}");
    assert!(
        secret.contains(r#"},"data":{"clientId":"eA=="},"type":"Opaque"}"#),
        "{secret}"
    );
    let list = get("/api/v1/namespaces/default/secrets").await;
    assert!(
        list.starts_with(
            r#"{"kind":"SecretList","apiVersion":"v1","metadata":{"resourceVersion":"#
        ) && list
            .contains(r#""items":[{"kind":"Secret","apiVersion":"v1","metadata":{"name":"creds""#),
        "{list}"
    );
    let service = get("/api/v1/namespaces/default/services/kubernetes").await;
    assert!(
        service.contains(r#""spec":{"ports":[{"name":"https","protocol":"TCP","port":443,"targetPort":6443}],"clusterIP":"10.96.0.1""#),
        "{service}"
    );
    let custom = get(
        "/apis/offboarding.genesys-operator.io/v1alpha1/namespaces/default/genesysuseroffboardings/jane",
    )
    .await;
    assert!(
        custom.starts_with(
            r#"{"apiVersion":"offboarding.genesys-operator.io/v1alpha1","kind":"GenesysUserOffboarding","metadata":{"creationTimestamp":"#
        ),
        "{custom}"
    );
    let missing = get("/api/v1/namespaces/default/secrets/nope").await;
    assert!(
        missing.starts_with(
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"#
        ),
        "{missing}"
    );
    let version = get("/version").await;
    assert!(
        version.starts_with(r#"{"major":"1","minor":"34","emulationMajor":"1","emulationMinor":"34","minCompatibilityMajor":"1","minCompatibilityMinor":"33","gitVersion":"#),
        "{version}"
    );
    let watch = get("/api/v1/namespaces/default/secrets?watch=true&timeoutSeconds=1").await;
    assert!(
        watch.starts_with(
            r#"{"type":"ADDED","object":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"creds""#
        ),
        "{watch}"
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Scale subresource, aggregated discovery, representations, default objects, limits

/// A CRD with `status` and `scale` subresources (the operator's own CRD declares no scale).
const WIDGET_CRD: &str = r"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.selector
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              replicas: {type: integer}
              size: {type: string}
          status:
            type: object
            properties:
              replicas: {type: integer}
              selector: {type: string}
";

async fn server_with_widgets() -> (FakeApiServerHandle, Api<DynamicObject>) {
    let server = FakeApiServer::start().await.unwrap();
    server.load_yaml(WIDGET_CRD).unwrap();
    let resource = ApiResource {
        group: "example.com".to_owned(),
        version: "v1".to_owned(),
        api_version: "example.com/v1".to_owned(),
        kind: "Widget".to_owned(),
        plural: "widgets".to_owned(),
    };
    let widgets = Api::namespaced_with(server.kube_client(), "default", &resource);
    (server, widgets)
}

fn widget(name: &str, spec: &Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": name, "namespace": "default"}, "spec": spec,
    }))
    .unwrap()
}

#[tokio::test]
async fn a_scale_subresource_reads_and_writes_the_spec_replicas_path() {
    let (server, widgets) = server_with_widgets().await;
    widgets
        .create(
            &PostParams::default(),
            &widget("w1", &json!({"replicas": 2, "size": "m"})),
        )
        .await
        .unwrap();
    widgets
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 1, "selector": "app=w1"}})),
        )
        .await
        .unwrap();

    let scale = widgets.get_scale("w1").await.unwrap();
    assert_eq!(scale.spec.as_ref().unwrap().replicas, Some(2));
    let status = scale.status.as_ref().unwrap();
    assert_eq!(
        (status.replicas, status.selector.as_deref()),
        (1, Some("app=w1"))
    );
    assert_eq!(scale.metadata.name.as_deref(), Some("w1"));

    let scaled = widgets
        .patch_scale(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(5));
    let after = widgets.get("w1").await.unwrap();
    assert_eq!(after.data["spec"], json!({"replicas": 5, "size": "m"}));
    assert_eq!(after.data["status"]["replicas"], 1, "status is left alone");
    assert_eq!(after.metadata.generation, Some(2));
    let entry = after
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|e| e.subresource.as_deref() == Some("scale"))
        .expect("the scale write is owned under the scale subresource");
    assert_eq!(
        entry.fields_v1.unwrap().0,
        json!({"f:spec": {"f:replicas": {}}})
    );

    // Server-side apply of a Scale takes the replicas over (forced: another manager owns them).
    let applied = widgets
        .patch_scale(
            "w1",
            &PatchParams::apply("scaler").force(),
            &Patch::Apply(
                json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 6}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(applied.spec.unwrap().replicas, Some(6));
    let owners: Vec<(Option<String>, Option<String>, Option<String>)> = widgets
        .get("w1")
        .await
        .unwrap()
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|e| (e.manager, e.operation, e.subresource))
        .collect();
    assert!(
        owners.contains(&(
            Some("scaler".to_owned()),
            Some("Apply".to_owned()),
            Some("scale".to_owned())
        )),
        "{owners:?}"
    );

    // A resourceVersion in the Scale is a precondition.
    let mut outdated = scale.clone();
    outdated.spec.as_mut().unwrap().replicas = Some(7);
    let conflict = api_error(
        widgets
            .replace_scale("w1", &PostParams::default(), &outdated)
            .await,
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    // Replicas are checked like the real server checks them.
    let negative = api_error(
        widgets
            .patch_scale(
                "w1",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": -1}})),
            )
            .await,
    );
    assert_eq!(negative.code, 422);
    assert_eq!(
        negative.message,
        "Widget.example.com \"w1\" is invalid: .spec.replicas: Invalid value: -1: should be a non-negative integer"
    );
    // Without spec replicas there is no scale to read.
    widgets
        .create(
            &PostParams::default(),
            &widget("bare", &json!({"size": "s"})),
        )
        .await
        .unwrap();
    let missing = api_error(widgets.get_scale("bare").await);
    assert_eq!(
        (missing.code, missing.reason.as_str()),
        (500, "InternalError")
    );
    assert!(
        missing
            .message
            .contains(r#"the spec replicas field ".spec.replicas" does not exist"#),
        "{}",
        missing.message
    );
    server.shutdown().await;
}

#[tokio::test]
async fn kubectl_scales_a_custom_resource_and_discovery_lists_its_scale_subresource() {
    let (server, widgets) = server_with_widgets().await;
    let Some(kubectl) = Kubectl::for_server(&server) else {
        return;
    };
    widgets
        .create(
            &PostParams::default(),
            &widget("w1", &json!({"replicas": 1})),
        )
        .await
        .unwrap();

    let out = kubectl.run(&["scale", "widget/w1", "--replicas=3"]).await;
    assert!(out.contains("widget.example.com/w1 scaled"), "{out}");
    // With a precondition kubectl reads the Scale, then replaces it.
    let out = kubectl
        .run(&["scale", "wd", "w1", "--current-replicas=3", "--replicas=4"])
        .await;
    assert!(out.contains("scaled"), "{out}");
    let scale: Value = serde_json::from_str(
        &kubectl
            .run(&[
                "get",
                "--raw",
                "/apis/example.com/v1/namespaces/default/widgets/w1/scale",
            ])
            .await,
    )
    .unwrap();
    assert_eq!(
        (
            &scale["kind"],
            &scale["apiVersion"],
            &scale["spec"]["replicas"]
        ),
        (&json!("Scale"), &json!("autoscaling/v1"), &json!(4))
    );
    assert_eq!(widgets.get("w1").await.unwrap().data["spec"]["replicas"], 4);
    let resources: Value =
        serde_json::from_str(&kubectl.run(&["get", "--raw", "/apis/example.com/v1"]).await)
            .unwrap();
    let entry = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "widgets/scale")
        .cloned()
        .expect("widgets/scale in discovery");
    assert_eq!(
        (&entry["group"], &entry["version"], &entry["kind"]),
        (&json!("autoscaling"), &json!("v1"), &json!("Scale"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn aggregated_discovery_lists_every_resource_with_its_subresources() {
    let (server, _) = server_with_widgets().await;
    let client = server.kube_client();

    let core_group = client.list_core_api_versions_aggregated().await.unwrap();
    let v1 = &core_group.items[0].versions[0];
    assert_eq!(v1.version.as_deref(), Some("v1"));
    let services = v1
        .resources
        .iter()
        .find(|r| r.resource.as_deref() == Some("services"))
        .expect("services in the core group");
    assert_eq!(services.scope.as_deref(), Some("Namespaced"));
    assert_eq!(
        services.subresources[0].subresource.as_deref(),
        Some("status")
    );
    let groups = client.list_api_groups_aggregated().await.unwrap();
    let example = groups
        .items
        .iter()
        .find(|g| g.metadata.as_ref().and_then(|m| m.name.as_deref()) == Some("example.com"))
        .expect("the CRD's group");
    let widgets = &example.versions[0].resources[0];
    let scale = widgets
        .subresources
        .iter()
        .find(|s| s.subresource.as_deref() == Some("scale"))
        .expect("the scale subresource");
    let kind = scale.response_kind.as_ref().unwrap();
    assert_eq!(
        (
            kind.group.as_deref(),
            kind.version.as_deref(),
            kind.kind.as_deref()
        ),
        (Some("autoscaling"), Some("v1"), Some("Scale"))
    );

    // Content negotiation: the answer says what it is; plain JSON stays the legacy form.
    let aggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    let (code, headers, body) = raw(
        &server,
        reqwest::Method::GET,
        "/apis",
        &[("Accept", aggregated)],
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        headers["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert!(
        body.starts_with(
            r#"{"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2""#
        ),
        "{body}"
    );
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (unchanged, _, _) = raw(
        &server,
        reqwest::Method::GET,
        "/apis",
        &[("Accept", aggregated), ("If-None-Match", &etag)],
        None,
    )
    .await;
    assert_eq!(unchanged, 304);
    let (_, headers, body) = raw(
        &server,
        reqwest::Method::GET,
        "/apis",
        &[("Accept", "application/json")],
        None,
    )
    .await;
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["kind"],
        "APIGroupList"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn kubectl_discovers_through_aggregated_discovery() {
    let (server, widgets) = server_with_widgets().await;
    let Some(kubectl) = Kubectl::for_server(&server) else {
        return;
    };
    widgets
        .create(
            &PostParams::default(),
            &widget("w1", &json!({"replicas": 1})),
        )
        .await
        .unwrap();
    server.clear_requests();

    let out = kubectl.run(&["get", "widgets,services"]).await;

    assert!(out.contains("w1"), "{out}");
    assert!(
        out.contains("service/kubernetes") && out.contains("10.96.0.1") && out.contains("443/TCP"),
        "{out}"
    );
    let discovery: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.verb == "discovery")
        .map(|r| r.path)
        .collect();
    assert!(discovery.contains(&"/apis".to_owned()), "{discovery:?}");
    assert!(
        discovery.iter().all(|p| p == "/api" || p == "/apis"),
        "kubectl fell back to per-group discovery: {discovery:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn every_verb_that_answers_with_an_object_honours_partial_object_metadata() {
    let (server, widgets) = server_with_widgets().await;
    widgets
        .create(
            &PostParams::default(),
            &widget("w1", &json!({"replicas": 1})),
        )
        .await
        .unwrap();
    let partial = [(
        "Accept",
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
    )];
    let merge = [partial[0], ("Content-Type", "application/merge-patch+json")];
    let json_body = [partial[0], ("Content-Type", "application/json")];
    let widget_path = "/apis/example.com/v1/namespaces/default/widgets/w1";
    let secret = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","finalizers":["example.com/keep"]},"stringData":{"k":"v"}}"#;
    let calls = [
        (
            "POST",
            "/api/v1/namespaces/default/secrets".to_owned(),
            &json_body[..],
            Some(secret.to_owned()),
        ),
        (
            "PATCH",
            widget_path.to_owned(),
            &merge[..],
            Some(r#"{"metadata":{"labels":{"a":"b"}}}"#.to_owned()),
        ),
        (
            "PATCH",
            format!("{widget_path}/status"),
            &merge[..],
            Some(r#"{"status":{"replicas":1}}"#.to_owned()),
        ),
        (
            "PATCH",
            format!("{widget_path}/scale"),
            &merge[..],
            Some(r#"{"spec":{"replicas":2}}"#.to_owned()),
        ),
        ("GET", format!("{widget_path}/scale"), &partial[..], None),
        (
            "PUT",
            "/api/v1/namespaces/default/secrets/s".to_owned(),
            &json_body[..],
            Some(secret.replace("\"k\":\"v\"", "\"k\":\"w\"")),
        ),
        (
            "DELETE",
            "/api/v1/namespaces/default/secrets/s".to_owned(),
            &partial[..],
            None,
        ),
    ];
    for (method, path, headers, body) in calls {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let (code, _, text) = raw(&server, method.clone(), &path, headers, body).await;
        assert!(code < 300, "{method} {path}: {code} {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            answer["kind"], "PartialObjectMetadata",
            "{method} {path}: {text}"
        );
        assert_eq!(answer["apiVersion"], "meta.k8s.io/v1");
        assert!(
            answer.get("spec").is_none() && answer.get("data").is_none(),
            "{method} {path}: {text}"
        );
    }
    // A deletion that is complete answers with a Status, which is never converted.
    raw(
        &server,
        reqwest::Method::PATCH,
        "/api/v1/namespaces/default/secrets/s",
        &merge,
        Some(r#"{"metadata":{"finalizers":null}}"#.to_owned()),
    )
    .await;
    let (code, _, text) = raw(
        &server,
        reqwest::Method::DELETE,
        widget_path,
        &partial,
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["kind"],
        "Status",
        "{text}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_fresh_cluster_has_the_system_namespaces_and_the_kubernetes_service() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.kube_client();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in ["default", "kube-system", "kube-public"] {
        assert!(namespaces.get(name).await.is_ok(), "namespace {name}");
    }
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let kubernetes = services.get("kubernetes").await.unwrap();
    let spec = kubernetes.spec.unwrap();
    assert_eq!(
        (spec.type_.as_deref(), spec.cluster_ip.as_deref()),
        (Some("ClusterIP"), Some("10.96.0.1"))
    );
    let port = &spec.ports.unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port, port.protocol.as_deref()),
        (Some("https"), 443, Some("TCP"))
    );

    // Plain CRUD, with the defaults and the cluster IP a real server gives.
    let web: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }))
    .unwrap();
    let created = services.create(&PostParams::default(), &web).await.unwrap();
    let spec = created.spec.clone().unwrap();
    let ip = spec.cluster_ip.clone().unwrap();
    assert!(ip.starts_with("10.9") && ip != "10.96.0.1", "{ip}");
    assert_eq!(spec.cluster_ips, Some(vec![ip.clone()]));
    assert_eq!(spec.session_affinity.as_deref(), Some("None"));
    let port = &spec.ports.unwrap()[0];
    assert_eq!(
        (port.protocol.as_deref(), port.target_port.clone()),
        (
            Some("TCP"),
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80))
        )
    );
    assert_eq!(
        services
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    let moved = api_error(
        services
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"spec": {"clusterIP": "10.96.0.99", "clusterIPs": ["10.96.0.99"]}}),
                ),
            )
            .await,
    );
    assert_eq!(moved.code, 422);
    assert!(
        moved.message.contains("may not change once set"),
        "{}",
        moved.message
    );
    let no_ports: Service =
        serde_json::from_value(json!({"metadata": {"name": "empty"}, "spec": {}})).unwrap();
    let refused = api_error(services.create(&PostParams::default(), &no_ports).await);
    assert_eq!(
        refused.message,
        "Service \"empty\" is invalid: spec.ports: Required value"
    );
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(services.get("web").await).code, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn a_secret_over_one_mebibyte_and_a_body_over_three_are_refused_like_a_real_server() {
    let server = FakeApiServer::start().await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(server.kube_client(), "default");
    let sized = |name: &str, bytes: usize| -> Secret {
        let mut data = std::collections::BTreeMap::new();
        data.insert(
            "blob".to_owned(),
            k8s_openapi::ByteString(vec![b'x'; bytes]),
        );
        Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        }
    };

    secrets
        .create(&PostParams::default(), &sized("limit", 1024 * 1024))
        .await
        .unwrap();
    let over = api_error(
        secrets
            .create(&PostParams::default(), &sized("over", 1024 * 1024 + 1))
            .await,
    );
    assert_eq!((over.code, over.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        over.message,
        "Secret \"over\" is invalid: data: Too long: must have at most 1048576 bytes"
    );
    let cause = &over.details.unwrap().causes[0];
    assert_eq!(
        (cause.reason.as_str(), cause.field.as_str()),
        ("FieldValueTooLong", "data")
    );
    let huge = api_error(
        secrets
            .create(&PostParams::default(), &sized("huge", 14 * 1024 * 1024))
            .await,
    );
    assert_eq!(
        (huge.code, huge.reason.as_str(), huge.message.as_str()),
        (
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728"
        )
    );
    assert!(secrets.get("huge").await.is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn a_date_time_without_an_offset_is_refused_and_any_rfc_3339_one_is_accepted() {
    let (server, client) = server_with_crd_of(crd_with_plain_date_time()).await;
    let api = dynamic_offboardings(&client);
    let with_effective_at = |name: &str, at: &str| -> DynamicObject {
        let mut object = offboarding_json(name);
        object["spec"]["effectiveAt"] = json!(at);
        serde_json::from_value(object).unwrap()
    };

    let local = api_error(
        api.create(
            &PostParams::default(),
            &with_effective_at("local", "2026-01-01T00:00:00"),
        )
        .await,
    );

    assert_eq!(local.code, 422);
    assert!(
        local.message.ends_with(
            r#"spec.effectiveAt: Invalid value: "2026-01-01T00:00:00": spec.effectiveAt in body must be of type date-time: "2026-01-01T00:00:00""#
        ),
        "{}",
        local.message
    );
    let cause = &local.details.unwrap().causes[0];
    assert_eq!(
        (cause.reason.as_str(), cause.field.as_str()),
        ("FieldValueTypeInvalid", "spec.effectiveAt")
    );
    for (name, at) in [
        ("far", "9999-12-31T23:59:59Z"),
        ("offset", "2026-06-30T12:00:00.5+02:00"),
    ] {
        api.create(&PostParams::default(), &with_effective_at(name, at))
            .await
            .unwrap_or_else(|e| panic!("{at} refused: {e}"));
    }
    server.shutdown().await;
}
