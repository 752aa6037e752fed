//! One processor's lane in the routing state: its health, pauses, latency and calls in flight.

use std::collections::BTreeSet;

use crate::domain::Millis;

#[derive(Debug, Clone, Default)]
pub(super) struct Lane {
    pub(super) failing: bool,
    pub(super) misconfigured_until: Millis,
    pub(super) busy_until: Millis,
    pub(super) latency_ms: f64,
    /// The latency came from a health report, not from our own calls: the next call's
    /// duration replaces it outright (a report taken during an outage says nothing of now).
    pub(super) latency_from_health: bool,
    /// When the processor last turned from failing to working.
    pub(super) working_since: Millis,
    /// When the processor last turned usable again after failing or being slow: a payment held
    /// for a cheaper processor counts its settlement delay from here (see `holding`).
    pub(super) open_since: Millis,
    /// When the latest call that got a definite answer (processed or not) was sent.
    pub(super) last_answered_call: Option<Millis>,
    pub(super) last_probe: Option<Millis>,
    /// Start times of calls in flight (with a tiebreak), to see slowness before any call ends.
    pub(super) inflight: BTreeSet<(Millis, u64)>,
}

impl Lane {
    /// Sets the failing flag; true when it changed.
    pub(super) fn set_failing(&mut self, failing: bool, now: Millis) -> bool {
        if self.failing && !failing {
            self.working_since = now;
        }
        std::mem::replace(&mut self.failing, failing) != failing
    }
}
