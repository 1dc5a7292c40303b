//! Steps 5 and 10: proof that history is kept. Before any change, count the user's
//! conversations over `history.lookbackDays` and remember a few ids; after the changes, count
//! again over the very same window. After ⊇ before is `Preserved`, nothing before is
//! `NoHistory`, anything missing is `Lost`, but only once it is confirmed: Genesys says the
//! details query's `totalHits` is approximate and records move between pages while data
//! arrives, and a conversation that just ended can be missing for a while. So a remembered id
//! the listing misses is read on its own (no paging), and a check that still comes up short
//! is `Unconfirmed`: the pass waits and checks again; only a check at least
//! [`HISTORY_RECHECK`] after the first short one that is still short is `Lost`. I/O: Genesys
//! analytics reads ([`count_before`], [`verify`], [`user_conversations`]); [`judge`],
//! [`settle`] and [`slices`] are pure.
//!
//! How a window is read: the synchronous details query accepts at most the client's
//! `max_sync_interval` (31 days by default); a longer window is cut into consecutive slices of
//! at most that length, newest first, read concurrently (one request each for a user with fewer
//! than 100 conversations per slice). Only a window of more than [`MAX_SYNC_SLICES`] slices goes
//! through a details job (submit, poll, read, delete: at least four requests plus the polling
//! delay). The same window is always read the same way, so before and after compare like with
//! like, and a count from the synchronous query also shows the conversations still open.

use std::collections::HashSet;

use chrono::{DateTime, DurationRound as _, Utc};

use super::error::{ReadError, StepError};
use super::spec::{from_time, to_time};
use crate::crd::{HistoryResult, HistoryStatus, MAX_CHECKED_CONVERSATION_IDS};
use genesys_cloud::{AnalyticsConversation, GenesysClient, Interval, UserId};

/// The most synchronous slices a window is read with (4 × 31 days by default); a longer window
/// uses one details job instead.
pub const MAX_SYNC_SLICES: usize = 4;

/// How long after a check first comes up short a check that still does is `Lost`: long enough
/// for a conversation that just ended to show up, and for the listing to settle.
pub const HISTORY_RECHECK: std::time::Duration = std::time::Duration::from_secs(300);

/// How much shorter than `max_sync_interval` a slice is, so that the millisecond rounding of
/// the interval's text never makes it longer than Genesys accepts.
const SLICE_MARGIN: chrono::Duration = chrono::Duration::seconds(1);

/// A user's conversations in a window, and how they were read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conversations {
    pub list: Vec<AnalyticsConversation>,
    /// Read with the synchronous query, which sees conversations still in progress (a details
    /// job reads the data lake, which may not hold them yet).
    pub live: bool,
    /// The synchronous slices that held at least one conversation (empty for a details job).
    pub slices_with_history: Vec<Interval>,
}

