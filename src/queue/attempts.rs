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
        let write = AttemptWrite {
            entry_id: entry_id.to_owned(),
            correlation_id: *id,
            record: record.to_owned(),
        };
        let written = self.set_attempts_if_held(consumer, &[write]).await?;
        Ok(written == [true])
    }

    /// [`Queue::set_attempt_if_held`] for many payments in one round trip; one answer per
    /// write, in order. A call's size is bounded by the script's one `HSET` (see
    /// `set_attempt.lua`); the worker sends at most `MAX_REDIS_BATCH`.
    pub async fn set_attempts_if_held(
        &self,
        consumer: &str,
        writes: &[AttemptWrite],
    ) -> Result<Vec<bool>, QueueError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let mut invocation = set_attempt_script().prepare_invoke();
        invocation
            .key(keys::PAYMENTS)
            .key(keys::ATTEMPTS)
            .arg(keys::GROUP)
            .arg(consumer);
        for w in writes {
            invocation
                .arg(&w.entry_id)
                .arg(w.correlation_id.as_str())
                .arg(&w.record);
        }
        let written: Vec<i64> = invocation.invoke_async(&mut conn).await.map_err(classify)?;
        Ok(written.into_iter().map(|w| w == 1).collect())
    }
}

/// One attempt record to write, fenced by the stream entry its writer must still hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptWrite {
    pub entry_id: String,
    pub correlation_id: CorrelationId,
    pub record: String,
}
