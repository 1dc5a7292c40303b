//! The verbs on resources, run under the state lock: get, list (selectors, pagination), create,
//! update, patch (JSON, merge, strategic, apply), delete (finalizers, `deletionTimestamp`) and
//! deletecollection, with the write pipeline the real server runs: decode and prune, keep system
//! metadata, isolate `status` from spec, validate, bump `generation` on spec changes only, track
//! field ownership, skip no-op writes, then commit and cascade (namespaces, CRDs).

use std::sync::Arc;

use serde_json::{Value, json};

use super::builtin::{self, CRD_CLEANUP_FINALIZER};
use super::errors::{ApiError, Cause};
use super::managed::{self, Scope};
use super::meta::{self, NameRule};
use super::patch::{self, ListMerge, PatchError, json_equal};
use super::query::{FieldValidation, Query};
use super::registry::{
    Builtin, ListType, Registry, ResourceType, StorageKey, to_served, to_storage,
};
use super::schema;
use super::selectors::{FieldSelector, LabelSelector};
use super::store::Store;

/// Namespaces that exist from the start and may not be deleted.
pub(crate) const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Everything behind the lock.
#[derive(Debug)]
pub(crate) struct State {
    pub registry: Registry,
    pub store: Store,
}

/// A request on a resource, resolved.
pub(crate) struct Target<'a> {
    pub rt: Arc<ResourceType>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub status: bool,
    /// The `/scale` subresource of a custom resource.
    pub scale: bool,
    pub query: &'a Query,
    pub user_agent: &'a str,
}

impl Target<'_> {
    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    pub(crate) fn scope(&self) -> Scope {
        if self.scale {
            return Scope::Scale;
        }
        match (self.rt.status_subresource, self.status) {
            (false, _) => Scope::All,
            (true, false) => Scope::Main,
            (true, true) => Scope::Status,
        }
    }

    pub(crate) fn not_found(&self) -> ApiError {
        ApiError::not_found(&self.rt.group, &self.rt.plural, self.name())
    }

    /// `fieldManager`, or the user agent's first word as the real server derives it.
    pub(crate) fn manager(&self) -> String {
        self.query.get("fieldManager").map_or_else(
            || {
                let agent = self.user_agent.split('/').next().unwrap_or_default();
                if agent.is_empty() {
                    "unknown".to_owned()
                } else {
                    agent.chars().take(128).collect()
                }
            },
            str::to_owned,
        )
    }
}

/// What a verb answers: HTTP code, body and `Warning` headers.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub code: u16,
    pub body: Value,
    pub warnings: Vec<String>,
}

fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn meta_mut(object: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    if let Some(map) = object.as_object_mut() {
        let meta = map.entry("metadata").or_insert_with(|| json!({}));
        if !meta.is_object() {
            *meta = json!({});
        }
        return meta.as_object_mut();
    }
    None
}

fn set_meta(object: &mut Value, field: &str, value: Option<Value>) {
    if let Some(meta) = meta_mut(object) {
        match value {
            Some(v) => {
                meta.insert(field.to_owned(), v);
            }
            None => {
                meta.remove(field);
            }
        }
    }
}

fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Reads

/// GET one object.
pub(crate) fn get(state: &State, t: &Target<'_>) -> Result<Value, ApiError> {
    state
        .store
        .get(&t.rt.storage_key(), t.ns(), t.name())
        .map(|o| to_served(&t.rt, o.clone()))
        .ok_or_else(|| t.not_found())
}

/// A list: its items and its `ListMeta`.
pub(crate) struct Listing {
    pub items: Vec<Value>,
    pub metadata: Value,
}

fn encode_continue(rv: u64, namespace: &str, name: &str) -> String {
    let token = json!({"rv": rv, "start": format!("{namespace}/{name}")}).to_string();
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token)
}

fn decode_continue(token: &str) -> Result<(u64, String), ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token)
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok((
        value["rv"].as_u64().ok_or_else(bad)?,
        value["start"].as_str().ok_or_else(bad)?.to_owned(),
    ))
}

/// The selectors of a list or watch.
pub(crate) struct Selectors {
    pub label: LabelSelector,
    pub field: FieldSelector,
}

impl Selectors {
    pub(crate) fn parse(t: &Target<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            label: LabelSelector::parse(t.query.get("labelSelector"))?,
            field: FieldSelector::parse(t.query.get("fieldSelector"), &t.rt.field_selectors())?,
        })
    }

    pub(crate) fn matches(&self, served: &Value) -> bool {
        self.label.matches(served) && self.field.matches(served)
    }
}

