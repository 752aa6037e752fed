//! Which processor gets the next call: the profit rule, as pure state and decisions.
//!
//! Profit is Σ amount × (1 − fee). The cheaper processor is preferred while it is healthy and
//! fast; "fast" means its expected latency stays well under the audit slack, because a payment
//! whose `requestedAt` is already inside the audit window when the processor stores it can be
//! counted by the processor before we book it (a fine of 35 % of everything). The other
//! processor takes over when the cheaper one fails, turns slow, or is at its in-flight cap
//! (Little's law: in-flight = arrival rate × latency, so at the cap the processor cannot carry
//! the arrival rate and the rest would only grow a backlog).

mod arrivals;
mod handle;
mod holding;
mod lane;
mod latency;
mod pacing;
mod probing;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Duration;

use crate::domain::{Fee, Millis, Processor};
use crate::processor::{CallOutcome, HealthReport};
pub use handle::RoutingHandle;
use lane::Lane;
use latency::LATENCY_WEIGHT;
use pacing::Pacer;

/// Tunables of the routing rule.
#[derive(Debug, Clone, Copy)]
pub struct RoutingConfig {
    pub fees: [Fee; 2],
    pub audit_slack: Duration,
    /// Per-processor in-flight cap, below the processors' 800 permits.
    pub max_inflight: usize,
    /// How often a failing processor is tried with one real call to notice its recovery
    /// sooner than the 5-second health poll would.
    pub probe_interval: Duration,
    /// How long a processor that answered 401/403/404 is left alone.
    pub misconfigured_pause: Duration,
    /// How long a payment may wait for an unusable cheaper processor once a dearer one could
    /// take it (see `domain::settlement` for the default's rule). Holding costs nothing but
    /// latency, while a recovery (often of both processors at once) would otherwise send the
    /// whole backlog to whichever answered first.
    pub settlement_delay: Duration,
    /// Calls per second across both processors (0 = unlimited); see [`Pacer`].
    pub max_calls_per_sec: u32,
}

/// A reservation for one call; hand it back to [`Routing::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub processor: Processor,
    started: Millis,
    seq: u64,
}

/// The routing state of one worker.
#[derive(Debug, Clone)]
pub struct Routing {
    config: RoutingConfig,
    lanes: [Lane; 2],
    seq: u64,
    /// Acceptance times of recently read payments, for the arrival rate.
    arrivals: VecDeque<Millis>,
    pacer: Pacer,
}

impl Routing {
    pub fn new(config: RoutingConfig) -> Self {
        Self {
            config,
            lanes: Default::default(),
            seq: 0,
            arrivals: VecDeque::new(),
            pacer: Pacer::new(config.max_calls_per_sec, config.max_calls_per_sec / 10),
        }
    }

    pub fn is_failing(&self, p: Processor) -> bool {
        self.lanes[p.index()].failing
    }

    fn is_misconfigured(&self, p: Processor, now: Millis) -> bool {
        now < self.lanes[p.index()].misconfigured_until
    }

    /// Not paused by a `Retry-After` or a misconfiguration.
    fn is_available(&self, p: Processor, now: Millis) -> bool {
        let lane = &self.lanes[p.index()];
        now >= lane.misconfigured_until && now >= lane.busy_until
    }

    fn is_full(&self, p: Processor) -> bool {
        self.lanes[p.index()].inflight.len() >= self.config.max_inflight
    }

    fn has_room(&self, p: Processor, now: Millis) -> bool {
        self.is_available(p, now) && !self.is_full(p)
    }

    /// Usable: not failing, not paused, and expected to answer well within the audit slack. A
    /// payment sent to a slower processor may be stored there with a `requestedAt` that an
    /// audit already covers while we have not booked it yet: the 35 % fine.
    pub(super) fn is_usable(&self, p: Processor, now: Millis) -> bool {
        self.is_open(p, now) && self.is_available(p, now)
    }

    /// Working and fast, whatever its pauses: what a recovery from failing or slowness restores.
    fn is_open(&self, p: Processor, now: Millis) -> bool {
        !self.is_failing(p) && self.is_fast(p, now)
    }

    /// Called after an update of `p`'s lane with its state before (`was_open`): an update that
    /// opened it makes `now` its `open_since`.
    fn note_opening(&mut self, p: Processor, was_open: bool, now: Millis) {
        if !was_open && self.is_open(p, now) {
            self.lanes[p.index()].open_since = now;
        }
    }

    /// Picks a processor for a payment that may go anywhere and reserves a call slot, or
    /// `None` when the payment should wait.
    ///
    /// Payments go only to usable processors, the cheaper first; to the dearer one when the
    /// cheaper is unusable and the payment has waited the settlement delay, or when the cheaper
    /// is full and cannot carry the arrival rate. While no processor is usable, a failing one
    /// whose delay is short gets one probe per interval; a slow one gets nothing, and its
    /// recovery is learnt from the health reports. `waiting_since` is when this payment was
    /// accepted.
    pub fn choose(&mut self, now: Millis, waiting_since: Millis) -> Option<Ticket> {
        let ticket = self.choose_unpaced(now, waiting_since)?;
        self.paced(ticket, now)
    }

