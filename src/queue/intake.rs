//! The intake side: enqueue (dedupe, deadline and append in one script) and the lookups of
//! what was accepted.

use redis::{Script, Value};

use super::{DedupeWindow, Queue, QueueError, classify, keys};
use crate::domain::{Amount, Attempt, CorrelationId, Millis, PaymentRequest};

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

/// Where an id stands in the dedupe window; see [`Queue::find`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Accepted with this amount.
    Accepted(Amount),
    /// Not there, and no enqueue of it can succeed any more (its deadline passed in Redis).
    Absent,
    /// Not there yet; an enqueue of it may still be on its way.
    NotYet,
}

/// What the queue knows of one payment; see [`Queue::lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentView {
    /// The amount it was accepted with, while its id is inside the dedupe window.
    pub accepted: Option<Amount>,
    /// Its attempt record; `None` before the first call and for a record this version cannot
    /// read (then `attempt_unreadable`).
    pub attempt: Option<Attempt>,
    /// A record is there but this version cannot read it: the worker resolves it by asking both
    /// processors (`worker::resolve`).
    pub attempt_unreadable: bool,
    /// Why it was dead-lettered, if it was.
    pub dead_letter: Option<String>,
}

pub(super) fn script(
    cell: &'static std::sync::OnceLock<Script>,
    code: &'static str,
) -> &'static Script {
    cell.get_or_init(|| Script::new(code))
}

fn enqueue_script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    script(&SCRIPT, include_str!("enqueue.lua"))
}

pub(super) fn accepted_script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    script(&SCRIPT, include_str!("accepted.lua"))
}

impl Queue {
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

    /// The amount a payment was accepted with, while its id is inside the dedupe window.
    pub async fn accepted_amount(&self, id: &CorrelationId) -> Result<Option<Amount>, QueueError> {
        Ok(match self.find(id, 0).await? {
            Found::Accepted(amount) => Some(amount),
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
                .and_then(|cents| Amount::from_cents(cents).ok())
                .map(Found::Accepted)
                .ok_or_else(|| QueueError::Protocol("accepted cents are not an amount".into())),
            Value::Int(0) => Ok(Found::Absent),
            Value::Int(-1) => Ok(Found::NotYet),
            other => Err(QueueError::Protocol(format!("lookup returned {other:?}"))),
        }
    }

    /// What the queue knows of one payment.
    pub async fn lookup(&self, id: &CorrelationId) -> Result<PaymentView, QueueError> {
        let accepted = self.accepted_amount(id).await?;
        let mut conn = self.conn.clone();
        let (attempt, dead): (Option<String>, Option<String>) = redis::pipe()
            .hget(keys::ATTEMPTS, id.as_str())
            .hget(keys::DEAD_IDS, id.as_str())
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        let decoded = attempt.as_deref().and_then(Attempt::decode);
        Ok(PaymentView {
            accepted,
            attempt_unreadable: attempt.is_some() && decoded.is_none(),
            attempt: decoded,
            dead_letter: dead,
        })
    }
}
