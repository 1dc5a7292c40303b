//! Checks Genesys Cloud API traffic against the machine-readable contract in
//! `contract/genesys-contract.json` (see `contract/PROVENANCE.md`).
//!
//! Start with [`Contract::check_exchange`]: given one recorded request and its response it finds
//! the operation by method and path template, then validates the query string, the request body
//! against the operation's body type and the response body against its response type (or
//! `ErrorBody` for a status of 400 and above). Every problem is returned as a [`Violation`], none
//! stops the check, so a test can report all of them at once.
//!
//! Rules, as the contract's README asks:
//! - a JSON object may only carry fields its model declares; values must have the JSON type the
//!   SDK type string implies (`str`, `int`, `float`, `bool`, `datetime`, `date`, `object`, model
//!   names, `list[T]`, `dict(str, T)`); enum fields must hold a listed value;
//! - `required` fields are enforced on the top-level body and on nested objects, except nested
//!   entity references written as a stub (`{"id", "name"?, "selfUri"?}`), which Genesys returns
//!   where the schema names a full model;
//! - `null` is accepted only where the type is free-form (`object`): Genesys omits absent fields;
//! - query parameters must be declared by the operation, hold a value of their type and, where the
//!   contract lists values, one of those; list parameters may be comma-joined or repeated.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

/// Where the contract lives, relative to the crate root.
pub const CONTRACT_FILE: &str = "contract/genesys-contract.json";

/// The model every error response must match.
pub const ERROR_BODY: &str = "ErrorBody";

/// Keys of a nested entity reference stub (`{"id", "name", "selfUri"}`).
const STUB_KEYS: [&str; 3] = ["id", "name", "selfUri"];

/// The absolute path of the contract in this checkout.
pub fn contract_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(CONTRACT_FILE)
}

/// One way in which a request or response departs from the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where: `$.results[0].state` for a body, `?expand` for a query parameter, or the request
    /// line for routing problems.
    pub at: String,
    pub problem: String,
}

impl Violation {
    fn new(at: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            at: at.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.problem)
    }
}

/// The parsed contract.
#[derive(Debug, Clone)]
pub struct Contract {
    pub operations: Vec<Operation>,
    pub models: BTreeMap<String, Model>,
    /// Type names the generator found referenced but not defined in the SDK
    /// (`gaps.modelsNotFound`, e.g. `LocalDateTime`): values of these types are not checked.
    pub undefined: BTreeSet<String>,
}

/// One API operation (`get_user`, `patch_user`, ...).
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub method: String,
    /// The path template, e.g. `/api/v2/users/{userId}`.
    pub path: String,
    pub query: Vec<QueryParam>,
    pub body: Option<BodySpec>,
    /// The SDK type of the success response body; `None` when the SDK expects no body.
    pub response: Option<String>,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone)]
pub struct BodySpec {
    pub ty: String,
    pub required: bool,
}

#[derive(Debug, Clone)]
pub struct QueryParam {
    pub name: String,
    pub ty: String,
    pub required: bool,
    pub allowed: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub fields: BTreeMap<String, Field>,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub ty: String,
    pub allowed: Option<Vec<String>>,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// An SDK type string, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Type {
    Str,
    Int,
    Float,
    Bool,
    DateTime,
    Date,
    Any,
    Model(String),
    List(Box<Type>),
    Dict(Box<Type>),
}

