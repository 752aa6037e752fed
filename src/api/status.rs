//! `GET /payments/{correlationId}`: where one payment stands.

use salvo::http::StatusCode;

use super::{Api, ApiError, Reply};
use crate::domain::Attempt;
use crate::domain::{Amount, CorrelationId, format_millis};

pub(super) async fn get(api: &Api, raw_id: &str) -> Result<Reply, ApiError> {
    let id = CorrelationId::parse(raw_id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let unavailable = |e: &dyn std::fmt::Display| ApiError::Unavailable(format!("{e}"));

    if let Some(b) = api.ledger.booked(&id).await.map_err(|e| unavailable(&e))? {
        let amount =
            Amount::from_cents(b.amount_cents).map_err(|e| ApiError::Internal(e.to_string()))?;
        return Ok(json(format!(
            r#"{{"correlationId":"{id}","amount":{amount},"status":"booked","processor":"{}","requestedAt":"{}"}}"#,
            b.processor,
            format_millis(b.requested_at)
        )));
    }
    let (accepted, attempt, dead) = api.queue.lookup(&id).await.map_err(|e| unavailable(&e))?;
    let Some(cents) = accepted else {
        return Err(ApiError::NotFound);
    };
    let amount = Amount::from_cents(cents).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(reason) = dead {
        return Ok(json(format!(
            r#"{{"correlationId":"{id}","amount":{amount},"status":"dead_lettered","reason":{}}}"#,
            serde_json::Value::from(reason)
        )));
    }
    let Some(attempt) = attempt.as_deref().map(Attempt::decode) else {
        return Ok(json(format!(
            r#"{{"correlationId":"{id}","amount":{amount},"status":"queued"}}"#
        )));
    };
    let Some(attempt) = attempt else {
        // Being resolved by asking both processors (see `worker::resolve`).
        return Ok(json(format!(
            r#"{{"correlationId":"{id}","amount":{amount},"status":"in_flight","record":"unreadable"}}"#
        )));
    };
    Ok(json(
        match attempt.unresolved.map(|u| (attempt.number, u)) {
            Some((number, open)) => format!(
                r#"{{"correlationId":"{id}","amount":{amount},"status":"in_flight","processor":"{}","since":"{}","attempt":{number}}}"#,
                open.processor,
                format_millis(open.requested_at)
            ),
            None => format!(r#"{{"correlationId":"{id}","amount":{amount},"status":"queued"}}"#),
        },
    ))
}

fn json(body: String) -> Reply {
    Reply::Json(StatusCode::OK, body)
}
