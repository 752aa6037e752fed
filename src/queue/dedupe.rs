//! The dedupe window's arithmetic: how long an accepted id is remembered, in buckets.

use std::time::Duration;

/// The dedupe window when none is configured (the `dedupe_window_ms` default; see the README
/// for its memory cost).
pub const DEFAULT_DEDUPE_WINDOW: Duration = Duration::from_secs(120);

/// How long an accepted correlation id is remembered for deduplication, as the enqueue script
/// keeps it: in hashes per time bucket that expire whole (Redis 7.0 has no per-field expiry).
///
/// A window spans [`DedupeWindow::SPANS`] buckets; an id is remembered from its acceptance for
/// at least the window and less than the window plus one bucket, and Redis holds at most that
/// many seconds of ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupeWindow {
    pub(super) bucket_ms: u64,
}

impl DedupeWindow {
    /// Buckets per window: more buckets waste less memory past the window (a quarter here) but
    /// cost one more `HGET` per enqueue each.
    pub const SPANS: u64 = 4;

    /// The window, rounded up to a whole number of milliseconds per bucket.
    pub fn new(window: Duration) -> Self {
        let ms = window.as_millis().max(1) as u64;
        Self {
            bucket_ms: ms.div_ceil(Self::SPANS),
        }
    }

    /// The guaranteed memory: how long an id is remembered at least.
    pub fn window(&self) -> Duration {
        Duration::from_millis(self.bucket_ms * Self::SPANS)
    }

    /// The longest an id (and its memory) is kept: the window plus one bucket.
    pub fn retention(&self) -> Duration {
        Duration::from_millis(self.bucket_ms * (Self::SPANS + 1))
    }
}
