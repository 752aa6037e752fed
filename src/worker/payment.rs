//! One payment's life in the worker: route, record the attempt, call, act on the outcome.

use std::time::Duration;

use super::WorkerContext;
use super::attempt::Attempt;
use super::routing::Ticket;
use crate::domain::{Millis, Processor, now_millis};
use crate::ledger::Booking;
use crate::processor::CallOutcome;
use crate::queue::QueuedPayment;
use crate::shutdown::Shutdown;

/// How long a task waits for a route before looking again, when nothing wakes it sooner.
const ROUTE_RECHECK: Duration = Duration::from_millis(250);
/// Pause before retrying a Redis or ledger write that failed.
const STORE_RETRY: Duration = Duration::from_millis(200);

/// Processes one payment until it is booked or dead-lettered, or until shutdown leaves it
/// pending (with its attempt record) for whoever continues it.
pub async fn process(ctx: &WorkerContext, entry: QueuedPayment, mut shutdown: Shutdown) {
    let id = entry.correlation_id;
    // The hold for a failing cheaper processor counts from here, not from each retry: a payment
    // that keeps serving as that processor's probe must still reach the other one in time.
    let since = now_millis();
    let mut attempt = Attempt::FRESH;
    if entry.redelivered {
        match resume_state(ctx, &entry).await {
            Some(a) => attempt = a,
            None => return,
        }
    }

    loop {
        let Some(ticket) = wait_for_route(ctx, &attempt, since, &mut shutdown).await else {
            return;
        };
        let p = ticket.processor;

        // A call unresolved for longer than any processor delay since it was last sent: ask
        // instead of re-sending.
        if let Some(open) = attempt.unresolved
            && now_millis() - open.last_sent > ctx.settings.unknown_grace.as_millis() as Millis
        {
            let answer = ctx.client(p).stored(&id).await;
            ctx.routing.cancel(ticket);
            match answer {
                Ok(Some(stored)) => {
                    return book(ctx, &entry, p, stored.requested_at).await;
                }
                Ok(None) => {
                    tracing::info!(correlation_id = %id, processor = %p, "unknown call resolved: not processed");
                    attempt = attempt.after_not_processed(false);
                    save_attempt(ctx, &entry, &attempt, &mut shutdown).await;
                }
                Err(err) => {
                    tracing::warn!(correlation_id = %id, processor = %p, %err, "could not resolve unknown call");
                    sleep_or_shutdown(STORE_RETRY, &mut shutdown).await;
                }
            }
            continue;
        }

        let pinned_before = attempt.unresolved.is_some();
        let next = attempt.before_call(p, now_millis());
        if !save_attempt(ctx, &entry, &next, &mut shutdown).await {
            ctx.routing.cancel(ticket);
            return;
        }
        attempt = next;
        let requested_at = attempt
            .unresolved
            .expect("before_call always opens the attempt")
            .requested_at;

        ctx.metrics.call_started(p);
        let started = now_millis();
        let outcome = ctx.client(p).pay(&id, entry.amount, requested_at).await;
        let finished = now_millis();
        ctx.metrics
            .call_finished(p, outcome, (finished - started).max(0) as u64);
        if let Some(failing) = ctx.routing.finish(ticket, outcome, finished) {
            tracing::info!(processor = %p, failing, "processor health changed by a live call");
        }

        match outcome {
            CallOutcome::Processed => return book(ctx, &entry, p, requested_at).await,
            CallOutcome::AlreadyProcessed => {
                // The processor stored an earlier call; its requestedAt is the one it reports.
                let stored_at = match ctx.client(p).stored(&id).await {
                    Ok(Some(stored)) => stored.requested_at,
                    _ => requested_at,
                };
                return book(ctx, &entry, p, stored_at).await;
            }
            CallOutcome::NotProcessed | CallOutcome::NotSent => {
                attempt = attempt.after_not_processed(pinned_before);
                save_attempt(ctx, &entry, &attempt, &mut shutdown).await;
            }
            CallOutcome::Unknown | CallOutcome::Busy { .. } => {
                tracing::debug!(correlation_id = %id, processor = %p, ?outcome, "retrying on the same processor");
            }
            CallOutcome::Misconfigured => {
                tracing::error!(correlation_id = %id, processor = %p, "processor answered 401/403/404: misconfigured; payment stays queued");
                if !pinned_before {
                    attempt = attempt.after_not_processed(false);
                    save_attempt(ctx, &entry, &attempt, &mut shutdown).await;
                }
            }
            CallOutcome::Rejected if !pinned_before => {
                let reason = format!("{p} answered 400 Bad Request");
                tracing::error!(correlation_id = %id, %reason, "payment dead-lettered");
                while let Err(err) = ctx.queue.dead_letter(&entry, &reason).await {
                    tracing::warn!(correlation_id = %id, %err, "dead-lettering failed; retrying");
                    if !sleep_or_shutdown(STORE_RETRY, &mut shutdown).await {
                        return;
                    }
                }
                ctx.metrics.dead_lettered();
                return;
            }
            CallOutcome::Rejected => {
                tracing::warn!(correlation_id = %id, processor = %p, "400 while an earlier call is unresolved; staying pinned");
            }
        }
    }
}

