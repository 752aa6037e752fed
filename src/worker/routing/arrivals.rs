//! The arrival rate: how many payments per second are arriving now, and whether a processor
//! at its in-flight cap still carries them.

use super::Routing;
use crate::domain::{Millis, Processor};

/// The window over which the arrival rate is counted.
const ARRIVAL_WINDOW_MS: Millis = 1_000;

impl Routing {
    /// Records a payment read from the queue, by the time it was accepted. A backlog read late
    /// does not count: the rate is of payments arriving now, not of payments being drained.
    pub fn note_arrival(&mut self, accepted_at: Millis, now: Millis) {
        if now - accepted_at < ARRIVAL_WINDOW_MS {
            self.arrivals.push_back(accepted_at);
        }
        self.forget_old_arrivals(now);
    }

    fn forget_old_arrivals(&mut self, now: Millis) {
        while self
            .arrivals
            .front()
            .is_some_and(|&t| now - t >= ARRIVAL_WINDOW_MS)
        {
            self.arrivals.pop_front();
        }
    }

    /// Payments per second arriving lately.
    pub fn arrival_rate(&mut self, now: Millis) -> f64 {
        self.forget_old_arrivals(now);
        self.arrivals.len() as f64 * 1000.0 / ARRIVAL_WINDOW_MS as f64
    }

    /// Whether `p` carries the arrival rate at its in-flight cap (Little's law: throughput =
    /// in-flight / latency). If it does, a full `p` is worth waiting for: its queue drains fast.
    pub(super) fn can_carry(&mut self, p: Processor, now: Millis) -> bool {
        let latency_s = self.expected_latency_ms(p, now).max(1.0) / 1000.0;
        let throughput = self.config.max_inflight as f64 / latency_s;
        throughput >= self.arrival_rate(now)
    }
}
