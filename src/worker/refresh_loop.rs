//! The refresh loop: keeps the stream entries this worker holds from being reclaimed.

use std::sync::Arc;

use super::WorkerContext;
use super::context::MAX_REDIS_BATCH;
use crate::shutdown::Shutdown;

/// Resets the idle time of held entries well before anyone could reclaim them.
pub(super) async fn refresh_loop(ctx: Arc<WorkerContext>, mut shutdown: Shutdown) {
    let every = ctx.settings.reclaim_idle / 4;
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let held: Vec<String> = ctx.held.lock().unwrap().values().cloned().collect();
        for chunk in held.chunks(MAX_REDIS_BATCH) {
            match ctx.queue.refresh(&ctx.settings.worker_name, chunk).await {
                Ok(lost) if !lost.is_empty() => {
                    // Reclaimed by another worker (our refreshes failed for longer than
                    // reclaim_idle): their tasks here can make no further call (the attempt
                    // record is fenced) and end at their next write.
                    tracing::warn!(count = lost.len(), "entries reclaimed by another worker");
                    ctx.held.lock().unwrap().retain(|_, e| !lost.contains(e));
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(%err, "refreshing held entries failed"),
            }
        }
    }
}
