//! The attempt records: what a worker wrote before calling a processor.

use redis::{AsyncCommands, Script, Value};

use super::intake::script;
use super::{Queue, QueueError, classify, keys};
use crate::domain::CorrelationId;

fn set_attempt_script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    script(&SCRIPT, include_str!("set_attempt.lua"))
}

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

    /// Writes the attempt record of a payment while `consumer` holds its stream entry, and
    /// returns false without writing once it does not (another worker reclaimed it): the
    /// fence that keeps a payment to one holder (see set_attempt.lua).
    pub async fn set_attempt_if_held(
        &self,
        consumer: &str,
        entry_id: &str,
        id: &CorrelationId,
        record: &str,
    ) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let written: i64 = set_attempt_script()
            .key(keys::PAYMENTS)
            .key(keys::ATTEMPTS)
            .arg(keys::GROUP)
            .arg(consumer)
            .arg(entry_id)
            .arg(id.as_str())
            .arg(record)
            .invoke_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok(written == 1)
    }
}