/// LIST with selectors and `limit`/`continue`.
pub(crate) fn list(state: &State, t: &Target<'_>) -> Result<Listing, ApiError> {
    let selectors = Selectors::parse(t)?;
    let (rv, start) = match t.query.get("continue") {
        Some(token) => {
            let (rv, start) = decode_continue(token)?;
            (rv, Some(start))
        }
        None => (state.store.current_rv(), None),
    };
    let matching: Vec<Value> = state
        .store
        .list(&t.rt.storage_key(), t.namespace.as_deref())
        .into_iter()
        .filter(|o| {
            let key = format!(
                "{}/{}",
                meta_str(o, "namespace").unwrap_or_default(),
                meta_str(o, "name").unwrap_or_default()
            );
            start.as_ref().is_none_or(|s| key > *s)
        })
        .map(|o| to_served(&t.rt, o.clone()))
        .filter(|o| selectors.matches(o))
        .collect();
    let limit = t
        .query
        .number("limit")?
        .and_then(|l| usize::try_from(l).ok())
        .filter(|l| *l > 0);
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    let items = match limit {
        Some(limit) if matching.len() > limit => {
            let remaining = matching.len() - limit;
            let page: Vec<Value> = matching.into_iter().take(limit).collect();
            if let Some(last) = page.last() {
                metadata["continue"] = json!(encode_continue(
                    rv,
                    meta_str(last, "namespace").unwrap_or_default(),
                    meta_str(last, "name").unwrap_or_default()
                ));
                metadata["remainingItemCount"] = json!(remaining);
            }
            page
        }
        _ => matching,
    };
    Ok(Listing { items, metadata })
}

// ---------------------------------------------------------------------------------------------
// The write pipeline

/// How ownership of fields is recorded for a write.
pub(crate) enum Ownership {
    /// Create, update or non-apply patch by this manager.
    Update(String),
    /// Server-side apply: `managedFields` were computed by the apply merge.
    Apply,
}

pub(crate) struct WriteOptions {
    dry_run: bool,
    validation: FieldValidation,
    /// PUT: `metadata.resourceVersion` is required where the kind demands it.
    put: bool,
}

impl WriteOptions {
    pub(crate) fn from(query: &Query, put: bool) -> Result<Self, ApiError> {
        Ok(Self {
            dry_run: query.dry_run()?,
            validation: query.field_validation()?,
            put,
        })
    }
}

fn check_type(rt: &ResourceType, object: &Value) -> Result<(), ApiError> {
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{object}'"
        )));
    }
    if kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the request body ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    if api_version != rt.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    Ok(())
}

fn check_identity(t: &Target<'_>, object: &mut Value) -> Result<(), ApiError> {
    match meta_str(object, "name") {
        Some(name) if name != t.name() => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                t.name()
            )));
        }
        Some(_) => {}
        None => set_meta(object, "name", Some(json!(t.name()))),
    }
    if t.rt.namespaced {
        match meta_str(object, "namespace") {
            Some(ns) if ns != t.ns() => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            Some(_) => {}
            None => set_meta(object, "namespace", Some(json!(t.ns()))),
        }
    } else {
        set_meta(object, "namespace", None);
    }
    Ok(())
}

/// Decodes the way the real server does: unknown fields pruned (or rejected with Strict), nulls
/// of non-nullable fields dropped, defaults applied.
fn canonicalize(
    rt: &ResourceType,
    object: Value,
    validation: FieldValidation,
    warnings: &mut Vec<String>,
) -> Result<Value, ApiError> {
    let (mut object, unknown) = match &rt.flavor {
        super::registry::Flavor::Builtin(b) => builtin::decode(rt, *b, &object)?,
        super::registry::Flavor::Custom(c) => {
            let mut object = object;
            let mut unknown = builtin::decode_metadata(&mut object)?;
            if let Some(schema) = &c.schema {
                unknown.extend(schema::prune_and_default(&mut object, schema));
            }
            (object, unknown)
        }
    };
    if !unknown.is_empty() {
        match validation {
            FieldValidation::Strict => {
                let list: Vec<String> = unknown
                    .iter()
                    .map(|u| format!("unknown field \"{u}\""))
                    .collect();
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                    list.join(", "),
                    kind = rt.kind,
                    version = rt.version
                )));
            }
            FieldValidation::Warn => {
                warnings.extend(unknown.iter().map(|u| format!("unknown field \"{u}\"")));
            }
            FieldValidation::Ignore => {}
        }
    }
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".to_owned(), json!(rt.api_version()));
        map.insert("kind".to_owned(), json!(rt.kind));
    }
    Ok(object)
}

const SYSTEM_FIELDS: [&str; 9] = [
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
    "name",
    "namespace",
    "generateName",
];

fn carry_system_metadata(new: &mut Value, old: &Value, keep_managed_fields: bool) {
    for field in SYSTEM_FIELDS {
        set_meta(
            new,
            field,
            old.pointer(&format!("/metadata/{field}")).cloned(),
        );
    }
    if !keep_managed_fields {
        set_meta(
            new,
            "managedFields",
            old.pointer("/metadata/managedFields").cloned(),
        );
    }
    set_meta(new, "selfLink", None);
}

