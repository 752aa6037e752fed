//! The processor's two admission limits.
//!
//! - [`InflightLimit`]: `POST /payments` runs at most N at a time with M more waiting, in
//!   arrival order; beyond that the request is refused at once (HTTP 429). The official
//!   processor uses ASP.NET's concurrency limiter with 800 permits and a queue of 500.
//! - [`FixedWindow`]: `GET /payments/service-health` gets one permit per fixed window of 5 s
//!   (windows counted from the processor's start), and up to 2 more calls wait, oldest first,
//!   for the permits of the following windows; the rest are refused at once (HTTP 429). This is
//!   ASP.NET's fixed-window limiter with `PermitLimit = 1`, `QueueLimit = 2`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The limit refused the request: answer 429 now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected;

/// At most `max_inflight` holders at a time, `max_queued` more waiting in FIFO order.
#[derive(Debug)]
pub struct InflightLimit {
    permits: Arc<Semaphore>,
    max_inflight: usize,
    max_queued: usize,
    queued: AtomicUsize,
}

impl InflightLimit {
    /// A limit of `max_inflight` running plus `max_queued` waiting.
    pub fn new(max_inflight: usize, max_queued: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_inflight)),
            max_inflight,
            max_queued,
            queued: AtomicUsize::new(0),
        }
    }

    /// Takes a permit, waiting in the queue if all are held and the queue has room.
    ///
    /// The permit is owned so that it can move into a spawned task: the payment keeps its
    /// slot until it is stored, even if the client has hung up meanwhile.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, Rejected> {
        // tokio's semaphore hands released permits to queued waiters first, so this fast
        // path cannot overtake a request that is already waiting.
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q < self.max_queued).then_some(q + 1)
            })
            .map_err(|_| Rejected)?;
        let _slot = QueueSlot(&self.queued);
        // The semaphore is never closed, so acquiring can only succeed.
        Ok(self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the in-flight semaphore is never closed"))
    }

    /// How many permits are held now.
    pub fn in_flight(&self) -> usize {
        self.max_inflight - self.permits.available_permits()
    }

    /// How many requests wait for a permit now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

/// Frees a queue place when its waiter gets a permit or gives up (its future is dropped).
struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What [`FixedWindow::book`] decided for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Booking {
    /// The current window's permit is yours: answer now.
    Now,
    /// Queued: answer when this instant (the start of a later window) comes.
    At(Instant),
    /// The window's permit is taken and the queue is full.
    Rejected,
}

/// One permit per fixed window, with a bounded queue for the next windows.
///
/// Booking is a pure function of the time it is given, so it is tested without sleeping:
/// a queued call is told the start of the window whose permit it has reserved.
///
/// One simplification: a queued caller that hangs up keeps its reserved window (ASP.NET
/// would hand that permit to the next caller). Pollers that give up while queued are rare,
/// and it only makes the emulator stricter.
#[derive(Debug)]
pub struct FixedWindow {
    epoch: Instant,
    window: Duration,
    queue_limit: u64,
    /// The first window whose permit nobody has reserved yet.
    next_free: Mutex<u64>,
}

impl FixedWindow {
    /// Windows of `window` counted from `epoch`; `queue_limit` calls may wait for later windows.
    ///
    /// # Panics
    /// If `window` is zero.
    pub fn new(epoch: Instant, window: Duration, queue_limit: usize) -> Self {
        assert!(
            !window.is_zero(),
            "a rate-limit window must be longer than zero"
        );
        Self {
            epoch,
            window,
            queue_limit: queue_limit as u64,
            next_free: Mutex::new(0),
        }
    }

    /// The window's length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Reserves a permit for a call arriving at `now`.
    pub fn book(&self, now: Instant) -> Booking {
        let current = self.index(now);
        let mut next_free = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
        if *next_free <= current {
            *next_free = current + 1;
            return Booking::Now;
        }
        // Windows after the current one that are already reserved = calls waiting now.
        let waiting = *next_free - current - 1;
        if waiting >= self.queue_limit {
            return Booking::Rejected;
        }
        let slot = *next_free;
        *next_free += 1;
        Booking::At(self.start_of(slot))
    }

    fn index(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(elapsed / self.window.as_nanos()).unwrap_or(u64::MAX)
    }

    fn start_of(&self, index: u64) -> Instant {
        let nanos = self.window.as_nanos().saturating_mul(u128::from(index));
        self.epoch + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(5);

    #[test]
    fn one_call_per_window_then_two_queued_then_rejected() {
        let epoch = Instant::now();
        let limit = FixedWindow::new(epoch, W, 2);
        let t = epoch + Duration::from_millis(1200);
        assert_eq!(limit.book(t), Booking::Now);
        assert_eq!(limit.book(t), Booking::At(epoch + W));
        assert_eq!(limit.book(t), Booking::At(epoch + 2 * W));
        assert_eq!(limit.book(t), Booking::Rejected);
        assert_eq!(
            limit.book(epoch + W - Duration::from_nanos(1)),
            Booking::Rejected
        );
    }

    #[test]
    fn a_new_window_frees_one_queue_place() {
        let epoch = Instant::now();
        let limit = FixedWindow::new(epoch, W, 2);
        assert_eq!(limit.book(epoch), Booking::Now);
        assert_eq!(limit.book(epoch), Booking::At(epoch + W));
        assert_eq!(limit.book(epoch), Booking::At(epoch + 2 * W));
        // Window 1: its permit went to the first queued call; one call still waits.
        let w1 = epoch + W + Duration::from_millis(10);
        assert_eq!(limit.book(w1), Booking::At(epoch + 3 * W));
        assert_eq!(limit.book(w1), Booking::Rejected);
    }

    #[test]
    fn an_idle_limiter_answers_at_once_in_any_later_window() {
        let epoch = Instant::now();
        let limit = FixedWindow::new(epoch, W, 2);
        assert_eq!(limit.book(epoch + 7 * W), Booking::Now);
        assert_eq!(limit.book(epoch + 9 * W), Booking::Now);
        assert_eq!(limit.book(epoch + 9 * W), Booking::At(epoch + 10 * W));
    }

    #[tokio::test]
    async fn inflight_limit_queues_then_rejects() {
        let limit = Arc::new(InflightLimit::new(1, 1));
        let first = limit.acquire().await.unwrap();
        assert_eq!(limit.in_flight(), 1);

        let waiter = {
            let limit = Arc::clone(&limit);
            tokio::spawn(async move { limit.acquire().await.map(drop) })
        };
        while limit.queued() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(limit.acquire().await.err(), Some(Rejected));

        drop(first);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        assert_eq!((limit.in_flight(), limit.queued()), (0, 0));
    }
}