impl Type {
    fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(inner) = s.strip_prefix("list[").and_then(|r| r.strip_suffix(']')) {
            return Ok(Self::List(Box::new(Self::parse(inner)?)));
        }
        if let Some(inner) = s.strip_prefix("dict(").and_then(|r| r.strip_suffix(')')) {
            let value = inner
                .strip_prefix("str,")
                .ok_or_else(|| format!("dict type `{s}` does not have str keys"))?;
            return Ok(Self::Dict(Box::new(Self::parse(value)?)));
        }
        Ok(match s {
            "str" => Self::Str,
            "int" => Self::Int,
            "float" => Self::Float,
            "bool" => Self::Bool,
            "datetime" => Self::DateTime,
            "date" => Self::Date,
            "object" => Self::Any,
            "" => return Err("empty type string".into()),
            name if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                Self::Model(name.to_owned())
            }
            other => return Err(format!("unparseable type string `{other}`")),
        })
    }

    fn models(&self) -> Option<&str> {
        match self {
            Self::Model(name) => Some(name),
            Self::List(inner) | Self::Dict(inner) => inner.models(),
            _ => None,
        }
    }
}

/// How strictly `required` is applied to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    TopLevel,
    Nested,
}

/// One recorded HTTP exchange, as the emulator's request log has it.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    pub method: &'a str,
    /// The path without the query string.
    pub path: &'a str,
    /// The raw query string without `?` (empty when there is none).
    pub query: &'a str,
    pub body: Option<&'a Value>,
    pub status: u16,
    pub response_body: Option<&'a Value>,
}

