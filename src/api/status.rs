//! `GET /payments/{correlationId}`: where one payment stands.

use salvo::http::StatusCode;

use super::json::{PaymentStatus, State, to_body};
use super::{Api, ApiError, Reply};
use crate::domain::{CorrelationId, format_millis};
use crate::ledger::LedgerError;

pub(super) async fn get(api: &Api, raw_id: &str) -> Result<Reply, ApiError> {
    let id = CorrelationId::parse(raw_id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let unavailable = |e: &dyn std::fmt::Display| ApiError::Unavailable(format!("{e}"));
    let answer = |amount, state| {
        let body = to_body(&PaymentStatus {
            correlation_id: id.as_str(),
            amount,
            state,
        });
        Ok(Reply::Json(StatusCode::OK, body))
    };

    let booked = api.ledger.booked(&id).await.map_err(|e| match e {
        LedgerError::Corrupt(_) => ApiError::Internal(e.to_string()),
        e => unavailable(&e),
    })?;
    if let Some(b) = booked {
        let state = State::Booked {
            processor: b.processor.as_str(),
            requested_at: format_millis(b.requested_at),
        };
        return answer(b.amount, state);
    }
    let view = api.queue.lookup(&id).await.map_err(|e| unavailable(&e))?;
    let Some(amount) = view.accepted else {
        return Err(ApiError::NotFound);
    };
    if let Some(reason) = view.dead_letter {
        return answer(amount, State::DeadLettered { reason });
    }
    if view.attempt_unreadable {
        // Being resolved by asking both processors (see `worker::resolve`).
        return answer(
            amount,
            State::InFlightUnreadable {
                record: "unreadable",
            },
        );
    }
    let state = match view
        .attempt
        .and_then(|a| a.unresolved.map(|u| (a.number, u)))
    {
        Some((number, open)) => State::InFlight {
            processor: open.processor.as_str(),
            since: format_millis(open.requested_at),
            attempt: number,
        },
        None => State::Queued,
    };
    answer(amount, state)
}
