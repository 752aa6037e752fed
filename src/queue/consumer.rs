//! The consumer side: what workers read, reclaim, keep and acknowledge.

use std::time::Duration;

use redis::Value;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};

use super::{Queue, QueueError, classify, keys};
use crate::domain::{Amount, CorrelationId, Millis};

/// A payment read from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedPayment {
    /// The stream entry id, needed to acknowledge it.
    pub entry_id: String,
    pub correlation_id: CorrelationId,
    pub amount: Amount,
    /// When Redis accepted it.
    pub accepted_at: Millis,
    /// True when this entry was delivered before (reclaimed or left pending by a crash).
    pub redelivered: bool,
}

impl Queue {
    /// Reads up to `count` never-delivered entries for `consumer`, waiting up to `block`.
    pub async fn read_new(
        &self,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<QueuedPayment>, QueueError> {
        self.read_group(consumer, count, Some(block), ">").await
    }

    /// Reads entries already delivered to `consumer` and not acknowledged (after a restart
    /// under the same name).
    pub async fn read_own_pending(
        &self,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<QueuedPayment>, QueueError> {
        let mut entries = self.read_group(consumer, count, None, "0").await?;
        for e in &mut entries {
            e.redelivered = true;
        }
        Ok(entries)
    }

    async fn read_group(
        &self,
        consumer: &str,
        count: usize,
        block: Option<Duration>,
        from: &str,
    ) -> Result<Vec<QueuedPayment>, QueueError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(keys::GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(count);
        if let Some(block) = block {
            cmd.arg("BLOCK").arg(block.as_millis() as u64);
        }
        cmd.arg("STREAMS").arg(keys::PAYMENTS).arg(from);
        let reply: Option<StreamReadReply> = cmd.query_async(&mut conn).await.map_err(classify)?;
        let mut out = Vec::new();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in key.ids {
                if let Some(p) = parse_entry(&entry, false) {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    /// Takes over entries idle longer than `min_idle` (their consumer is presumed dead).
    pub async fn reclaim(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<QueuedPayment>, QueueError> {
        let mut conn = self.conn.clone();
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(keys::PAYMENTS)
            .arg(keys::GROUP)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok(reply
            .claimed
            .iter()
            .filter_map(|e| parse_entry(e, true))
            .collect())
    }

    /// Resets the idle time of entries this consumer still works on, so nobody reclaims them.
    pub async fn refresh(&self, consumer: &str, entry_ids: &[String]) -> Result<(), QueueError> {
        if entry_ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let _: Value = redis::cmd("XCLAIM")
            .arg(keys::PAYMENTS)
            .arg(keys::GROUP)
            .arg(consumer)
            .arg(0)
            .arg(entry_ids)
            .arg("JUSTID")
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Acknowledges finished payments: removes them from the stream and forgets their attempt
    /// records, atomically.
    pub async fn finish(&self, done: &[(String, CorrelationId)]) -> Result<(), QueueError> {
        if done.is_empty() {
            return Ok(());
        }
        let entry_ids: Vec<&str> = done.iter().map(|(e, _)| e.as_str()).collect();
        let ids: Vec<&str> = done.iter().map(|(_, id)| id.as_str()).collect();
        let mut conn = self.conn.clone();
        let _: Value = redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(keys::PAYMENTS)
            .arg(keys::GROUP)
            .arg(&entry_ids)
            .cmd("XDEL")
            .arg(keys::PAYMENTS)
            .arg(&entry_ids)
            .cmd("HDEL")
            .arg(keys::ATTEMPTS)
            .arg(&ids)
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Moves a payment to the dead-letter stream with its reason and acknowledges it.
    pub async fn dead_letter(
        &self,
        payment: &QueuedPayment,
        reason: &str,
    ) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let id = payment.correlation_id.as_str();
        let _: Value = redis::pipe()
            .atomic()
            .cmd("XADD")
            .arg(keys::DEAD)
            .arg("*")
            .arg("id")
            .arg(id)
            .arg("cents")
            .arg(payment.amount.cents())
            .arg("reason")
            .arg(reason)
            .cmd("HSET")
            .arg(keys::DEAD_IDS)
            .arg(id)
            .arg(reason)
            .cmd("XACK")
            .arg(keys::PAYMENTS)
            .arg(keys::GROUP)
            .arg(&payment.entry_id)
            .cmd("XDEL")
            .arg(keys::PAYMENTS)
            .arg(&payment.entry_id)
            .cmd("HDEL")
            .arg(keys::ATTEMPTS)
            .arg(id)
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok(())
    }
}

fn parse_entry(entry: &StreamId, redelivered: bool) -> Option<QueuedPayment> {
    let id: String = entry.get("id")?;
    let cents: i64 = entry.get("cents")?;
    let accepted_at: Millis = entry.get("at").unwrap_or(0);
    Some(QueuedPayment {
        entry_id: entry.id.clone(),
        correlation_id: CorrelationId::parse(&id).ok()?,
        amount: Amount::from_cents(cents).ok()?,
        accepted_at,
        redelivered,
    })
}
