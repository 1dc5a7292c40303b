//! Bounded, jittered exponential backoff for transient failures (`docs/genesys-api.md` §8.3).
//!
//! Delay `n` (0-based) is drawn uniformly from `[d/2, d]` with `d = min(max, base * 2^n)`
//! ("equal jitter"): callers that failed together spread out, yet each waits at least half the
//! nominal delay.

use std::time::Duration;

use rand::Rng;

/// The backoff schedule of one client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The nominal (un-jittered) delay before retry `attempt` (0-based).
    pub fn nominal(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(20));
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The jittered delay before retry `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let nominal = self.nominal(attempt);
        let half = nominal / 2;
        let spread = u64::try_from(nominal.saturating_sub(half).as_micros()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            rand::rng().random_range(0..=spread)
        };
        half + Duration::from_micros(jitter)
    }

    pub async fn sleep(&self, attempt: u32) {
        tokio::time::sleep(self.delay(attempt)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_stay_jittered_and_are_capped() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        assert_eq!(b.nominal(0), Duration::from_millis(100));
        assert_eq!(b.nominal(3), Duration::from_millis(800));
        assert_eq!(b.nominal(10), Duration::from_secs(2));
        assert_eq!(b.nominal(u32::MAX), Duration::from_secs(2));
        for attempt in 0..12 {
            let d = b.delay(attempt);
            assert!(
                d >= b.nominal(attempt) / 2 && d <= b.nominal(attempt),
                "{d:?}"
            );
        }
    }
}