    fn choose_unpaced(&mut self, now: Millis, waiting_since: Millis) -> Option<Ticket> {
        let mut best = None;
        for p in self.preference_by_fee() {
            if !self.is_usable(p, now) {
                continue;
            }
            if self.has_room(p, now) {
                best = Some(p);
                break;
            }
            // Full but fast enough for the arrival rate: a slot frees soon, and waiting for it
            // costs less than the other's fee.
            if self.can_carry(p, now) {
                return None;
            }
        }
        if let Some(b) = best {
            let cheaper_unusable = Processor::ALL.into_iter().any(|p| {
                self.config.fees[p.index()] < self.config.fees[b.index()]
                    && !self.is_usable(p, now)
                    && !self.is_misconfigured(p, now)
            });
            if cheaper_unusable && self.holds_for_cheaper(b, waiting_since, now) {
                return None;
            }
            return Some(self.reserve(b, now));
        }
        if Processor::ALL.into_iter().any(|p| self.is_usable(p, now)) {
            return None;
        }
        for p in self.preference_by_fee() {
            if self.may_probe(p, now) {
                return Some(self.reserve(p, now));
            }
        }
        None
    }

    fn preference_by_fee(&self) -> [Processor; 2] {
        let mut order = Processor::ALL;
        order.sort_by_key(|&p| self.config.fees[p.index()]);
        order
    }

    /// Reserves a slot on `p` for a payment pinned to it (an unresolved earlier call), or
    /// `None` when it should wait.
    ///
    /// Like any call, it goes only to a usable processor, or as a probe while none is usable.
    pub fn choose_pinned(&mut self, p: Processor, now: Millis) -> Option<Ticket> {
        let callable = if self.is_usable(p, now) {
            self.has_room(p, now)
        } else {
            !Processor::ALL.into_iter().any(|q| self.is_usable(q, now)) && self.may_probe(p, now)
        };
        let ticket = callable.then(|| self.reserve(p, now))?;
        self.paced(ticket, now)
    }

    /// Keeps the ticket if the pacer allows a call now, else hands its slot back.
    fn paced(&mut self, ticket: Ticket, now: Millis) -> Option<Ticket> {
        if self.pacer.try_take(now) {
            Some(ticket)
        } else {
            self.cancel(ticket);
            None
        }
    }

    fn reserve(&mut self, p: Processor, now: Millis) -> Ticket {
        self.seq += 1;
        self.lanes[p.index()].inflight.insert((now, self.seq));
        Ticket {
            processor: p,
            started: now,
            seq: self.seq,
        }
    }

    /// Releases a slot without a call (the payment turned out to need none).
    pub fn cancel(&mut self, ticket: Ticket) {
        self.lanes[ticket.processor.index()]
            .inflight
            .remove(&(ticket.started, ticket.seq));
    }

    /// Records a call's outcome: frees its slot and updates health and latency. Returns the
    /// processor's new failing state when this call changed it.
    pub fn finish(&mut self, ticket: Ticket, outcome: CallOutcome, now: Millis) -> Option<bool> {
        let was_open = self.is_open(ticket.processor, now);
        let config = self.config;
        let lane = &mut self.lanes[ticket.processor.index()];
        lane.inflight.remove(&(ticket.started, ticket.seq));
        let elapsed = (now - ticket.started).max(0) as f64;
        if matches!(
            outcome,
            CallOutcome::Processed | CallOutcome::AlreadyProcessed | CallOutcome::NotProcessed
        ) {
            lane.last_answered_call = lane.last_answered_call.max(Some(ticket.started));
        }
        let mut flipped = false;
        match outcome {
            CallOutcome::Processed | CallOutcome::AlreadyProcessed => {
                flipped = lane.set_failing(false, now);
                if flipped {
                    // The recovering call was sent during the outage, so its duration may be
                    // the outage's delay. Start optimistic: the first call sent from now on
                    // replaces the estimate, and a slow one shows as the oldest in flight.
                    lane.latency_ms = 0.0;
                    lane.latency_from_health = true;
                } else if ticket.started < lane.working_since {
                    // Sent during the outage (a slow failing probe): says nothing of now.
                } else if lane.latency_from_health {
                    lane.latency_ms = elapsed;
                    lane.latency_from_health = false;
                } else {
                    lane.latency_ms += LATENCY_WEIGHT * (elapsed - lane.latency_ms);
                }
            }
            CallOutcome::NotProcessed | CallOutcome::NotSent => {
                // This call was the latest probe: the next one is due an interval from now.
                flipped = lane.set_failing(true, now);
                lane.last_probe = Some(now);
            }
            CallOutcome::Unknown => {
                // A timeout says the processor is at least this slow.
                lane.latency_ms = lane.latency_ms.max(elapsed);
            }
            CallOutcome::Busy { retry_after } => {
                let pause = retry_after.map(|d| d.as_millis() as Millis).unwrap_or(100);
                lane.busy_until = lane.busy_until.max(now + pause);
            }
            CallOutcome::Misconfigured => {
                lane.misconfigured_until = now + config.misconfigured_pause.as_millis() as Millis;
            }
            CallOutcome::Rejected => {}
        }
        let flipped = flipped.then_some(lane.failing);
        self.note_opening(ticket.processor, was_open, now);
        flipped
    }

    /// Takes in a health report (from this worker's poll or the shared view): it is the
    /// freshest word on failure and on the processor's current delay.
    /// A report asked for at `asked` is ignored when one of our own calls sent later has
    /// already answered: that call is the fresher word.
    pub fn apply_health(&mut self, p: Processor, report: HealthReport, asked: Millis) {
        if self.lanes[p.index()]
            .last_answered_call
            .is_some_and(|sent| sent > asked)
        {
            return;
        }
        let was_open = self.is_open(p, asked);
        let lane = &mut self.lanes[p.index()];
        let _ = lane.set_failing(report.failing, asked);
        lane.latency_ms = report.min_response_time as f64;
        lane.latency_from_health = true;
        self.note_opening(p, was_open, asked);
    }
}
