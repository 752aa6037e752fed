//! The ledger is asked before the first call for every payment read from the queue, one query
//! per read batch: an entry whose payment is already booked is acknowledged without a call.
//!
//! Why every entry and not only redelivered ones: a Redis that loses its append-only file's
//! tail rolls the group's last-delivered id back, so a payment that was paid, booked and
//! acknowledged comes back looking new; so does a replay older than the dedupe window. Sent
//! again, it would be paid again at whichever processor is up.

use std::time::Duration;

use super::WorkerContext;
use crate::domain::CorrelationId;
use crate::queue::QueuedPayment;
use crate::shutdown::Shutdown;

/// Pause before asking the ledger or Redis again after an error.
const RETRY: Duration = Duration::from_millis(200);

/// Acknowledges the entries whose payment the ledger already has (and stops holding them), and
/// returns the others; `None` on shutdown (the entries stay pending for whoever continues them).
pub(super) async fn without_booked(
    ctx: &WorkerContext,
    entries: Vec<QueuedPayment>,
    shutdown: &mut Shutdown,
) -> Option<Vec<QueuedPayment>> {
    if entries.is_empty() {
        return Some(entries);
    }
    let ids: Vec<CorrelationId> = entries.iter().map(|e| e.correlation_id).collect();
    let booked = loop {
        match ctx.ledger.booked_among(&ids).await {
            Ok(booked) => break booked,
            Err(err) => {
                tracing::warn!(%err, "checking the ledger before calling failed; retrying");
                if !pause(shutdown).await {
                    return None;
                }
            }
        }
    };
    if booked.is_empty() {
        return Some(entries);
    }
    let (done, rest): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|e| booked.contains(&e.correlation_id));
    for e in &done {
        if e.redelivered {
            // Booked just before a crash, a reclaim or a shutdown could acknowledge it.
            tracing::info!(correlation_id = %e.correlation_id, "already booked; acknowledging");
        } else {
            tracing::warn!(correlation_id = %e.correlation_id, entry_id = %e.entry_id, "delivered as new but already booked (Redis lost its tail, or a replay older than the dedupe window); acknowledging without a call");
        }
    }
    let acks: Vec<(String, CorrelationId)> = done
        .iter()
        .map(|e| (e.entry_id.clone(), e.correlation_id))
        .collect();
    while let Err(err) = ctx.queue.finish(&acks).await {
        tracing::warn!(%err, "acknowledging already booked entries failed; retrying");
        if !pause(shutdown).await {
            return None;
        }
    }
    let mut held = ctx.held.lock().unwrap();
    for e in &done {
        held.remove(&e.correlation_id);
    }
    ctx.metrics.already_booked(done.len() as u64);
    Some(rest)
}

/// Sleeps [`RETRY`]; false when shutdown began instead.
async fn pause(shutdown: &mut Shutdown) -> bool {
    tokio::select! {
        _ = shutdown.wait() => false,
        _ = tokio::time::sleep(RETRY) => true,
    }
}
