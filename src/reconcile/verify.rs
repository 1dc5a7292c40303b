//! Steps 5 and 10: proof that history is kept. Before any change, count the user's
//! conversations over `history.lookbackDays` and remember a few ids; after the changes, count
//! again over the very same window. After ⊇ before is `Preserved`, nothing before is
//! `NoHistory`, anything missing is `Lost`. I/O: Genesys analytics reads ([`count_before`],
//! [`verify`]); [`judge`] is pure.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::error::{ReadError, StepError};
use super::spec::to_time;
use crate::crd::{HistoryResult, HistoryStatus, MAX_CHECKED_CONVERSATION_IDS};
use crate::genesys::{GenesysClient, Interval, UserId};

/// Counts the user's conversations in the window that ends now.
pub async fn count_before(
    client: &GenesysClient,
    user: &UserId,
    lookback: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<HistoryStatus, ReadError> {
    let lookback = chrono::Duration::from_std(lookback).unwrap_or(chrono::Duration::MAX);
    let interval = Interval::new(now - lookback, now);
    let ids = conversation_ids(client, user, interval).await?;
    Ok(HistoryStatus {
        interval: interval.to_string(),
        conversations_before: Some(ids.len() as u64),
        checked_conversation_ids: ids.into_iter().take(MAX_CHECKED_CONVERSATION_IDS).collect(),
        ..HistoryStatus::default()
    })
}

/// Counts again over the window recorded before, and judges.
pub async fn verify(
    client: &GenesysClient,
    user: &UserId,
    before: &HistoryStatus,
    now: DateTime<Utc>,
) -> Result<HistoryStatus, StepError> {
    let interval = parse_interval(&before.interval)
        .ok_or_else(|| StepError::BadInterval(before.interval.clone()))?;
    let after = conversation_ids(client, user, interval).await?;
    let count_before = before.conversations_before.unwrap_or_default();
    Ok(HistoryStatus {
        conversations_after: Some(after.len() as u64),
        result: Some(judge(
            count_before,
            &before.checked_conversation_ids,
            &after,
        )),
        verified_at: Some(to_time(now)),
        ..before.clone()
    })
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

async fn conversation_ids(
    client: &GenesysClient,
    user: &UserId,
    interval: Interval,
) -> Result<Vec<String>, ReadError> {
    let conversations = client
        .user_conversations(user, interval)
        .await
        .map_err(ReadError::new("count the user's conversations"))?;
    Ok(conversations
        .into_iter()
        .map(|c| c.conversation_id)
        .collect())
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
    fn the_recorded_interval_parses_back_to_the_same_window() {
        let now: DateTime<Utc> = "2026-11-22T09:00:00Z".parse().unwrap();
        let interval = Interval::new(now - chrono::Duration::days(90), now);

        assert_eq!(parse_interval(&interval.to_string()), Some(interval));
        assert_eq!(parse_interval("yesterday"), None);
    }
}
