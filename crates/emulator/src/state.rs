//! Everything one emulated processor owns, shared by its handlers and its test handle.

use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use tokio::time::Instant;

use super::config::EmulatorConfig;
use super::faults::Faults;
use super::limits::{FixedWindow, InflightLimit};
use super::settings::Settings;
use super::store::{Inserted, Store, StoredPayment};
use crate::fee::Fee;

/// One processor: ledger, knobs, limits and fault script.
#[derive(Debug)]
pub(crate) struct ProcessorState {
    pub fee: Fee,
    pub settings: Settings,
    pub store: Store,
    pub faults: Faults,
    pub inflight: InflightLimit,
    pub health: FixedWindow,
    /// Health calls now waiting for a later window (observable by tests).
    pub health_waiting: AtomicUsize,
}

/// How processing a payment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Stored: answer 200.
    Stored,
    /// The id was already stored: answer 422.
    Duplicate,
    /// Failure mode was on: answer 500, nothing stored.
    Failed,
}

impl ProcessorState {
    pub fn new(config: EmulatorConfig) -> Self {
        Self {
            fee: config.fee,
            settings: Settings::new(config.delay_ms, config.failure, config.token),
            store: Store::new(),
            faults: Faults::new(),
            inflight: InflightLimit::new(config.max_inflight, config.max_queued),
            health: FixedWindow::new(Instant::now(), config.health_window, config.health_queue),
            health_waiting: AtomicUsize::new(0),
        }
    }

    /// Waits the current delay, then fails (if failure mode is on and `ignore_failure` is
    /// not set) or stores the payment.
    ///
    /// The failure mode is read *after* the delay, as the official processor's filters do:
    /// a failing call still takes the whole delay.
    pub async fn process(&self, payment: StoredPayment, ignore_failure: bool) -> Outcome {
        let delay = self.settings.delay_ms();
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay.unsigned_abs().into())).await;
        }
        if self.settings.failing() && !ignore_failure {
            return Outcome::Failed;
        }
        match self.store.insert(payment) {
            Inserted::New => Outcome::Stored,
            Inserted::Duplicate => Outcome::Duplicate,
        }
    }

    /// `Retry-After` of a 429, in seconds: the health window rounded up, as the official
    /// processor sends its `RATE_LIMIT_SECONDS`.
    pub fn retry_after_secs(&self) -> u64 {
        let window = self.health.window();
        (window.as_secs() + u64::from(window.subsec_nanos() > 0)).max(1)
    }
}