fn isolate_status(t: &Target<'_>, new: Value, old: &Value) -> Value {
    match t.scope() {
        Scope::All => new,
        Scope::Main | Scope::Scale => {
            let mut new = new;
            if let Some(map) = new.as_object_mut() {
                match old.get("status") {
                    Some(status) => map.insert("status".to_owned(), status.clone()),
                    None => map.remove("status"),
                };
            }
            new
        }
        Scope::Status => {
            let mut result = old.clone();
            if let Some(map) = result.as_object_mut() {
                match new.get("status") {
                    Some(status) => map.insert("status".to_owned(), status.clone()),
                    None => map.remove("status"),
                };
            }
            set_meta(
                &mut result,
                "managedFields",
                new.pointer("/metadata/managedFields").cloned(),
            );
            result
        }
    }
}

fn validate(
    rt: &ResourceType,
    object: &Value,
    old: Option<&Value>,
    scope: Scope,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    let name = meta_str(object, "name").unwrap_or_default();
    if old.is_none() {
        let rule = if rt.builtin() == Some(Builtin::Namespace) {
            NameRule::Label
        } else {
            NameRule::Subdomain
        };
        meta::validate_name(name, rule, &mut causes);
    }
    if let Some(m) = object.get("metadata") {
        meta::validate_metadata(m, &mut causes, warnings);
    }
    match &rt.flavor {
        super::registry::Flavor::Builtin(b) => causes.extend(builtin::validate(*b, object, old)),
        super::registry::Flavor::Custom(c) => {
            if let Some(s) = &c.schema {
                let mut found = Vec::new();
                schema::validate(object, s, "", &mut found);
                causes.extend(schema::ratchet(found, object, old));
                let cel =
                    schema::validate_cel(s, object, old, (&rt.api_version(), &rt.group, &rt.kind));
                warnings.extend(cel.warnings);
                causes.extend(schema::ratchet(cel.causes, object, old));
            }
            if let Some(paths) = &rt.scale {
                // Checked on every write, never ratcheted; a status write checks only status.
                causes.extend(super::scale::validate(
                    object,
                    paths,
                    scope == Scope::Status,
                ));
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        let (group, kind) = rt.group_kind();
        Err(ApiError::invalid(&group, &kind, name, &causes))
    }
}

/// Everything but metadata (and status, when it is a subresource).
fn spec_part(rt: &ResourceType, object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        for key in ["metadata", "apiVersion", "kind"] {
            map.remove(key);
        }
        if rt.status_subresource {
            map.remove("status");
        }
    }
    copy
}

/// Optimistic concurrency: a `resourceVersion` in the body must be the current one.
fn check_resource_version(
    t: &Target<'_>,
    old: &Value,
    candidate: &Value,
    put: bool,
) -> Result<(), ApiError> {
    let rt = &t.rt;
    match meta_str(candidate, "resourceVersion") {
        Some(rv) if Some(rv) != meta_str(old, "resourceVersion") => {
            Err(ApiError::stale(&rt.group, &rt.plural, t.name()))
        }
        None if put && rt.requires_resource_version() => {
            let (group, kind) = rt.group_kind();
            Err(ApiError::invalid(
                &group,
                &kind,
                t.name(),
                &[Cause::new(
                    "FieldValueInvalid",
                    "metadata.resourceVersion",
                    "Invalid value: 0x0: must be specified for an update",
                )],
            ))
        }
        _ => Ok(()),
    }
}

/// An object being deleted may lose finalizers but not gain any.
fn check_no_new_finalizers(t: &Target<'_>, old: &Value, new: &Value) -> Result<(), ApiError> {
    if meta_str(old, "deletionTimestamp").is_none() {
        return Ok(());
    }
    let before = finalizers(old);
    let added: Vec<String> = finalizers(new)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    let (group, kind) = t.rt.group_kind();
    Err(ApiError::invalid(
        &group,
        &kind,
        t.name(),
        &[Cause::new(
            "FieldValueForbidden",
            "metadata.finalizers",
            format!(
                "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
            ),
        )],
    ))
}

/// Runs the pipeline for a write to an existing object; `candidate` is in `t.rt`'s version.
pub(crate) fn write_existing(
    state: &mut State,
    t: &Target<'_>,
    old_stored: &Value,
    candidate: Value,
    ownership: Ownership,
    options: &WriteOptions,
) -> Result<Outcome, ApiError> {
    let rt = &t.rt;
    let old = to_served(rt, old_stored.clone());
    let mut warnings = Vec::new();
    let mut candidate = candidate;
    check_type(rt, &candidate)?;
    check_identity(t, &mut candidate)?;
    check_resource_version(t, &old, &candidate, options.put)?;
    let mut new = canonicalize(rt, candidate, options.validation, &mut warnings)?;
    carry_system_metadata(&mut new, &old, matches!(ownership, Ownership::Apply));
    let mut new = isolate_status(t, new, &old);
    check_no_new_finalizers(t, &old, &new)?;
    if let Some(b) = rt.builtin() {
        builtin::prepare(b, &mut new, Some(&old), false);
    }
    validate(rt, &new, Some(&old), t.scope(), &mut warnings)?;
    if rt.tracks_generation() && spec_part(rt, &new) != spec_part(rt, &old) {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        set_meta(&mut new, "generation", Some(json!(generation + 1)));
    }
    let now = meta::now();
    match ownership {
        Ownership::Update(manager) => {
            managed::record_update(Some(&old), &mut new, rt, &manager, t.scope(), &now);
        }
        Ownership::Apply => managed::prune_entries(&mut new, rt),
    }
    if json_equal(&new, &old) {
        return Ok(Outcome {
            code: 200,
            body: old,
            warnings,
        });
    }
    if options.dry_run {
        return Ok(Outcome {
            code: 200,
            body: new,
            warnings,
        });
    }
    let key = rt.storage_key();
    let stored = to_storage(rt, new);
    let committed =
        if meta_str(&stored, "deletionTimestamp").is_some() && finalizers(&stored).is_empty() {
            let removed = state.store.remove_final(&key, stored).unwrap_or_default();
            after_removal(state, &key, &removed);
            removed
        } else {
            let committed = state.store.update(&key, stored);
            after_commit(state, &key, &committed);
            committed
        };
    housekeeping(state);
    Ok(Outcome {
        code: 200,
        body: to_served(rt, committed),
        warnings,
    })
}

fn after_commit(state: &mut State, key: &StorageKey, stored: &Value) {
    if key.group == "apiextensions.k8s.io" && key.resource == "customresourcedefinitions" {
        state.registry.register_crd(stored);
    }
}

fn after_removal(state: &mut State, key: &StorageKey, stored: &Value) {
    if key.group == "apiextensions.k8s.io"
        && key.resource == "customresourcedefinitions"
        && let Some(name) = meta_str(stored, "name")
    {
        state.registry.unregister_crd(name);
    }
}

// ---------------------------------------------------------------------------------------------
// Create

fn check_namespace(state: &State, t: &Target<'_>) -> Result<(), ApiError> {
    if !t.rt.namespaced {
        return Ok(());
    }
    let ns_key = StorageKey {
        group: String::new(),
        resource: "namespaces".to_owned(),
    };
    match state.store.get(&ns_key, "", t.ns()) {
        None => Err(ApiError::not_found("", "namespaces", t.ns())),
        Some(ns) if meta_str(ns, "deletionTimestamp").is_some() => {
            Err(ApiError::forbidden(format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
                super::errors::qualified(&t.rt.plural, &t.rt.group),
                t.name(),
                t.ns()
            )))
        }
        Some(_) => Ok(()),
    }
}

