//! Talking to the payment processors: the HTTP client and what each answer means.

mod client;
mod outcome;

pub use client::{HealthReport, ProcessorClient, StoredPayment};
pub use outcome::{CallOutcome, classify_status};
