//! Analytics (docs/genesys-api.md §7): conversation details query, single conversation details,
//! the async details jobs, and user (presence/routing) details. Aggregates live in
//! [`super::aggregates`].
//!
//! - The synchronous query returns conversations that *started on a day touched by* the
//!   interval, filtered by `conversationFilters` and `segmentFilters` (a segment filter matches
//!   when one segment satisfies it; the segment sees its session's and participant's
//!   dimensions, so `userId` + `purpose` work together). It answers `totalHits` and omits
//!   `conversations` on an empty page; intervals longer than `behavior.maxSyncIntervalDays`
//!   (or `behavior.maxSyncIntervalDaysUnfiltered` for a query without filters) and paging past
//!   100 000 results are 400s.
//! - Jobs take the same filters (no paging), match conversations with activity in the
//!   interval, answer 202 `{jobId}`, are `QUEUED` at the first status poll, `PENDING` for
//!   `behavior.detailsJobPendingPolls` polls, `FULFILLED` after, and page results by `cursor`
//!   until the cursor is absent.
//! - With `behavior.divisionScopedPermissions`, a client restricted to some divisions sees
//!   only conversations of those divisions, and only users of them in user details.
//! - An ongoing conversation has no `conversationEnd` (and open segments no `segmentEnd`).
//!   Every answer shows conversations as they stand at the time of the request
//!   ([`Conversation::as_of`]): a fixture `end` in the future (`now+30s`) keeps the
//!   conversation ongoing until that time passes, then it has ended by itself.
//! - Two switches make the details reads as unsteady as Genesys describes them (off in the
//!   `default` profile): `behavior.detailsPagingDrift` moves a record across a page boundary between
//!   page reads ([`PagingDrift`]), and `behavior.detailsLateMs` keeps a conversation that
//!   just ended out of every details read for a while ([`in_details`]).

use std::borrow::Cow;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::call::{Call, Page, Reply, decode_cursor, encode_cursor};
use super::errors::ApiError;
use super::filters::{
    self, CONVERSATION_DIMENSIONS, Filter, PRESENCE_DIMENSIONS, ROUTING_STATUS_DIMENSIONS, Row,
    SEGMENT_DIMENSIONS, USER_DIMENSIONS,
};
use super::state::{
    Conversation, Job, Org, PagingDrift, Participant, Segment, Session, Span, User,
};
use super::time::{Interval, format};

/// Deepest result a paged details query may reach (§7.1).
const MAX_PAGED_RESULTS: usize = 100_000;
/// Default and largest `pageSize` of job results.
const JOB_PAGE_SIZE: usize = 1000;

/// A `ConversationQuery` or `AsyncConversationQuery`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationQuery {
    pub interval: Option<String>,
    #[serde(default)]
    pub conversation_filters: Vec<Filter>,
    #[serde(default)]
    pub segment_filters: Vec<Filter>,
    #[serde(default)]
    pub evaluation_filters: Vec<Value>,
    #[serde(default)]
    pub survey_filters: Vec<Value>,
    #[serde(default)]
    pub resolution_filters: Vec<Value>,
    pub order: Option<String>,
    pub order_by: Option<String>,
    pub paging: Option<PagingSpec>,
    pub limit: Option<i64>,
    pub start_of_day_interval_matching: Option<bool>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PagingSpec {
    pub page_size: Option<i64>,
    pub page_number: Option<i64>,
}

/// How a query's interval selects conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matching {
    /// Started on a UTC day the interval touches (sync query, `startOfDayIntervalMatching`).
    StartDay,
    /// Had activity during the interval (jobs).
    Activity,
}

/// The query's hits in their drifted order: every swap so far, applied in turn.
fn apply_drift(org: &Org, drift: &PagingDrift, hits: &mut [usize]) {
    let at = |hits: &[usize], id: &str| hits.iter().position(|i| org.conversations[*i].id == id);
    for (a, b) in &drift.swaps {
        if let (Some(x), Some(y)) = (at(hits, a), at(hits, b)) {
            hits.swap(x, y);
        }
    }
}

