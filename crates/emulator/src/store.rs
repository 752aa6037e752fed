//! The processor's in-memory ledger of processed payments.
//!
//! The official processor keeps them in PostgreSQL with the correlation id as primary key;
//! a test double only needs a map behind a lock. Inserting is the one place that decides
//! "new" versus "duplicate", so two concurrent requests with the same id store it once.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::correlation::CorrelationId;

/// One processed payment, as the processor keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPayment {
    /// The payment's id.
    pub correlation_id: CorrelationId,
    /// The amount, rounded to cents.
    pub amount_cents: i64,
    /// `requestedAt` exactly as the client sent it.
    pub requested_at: String,
    /// `requestedAt` in microseconds since the Unix epoch, for range queries.
    pub requested_at_us: i64,
}

/// Whether [`Store::insert`] stored the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The id was new; the payment is now stored.
    New,
    /// The id was already stored; nothing changed.
    Duplicate,
}

/// Count and sum of a set of payments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// How many payments.
    pub count: u64,
    /// Their amounts summed, in cents.
    pub amount_cents: i64,
}

/// An inclusive range of `requestedAt` instants, in microseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MicrosRange {
    /// Earliest instant included.
    pub from: i64,
    /// Latest instant included.
    pub to: i64,
}

impl MicrosRange {
    fn contains(self, at: i64) -> bool {
        self.from <= at && at <= self.to
    }
}

/// The payments a processor has stored, keyed by correlation id.
#[derive(Debug, Default)]
pub struct Store {
    payments: Mutex<HashMap<CorrelationId, StoredPayment>>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CorrelationId, StoredPayment>> {
        // A panic while holding this lock cannot leave the map half-updated (every
        // operation is a single map call), so a poisoned lock is still consistent.
        self.payments.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `payment` unless its id is already stored.
    pub fn insert(&self, payment: StoredPayment) -> Inserted {
        let mut payments = self.lock();
        if payments.contains_key(&payment.correlation_id) {
            return Inserted::Duplicate;
        }
        payments.insert(payment.correlation_id, payment);
        Inserted::New
    }

    /// The stored payment with this id.
    pub fn get(&self, id: CorrelationId) -> Option<StoredPayment> {
        self.lock().get(&id).cloned()
    }

    /// How many payments are stored.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Count and sum of the payments whose `requestedAt` lies in `range` (all when `None`).
    pub fn totals(&self, range: Option<MicrosRange>) -> Totals {
        self.lock()
            .values()
            .filter(|p| range.is_none_or(|r| r.contains(p.requested_at_us)))
            .fold(Totals::default(), |t, p| Totals {
                count: t.count + 1,
                amount_cents: t.amount_cents + p.amount_cents,
            })
    }

    /// Forgets every payment.
    pub fn purge(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(n: u128, cents: i64, at: i64) -> StoredPayment {
        StoredPayment {
            correlation_id: CorrelationId::parse_lenient(&format!("{n:032x}")).unwrap(),
            amount_cents: cents,
            requested_at: format!("t{at}"),
            requested_at_us: at,
        }
    }

    #[test]
    fn stores_an_id_once() {
        let store = Store::new();
        assert_eq!(store.insert(payment(1, 100, 0)), Inserted::New);
        assert_eq!(store.insert(payment(1, 999, 5)), Inserted::Duplicate);
        assert_eq!(
            store.get(payment(1, 0, 0).correlation_id),
            Some(payment(1, 100, 0))
        );
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn totals_count_an_inclusive_range() {
        let store = Store::new();
        for (n, at) in [(1, 10), (2, 20), (3, 30), (4, 40)] {
            store.insert(payment(n, 1990, at));
        }
        let range = |from, to| Some(MicrosRange { from, to });
        assert_eq!(
            store.totals(range(20, 30)),
            Totals {
                count: 2,
                amount_cents: 3980
            }
        );
        assert_eq!(store.totals(range(21, 29)).count, 0);
        assert_eq!(
            store.totals(None),
            Totals {
                count: 4,
                amount_cents: 7960
            }
        );
    }

    #[test]
    fn purge_forgets_everything() {
        let store = Store::new();
        store.insert(payment(1, 1, 1));
        store.purge();
        assert_eq!(store.len(), 0);
        assert_eq!(store.totals(None), Totals::default());
    }
}
