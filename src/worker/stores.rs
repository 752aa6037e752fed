//! What one payment's steps need from the outside world, as two small traits: the stores
//! (Redis for attempt records, dead letters and acknowledgements; PostgreSQL for bookings) and
//! the processors. The worker implements them on its context; the step's unit tests on fakes.

use std::future::Future;

use crate::domain::{Amount, CorrelationId, Millis, Processor};
use crate::ledger::{Booked, Booking};
use crate::processor::CallOutcome;
use crate::queue::QueuedPayment;

/// Why a store or a processor could not answer; only ever logged, then retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

impl StoreError {
    const NOT_HELD: &str = "this worker no longer holds the payment's stream entry";

    /// The attempt record was not written because another worker reclaimed the payment.
    pub fn not_held() -> Self {
        Self(Self::NOT_HELD.to_owned())
    }

    /// True for [`StoreError::not_held`]: retrying cannot help, the task must give the
    /// payment up.
    pub fn is_not_held(&self) -> bool {
        self.0 == Self::NOT_HELD
    }
}

/// The queue's per-payment records and the ledger, as one payment's steps use them.
pub trait PaymentStore: Sync {
    /// The raw attempt record of a payment, if any (see [`crate::domain::Attempt`]).
    fn attempt(
        &self,
        id: &CorrelationId,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Replaces the attempt record, while this worker holds the payment's stream entry
    /// ([`StoreError::not_held`] otherwise).
    fn set_attempt(
        &self,
        id: &CorrelationId,
        record: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Moves a refused payment to the dead-letter stream with its reason.
    fn dead_letter(
        &self,
        entry: &QueuedPayment,
        reason: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Acknowledges the stream entry and drops the attempt record: the payment is done.
    fn acknowledge(
        &self,
        entry: &QueuedPayment,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Books a processed payment in the ledger, saying whether the ledger already had it.
    fn book(&self, booking: Booking) -> impl Future<Output = Result<Booked, StoreError>> + Send;
}

/// The two payment processors, as one payment's steps call them.
pub trait Processors: Sync {
    /// `POST /payments` on `p`, classified.
    fn pay(
        &self,
        p: Processor,
        id: &CorrelationId,
        amount: Amount,
        requested_at: Millis,
    ) -> impl Future<Output = CallOutcome> + Send;
    /// `GET /payments/{id}` on `p`: the `requestedAt` it stored, or `None` if it has none.
    fn stored(
        &self,
        p: Processor,
        id: &CorrelationId,
    ) -> impl Future<Output = Result<Option<Millis>, StoreError>> + Send;
}
