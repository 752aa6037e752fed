//! One payment's life in the worker, as a loop around one [`step`]: route, record the attempt,
//! call, act on the outcome (the outcome table of the README); or, while an earlier call is
//! unresolved, ask the processor about it ([`super::resolve`]).
//!
//! The step sees the outside world only through [`PaymentStore`] and [`Processors`], so each of
//! its outcomes is unit-tested with fakes; the integration suite runs it against the real ones.

use std::time::Duration;

use super::routing::{RoutingHandle, Ticket};
use super::stores::{PaymentStore, Processors};
use crate::domain::{Attempt, Millis, Processor, now_millis};
use crate::ledger::{Booked, Booking};
use crate::metrics::Metrics;
use crate::processor::CallOutcome;
use crate::queue::QueuedPayment;
use crate::shutdown::Shutdown;

/// How long a task waits for a route before looking again, when nothing wakes it sooner.
const ROUTE_RECHECK: Duration = Duration::from_millis(250);
/// Pause before retrying a Redis or ledger write that failed.
const STORE_RETRY: Duration = Duration::from_millis(200);

/// What a payment's steps share with every other payment of the worker.
pub struct StepContext<'a, S> {
    /// The stores and the processors.
    pub world: &'a S,
    pub routing: &'a RoutingHandle,
    pub metrics: &'a Metrics,
    /// The longest a processor may still store a call after it was sent: a "not found" for an
    /// unresolved call counts only once this much has passed since it was sent.
    pub unknown_grace: Duration,
}

/// One payment on its way: the queue entry, when the worker started on it, and its attempt.
#[derive(Debug, Clone)]
pub struct PaymentState {
    pub entry: QueuedPayment,
    /// The hold for a failing cheaper processor counts from here (the payment's acceptance),
    /// not from each retry: a payment that keeps serving as that processor's probe must still
    /// reach the other in time.
    pub since: Millis,
    pub attempt: Attempt,
    /// The open call's latest answer was "busy" (429, 408, another 5xx): the processor answers,
    /// so re-sending it (same processor, same `requestedAt`) resolves it. Otherwise an open call
    /// is asked about, never re-sent into a delay that outlasts our timeout.
    pub resend: bool,
    /// When the open call was last asked about, to pace the questions.
    pub asked_at: Option<Millis>,
}

impl PaymentState {
    pub fn new(entry: QueuedPayment, since: Millis, attempt: Attempt) -> Self {
        Self {
            entry,
            since,
            attempt,
            resend: false,
            asked_at: None,
        }
    }
}

/// What one step did with the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Booked in the ledger and acknowledged: done.
    Booked(Processor),
    /// Refused by a processor (400) and moved to the dead-letter stream: done.
    DeadLettered,
    /// Not done yet: take another step.
    Retry,
    /// Shutdown began: left pending, with its attempt record, for whoever continues it.
    LeftPending,
}

/// Processes one payment until it is booked or dead-lettered, or until shutdown leaves it
/// pending (with its attempt record) for whoever continues it.
pub async fn process<S: PaymentStore + Processors>(
    ctx: &StepContext<'_, S>,
    entry: QueuedPayment,
    mut shutdown: Shutdown,
) {
    let since = settlement_clock_start(&entry, now_millis());
    let attempt = if entry.redelivered {
        match resume_state(ctx.world, &entry).await {
            Some(attempt) => attempt,
            None => match super::resolve::ask_both(ctx, &entry, &mut shutdown).await {
                Some(attempt) => attempt,
                None => return,
            },
        }
    } else {
        Attempt::FRESH
    };
    let mut state = PaymentState::new(entry, since, attempt);
    while step(ctx, &mut state, &mut shutdown).await == Step::Retry {}
}

/// When the payment's wait for the cheaper processor began: when Redis accepted it. The worker
/// reads only as many payments as it has tasks, so a payment can spend most of the settlement
/// delay in the stream behind a held backlog; counting from the read would hold it for another
/// full delay and let the backlog grow by the arrivals of each one. An entry without an
/// acceptance time, or one stamped in the future by a skewed clock, counts from now.
fn settlement_clock_start(entry: &QueuedPayment, now: Millis) -> Millis {
    match entry.accepted_at {
        at if at > 0 && at <= now => at,
        _ => now,
    }
}

