//! Probing: a failing processor gets one real call per probe interval, so its recovery is
//! noticed sooner than the 5-second health poll would.

use super::Routing;
use crate::domain::{Millis, Processor};

impl Routing {
    /// Room on `p`, and if it is failing, a probe is due (which this claims).
    pub(super) fn may_call(&mut self, p: Processor, now: Millis) -> bool {
        if !self.has_room(p, now) {
            return false;
        }
        let interval = self.config.probe_interval.as_millis() as Millis;
        let lane = &mut self.lanes[p.index()];
        if !lane.failing {
            return true;
        }
        if lane.last_probe.is_none_or(|last| now - last >= interval) {
            lane.last_probe = Some(now);
            return true;
        }
        false
    }
}
