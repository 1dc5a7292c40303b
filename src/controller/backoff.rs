//! Per-object capped exponential backoff with jitter for errors whose retry class is
//! [`RetryClass::Backoff`](genesys_cloud::RetryClass::Backoff): the n-th consecutive failure of
//! one resource waits about `base * 2^(n-1)`, at most `max`, jittered down by up to half so that
//! resources failing together do not retry together. A success (or the resource's deletion)
//! resets the count. No I/O.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;

/// The backoff's first delay and its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The delay after the first failure (before jitter).
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for BackoffPolicy {
    /// 5 s, doubling up to 5 min.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            max: Duration::from_secs(300),
        }
    }
}

/// Consecutive failures per object key (`namespace/name`).
#[derive(Debug, Default)]
pub struct Backoffs {
    policy: BackoffPolicy,
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoffs {
    pub fn new(policy: BackoffPolicy) -> Self {
        Self {
            policy,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one more failure of `key` and returns how long to wait before the next attempt.
    pub fn next(&self, key: &str) -> Duration {
        let attempt = {
            let mut failures = self.lock();
            let count = failures.entry(key.to_owned()).or_insert(0);
            *count = count.saturating_add(1);
            *count
        };
        let ceiling = self.ceiling(attempt);
        // Equal jitter: between half the ceiling and the ceiling.
        let jitter = rand::rng().random_range(0.5..=1.0);
        ceiling.mul_f64(jitter).max(Duration::from_millis(1))
    }

    /// The un-jittered delay of the `attempt`-th consecutive failure (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        self.policy
            .base
            .checked_mul(1u32 << exponent)
            .map_or(self.policy.max, |d| d.min(self.policy.max))
    }

    /// Forgets the failures of `key` (after a success, or when the resource is gone).
    pub fn reset(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Consecutive failures of `key` so far.
    pub fn failures(&self, key: &str) -> u32 {
        self.lock().get(key).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        match self.failures.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoffs() -> Backoffs {
        Backoffs::new(BackoffPolicy {
            base: Duration::from_secs(2),
            max: Duration::from_secs(30),
        })
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let b = backoffs();
        let ceilings: Vec<u64> = (1..=6).map(|n| b.ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [2, 4, 8, 16, 30, 30]);
        assert_eq!(b.ceiling(200), Duration::from_secs(30));
    }

    #[test]
    fn each_delay_is_jittered_within_half_to_all_of_its_ceiling() {
        let b = backoffs();
        for attempt in 1..=8 {
            let delay = b.next("hr/jane");
            let ceiling = b.ceiling(attempt);
            assert!(
                delay <= ceiling && delay >= ceiling / 2,
                "{attempt}: {delay:?}"
            );
        }
    }

    #[test]
    fn a_success_resets_the_count_and_objects_do_not_share_one() {
        let b = backoffs();
        b.next("hr/jane");
        b.next("hr/jane");
        b.next("hr/john");
        assert_eq!(b.failures("hr/jane"), 2);
        assert_eq!(b.failures("hr/john"), 1);

        b.reset("hr/jane");

        assert_eq!(b.failures("hr/jane"), 0);
        assert!(b.next("hr/jane") <= Duration::from_secs(2));
    }
}
