//! The step, row by row of the outcome table, against fake stores and processors.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::domain::{Amount, CorrelationId, Fee};
use crate::shutdown::{self, ShutdownTrigger};
use crate::worker::routing::{Routing, RoutingConfig};
use crate::worker::stores::StoreError;

/// Scripted processors and recording stores.
#[derive(Default)]
struct Fake {
    /// What each `POST /payments` answers, in order.
    answers: Mutex<VecDeque<CallOutcome>>,
    /// What `GET /payments/{id}` answers: the stored `requestedAt`, or `None` for a 404.
    stored: Mutex<Option<Millis>>,
    /// When set, only this processor has the payment; the other answers 404.
    stored_only_at: Mutex<Option<Processor>>,
    /// Every `GET /payments/{id}` asked, by processor.
    asked: Mutex<Vec<Processor>>,
    /// Every call made: processor and `requestedAt`.
    calls: Mutex<Vec<(Processor, Millis)>>,
    /// The latest attempt record written.
    record: Mutex<Option<String>>,
    booked: Mutex<Vec<Booking>>,
    dead_letters: Mutex<Vec<String>>,
    acknowledged: Mutex<u32>,
}

impl PaymentStore for Fake {
    async fn attempt(&self, _: &CorrelationId) -> Result<Option<String>, StoreError> {
        Ok(self.record.lock().unwrap().clone())
    }
    async fn set_attempt(&self, _: &CorrelationId, record: &str) -> Result<(), StoreError> {
        *self.record.lock().unwrap() = Some(record.to_owned());
        Ok(())
    }
    async fn dead_letter(&self, _: &QueuedPayment, reason: &str) -> Result<(), StoreError> {
        self.dead_letters.lock().unwrap().push(reason.to_owned());
        Ok(())
    }
    async fn acknowledge(&self, _: &QueuedPayment) -> Result<(), StoreError> {
        *self.acknowledged.lock().unwrap() += 1;
        Ok(())
    }
    /// Like the ledger: one row per payment, the first kept.
    async fn book(&self, booking: Booking) -> Result<Booked, StoreError> {
        let mut booked = self.booked.lock().unwrap();
        Ok(match booked.first() {
            None => {
                booked.push(booking);
                Booked::New
            }
            Some(first) if first.processor == booking.processor => Booked::Again,
            Some(first) => Booked::Conflict {
                booked_at: first.processor,
            },
        })
    }
}

impl Processors for Fake {
    async fn pay(
        &self,
        p: Processor,
        _: &CorrelationId,
        _: Amount,
        requested_at: Millis,
    ) -> CallOutcome {
        self.calls.lock().unwrap().push((p, requested_at));
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .expect("a scripted answer for every call")
    }
    async fn stored(&self, p: Processor, _: &CorrelationId) -> Result<Option<Millis>, StoreError> {
        self.asked.lock().unwrap().push(p);
        if self.stored_only_at.lock().unwrap().is_some_and(|only| only != p) {
            return Ok(None);
        }
        Ok(*self.stored.lock().unwrap())
    }
}

impl Fake {
    fn answering(answers: impl IntoIterator<Item = CallOutcome>) -> Self {
        let fake = Self::default();
        fake.answers.lock().unwrap().extend(answers);
        fake
    }
    fn calls(&self) -> Vec<(Processor, Millis)> {
        self.calls.lock().unwrap().clone()
    }
    fn booked(&self) -> Vec<Booking> {
        self.booked.lock().unwrap().clone()
    }
    /// The attempt record as last written.
    fn record(&self) -> Attempt {
        Attempt::decode(self.record.lock().unwrap().as_deref().expect("a record")).unwrap()
    }
}

/// One fake world, routing with the default processor cheaper, and a payment to take steps on.
struct Bench {
    fake: Fake,
    routing: RoutingHandle,
    metrics: Metrics,
    unknown_grace: Duration,
    state: PaymentState,
    trigger: ShutdownTrigger,
    shutdown: Shutdown,
}

impl Bench {
    fn new(fake: Fake) -> Self {
        let routing = Routing::new(RoutingConfig {
            fees: [Fee::parse("0.05").unwrap(), Fee::parse("0.15").unwrap()],
            audit_slack: Duration::from_millis(10_000),
            max_inflight: 3,
            probe_interval: Duration::from_millis(500),
            misconfigured_pause: Duration::from_millis(10_000),
            hold_for_cheaper: Duration::from_millis(0),
            max_calls_per_sec: 0,
        });
        let entry = QueuedPayment {
            entry_id: "1-0".to_owned(),
            correlation_id: CorrelationId::parse("4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3").unwrap(),
            amount: Amount::from_cents(1990).unwrap(),
            accepted_at: now_millis(),
            redelivered: false,
        };
        let (trigger, shutdown) = shutdown::channel();
        Self {
            fake,
            routing: RoutingHandle::new(routing),
            metrics: Metrics::default(),
            unknown_grace: Duration::from_secs(60),
            state: PaymentState::new(entry, now_millis(), Attempt::FRESH),
            trigger,
            shutdown,
        }
    }

