//! Every Redis key this service owns, in one place.

/// The stream of accepted payments waiting to be processed.
pub const PAYMENTS: &str = "rinha:payments";
/// The consumer group all workers share.
pub const GROUP: &str = "workers";
/// Hash: correlation id → amount in cents, for every accepted payment: the unbounded dedupe set
/// of earlier versions, no longer written; only purged.
pub const ACCEPTED: &str = "rinha:accepted";
/// Prefix of the dedupe buckets: hash `rinha:accepted:<bucket number>`, correlation id → amount
/// in cents, for the payments accepted in that bucket of time; each expires whole (see
/// `enqueue.lua`).
pub const ACCEPTED_BUCKET_PREFIX: &str = "rinha:accepted:";
/// Hash: correlation id → the latest attempt record (see `domain::Attempt`).
pub const ATTEMPTS: &str = "rinha:attempts";
/// Stream of payments a processor rejected as invalid.
pub const DEAD: &str = "rinha:dead";
/// Hash: correlation id → why it was dead-lettered.
pub const DEAD_IDS: &str = "rinha:dead-ids";

/// The shared health view of one processor.
pub fn health(processor: &str) -> String {
    format!("rinha:health:{processor}")
}

/// The lease that makes exactly one instance poll one processor's health.
pub fn health_lease(processor: &str) -> String {
    format!("rinha:health-lease:{processor}")
}
