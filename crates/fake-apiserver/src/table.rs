//! `meta.k8s.io` Table responses for `kubectl get`: custom resources from their CRD's
//! `additionalPrinterColumns` (evaluated with a `JSONPath` subset: fields, indices, `[*]` and
//! filters like `[?(@.type=="Ready")]`) after a Name column; built-in kinds with the columns the
//! real server prints. Dates become ages (`5m3s`) the way the real server renders them.

use serde_json::{Value, json};

use super::query::IncludeObject;
use super::registry::{Builtin, Flavor, ResourceType, to_storage};

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Field(String),
    Index(i64),
    Wildcard,
    Filter(Vec<String>, bool, Value),
}

/// Parses the `JSONPath` subset used by printer columns.
fn parse_path(expr: &str) -> Vec<Segment> {
    let expr = expr.trim();
    let expr = expr
        .strip_prefix('{')
        .and_then(|e| e.strip_suffix('}'))
        .unwrap_or(expr);
    let expr = expr.strip_prefix('$').unwrap_or(expr);
    let chars: Vec<char> = expr.chars().collect();
    let mut segments = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let mut name = String::new();
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    name.push(chars[i]);
                    i += 1;
                }
                if !name.is_empty() {
                    segments.push(Segment::Field(name));
                }
            }
            '[' => {
                let mut depth = 0;
                let start = i + 1;
                while i < chars.len() {
                    match chars[i] {
                        '[' => depth += 1,
                        ']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                let inner: String = chars[start..i.min(chars.len())].iter().collect();
                i += 1;
                segments.push(parse_bracket(inner.trim()));
            }
            _ => {
                let mut name = String::new();
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    name.push(chars[i]);
                    i += 1;
                }
                segments.push(Segment::Field(name));
            }
        }
    }
    segments
}

fn parse_bracket(inner: &str) -> Segment {
    if inner == "*" {
        return Segment::Wildcard;
    }
    if let Ok(i) = inner.parse::<i64>() {
        return Segment::Index(i);
    }
    if let Some(filter) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        let (lhs, rhs, equal) = if let Some((l, r)) = filter.split_once("!=") {
            (l, r, false)
        } else if let Some((l, r)) = filter.split_once("==") {
            (l, r, true)
        } else {
            (filter, "", true)
        };
        let field: Vec<String> = lhs
            .trim()
            .trim_start_matches('@')
            .split('.')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let rhs = rhs.trim();
        let literal = if let Some(s) = rhs
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .or_else(|| rhs.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
        {
            Value::String(s.to_owned())
        } else {
            serde_json::from_str(rhs).unwrap_or(Value::String(rhs.to_owned()))
        };
        return Segment::Filter(field, equal, literal);
    }
    Segment::Field(inner.trim_matches(|c| c == '\'' || c == '"').to_owned())
}

/// Evaluates a `JSONPath` (subset) against an object; every match, in order.
pub(crate) fn eval_path<'a>(object: &'a Value, expr: &str) -> Vec<&'a Value> {
    let mut current = vec![object];
    for segment in parse_path(expr) {
        let mut next = Vec::new();
        for value in current {
            match &segment {
                Segment::Field(name) => next.extend(value.get(name)),
                Segment::Index(i) => {
                    if let Some(items) = value.as_array() {
                        let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
                        let index = if *i < 0 { len + i } else { *i };
                        next.extend(usize::try_from(index).ok().and_then(|i| items.get(i)));
                    }
                }
                Segment::Wildcard => match value {
                    Value::Array(items) => next.extend(items.iter()),
                    Value::Object(map) => next.extend(map.values()),
                    _ => {}
                },
                Segment::Filter(field, equal, literal) => {
                    if let Some(items) = value.as_array() {
                        next.extend(items.iter().filter(|item| {
                            let mut v = Some(*item);
                            for f in field {
                                v = v.and_then(|x| x.get(f));
                            }
                            v.is_some_and(|v| (v == literal) == *equal)
                        }));
                    }
                }
            }
        }
        current = next;
    }
    current
}