/// A request for `page` of a drifting query: its second request finds the page's first record
/// moved to the end of the page before (they swap, for good).
fn read_drifting(org: &Org, drift: &mut PagingDrift, hits: &mut [usize], page: &Page) {
    if page.number < 2 {
        return;
    }
    let reads = drift.reads.entry(page.number).or_default();
    *reads += 1;
    let boundary = page.offset();
    if *reads != 2 || boundary == 0 || boundary >= hits.len() {
        return;
    }
    hits.swap(boundary - 1, boundary);
    drift.swaps.push((
        org.conversations[hits[boundary - 1]].id.clone(),
        org.conversations[hits[boundary]].id.clone(),
    ));
}

/// Whether the details reads show `c`, as it stands at `now`: with `behavior.detailsLateMs`,
/// a conversation that ended less than that long ago is not there yet.
pub fn in_details(org: &Org, c: &Conversation, now: DateTime<Utc>) -> bool {
    let late = i64::try_from(org.behavior.details_late_ms).unwrap_or(i64::MAX);
    late == 0
        || c.end.is_none_or(|end| {
            end.checked_add_signed(TimeDelta::milliseconds(late))
                .is_some_and(|t| now >= t)
        })
}

/// Parses and checks the interval.
pub fn interval(text: Option<&str>) -> Result<Interval, ApiError> {
    let text = text.ok_or_else(|| {
        ApiError::bad_request("interval is required").detail("required", Some("interval"))
    })?;
    Interval::parse(text).map_err(|e| {
        ApiError::new(400, "invalid.date", "{problem}").param("problem", e.to_string())
    })
}

/// Rejects intervals longer than the synchronous limit (§12.3).
pub fn check_sync_interval(org: &Org, interval: &Interval) -> Result<(), ApiError> {
    let max = TimeDelta::days(i64::from(org.behavior.max_sync_interval_days));
    if interval.end - interval.start > max {
        return Err(ApiError::bad_request(
            "The interval is longer than {days} days; use the asynchronous jobs API for longer intervals",
        )
        .param("days", org.behavior.max_sync_interval_days.to_string()));
    }
    Ok(())
}

/// Rejects an unfiltered synchronous details query over a longer interval than
/// `behavior.maxSyncIntervalDaysUnfiltered` allows.
fn check_unfiltered_interval(
    org: &Org,
    query: &ConversationQuery,
    interval: &Interval,
) -> Result<(), ApiError> {
    let days = org.behavior.max_sync_interval_days_unfiltered;
    if days == 0 {
        return Ok(());
    }
    let filtered = !query.conversation_filters.is_empty() || !query.segment_filters.is_empty();
    if !filtered && interval.end - interval.start > TimeDelta::days(i64::from(days)) {
        return Err(ApiError::bad_request(
            "The interval is longer than {days} days; add conversationFilters or segmentFilters, or use the asynchronous jobs API",
        )
        .param("days", days.to_string()));
    }
    Ok(())
}

/// The divisions the caller may see analytics of (`None`: all).
fn visible_divisions(org: &Org, call: &Call<'_>) -> Option<Vec<String>> {
    org.client_divisions(&call.caller.client_id)
        .map(<[String]>::to_vec)
}

/// Whether a conversation touches one of the visible divisions.
pub fn visible(c: &Conversation, divisions: Option<&[String]>) -> bool {
    divisions.is_none_or(|allowed| c.division_ids.iter().any(|d| allowed.contains(d)))
}

/// A segment seen with its session, participant and conversation.
struct SegmentRow<'a> {
    conversation: &'a Conversation,
    participant: &'a Participant,
    session: &'a Session,
    segment: &'a Segment,
}