/// Takes one step: asks about an unresolved call, or waits for a route, records the attempt,
/// calls and acts on the outcome.
pub async fn step<S: PaymentStore + Processors>(
    ctx: &StepContext<'_, S>,
    state: &mut PaymentState,
    shutdown: &mut Shutdown,
) -> Step {
    if let Some(open) = state.attempt.unresolved
        && !state.resend
    {
        return super::resolve::ask(ctx, state, open, shutdown).await;
    }
    let world = ctx.world;
    let id = state.entry.correlation_id;
    let Some(ticket) = wait_for_route(ctx.routing, &state.attempt, state.since, shutdown).await
    else {
        return Step::LeftPending;
    };
    let p = ticket.processor;

    let before = state.attempt;
    let next = before.before_call(p, now_millis());
    if !save_attempt(world, &state.entry, &next, shutdown).await {
        ctx.routing.cancel(ticket);
        return Step::LeftPending;
    }
    state.attempt = next;
    let requested_at = next
        .unresolved
        .expect("before_call always opens the attempt")
        .requested_at;

    let outcome = call(ctx, ticket, state, requested_at).await;
    // Only a busy answer is re-sent; whatever else leaves a call open is asked about.
    state.resend = matches!(outcome, CallOutcome::Busy { .. });
    state.asked_at = None;
    let entry = &state.entry;
    match outcome {
        CallOutcome::Processed => book(ctx, entry, p, requested_at).await,
        CallOutcome::AlreadyProcessed => {
            // The processor stored an earlier call; its requestedAt is the one it reports.
            let stored_at = match world.stored(p, &id).await {
                Ok(Some(stored_at)) => stored_at,
                _ => requested_at,
            };
            book(ctx, entry, p, stored_at).await
        }
        CallOutcome::Unknown | CallOutcome::Busy { .. } => {
            tracing::debug!(correlation_id = %id, processor = %p, ?outcome, "call unresolved; staying on this processor");
            Step::Retry
        }
        CallOutcome::Rejected if before.unresolved.is_none() => {
            let reason = format!("{p} answered 400 Bad Request");
            tracing::error!(correlation_id = %id, %reason, "payment dead-lettered");
            while let Err(err) = world.dead_letter(entry, &reason).await {
                tracing::warn!(correlation_id = %id, %err, "dead-lettering failed; retrying");
                if !sleep_or_shutdown(STORE_RETRY, shutdown).await {
                    return Step::LeftPending;
                }
            }
            ctx.metrics.dead_lettered();
            Step::DeadLettered
        }
        CallOutcome::NotProcessed
        | CallOutcome::NotSent
        | CallOutcome::Misconfigured
        | CallOutcome::Rejected => {
            match outcome {
                CallOutcome::Misconfigured => {
                    tracing::error!(correlation_id = %id, processor = %p, "processor answered 401/403/404 or a redirect: misconfigured; payment stays queued");
                }
                CallOutcome::Rejected => {
                    tracing::warn!(correlation_id = %id, processor = %p, "400 while an earlier call is unresolved; staying pinned");
                }
                _ => {}
            }
            // This call was not processed; an earlier open call stays open (and asked about).
            state.attempt = next.after_not_processed(&before);
            save_attempt(world, entry, &state.attempt, shutdown).await;
            Step::Retry
        }
    }
}

/// Makes the call the ticket reserved, with its metrics, and hands the ticket back to routing.
async fn call<S: Processors>(
    ctx: &StepContext<'_, S>,
    ticket: Ticket,
    state: &PaymentState,
    requested_at: Millis,
) -> CallOutcome {
    let p = ticket.processor;
    let entry = &state.entry;
    ctx.metrics.call_started(p);
    let started = now_millis();
    let outcome = ctx
        .world
        .pay(p, &entry.correlation_id, entry.amount, requested_at)
        .await;
    let finished = now_millis();
    ctx.metrics.call_finished(
        p,
        outcome.metric_label(),
        (finished - started).max(0) as u64,
    );
    if let Some(failing) = ctx.routing.finish(ticket, outcome, finished) {
        tracing::info!(processor = %p, failing, "processor health changed by a live call");
    }
    outcome
}