fn check_crd_not_terminating(state: &State, t: &Target<'_>) -> Result<(), ApiError> {
    let Some(custom) = t.rt.custom() else {
        return Ok(());
    };
    let crd_key = StorageKey {
        group: "apiextensions.k8s.io".to_owned(),
        resource: "customresourcedefinitions".to_owned(),
    };
    match state.store.get(&crd_key, "", &custom.crd_name) {
        Some(crd) if meta_str(crd, "deletionTimestamp").is_some() => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "create not allowed while custom resource definition is terminating",
        )),
        _ => Ok(()),
    }
}

/// The range cluster IPs come from (kube-apiserver's default `--service-cluster-ip-range`).
const SERVICE_RANGE: (std::net::Ipv4Addr, u32) = (std::net::Ipv4Addr::new(10, 96, 0, 0), 12);

fn services_key() -> StorageKey {
    StorageKey {
        group: String::new(),
        resource: "services".to_owned(),
    }
}

/// Gives a new Service its cluster IP, as the real server's allocator does: the one asked for
/// if it is free and in range, else a free one (`None` makes a headless Service).
fn allocate_cluster_ip(state: &State, service: &mut Value) -> Result<(), ApiError> {
    if !builtin::service_needs_cluster_ip(service) {
        return Ok(());
    }
    let name = meta_str(service, "name").unwrap_or_default().to_owned();
    let Some(spec) = service.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let asked = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty())
        .or_else(|| {
            spec.get("clusterIPs")
                .and_then(Value::as_array)
                .and_then(|ips| ips.first())
                .and_then(Value::as_str)
        })
        .map(str::to_owned);
    let taken: Vec<String> = state
        .store
        .list(&services_key(), None)
        .into_iter()
        .flat_map(|s| {
            s.pointer("/spec/clusterIPs")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|ip| ip.as_str().map(str::to_owned))
        .collect();
    let (base, prefix) = SERVICE_RANGE;
    let size = 1_u32 << (32 - prefix);
    let in_range = |ip: std::net::Ipv4Addr| {
        (u32::from(ip) >> (32 - prefix)) == (u32::from(base) >> (32 - prefix))
    };
    let refuse = |ip: &str, why: String| {
        ApiError::invalid(
            "",
            "Service",
            &name,
            &[Cause::new(
                "FieldValueInvalid",
                "spec.clusterIPs",
                format!("Invalid value: []string{{{ip:?}}}: failed to allocate IP {ip}: {why}"),
            )],
        )
    };
    let ip = match asked.as_deref() {
        Some("None") => "None".to_owned(),
        Some(ip) => {
            let parsed: std::net::Ipv4Addr = ip
                .parse()
                .map_err(|_| refuse(ip, "not a valid IP address".to_owned()))?;
            if !in_range(parsed) {
                return Err(refuse(
                    ip,
                    format!(
                        "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {base}/{prefix}"
                    ),
                ));
            }
            if taken.iter().any(|t| t == ip) {
                return Err(refuse(ip, "provided IP is already allocated".to_owned()));
            }
            ip.to_owned()
        }
        None => (1..size - 1)
            .map(|offset| std::net::Ipv4Addr::from(u32::from(base) + offset).to_string())
            .find(|candidate| !taken.contains(candidate))
            .ok_or_else(|| ApiError::internal("failed to allocate a serviceIP: range is full"))?,
    };
    spec.insert("clusterIP".to_owned(), json!(ip));
    spec.insert("clusterIPs".to_owned(), json!([ip]));
    spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
    spec.entry("ipFamilyPolicy")
        .or_insert_with(|| json!("SingleStack"));
    Ok(())
}