impl Row for SegmentRow<'_> {
    fn dimension(&self, name: &str) -> Vec<String> {
        let one = |v: Option<&String>| v.cloned().into_iter().collect();
        match name {
            "userId" => one(self.participant.user_id.as_ref()),
            "purpose" => vec![self.participant.purpose.clone()],
            "participantName" => one(self.participant.name.as_ref()),
            "mediaType" => vec![self.session.media_type.clone()],
            "direction" => vec![self.session.direction.clone()],
            "segmentType" => vec![self.segment.segment_type.clone()],
            "queueId" => one(self.segment.queue_id.as_ref()),
            "wrapUpCode" => one(self.segment.wrap_up_code.as_ref()),
            "segmentEnd" => self.segment.end.map(format).into_iter().collect(),
            "conversationId" => vec![self.conversation.id.clone()],
            "agentOwned" => self
                .session
                .callback
                .iter()
                .map(|c| c.agent_owned.to_string())
                .collect(),
            "scoredAgentId" => self
                .session
                .callback
                .iter()
                .flat_map(|c| c.scored_agent_ids.iter().cloned())
                .collect(),
            _ => Vec::new(),
        }
    }

    fn metric(&self, name: &str) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        (name == "tSegmentDuration")
            .then(|| self.segment.duration_ms())
            .flatten()
            .map(|ms| ms as f64)
    }
}

impl Row for Conversation {
    fn dimension(&self, name: &str) -> Vec<String> {
        match name {
            "conversationId" => vec![self.id.clone()],
            "conversationStart" => vec![format(self.start)],
            "conversationEnd" => self.end.map(format).into_iter().collect(),
            "divisionId" => self.division_ids.clone(),
            "originatingDirection" => vec![self.originating_direction.clone()],
            "customerParticipation" => {
                vec![
                    self.participants
                        .iter()
                        .any(|p| p.purpose == "customer")
                        .to_string(),
                ]
            }
            _ => Vec::new(),
        }
    }

    fn metric(&self, name: &str) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        (name == "tConversationDuration")
            .then(|| self.end.map(|e| (e - self.start).num_milliseconds() as f64))
            .flatten()
    }
}

fn segments(c: &Conversation) -> impl Iterator<Item = SegmentRow<'_>> {
    c.participants.iter().flat_map(move |p| {
        p.sessions.iter().flat_map(move |s| {
            s.segments.iter().map(move |seg| SegmentRow {
                conversation: c,
                participant: p,
                session: s,
                segment: seg,
            })
        })
    })
}

fn validate_query(q: &ConversationQuery) -> Result<(), ApiError> {
    filters::validate_all(&q.conversation_filters, CONVERSATION_DIMENSIONS)?;
    filters::validate_all(&q.segment_filters, SEGMENT_DIMENSIONS)?;
    if let Some(order) = &q.order
        && !["asc", "desc", "unordered"].contains(&order.as_str())
    {
        return Err(ApiError::invalid_value(
            order,
            "order",
            &["asc", "desc", "unordered"],
        ));
    }
    let order_by = [
        "conversationStart",
        "conversationEnd",
        "segmentStart",
        "segmentEnd",
    ];
    if let Some(by) = &q.order_by
        && !order_by.contains(&by.as_str())
    {
        return Err(ApiError::invalid_value(by, "orderBy", &order_by));
    }
    Ok(())
}