    /// A payment pinned to `p` by an unresolved call sent `quiet_for` ago.
    fn pinned_to(mut self, p: Processor, requested_at: Millis, quiet_for: Duration) -> Self {
        let sent = now_millis() - quiet_for.as_millis() as Millis;
        let mut attempt = Attempt::FRESH.before_call(p, requested_at);
        attempt.unresolved.as_mut().unwrap().last_sent = sent;
        self.state.attempt = attempt;
        self
    }

    /// The open call's latest answer was busy, so the next step re-sends it.
    fn after_a_busy_answer(mut self) -> Self {
        self.state.resend = true;
        self
    }

    /// Runs the whole payment as the worker does, from its queue entry delivered again.
    async fn process_redelivered(&mut self) {
        let ctx = StepContext {
            world: &self.fake,
            routing: &self.routing,
            metrics: &self.metrics,
            unknown_grace: self.unknown_grace,
        };
        let mut entry = self.state.entry.clone();
        entry.redelivered = true;
        process(&ctx, entry, self.shutdown.clone()).await;
    }

    async fn step(&mut self) -> Step {
        let ctx = StepContext {
            world: &self.fake,
            routing: &self.routing,
            metrics: &self.metrics,
            unknown_grace: self.unknown_grace,
        };
        step(&ctx, &mut self.state, &mut self.shutdown).await
    }
}

#[tokio::test]
async fn a_200_is_booked_with_the_requested_at_we_sent_and_acknowledged() {
    let mut bench = Bench::new(Fake::answering([CallOutcome::Processed]));
    assert_eq!(bench.step().await, Step::Booked(Processor::Default));
    let (p, sent_at) = bench.fake.calls()[0];
    assert_eq!(p, Processor::Default);
    let booked = bench.fake.booked();
    assert_eq!(booked.len(), 1);
    assert_eq!(booked[0].requested_at, sent_at);
    assert_eq!(booked[0].amount.cents(), 1990);
    assert_eq!(*bench.fake.acknowledged.lock().unwrap(), 1);
    assert_eq!(
        bench.fake.record().number,
        1,
        "the attempt was recorded before the call"
    );
}

#[tokio::test]
async fn a_422_is_booked_with_the_requested_at_the_processor_stored() {
    let fake = Fake::answering([CallOutcome::AlreadyProcessed]);
    *fake.stored.lock().unwrap() = Some(42);
    let mut bench = Bench::new(fake);
    assert_eq!(bench.step().await, Step::Booked(Processor::Default));
    assert_eq!(bench.fake.booked()[0].requested_at, 42);
}

#[tokio::test]
async fn a_500_frees_the_payment_and_books_nothing() {
    let mut bench = Bench::new(Fake::answering([CallOutcome::NotProcessed]));
    assert_eq!(bench.step().await, Step::Retry);
    assert!(bench.fake.booked().is_empty());
    assert_eq!(bench.state.attempt.unresolved, None);
    assert_eq!(
        bench.fake.record().unresolved,
        None,
        "the record says so too"
    );
}

#[tokio::test]
async fn an_unknown_answer_pins_the_payment_and_asking_books_the_requested_at_sent() {
    let mut bench = Bench::new(Fake::answering([CallOutcome::Unknown]));
    assert_eq!(bench.step().await, Step::Retry);
    let open = bench.state.attempt.unresolved.expect("pinned");
    assert_eq!(open.processor, Processor::Default);
    assert_eq!(bench.fake.record().unresolved, Some(open));
    assert!(bench.fake.booked().is_empty());

    *bench.fake.stored.lock().unwrap() = Some(open.requested_at);
    assert_eq!(bench.step().await, Step::Booked(Processor::Default));
    assert_eq!(bench.fake.calls().len(), 1, "asked, not re-sent");
    assert_eq!(bench.fake.booked()[0].requested_at, open.requested_at);
}

