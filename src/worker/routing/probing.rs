//! Probing: while no processor is usable, a failing one whose delay is short gets one real
//! call per probe interval, so its recovery is noticed sooner than the 5-second health poll
//! would. A slow processor is never probed: the probe would be a payment stored late.

use super::Routing;
use crate::domain::{Millis, Processor};

impl Routing {
    /// `p` is failing, expected to answer fast, has room, and a probe is due (which this claims).
    pub(super) fn may_probe(&mut self, p: Processor, now: Millis) -> bool {
        if !self.is_failing(p) || !self.is_fast(p, now) || !self.has_room(p, now) {
            return false;
        }
        let interval = self.config.probe_interval.as_millis() as Millis;
        let lane = &mut self.lanes[p.index()];
        if lane.last_probe.is_none_or(|last| now - last >= interval) {
            lane.last_probe = Some(now);
            return true;
        }
        false
    }
}
