//! The health loop: keeps every worker's routing view of the processors' health fresh.

use std::sync::Arc;
use std::time::Duration;

use super::{WorkerContext, health};
use crate::domain::Processor;
use crate::shutdown::Shutdown;

/// Keeps the routing view fresh: polls health when holding the lease, else reads what the
/// leader published.
pub(super) async fn health_loop(ctx: Arc<WorkerContext>, mut shutdown: Shutdown) {
    let interval = ctx.settings.health_poll_interval;
    let mut seen = [0i64; 2];
    loop {
        for p in Processor::ALL {
            let polled = health::poll_if_leader(
                &ctx.queue,
                ctx.client(p),
                &ctx.settings.worker_name,
                interval,
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
                ctx.routing.apply_health(p, h.report, h.at);
                tracing::debug!(processor = %p, failing = h.report.failing, min_response_time = h.report.min_response_time, "health");
            }
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}
