//! Fault hooks: misbehaviour the official processor never shows, scripted by tests.
//!
//! A test of the main service needs to see how it copes with answers a real processor
//! gives only under stress (429 with `Retry-After`, 503, 408, ...), with a payment whose
//! outcome it cannot know (stored, but the connection dropped before the answer), and
//! with a processor that never answers. [`Faults`] is a queue of such one-shot faults,
//! consumed in arrival order by the next valid `POST /payments` calls.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One scripted misbehaviour of `POST /payments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status at once (no delay, nothing stored) with an empty body, and with a
    /// `Retry-After: <seconds>` header when given.
    Status {
        /// The HTTP status to answer, e.g. 400, 401, 404, 408, 429, 503.
        status: u16,
        /// The `Retry-After` header's value in seconds, if any.
        retry_after: Option<u32>,
    },
    /// Process the payment (delay, then store it even in failure mode, unless it is a
    /// duplicate), then drop the connection without answering. The client cannot know the
    /// outcome, but the payment IS stored.
    StoreThenDrop,
    /// Never answer and never store; the connection stays open until the client gives up.
    Hang,
    /// Answer this redirect status (301, 302, 307…) at once with `Location: location`, storing
    /// nothing: a processor URL that moved, or a proxy in front of it.
    Redirect {
        /// The HTTP status to answer.
        status: u16,
        /// The `Location` header's value.
        location: String,
    },
}

impl Fault {
    /// [`Fault::Status`] without `Retry-After`.
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            retry_after: None,
        }
    }

    /// [`Fault::Status`] with `Retry-After: seconds`.
    pub fn status_retry_after(status: u16, seconds: u32) -> Self {
        Self::Status {
            status,
            retry_after: Some(seconds),
        }
    }
}

/// The scripted faults of one emulator, plus a count of the payment calls it received.
///
/// Cheap to clone; every clone scripts the same emulator.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    queue: Mutex<VecDeque<Fault>>,
    received: AtomicU64,
}

impl Faults {
    /// No fault scripted, nothing received.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `times` valid `POST /payments` calls (after the ones already
    /// scripted) misbehave as `fault`.
    pub fn push(&self, fault: Fault, times: usize) {
        self.queue().extend(std::iter::repeat_n(fault, times));
    }

    /// Forgets every scripted fault not yet used.
    pub fn clear(&self) {
        self.queue().clear();
    }

    /// How many scripted faults are not used yet.
    pub fn pending(&self) -> usize {
        self.queue().len()
    }

    /// How many `POST /payments` requests arrived (all of them: refused, invalid, faulty).
    pub fn payments_received(&self) -> u64 {
        self.inner.received.load(Ordering::Acquire)
    }

    /// Counts one arriving `POST /payments`.
    pub(crate) fn record_received(&self) {
        self.inner.received.fetch_add(1, Ordering::AcqRel);
    }

    /// The fault for the call being processed now, if one is scripted.
    pub(crate) fn take(&self) -> Option<Fault> {
        self.queue().pop_front()
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Fault>> {
        // Each operation is one VecDeque call: a poisoned lock still holds a valid queue.
        self.inner.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_used_once_in_order() {
        let faults = Faults::new();
        faults.push(Fault::status(503), 2);
        faults.push(Fault::Hang, 1);
        assert_eq!(faults.pending(), 3);
        assert_eq!(faults.take(), Some(Fault::status(503)));
        assert_eq!(faults.take(), Some(Fault::status(503)));
        assert_eq!(faults.take(), Some(Fault::Hang));
        assert_eq!(faults.take(), None);
    }

    #[test]
    fn clear_forgets_unused_faults() {
        let faults = Faults::new();
        faults.push(Fault::StoreThenDrop, 5);
        faults.clear();
        assert_eq!(faults.take(), None);
    }
}
