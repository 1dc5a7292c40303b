//! `POST /api/v2/analytics/conversations/aggregates/query` (docs/genesys-api.md §7.2).
//!
//! Rows are agent (or user) sessions; each emits the session metrics of
//! [`super::analytics::session_metrics`] at the time its segments end. A metric counts in the
//! interval bucket (whole interval, or `granularity` steps) holding its emit time, in the group
//! named by `groupBy` (rows lacking a grouped dimension are left out), when the row passes
//! `filter`. Count metrics (`n*`) report `stats.count`; time metrics (`t*`) report `max`, `min`,
//! `count` and `sum` in milliseconds. `queryType` `topN`/`bottomN` rank groups by `sortMetric`
//! and keep `limit`. Nothing matching answers `{}` (the reference leaves that shape open).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::analytics::{check_sync_interval, interval, session_metrics, visible};
use super::call::{Call, Reply};
use super::errors::ApiError;
use super::filters::{AGGREGATE_DIMENSIONS, Filter, Row};
use super::state::{Conversation, Org, Participant, Session};
use super::time::{Interval, IsoDuration};

/// Most interval buckets a query may ask for.
const MAX_BUCKETS: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AggregationQuery {
    interval: Option<String>,
    granularity: Option<String>,
    time_zone: Option<String>,
    #[serde(default)]
    group_by: Vec<String>,
    filter: Option<Filter>,
    metrics: Option<Vec<String>>,
    flatten_multivalued_dimensions: Option<bool>,
    alternate_time_dimension: Option<String>,
    query_type: Option<String>,
    sort_metric: Option<SortMetric>,
    limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct SortMetric {
    name: Option<String>,
    function: Option<String>,
}

struct SessionRow<'a> {
    conversation: &'a Conversation,
    participant: &'a Participant,
    session: &'a Session,
}

impl Row for SessionRow<'_> {
    fn dimension(&self, name: &str) -> Vec<String> {
        let one = |v: Option<&String>| v.cloned().into_iter().collect();
        let first = |f: fn(&super::state::Segment) -> Option<&String>| {
            self.session
                .segments
                .iter()
                .find_map(f)
                .cloned()
                .into_iter()
                .collect()
        };
        match name {
            "userId" => one(self.participant.user_id.as_ref()),
            "purpose" => vec![self.participant.purpose.clone()],
            "participantName" => one(self.participant.name.as_ref()),
            "mediaType" => vec![self.session.media_type.clone()],
            "direction" => vec![self.session.direction.clone()],
            "sessionId" => vec![self.session.id.clone()],
            "queueId" | "firstQueue" => first(|s| s.queue_id.as_ref()),
            "wrapUpCode" => first(|s| s.wrap_up_code.as_ref()),
            "conversationId" => vec![self.conversation.id.clone()],
            "originatingDirection" => vec![self.conversation.originating_direction.clone()],
            "divisionId" => self.conversation.division_ids.clone(),
            _ => Vec::new(),
        }
    }

    fn metric(&self, _name: &str) -> Option<f64> {
        None
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    count: i64,
    sum: i64,
    min: i64,
    max: i64,
}

impl Stats {
    fn add(&mut self, value: i64) {
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += 1;
        self.sum += value;
    }

    fn merge(&mut self, other: &Stats) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.count += other.count;
        self.sum += other.sum;
    }

    fn render(&self, metric: &str) -> Value {
        if metric.starts_with('n') {
            json!({"count": self.sum})
        } else {
            json!({"max": self.max, "min": self.min, "count": self.count, "sum": self.sum})
        }
    }

    #[allow(clippy::cast_precision_loss)]
    fn function(&self, name: &str) -> f64 {
        match name {
            "count" => self.count as f64,
            "sum" => self.sum as f64,
            "max" => self.max as f64,
            "min" => self.min as f64,
            _ if self.count == 0 => 0.0,
            _ => self.sum as f64 / self.count as f64,
        }
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('n' | 't' | 'o'))
        && chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

