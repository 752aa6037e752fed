//! Holding: a payment waits up to the settlement delay for an unusable cheaper processor
//! before it goes to a dearer one.

use super::Routing;
use crate::domain::{Millis, Processor};

impl Routing {
    /// Whether a payment that could go to the dearer `open` now should still wait for the
    /// cheaper processor.
    ///
    /// The hold counts from when the dearer route opened for this payment, so a backlog that
    /// waited through an outage or a slowness of both also waits for the cheaper one's recovery.
    pub(super) fn holds_for_cheaper(
        &self,
        open: Processor,
        waiting_since: Millis,
        now: Millis,
    ) -> bool {
        let open_since = waiting_since.max(self.lanes[open.index()].open_since);
        now - open_since < self.config.settlement_delay.as_millis() as Millis
    }
}
