//! A token bucket for processor calls.
//!
//! After an outage the worker holds a backlog; sending it all within a second made a CPU spike
//! on the shared cores that every request of that second paid for in latency. Spreading the
//! drain over a few seconds costs nothing the audit sees.

use crate::domain::Millis;

/// Allows `rate_per_sec` calls per second on average, `burst` at once.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate_per_ms: f64,
    burst: f64,
    tokens: f64,
    last: Millis,
}

impl Pacer {
    /// A pacer; a rate of 0 means unlimited.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        Self {
            rate_per_ms: f64::from(rate_per_sec) / 1000.0,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: 0,
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Millis) -> bool {
        if self.rate_per_ms == 0.0 {
            return true;
        }
        let elapsed = (now - self.last).max(0) as f64;
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate_per_ms).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_the_rate() {
        let mut p = Pacer::new(1000, 3);
        assert!((0..3).all(|_| p.try_take(0)));
        assert!(!p.try_take(0));
        assert!(p.try_take(1));
        assert!(!p.try_take(1));
        // Idle time refills up to the burst only.
        assert_eq!((0..10).filter(|_| p.try_take(1_000)).count(), 3);
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let mut p = Pacer::new(0, 1);
        assert!((0..10_000).all(|_| p.try_take(0)));
    }
}
