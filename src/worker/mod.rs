//! The worker: reads the queue, calls processors following the outcome rules, books results.
//!
//! Each payment read from the stream becomes one task ([`payment::process`]). The number of
//! tasks is bounded, so a backlog waits in Redis (durable) rather than in memory.

mod context;
#[cfg(test)]
mod fake_world;
pub mod health;
mod health_loop;
mod ledger_check;
mod payment;
mod refresh_loop;
mod resolve;
pub mod routing;
mod stores;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use context::WorkerContext;
use health_loop::health_loop;
use refresh_loop::refresh_loop;

use crate::config::Settings;
use crate::domain::now_millis;
use crate::queue::Queue;
use crate::shutdown::Shutdown;

/// How many payments one worker works on at once (waiting for a route or in a call).
fn task_limit(settings: &Settings) -> usize {
    inflight_share(settings) * 2
}

/// This worker's calls in flight per processor: an equal, static share of `max_inflight`, so
/// that all `workers` together stay within it (the processors allow 800).
fn inflight_share(settings: &Settings) -> usize {
    settings.max_inflight / settings.workers
}

/// This worker's share of `max_calls_per_sec` (0, unlimited, stays 0).
fn calls_per_sec_share(settings: &Settings) -> u32 {
    (settings.max_calls_per_sec / settings.workers as u32).max(settings.max_calls_per_sec.min(1))
}

