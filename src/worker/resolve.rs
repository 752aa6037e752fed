//! Resolving a call whose outcome is unknown (a timeout, a reset, a crash mid-call) by asking
//! the processor (`GET /payments/{id}`), never by re-sending it.
//!
//! Why not re-send: the official processor sleeps its delay before it looks for a duplicate,
//! so a re-send into a delay longer than our timeout learns nothing and only starts another
//! unknown call; its `GET /payments/{id}` has no delay. A "not found" counts only once the
//! processor can no longer store the call: `unknown_grace` after it was sent.

use std::time::Duration;

use super::payment::{PaymentState, Step, StepContext, book, save_attempt, sleep_or_shutdown};
use super::stores::{PaymentStore, Processors};
use crate::domain::{Attempt, Millis, Processor, Unresolved, now_millis};
use crate::queue::QueuedPayment;
use crate::shutdown::Shutdown;

/// How often one unresolved call is asked about while the answer is "not found yet" or none.
pub(super) const ASK_EVERY: Duration = Duration::from_millis(500);

/// Asks `open.processor` whether it stored the payment: books it if so; frees the payment if
/// not and the grace has passed; otherwise leaves it pinned for the next question.
pub(super) async fn ask<S: PaymentStore + Processors>(
    ctx: &StepContext<'_, S>,
    state: &mut PaymentState,
    open: Unresolved,
    shutdown: &mut Shutdown,
) -> Step {
    if shutdown.is_triggered() {
        return Step::LeftPending;
    }
    if let Some(last) = state.asked_at {
        let wait = last + ASK_EVERY.as_millis() as Millis - now_millis();
        if wait > 0 && !sleep_or_shutdown(Duration::from_millis(wait as u64), shutdown).await {
            return Step::LeftPending;
        }
    }
    let id = state.entry.correlation_id;
    let p = open.processor;
    // Taken before asking: a "not found" is true at least from this moment on.
    let asked = now_millis();
    state.asked_at = Some(asked);
    match ctx.world.stored(p, &id).await {
        Ok(Some(stored_at)) => book(ctx, &state.entry, p, stored_at).await,
        Ok(None) if asked - open.last_sent > ctx.unknown_grace.as_millis() as Millis => {
            tracing::info!(correlation_id = %id, processor = %p, "unknown call resolved: not stored");
            state.attempt = state.attempt.not_stored();
            state.asked_at = None;
            save_attempt(ctx.world, &state.entry, &state.attempt, shutdown).await;
            Step::Retry
        }
        Ok(None) => Step::Retry,
        Err(err) => {
            // Debug: while a processor is down every pinned payment asks twice a second.
            tracing::debug!(correlation_id = %id, processor = %p, %err, "could not ask about an unknown call");
            Step::Retry
        }
    }
}

/// Resolves a payment whose attempt record cannot be read (a newer format, garbage): it may have
/// been sent to either processor, so both are asked. Books it where it is stored; when neither
/// has it once `unknown_grace` has passed since we began (any call was sent before that), writes
/// a readable record and returns it, free to go anywhere. `None` when it is done (booked) or
/// shutdown began (left pending, still unreadable, for whoever continues it).
pub(super) async fn ask_both<S: PaymentStore + Processors>(
    ctx: &StepContext<'_, S>,
    entry: &QueuedPayment,
    shutdown: &mut Shutdown,
) -> Option<Attempt> {
    let id = entry.correlation_id;
    let began = now_millis();
    loop {
        if shutdown.is_triggered() {
            return None;
        }
        let asked = now_millis();
        let mut found = Vec::new();
        let mut all_answered = true;
        for p in Processor::ALL {
            match ctx.world.stored(p, &id).await {
                Ok(Some(stored_at)) => found.push((p, stored_at)),
                Ok(None) => {}
                Err(err) => {
                    all_answered = false;
                    tracing::debug!(correlation_id = %id, processor = %p, %err, "could not ask about a payment with an unreadable record");
                }
            }
        }
        if let [(p, stored_at), rest @ ..] = found.as_slice() {
            for (other, _) in rest {
                ctx.metrics.ledger_conflict();
                tracing::error!(correlation_id = %id, paid_at = %other, booked_at = %p, "LEDGER CONFLICT: stored by both processors: charged twice");
            }
            book(ctx, entry, *p, *stored_at).await;
            return None;
        }
        if all_answered && asked - began > ctx.unknown_grace.as_millis() as Millis {
            tracing::info!(correlation_id = %id, "stored by neither processor; continuing as not sent");
            let attempt = Attempt::FRESH;
            if !save_attempt(ctx.world, entry, &attempt, shutdown).await {
                return None;
            }
            return Some(attempt);
        }
        if !sleep_or_shutdown(ASK_EVERY, shutdown).await {
            return None;
        }
    }
}
