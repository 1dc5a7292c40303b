//! One request budget per OAuth client (Genesys limits each client-credentials token, by
//! default to 300 requests per minute, `genesys-api.md` §8.2).
//!
//! Two mechanisms, shared by every clone of a [`super::GenesysClient`]:
//! - a `governor` token bucket at `requests_per_minute * headroom` with a small burst, sized so
//!   that no 60-second window ever holds more than the configured limit;
//! - a pause: when any caller gets a 429 with `Retry-After`, every caller waits until that
//!   moment before sending again. A pause longer than `max_retry_after` is not waited out: calls
//!   fail at once with `RateLimited` carrying the remaining time, so a reconciler can requeue.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use super::error::GenesysError;

pub(crate) struct RateBudget {
    limiter: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
    max_pause: Duration,
    effective_per_minute: u32,
    burst: u32,
}

impl RateBudget {
    /// A budget of `requests_per_minute * headroom` per minute. The burst is half the headroom
    /// (at least 1), so that burst + one minute of steady rate stays within the limit.
    pub fn new(requests_per_minute: u32, headroom: f64, max_pause: Duration) -> Self {
        let rpm = requests_per_minute.max(1);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let effective = ((f64::from(rpm) * headroom).floor() as u32).clamp(1, rpm);
        let burst = ((rpm - effective) / 2).max(1);
        let period = Duration::from_secs(60) / effective;
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self {
            limiter: RateLimiter::direct(quota),
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

    /// Waits for the shared pause (if any) and for a slot in the bucket. Returns how long it
    /// waited, or `RateLimited` at once when the pause is longer than `max_pause`.
    pub async fn acquire(&self, operation: &str) -> Result<Duration, GenesysError> {
        let started = Instant::now();
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
        self.limiter.until_ready().await;
        Ok(started.elapsed())
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
        return (seconds.is_finite()).then(|| Duration::from_secs_f64(seconds.max(0.0)));
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
    fn budget_keeps_headroom_and_a_small_burst() {
        let b = RateBudget::new(300, 0.97, Duration::from_secs(180));
        assert_eq!(b.effective(), (291, 4));
        let (rate, burst) = b.effective();
        assert!(rate + burst <= 300);
        let b = RateBudget::new(600, 0.97, Duration::from_secs(180));
        assert_eq!(b.effective(), (582, 9));
        let b = RateBudget::new(10, 1.0, Duration::from_secs(180));
        assert_eq!(b.effective(), (10, 1));
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