/// Kubernetes' `duration.HumanDuration`.
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The age of a timestamp (`<unknown>` when missing, `<invalid>` when unparsable).
pub(crate) fn age(timestamp: Option<&Value>) -> String {
    match timestamp.and_then(Value::as_str) {
        None | Some("") => "<unknown>".to_owned(),
        Some(text) => match chrono::DateTime::parse_from_rfc3339(text) {
            Ok(t) => {
                human_duration((chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
            }
            Err(_) => "<invalid>".to_owned(),
        },
    }
}

fn column(name: &str, ty: &str, format: &str, description: &str, priority: i64) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

fn name_column() -> Value {
    column(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
        0,
    )
}

fn age_column() -> Value {
    column(
        "Age",
        "string",
        "",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
        0,
    )
}

fn text(object: &Value, pointer: &str) -> Value {
    object
        .pointer(pointer)
        .cloned()
        .unwrap_or_else(|| json!(""))
}

fn count(object: &Value, keys: &[&str]) -> Value {
    let n: usize = keys
        .iter()
        .map(|k| {
            object
                .get(*k)
                .and_then(Value::as_object)
                .map_or(0, serde_json::Map::len)
        })
        .sum();
    json!(n)
}

/// The cells of a custom column, as the real CRD table convertor makes them.
fn custom_cell(object: &Value, ty: &str, path: &str) -> Value {
    let Some(value) = eval_path(object, path).into_iter().next() else {
        return Value::Null;
    };
    match ty {
        "string" => match value {
            Value::String(s) => json!(s),
            Value::Null => Value::Null,
            other => json!(other.to_string()),
        },
        "integer" => value
            .as_i64()
            .or_else(|| {
                #[allow(clippy::cast_possible_truncation)]
                value.as_f64().map(|f| f as i64)
            })
            .map_or(Value::Null, |i| json!(i)),
        "number" => value.as_f64().map_or(Value::Null, |f| json!(f)),
        "boolean" => value.as_bool().map_or(Value::Null, |b| json!(b)),
        "date" => json!(age(Some(value))),
        _ => Value::Null,
    }
}

fn event_cells(event: &Value) -> Vec<Value> {
    let first = if event.get("firstTimestamp").is_some_and(|v| !v.is_null()) {
        age(event.get("firstTimestamp"))
    } else {
        age(event.get("eventTime"))
    };
    let mut last = if event.get("lastTimestamp").is_some_and(|v| !v.is_null()) {
        age(event.get("lastTimestamp"))
    } else {
        first.clone()
    };
    let mut count = event.get("count").and_then(Value::as_i64).unwrap_or(0);
    if let Some(series) = event.get("series").filter(|s| s.is_object()) {
        last = age(series.get("lastObservedTime"));
        count = series.get("count").and_then(Value::as_i64).unwrap_or(count);
    } else if count == 0 {
        count = 1;
    }
    let involved = event
        .get("involvedObject")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let kind = involved["kind"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let target = match involved["name"].as_str() {
        Some(name) if !name.is_empty() => format!("{kind}/{name}"),
        _ => kind,
    };
    let source = match event.pointer("/source/component").and_then(Value::as_str) {
        Some(c) if !c.is_empty() => match event.pointer("/source/host").and_then(Value::as_str) {
            Some(h) if !h.is_empty() => format!("{c}, {h}"),
            _ => c.to_owned(),
        },
        _ => event["reportingComponent"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    vec![
        json!(last),
        text(event, "/type"),
        text(event, "/reason"),
        json!(target),
        text(event, "/involvedObject/fieldPath"),
        json!(source),
        json!(event["message"].as_str().unwrap_or_default().trim()),
        json!(first),
        json!(count),
        text(event, "/metadata/name"),
    ]
}

/// The cells of a Service row, as kubectl's printer makes them.
fn service_cells(service: &Value, name: Value, age: Value) -> Vec<Value> {
    let spec = service.get("spec").cloned().unwrap_or_else(|| json!({}));
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let ty = spec["type"].as_str().unwrap_or("ClusterIP").to_owned();
    let cluster_ip = match spec["clusterIP"].as_str() {
        Some(ip) if !ip.is_empty() => ip.to_owned(),
        _ => "<none>".to_owned(),
    };
    let external_ips = strings(&spec["externalIPs"]);
    let external = match ty.as_str() {
        "ExternalName" => spec["externalName"].as_str().unwrap_or_default().to_owned(),
        "LoadBalancer" => {
            let mut ips: Vec<String> = service
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|ingress| {
                    ingress
                        .iter()
                        .filter_map(|i| i["ip"].as_str().or_else(|| i["hostname"].as_str()))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            ips.extend(external_ips);
            if ips.is_empty() {
                "<pending>".to_owned()
            } else {
                ips.join(",")
            }
        }
        _ if external_ips.is_empty() => "<none>".to_owned(),
        _ => external_ips.join(","),
    };
    let ports: Vec<String> = spec["ports"]
        .as_array()
        .map(|ports| {
            ports
                .iter()
                .map(|p| {
                    let protocol = p["protocol"].as_str().unwrap_or("TCP");
                    match p["nodePort"].as_i64().filter(|n| *n > 0) {
                        Some(node) => format!("{}:{node}/{protocol}", p["port"]),
                        None => format!("{}/{protocol}", p["port"]),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let selector = spec["selector"]
        .as_object()
        .filter(|m| !m.is_empty())
        .map_or_else(
            || "<none>".to_owned(),
            |m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            },
        );
    let ports = if ports.is_empty() {
        "<none>".to_owned()
    } else {
        ports.join(",")
    };
    vec![
        name,
        json!(ty),
        json!(cluster_ip),
        json!(external),
        json!(ports),
        age,
        json!(selector),
    ]
}

/// Column definitions and a cell function for a resource type.
#[allow(clippy::too_many_lines)] // one arm per kind, each a list of columns
fn columns(rt: &ResourceType) -> Vec<Value> {
    match &rt.flavor {
        Flavor::Custom(c) => {
            let mut cols = vec![name_column()];
            if c.printer_columns.is_empty() {
                cols.push(age_column());
            }
            cols.extend(c.printer_columns.iter().map(|p| {
                let ty = if p.type_ == "date" {
                    "date"
                } else {
                    p.type_.as_str()
                };
                column(&p.name, ty, &p.format, &p.description, p.priority)
            }));
            cols
        }
        Flavor::Builtin(b) => match b {
            Builtin::Namespace => vec![
                name_column(),
                column("Status", "string", "", "The status of the namespace", 0),
                age_column(),
            ],
            Builtin::Secret => vec![
                name_column(),
                column("Type", "string", "", "The type of the secret", 0),
                column(
                    "Data",
                    "string",
                    "",
                    "The number of entries in the secret",
                    0,
                ),
                age_column(),
            ],
            Builtin::ConfigMap => vec![
                name_column(),
                column(
                    "Data",
                    "string",
                    "",
                    "The number of entries in the config map",
                    0,
                ),
                age_column(),
            ],
            Builtin::Event | Builtin::EventV1 => vec![
                column(
                    "Last Seen",
                    "string",
                    "",
                    "Time when last event occurred",
                    0,
                ),
                column("Type", "string", "", "Type of this event", 0),
                column(
                    "Reason",
                    "string",
                    "",
                    "Reason is why the action was taken",
                    0,
                ),
                column("Object", "string", "", "The object this event is about", 0),
                column(
                    "Subobject",
                    "string",
                    "",
                    "The subobject this event is about",
                    1,
                ),
                column(
                    "Source",
                    "string",
                    "",
                    "The component reporting this event",
                    1,
                ),
                column(
                    "Message",
                    "string",
                    "",
                    "A human-readable description of the status of this operation",
                    0,
                ),
                column(
                    "First Seen",
                    "string",
                    "",
                    "Time when first event occurred",
                    1,
                ),
                column(
                    "Count",
                    "string",
                    "",
                    "The number of times this event has occurred",
                    1,
                ),
                column("Name", "string", "name", "Name of the event", 1),
            ],
            Builtin::Lease => vec![
                name_column(),
                column("Holder", "string", "", "The holder of the lease", 0),
                age_column(),
            ],
            Builtin::Service => vec![
                name_column(),
                column(
                    "Type",
                    "string",
                    "",
                    "type determines how the Service is exposed.",
                    0,
                ),
                column(
                    "Cluster-IP",
                    "string",
                    "",
                    "clusterIP is the IP address of the service.",
                    0,
                ),
                column(
                    "External-IP",
                    "string",
                    "",
                    "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
                    0,
                ),
                column(
                    "Port(s)",
                    "string",
                    "",
                    "The list of ports that are exposed by this service.",
                    0,
                ),
                age_column(),
                column(
                    "Selector",
                    "string",
                    "",
                    "Route service traffic to pods with label keys and values matching this selector.",
                    1,
                ),
            ],
            Builtin::Crd => vec![
                name_column(),
                column("Created At", "date", "", "The time the CRD was created", 0),
            ],
        },
    }
}

fn cells(rt: &ResourceType, object: &Value) -> Vec<Value> {
    let name = text(object, "/metadata/name");
    let created = object.pointer("/metadata/creationTimestamp");
    match &rt.flavor {
        Flavor::Custom(c) => {
            let mut cells = vec![name];
            if c.printer_columns.is_empty() {
                cells.push(json!(age(created)));
            }
            cells.extend(
                c.printer_columns
                    .iter()
                    .map(|p| custom_cell(object, &p.type_, &p.json_path)),
            );
            cells
        }
        Flavor::Builtin(b) => match b {
            Builtin::Namespace => vec![name, text(object, "/status/phase"), json!(age(created))],
            Builtin::Secret => vec![
                name,
                text(object, "/type"),
                count(object, &["data"]),
                json!(age(created)),
            ],
            Builtin::ConfigMap => vec![
                name,
                count(object, &["data", "binaryData"]),
                json!(age(created)),
            ],
            Builtin::Event => event_cells(object),
            Builtin::EventV1 => event_cells(&to_storage(rt, object.clone())),
            Builtin::Lease => vec![
                name,
                text(object, "/spec/holderIdentity"),
                json!(age(created)),
            ],
            Builtin::Service => service_cells(object, name, json!(age(created))),
            Builtin::Crd => vec![name, created.cloned().unwrap_or(Value::Null)],
        },
    }
}

/// `PartialObjectMetadata` for an object.
pub(crate) fn partial(object: &Value, beta: bool) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": if beta { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" },
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A Table of `objects` (already in `rt`'s served version).
pub(crate) fn table(
    rt: &ResourceType,
    objects: &[Value],
    include: IncludeObject,
    beta: bool,
    list_meta: &Value,
    with_columns: bool,
) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut row = json!({"cells": cells(rt, o)});
            let embedded = match include {
                IncludeObject::None => None,
                IncludeObject::Metadata => Some(partial(o, beta)),
                IncludeObject::Object => Some(o.clone()),
            };
            if let (Some(e), Some(map)) = (embedded, row.as_object_mut()) {
                map.insert("object".to_owned(), e);
            }
            row
        })
        .collect();
    let column_definitions = if with_columns {
        columns(rt)
    } else {
        Vec::new()
    };
    json!({
        "kind": "Table",
        "apiVersion": if beta { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" },
        "metadata": list_meta,
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}

/// A Table by the real server's default convertor (Name, Created At), for kinds without
/// printer columns of their own, such as `Scale`.
pub(crate) fn default_table(object: &Value, include: IncludeObject, beta: bool) -> Value {
    let rv = object
        .pointer("/metadata/resourceVersion")
        .cloned()
        .unwrap_or(Value::Null);
    let mut row = json!({"cells": [
        text(object, "/metadata/name"),
        object.pointer("/metadata/creationTimestamp").cloned().unwrap_or(Value::Null),
    ]});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial(object, beta),
        IncludeObject::Object => row["object"] = object.clone(),
    }
    json!({
        "kind": "Table",
        "apiVersion": if beta { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" },
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": [
            name_column(),
            column("Created At", "date", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0),
        ],
        "rows": [row],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_column_paths_follow_filters() {
        let obj = json!({"status": {"conditions": [
            {"type": "Reconciling", "status": "False"},
            {"type": "Ready", "status": "True", "reason": "Offboarded"}
        ]}, "spec": {"user": {"email": "a@b.c"}}});
        assert_eq!(
            eval_path(&obj, ".status.conditions[?(@.type==\"Ready\")].status"),
            vec![&json!("True")]
        );
        assert_eq!(eval_path(&obj, "{.spec.user.email}"), vec![&json!("a@b.c")]);
        assert_eq!(eval_path(&obj, ".status.conditions[*].type").len(), 2);
        assert_eq!(
            eval_path(&obj, ".status.conditions[-1].reason"),
            vec![&json!("Offboarded")]
        );
        assert!(eval_path(&obj, ".status.missing").is_empty());
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(185), "3m5s");
        assert_eq!(human_duration(3600 * 5 + 60 * 7), "5h7m");
        assert_eq!(human_duration(86400 * 3), "3d");
    }
}