/// Counts the user's conversations in the window that ends now; also returns them, for the
/// live-conversation guard.
pub async fn count_before(
    client: &GenesysClient,
    user: &UserId,
    lookback: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<(HistoryStatus, Conversations), ReadError> {
    let lookback = chrono::Duration::from_std(lookback).unwrap_or(chrono::Duration::MAX);
    let end = window_end(now);
    let interval = Interval::new(end - lookback, end);
    let conversations = user_conversations(client, user, interval).await?;
    let ids: Vec<String> = conversations
        .list
        .iter()
        .map(|c| c.conversation_id.clone())
        .collect();
    let history = HistoryStatus {
        interval: interval.to_string(),
        conversations_before: Some(ids.len() as u64),
        checked_conversation_ids: ids.into_iter().take(MAX_CHECKED_CONVERSATION_IDS).collect(),
        ..HistoryStatus::default()
    };
    Ok((history, conversations))
}

/// Where a window that ends "now" ends: one second into the current UTC day. The details query
/// matches conversations by the day they started on (`docs/genesys-api.md` §7.1), so a window
/// that touches today covers every conversation of today, and every window opened on the same
/// day is the same: the client reads them for many users in one query, before and after, all
/// day long. (The start of the day itself would not touch today; the start of the current
/// minute, used before, split a wave's windows by the minute.)
pub fn window_end(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(chrono::Duration::days(1))
        .map_or(now, |midnight| midnight + chrono::Duration::seconds(1))
}

/// Counts again over the window recorded before, and judges. Nothing counted before means
/// nothing can be lost (`NoHistory`): the window is not read again. When the count before was
/// made in this same pass, `slices_with_history` names the slices of the window that held
/// conversations then: only those are read again (a slice that held none cannot lose any), so
/// `conversationsAfter` counts those slices. Otherwise the whole window is read. Remembered
/// ids the listing lacks are read one by one and count when they still name the user. A
/// shortfall is settled against `before.unconfirmedSince` (see [`settle`]).
pub async fn verify(
    client: &GenesysClient,
    user: &UserId,
    before: &HistoryStatus,
    slices_with_history: Option<&[Interval]>,
    now: DateTime<Utc>,
) -> Result<HistoryStatus, StepError> {
    let interval = parse_interval(&before.interval)
        .ok_or_else(|| StepError::BadInterval(before.interval.clone()))?;
    if before.conversations_before == Some(0) {
        return Ok(HistoryStatus {
            result: Some(HistoryResult::NoHistory),
            verified_at: Some(to_time(now)),
            ..before.clone()
        });
    }
    let within = |slices: &[Interval]| {
        !slices.is_empty()
            && slices
                .iter()
                .all(|s| s.start >= interval.start && s.end <= interval.end)
    };
    let conversations = match slices_with_history {
        Some(slices) if within(slices) => read_slices(client, user, slices.to_vec()).await?,
        _ => user_conversations(client, user, interval).await?,
    };
    let mut after: Vec<String> = conversations
        .list
        .into_iter()
        .map(|c| c.conversation_id)
        .collect();
    let listed: HashSet<&str> = after.iter().map(String::as_str).collect();
    let unlisted: Vec<&str> = before
        .checked_conversation_ids
        .iter()
        .map(String::as_str)
        .filter(|id| !listed.contains(id))
        .collect();
    after.extend(still_attributed(client, user, &unlisted).await?);
    let found: HashSet<&str> = after.iter().map(String::as_str).collect();
    let missing: Vec<String> = before
        .checked_conversation_ids
        .iter()
        .filter(|id| !found.contains(id.as_str()))
        .cloned()
        .collect();
    let count_before = before.conversations_before.unwrap_or_default();
    let judged = judge(count_before, &before.checked_conversation_ids, &after);
    let since = before.unconfirmed_since.as_ref().map(from_time);
    let (result, since) = settle(judged, since, now);
    Ok(HistoryStatus {
        conversations_after: Some(after.len() as u64),
        result: Some(result),
        verified_at: Some(to_time(now)),
        missing_conversation_ids: missing,
        unconfirmed_since: since.map(to_time),
        ..before.clone()
    })
}

/// Of `ids`, those Genesys still has with `user` among the participants, each read on its own
/// (`GET /analytics/conversations/{id}/details`, at once). A 404 is a conversation not found.
async fn still_attributed(
    client: &GenesysClient,
    user: &UserId,
    ids: &[&str],
) -> Result<Vec<String>, ReadError> {
    let read = futures::future::try_join_all(ids.iter().map(|id| client.conversation_details(id)))
        .await
        .map_err(ReadError::new("read a remembered conversation"))?;
    Ok(ids
        .iter()
        .zip(read)
        .filter(|(_, conversation)| conversation.as_ref().is_some_and(|c| c.involves(user)))
        .map(|(id, _)| (*id).to_owned())
        .collect())
}

/// What a check's judgement stands for, given when the checks first came up short (`since`):
/// `Preserved` and `NoHistory` stand and end the shortfall; a `Lost` judgement is
/// `Unconfirmed` (the shortfall dates from `since`, or now) until [`HISTORY_RECHECK`] has passed
/// since the first short check, then `Lost`. Pure.
pub fn settle(
    judged: HistoryResult,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (HistoryResult, Option<DateTime<Utc>>) {
    if !matches!(judged, HistoryResult::Lost | HistoryResult::Unconfirmed) {
        return (judged, None);
    }
    let since = since.unwrap_or(now);
    let recheck = chrono::Duration::from_std(HISTORY_RECHECK).unwrap_or(chrono::Duration::MAX);
    if now - since >= recheck {
        (HistoryResult::Lost, Some(since))
    } else {
        (HistoryResult::Unconfirmed, Some(since))
    }
}

/// When the checks will have waited long enough after the first short one (`since`).
pub fn recheck_due(since: DateTime<Utc>) -> DateTime<Utc> {
    let recheck = chrono::Duration::from_std(HISTORY_RECHECK).unwrap_or(chrono::Duration::MAX);
    since.checked_add_signed(recheck).unwrap_or(since)
}

/// The user's conversations in `interval`, each once: concurrent synchronous queries over
/// [`slices`] of the window, or one details job when the window is too long for that.
pub async fn user_conversations(
    client: &GenesysClient,
    user: &UserId,
    interval: Interval,
) -> Result<Conversations, ReadError> {
    let Some(slices) = slices(interval, client.config().max_sync_interval) else {
        let list = client
            .user_conversations(user, interval)
            .await
            .map_err(ReadError::new("count the user's conversations"))?;
        return Ok(Conversations {
            list,
            live: false,
            slices_with_history: Vec::new(),
        });
    };
    read_slices(client, user, slices).await
}

/// The user's conversations in each of `slices` (synchronous queries, at once), each once.
async fn read_slices(
    client: &GenesysClient,
    user: &UserId,
    slices: Vec<Interval>,
) -> Result<Conversations, ReadError> {
    let pages = futures::future::try_join_all(
        slices
            .iter()
            .map(|slice| client.user_conversations_sync(user, *slice)),
    )
    .await
    .map_err(ReadError::new("count the user's conversations"))?;
    let slices_with_history = slices
        .iter()
        .zip(&pages)
        .filter(|(_, page)| !page.is_empty())
        .map(|(slice, _)| *slice)
        .collect();
    // A conversation that started on a day two slices touch comes back from both.
    let mut seen = HashSet::new();
    let list = pages
        .into_iter()
        .flatten()
        .filter(|c| seen.insert(c.conversation_id.clone()))
        .collect();
    Ok(Conversations {
        list,
        live: true,
        slices_with_history,
    })
}

/// `interval` cut, from its end backwards, into consecutive slices no longer than `max` (less
/// a second), newest first; `None` when that takes more than [`MAX_SYNC_SLICES`]. Pure.
pub fn slices(interval: Interval, max: std::time::Duration) -> Option<Vec<Interval>> {
    let max = chrono::Duration::from_std(max).ok()?;
    if interval.end - interval.start <= max {
        return Some(vec![interval]);
    }
    let slice = if max > SLICE_MARGIN * 2 {
        max - SLICE_MARGIN
    } else {
        max
    };
    if slice <= chrono::Duration::zero() {
        return None;
    }
    let mut slices = Vec::new();
    let mut end = interval.end;
    while end > interval.start {
        if slices.len() == MAX_SYNC_SLICES {
            return None;
        }
        let start = (end - slice).max(interval.start);
        slices.push(Interval::new(start, end));
        end = start;
    }
    Some(slices)
}

/// `NoHistory` when nothing was counted before; `Preserved` when at least as many conversations
/// are found and every remembered id among them; `Lost` otherwise. Pure.
pub fn judge(count_before: u64, remembered: &[String], after: &[String]) -> HistoryResult {
    if count_before == 0 {
        return HistoryResult::NoHistory;
    }
    let found: HashSet<&str> = after.iter().map(String::as_str).collect();
    let all_remembered = remembered.iter().all(|id| found.contains(id.as_str()));
    if after.len() as u64 >= count_before && all_remembered {
        HistoryResult::Preserved
    } else {
        HistoryResult::Lost
    }
}

/// `start/end` (RFC 3339 each), as [`Interval`] displays it.
fn parse_interval(text: &str) -> Option<Interval> {
    let (start, end) = text.split_once('/')?;
    let parse = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    };
    Some(Interval::new(parse(start)?, parse(end)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn every_window_opened_on_a_day_ends_just_inside_it() {
        let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
        let end = at("2026-12-07T00:00:01Z");

        for now in [
            "2026-12-07T00:00:00Z",
            "2026-12-07T00:00:00.5Z",
            "2026-12-07T13:45:12.345Z",
            "2026-12-07T23:59:59.999Z",
        ] {
            assert_eq!(window_end(at(now)), end, "{now}");
        }
        assert_eq!(
            window_end(at("2026-12-08T00:00:00Z")),
            at("2026-12-08T00:00:01Z")
        );
    }

    #[test]
    fn judge_table() {
        let table = vec![
            (
                "nothing before",
                0,
                ids(&[]),
                ids(&[]),
                HistoryResult::NoHistory,
            ),
            (
                "the same conversations after",
                2,
                ids(&["a", "b"]),
                ids(&["a", "b"]),
                HistoryResult::Preserved,
            ),
            (
                "more after than before",
                2,
                ids(&["a", "b"]),
                ids(&["a", "b", "c"]),
                HistoryResult::Preserved,
            ),
            (
                "fewer after than before",
                3,
                ids(&["a", "b"]),
                ids(&["a", "b"]),
                HistoryResult::Lost,
            ),
            (
                "a remembered id is missing",
                2,
                ids(&["a", "b"]),
                ids(&["a", "c"]),
                HistoryResult::Lost,
            ),
            (
                "everything is gone",
                4,
                ids(&["a"]),
                ids(&[]),
                HistoryResult::Lost,
            ),
        ];
        for (case, count, remembered, after, expected) in table {
            assert_eq!(judge(count, &remembered, &after), expected, "case: {case}");
        }
    }

    #[test]
    fn a_short_check_is_lost_only_when_one_after_the_recheck_delay_is_still_short() {
        let first: DateTime<Utc> = "2026-11-22T09:00:00Z".parse().unwrap();
        let later = |s: i64| first + chrono::Duration::seconds(s);
        let delay = i64::try_from(HISTORY_RECHECK.as_secs()).unwrap();

        assert_eq!(
            settle(HistoryResult::Lost, None, first),
            (HistoryResult::Unconfirmed, Some(first)),
            "the first short check"
        );
        assert_eq!(
            settle(HistoryResult::Lost, Some(first), later(delay - 1)),
            (HistoryResult::Unconfirmed, Some(first)),
            "a check too early does not move the first short one"
        );
        assert_eq!(
            settle(HistoryResult::Lost, Some(first), later(delay)),
            (HistoryResult::Lost, Some(first))
        );
        assert_eq!(
            settle(HistoryResult::Preserved, Some(first), later(1)),
            (HistoryResult::Preserved, None),
            "a check that finds them all ends the shortfall"
        );
        assert_eq!(
            settle(HistoryResult::NoHistory, None, first),
            (HistoryResult::NoHistory, None)
        );
        assert_eq!(recheck_due(first), later(delay));
    }

    #[test]
    fn a_window_is_cut_into_synchronous_slices_newest_first_or_left_to_a_job() {
        let now: DateTime<Utc> = "2026-11-22T09:00:00Z".parse().unwrap();
        let days = |n: i64| chrono::Duration::days(n);
        let max = std::time::Duration::from_secs(31 * 24 * 3600);
        let window = |n: i64| Interval::new(now - days(n), now);

        assert_eq!(slices(window(30), max), Some(vec![window(30)]));
        assert_eq!(
            slices(window(31), max),
            Some(vec![window(31)]),
            "exactly the limit"
        );
        let ninety = slices(window(90), max).unwrap();
        assert_eq!(ninety.len(), 3);
        assert_eq!(ninety[0].end, now, "the newest slice first");
        assert_eq!(ninety[2].start, now - days(90));
        for pair in ninety.windows(2) {
            assert_eq!(
                pair[0].start, pair[1].end,
                "consecutive, no gap, no overlap"
            );
        }
        assert!(ninety.iter().all(|s| s.duration() < max));
        assert_eq!(slices(window(123), max).map(|s| s.len()), Some(4));
        assert_eq!(slices(window(125), max), None, "five slices: a job instead");
        assert_eq!(slices(window(1825), max), None);
    }

    #[test]
    fn the_recorded_interval_parses_back_to_the_same_window() {
        let now: DateTime<Utc> = "2026-11-22T09:00:00Z".parse().unwrap();
        let interval = Interval::new(now - chrono::Duration::days(90), now);

        assert_eq!(parse_interval(&interval.to_string()), Some(interval));
        assert_eq!(parse_interval("yesterday"), None);
    }
}
