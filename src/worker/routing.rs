//! Which processor gets the next call: the profit rule, as pure state and decisions.
//!
//! Profit is Σ amount × (1 − fee). The cheaper processor is preferred while it is healthy and
//! fast; "fast" means its expected latency stays well under the audit slack, because a payment
//! whose `requestedAt` is already inside the audit window when the processor stores it can be
//! counted by the processor before we book it (a fine of 35 % of everything). The other
//! processor takes over when the cheaper one fails, turns slow, or is at its in-flight cap
//! (Little's law: in-flight = arrival rate × latency, so at the cap the processor cannot carry
//! the arrival rate and the rest would only grow a backlog).

use std::collections::{BTreeSet, VecDeque};

use super::pacing::Pacer;
use crate::domain::{Fee, Millis, Processor};
use crate::processor::{CallOutcome, HealthReport};

/// Tunables of the routing rule.
#[derive(Debug, Clone, Copy)]
pub struct RoutingConfig {
    pub fees: [Fee; 2],
    pub audit_slack_ms: u64,
    /// Per-processor in-flight cap, below the processors' 800 permits.
    pub max_inflight: usize,
    /// How often a failing processor is tried with one real call to notice its recovery
    /// sooner than the 5-second health poll would.
    pub probe_interval_ms: u64,
    /// How long a processor that answered 401/403/404 is left alone.
    pub misconfigured_pause_ms: u64,
    /// How long a payment waits for a failing cheaper processor's next probe before it goes
    /// to a dearer one. Holding costs nothing but latency, while a recovery (often of both
    /// processors at once) would otherwise send the whole backlog to whichever answered first.
    pub hold_for_cheaper_ms: u64,
    /// Calls per second across both processors (0 = unlimited); see [`Pacer`].
    pub max_calls_per_sec: u32,
}

/// A processor is "fast" while its expected latency is below this share of the audit slack.
const FAST_SHARE_OF_SLACK: f64 = 0.8;
/// Weight of the newest latency sample in the moving average.
const LATENCY_WEIGHT: f64 = 0.2;

#[derive(Debug, Clone, Default)]
struct Lane {
    failing: bool,
    misconfigured_until: Millis,
    busy_until: Millis,
    latency_ms: f64,
    /// The latency came from a health report, not from our own calls: the next call's
    /// duration replaces it outright (a report taken during an outage says nothing of now).
    latency_from_health: bool,
    /// When the processor last turned from failing to working.
    working_since: Millis,
    /// When the latest call that got a definite answer (processed or not) was sent.
    last_answered_call: Option<Millis>,
    last_probe: Option<Millis>,
    /// Start times of calls in flight (with a tiebreak), to see slowness before any call ends.
    inflight: BTreeSet<(Millis, u64)>,
}

impl Lane {
    /// Sets the failing flag; true when it changed.
    fn set_failing(&mut self, failing: bool, now: Millis) -> bool {
        if self.failing && !failing {
            self.working_since = now;
        }
        std::mem::replace(&mut self.failing, failing) != failing
    }
}

/// A reservation for one call; hand it back to [`Routing::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub processor: Processor,
    started: Millis,
    seq: u64,
}