/// POST: creates an object (also used by apply when the object is missing).
pub(crate) fn create(state: &mut State, t: &Target<'_>, body: Value) -> Result<Outcome, ApiError> {
    let options = WriteOptions::from(t.query, false)?;
    let manager = t.manager();
    create_with(state, t, body, Ownership::Update(manager), &options)
}

/// The object's name, generated from `generateName` when missing.
fn assign_name(rt: &ResourceType, object: &mut Value) -> Result<String, ApiError> {
    if let Some(name) = meta_str(object, "name") {
        return Ok(name.to_owned());
    }
    let Some(base) = meta_str(object, "generateName") else {
        let (group, kind) = rt.group_kind();
        return Err(ApiError::invalid(
            &group,
            &kind,
            "",
            &[Cause::new(
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )],
        ));
    };
    let name = meta::generate_name(base);
    set_meta(object, "name", Some(json!(name)));
    Ok(name)
}

fn create_with(
    state: &mut State,
    t: &Target<'_>,
    body: Value,
    ownership: Ownership,
    options: &WriteOptions,
) -> Result<Outcome, ApiError> {
    let rt = &t.rt;
    let mut object = body;
    check_type(rt, &object)?;
    if rt.namespaced {
        match meta_str(&object, "namespace") {
            Some(ns) if ns != t.ns() => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => set_meta(&mut object, "namespace", Some(json!(t.ns()))),
        }
    } else {
        set_meta(&mut object, "namespace", None);
    }
    let name = assign_name(rt, &mut object)?;
    let target = Target {
        rt: Arc::clone(rt),
        namespace: t.namespace.clone(),
        name: Some(name.clone()),
        status: false,
        scale: false,
        query: t.query,
        user_agent: t.user_agent,
    };
    check_namespace(state, &target)?;
    check_crd_not_terminating(state, &target)?;
    let mut warnings = Vec::new();
    let mut object = canonicalize(rt, object, options.validation, &mut warnings)?;
    for field in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "selfLink",
    ] {
        set_meta(&mut object, field, None);
    }
    if matches!(ownership, Ownership::Update(_)) {
        set_meta(&mut object, "managedFields", None);
    }
    if rt.status_subresource
        && let Some(map) = object.as_object_mut()
    {
        map.remove("status");
    }
    let now = meta::now();
    set_meta(
        &mut object,
        "uid",
        Some(json!(uuid::Uuid::new_v4().to_string())),
    );
    set_meta(&mut object, "creationTimestamp", Some(json!(now)));
    if rt.tracks_generation() {
        set_meta(&mut object, "generation", Some(json!(1)));
    }
    if rt.builtin() == Some(Builtin::Service) {
        allocate_cluster_ip(state, &mut object)?;
    }
    if let Some(b) = rt.builtin() {
        builtin::prepare(b, &mut object, None, true);
    }
    validate(rt, &object, None, Scope::All, &mut warnings)?;
    let key = rt.storage_key();
    if state.store.get(&key, t.ns(), &name).is_some() {
        return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
    }
    match ownership {
        Ownership::Update(manager) => {
            managed::record_update(None, &mut object, rt, &manager, Scope::All, &now);
        }
        Ownership::Apply => managed::prune_entries(&mut object, rt),
    }
    if options.dry_run {
        return Ok(Outcome {
            code: 201,
            body: object,
            warnings,
        });
    }
    let committed = state.store.insert(&key, to_storage(rt, object));
    after_commit(state, &key, &committed);
    housekeeping(state);
    Ok(Outcome {
        code: 201,
        body: to_served(rt, committed),
        warnings,
    })
}

