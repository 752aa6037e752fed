//! A fake world for one payment's steps: scripted processors, recording stores, and a bench
//! that takes steps on one payment in it. Shared by the step's unit tests.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use super::payment::{PaymentState, Step, StepContext, process, step};
use super::routing::{Routing, RoutingConfig, RoutingHandle};
use super::stores::{PaymentStore, Processors, StoreError};
use crate::domain::{Amount, Attempt, CorrelationId, Fee, Millis, Processor, now_millis};
use crate::ledger::{Booked, Booking};
use crate::metrics::Metrics;
use crate::processor::CallOutcome;
use crate::queue::QueuedPayment;
use crate::shutdown::{self, Shutdown, ShutdownTrigger};

/// Scripted processors and recording stores.
#[derive(Default)]
pub(super) struct Fake {
    /// What each `POST /payments` answers, in order.
    pub(super) answers: Mutex<VecDeque<CallOutcome>>,
    /// What `GET /payments/{id}` answers: the stored `requestedAt`, or `None` for a 404.
    pub(super) stored: Mutex<Option<Millis>>,
    /// When set, only this processor has the payment; the other answers 404.
    pub(super) stored_only_at: Mutex<Option<Processor>>,
    /// Every `GET /payments/{id}` asked, by processor.
    pub(super) asked: Mutex<Vec<Processor>>,
    /// Every call made: processor and `requestedAt`.
    pub(super) calls: Mutex<Vec<(Processor, Millis)>>,
    /// The latest attempt record written.
    pub(super) record: Mutex<Option<String>>,
    pub(super) booked: Mutex<Vec<Booking>>,
    pub(super) dead_letters: Mutex<Vec<String>>,
    pub(super) acknowledged: Mutex<u32>,
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
        if self
            .stored_only_at
            .lock()
            .unwrap()
            .is_some_and(|only| only != p)
        {
            return Ok(None);
        }
        Ok(*self.stored.lock().unwrap())
    }
}

impl Fake {
    pub(super) fn answering(answers: impl IntoIterator<Item = CallOutcome>) -> Self {
        let fake = Self::default();
        fake.answers.lock().unwrap().extend(answers);
        fake
    }
    pub(super) fn calls(&self) -> Vec<(Processor, Millis)> {
        self.calls.lock().unwrap().clone()
    }
    pub(super) fn booked(&self) -> Vec<Booking> {
        self.booked.lock().unwrap().clone()
    }
    /// The attempt record as last written.
    pub(super) fn record(&self) -> Attempt {
        Attempt::decode(self.record.lock().unwrap().as_deref().expect("a record")).unwrap()
    }
}

/// One fake world, routing with the default processor cheaper, and a payment to take steps on.
pub(super) struct Bench {
    pub(super) fake: Fake,
    pub(super) routing: RoutingHandle,
    pub(super) metrics: Metrics,
    pub(super) unknown_grace: Duration,
    pub(super) state: PaymentState,
    pub(super) trigger: ShutdownTrigger,
    pub(super) shutdown: Shutdown,
}

fn routing(settlement_delay: Duration) -> Routing {
    Routing::new(RoutingConfig {
        fees: [Fee::parse("0.05").unwrap(), Fee::parse("0.15").unwrap()],
        audit_slack: Duration::from_millis(10_000),
        max_inflight: 3,
        probe_interval: Duration::from_millis(500),
        misconfigured_pause: Duration::from_millis(10_000),
        settlement_delay,
        max_calls_per_sec: 0,
    })
}

impl Bench {
    pub(super) fn new(fake: Fake) -> Self {
        let routing = routing(Duration::ZERO);
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

    /// Routing that holds payments for an unusable cheaper processor up to `delay`.
    pub(super) fn settlement_delay(mut self, delay: Duration) -> Self {
        self.routing = RoutingHandle::new(routing(delay));
        self
    }

    /// The payment was accepted (by Redis) `ago` before now.
    pub(super) fn accepted_ago(mut self, ago: Duration) -> Self {
        self.state.entry.accepted_at = now_millis() - ago.as_millis() as Millis;
        self
    }

    /// Runs the whole payment as the worker does, from its queue entry delivered for the first time.
    pub(super) async fn process_new(&mut self) {
        let ctx = StepContext {
            world: &self.fake,
            routing: &self.routing,
            metrics: &self.metrics,
            unknown_grace: self.unknown_grace,
        };
        process(&ctx, self.state.entry.clone(), self.shutdown.clone()).await;
    }

    /// A payment pinned to `p` by an unresolved call sent `quiet_for` ago.
    pub(super) fn pinned_to(
        mut self,
        p: Processor,
        requested_at: Millis,
        quiet_for: Duration,
    ) -> Self {
        let sent = now_millis() - quiet_for.as_millis() as Millis;
        let mut attempt = Attempt::FRESH.before_call(p, requested_at);
        attempt.unresolved.as_mut().unwrap().last_sent = sent;
        self.state.attempt = attempt;
        self
    }

    /// The open call's latest answer was busy, so the next step re-sends it.
    pub(super) fn after_a_busy_answer(mut self) -> Self {
        self.state.resend = true;
        self
    }

    /// Runs the whole payment as the worker does, from its queue entry delivered again.
    pub(super) async fn process_redelivered(&mut self) {
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

    pub(super) async fn step(&mut self) -> Step {
        let ctx = StepContext {
            world: &self.fake,
            routing: &self.routing,
            metrics: &self.metrics,
            unknown_grace: self.unknown_grace,
        };
        step(&ctx, &mut self.state, &mut self.shutdown).await
    }
}