/// Indexes of the matching conversations (as they stand at `now`), in the asked order.
fn select(
    org: &Org,
    q: &ConversationQuery,
    interval: &Interval,
    matching: Matching,
    now: DateTime<Utc>,
    divisions: Option<&[String]>,
) -> Vec<usize> {
    let days = interval.days_touched();
    // Evaluations, surveys and resolutions are not modelled: a filter on them matches nothing.
    let unmodelled = !(q.evaluation_filters.is_empty()
        && q.survey_filters.is_empty()
        && q.resolution_filters.is_empty());
    let seen: Vec<Option<Cow<'_, Conversation>>> =
        org.conversations.iter().map(|c| c.as_of(now)).collect();
    let mut hits: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|_| !unmodelled)
        .filter_map(|(i, c)| Some((i, c.as_deref()?)))
        .filter(|(_, c)| visible(c, divisions))
        .filter(|(_, c)| in_details(org, c, now))
        .filter(|(_, c)| match matching {
            Matching::StartDay => days.contains(c.start),
            Matching::Activity => interval.overlaps(c.start, c.end),
        })
        .filter(|(_, c)| q.conversation_filters.iter().all(|f| f.matches(*c)))
        .filter(|(_, c)| {
            q.segment_filters
                .iter()
                .all(|f| segments(c).any(|row| f.matches(&row)))
        })
        .map(|(i, _)| i)
        .collect();
    let key = |c: &Conversation| -> Option<DateTime<Utc>> {
        match q.order_by.as_deref().unwrap_or("conversationStart") {
            "conversationEnd" => c.end,
            "segmentStart" => segments(c).map(|r| r.segment.start).min(),
            "segmentEnd" => segments(c).filter_map(|r| r.segment.end).max(),
            _ => Some(c.start),
        }
    };
    match q.order.as_deref().unwrap_or("asc") {
        "unordered" => {}
        order => {
            // Conversations without the key (still running) sort last.
            hits.sort_by(|a, b| {
                let view = |i: usize| seen[i].as_deref().and_then(key);
                let (ka, kb) = (view(*a), view(*b));
                let o = match (ka, kb) {
                    (Some(x), Some(y)) => {
                        if order == "desc" {
                            y.cmp(&x)
                        } else {
                            x.cmp(&y)
                        }
                    }
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                };
                o.then_with(|| org.conversations[*a].id.cmp(&org.conversations[*b].id))
            });
        }
    }
    hits
}

fn segments_of<'a>(session: &'a Session, kind: &'a str) -> impl Iterator<Item = &'a Segment> {
    session
        .segments
        .iter()
        .filter(move |s| s.segment_type == kind)
}

/// Session metrics of an agent or user session (`AnalyticsSessionMetric`): `nOffered`,
/// `tAlert`, `tAnswered`, `nConnected`, `tTalk`, `tTalkComplete`, `tHeld`, `tHeldComplete`,
/// `tAcw`, `tHandle`, `nOutbound`. Time metrics are milliseconds; each is emitted when its
/// segments end. Ongoing parts emit nothing yet.
pub fn session_metrics(
    participant: &Participant,
    session: &Session,
) -> Vec<(&'static str, i64, DateTime<Utc>)> {
    if participant.purpose != "agent" && participant.purpose != "user" {
        return Vec::new();
    }
    let of = |kind: &'static str| segments_of(session, kind);
    let total = |kind: &'static str| -> Option<(i64, DateTime<Utc>)> {
        let segs: Vec<&Segment> = of(kind).collect();
        if segs.is_empty() || segs.iter().any(|s| s.end.is_none()) {
            return None;
        }
        let sum = segs.iter().filter_map(|s| s.duration_ms()).sum();
        let last = segs.iter().filter_map(|s| s.end).max()?;
        Some((sum, last))
    };
    let mut out = Vec::new();
    let first_alert = of("alert").map(|s| s.start).min();
    let first_interact = of("interact").map(|s| s.start).min();
    if let Some(start) = first_alert {
        out.push(("nOffered", 1, start));
    }
    if let Some((ms, at)) = total("alert") {
        out.push(("tAlert", ms, at));
    }
    if let (Some(a), Some(i)) = (first_alert, first_interact) {
        out.push(("tAnswered", (i - a).num_milliseconds(), i));
    }
    if let Some(start) = first_interact {
        out.push(("nConnected", 1, start));
        if session.direction == "outbound" {
            out.push(("nOutbound", 1, start));
        }
    }
    let talk = total("interact");
    let held = total("hold");
    let acw = total("wrapup");
    if let Some((ms, at)) = talk {
        out.push(("tTalk", ms, at));
        out.push(("tTalkComplete", ms, at));
    }
    if let Some((ms, at)) = held {
        out.push(("tHeld", ms, at));
        out.push(("tHeldComplete", ms, at));
    }
    if let Some((ms, at)) = acw {
        out.push(("tAcw", ms, at));
    }
    let open = |kind: &'static str| of(kind).any(|s| s.end.is_none());
    if let Some((talk_ms, talk_at)) = talk
        && !open("hold")
        && !open("wrapup")
    {
        let sum = talk_ms + held.map_or(0, |h| h.0) + acw.map_or(0, |a| a.0);
        let at = [Some(talk_at), held.map(|h| h.1), acw.map(|a| a.1)]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(talk_at);
        out.push(("tHandle", sum, at));
    }
    out
}