// ---------------------------------------------------------------------------------------------
// Update and patch

/// PUT (to the object or its `/status`).
pub(crate) fn update(state: &mut State, t: &Target<'_>, body: Value) -> Result<Outcome, ApiError> {
    let options = WriteOptions::from(t.query, true)?;
    let key = t.rt.storage_key();
    let old = state
        .store
        .get(&key, t.ns(), t.name())
        .cloned()
        .ok_or_else(|| t.not_found())?;
    write_existing(
        state,
        t,
        &old,
        body,
        Ownership::Update(t.manager()),
        &options,
    )
}

/// The patch formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub(crate) fn from_content_type(content_type: &str, custom: bool) -> Result<Self, ApiError> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let mut accepted = vec![
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ];
        if !custom {
            accepted.push("application/strategic-merge-patch+json");
        }
        match essence.as_str() {
            "application/json-patch+json" => Ok(Self::Json),
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/apply-patch+yaml" => Ok(Self::Apply),
            // Custom resources have no strategic merge metadata: the real server refuses.
            "application/strategic-merge-patch+json" if !custom => Ok(Self::Strategic),
            _ => Err(ApiError::unsupported_media_type(&essence, &accepted)),
        }
    }

    /// The name used in the request log.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Merge => "merge",
            Self::Strategic => "strategic",
            Self::Apply => "apply",
        }
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

fn strategic_list_merge(rt: &ResourceType) -> impl Fn(&[String]) -> ListMerge + '_ {
    move |path: &[String]| match rt.list_type(path) {
        ListType::Atomic => ListMerge::Replace,
        ListType::Set => ListMerge::Primitives,
        ListType::Map(keys) => keys
            .first()
            .map_or(ListMerge::Replace, |k| ListMerge::ByKey(k.clone())),
    }
}

/// PATCH (to the object or its `/status`).
pub(crate) fn patch(
    state: &mut State,
    t: &Target<'_>,
    patch_type: PatchType,
    body: &[u8],
) -> Result<Outcome, ApiError> {
    let options = WriteOptions::from(t.query, false)?;
    if patch_type == PatchType::Apply {
        return apply(state, t, body, &options);
    }
    let key = t.rt.storage_key();
    let old_stored = state
        .store
        .get(&key, t.ns(), t.name())
        .cloned()
        .ok_or_else(|| t.not_found())?;
    let old = to_served(&t.rt, old_stored.clone());
    let patch = parse_json(body)?;
    let patched = match patch_type {
        PatchType::Json => patch::json_patch(&old, &patch).map_err(|e| match e {
            PatchError::Malformed(m) => ApiError::bad_request(m),
            PatchError::Failed(m) => ApiError::new(422, "Invalid", m),
        })?,
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            let mut doc = old.clone();
            patch::merge_patch(&mut doc, &patch);
            doc
        }
        PatchType::Strategic | PatchType::Apply => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "a strategic merge patch must be a JSON object",
                ));
            }
            let mut doc = old.clone();
            patch::strategic_merge(
                &mut doc,
                &patch,
                &mut Vec::new(),
                &strategic_list_merge(&t.rt),
            );
            doc
        }
    };
    write_existing(
        state,
        t,
        &old_stored,
        patched,
        Ownership::Update(t.manager()),
        &options,
    )
}

/// Limits an applied configuration to what the endpoint may change.
fn reset_fields(t: &Target<'_>, mut applied: Value) -> Value {
    match t.scope() {
        Scope::All => applied,
        Scope::Main | Scope::Scale => {
            if let Some(map) = applied.as_object_mut() {
                map.remove("status");
            }
            applied
        }
        Scope::Status => {
            if let Some(map) = applied.as_object_mut() {
                map.retain(|k, _| {
                    matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")
                });
                if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.retain(|k, _| {
                        matches!(k.as_str(), "name" | "namespace" | "resourceVersion")
                    });
                }
            }
            applied
        }
    }
}

