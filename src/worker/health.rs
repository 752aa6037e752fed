//! Processor health: one poller per processor for the whole deployment (a Redis lease), the
//! result shared through Redis for every worker to read.
//!
//! The processors allow one health call per 5 seconds per processor, shared by every instance,
//! so the lease key expires after the poll interval and only whoever sets it polls.

use std::time::Duration;

use crate::domain::{Millis, Processor, now_millis};
use crate::processor::{HealthReport, ProcessorClient};
use crate::queue::Queue;

/// A health report and when it was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedHealth {
    pub report: HealthReport,
    pub at: Millis,
}

impl SharedHealth {
    fn encode(&self) -> String {
        format!(
            "{}|{}|{}",
            u8::from(self.report.failing),
            self.report.min_response_time,
            self.at
        )
    }

    fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split('|');
        let failing = parts.next()? == "1";
        let min_response_time = parts.next()?.parse().ok()?;
        let at = parts.next()?.parse().ok()?;
        Some(Self {
            report: HealthReport {
                failing,
                min_response_time,
            },
            at,
        })
    }
}

/// Polls `client`'s health if this instance wins the lease for this interval; publishes the
/// result. Returns the fresh report when it polled.
pub async fn poll_if_leader(
    queue: &Queue,
    client: &ProcessorClient,
    holder: &str,
    interval: Duration,
) -> Option<SharedHealth> {
    let p = client.processor;
    if !queue.take_health_lease(p, holder, interval).await.ok()? {
        return None;
    }
    // A report describes the processor as of when we asked: the processor may hold the call in
    // its rate-limit queue and answer much later, with what it knew then.
    let asked = now_millis();
    match client.health().await {
        Ok(report) => {
            let shared = SharedHealth { report, at: asked };
            // Not published is not lost: this instance uses it, the others ask again next time.
            let _ = queue.publish_health(p, &shared.encode()).await;
            Some(shared)
        }
        Err(err) => {
            tracing::warn!(processor = %p, %err, "health poll failed");
            None
        }
    }
}

/// Reads the shared health view of `p`.
pub async fn read_shared(queue: &Queue, p: Processor) -> Option<SharedHealth> {
    let text = queue.shared_health(p).await.ok()??;
    SharedHealth::decode(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_health_round_trips() {
        let h = SharedHealth {
            report: HealthReport {
                failing: true,
                min_response_time: 250,
            },
            at: 42,
        };
        assert_eq!(SharedHealth::decode(&h.encode()), Some(h));
        assert_eq!(SharedHealth::decode("x"), None);
    }
}
