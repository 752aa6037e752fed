//! The worker: reads the queue, calls processors following the outcome rules, books results.
//!
//! Each payment read from the stream becomes one task ([`payment::process`]). The number of
//! tasks is bounded, so a backlog waits in Redis (durable) rather than in memory.

pub mod attempt;
pub mod health;
mod pacing;
mod payment;
pub mod routing;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::config::Settings;
use crate::domain::{Processor, now_millis};
use crate::ledger::{BookingWriter, Ledger};
use crate::metrics::Metrics;
use crate::processor::ProcessorClient;
use crate::queue::Queue;
use crate::shutdown::Shutdown;
use routing::{Routing, RoutingConfig};

/// Everything the worker's tasks share.
pub struct WorkerContext {
    pub settings: Settings,
    pub queue: Queue,
    pub ledger: Ledger,
    pub writer: BookingWriter,
    pub clients: [ProcessorClient; 2],
    pub routing: Mutex<Routing>,
    /// Woken when a call slot frees or a processor's health changes.
    pub route_changed: Notify,
    /// Stream entries this worker holds, refreshed so that nobody reclaims them.
    held: Mutex<HashSet<String>>,
    pub metrics: Arc<Metrics>,
}

impl WorkerContext {
    pub fn new(
        settings: Settings,
        queue: Queue,
        ledger: Ledger,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let clients = Processor::ALL
            .map(|p| ProcessorClient::new(settings.processor(p), settings.processor_timeout));
        let routing = Routing::new(RoutingConfig {
            fees: Processor::ALL.map(|p| settings.processor(p).fee),
            audit_slack_ms: settings.audit_slack.as_millis() as u64,
            max_inflight: settings.max_inflight,
            probe_interval_ms: 250,
            misconfigured_pause_ms: 10_000,
            hold_for_cheaper_ms: 1_000,
            max_calls_per_sec: settings.max_calls_per_sec,
        });
        let writer = BookingWriter::spawn(ledger.clone());
        Arc::new(Self {
            settings,
            queue,
            ledger,
            writer,
            clients,
            routing: Mutex::new(routing),
            route_changed: Notify::new(),
            held: Mutex::new(HashSet::new()),
            metrics,
        })
    }

    pub(crate) fn client(&self, p: Processor) -> &ProcessorClient {
        &self.clients[p.index()]
    }
}

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
        {
            let now = now_millis();
            let mut routing = ctx.routing.lock().unwrap();
            for entry in &entries {
                routing.note_arrival(entry.accepted_at, now);
            }
        }
        for entry in entries {
            let permit = slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            ctx.held.lock().unwrap().insert(entry.entry_id.clone());
            let ctx = ctx.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                let entry_id = entry.entry_id.clone();
                payment::process(&ctx, entry, shutdown).await;
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
    ctx.route_changed.notify_waiters();
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

/// Keeps the routing view fresh: polls health when holding the lease, else reads what the
/// leader published.
async fn health_loop(ctx: Arc<WorkerContext>, mut shutdown: Shutdown) {
    let interval = ctx.settings.health_poll_interval;
    let mut seen = [0i64; 2];
    loop {
        for p in Processor::ALL {
            let polled = health::poll_if_leader(
                &ctx.queue,
                ctx.client(p),
                &ctx.settings.worker_name,
                interval.as_millis() as u64,
            )
            .await;
            let report = match polled {
                Some(h) => Some(h),
                None => health::read_shared(&ctx.queue, p).await,
            };
            if let Some(h) = report
                && h.at > seen[p.index()]
            {
                seen[p.index()] = h.at;
                ctx.routing.lock().unwrap().apply_health(p, h.report, h.at);
                ctx.route_changed.notify_waiters();
                tracing::debug!(processor = %p, failing = h.report.failing, min_response_time = h.report.min_response_time, "health");
            }
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// Resets the idle time of held entries well before anyone could reclaim them.
async fn refresh_loop(ctx: Arc<WorkerContext>, mut shutdown: Shutdown) {
    let every = ctx.settings.reclaim_idle / 4;
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let held: Vec<String> = ctx.held.lock().unwrap().iter().cloned().collect();
        for chunk in held.chunks(500) {
            if let Err(err) = ctx.queue.refresh(&ctx.settings.worker_name, chunk).await {
                tracing::warn!(%err, "refreshing held entries failed");
            }
        }
    }
}
