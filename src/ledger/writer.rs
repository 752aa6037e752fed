//! Group commit of bookings: whatever arrived while the previous batch was being written goes
//! into the next one, so a booking waits for at most one batch and never for a timer.

use tokio::sync::{mpsc, oneshot};

use super::{Ledger, LedgerError};
use crate::domain::{Amount, CorrelationId, Millis, Processor};

/// One payment a processor accepted, to be written to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Booking {
    pub correlation_id: CorrelationId,
    pub processor: Processor,
    pub amount: Amount,
    pub requested_at: Millis,
}

type Request = (Booking, oneshot::Sender<Result<(), String>>);

/// Sends bookings to the single writer task.
#[derive(Clone)]
pub struct BookingWriter {
    tx: mpsc::Sender<Request>,
}

/// Most bookings written by one statement.
const MAX_BATCH: usize = 512;

impl BookingWriter {
    /// Starts the writer task on `ledger`.
    pub fn spawn(ledger: Ledger) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(ledger, rx));
        Self { tx }
    }

    /// Writes one booking; returns once it is committed (visible to the summary).
    ///
    /// A row that already exists for the id is left as it is: the unique key makes a second
    /// booking of one payment impossible.
    pub async fn book(&self, booking: Booking) -> Result<(), String> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((booking, done))
            .await
            .map_err(|_| "booking writer stopped".to_owned())?;
        wait.await
            .map_err(|_| "booking writer stopped".to_owned())?
    }
}

async fn run(ledger: Ledger, mut rx: mpsc::Receiver<Request>) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let result = write(&ledger, &batch).await.map_err(|e| e.to_string());
        if let Err(err) = &result {
            tracing::error!(%err, size = batch.len(), "booking batch failed");
        }
        for (_, done) in batch.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}

async fn write(ledger: &Ledger, batch: &[Request]) -> Result<(), LedgerError> {
    let client = ledger.pool().get().await?;
    let stmt = client
        .prepare_cached(
            "INSERT INTO payments (correlation_id, processor, amount_cents, requested_at_ms)
             SELECT id::uuid, p, c, r FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
                 AS b(id, p, c, r)
             ON CONFLICT (correlation_id) DO NOTHING",
        )
        .await?;
    let ids: Vec<&str> = batch
        .iter()
        .map(|(b, _)| b.correlation_id.as_str())
        .collect();
    let processors: Vec<&str> = batch.iter().map(|(b, _)| b.processor.as_str()).collect();
    let cents: Vec<i64> = batch.iter().map(|(b, _)| b.amount.cents()).collect();
    let requested: Vec<i64> = batch.iter().map(|(b, _)| b.requested_at).collect();
    let inserted = client
        .execute(&stmt, &[&ids, &processors, &cents, &requested])
        .await?;
    if inserted as usize != batch.len() {
        tracing::warn!(
            inserted,
            size = batch.len(),
            "some bookings already existed; kept the first"
        );
    }
    Ok(())
}
