//! `POST /payments` and `GET /payments/{id}`: the part of the processor the backend talks to.

use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::{ConnCtrl, Depot, FlowCtrl, Handler, Request, Response, async_trait};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::body::read_json;
use super::correlation::CorrelationId;
use super::faults::Fault;
use super::money::parse_cents;
use super::reply;
use super::state::{Outcome, ProcessorState};
use super::store::StoredPayment;
use super::timestamp::{format_zoneless, parse_micros};
use crate::decimal::Scaled;

/// The body of `POST /payments`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentRequest {
    correlation_id: String,
    /// Kept as JSON text so the amount is parsed exactly, never through `f64`.
    amount: Box<RawValue>,
    requested_at: String,
}

impl PaymentRequest {
    /// The payment to store, or `None` when a field does not hold a valid value.
    fn into_payment(self) -> Option<StoredPayment> {
        Some(StoredPayment {
            correlation_id: CorrelationId::parse_hyphenated(&self.correlation_id).ok()?,
            amount_cents: parse_cents(self.amount.get().trim()).ok()?,
            requested_at_us: parse_micros(&self.requested_at).ok()?,
            requested_at: self.requested_at,
        })
    }
}

/// `POST /payments`: admission limit, body, scripted fault, then delay → failure → store.
pub(crate) struct PostPayment(pub Arc<ProcessorState>);

#[async_trait]
impl Handler for PostPayment {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let state = &self.0;
        state.faults.record_received();
        let Ok(permit) = state.inflight.acquire().await else {
            return reply::too_many_requests(res, state.retry_after_secs());
        };
        let payment = match read_json::<PaymentRequest>(req).await {
            Ok(body) => body.into_payment(),
            Err(status) => return reply::empty(res, status),
        };
        let Some(payment) = payment else {
            return reply::empty(res, StatusCode::BAD_REQUEST);
        };
        let fault = state.faults.take();
        match &fault {
            Some(Fault::Status {
                status,
                retry_after,
            }) => {
                let status =
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return reply::with_retry_after(res, status, retry_after.map(u64::from));
            }
            Some(Fault::Redirect { status, location }) => {
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::FOUND);
                return reply::redirect(res, status, location);
            }
            // Holds the in-flight permit for as long as the client waits, like a stuck server.
            Some(Fault::Hang) => std::future::pending::<()>().await,
            Some(Fault::StoreThenDrop) | None => {}
        }
        let store_then_drop = fault == Some(Fault::StoreThenDrop);
        let id = payment.correlation_id;

        // Spawned: when the client hangs up, hyper drops this handler's future, but the
        // official processor still finishes (and stores) the payment, and so must we. The
        // permit travels with the work so the slot stays taken until the payment is done.
        let work = Arc::clone(state);
        let outcome = tokio::spawn(async move {
            let _permit = permit;
            work.process(payment, store_then_drop).await
        })
        .await;

        if store_then_drop {
            // Close the connection without a response: salvo drops it once the handler returns.
            if let Some(conn) = req.extensions().get::<ConnCtrl>() {
                conn.abort();
            }
            return reply::empty(res, StatusCode::INTERNAL_SERVER_ERROR);
        }
        match outcome {
            Ok(Outcome::Stored) => {
                reply::message(res, StatusCode::OK, "payment processed successfully");
            }
            Ok(Outcome::Duplicate) => reply::message(
                res,
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("Payment could not be processed. CorrelationId already exists: {id}."),
            ),
            Ok(Outcome::Failed) | Err(_) => reply::empty(res, StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// The body of `GET /payments/{id}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentResponse {
    correlation_id: String,
    amount: Box<RawValue>,
    requested_at: String,
}

/// `GET /payments/{id}`: the stored payment (200), 404, or 400 for an id that is no UUID.
///
/// No delay, but the same admission limit as `POST /payments` (the official processor puts both
/// behind one concurrency limiter): while payments hold every slot, asking waits or gets 429.
pub(crate) struct GetPayment(pub Arc<ProcessorState>);

#[async_trait]
impl Handler for GetPayment {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let Ok(_permit) = self.0.inflight.acquire().await else {
            return reply::too_many_requests(res, self.0.retry_after_secs());
        };
        let id = req.param::<String>("id").unwrap_or_default();
        let Ok(id) = CorrelationId::parse_lenient(&id) else {
            return reply::empty(res, StatusCode::BAD_REQUEST);
        };
        match self.0.store.get(id) {
            Some(payment) => reply::json(
                res,
                StatusCode::OK,
                &PaymentResponse {
                    correlation_id: payment.correlation_id.to_string(),
                    amount: reply::number(Scaled::cents(payment.amount_cents).to_string()),
                    requested_at: format_zoneless(payment.requested_at_us),
                },
            ),
            None => reply::empty(res, StatusCode::NOT_FOUND),
        }
    }
}