/// The window over which the arrival rate is counted.
const ARRIVAL_WINDOW_MS: Millis = 1_000;

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
    fn can_carry(&mut self, p: Processor, now: Millis) -> bool {
        let latency_s = self.expected_latency_ms(p, now).max(1.0) / 1000.0;
        let throughput = self.config.max_inflight as f64 / latency_s;
        throughput >= self.arrival_rate(now)
    }

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

    pub fn is_failing(&self, p: Processor) -> bool {
        self.lanes[p.index()].failing
    }

    fn is_fast(&self, p: Processor, now: Millis) -> bool {
        self.expected_latency_ms(p, now) < self.config.audit_slack_ms as f64 * FAST_SHARE_OF_SLACK
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

    /// Processors in order of preference for a payment free to go anywhere.
    fn preference(&self, now: Millis) -> [Processor; 2] {
        let mut order = Processor::ALL;
        order.sort_by_key(|&p| {
            (
                self.is_failing(p),
                !self.is_fast(p, now),
                self.config.fees[p.index()],
            )
        });
        order
    }

    /// Picks a processor for a payment that may go anywhere and reserves a call slot, or
    /// `None` when the payment should wait (all failing and not due a probe, or all full).
    ///
    /// A failing processor that would be preferred over the best working one gets one probe
    /// call per probe interval: that is how its recovery is noticed between health polls.
    /// `waiting_since` is when this payment started looking for a route.
    pub fn choose(&mut self, now: Millis, waiting_since: Millis) -> Option<Ticket> {
        let ticket = self.choose_unpaced(now, waiting_since)?;
        self.paced(ticket, now)
    }

    fn choose_unpaced(&mut self, now: Millis, waiting_since: Millis) -> Option<Ticket> {
        let mut best = None;
        for p in self.preference(now) {
            if self.is_failing(p) {
                continue;
            }
            if self.has_room(p, now) {
                best = Some(p);
                break;
            }
            // Full but fast enough for the arrival rate: a slot frees soon, and waiting for it
            // costs less than the other's fee.
            if self.is_available(p, now) && self.is_fast(p, now) && self.can_carry(p, now) {
                break;
            }
        }
        for p in self.preference_by_fee() {
            let cheaper_than_best =
                best.is_none_or(|b| self.config.fees[p.index()] < self.config.fees[b.index()]);
            if self.is_failing(p) && cheaper_than_best {
                if self.may_call(p, now) {
                    return Some(self.reserve(p, now));
                }
                // Hold counts from when the dearer route opened for this payment, so a backlog
                // that waited through an outage of both also waits for the cheaper one's probe.
                if let Some(b) = best {
                    let open_since = waiting_since.max(self.lanes[b.index()].working_since);
                    if now - open_since < self.config.hold_for_cheaper_ms as Millis {
                        return None;
                    }
                }
            }
        }
        best.map(|p| self.reserve(p, now))
    }

    fn preference_by_fee(&self) -> [Processor; 2] {
        let mut order = Processor::ALL;
        order.sort_by_key(|&p| self.config.fees[p.index()]);
        order
    }

    /// Reserves a slot on `p` for a payment pinned to it (an unresolved earlier call), or
    /// `None` when it should wait.
    pub fn choose_pinned(&mut self, p: Processor, now: Millis) -> Option<Ticket> {
        let ticket = self.may_call(p, now).then(|| self.reserve(p, now))?;
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

    /// Room on `p`, and if it is failing, a probe is due (which this claims).
    fn may_call(&mut self, p: Processor, now: Millis) -> bool {
        if !self.has_room(p, now) {
            return false;
        }
        let interval = self.config.probe_interval_ms as Millis;
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
                lane.misconfigured_until = now + config.misconfigured_pause_ms as Millis;
            }
            CallOutcome::Rejected => {}
        }
        flipped.then_some(lane.failing)
    }

    /// Takes in a health report (from this worker's poll or the shared view): it is the
    /// freshest word on failure and on the processor's current delay.
    /// A report asked for at `asked` is ignored when one of our own calls sent later has
    /// already answered: that call is the fresher word.
    pub fn apply_health(&mut self, p: Processor, report: HealthReport, asked: Millis) {
        let lane = &mut self.lanes[p.index()];
        if lane.last_answered_call.is_some_and(|sent| sent > asked) {
            return;
        }
        let _ = lane.set_failing(report.failing, asked);
        lane.latency_ms = report.min_response_time as f64;
        lane.latency_from_health = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn routing() -> Routing {
        Routing::new(RoutingConfig {
            fees: [Fee::parse("0.05").unwrap(), Fee::parse("0.15").unwrap()],
            audit_slack_ms: 1500,
            max_inflight: 3,
            probe_interval_ms: 500,
            misconfigured_pause_ms: 10_000,
            hold_for_cheaper_ms: 0,
            max_calls_per_sec: 0,
        })
    }

    fn health(failing: bool, min_response_time: u64) -> HealthReport {
        HealthReport {
            failing,
            min_response_time,
        }
    }

    #[test]
    fn prefers_the_cheaper_processor() {
        let mut r = routing();
        assert_eq!(r.choose(0, 0).unwrap().processor, Processor::Default);
    }

    #[test]
    fn cheaper_fee_wins_whatever_its_name() {
        let mut r = Routing::new(RoutingConfig {
            fees: [Fee::parse("0.10").unwrap(), Fee::parse("0.07").unwrap()],
            ..routing().config
        });
        assert_eq!(r.choose(0, 0).unwrap().processor, Processor::Fallback);
    }

    #[test]
    fn a_failing_processor_hands_over_and_is_probed() {
        let mut r = routing();
        let t = r.choose(0, 0).unwrap();
        r.finish(t, CallOutcome::NotProcessed, 10);
        assert_eq!(r.choose(20, 20).unwrap().processor, Processor::Fallback);
        // After the probe interval, one call tests the cheaper one again.
        assert_eq!(r.choose(600, 600).unwrap().processor, Processor::Default);
        assert_eq!(r.choose(601, 601).unwrap().processor, Processor::Fallback);
    }

    #[test]
    fn a_payment_holds_briefly_for_a_failing_cheaper_processor() {
        let mut r = Routing::new(RoutingConfig {
            hold_for_cheaper_ms: 1_000,
            ..routing().config
        });
        let t = r.choose(0, 0).unwrap();
        r.finish(t, CallOutcome::NotProcessed, 10);
        // The fallback works, but the default's next probe may show it recovered.
        assert_eq!(r.choose(100, 100), None);
        assert_eq!(r.choose(600, 100).unwrap().processor, Processor::Default);
        assert_eq!(r.choose(700, 100), None);
        // Held long enough: the dearer processor takes it.
        assert_eq!(r.choose(1_050, 0).unwrap().processor, Processor::Fallback);
    }

    #[test]
    fn a_backlog_from_an_outage_of_both_holds_for_the_cheaper_probe() {
        let mut r = Routing::new(RoutingConfig {
            hold_for_cheaper_ms: 1_000,
            ..routing().config
        });
        r.apply_health(Processor::Default, health(true, 2_000), 0);
        r.apply_health(Processor::Fallback, health(true, 1_000), 0);
        let probe_default = r.choose_pinned(Processor::Default, 9_990).unwrap();
        r.finish(probe_default, CallOutcome::NotProcessed, 10_000);
        // The fallback recovers first; a payment waiting since long ago still holds.
        let probe_fallback = r.choose_pinned(Processor::Fallback, 10_000).unwrap();
        r.finish(probe_fallback, CallOutcome::Processed, 10_020);
        assert_eq!(r.choose(10_100, 0), None);
        // The default's probe succeeds: its stale 2 s report no longer counts.
        let probe = r.choose(10_600, 0).unwrap();
        assert_eq!(probe.processor, Processor::Default);
        let _ = r.finish(probe, CallOutcome::Processed, 10_620);
        assert!(r.expected_latency_ms(Processor::Default, 10_620) < 100.0);
        let next = r.choose(10_630, 0).unwrap();
        assert_eq!(next.processor, Processor::Default);
        // The first call of the new regime sets the estimate.
        let _ = r.finish(next, CallOutcome::Processed, 10_650);
        assert_eq!(r.expected_latency_ms(Processor::Default, 10_650), 20.0);
    }

    #[test]
    fn both_failing_means_wait_except_probes() {
        let mut r = routing();
        r.apply_health(Processor::Default, health(true, 0), 0);
        r.apply_health(Processor::Fallback, health(true, 0), 0);
        let probe = r.choose(1_000, 1_000).unwrap();
        let second = r.choose(1_000, 1_000).unwrap();
        assert_ne!(probe.processor, second.processor);
        assert_eq!(r.choose(1_001, 1_001), None);
    }

    #[test]
    fn a_slow_cheap_processor_yields_to_a_fast_one() {
        let mut r = routing();
        r.apply_health(Processor::Default, health(false, 1_300), 0);
        assert_eq!(r.choose(0, 0).unwrap().processor, Processor::Fallback);
        // Both slow: the fee decides again.
        r.apply_health(Processor::Fallback, health(false, 5_000), 0);
        assert_eq!(r.choose(0, 0).unwrap().processor, Processor::Default);
    }

    #[test]
    fn slowness_shows_before_any_call_completes() {
        let mut r = routing();
        let _stuck = r.choose(0, 0).unwrap();
        assert!(r.expected_latency_ms(Processor::Default, 1_250) >= 1_250.0);
        assert_eq!(
            r.choose(1_250, 1_250).unwrap().processor,
            Processor::Fallback
        );
    }

    #[test]
    fn a_full_processor_that_carries_the_arrival_rate_is_waited_for() {
        let mut r = routing();
        r.apply_health(Processor::Default, health(false, 100), 0);
        for t in 0..20 {
            r.note_arrival(t, 20);
        }
        for _ in 0..3 {
            assert_eq!(r.choose(20, 20).unwrap().processor, Processor::Default);
        }
        // 3 in flight at 100 ms carry 30/s > 20/s: wait rather than pay the fallback fee.
        assert_eq!(r.choose(20, 20), None);
    }

    #[test]
    fn a_full_processor_that_cannot_carry_the_arrival_rate_overflows() {
        let mut r = routing();
        r.apply_health(Processor::Default, health(false, 100), 0);
        for t in 0..50 {
            r.note_arrival(t, 50);
        }
        for _ in 0..3 {
            assert_eq!(r.choose(50, 50).unwrap().processor, Processor::Default);
        }
        assert_eq!(r.choose(50, 50).unwrap().processor, Processor::Fallback);
        // A backlog read late is not arrival rate.
        let mut r = routing();
        r.note_arrival(0, 5_000);
        assert_eq!(r.arrival_rate(5_000), 0.0);
    }

    #[test]
    fn busy_and_misconfigured_pause_the_processor() {
        let mut r = routing();
        let t = r.choose(0, 0).unwrap();
        r.finish(
            t,
            CallOutcome::Busy {
                retry_after: Some(Duration::from_secs(1)),
            },
            0,
        );
        assert_eq!(r.choose_pinned(Processor::Default, 500), None);
        assert!(r.choose_pinned(Processor::Default, 1_000).is_some());
        let t = r.choose_pinned(Processor::Fallback, 1_000).unwrap();
        r.finish(t, CallOutcome::Misconfigured, 1_000);
        assert_eq!(r.choose_pinned(Processor::Fallback, 5_000), None);
        // A paused processor is not waited for like a full one: the other takes the payment.
        let t = r.choose(5_000, 5_000).unwrap();
        r.finish(t, CallOutcome::Misconfigured, 5_000);
        assert_eq!(r.choose(5_001, 5_001), None, "both misconfigured: wait");
    }

    #[test]
    fn recovery_is_learnt_from_success_and_health() {
        let mut r = routing();
        r.apply_health(Processor::Default, health(true, 0), 0);
        let t = r.choose_pinned(Processor::Default, 0).unwrap();
        r.finish(t, CallOutcome::Processed, 5);
        assert!(!r.is_failing(Processor::Default));
        r.apply_health(Processor::Default, health(true, 0), 0);
        assert!(r.is_failing(Processor::Default));
        r.apply_health(Processor::Default, health(false, 0), 0);
        assert_eq!(
            r.choose(10_000, 10_000).unwrap().processor,
            Processor::Default
        );
    }

    #[test]
    fn calls_from_the_outage_do_not_make_a_recovered_processor_look_slow() {
        let mut r = routing();
        // Both fail with long delays; probes are sent and take 2 s to answer.
        r.apply_health(Processor::Default, health(true, 2_000), 0);
        r.apply_health(Processor::Fallback, health(true, 1_000), 0);
        let slow_probe = r.choose_pinned(Processor::Default, 100).unwrap();
        // Recovery: a fresh probe answers in 20 ms.
        let fresh_probe = r.choose_pinned(Processor::Default, 1_000).unwrap();
        r.finish(fresh_probe, CallOutcome::Processed, 1_020);
        assert!(r.expected_latency_ms(Processor::Default, 1_500) < 100.0);
        let next = r.choose(1_500, 1_500).unwrap();
        assert_eq!(next.processor, Processor::Default);
        r.finish(next, CallOutcome::Processed, 1_520);
        // The outage's probe finally answers after 2 s: it does not count as a sample.
        r.finish(slow_probe, CallOutcome::Processed, 2_100);
        assert!(r.expected_latency_ms(Processor::Default, 2_100) < 100.0);
    }

    #[test]
    fn finish_reports_changes_of_health_only() {
        let mut r = routing();
        let t = r.choose(0, 0).unwrap();
        assert_eq!(r.finish(t, CallOutcome::NotProcessed, 5), Some(true));
        let t = r.choose_pinned(Processor::Default, 600).unwrap();
        assert_eq!(r.finish(t, CallOutcome::NotProcessed, 605), None);
        let t = r.choose_pinned(Processor::Default, 1_200).unwrap();
        assert_eq!(r.finish(t, CallOutcome::Processed, 1_205), Some(false));
        let t = r.choose(1_300, 1_300).unwrap();
        assert_eq!(r.finish(t, CallOutcome::Processed, 1_305), None);
    }

    #[test]
    fn a_health_report_older_than_our_own_answered_call_is_ignored() {
        let mut r = routing();
        // A poll asked at 1_000 during the outage is answered late, after a call sent at
        // 1_100 found the processor recovered and fast.
        let t = r.choose(1_100, 1_100).unwrap();
        let _ = r.finish(t, CallOutcome::Processed, 1_120);
        r.apply_health(Processor::Default, health(true, 2_000), 1_000);
        assert!(!r.is_failing(Processor::Default));
        assert_eq!(
            r.choose(1_200, 1_200).unwrap().processor,
            Processor::Default
        );
        // A newer report applies.
        r.apply_health(Processor::Default, health(true, 0), 1_300);
        assert!(r.is_failing(Processor::Default));
    }

    #[test]
    fn a_recovery_answered_after_the_outage_delay_does_not_look_slow() {
        let mut r = routing();
        r.apply_health(Processor::Default, health(true, 2_000), 0);
        // A probe sent during the outage waits out its 2 s delay, then succeeds.
        let probe = r.choose_pinned(Processor::Default, 1_000).unwrap();
        assert_eq!(r.finish(probe, CallOutcome::Processed, 3_000), Some(false));
        assert_eq!(
            r.choose(3_010, 3_010).unwrap().processor,
            Processor::Default
        );
    }
}
