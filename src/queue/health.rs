//! The processors' health as the whole deployment shares it: one lease per processor that
//! makes exactly one instance poll it, and the last report, published for every worker.
//!
//! The report travels as text the worker encodes (`worker::health::SharedHealth`): the queue
//! stores it and knows nothing of processors' reports.

use std::time::Duration;

use redis::AsyncCommands;

use super::{Queue, QueueError, classify, keys};
use crate::domain::Processor;

impl Queue {
    /// Takes the health-poll lease of `p` for `holder` unless someone holds it; it expires by
    /// itself after `ttl`, so a dead holder blocks nobody for long. True when taken.
    pub async fn take_health_lease(
        &self,
        p: Processor,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let won: Option<String> = redis::cmd("SET")
            .arg(keys::health_lease(p.as_str()))
            .arg(holder)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok(won.is_some())
    }

    /// Publishes the latest health report of `p` (encoded by the worker).
    pub async fn publish_health(&self, p: Processor, report: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let () = conn
            .set(keys::health(p.as_str()), report)
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// The latest published health report of `p`, if any.
    pub async fn shared_health(&self, p: Processor) -> Result<Option<String>, QueueError> {
        let mut conn = self.conn.clone();
        conn.get(keys::health(p.as_str())).await.map_err(classify)
    }
}
