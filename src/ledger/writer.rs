//! Bookings, written by group commit ([`crate::group_commit`]): one statement per batch.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::{Ledger, LedgerError};
use crate::domain::{Amount, CorrelationId, Millis, Processor, now_millis};
use crate::group_commit::GroupCommit;

/// One payment a processor accepted, to be written to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Booking {
    pub correlation_id: CorrelationId,
    pub processor: Processor,
    pub amount: Amount,
    pub requested_at: Millis,
}

/// What writing one booking found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Booked {
    /// The row is new.
    New,
    /// The ledger already had this payment for the same processor (booked before a crash, a
    /// reclaim, a delivery again): nothing changed.
    Again,
    /// The ledger has this payment for another processor: it was paid at both. The ledger keeps
    /// its first row; the caller raises the alarm.
    Conflict { booked_at: Processor },
}

/// Sends bookings to the single writer task.
#[derive(Clone)]
pub struct BookingWriter {
    batches: GroupCommit<Booking, Result<Booked, String>>,
    audit_slack: Duration,
}

/// Whether a booking is written at once instead of waiting the linger for company: when its
/// payment is already half the audit slack old. An audit counts a payment at the processor as
/// soon as the processor stores it once its `requestedAt` is a slack old; from then on, every
/// millisecond before our booking commits is a chance of the 35 % fine. Fresh bookings (a fast
/// processor's) commit long before that, and keep sharing commits.
fn books_at_once(booking: &Booking, now: Millis, audit_slack: Duration) -> bool {
    now - booking.requested_at >= audit_slack.as_millis() as Millis / 2
}

/// Most bookings written by one statement.
const MAX_BATCH: usize = 512;

/// How long a booking waits for others to share its statement and commit. Calls end one by one,
/// so without a linger a drain committed (and flushed the WAL for) one or two rows at a time.
/// It delays a booking by far less than the audit's slack, which `audit_slack_ms` covers; a late
/// payment's booking does not wait it (see [`books_at_once`]).
const LINGER: Duration = Duration::from_millis(40);

impl BookingWriter {
    /// Starts the writer task on `ledger`; `audit_slack` says which bookings are late (see
    /// [`books_at_once`]).
    pub fn spawn(ledger: Ledger, audit_slack: Duration) -> Self {
        let batches = GroupCommit::spawn("booking writer", MAX_BATCH, LINGER, move |batch| {
            let ledger = ledger.clone();
            async move { write_all(&ledger, &batch).await }
        });
        Self {
            batches,
            audit_slack,
        }
    }

    /// Writes one booking; returns once it is committed (visible to the summary).
    ///
    /// A row that already exists for the id is left as it is (the unique key makes a second
    /// booking of one payment impossible), and said so: [`Booked::Again`] for the same
    /// processor, [`Booked::Conflict`] for another.
    pub async fn book(&self, booking: Booking) -> Result<Booked, String> {
        let answer = if books_at_once(&booking, now_millis(), self.audit_slack) {
            self.batches.submit_now(booking).await
        } else {
            self.batches.submit(booking).await
        };
        answer.map_err(|err| err.to_string())?
    }
}

/// One answer per booking: what [`write`] found, or its error for every booking of the batch.
async fn write_all(ledger: &Ledger, batch: &[Booking]) -> Vec<Result<Booked, String>> {
    match write(ledger, batch).await {
        Ok(found) => found.into_iter().map(Ok).collect(),
        Err(err) => {
            let err = err.to_string();
            tracing::error!(%err, size = batch.len(), "booking batch failed");
            vec![Err(err); batch.len()]
        }
    }
}

/// Inserts the batch in one statement; for the rows that already existed, one more query says
/// for which processor. Returns what each booking found, in order.
async fn write(ledger: &Ledger, batch: &[Booking]) -> Result<Vec<Booked>, LedgerError> {
    let client = ledger.pool().get().await?;
    let stmt = client
        .prepare_cached(
            "INSERT INTO payments (correlation_id, processor, amount_cents, requested_at_ms)
             SELECT id::uuid, p, c, r FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
                 AS b(id, p, c, r)
             ON CONFLICT (correlation_id) DO NOTHING
             RETURNING correlation_id::text",
        )
        .await?;
    let ids: Vec<&str> = batch.iter().map(|b| b.correlation_id.as_str()).collect();
    let processors: Vec<&str> = batch.iter().map(|b| b.processor.as_str()).collect();
    let cents: Vec<i64> = batch.iter().map(|b| b.amount.cents()).collect();
    let requested: Vec<i64> = batch.iter().map(|b| b.requested_at).collect();
    let inserted: HashSet<String> = client
        .query(&stmt, &[&ids, &processors, &cents, &requested])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let existing: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !inserted.contains(*id))
        .collect();
    let mut booked_at: HashMap<String, String> = HashMap::new();
    if !existing.is_empty() {
        let stmt = client
            .prepare_cached(
                "SELECT correlation_id::text, processor FROM payments
                 WHERE correlation_id = ANY($1::text[]::uuid[])",
            )
            .await?;
        for row in client.query(&stmt, &[&existing]).await? {
            booked_at.insert(row.get(0), row.get(1));
        }
    }
    // Two bookings of one id in one batch: the first inserted the row, the later find it.
    let mut first_in_batch: HashMap<&str, Processor> = HashMap::new();
    Ok(batch
        .iter()
        .map(|b| {
            let id = b.correlation_id.as_str();
            let existing = if inserted.contains(id) {
                match first_in_batch.get(id) {
                    None => {
                        first_in_batch.insert(id, b.processor);
                        return Booked::New;
                    }
                    Some(&p) => Some(p),
                }
            } else {
                booked_at.get(id).and_then(|p| p.parse::<Processor>().ok())
            };
            match existing {
                Some(p) if p != b.processor => Booked::Conflict { booked_at: p },
                _ => Booked::Again,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booking(requested_at: Millis) -> Booking {
        Booking {
            correlation_id: CorrelationId::parse("4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3").unwrap(),
            processor: Processor::Default,
            amount: Amount::from_cents(1990).unwrap(),
            requested_at,
        }
    }

    #[test]
    fn a_booking_half_the_audit_slack_old_is_written_at_once_and_a_fresh_one_waits() {
        let slack = Duration::from_millis(1_500);
        let now = 1_000_000;
        assert!(books_at_once(&booking(now - 750), now, slack));
        assert!(books_at_once(&booking(now - 3_000), now, slack));
        assert!(!books_at_once(&booking(now - 749), now, slack));
        assert!(!books_at_once(&booking(now - 5), now, slack));
        // A clock step back leaves it fresh rather than late.
        assert!(!books_at_once(&booking(now + 100), now, slack));
    }
}
