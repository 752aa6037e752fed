//! The attempt records: what a worker wrote before calling a processor.

use redis::{AsyncCommands, Value};

use super::{Queue, QueueError, classify, keys};
use crate::domain::CorrelationId;

impl Queue {
    /// Reads the attempt record of a payment (its raw text; `domain::Attempt` parses it).
    pub async fn attempt(&self, id: &CorrelationId) -> Result<Option<String>, QueueError> {
        let mut conn = self.conn.clone();
        conn.hget(keys::ATTEMPTS, id.as_str())
            .await
            .map_err(classify)
    }

    /// Writes the attempt record of a payment; must complete before the processor call.
    pub async fn set_attempt(&self, id: &CorrelationId, record: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: Value = conn
            .hset(keys::ATTEMPTS, id.as_str(), record)
            .await
            .map_err(classify)?;
        Ok(())
    }
}
