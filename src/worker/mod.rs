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
    settings.max_inflight * 2
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

    // Our own unacknowledged entries from an earlier life under the same name come first.
    let mut resume = true;
    let mut last_reclaim = now_millis();
    while !shutdown.is_triggered() {
        let free = slots.available_permits();
        if free == 0 {
            tokio::select! {
                _ = shutdown.wait() => break,
                permit = slots.clone().acquire_owned() => drop(permit),
            }
            continue;
        }
        let batch = free.min(256);
        let read = if resume {
            resume = false;
            reader.read_own_pending(&consumer, batch).await
        } else if now_millis() - last_reclaim > (ctx.settings.reclaim_idle.as_millis() / 4) as i64 {
            last_reclaim = now_millis();
            reader
                .reclaim(&consumer, ctx.settings.reclaim_idle, batch)
                .await
        } else {
            tokio::select! {
                _ = shutdown.wait() => break,
                read = reader.read_new(&consumer, batch, Duration::from_millis(500)) => read,
            }
        };
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
        if !entries.is_empty() && entries.iter().all(|e| e.redelivered) {
            tracing::info!(count = entries.len(), "resuming payments left pending");
        }
        ctx.routing
            .note_arrivals(entries.iter().map(|e| e.accepted_at), now_millis());
        // Held from now on, so the refresh loop keeps them while the ledger is asked.
        ctx.held
            .lock()
            .unwrap()
            .extend(entries.iter().map(|e| e.entry_id.clone()));
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
                let entry_id = entry.entry_id.clone();
                let step_ctx = payment::StepContext {
                    world: &*ctx,
                    routing: &ctx.routing,
                    metrics: &ctx.metrics,
                    unknown_grace: ctx.settings.unknown_grace,
                };
                payment::process(&step_ctx, entry, shutdown).await;
                ctx.held.lock().unwrap().remove(&entry_id);
                drop(permit);
            });
        }
        while tasks.try_join_next().is_some() {}
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
