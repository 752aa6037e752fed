//! Administration: depth for metrics, Redis's liveness, and purge.

use redis::{Script, Value};

use super::{Queue, QueueError, classify, keys};

/// How deep the queue is; see [`Queue::depth`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Entries in the stream: queued, or delivered and not yet acknowledged.
    pub length: u64,
    /// Entries delivered to a worker and not acknowledged.
    pub pending: u64,
    /// Entries in the dead-letter stream.
    pub dead_letters: u64,
}

impl Queue {
    /// How deep the queue is, for metrics.
    pub async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let mut conn = self.conn.clone();
        let (len, pending, dead): (u64, Value, u64) = redis::pipe()
            .cmd("XLEN")
            .arg(keys::PAYMENTS)
            .cmd("XPENDING")
            .arg(keys::PAYMENTS)
            .arg(keys::GROUP)
            .cmd("XLEN")
            .arg(keys::DEAD)
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        let pending = match pending {
            Value::Array(items) => match items.first() {
                Some(Value::Int(n)) => *n as u64,
                _ => 0,
            },
            _ => 0,
        };
        Ok(QueueDepth {
            length: len,
            pending,
            dead_letters: dead,
        })
    }

    /// True when Redis answers PING.
    pub async fn ping(&self) -> bool {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    }

    /// Deletes every payment, attempt, dedupe key and dead letter; recreates the group.
    pub async fn purge(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let script = Script::new(include_str!("purge.lua"));
        let _: Value = script
            .key(keys::PAYMENTS)
            .key(keys::ACCEPTED)
            .key(keys::ATTEMPTS)
            .key(keys::DEAD)
            .key(keys::DEAD_IDS)
            .arg(keys::GROUP)
            .arg(format!("{}*", keys::ACCEPTED_BUCKET_PREFIX))
            .invoke_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok(())
    }
}
