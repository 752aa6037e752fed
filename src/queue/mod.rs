//! The durable queue: a Redis stream with a consumer group, plus the dedupe and attempt hashes.
//!
//! The API's whole request path is one call to [`Queue::enqueue`], a Lua script that dedupes,
//! checks the deadline and appends to the stream atomically.

pub mod keys;

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use redis::{AsyncCommands, Script, Value};

use crate::domain::{Amount, CorrelationId, Millis, PaymentRequest};

/// The dedupe window when none is configured (the `dedupe_window_ms` default; see the README
/// for its memory cost).
pub const DEFAULT_DEDUPE_WINDOW: Duration = Duration::from_secs(120);

/// What the enqueue script decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnqueueOutcome {
    /// Newly accepted and appended to the stream.
    Accepted,
    /// The same id with the same amount was accepted before; nothing was appended.
    Replayed,
    /// The same id was accepted before with another amount.
    Conflict,
    /// The deadline passed before Redis could take it; nothing was appended.
    TooLate,
}

/// Why the queue could not answer.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("redis is out of memory")]
    OutOfMemory,
    #[error("redis unavailable: {0}")]
    Unavailable(#[from] redis::RedisError),
    #[error("unexpected reply from redis: {0}")]
    Protocol(String),
}

impl QueueError {
    /// True when the command surely never reached Redis (the connection was refused), or Redis
    /// refused it whole (out of memory: the enqueue script's first write fails before any):
    /// nothing was done. Any other error may have come after Redis ran the command.
    pub fn nothing_done(&self) -> bool {
        match self {
            QueueError::OutOfMemory => true,
            QueueError::Unavailable(e) => e.is_connection_refusal(),
            QueueError::Protocol(_) => false,
        }
    }

    /// True when Redis has no consumer group for the stream (`NOGROUP`).
    pub fn is_missing_group(&self) -> bool {
        matches!(self, QueueError::Unavailable(e) if e.code() == Some("NOGROUP"))
    }
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

/// How long an accepted correlation id is remembered for deduplication, as the enqueue script
/// keeps it: in hashes per time bucket that expire whole (Redis 7.0 has no per-field expiry).
///
/// A window spans [`DedupeWindow::SPANS`] buckets; an id is remembered from its acceptance for
/// at least the window and less than the window plus one bucket, and Redis holds at most that
/// many seconds of ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupeWindow {
    bucket_ms: u64,
}

impl DedupeWindow {
    /// Buckets per window: more buckets waste less memory past the window (a quarter here) but
    /// cost one more `HGET` per enqueue each.
    pub const SPANS: u64 = 4;

    /// The window, rounded up to a whole number of milliseconds per bucket.
    pub fn new(window: Duration) -> Self {
        let ms = window.as_millis().max(1) as u64;
        Self {
            bucket_ms: ms.div_ceil(Self::SPANS),
        }
    }

    /// The guaranteed memory: how long an id is remembered at least.
    pub fn window(&self) -> Duration {
        Duration::from_millis(self.bucket_ms * Self::SPANS)
    }

    /// The longest an id (and its memory) is kept: the window plus one bucket.
    pub fn retention(&self) -> Duration {
        Duration::from_millis(self.bucket_ms * (Self::SPANS + 1))
    }
}

/// A handle on the queue; cheap to clone (one multiplexed, self-reconnecting connection).
#[derive(Clone)]
pub struct Queue {
    conn: ConnectionManager,
    /// A second connection for lookups that must not wait behind the first one's commands.
    lookups: ConnectionManager,
    dedupe: DedupeWindow,
}

/// Where an id stands in the dedupe window; see [`Queue::find`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Accepted with this amount (cents).
    Accepted(i64),
    /// Not there, and no enqueue of it can succeed any more (its deadline passed in Redis).
    Absent,
    /// Not there yet; an enqueue of it may still be on its way.
    NotYet,
}

fn script(cell: &'static std::sync::OnceLock<Script>, code: &'static str) -> &'static Script {
    cell.get_or_init(|| Script::new(code))
}

fn enqueue_script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    script(&SCRIPT, include_str!("enqueue.lua"))
}

fn accepted_script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    script(&SCRIPT, include_str!("accepted.lua"))
}

fn classify(err: redis::RedisError) -> QueueError {
    if err.code() == Some("OOM") {
        QueueError::OutOfMemory
    } else {
        QueueError::Unavailable(err)
    }
}