/// `AnalyticsConversation` / `AnalyticsConversationWithoutAttributes`.
pub fn render_conversation(c: &Conversation) -> Value {
    let participants: Vec<Value> = c
        .participants
        .iter()
        .map(|p| {
            let sessions: Vec<Value> = p
                .sessions
                .iter()
                .map(|s| {
                    let segments: Vec<Value> = s
                        .segments
                        .iter()
                        .map(|seg| {
                            let mut v = Map::new();
                            v.insert("segmentStart".into(), json!(format(seg.start)));
                            if let Some(end) = seg.end {
                                v.insert("segmentEnd".into(), json!(format(end)));
                            }
                            v.insert("segmentType".into(), json!(seg.segment_type));
                            if let Some(q) = &seg.queue_id {
                                v.insert("queueId".into(), json!(q));
                            }
                            if let Some(w) = &seg.wrap_up_code {
                                v.insert("wrapUpCode".into(), json!(w));
                            }
                            v.insert("conference".into(), json!(false));
                            if let Some(cb) = &s.callback
                                && !cb.scored_agent_ids.is_empty()
                            {
                                let scored: Vec<Value> = cb
                                    .scored_agent_ids
                                    .iter()
                                    .map(|a| json!({"scoredAgentId": a, "agentScore": 100}))
                                    .collect();
                                v.insert("scoredAgents".into(), Value::Array(scored));
                            }
                            Value::Object(v)
                        })
                        .collect();
                    let mut v = json!({
                        "sessionId": s.id,
                        "mediaType": s.media_type,
                        "direction": s.direction,
                        "segments": segments,
                    });
                    if let Some(cb) = &s.callback {
                        v["agentOwned"] = json!(cb.agent_owned);
                        if let Some(at) = cb.scheduled {
                            v["callbackScheduledTime"] = json!(format(at));
                        }
                        if let Some(name) = &cb.user_name {
                            v["callbackUserName"] = json!(name);
                        }
                        if !cb.numbers.is_empty() {
                            v["callbackNumbers"] = json!(cb.numbers);
                        }
                    }
                    let metrics: Vec<Value> = session_metrics(p, s)
                        .into_iter()
                        .map(|(name, value, at)| json!({"name": name, "value": value, "emitDate": format(at)}))
                        .collect();
                    if !metrics.is_empty() {
                        v["metrics"] = Value::Array(metrics);
                    }
                    v
                })
                .collect();
            let mut v = json!({
                "participantId": p.id,
                "purpose": p.purpose,
                "sessions": sessions,
            });
            if let Some(name) = &p.name {
                v["participantName"] = json!(name);
            }
            if let Some(user) = &p.user_id {
                v["userId"] = json!(user);
            }
            v
        })
        .collect();
    let mut out = json!({
        "conversationId": c.id,
        "conversationStart": format(c.start),
        "originatingDirection": c.originating_direction,
        "divisionIds": c.division_ids,
        "participants": participants,
    });
    if let Some(end) = c.end {
        out["conversationEnd"] = json!(format(end));
    }
    out
}

