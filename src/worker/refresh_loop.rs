//! The refresh loop: keeps the stream entries this worker holds from being reclaimed.

use std::sync::Arc;

use super::WorkerContext;
use crate::shutdown::Shutdown;

/// Resets the idle time of held entries well before anyone could reclaim them.
pub(super) async fn refresh_loop(ctx: Arc<WorkerContext>, mut shutdown: Shutdown) {
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