#[tokio::test]
async fn a_busy_answer_is_re_sent_to_the_same_processor_with_the_same_requested_at() {
    let mut bench = Bench::new(Fake::answering([
        CallOutcome::Busy { retry_after: None },
        CallOutcome::Processed,
    ]));
    assert_eq!(bench.step().await, Step::Retry);
    assert_eq!(bench.step().await, Step::Booked(Processor::Default));
    let calls = bench.fake.calls();
    assert_eq!(calls[1], (Processor::Default, calls[0].1));
    assert_eq!(bench.fake.booked()[0].requested_at, calls[0].1);
}

#[tokio::test]
async fn a_busy_answer_retries_on_the_same_processor() {
    let mut bench = Bench::new(Fake::answering([CallOutcome::Busy { retry_after: None }]));
    assert_eq!(bench.step().await, Step::Retry);
    assert_eq!(
        bench.state.attempt.unresolved.map(|open| open.processor),
        Some(Processor::Default)
    );
    assert!(bench.fake.booked().is_empty());
}

#[tokio::test]
async fn a_misconfigured_processor_leaves_the_payment_queued_and_free_to_go_elsewhere() {
    let mut bench = Bench::new(Fake::answering([
        CallOutcome::Misconfigured,
        CallOutcome::Processed,
    ]));
    assert_eq!(bench.step().await, Step::Retry);
    assert_eq!(bench.state.attempt.unresolved, None);
    assert!(bench.fake.dead_letters.lock().unwrap().is_empty());
    // The misconfigured default is left alone: the next call goes to the fallback.
    assert_eq!(bench.step().await, Step::Booked(Processor::Fallback));
}

#[tokio::test]
async fn a_400_dead_letters_the_payment_with_its_reason() {
    let mut bench = Bench::new(Fake::answering([CallOutcome::Rejected]));
    assert_eq!(bench.step().await, Step::DeadLettered);
    let reasons = bench.fake.dead_letters.lock().unwrap().clone();
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].contains("400"), "{reasons:?}");
    assert!(bench.fake.booked().is_empty());
}

#[tokio::test]
async fn a_400_while_an_earlier_call_is_unresolved_stays_pinned() {
    let mut bench = Bench::new(Fake::answering([CallOutcome::Rejected]))
        .pinned_to(Processor::Fallback, 7, Duration::ZERO)
        .after_a_busy_answer();
    assert_eq!(bench.step().await, Step::Retry);
    assert_eq!(bench.fake.calls(), vec![(Processor::Fallback, 7)]);
    assert!(bench.fake.dead_letters.lock().unwrap().is_empty());
    assert_eq!(
        bench.state.attempt.unresolved.map(|open| open.processor),
        Some(Processor::Fallback)
    );
}

#[tokio::test]
async fn an_unknown_call_quiet_past_the_grace_is_asked_about_and_booked_if_stored() {
    let fake = Fake::default();
    *fake.stored.lock().unwrap() = Some(7);
    let mut bench = Bench::new(fake).pinned_to(Processor::Fallback, 7, Duration::from_secs(120));
    assert_eq!(bench.step().await, Step::Booked(Processor::Fallback));
    assert!(bench.fake.calls().is_empty(), "asked, not re-sent");
    assert_eq!(bench.fake.booked()[0].requested_at, 7);
}

#[tokio::test]
async fn an_unknown_call_quiet_past_the_grace_and_not_stored_is_freed() {
    let mut bench =
        Bench::new(Fake::default()).pinned_to(Processor::Fallback, 7, Duration::from_secs(120));
    assert_eq!(bench.step().await, Step::Retry);
    assert!(bench.fake.calls().is_empty(), "asked, not re-sent");
    assert_eq!(bench.state.attempt.unresolved, None);
    assert_eq!(bench.fake.record().unresolved, None);
}

#[tokio::test]
async fn after_shutdown_the_payment_is_left_pending_without_a_call() {
    let mut bench = Bench::new(Fake::default());
    bench.trigger.trigger();
    assert_eq!(bench.step().await, Step::LeftPending);
    assert!(bench.fake.calls().is_empty());
    assert!(bench.fake.booked().is_empty());
}

#[tokio::test]
async fn an_unknown_answer_is_asked_about_next_not_re_sent() {
    // Only one POST is scripted: a second one would panic.
    let mut bench = Bench::new(Fake::answering([CallOutcome::Unknown]));
    assert_eq!(bench.step().await, Step::Retry);
    let open = bench.state.attempt.unresolved.expect("pinned");

    assert_eq!(bench.step().await, Step::Retry);
    assert_eq!(bench.fake.calls().len(), 1, "asked, not re-sent");
    assert_eq!(bench.state.attempt.unresolved, Some(open), "still pinned");
    assert_eq!(bench.fake.record().unresolved, Some(open));
}

