//! The latency estimate: what a processor's next call is expected to take, and whether that
//! is fast enough for the audit slack.

use super::Routing;
use crate::domain::{Millis, Processor};

/// A processor is "fast" while its expected latency is below this share of the audit slack.
const FAST_SHARE_OF_SLACK: f64 = 0.8;
/// Weight of the newest latency sample in the moving average.
pub(super) const LATENCY_WEIGHT: f64 = 0.2;

impl Routing {
    /// Expected latency: the moving average, or the age of the oldest call in flight when that
    /// is larger (a processor that just turned slow shows it before any call completes). Calls
    /// sent before the processor last recovered belong to the outage and do not count.
    pub fn expected_latency_ms(&self, p: Processor, now: Millis) -> f64 {
        let lane = &self.lanes[p.index()];
        let oldest = lane
            .inflight
            .range((lane.working_since, 0)..)
            .next()
            .map(|(start, _)| (now - start).max(0) as f64)
            .unwrap_or(0.0);
        lane.latency_ms.max(oldest)
    }

    pub(super) fn is_fast(&self, p: Processor, now: Millis) -> bool {
        self.expected_latency_ms(p, now)
            < self.config.audit_slack.as_millis() as f64 * FAST_SHARE_OF_SLACK
    }
}
