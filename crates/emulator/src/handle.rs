//! The test-side view of a running emulator: inspect its ledger and limits, turn its knobs
//! and script faults, all without HTTP.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::correlation::CorrelationId;
use super::faults::Faults;
use super::state::ProcessorState;
use super::store::{StoredPayment, Totals};
use crate::fee::Fee;

/// How often [`EmulatorHandle::wait_until`] looks again.
const POLL_EVERY: Duration = Duration::from_millis(2);

/// Inspects and scripts one emulator. Cheap to clone; every clone sees the same emulator.
#[derive(Debug, Clone)]
pub struct EmulatorHandle {
    state: Arc<ProcessorState>,
}

impl EmulatorHandle {
    pub(crate) fn new(state: Arc<ProcessorState>) -> Self {
        Self { state }
    }

    /// The fault script of `POST /payments` and its received-calls counter.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// How many `POST /payments` requests arrived so far (see [`Faults::payments_received`]).
    pub fn payments_received(&self) -> u64 {
        self.state.faults.payments_received()
    }

    /// The configured fee per transaction.
    pub fn fee(&self) -> Fee {
        self.state.fee
    }

    /// The current delay in ms.
    pub fn delay_ms(&self) -> i32 {
        self.state.settings.delay_ms()
    }

    /// Sets the delay, as `PUT /admin/configurations/delay` does.
    pub fn set_delay_ms(&self, delay_ms: i32) {
        self.state.settings.set_delay_ms(delay_ms);
    }

    /// Whether failure mode is on.
    pub fn failing(&self) -> bool {
        self.state.settings.failing()
    }

    /// Turns failure mode on or off, as `PUT /admin/configurations/failure` does.
    pub fn set_failure(&self, failure: bool) {
        self.state.settings.set_failure(failure);
    }

    /// The admin token now expected.
    pub fn token(&self) -> String {
        self.state.settings.token()
    }

    /// The stored payment with this id (any UUID spelling), if any.
    pub fn payment(&self, id: &str) -> Option<StoredPayment> {
        let id = CorrelationId::parse_lenient(id).ok()?;
        self.state.store.get(id)
    }

    /// How many payments are stored.
    pub fn payment_count(&self) -> usize {
        self.state.store.len()
    }

    /// Count and sum of every stored payment.
    pub fn totals(&self) -> Totals {
        self.state.store.totals(None)
    }

    /// Forgets every stored payment, as `POST /admin/purge-payments` does.
    pub fn purge(&self) {
        self.state.store.purge();
    }

    /// `POST /payments` holding a processing slot now.
    pub fn in_flight(&self) -> usize {
        self.state.inflight.in_flight()
    }

    /// `POST /payments` waiting for a processing slot now.
    pub fn queued(&self) -> usize {
        self.state.inflight.queued()
    }

    /// Health calls waiting for a later rate-limit window now.
    pub fn health_waiting(&self) -> usize {
        self.state.health_waiting.load(Ordering::Acquire)
    }

    /// Waits until `condition` holds, looking every 2 ms, for at most `timeout`; returns
    /// whether it held. Lets a test await an event ("the payment is stored", "two calls are
    /// queued") with a bound, instead of sleeping a guessed time.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&Self) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if condition(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Waits for at most `timeout` until the payment `id` is stored, and returns it.
    pub async fn wait_for_payment(&self, id: &str, timeout: Duration) -> Option<StoredPayment> {
        self.wait_until(timeout, |h| h.payment(id).is_some()).await;
        self.payment(id)
    }
}
