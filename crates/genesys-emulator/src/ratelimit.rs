//! The per-token request limit (docs/genesys-api.md §8.2): a sliding 60-second window. Past the
//! limit the answer is 429 `too.many.requests` with `Retry-After` set to the seconds until the
//! oldest request in the window leaves it. Rejected requests do not count.
//!
//! Uses `tokio::time::Instant` so tests running with paused time see a consistent clock.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The window length.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Requests admitted during the last [`WINDOW`].
#[derive(Debug, Clone, Default)]
pub struct RateWindow {
    admitted: VecDeque<Instant>,
}

impl RateWindow {
    /// Admits a request at `now`, or returns the whole seconds to wait (at least 1).
    /// `limit` 0 means no limit.
    pub fn admit(&mut self, now: Instant, limit: u32) -> Result<(), u64> {
        if limit == 0 {
            return Ok(());
        }
        while let Some(oldest) = self.admitted.front() {
            if now.saturating_duration_since(*oldest) >= WINDOW {
                self.admitted.pop_front();
            } else {
                break;
            }
        }
        if self.admitted.len() < limit as usize {
            self.admitted.push_back(now);
            return Ok(());
        }
        let oldest = self.admitted.front().copied().unwrap_or(now);
        let wait = (oldest + WINDOW).saturating_duration_since(now);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Err(secs.max(1))
    }

    pub fn clear(&mut self) {
        self.admitted.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_admits_up_to_the_limit_then_names_the_wait() {
        let start = Instant::now();
        let mut w = RateWindow::default();
        assert_eq!(w.admit(start, 2), Ok(()));
        assert_eq!(w.admit(start + Duration::from_secs(10), 2), Ok(()));
        assert_eq!(w.admit(start + Duration::from_secs(15), 2), Err(45));
        assert_eq!(w.admit(start + Duration::from_millis(59_500), 2), Err(1));
        assert_eq!(w.admit(start + Duration::from_secs(60), 2), Ok(()));
    }

    #[test]
    fn a_zero_limit_turns_limiting_off() {
        let mut w = RateWindow::default();
        let now = Instant::now();
        for _ in 0..1000 {
            assert_eq!(w.admit(now, 0), Ok(()));
        }
    }
}
