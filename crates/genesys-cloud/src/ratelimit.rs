//! One request budget per OAuth client (Genesys limits each client-credentials token, by
//! default to 300 requests per minute, `docs/genesys-api.md` §8.2).
//!
//! Three mechanisms, shared by every clone of a [`super::GenesysClient`]:
//! - a `governor` token bucket (GCRA) whose sustained rate is `requests_per_minute * headroom`
//!   and whose burst is a tenth of the limit, so that the dozen or two calls of one offboarding
//!   leave at once instead of one every `60 s / rate` (206 ms at 291 per minute);
//! - a sliding window of the requests actually sent, capped at `requests_per_minute - margin`
//!   (the margin is half the headroom) and counted over 61 s rather than 60 (the slack absorbs
//!   the varying delay between the client admitting a request and the server counting it): the
//!   emulator and, as far as we know, Genesys count requests per token over a sliding minute,
//!   and a bucket alone cannot have both a large burst and a high sustained rate without letting
//!   some minute hold `burst + 60 s * rate` requests;
//! - a pause: when any caller gets a 429 with `Retry-After`, every caller waits until that
//!   moment before sending again. A pause longer than `max_retry_after` is not waited out: calls
//!   fail at once with `RateLimited` carrying the remaining time, so a reconciler can requeue.
//!
//! The trade-off. A bucket alone must satisfy `burst + 60 s * rate <= limit`: at 300 per minute
//! a 30-request burst leaves a 90 % sustained rate, a 97 % rate leaves a burst of 4 (the first
//! design). With the window as the hard bound, the bucket only shapes traffic: after an idle
//! spell up to `burst` requests go out at once, sustained demand runs at the bucket's rate, and
//! a minute that would exceed the cap waits for the oldest request to leave the window. At the
//! default 300 per minute and headroom 0.97: burst 30, sustained 291 per minute, at most 295
//! requests in any 61 s of the client's clock (so in any 60 s of the server's, as long as the
//! delay from admission to arrival varies by less than a second), which is 98.3 % of the limit
//! over the first minute and about 96.7 % (295 per 61 s) under sustained saturation. The cost:
//! a saturated client sends a clump of up to `burst` requests each time the window frees up,
//! instead of a perfectly even stream.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use super::error::GenesysError;

/// The window over which the limit is counted.
const WINDOW: Duration = Duration::from_secs(60);
/// How much longer than [`WINDOW`] the client remembers a request. The server counts a request
/// when it arrives, the client when it admits it; that delay varies (a new connection, a busy
/// pool), so a clump sent when the window frees up can arrive sooner after its predecessors
/// than it left. Counting over a slightly longer window absorbs up to this much variation.
const WINDOW_SLACK: Duration = Duration::from_secs(1);
/// The span over which the client counts its requests.
const COUNTED: Duration = WINDOW.saturating_add(WINDOW_SLACK);
/// The bucket's burst, as a fraction of the per-minute limit.
const BURST_FRACTION: u32 = 10;

pub(crate) struct RateBudget {
    limiter: DefaultDirectRateLimiter,
    /// Admission times of the requests of the last [`COUNTED`], oldest first.
    sent: Mutex<VecDeque<Instant>>,
    window_cap: usize,
    paused_until: Mutex<Option<Instant>>,
    max_pause: Duration,
    effective_per_minute: u32,
    burst: u32,
}

/// Sizes of a budget: sustained rate per minute, burst, and the most requests in any window.
fn sizes(requests_per_minute: u32, headroom: f64) -> (u32, u32, u32) {
    let rpm = requests_per_minute.max(1);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let sustained = ((f64::from(rpm) * headroom).floor() as u32).clamp(1, rpm);
    let margin = (rpm - sustained).div_ceil(2);
    let cap = rpm - margin;
    let sustained = sustained.min(cap);
    let burst = (rpm / BURST_FRACTION).clamp(1, cap);
    (sustained, burst, cap)
}

impl RateBudget {
    /// A budget of `requests_per_minute * headroom` per minute with a burst of a tenth of the
    /// limit, and never more than `requests_per_minute` minus half the headroom in any 60 s.
    pub fn new(requests_per_minute: u32, headroom: f64, max_pause: Duration) -> Self {
        let (effective, burst, cap) = sizes(requests_per_minute, headroom);
        let period = WINDOW / effective;
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self {
            limiter: RateLimiter::direct(quota),
            sent: Mutex::new(VecDeque::new()),
            window_cap: cap as usize,
            paused_until: Mutex::new(None),
            max_pause,
            effective_per_minute: effective,
            burst,
        }
    }

    /// Requests per minute actually allowed, and the burst.
    pub fn effective(&self) -> (u32, u32) {
        (self.effective_per_minute, self.burst)
    }