fn apply(
    state: &mut State,
    t: &Target<'_>,
    body: &[u8],
    options: &WriteOptions,
) -> Result<Outcome, ApiError> {
    let rt = &t.rt;
    let Some(manager) = t.query.get("fieldManager").map(str::to_owned) else {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            &[Cause::new(
                "FieldValueRequired",
                "fieldManager",
                "Required value: is required for apply patch",
            )],
        ));
    };
    let force = t.query.flag("force");
    let applied: Value = serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    check_type(rt, &applied)?;
    let mut applied = reset_fields(t, applied);
    check_identity(t, &mut applied)?;
    let key = rt.storage_key();
    let existing = state.store.get(&key, t.ns(), t.name()).cloned();
    let now = meta::now();
    match existing {
        None if t.status => Err(t.not_found()),
        None => {
            let mut empty = json!({"apiVersion": rt.api_version(), "kind": rt.kind, "metadata": {"name": t.name()}});
            if rt.namespaced {
                empty["metadata"]["namespace"] = json!(t.ns());
            }
            if meta_str(&applied, "resourceVersion").is_some() {
                return Err(t.not_found());
            }
            let merged = managed::apply(&empty, &applied, rt, &manager, t.scope(), force, &now)?;
            create_with(state, t, merged, Ownership::Apply, options)
        }
        Some(old_stored) => {
            let live = to_served(rt, old_stored.clone());
            if let Some(rv) = meta_str(&applied, "resourceVersion")
                && Some(rv) != meta_str(&live, "resourceVersion")
            {
                return Err(ApiError::stale(&rt.group, &rt.plural, t.name()));
            }
            let mut merged = managed::apply(&live, &applied, rt, &manager, t.scope(), force, &now)?;
            set_meta(
                &mut merged,
                "resourceVersion",
                live.pointer("/metadata/resourceVersion").cloned(),
            );
            write_existing(state, t, &old_stored, merged, Ownership::Apply, options)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Delete

fn check_preconditions(
    t: &Target<'_>,
    object: &Value,
    options: Option<&Value>,
) -> Result<(), ApiError> {
    let Some(pre) = options.and_then(|o| o.get("preconditions")) else {
        return Ok(());
    };
    let rt = &t.rt;
    if let Some(uid) = pre.get("uid").and_then(Value::as_str) {
        let actual = meta_str(object, "uid").unwrap_or_default();
        if uid != actual {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                t.name(),
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            ));
        }
    }
    if let Some(rv) = pre.get("resourceVersion").and_then(Value::as_str) {
        let actual = meta_str(object, "resourceVersion").unwrap_or_default();
        if rv != actual {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                t.name(),
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
                ),
            ));
        }
    }
    Ok(())
}

/// Whether deleting the stored object must wait (finalizers, or a namespace's spec finalizers).
fn deletion_waits(key: &StorageKey, stored: &Value) -> bool {
    !finalizers(stored).is_empty()
        || (key.group.is_empty()
            && key.resource == "namespaces"
            && stored
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty()))
}

/// Starts or finishes the deletion of a stored object. Returns its new stored state and whether
/// it is gone.
fn delete_stored(state: &mut State, key: &StorageKey, stored: &Value) -> (Value, bool) {
    let ns = meta_str(stored, "namespace").unwrap_or_default().to_owned();
    let name = meta_str(stored, "name").unwrap_or_default().to_owned();
    if !deletion_waits(key, stored) {
        let removed = state.store.remove(key, &ns, &name).unwrap_or_default();
        after_removal(state, key, &removed);
        return (removed, true);
    }
    if meta_str(stored, "deletionTimestamp").is_some() {
        return (stored.clone(), false);
    }
    let mut next = stored.clone();
    set_meta(&mut next, "deletionTimestamp", Some(json!(meta::now())));
    set_meta(&mut next, "deletionGracePeriodSeconds", Some(json!(0)));
    if let Some(generation) = next.pointer("/metadata/generation").and_then(Value::as_i64) {
        set_meta(&mut next, "generation", Some(json!(generation + 1)));
    }
    if key.group.is_empty() && key.resource == "namespaces" {
        next["status"] = json!({"phase": "Terminating"});
    }
    if key.group == "apiextensions.k8s.io" && key.resource == "customresourcedefinitions" {
        builtin::prepare(Builtin::Crd, &mut next, Some(stored), false);
    }
    (state.store.update(key, next), false)
}

/// DELETE one object.
pub(crate) fn delete(
    state: &mut State,
    t: &Target<'_>,
    options: Option<&Value>,
) -> Result<Outcome, ApiError> {
    let rt = &t.rt;
    let key = rt.storage_key();
    let stored = state
        .store
        .get(&key, t.ns(), t.name())
        .cloned()
        .ok_or_else(|| t.not_found())?;
    check_preconditions(t, &stored, options)?;
    if rt.builtin() == Some(Builtin::Namespace) && SYSTEM_NAMESPACES.contains(&t.name()) {
        return Err(ApiError::forbidden(format!(
            "namespaces \"{}\" is forbidden: this namespace may not be deleted",
            t.name()
        )));
    }
    if t.query.dry_run()? {
        return Ok(Outcome {
            code: 200,
            body: to_served(rt, stored),
            warnings: Vec::new(),
        });
    }
    let (after, gone) = delete_stored(state, &key, &stored);
    housekeeping(state);
    let body = if gone {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": t.name(),
                "group": rt.group,
                "kind": rt.plural,
                "uid": meta_str(&after, "uid").unwrap_or_default(),
            },
        })
    } else {
        to_served(rt, after)
    };
    Ok(Outcome {
        code: 200,
        body,
        warnings: Vec::new(),
    })
}

