//! An in-process watchdog: a plain thread that aborts the process when the tokio runtime stops
//! making progress, so that the supervisor (the native runner, systemd, compose) restarts it.
//!
//! Why in-process: systemd's `WatchdogSec` needs systemd, and neither compose nor the native
//! runner has it. Why a thread outside the runtime: a runtime that is stuck (a blocking call on
//! the current-thread runtime of `rinha api`, a handler spinning) cannot report itself; the
//! heartbeat is a task on the runtime, so it stops when the runtime stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

/// How often the heartbeat ticks and the watcher looks, per timeout: a stall is noticed between
/// `timeout` and `timeout × (1 + 1/CHECKS)` after the last tick.
const CHECKS: u32 = 4;

/// A running watchdog. Dropping it does not stop it: it lives as long as the process.
pub struct Watchdog {
    _private: (),
}

impl Watchdog {
    /// Starts the heartbeat on `runtime` and the watcher thread. When no tick happened for
    /// `timeout`, the watcher calls `on_stall` with how long the runtime has been silent, once,
    /// and stops watching.
    pub fn start(
        runtime: &Handle,
        timeout: Duration,
        on_stall: impl FnOnce(Duration) + Send + 'static,
    ) -> std::io::Result<Watchdog> {
        let origin = Instant::now();
        let last_tick = Arc::new(AtomicU64::new(0));
        let period = timeout / CHECKS;
        let beat = last_tick.clone();
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                beat.store(origin.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
        });
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(period);
                    let silent = origin
                        .elapsed()
                        .saturating_sub(Duration::from_millis(last_tick.load(Ordering::Relaxed)));
                    if silent > timeout {
                        on_stall(silent);
                        return;
                    }
                }
            })?;
        Ok(Watchdog { _private: () })
    }
}

/// What the service does on a stall: log it, then abort (SIGABRT, a failure for every
/// supervisor) rather than exit cleanly, since nothing on the stuck runtime can drain.
pub fn abort_process(silent: Duration) {
    tracing::error!(
        silent_ms = silent.as_millis() as u64,
        "the runtime made no progress; aborting so the supervisor restarts the process"
    );
    eprintln!(
        "rinha: watchdog: the runtime made no progress for {} ms; aborting",
        silent.as_millis()
    );
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    const TIMEOUT: Duration = Duration::from_millis(200);

    fn current_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_blocked_runtime_is_reported_within_the_timeout_and_one_check() {
        let runtime = current_thread();
        let (stalled, stall) = mpsc::channel();
        runtime.block_on(async {
            Watchdog::start(&Handle::current(), TIMEOUT, move |silent| {
                let _ = stalled.send(silent);
            })
            .unwrap();
            tokio::task::yield_now().await;
        });
        let blocked_at = Instant::now();
        // The runtime's only thread blocks (in a future, as a blocking call in a handler would)
        // until the watchdog reports; the heartbeat cannot run meanwhile.
        let silent = runtime.block_on(async { stall.recv_timeout(TIMEOUT * 20) });
        let silent = silent.expect("the watchdog reports a blocked runtime");
        assert!(silent > TIMEOUT, "{silent:?}");
        assert!(
            blocked_at.elapsed() < TIMEOUT * 3,
            "reported after {:?}",
            blocked_at.elapsed()
        );
    }

    #[test]
    fn a_runtime_that_keeps_running_is_never_reported() {
        let runtime = current_thread();
        let (stalled, stall) = mpsc::channel::<Duration>();
        runtime.block_on(async {
            Watchdog::start(&Handle::current(), TIMEOUT, move |silent| {
                let _ = stalled.send(silent);
            })
            .unwrap();
            // Five timeouts of a runtime that is busy but never blocked.
            let until = tokio::time::Instant::now() + TIMEOUT * 5;
            while tokio::time::Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        assert_eq!(stall.try_recv(), Err(mpsc::TryRecvError::Empty));
    }
}