/// For an entry delivered before: finishes it if it is already booked, else returns the
/// attempt to continue from.
async fn resume_state(ctx: &WorkerContext, entry: &QueuedPayment) -> Option<Attempt> {
    let id = entry.correlation_id;
    loop {
        match ctx.ledger.booked(&id).await {
            Ok(Some(_)) => {
                tracing::info!(correlation_id = %id, "already booked; acknowledging");
                finish(ctx, entry).await;
                return None;
            }
            Ok(None) => break,
            Err(err) => {
                tracing::warn!(correlation_id = %id, %err, "ledger check failed; retrying");
                tokio::time::sleep(STORE_RETRY).await;
            }
        }
    }
    loop {
        match ctx.queue.attempt(&id).await {
            Ok(record) => {
                let attempt = record
                    .as_deref()
                    .and_then(Attempt::decode)
                    .unwrap_or(Attempt::FRESH);
                if let Some(open) = attempt.unresolved {
                    tracing::info!(correlation_id = %id, processor = %open.processor, requested_at = open.requested_at, "continuing an unresolved call");
                }
                return Some(attempt);
            }
            Err(err) => {
                tracing::warn!(correlation_id = %id, %err, "reading the attempt record failed; retrying");
                tokio::time::sleep(STORE_RETRY).await;
            }
        }
    }
}

/// Waits until routing allows a call for this payment; `None` on shutdown.
async fn wait_for_route(
    ctx: &WorkerContext,
    attempt: &Attempt,
    since: Millis,
    shutdown: &mut Shutdown,
) -> Option<Ticket> {
    loop {
        if shutdown.is_triggered() {
            return None;
        }
        // Register interest before looking, so a wake-up between the look and the wait is kept.
        let changed = ctx.routing.changed();
        let pinned = attempt.unresolved.map(|open| open.processor);
        let ticket = ctx.routing.choose(pinned, now_millis(), since);
        if ticket.is_some() {
            return ticket;
        }
        tokio::select! {
            _ = shutdown.wait() => return None,
            _ = changed => {}
            _ = tokio::time::sleep(ROUTE_RECHECK) => {}
        }
    }
}

/// Writes the attempt record, retrying while Redis is unreachable; false on shutdown.
async fn save_attempt(
    ctx: &WorkerContext,
    entry: &QueuedPayment,
    attempt: &Attempt,
    shutdown: &mut Shutdown,
) -> bool {
    let record = attempt.encode();
    loop {
        match ctx.queue.set_attempt(&entry.correlation_id, &record).await {
            Ok(()) => return true,
            Err(err) => {
                tracing::warn!(correlation_id = %entry.correlation_id, %err, "writing the attempt record failed; retrying");
                if !sleep_or_shutdown(STORE_RETRY, shutdown).await {
                    return false;
                }
            }
        }
    }
}

/// Books a processed payment, then acknowledges it. Retries until both succeed: the processor
/// has the payment, so the ledger must get it too (a crash in between is healed by the reclaim
/// path, which finds the attempt record and gets a 422).
async fn book(ctx: &WorkerContext, entry: &QueuedPayment, p: Processor, requested_at: Millis) {
    let booking = Booking {
        correlation_id: entry.correlation_id,
        processor: p,
        amount: entry.amount,
        requested_at,
    };
    while let Err(err) = ctx.writer.book(booking).await {
        tracing::warn!(correlation_id = %entry.correlation_id, %err, "booking failed; retrying");
        tokio::time::sleep(STORE_RETRY).await;
    }
    ctx.metrics.booked(p);
    tracing::debug!(correlation_id = %entry.correlation_id, processor = %p, requested_at, "booked");
    finish(ctx, entry).await;
}

async fn finish(ctx: &WorkerContext, entry: &QueuedPayment) {
    let done = [(entry.entry_id.clone(), entry.correlation_id)];
    while let Err(err) = ctx.queue.finish(&done).await {
        tracing::warn!(correlation_id = %entry.correlation_id, %err, "acknowledging failed; retrying");
        tokio::time::sleep(STORE_RETRY).await;
    }
}

/// Sleeps; false when shutdown began instead.
async fn sleep_or_shutdown(d: Duration, shutdown: &mut Shutdown) -> bool {
    tokio::select! {
        _ = shutdown.wait() => false,
        _ = tokio::time::sleep(d) => true,
    }
}