/// Runs the worker until `shutdown`, then drains in-flight calls up to the drain deadline.
/// `reader` must be a connection of its own: its blocking reads would stall other commands.
pub async fn run(ctx: Arc<WorkerContext>, reader: Queue, mut shutdown: Shutdown) {
    let consumer = ctx.settings.worker_name.clone();
    let slots = Arc::new(Semaphore::new(task_limit(&ctx.settings)));
    let mut tasks = JoinSet::new();
    let background = [
        tokio::spawn(health_loop(ctx.clone(), shutdown.clone())),
        tokio::spawn(refresh_loop(ctx.clone(), shutdown.clone())),
    ];

    // Our own unacknowledged entries from an earlier life under the same name come first, all
    // of them, page by page: `resume_after` is the last entry id looked at, `None` once all are
    // running. Reclaiming never hands a worker its own entries, so each reclaim round also pages
    // through them again for any no task holds (acknowledgements Redis lost with its AOF tail).
    let mut resume_after = Some("0".to_owned());
    let mut last_reclaim = now_millis();
    let mut malformed_seen = 0;
    while !shutdown.is_triggered() {
        let free = slots.available_permits();
        if free == 0 {
            tokio::select! {
                _ = shutdown.wait() => break,
                permit = slots.clone().acquire_owned() => drop(permit),
            }
            // Slots come free one by one as calls end: reading at the first would read one
            // entry per round trip, and ask the ledger about one entry per query. The tasks
            // already running keep the processors busy meanwhile.
            if !ctx.settings.read_linger.is_zero() {
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = tokio::time::sleep(ctx.settings.read_linger) => {}
                }
            }
            continue;
        }
        let batch = free.min(context::MAX_REDIS_BATCH);
        let mut reading_new = false;
        let read = if let Some(after) = &resume_after {
            let read = reader.read_own_pending(&consumer, batch, after).await;
            match &read {
                // A page of malformed entries only (dead-lettered as read) is no end.
                Ok(entries) if entries.is_empty() && reader.malformed_total() > malformed_seen => {}
                Ok(entries) => resume_after = entries.last().map(|e| e.entry_id.clone()),
                Err(_) => {}
            }
            read
        } else if now_millis() - last_reclaim > (ctx.settings.reclaim_idle.as_millis() / 4) as i64 {
            last_reclaim = now_millis();
            resume_after.get_or_insert_with(|| "0".to_owned());
            reader
                .reclaim(&consumer, ctx.settings.reclaim_idle, batch)
                .await
        } else {
            reading_new = true;
            tokio::select! {
                _ = shutdown.wait() => break,
                read = reader.read_new(&consumer, batch, Duration::from_millis(500)) => read,
            }
        };
        let malformed = reader.malformed_total();
        ctx.metrics.malformed_entries(malformed - malformed_seen);
        malformed_seen = malformed;
        let entries = match read {
            Ok(entries) => entries,
            Err(err) => {
                tracing::warn!(%err, "reading the queue failed; retrying");
                // A Redis that lost its data (restarted without its append-only file) has no
                // consumer group: without one no payment would ever be read again.
                if err.is_missing_group()
                    && let Err(err) = reader.ensure_group().await
                {
                    tracing::warn!(%err, "recreating the consumer group failed");
                }
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
                continue;
            }
        };
        // A short read of new entries means the stream is drained: waiting a moment before the
        // next read lets it, and the attempt records, calls, bookings and acknowledgements after
        // it, serve several payments per round trip instead of one each.
        let linger = reading_new && !entries.is_empty() && entries.len() < batch;
        let entries: Vec<_> = {
            // Our own pending entries come back with every page; those still running stay as they are.
            let held = ctx.held.lock().unwrap();
            entries
                .into_iter()
                .filter(|e| !held.contains_key(&e.correlation_id))
                .collect()
        };
        if !entries.is_empty() && entries.iter().all(|e| e.redelivered) {
            tracing::info!(count = entries.len(), "resuming payments left pending");
        }
        ctx.routing
            .note_arrivals(entries.iter().map(|e| e.accepted_at), now_millis());
        // Held from now on, so the refresh loop keeps them while the ledger is asked.
        ctx.held.lock().unwrap().extend(
            entries
                .iter()
                .map(|e| (e.correlation_id, e.entry_id.clone())),
        );
        let Some(entries) = ledger_check::without_booked(&ctx, entries, &mut shutdown).await else {
            break;
        };
        for entry in entries {
            let permit = slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let ctx = ctx.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                let id = entry.correlation_id;
                let step_ctx = payment::StepContext {
                    world: &*ctx,
                    routing: &ctx.routing,
                    metrics: &ctx.metrics,
                    unknown_grace: ctx.settings.unknown_grace,
                };
                payment::process(&step_ctx, entry, shutdown).await;
                ctx.held.lock().unwrap().remove(&id);
                drop(permit);
            });
        }
        while tasks.try_join_next().is_some() {}
        if linger && !ctx.settings.read_linger.is_zero() {
            tokio::select! {
                _ = shutdown.wait() => break,
                _ = tokio::time::sleep(ctx.settings.read_linger) => {}
            }
        }
    }

    tracing::info!(
        tasks = tasks.len(),
        deadline_ms = ctx.settings.drain_deadline.as_millis() as u64,
        "draining"
    );
    ctx.routing.wake_all();
    let drained = tokio::time::timeout(ctx.settings.drain_deadline, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = tasks.len(),
            "drain deadline reached; the rest stays pending with its attempt records"
        );
        tasks.abort_all();
    }
    for handle in background {
        handle.abort();
    }
    tracing::info!("worker stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_workers_split_the_processors_limits_between_them() {
        let one = Settings::with_overrides(&[]).unwrap();
        assert_eq!(
            (inflight_share(&one), calls_per_sec_share(&one)),
            (600, 1500)
        );
        let n3 = Settings::with_overrides(&[("workers", "3"), ("max_inflight", "800")]).unwrap();
        assert_eq!((inflight_share(&n3), calls_per_sec_share(&n3)), (266, 500));
        let err = Settings::with_overrides(&[("workers", "0")]).unwrap_err();
        assert!(err.to_string().contains("workers"), "{err}");
        let err = Settings::with_overrides(&[("workers", "4"), ("max_inflight", "3")]).unwrap_err();
        assert!(err.to_string().contains("workers"), "{err}");
    }
}