impl Contract {
    /// Loads the contract from the crate's `contract/` folder; panics with the reason if it is
    /// missing or malformed (a test cannot go on without it).
    pub fn load() -> Self {
        let path = contract_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        Self::from_value(&value).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Parses a contract document, and checks that every type it names resolves.
    pub fn from_value(doc: &Value) -> Result<Self, String> {
        let models = doc
            .get("models")
            .and_then(Value::as_object)
            .ok_or("no `models` object")?
            .iter()
            .map(|(name, model)| Ok((name.clone(), parse_model(name, model)?)))
            .collect::<Result<BTreeMap<_, _>, String>>()?;
        let operations = doc
            .get("operations")
            .and_then(Value::as_array)
            .ok_or("no `operations` array")?
            .iter()
            .map(parse_operation)
            .collect::<Result<Vec<_>, String>>()?;
        let undefined = doc
            .pointer("/gaps/modelsNotFound")
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let contract = Self {
            operations,
            models,
            undefined,
        };
        contract.check_types_resolve()?;
        Ok(contract)
    }

    fn check_types_resolve(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut check = |owner: String, ty: &str| match Type::parse(ty) {
            Ok(t) => {
                if let Some(name) = t.models()
                    && !self.models.contains_key(name)
                    && !self.undefined.contains(name)
                {
                    problems.push(format!("{owner}: type `{ty}` names unknown model `{name}`"));
                }
            }
            Err(e) => problems.push(format!("{owner}: {e}")),
        };
        for (name, model) in &self.models {
            for (field, spec) in &model.fields {
                check(format!("model {name}.{field}"), &spec.ty);
            }
        }
        for op in &self.operations {
            if let Some(body) = &op.body {
                check(format!("operation {} body", op.id), &body.ty);
            }
            if let Some(response) = &op.response {
                check(format!("operation {} response", op.id), response);
            }
        }
        if !self.models.contains_key(ERROR_BODY) {
            problems.push(format!("model {ERROR_BODY} is missing"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    pub fn operation_by_id(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|op| op.id == id)
    }

    /// Finds the operation for a method and a concrete path. When several templates match
    /// (`/users/search` and `/users/{userId}`), the one with the most literal segments wins.
    pub fn operation(&self, method: &str, path: &str) -> Result<&Operation, Violation> {
        let at = format!("{method} {path}");
        let segments = split_path(path);
        let matching: Vec<&Operation> = self
            .operations
            .iter()
            .filter(|op| op.matches(&segments))
            .collect();
        let best = matching
            .iter()
            .filter(|op| op.method.eq_ignore_ascii_case(method))
            .max_by_key(|op| op.literal_count());
        if let Some(op) = best {
            return Ok(op);
        }
        if matching.is_empty() {
            Err(Violation::new(
                at,
                "no operation in the contract has this path",
            ))
        } else {
            // Name the closest templates only: `/users/query` rather than `/users/{userId}`.
            let closest = matching.iter().map(|op| op.literal_count()).max();
            let mut others: Vec<String> = matching
                .iter()
                .filter(|op| Some(op.literal_count()) == closest)
                .map(|op| format!("{} {} ({})", op.method, op.path, op.id))
                .collect();
            others.sort();
            Err(Violation::new(
                at,
                format!("the contract has this path only as: {}", others.join(", ")),
            ))
        }
    }

    /// Validates a JSON value against an SDK type string, as a top-level body.
    pub fn validate(&self, value: &Value, ty: &str) -> Vec<Violation> {
        let mut out = Vec::new();
        match Type::parse(ty) {
            Ok(t) => self.check(value, &t, None, "$", Depth::TopLevel, &mut out),
            Err(e) => out.push(Violation::new("$", e)),
        }
        out
    }

    /// Validates a request body against the operation's body type.
    pub fn validate_request_body(&self, op: &Operation, body: Option<&Value>) -> Vec<Violation> {
        match (&op.body, body) {
            (None, Some(_)) => vec![Violation::new(
                "request body",
                format!("{} takes no request body, but one was sent", op.id),
            )],
            (Some(spec), None) if spec.required => vec![Violation::new(
                "request body",
                format!("{} requires a `{}` body, none was sent", op.id, spec.ty),
            )],
            (_, None) => Vec::new(),
            (Some(spec), Some(value)) => prefix(self.validate(value, &spec.ty), "request "),
        }
    }

    /// Validates a response body: the operation's response type for a success status,
    /// `ErrorBody` (with `code`, `message` and a matching `status`) from 400 on.
    pub fn validate_response_body(
        &self,
        op: &Operation,
        status: u16,
        body: Option<&Value>,
    ) -> Vec<Violation> {
        if status >= 400 {
            return prefix(self.validate_error_body(status, body), "response ");
        }
        let found = match (&op.response, body) {
            (None, None) => Vec::new(),
            (None, Some(value)) => vec![Violation::new(
                "$",
                format!(
                    "{} has no response body in the contract, but {status} came with {}",
                    op.id,
                    shorten(value)
                ),
            )],
            // A free-form body may be absent (e.g. 204 to a DELETE).
            (Some(ty), None) if ty == "object" => Vec::new(),
            (Some(ty), None) => vec![Violation::new(
                "$",
                format!("expected a `{ty}` body, the response had none (status {status})"),
            )],
            (Some(ty), Some(value)) => self.validate(value, ty),
        };
        prefix(found, "response ")
    }

    /// Validates an error response body: an `ErrorBody` that at least names `code`, `message`
    /// and the HTTP `status` (docs/genesys-api.md §8.1; the client classifies errors by them).
    pub fn validate_error_body(&self, status: u16, body: Option<&Value>) -> Vec<Violation> {
        let Some(value) = body else {
            return vec![Violation::new(
                "$",
                format!("status {status} without an ErrorBody"),
            )];
        };
        let mut out = self.validate(value, ERROR_BODY);
        for key in ["code", "message", "status"] {
            if value.get(key).is_none() {
                out.push(Violation::new(
                    format!("$.{key}"),
                    "an ErrorBody always carries code, message and status",
                ));
            }
        }
        if let Some(s) = value.get("status").and_then(Value::as_u64)
            && s != u64::from(status)
        {
            out.push(Violation::new(
                "$.status",
                format!("says {s} but the HTTP status was {status}"),
            ));
        }
        out
    }

    /// Checks one whole exchange: route, query, request body, response body.
    pub fn check_exchange(&self, ex: &Exchange<'_>) -> Vec<Violation> {
        let line = format!(
            "{} {}{}{} -> {}",
            ex.method,
            ex.path,
            if ex.query.is_empty() { "" } else { "?" },
            ex.query,
            ex.status
        );
        let op = match self.operation(ex.method, ex.path) {
            Ok(op) => op,
            Err(v) => return vec![Violation::new(line, v.problem)],
        };
        let mut found = op.validate_query(ex.query);
        found.extend(self.validate_request_body(op, ex.body));
        found.extend(self.validate_response_body(op, ex.status, ex.response_body));
        found
            .into_iter()
            .map(|v| Violation::new(format!("{line} [{}] {}", op.id, v.at), v.problem))
            .collect()
    }

    fn check(
        &self,
        value: &Value,
        ty: &Type,
        allowed: Option<&[String]>,
        at: &str,
        depth: Depth,
        out: &mut Vec<Violation>,
    ) {
        if value.is_null() && *ty != Type::Any {
            out.push(Violation::new(
                at,
                format!(
                    "null where `{}` is expected (Genesys omits absent fields)",
                    describe(ty)
                ),
            ));
            return;
        }
        match ty {
            Type::Any => {}
            Type::Str => match value.as_str() {
                Some(s) => {
                    if let Some(values) = allowed
                        && !values.iter().any(|v| v == s)
                    {
                        out.push(Violation::new(
                            at,
                            format!("`{s}` is not one of: {}", values.join(", ")),
                        ));
                    }
                }
                None => out.push(wrong_type(at, ty, value)),
            },
            Type::Int => {
                if !(value.is_i64() || value.is_u64()) {
                    out.push(wrong_type(at, ty, value));
                }
            }
            Type::Float => {
                if !value.is_number() {
                    out.push(wrong_type(at, ty, value));
                }
            }
            Type::Bool => {
                if !value.is_boolean() {
                    out.push(wrong_type(at, ty, value));
                }
            }
            Type::DateTime => match value.as_str() {
                Some(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z') => {}
                Some(s) => out.push(Violation::new(
                    at,
                    format!("`{s}` is not a UTC ISO-8601 datetime (yyyy-MM-ddTHH:mm:ss[.mmm]Z)"),
                )),
                None => out.push(wrong_type(at, ty, value)),
            },
            Type::Date => match value.as_str() {
                Some(s) if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => {}
                Some(s) => out.push(Violation::new(
                    at,
                    format!("`{s}` is not a date (yyyy-MM-dd)"),
                )),
                None => out.push(wrong_type(at, ty, value)),
            },
            Type::List(inner) => match value.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item, inner, allowed, &format!("{at}[{i}]"), depth, out);
                    }
                }
                None => out.push(wrong_type(at, ty, value)),
            },
            Type::Dict(inner) => match value.as_object() {
                Some(map) => {
                    for (key, item) in map {
                        self.check(item, inner, allowed, &child(at, key), depth, out);
                    }
                }
                None => out.push(wrong_type(at, ty, value)),
            },
            // The SDK names the type but defines no model for it: nothing to check against.
            Type::Model(name) if self.undefined.contains(name) => {}
            Type::Model(name) => self.check_model(value, name, at, depth, out),
        }
    }

    fn check_model(
        &self,
        value: &Value,
        name: &str,
        at: &str,
        depth: Depth,
        out: &mut Vec<Violation>,
    ) {
        let Some(model) = self.models.get(name) else {
            out.push(Violation::new(
                at,
                format!("the contract has no model `{name}`"),
            ));
            return;
        };
        let Some(object) = value.as_object() else {
            out.push(Violation::new(
                at,
                format!("expected a `{name}` object, got {}", json_kind(value)),
            ));
            return;
        };
        for (key, item) in object {
            let Some(field) = model.fields.get(key) else {
                out.push(Violation::new(
                    child(at, key),
                    format!("`{name}` has no field `{key}`"),
                ));
                continue;
            };
            match Type::parse(&field.ty) {
                Ok(t) => self.check(
                    item,
                    &t,
                    field.allowed.as_deref(),
                    &child(at, key),
                    Depth::Nested,
                    out,
                ),
                Err(e) => out.push(Violation::new(child(at, key), e)),
            }
        }
        let is_stub =
            object.contains_key("id") && object.keys().all(|k| STUB_KEYS.contains(&k.as_str()));
        if depth == Depth::Nested && is_stub {
            return;
        }
        for (key, field) in &model.fields {
            if field.required && !object.contains_key(key) {
                out.push(Violation::new(
                    child(at, key),
                    format!("`{name}.{key}` is required but missing"),
                ));
            }
        }
    }
}

impl Operation {
    /// Validates a raw query string (no leading `?`) against the operation's query parameters.
    pub fn validate_query(&self, raw: &str) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            seen.entry(name.into_owned())
                .or_default()
                .push(value.into_owned());
        }
        for (name, values) in &seen {
            let at = format!("?{name}");
            let Some(param) = self.query.iter().find(|p| &p.name == name) else {
                let known: Vec<&str> = self.query.iter().map(|p| p.name.as_str()).collect();
                out.push(Violation::new(
                    at,
                    format!(
                        "{} declares no such query parameter (it has: {})",
                        self.id,
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
                continue;
            };
            let ty = match Type::parse(&param.ty) {
                Ok(t) => t,
                Err(e) => {
                    out.push(Violation::new(at, e));
                    continue;
                }
            };
            let (item_ty, is_list) = match ty {
                Type::List(inner) => (*inner, true),
                other => (other, false),
            };
            if !is_list && values.len() > 1 {
                out.push(Violation::new(
                    &at,
                    format!("given {} times but it is not a list", values.len()),
                ));
            }
            for value in values {
                let items: Vec<&str> = if is_list {
                    value.split(',').collect()
                } else {
                    vec![value.as_str()]
                };
                for item in items {
                    if let Some(problem) = query_item_problem(item, &item_ty, param) {
                        out.push(Violation::new(&at, problem));
                    }
                }
            }
        }
        for param in self.query.iter().filter(|p| p.required) {
            if !seen.contains_key(&param.name) {
                out.push(Violation::new(
                    format!("?{}", param.name),
                    "required query parameter is missing",
                ));
            }
        }
        out
    }

    fn matches(&self, segments: &[&str]) -> bool {
        self.segments.len() == segments.len()
            && self
                .segments
                .iter()
                .zip(segments)
                .all(|(template, actual)| match template {
                    Segment::Literal(lit) => lit == actual,
                    Segment::Param(_) => !actual.is_empty(),
                })
    }

    fn literal_count(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
    }

    /// Fills the path template with the given values, by parameter name.
    pub fn path_with(&self, params: &[(&str, &str)]) -> String {
        let mut path = String::new();
        for segment in &self.segments {
            path.push('/');
            match segment {
                Segment::Literal(lit) => path.push_str(lit),
                Segment::Param(name) => {
                    let value = params
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or_else(|| panic!("{}: no value for {{{name}}}", self.id), |p| p.1);
                    path.push_str(value);
                }
            }
        }
        path
    }
}

fn split_path(path: &str) -> Vec<&str> {
    path.trim_end_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_model(name: &str, model: &Value) -> Result<Model, String> {
    let fields = model
        .get("fields")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("model {name} has no `fields`"))?
        .iter()
        .map(|(key, field)| {
            let ty = str_of(field, "type").ok_or_else(|| format!("{name}.{key} has no type"))?;
            Ok((
                key.clone(),
                Field {
                    ty,
                    allowed: strings_of(field, "enum"),
                    required: field.get("required").and_then(Value::as_bool) == Some(true),
                },
            ))
        })
        .collect::<Result<BTreeMap<_, _>, String>>()?;
    Ok(Model { fields })
}

fn parse_operation(op: &Value) -> Result<Operation, String> {
    let id = str_of(op, "id").ok_or("an operation has no id")?;
    let method = str_of(op, "method").ok_or_else(|| format!("{id} has no method"))?;
    let path = str_of(op, "path").ok_or_else(|| format!("{id} has no path"))?;
    let segments = split_path(&path)
        .into_iter()
        .map(
            |s| match s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                Some(name) => Segment::Param(name.to_owned()),
                None => Segment::Literal(s.to_owned()),
            },
        )
        .collect();
    let query = op
        .get("query")
        .and_then(Value::as_array)
        .map(|params| {
            params
                .iter()
                .map(|q| {
                    Ok(QueryParam {
                        name: str_of(q, "name").ok_or_else(|| format!("{id}: unnamed query"))?,
                        ty: str_of(q, "type").ok_or_else(|| format!("{id}: untyped query"))?,
                        required: q.get("required").and_then(Value::as_bool) == Some(true),
                        allowed: strings_of(q, "enum"),
                    })
                })
                .collect::<Result<Vec<_>, String>>()
        })
        .transpose()?
        .unwrap_or_default();
    let body = match op.get("body") {
        Some(b) if b.is_object() => Some(BodySpec {
            ty: str_of(b, "type").ok_or_else(|| format!("{id}: body without type"))?,
            required: b.get("required").and_then(Value::as_bool) == Some(true),
        }),
        _ => None,
    };
    Ok(Operation {
        response: str_of(op, "response"),
        id,
        method,
        path,
        query,
        body,
        segments,
    })
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn strings_of(v: &Value, key: &str) -> Option<Vec<String>> {
    v.get(key).and_then(Value::as_array).map(|items| {
        items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

fn query_item_problem(item: &str, ty: &Type, param: &QueryParam) -> Option<String> {
    if item.is_empty() {
        return Some("empty value".into());
    }
    let type_ok = match ty {
        Type::Int => item.parse::<i64>().is_ok(),
        Type::Float => item.parse::<f64>().is_ok(),
        Type::Bool => item == "true" || item == "false",
        Type::DateTime => chrono::DateTime::parse_from_rfc3339(item).is_ok(),
        Type::Date => chrono::NaiveDate::parse_from_str(item, "%Y-%m-%d").is_ok(),
        _ => true,
    };
    if !type_ok {
        return Some(format!("`{item}` is not a valid `{}`", param.ty));
    }
    match &param.allowed {
        Some(values) if !values.iter().any(|v| v == item) => {
            Some(format!("`{item}` is not one of: {}", values.join(", ")))
        }
        _ => None,
    }
}

fn prefix(found: Vec<Violation>, what: &str) -> Vec<Violation> {
    found
        .into_iter()
        .map(|v| {
            let at = if v.at.starts_with('$') {
                format!("{what}body {}", v.at)
            } else {
                v.at
            };
            Violation::new(at, v.problem)
        })
        .collect()
}

fn child(at: &str, key: &str) -> String {
    if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !key.is_empty() {
        format!("{at}.{key}")
    } else {
        format!("{at}[{key:?}]")
    }
}

fn describe(ty: &Type) -> String {
    match ty {
        Type::Str => "str".into(),
        Type::Int => "int".into(),
        Type::Float => "float".into(),
        Type::Bool => "bool".into(),
        Type::DateTime => "datetime".into(),
        Type::Date => "date".into(),
        Type::Any => "object".into(),
        Type::Model(name) => name.clone(),
        Type::List(inner) => format!("list[{}]", describe(inner)),
        Type::Dict(inner) => format!("dict(str, {})", describe(inner)),
    }
}

fn json_kind(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn wrong_type(at: &str, ty: &Type, value: &Value) -> Violation {
    Violation::new(
        at,
        format!("expected `{}`, got {}", describe(ty), json_kind(value)),
    )
}

fn shorten(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        format!("{}...", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

/// Formats violations one per line, for a failure message.
pub fn report(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("  - {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}
