//! The routing state shared by one worker's tasks, and the signal that wakes the ones waiting
//! for a route.

use std::sync::Mutex;

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use super::{Routing, Ticket};
use crate::domain::{Millis, Processor};
use crate::processor::{CallOutcome, HealthReport};

/// [`Routing`] behind a lock, with the waiters' wake-up built in: every method that frees a
/// slot or changes a processor's health wakes the tasks waiting for a route itself, so no
/// caller can change the state and forget to tell the others.
#[derive(Debug)]
pub struct RoutingHandle {
    state: Mutex<Routing>,
    /// Woken when a call slot frees or a processor's health changes.
    changed: Notify,
}

impl RoutingHandle {
    pub fn new(routing: Routing) -> Self {
        Self {
            state: Mutex::new(routing),
            changed: Notify::new(),
        }
    }

    /// A future that completes at the next change. Create it *before* looking for a route
    /// ([`RoutingHandle::choose`]), so a change between the look and the wait is not lost.
    pub fn changed(&self) -> Notified<'_> {
        self.changed.notified()
    }

    /// Records payments read from the queue, by the times they were accepted.
    pub fn note_arrivals(&self, accepted_at: impl IntoIterator<Item = Millis>, now: Millis) {
        let mut routing = self.lock();
        for at in accepted_at {
            routing.note_arrival(at, now);
        }
    }

    /// A call slot for a payment: on the processor it is pinned to (an unresolved earlier
    /// call), or wherever the rule says; `None` when it should wait.
    pub fn choose(&self, pinned: Option<Processor>, now: Millis, since: Millis) -> Option<Ticket> {
        let mut routing = self.lock();
        match pinned {
            Some(p) => routing.choose_pinned(p, now),
            None => routing.choose(now, since),
        }
    }

    /// Hands back a slot that was not used for a call; wakes one waiter for it.
    pub fn cancel(&self, ticket: Ticket) {
        self.lock().cancel(ticket);
        self.changed.notify_one();
    }

    /// Records a call's outcome (see [`Routing::finish`]); wakes one waiter for the freed slot,
    /// and every waiter when the processor's health changed (they may now prefer the other).
    pub fn finish(&self, ticket: Ticket, outcome: CallOutcome, now: Millis) -> Option<bool> {
        let flipped = self.lock().finish(ticket, outcome, now);
        self.changed.notify_one();
        if flipped.is_some() {
            self.changed.notify_waiters();
        }
        flipped
    }

    /// Takes in a health report (see [`Routing::apply_health`]) and wakes every waiter.
    pub fn apply_health(&self, p: Processor, report: HealthReport, asked: Millis) {
        self.lock().apply_health(p, report, asked);
        self.changed.notify_waiters();
    }

    /// Wakes every waiter, so they notice a shutdown at once.
    pub fn wake_all(&self) {
        self.changed.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Routing> {
        // Poisoned only if the pure routing code panicked: a bug, which should stop the worker.
        self.state.lock().expect("the routing lock is not poisoned")
    }
}
