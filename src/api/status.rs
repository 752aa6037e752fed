//! `GET /payments/{correlationId}`: where one payment stands.

use salvo::http::StatusCode;

use super::{Api, ApiError, Reply};
use crate::domain::{CorrelationId, format_millis};
use crate::ledger::LedgerError;

pub(super) async fn get(api: &Api, raw_id: &str) -> Result<Reply, ApiError> {
    let id = CorrelationId::parse(raw_id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let unavailable = |e: &dyn std::fmt::Display| ApiError::Unavailable(format!("{e}"));

    let booked = api.ledger.booked(&id).await.map_err(|e| match e {
        LedgerError::Corrupt(_) => ApiError::Internal(e.to_string()),
        e => unavailable(&e),
    })?;
    if let Some(b) = booked {
        return Ok(json(format!(
            r#"{{"correlationId":"{id}","amount":{},"status":"booked","processor":"{}","requestedAt":"{}"}}"#,
            b.amount,
            b.processor,
            format_millis(b.requested_at)
        )));
    }
    let view = api.queue.lookup(&id).await.map_err(|e| unavailable(&e))?;
    let Some(amount) = view.accepted else {
        return Err(ApiError::NotFound);
    };
    if let Some(reason) = view.dead_letter {
        return Ok(json(format!(
            r#"{{"correlationId":"{id}","amount":{amount},"status":"dead_lettered","reason":{}}}"#,
            serde_json::Value::from(reason)
        )));
    }
    Ok(json(
        match view
            .attempt
            .and_then(|a| a.unresolved.map(|u| (a.number, u)))
        {
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