#[tokio::test]
async fn a_pinned_payment_not_found_inside_the_grace_stays_pinned_without_a_call() {
    let mut bench =
        Bench::new(Fake::default()).pinned_to(Processor::Fallback, 7, Duration::from_secs(1));
    let open = bench.state.attempt.unresolved;
    assert_eq!(bench.step().await, Step::Retry);
    assert!(bench.fake.calls().is_empty(), "asked, not re-sent");
    assert_eq!(
        bench.state.attempt.unresolved, open,
        "a 404 inside the grace says nothing: the call may still be in the processor's delay"
    );
}

#[tokio::test]
async fn a_pinned_payment_found_stored_inside_the_grace_is_booked_without_a_call() {
    let fake = Fake::default();
    *fake.stored.lock().unwrap() = Some(7);
    let mut bench = Bench::new(fake).pinned_to(Processor::Fallback, 7, Duration::from_secs(1));
    assert_eq!(bench.step().await, Step::Booked(Processor::Fallback));
    assert!(bench.fake.calls().is_empty(), "asked, not re-sent");
    assert_eq!(bench.fake.booked()[0].requested_at, 7);
}

#[tokio::test]
async fn an_answered_resend_does_not_move_the_grace_clock_of_the_call_still_open() {
    // A 503 (busy: maybe processed behind a proxy) pins the payment; the re-send is answered
    // 500, which says nothing of the first call: the grace still counts from the first send.
    let mut bench = Bench::new(Fake::answering([
        CallOutcome::Busy { retry_after: None },
        CallOutcome::NotProcessed,
    ]));
    assert_eq!(bench.step().await, Step::Retry);
    let first = bench.state.attempt.unresolved.expect("pinned");
    assert_eq!(bench.step().await, Step::Retry);
    assert_eq!(bench.fake.calls().len(), 2, "a busy answer is re-sent");
    let open = bench.state.attempt.unresolved.expect("still pinned");
    assert_eq!(open.last_sent, first.last_sent);
    assert_eq!(open.requested_at, first.requested_at);
    assert_eq!(bench.fake.record().unresolved, Some(open));
}

#[tokio::test]
async fn a_200_for_a_payment_the_ledger_has_at_the_other_processor_is_an_alarm() {
    let mut bench = Bench::new(Fake::answering([CallOutcome::Processed]));
    let earlier = Booking {
        correlation_id: bench.state.entry.correlation_id,
        processor: Processor::Fallback,
        amount: bench.state.entry.amount,
        requested_at: 1,
    };
    bench.fake.booked.lock().unwrap().push(earlier);
    assert_eq!(bench.step().await, Step::Booked(Processor::Default));
    assert_eq!(bench.fake.booked(), vec![earlier], "the ledger keeps its first row");
    assert_eq!(*bench.fake.acknowledged.lock().unwrap(), 1);
    let metrics = bench.metrics.render(None);
    assert!(
        metrics.contains("rinha_ledger_conflicts_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("rinha_bookings_total{processor=\"default\"} 0"));
}

#[tokio::test]
async fn an_unreadable_attempt_record_is_resolved_by_asking_both_processors_not_treated_as_fresh() {
    // Were the record taken as fresh, the payment would be paid at the default (scripted 200).
    let fake = Fake::answering([CallOutcome::Processed]);
    *fake.record.lock().unwrap() = Some("v9|garbage".to_owned());
    *fake.stored.lock().unwrap() = Some(7);
    *fake.stored_only_at.lock().unwrap() = Some(Processor::Fallback);
    let mut bench = Bench::new(fake);
    bench.process_redelivered().await;
    assert!(bench.fake.calls().is_empty(), "asked, never called");
    let asked = bench.fake.asked.lock().unwrap().clone();
    assert!(asked.contains(&Processor::Default) && asked.contains(&Processor::Fallback));
    let booked = bench.fake.booked();
    assert_eq!(booked.len(), 1);
    assert_eq!(
        (booked[0].processor, booked[0].requested_at),
        (Processor::Fallback, 7)
    );
}

#[tokio::test]
async fn an_unreadable_attempt_record_found_nowhere_waits_the_grace_before_a_call() {
    let fake = Fake::answering([CallOutcome::Processed]);
    *fake.record.lock().unwrap() = Some("garbage".to_owned());
    let mut bench = Bench::new(fake);
    bench.unknown_grace = Duration::from_millis(600);
    let started = std::time::Instant::now();
    bench.process_redelivered().await;
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "called after {:?}, inside the grace",
        started.elapsed()
    );
    assert_eq!(bench.fake.booked().len(), 1);
    assert_eq!(bench.fake.calls().len(), 1);
}
