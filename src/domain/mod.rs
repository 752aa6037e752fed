//! The payment domain: values that cannot hold invalid states, parsed once at the edge.
//!
//! Handlers and the worker only ever see these types, so no code past the parser re-checks an
//! amount's scale or an id's shape.

mod amount;
mod attempt;
mod correlation_id;
mod decimal;
mod fee;
mod payment_request;
mod processor;
mod settlement;
pub(crate) mod time;

pub use amount::{Amount, AmountError, MAX_AMOUNT_CENTS, write_cents};
pub use attempt::{Attempt, Unresolved};
pub use correlation_id::{CorrelationId, CorrelationIdError};
pub use fee::{Fee, FeeError};
pub use payment_request::{PaymentRequest, PaymentRequestError};
pub use processor::Processor;
pub use settlement::settlement_delay;
pub use time::{Millis, TimeBound, TimeBoundError, format_millis, now_millis, parse_bound};