impl Queue {
    /// Connects (retrying in the background once connected) and makes sure the group exists.
    pub async fn connect(url: &str, response_timeout: Duration) -> Result<Self, QueueError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(response_timeout))
            .set_connection_timeout(Some(response_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client.clone(), config.clone()).await?;
        let lookups = ConnectionManager::new_with_config(client, config).await?;
        let queue = Self {
            conn,
            lookups,
            dedupe: DedupeWindow::new(DEFAULT_DEDUPE_WINDOW),
        };
        queue.ensure_group().await?;
        // Loaded now so that its EVALSHA carries the script's no-writes flag: an EVALSHA of an
        // unknown script is held like a write while Redis holds writes, which is when the
        // lookup is needed.
        let _: String = accepted_script()
            .prepare_invoke()
            .load_async(&mut queue.lookups.clone())
            .await
            .map_err(classify)?;
        Ok(queue)
    }

    /// The same queue with another dedupe window (the default is [`DEFAULT_DEDUPE_WINDOW`]).
    pub fn with_dedupe_window(mut self, window: DedupeWindow) -> Self {
        self.dedupe = window;
        self
    }

    /// Creates the consumer group (reading from the stream's start) unless it exists.
    pub async fn ensure_group(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let created: Result<Value, _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(keys::PAYMENTS)
            .arg(keys::GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }

    /// Dedupes and enqueues in one round trip. `deadline` is the latest Redis time (ms) at
    /// which the payment may still be accepted; 0 disables the check.
    pub async fn enqueue(
        &self,
        payment: &PaymentRequest,
        deadline: Millis,
    ) -> Result<EnqueueOutcome, QueueError> {
        let mut conn = self.conn.clone();
        let code: i64 = enqueue_script()
            .key(keys::PAYMENTS)
            .arg(payment.correlation_id.as_str())
            .arg(payment.amount.cents())
            .arg(deadline)
            .arg(keys::ACCEPTED_BUCKET_PREFIX)
            .arg(self.dedupe.bucket_ms)
            .arg(DedupeWindow::SPANS)
            .invoke_async(&mut conn)
            .await
            .map_err(classify)?;
        match code {
            1 => Ok(EnqueueOutcome::Accepted),
            0 => Ok(EnqueueOutcome::Replayed),
            -1 => Ok(EnqueueOutcome::Conflict),
            -2 => Ok(EnqueueOutcome::TooLate),
            other => Err(QueueError::Protocol(format!("enqueue returned {other}"))),
        }
    }

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

    /// The amount a payment was accepted with, while its id is inside the dedupe window.
    pub async fn accepted_cents(&self, id: &CorrelationId) -> Result<Option<i64>, QueueError> {
        Ok(match self.find(id, 0).await? {
            Found::Accepted(cents) => Some(cents),
            Found::Absent | Found::NotYet => None,
        })
    }

    /// Looks an id up in the dedupe window over the second connection, so that it is answered
    /// even while the main one waits for a script Redis holds: [`Found::Absent`] is conclusive
    /// only once Redis's clock has passed `deadline`, the last moment the enqueue script may
    /// still accept the payment.
    pub async fn find(&self, id: &CorrelationId, deadline: Millis) -> Result<Found, QueueError> {
        let mut conn = self.lookups.clone();
        let reply: Value = accepted_script()
            .arg(id.as_str())
            .arg(keys::ACCEPTED_BUCKET_PREFIX)
            .arg(self.dedupe.bucket_ms)
            .arg(DedupeWindow::SPANS)
            .arg(deadline)
            .invoke_async(&mut conn)
            .await
            .map_err(classify)?;
        match reply {
            Value::BulkString(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| t.parse().ok())
                .map(Found::Accepted)
                .ok_or_else(|| QueueError::Protocol("accepted cents are not a number".into())),
            Value::Int(0) => Ok(Found::Absent),
            Value::Int(-1) => Ok(Found::NotYet),
            other => Err(QueueError::Protocol(format!("lookup returned {other:?}"))),
        }
    }

    /// What the queue knows of one payment: (accepted cents while inside the dedupe window,
    /// attempt record, dead-letter reason).
    pub async fn lookup(
        &self,
        id: &CorrelationId,
    ) -> Result<(Option<i64>, Option<String>, Option<String>), QueueError> {
        let accepted = self.accepted_cents(id).await?;
        let mut conn = self.conn.clone();
        let (attempt, dead): (Option<String>, Option<String>) = redis::pipe()
            .hget(keys::ATTEMPTS, id.as_str())
            .hget(keys::DEAD_IDS, id.as_str())
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        Ok((accepted, attempt, dead))
    }

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