/// `POST /api/v2/analytics/conversations/details/query`.
pub fn post_analytics_conversations_details_query(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let query: ConversationQuery = call.json()?;
    let interval = interval(query.interval.as_deref())?;
    check_sync_interval(org, &interval)?;
    check_unfiltered_interval(org, &query, &interval)?;
    validate_query(&query)?;
    let page = match query.paging {
        None => Page::new(25, 1, usize::MAX)?,
        Some(p) => Page::new(
            p.page_size
                .ok_or_else(|| ApiError::bad_request("paging.pageSize is required"))?,
            p.page_number
                .ok_or_else(|| ApiError::bad_request("paging.pageNumber is required"))?,
            usize::MAX,
        )?,
    };
    if page.offset() + page.size > MAX_PAGED_RESULTS {
        return Err(ApiError::bad_request(
            "Pagination may not exceed 100000 results.",
        ));
    }
    let divisions = visible_divisions(org, call);
    let mut hits = select(
        org,
        &query,
        &interval,
        Matching::StartDay,
        call.now,
        divisions.as_deref(),
    );
    let mut total = hits.len();
    if org.behavior.details_paging_drift {
        // Keyed by the query without its paging: the pages of one listing drift together.
        let mut key = call.json_value()?;
        if let Some(body) = key.as_object_mut() {
            body.remove("paging");
        }
        let key = key.to_string();
        let mut drift = org.paging_drift.remove(&key).unwrap_or_default();
        apply_drift(org, &drift, &mut hits);
        read_drifting(org, &mut drift, &mut hits, &page);
        total += drift.swaps.len();
        org.paging_drift.insert(key, drift);
    }
    let conversations: Vec<Value> = page
        .slice(&hits)
        .into_iter()
        .filter_map(|i| org.conversations[i].as_of(call.now))
        .map(|c| render_conversation(&c))
        .collect();
    let mut out = Map::new();
    if !conversations.is_empty() {
        out.insert("conversations".into(), Value::Array(conversations));
    }
    out.insert("totalHits".into(), json!(total));
    Ok(Reply::ok(Value::Object(out)))
}

/// `GET /api/v2/analytics/conversations/{conversationId}/details`.
pub fn get_analytics_conversation_details(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let id = call.param("conversationId");
    let c = org
        .conversations
        .iter()
        .find(|c| c.id == id)
        .and_then(|c| c.as_of(call.now))
        .filter(|c| in_details(org, c, call.now))
        .ok_or_else(|| ApiError::not_found("Conversation", id))?;
    Ok(Reply::ok(render_conversation(&c)))
}

/// `POST /api/v2/analytics/conversations/details/jobs`: 202 `{jobId}`.
pub fn post_analytics_conversations_details_jobs(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let query: ConversationQuery = call.json()?;
    let interval = interval(query.interval.as_deref())?;
    validate_query(&query)?;
    if query.paging.is_some() {
        return Err(ApiError::bad_request(
            "paging is not supported by asynchronous jobs; use limit and the results cursor",
        ));
    }
    let matching = if query.start_of_day_interval_matching == Some(true) {
        Matching::StartDay
    } else {
        Matching::Activity
    };
    let divisions = visible_divisions(org, call);
    let mut results = select(
        org,
        &query,
        &interval,
        matching,
        call.now,
        divisions.as_deref(),
    );
    if let Some(limit) = query.limit {
        let limit =
            usize::try_from(limit).map_err(|_| ApiError::bad_request("limit must be positive"))?;
        results.truncate(limit);
    }
    let id = uuid::Uuid::new_v4().to_string();
    org.jobs.insert(
        id.clone(),
        Job {
            id: id.clone(),
            results,
            submitted: call.now,
            polls: 0,
            completed: None,
        },
    );
    Ok(Reply::json(202, json!({"jobId": id})))
}

fn job_mut<'o>(org: &'o mut Org, id: &str) -> Result<&'o mut Job, ApiError> {
    org.jobs
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("Job", id))
}

/// `GET /api/v2/analytics/conversations/details/jobs/{jobId}`: `QUEUED` on the first poll,
/// `PENDING` on the next `behavior.detailsJobPendingPolls`, then `FULFILLED`.
pub fn get_analytics_conversations_details_job(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let pending_polls = org.behavior.details_job_pending_polls;
    let job = job_mut(org, call.param("jobId"))?;
    job.polls += 1;
    if job.polls > 1 + pending_polls && job.completed.is_none() {
        job.completed = Some(call.now);
    }
    let mut out = json!({
        "state": job.state(),
        "submissionDate": format(job.submitted),
    });
    if let Some(done) = job.completed {
        out["completionDate"] = json!(format(done));
    }
    Ok(Reply::ok(out))
}