    fn pause_deadline(&self) -> Option<Instant> {
        *self
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes every caller wait until `now + retry_after` (extends, never shortens, a pause).
    pub fn pause(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        let mut guard = self
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
    }

    /// The most requests sent in any 60-second window.
    #[cfg(test)]
    fn window_cap(&self) -> usize {
        self.window_cap
    }

    /// Waits for the shared pause (if any), for a slot in the bucket and for room in the
    /// window, then records the request as sent. Returns how long it waited, or `RateLimited`
    /// at once when the pause is longer than `max_pause`.
    pub async fn acquire(&self, operation: &str) -> Result<Duration, GenesysError> {
        let started = Instant::now();
        self.wait_out_pause(operation).await?;
        self.limiter.until_ready().await;
        loop {
            self.wait_out_pause(operation).await?;
            match self.admit(Instant::now()) {
                None => return Ok(started.elapsed()),
                Some(room_at) => {
                    tracing::debug!(
                        operation,
                        wait_ms = room_at
                            .saturating_duration_since(Instant::now())
                            .as_millis(),
                        "waiting for room in the 60 s window"
                    );
                    tokio::time::sleep_until(room_at).await;
                }
            }
        }
    }

    /// Records a request sent at `now` if the window has room; otherwise returns when the
    /// oldest request leaves it.
    fn admit(&self, now: Instant) -> Option<Instant> {
        let mut sent = self
            .sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while sent
            .front()
            .is_some_and(|oldest| now.saturating_duration_since(*oldest) >= COUNTED)
        {
            sent.pop_front();
        }
        if sent.len() < self.window_cap {
            sent.push_back(now);
            return None;
        }
        sent.front().map(|oldest| *oldest + COUNTED)
    }

    async fn wait_out_pause(&self, operation: &str) -> Result<(), GenesysError> {
        while let Some(until) = self.pause_deadline() {
            let now = Instant::now();
            if until <= now {
                break;
            }
            let remaining = until - now;
            if remaining > self.max_pause {
                return Err(GenesysError::RateLimited {
                    operation: operation.to_owned(),
                    retry_after: remaining,
                    body: None,
                });
            }
            tracing::debug!(
                operation,
                wait_ms = remaining.as_millis(),
                "waiting out Retry-After"
            );
            tokio::time::sleep_until(until).await;
        }
        Ok(())
    }
}

/// Parses `Retry-After`: delta-seconds or an HTTP date. A date in the past, or `0`, means "no
/// wait"; anything unparsable is treated as absent.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        // `from_secs_f64` panics past u64::MAX seconds; such a value saturates like the integer
        // form does, and the callers' clamp decides what to do with it.
        return (seconds.is_finite()).then(|| {
            Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::from_secs(u64::MAX))
        });
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn budget_keeps_headroom_a_tenth_of_the_limit_as_burst_and_a_window_cap() {
        let table = [
            // (limit, headroom, sustained, burst, cap)
            (300, 0.97, 291, 30, 295),
            (600, 0.97, 582, 60, 591),
            (300, 0.9, 270, 30, 285),
            (10, 1.0, 10, 1, 10),
            (1, 0.5, 1, 1, 1),
        ];
        for (limit, headroom, sustained, burst, cap) in table {
            let b = RateBudget::new(limit, headroom, Duration::from_secs(180));
            assert_eq!(b.effective(), (sustained, burst), "limit {limit}");
            assert_eq!(b.window_cap(), cap as usize, "limit {limit}");
            assert!(cap <= limit && sustained <= cap && burst <= cap);
        }
    }

    #[test]
    fn no_60_second_window_ever_holds_more_than_the_cap() {
        // Arrange: a caller asking every 10 ms for three minutes (the bucket left out: the
        // window alone is the hard bound).
        let b = RateBudget::new(300, 0.97, Duration::from_secs(180));
        let cap = b.window_cap();
        let start = Instant::now();

        // Act
        let mut sent = Vec::new();
        let mut waits = 0;
        for tick in 0..18_000u32 {
            let now = start + Duration::from_millis(u64::from(tick) * 10);
            match b.admit(now) {
                None => sent.push(now),
                Some(room_at) => {
                    assert!(room_at > now && room_at <= now + COUNTED);
                    waits += 1;
                }
            }
        }

        // Assert: every 61 s starting at a send (so every minute of a server whose arrival
        // times lag by a varying delay of up to a second) hold at most `cap` sends, and the
        // caller got the whole cap each time.
        for (i, at) in sent.iter().enumerate() {
            let in_window = sent[i..].iter().take_while(|t| **t < *at + COUNTED).count();
            assert!(
                in_window <= cap,
                "{in_window} sends in the 61 s from send {i}"
            );
        }
        assert_eq!(sent.len(), 3 * cap);
        assert!(waits > 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_after_an_idle_spell_is_not_paced() {
        let b = RateBudget::new(300, 0.97, Duration::from_secs(180));
        let start = Instant::now();
        for _ in 0..25 {
            b.acquire("get_user").await.unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn retry_after_parses_seconds_dates_and_garbage() {
        assert_eq!(parse_retry_after("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past means no wait"
        );
        let future = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let d = parse_retry_after(&future).unwrap();
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-3"), Some(Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_caller_until_it_ends() {
        let b = std::sync::Arc::new(RateBudget::new(60_000, 1.0, Duration::from_secs(180)));
        b.pause(Duration::from_secs(5));
        let start = Instant::now();
        let waits = futures::future::join_all((0..3).map(|_| {
            let b = b.clone();
            async move { b.acquire("get_user").await.unwrap() }
        }))
        .await;
        for w in waits {
            assert!(w >= Duration::from_secs(5), "{w:?}");
        }
        assert!(start.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_never_shrinks_and_an_absurd_one_fails_fast() {
        let b = RateBudget::new(60_000, 1.0, Duration::from_secs(180));
        b.pause(Duration::from_secs(10));
        b.pause(Duration::from_secs(1));
        assert!(b.pause_deadline().unwrap() - Instant::now() > Duration::from_secs(9));
        b.pause(Duration::from_secs(3600));
        let err = b.acquire("get_user").await.unwrap_err();
        assert_eq!(err.reason(), "RateLimited");
        assert!(
            matches!(err, GenesysError::RateLimited { retry_after, .. } if retry_after > Duration::from_secs(3000))
        );
    }
}