fn validate(q: &AggregationQuery) -> Result<Vec<String>, ApiError> {
    let metrics = q.metrics.clone().filter(|m| !m.is_empty()).ok_or_else(|| {
        ApiError::bad_request("metrics is required").detail("required", Some("metrics"))
    })?;
    if let Some(bad) = metrics.iter().find(|m| !is_metric_name(m)) {
        return Err(
            ApiError::bad_request("Unknown metric [{metric}]").param("metric", bad.as_str())
        );
    }
    if let Some(bad) = q
        .group_by
        .iter()
        .find(|d| !AGGREGATE_DIMENSIONS.contains(&d.as_str()))
    {
        return Err(ApiError::invalid_value(
            bad,
            "groupBy",
            AGGREGATE_DIMENSIONS,
        ));
    }
    if let Some(f) = &q.filter {
        f.validate(AGGREGATE_DIMENSIONS)?;
    }
    if let Some(t) = &q.query_type
        && !["groupBy", "topN", "bottomN"].contains(&t.as_str())
    {
        return Err(ApiError::invalid_value(
            t,
            "queryType",
            &["bottomN", "groupBy", "topN"],
        ));
    }
    if let Some(a) = &q.alternate_time_dimension
        && a != "eventTime"
    {
        return Err(ApiError::invalid_value(
            a,
            "alternateTimeDimension",
            &["eventTime"],
        ));
    }
    if q.time_zone.as_deref().is_some_and(str::is_empty) {
        return Err(ApiError::bad_request("timeZone must not be empty"));
    }
    if let Some(s) = &q.sort_metric {
        let functions = ["average", "count", "max", "min", "sum"];
        match (&s.name, &s.function) {
            (Some(_), Some(f)) if functions.contains(&f.as_str()) => {}
            (Some(_), Some(f)) => return Err(ApiError::invalid_value(f, "function", &functions)),
            _ => {
                return Err(ApiError::bad_request(
                    "sortMetric needs a name and a function",
                ));
            }
        }
    }
    Ok(metrics)
}

fn buckets(interval: Interval, granularity: Option<&str>) -> Result<Vec<Interval>, ApiError> {
    let Some(g) = granularity else {
        return Ok(vec![interval]);
    };
    let step = IsoDuration::parse(g).map_err(|e| {
        ApiError::bad_request("Invalid granularity: {problem}").param("problem", e.to_string())
    })?;
    let mut out = Vec::new();
    let mut start = interval.start;
    while start < interval.end {
        let end = step
            .add_to(start)
            .ok_or_else(|| ApiError::bad_request("Invalid granularity"))?
            .min(interval.end);
        out.push(Interval { start, end });
        if out.len() > MAX_BUCKETS {
            return Err(ApiError::bad_request(
                "The granularity is too fine for the interval",
            ));
        }
        start = end;
    }
    Ok(out)
}

/// Group keys of a row: one per value combination when flattening, else first values.
fn group_keys(row: &SessionRow<'_>, group_by: &[String], flatten: bool) -> Vec<Vec<String>> {
    let mut keys: Vec<Vec<String>> = vec![Vec::new()];
    for dim in group_by {
        let values = row.dimension(dim);
        if values.is_empty() {
            return Vec::new();
        }
        let values = if flatten {
            values
        } else {
            values.into_iter().take(1).collect()
        };
        keys = keys
            .into_iter()
            .flat_map(|k| {
                values.iter().map(move |v| {
                    let mut k = k.clone();
                    k.push(v.clone());
                    k
                })
            })
            .collect();
    }
    keys
}

/// Metric name → stats.
type MetricStats = BTreeMap<String, Stats>;
/// Bucket index → metrics.
type Buckets = BTreeMap<usize, MetricStats>;
/// Group key (values in `groupBy` order) → buckets.
type Groups = BTreeMap<Vec<String>, Buckets>;