/// For an entry delivered before: the attempt to continue from (the ledger was checked for
/// the whole batch before, see [`super::ledger_check`]); `None` when its record cannot be read.
async fn resume_state<S: PaymentStore>(world: &S, entry: &QueuedPayment) -> Option<Attempt> {
    let id = entry.correlation_id;
    loop {
        match world.attempt(&id).await {
            Ok(None) => return Some(Attempt::FRESH),
            Ok(Some(record)) => {
                let Some(attempt) = Attempt::decode(&record) else {
                    tracing::warn!(correlation_id = %id, record, "unreadable attempt record; asking both processors");
                    return None;
                };
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
    routing: &RoutingHandle,
    attempt: &Attempt,
    since: Millis,
    shutdown: &mut Shutdown,
) -> Option<Ticket> {
    loop {
        if shutdown.is_triggered() {
            return None;
        }
        // Register interest before looking, so a wake-up between the look and the wait is kept.
        let changed = routing.changed();
        let pinned = attempt.unresolved.map(|open| open.processor);
        let ticket = routing.choose(pinned, now_millis(), since);
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

/// Writes the attempt record, retrying while Redis is unreachable; false on shutdown or when
/// another worker took the payment over.
pub(super) async fn save_attempt<S: PaymentStore>(
    world: &S,
    entry: &QueuedPayment,
    attempt: &Attempt,
    shutdown: &mut Shutdown,
) -> bool {
    let record = attempt.encode();
    loop {
        match world.set_attempt(&entry.correlation_id, &record).await {
            Ok(()) => return true,
            Err(err) if err.is_not_held() => {
                // Reclaimed by another worker while Redis was unreachable: it continues from
                // the record, so this task must not call again.
                tracing::warn!(correlation_id = %entry.correlation_id, "another worker took this payment over; leaving it to them");
                return false;
            }
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
pub(super) async fn book<S: PaymentStore>(
    ctx: &StepContext<'_, S>,
    entry: &QueuedPayment,
    p: Processor,
    requested_at: Millis,
) -> Step {
    let booking = Booking {
        correlation_id: entry.correlation_id,
        processor: p,
        amount: entry.amount,
        requested_at,
    };
    let id = entry.correlation_id;
    let booked = loop {
        match ctx.world.book(booking).await {
            Ok(booked) => break booked,
            Err(err) => {
                tracing::warn!(correlation_id = %id, %err, "booking failed; retrying");
                tokio::time::sleep(STORE_RETRY).await;
            }
        }
    };
    match booked {
        Booked::New => {
            ctx.metrics.booked(p);
            tracing::debug!(correlation_id = %id, processor = %p, requested_at, "booked");
        }
        Booked::Again => {
            tracing::info!(correlation_id = %id, processor = %p, "the ledger already had this booking");
        }
        Booked::Conflict { booked_at } => {
            // Paid at both processors: nothing here can undo it, but nobody may miss it.
            ctx.metrics.ledger_conflict();
            tracing::error!(correlation_id = %id, paid_at = %p, %booked_at, "LEDGER CONFLICT: paid at {p} but booked at {booked_at}: charged twice");
        }
    }
    finish(ctx.world, entry).await;
    Step::Booked(p)
}

/// Acknowledges the entry, retrying until Redis takes it.
async fn finish<S: PaymentStore>(world: &S, entry: &QueuedPayment) {
    while let Err(err) = world.acknowledge(entry).await {
        tracing::warn!(correlation_id = %entry.correlation_id, %err, "acknowledging failed; retrying");
        tokio::time::sleep(STORE_RETRY).await;
    }
}

/// Sleeps; false when shutdown began instead.
pub(super) async fn sleep_or_shutdown(d: Duration, shutdown: &mut Shutdown) -> bool {
    tokio::select! {
        _ = shutdown.wait() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

#[cfg(test)]
#[path = "payment_tests.rs"]
mod tests;