/// `GET /api/v2/analytics/conversations/details/jobs/{jobId}/results?cursor=&pageSize=`.
pub fn get_analytics_conversations_details_job_results(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let size = Page::new(
        call.query
            .int("pageSize", i64::try_from(JOB_PAGE_SIZE).unwrap_or(1000))?,
        1,
        JOB_PAGE_SIZE,
    )?
    .size;
    let offset = call
        .query
        .get("cursor")
        .map(decode_cursor)
        .transpose()?
        .unwrap_or(0);
    let id = call.param("jobId");
    let job = org
        .jobs
        .get(id)
        .ok_or_else(|| ApiError::not_found("Job", id))?;
    if job.completed.is_none() {
        return Err(ApiError::bad_request(
            "The job is not fulfilled yet (state {state}); poll its status first",
        )
        .param("state", job.state()));
    }
    let conversations: Vec<Value> = job
        .results
        .iter()
        .skip(offset)
        .take(size)
        .filter_map(|i| org.conversations[*i].as_of(call.now))
        .filter(|c| in_details(org, c, call.now))
        .map(|c| render_conversation(&c))
        .collect();
    let mut out = Map::new();
    if !conversations.is_empty() {
        out.insert("conversations".into(), Value::Array(conversations));
    }
    if offset + size < job.results.len() {
        out.insert("cursor".into(), json!(encode_cursor(offset + size)));
    }
    out.insert("dataAvailabilityDate".into(), json!(format(call.now)));
    Ok(Reply::ok(Value::Object(out)))
}

/// `DELETE /api/v2/analytics/conversations/details/jobs/{jobId}`.
pub fn delete_analytics_conversations_details_job(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let id = call.param("jobId");
    org.jobs
        .remove(id)
        .ok_or_else(|| ApiError::not_found("Job", id))?;
    Ok(Reply::empty(org.behavior.no_body_status))
}

/// `GET /api/v2/analytics/conversations/details/jobs/availability`: data is available up to now.
pub fn get_analytics_conversations_details_jobs_availability(
    _org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    Ok(Reply::ok(json!({"dataAvailabilityDate": format(call.now)})))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserDetailsQuery {
    interval: Option<String>,
    #[serde(default)]
    user_filters: Vec<Filter>,
    #[serde(default)]
    presence_filters: Vec<Filter>,
    #[serde(default)]
    routing_status_filters: Vec<Filter>,
    order: Option<String>,
    paging: Option<PagingSpec>,
}

struct ValueRow<'a> {
    dimension: &'a str,
    values: Vec<String>,
}

impl Row for ValueRow<'_> {
    fn dimension(&self, name: &str) -> Vec<String> {
        if name == self.dimension {
            self.values.clone()
        } else {
            Vec::new()
        }
    }
    fn metric(&self, _name: &str) -> Option<f64> {
        None
    }
}

