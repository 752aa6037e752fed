//! Administration: depth for metrics, Redis's liveness, purge, and raw access.

use redis::aio::ConnectionManager;
use redis::{Script, Value};

use super::{Queue, QueueError, classify, keys};

impl Queue {
    /// Queue depth for metrics: (entries in the stream, entries delivered but not acknowledged,
    /// dead letters).
    pub async fn depth(&self) -> Result<(u64, u64, u64), QueueError> {
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
        Ok((len, pending, dead))
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

    /// Raw access for the health lease and shared health view.
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }
}