/// DELETE a collection (namespace and selectors apply).
pub(crate) fn delete_collection(state: &mut State, t: &Target<'_>) -> Result<Outcome, ApiError> {
    let listing = list(state, t)?;
    let key = t.rt.storage_key();
    let dry_run = t.query.dry_run()?;
    let mut items = Vec::new();
    for item in listing.items {
        let ns = meta_str(&item, "namespace").unwrap_or_default().to_owned();
        let name = meta_str(&item, "name").unwrap_or_default().to_owned();
        if t.rt.builtin() == Some(Builtin::Namespace) && SYSTEM_NAMESPACES.contains(&name.as_str())
        {
            continue;
        }
        let Some(stored) = state.store.get(&key, &ns, &name).cloned() else {
            continue;
        };
        if dry_run {
            items.push(item);
            continue;
        }
        let (after, _) = delete_stored(state, &key, &stored);
        items.push(to_served(&t.rt, after));
    }
    housekeeping(state);
    Ok(Outcome {
        code: 200,
        body: json!({
            "kind": t.rt.list_kind,
            "apiVersion": t.rt.api_version(),
            "metadata": {"resourceVersion": state.store.current_rv().to_string()},
            "items": items,
        }),
        warnings: Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------------
// Cascades

/// What the namespace and CRD controllers of a real cluster do: delete the content of
/// terminating namespaces and the instances of terminating CRDs, then let them go.
pub(crate) fn housekeeping(state: &mut State) {
    let ns_key = StorageKey {
        group: String::new(),
        resource: "namespaces".to_owned(),
    };
    let crd_key = StorageKey {
        group: "apiextensions.k8s.io".to_owned(),
        resource: "customresourcedefinitions".to_owned(),
    };
    let terminating_namespaces: Vec<Value> = state
        .store
        .list(&ns_key, None)
        .into_iter()
        .filter(|n| meta_str(n, "deletionTimestamp").is_some())
        .cloned()
        .collect();
    for namespace in terminating_namespaces {
        let name = meta_str(&namespace, "name").unwrap_or_default().to_owned();
        for (key, object_name) in state.store.keys_in_namespace(&name) {
            if let Some(stored) = state.store.get(&key, &name, &object_name).cloned() {
                delete_stored(state, &key, &stored);
            }
        }
        if state.store.count_in_namespace(&name) == 0 {
            let mut next = namespace.clone();
            if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("finalizers");
            }
            if finalizers(&next).is_empty() {
                state.store.remove(&ns_key, "", &name);
            } else if next != namespace {
                state.store.update(&ns_key, next);
            }
        }
    }
    let terminating_crds: Vec<Value> = state
        .store
        .list(&crd_key, None)
        .into_iter()
        .filter(|c| meta_str(c, "deletionTimestamp").is_some())
        .cloned()
        .collect();
    for crd in terminating_crds {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key = StorageKey {
            group: group.to_owned(),
            resource: plural.to_owned(),
        };
        let instances: Vec<Value> = state.store.list(&key, None).into_iter().cloned().collect();
        for instance in &instances {
            delete_stored(state, &key, instance);
        }
        if state.store.list(&key, None).is_empty() {
            let mut next = crd.clone();
            if let Some(list) = next
                .get_mut("metadata")
                .and_then(|m| m.get_mut("finalizers"))
                .and_then(Value::as_array_mut)
            {
                list.retain(|f| f != CRD_CLEANUP_FINALIZER);
            }
            let name = meta_str(&crd, "name").unwrap_or_default().to_owned();
            if finalizers(&next).is_empty() {
                if let Some(removed) = state.store.remove(&crd_key, "", &name) {
                    after_removal(state, &crd_key, &removed);
                }
            } else if next != crd {
                state.store.update(&crd_key, next);
            }
        }
    }
}

/// Creates what every cluster has from the start: the system namespaces and the `kubernetes`
/// Service in `default` (the API server's own address for in-cluster clients).
pub(crate) fn bootstrap(state: &mut State) {
    let ns_key = StorageKey {
        group: String::new(),
        resource: "namespaces".to_owned(),
    };
    for name in SYSTEM_NAMESPACES {
        let mut ns = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": meta::now()},
        });
        builtin::prepare(Builtin::Namespace, &mut ns, None, true);
        state.store.insert(&ns_key, ns);
    }
    let mut kubernetes = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "uid": uuid::Uuid::new_v4().to_string(),
            "creationTimestamp": meta::now(),
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": 6443}],
            "clusterIP": "10.96.0.1",
            "clusterIPs": ["10.96.0.1"],
            "type": "ClusterIP",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
        },
    });
    builtin::prepare(Builtin::Service, &mut kubernetes, None, true);
    state.store.insert(&services_key(), kubernetes);
}