/// `AnalyticsUserPresenceRecord.systemPresence` (`UPPER_SNAKE`) from a definition's system presence.
fn system_presence_record(name: &str) -> String {
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

fn span_json(span: &Span, key: &str, value: Value, extra: Option<(&str, Value)>) -> Value {
    let mut v = Map::new();
    v.insert("startTime".into(), json!(format(span.start)));
    if let Some(end) = span.end {
        v.insert("endTime".into(), json!(format(end)));
    }
    v.insert(key.into(), value);
    if let Some((k, x)) = extra {
        v.insert(k.into(), x);
    }
    Value::Object(v)
}

/// One user's `AnalyticsUserDetail`, when the user passes the filters and has records.
fn user_detail(
    org: &Org,
    u: &User,
    query: &UserDetailsQuery,
    interval: &Interval,
) -> Option<Value> {
    let id_row = ValueRow {
        dimension: "userId",
        values: vec![u.id.clone()],
    };
    if !query.user_filters.iter().all(|f| f.matches(&id_row)) {
        return None;
    }
    let presence: Vec<Value> = u
        .presence_history
        .iter()
        .filter(|s| interval.overlaps(s.start, s.end))
        .filter_map(|s| {
            let d = org.presence_definition(&s.value)?;
            let rows = [
                ValueRow {
                    dimension: "systemPresence",
                    values: vec![system_presence_record(&d.system_presence)],
                },
                ValueRow {
                    dimension: "organizationPresenceId",
                    values: vec![d.id.clone()],
                },
            ];
            let keep = query
                .presence_filters
                .iter()
                .all(|f| rows.iter().any(|r| f.matches(r)));
            keep.then(|| {
                span_json(
                    s,
                    "systemPresence",
                    json!(system_presence_record(&d.system_presence)),
                    Some(("organizationPresenceId", json!(d.id))),
                )
            })
        })
        .collect();
    let routing: Vec<Value> = u
        .routing_history
        .iter()
        .filter(|s| interval.overlaps(s.start, s.end))
        .filter(|s| {
            let row = ValueRow {
                dimension: "routingStatus",
                values: vec![s.value.clone()],
            };
            query.routing_status_filters.iter().all(|f| f.matches(&row))
        })
        .map(|s| span_json(s, "routingStatus", json!(s.value), None))
        .collect();
    let filtered_out = (!query.presence_filters.is_empty() && presence.is_empty())
        || (!query.routing_status_filters.is_empty() && routing.is_empty());
    if filtered_out || (presence.is_empty() && routing.is_empty()) {
        return None;
    }
    let mut d = json!({"userId": u.id});
    if !presence.is_empty() {
        d["primaryPresence"] = Value::Array(presence);
    }
    if !routing.is_empty() {
        d["routingStatus"] = Value::Array(routing);
    }
    Some(d)
}

/// `POST /api/v2/analytics/users/details/query`: presence and routing-status history.
pub fn post_analytics_users_details_query(
    org: &mut Org,
    call: &Call<'_>,
) -> Result<Reply, ApiError> {
    let query: UserDetailsQuery = call.json()?;
    let interval = interval(query.interval.as_deref())?;
    check_sync_interval(org, &interval)?;
    filters::validate_all(&query.user_filters, USER_DIMENSIONS)?;
    filters::validate_all(&query.presence_filters, PRESENCE_DIMENSIONS)?;
    filters::validate_all(&query.routing_status_filters, ROUTING_STATUS_DIMENSIONS)?;
    let desc = match query.order.as_deref() {
        None | Some("asc" | "unordered") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(ApiError::invalid_value(
                other,
                "order",
                &["asc", "desc", "unordered"],
            ));
        }
    };
    let page = match query.paging {
        None => Page::new(25, 1, usize::MAX)?,
        Some(p) => Page::new(
            p.page_size.unwrap_or(25),
            p.page_number.unwrap_or(1),
            usize::MAX,
        )?,
    };
    let divisions = visible_divisions(org, call);
    let mut details: Vec<(String, Value)> = org
        .users
        .iter()
        .filter(|u| {
            divisions
                .as_ref()
                .is_none_or(|allowed| allowed.contains(&u.division_id))
        })
        .filter_map(|u| Some((u.id.clone(), user_detail(org, u, &query, &interval)?)))
        .collect();
    details.sort_by(|a, b| a.0.cmp(&b.0));
    if desc {
        details.reverse();
    }
    let total = details.len();
    let rows: Vec<Value> = page.slice(&details).into_iter().map(|(_, v)| v).collect();
    let mut out = Map::new();
    if !rows.is_empty() {
        out.insert("userDetails".into(), Value::Array(rows));
    }
    out.insert("totalHits".into(), json!(total));
    Ok(Reply::ok(Value::Object(out)))
}
