//! The consumer side: what workers read, reclaim, keep and acknowledge.

use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::streams::{StreamClaimReply, StreamId, StreamReadReply};
use redis::{Script, Value};

use super::intake::script;
use super::{Queue, QueueError, classify, keys};
use crate::domain::{Amount, CorrelationId, Millis};

/// The reason a malformed entry is dead-lettered with.
const MALFORMED: &str = "malformed stream entry";

fn reclaim_script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    script(&SCRIPT, include_str!("reclaim.lua"))
}

fn refresh_script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    script(&SCRIPT, include_str!("refresh.lua"))
}

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

    /// Reads up to `count` entries already delivered to `consumer` and not acknowledged (after a
    /// restart under the same name), those after the entry id `after` ("0" for the first).
    pub async fn read_own_pending(
        &self,
        consumer: &str,
        count: usize,
        after: &str,
    ) -> Result<Vec<QueuedPayment>, QueueError> {
        let mut entries = self.read_group(consumer, count, None, after).await?;
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
        let entries = reply
            .map(|r| r.keys)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|k| k.ids);
        self.parse_all(entries, false).await
    }

    /// Takes over entries of other consumers idle longer than `min_idle` (their consumer is
    /// presumed dead), never this consumer's own (see reclaim.lua). Each call goes on where the
    /// last one of this handle stopped, so a busy worker's small batches still reach every entry.
    pub async fn reclaim(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<QueuedPayment>, QueueError> {
        let mut conn = self.conn.clone();
        let from = self.reclaim_from.lock().unwrap().clone();
        let (next, claimed): (String, StreamClaimReply) = reclaim_script()
            .key(keys::PAYMENTS)
            .arg(keys::GROUP)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg(&from)
            .arg(count.max(1))
            .invoke_async(&mut conn)
            .await
            .map_err(classify)?;
        *self.reclaim_from.lock().unwrap() = next;
        self.parse_all(claimed.ids, true).await
    }

    /// Resets the idle time of the entries `consumer` still holds among `entry_ids`, so nobody
    /// reclaims them; returns those another worker holds now (it reclaimed them while Redis was
    /// unreachable): those stay where they are. Entries acknowledged since the caller listed them
    /// are neither refreshed nor returned. A call's size is bounded by the script's one `XCLAIM`
    /// (see `refresh.lua`); the refresh loop sends at most `MAX_REDIS_BATCH`.
    pub async fn refresh(
        &self,
        consumer: &str,
        entry_ids: &[String],
    ) -> Result<Vec<String>, QueueError> {
        if entry_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        refresh_script()
            .key(keys::PAYMENTS)
            .arg(keys::GROUP)
            .arg(consumer)
            .arg(entry_ids)
            .invoke_async(&mut conn)
            .await
            .map_err(classify)
    }

    /// Malformed entries read so far by this handle (dead-lettered as they were read).
    pub fn malformed_total(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    /// The payments among `entries`. The others cannot be paid and would stay pending forever
    /// (resumed and reclaimed again and again): they go to the dead-letter stream, with their
    /// fields, and are acknowledged; if that fails they are met again on a later read.
    async fn parse_all(
        &self,
        entries: impl IntoIterator<Item = StreamId>,
        redelivered: bool,
    ) -> Result<Vec<QueuedPayment>, QueueError> {
        let mut out = Vec::new();
        for entry in entries {
            match parse_entry(&entry, redelivered) {
                Some(p) => out.push(p),
                None => {
                    tracing::error!(entry_id = %entry.id, fields = ?entry.map, "malformed stream entry; dead-lettered");
                    match self.dead_letter_malformed(&entry).await {
                        Ok(()) => {
                            self.malformed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(err) => {
                            tracing::warn!(entry_id = %entry.id, %err, "dead-lettering a malformed entry failed")
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    async fn dead_letter_malformed(&self, entry: &StreamId) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(keys::DEAD)
            .arg("*")
            .arg("entry")
            .arg(&entry.id)
            .arg("fields")
            .arg(format!("{:?}", entry.map))
            .arg("reason")
            .arg(MALFORMED);
        acknowledge_and_delete(&mut pipe, &[entry.id.as_str()]);
        let _: Value = pipe.query_async(&mut conn).await.map_err(classify)?;
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
        let mut pipe = redis::pipe();
        pipe.atomic();
        acknowledge_and_delete(&mut pipe, &entry_ids);
        let _: Value = pipe
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
        let mut pipe = redis::pipe();
        pipe.atomic()
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
            .arg(reason);
        acknowledge_and_delete(&mut pipe, &[payment.entry_id.as_str()]);
        let _: Value = pipe
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

/// Appends to `pipe` what takes entries out of the queue for good: acknowledged for the group
/// and deleted from the stream (an acknowledged entry would otherwise stay in the stream).
fn acknowledge_and_delete(pipe: &mut redis::Pipeline, entry_ids: &[&str]) {
    pipe.cmd("XACK")
        .arg(keys::PAYMENTS)
        .arg(keys::GROUP)
        .arg(entry_ids)
        .cmd("XDEL")
        .arg(keys::PAYMENTS)
        .arg(entry_ids);
}