/// The conversations the caller may see, as they stand at the time of the call.
fn seen<'o>(org: &'o Org, call: &Call<'_>) -> impl Iterator<Item = Cow<'o, Conversation>> {
    let divisions = org.client_divisions(&call.caller.client_id);
    let now = call.now;
    org.conversations
        .iter()
        .filter(move |c| visible(c, divisions))
        .filter_map(move |c| c.as_of(now))
}

/// `POST /api/v2/analytics/conversations/aggregates/query`.
pub fn post_analytics_conversations_aggregates_query(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let query: AggregationQuery = call.json()?;
    let interval = interval(query.interval.as_deref())?;
    check_sync_interval(org, &interval)?;
    let metrics = validate(&query)?;
    let buckets = buckets(interval, query.granularity.as_deref())?;
    let flatten = query.flatten_multivalued_dimensions.unwrap_or(false);
    let mut groups: Groups = BTreeMap::new();
    // Conversations as they stand now: a metric of a segment ending later is not emitted yet.
    for c in seen(org, call) {
        let c: &Conversation = &c;
        for p in &c.participants {
            for s in &p.sessions {
                let row = SessionRow {
                    conversation: c,
                    participant: p,
                    session: s,
                };
                if query.filter.as_ref().is_some_and(|f| !f.matches(&row)) {
                    continue;
                }
                let keys = group_keys(&row, &query.group_by, flatten);
                for (name, value, at) in session_metrics(p, s) {
                    if !metrics.iter().any(|m| m == name) {
                        continue;
                    }
                    let Some(bucket) = buckets.iter().position(|b| b.contains(at)) else {
                        continue;
                    };
                    for key in &keys {
                        groups
                            .entry(key.clone())
                            .or_default()
                            .entry(bucket)
                            .or_default()
                            .entry(name.to_owned())
                            .or_default()
                            .add(value);
                    }
                }
            }
        }
    }
    let mut ranked: Vec<(&Vec<String>, &Buckets)> = groups.iter().collect();
    let query_type = query.query_type.as_deref().unwrap_or("groupBy");
    if query_type != "groupBy" {
        let sort = query
            .sort_metric
            .as_ref()
            .ok_or_else(|| ApiError::bad_request("sortMetric is required for topN and bottomN"))?;
        let (name, function) = (
            sort.name.clone().unwrap_or_default(),
            sort.function.clone().unwrap_or_default(),
        );
        let score = |data: &Buckets| {
            let mut total = Stats::default();
            for m in data.values() {
                if let Some(s) = m.get(&name) {
                    total.merge(s);
                }
            }
            total.function(&function)
        };
        ranked.sort_by(|a, b| score(a.1).total_cmp(&score(b.1)));
        if query_type == "topN" {
            ranked.reverse();
        }
        let limit = usize::try_from(query.limit.unwrap_or(25)).unwrap_or(25);
        ranked.truncate(limit);
    }
    let results: Vec<Value> = ranked
        .into_iter()
        .map(|(key, data)| {
            let group: Map<String, Value> = query
                .group_by
                .iter()
                .zip(key)
                .map(|(d, v)| (d.clone(), json!(v)))
                .collect();
            let data: Vec<Value> = data
                .iter()
                .map(|(bucket, stats)| {
                    let metrics: Vec<Value> = metrics
                        .iter()
                        .filter_map(|m| {
                            stats
                                .get(m)
                                .map(|s| json!({"metric": m, "stats": s.render(m)}))
                        })
                        .collect();
                    json!({"interval": buckets[*bucket].render(), "metrics": metrics})
                })
                .collect();
            json!({"group": group, "data": data})
        })
        .collect();
    if results.is_empty() {
        return Ok(Reply::ok(json!({})));
    }
    Ok(Reply::ok(json!({"results": results})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_follow_the_genesys_prefixes() {
        assert!(is_metric_name("tHandle"));
        assert!(is_metric_name("nConnected"));
        assert!(is_metric_name("oServiceLevel"));
        assert!(!is_metric_name("handle"));
        assert!(!is_metric_name("t"));
        assert!(!is_metric_name("tHandle!"));
    }
}
