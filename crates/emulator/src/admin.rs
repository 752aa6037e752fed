//! The admin endpoints the load test uses (never the backend): summary, configuration, purge.
//!
//! Each checks `X-Rinha-Token` against the current token (401 with an empty body when it
//! differs). As in the official processor, the request's body or query is bound *before*
//! the token is checked, so a malformed request is 400 even with a wrong token.

use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::body::read_json;
use super::reply;
use super::state::ProcessorState;
use super::store::MicrosRange;
use super::timestamp::parse_micros;
use crate::decimal::Scaled;

/// The header that carries the admin token.
pub const TOKEN_HEADER: &str = "X-Rinha-Token";

fn authorized(state: &ProcessorState, req: &Request) -> bool {
    req.headers()
        .get(TOKEN_HEADER)
        .is_some_and(|token| state.settings.token_matches(token.as_bytes()))
}

/// The body of the admin summary.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryResponse {
    total_amount: Box<RawValue>,
    total_requests: u64,
    total_fee: Box<RawValue>,
    fee_per_transaction: Box<RawValue>,
}

/// `GET /admin/payments-summary?from&to`: count, sum and fee of the payments whose
/// `requestedAt` is in `[from, to]` (every payment when either bound is missing).
///
/// `totalFee` is `totalAmount × feePerTransaction`, exact and unrounded (C# `decimal`
/// arithmetic in the official processor): 398.00 × 0.05 is written `19.9000`.
pub(crate) struct PaymentsSummary(pub Arc<ProcessorState>);

#[async_trait]
impl Handler for PaymentsSummary {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let state = &self.0;
        let bound = |name: &str| match req.query::<String>(name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(text) => parse_micros(&text).map(Some),
        };
        let (Ok(from), Ok(to)) = (bound("from"), bound("to")) else {
            return reply::empty(res, StatusCode::BAD_REQUEST);
        };
        if !authorized(state, req) {
            return reply::empty(res, StatusCode::UNAUTHORIZED);
        }
        let range = from.zip(to).map(|(from, to)| MicrosRange { from, to });
        let totals = state.store.totals(range);
        let body = SummaryResponse {
            total_amount: reply::number(Scaled::cents(totals.amount_cents).to_string()),
            total_requests: totals.count,
            total_fee: reply::number(state.fee.apply(totals.amount_cents).to_string()),
            fee_per_transaction: reply::number(state.fee.to_string()),
        };
        reply::json(res, StatusCode::OK, &body);
    }
}

/// The answer to a configuration change: `{"config": name, "was": old, "is": new}`.
#[derive(Serialize)]
struct ConfigurationChanged<T> {
    config: &'static str,
    was: T,
    is: T,
}

#[derive(Deserialize)]
struct TokenRequest {
    token: String,
}

/// `PUT /admin/configurations/token {"token"}` → 204.
pub(crate) struct SetToken(pub Arc<ProcessorState>);

#[async_trait]
impl Handler for SetToken {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let body = match read_json::<TokenRequest>(req).await {
            Ok(body) => body,
            Err(status) => return reply::empty(res, status),
        };
        if !authorized(&self.0, req) {
            return reply::empty(res, StatusCode::UNAUTHORIZED);
        }
        self.0.settings.set_token(body.token);
        res.status_code(StatusCode::NO_CONTENT);
    }
}

#[derive(Deserialize)]
pub(crate) struct DelayRequest {
    delay: i32,
}

#[derive(Deserialize)]
pub(crate) struct FailureRequest {
    failure: bool,
}

/// `PUT /admin/configurations/{delay|failure}` → 200 `{"config","was","is"}`: one handler for
/// both settings, which differ only in their body and the value they swap.
pub(crate) struct SetConfiguration<B, T> {
    state: Arc<ProcessorState>,
    config: &'static str,
    /// Applies the request to the settings; returns (was, is).
    apply: fn(&ProcessorState, B) -> (T, T),
}

impl SetConfiguration<DelayRequest, i32> {
    /// `PUT /admin/configurations/delay {"delay": ms}`.
    pub(crate) fn delay(state: Arc<ProcessorState>) -> Self {
        Self {
            state,
            config: "delay",
            apply: |s, b| (s.settings.set_delay_ms(b.delay), b.delay),
        }
    }
}

impl SetConfiguration<FailureRequest, bool> {
    /// `PUT /admin/configurations/failure {"failure": bool}`.
    pub(crate) fn failure(state: Arc<ProcessorState>) -> Self {
        Self {
            state,
            config: "failure",
            apply: |s, b| (s.settings.set_failure(b.failure), b.failure),
        }
    }
}

#[async_trait]
impl<B, T> Handler for SetConfiguration<B, T>
where
    B: serde::de::DeserializeOwned + Send + 'static,
    T: Serialize + Send + Sync + 'static,
{
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let body = match read_json::<B>(req).await {
            Ok(body) => body,
            Err(status) => return reply::empty(res, status),
        };
        if !authorized(&self.state, req) {
            return reply::empty(res, StatusCode::UNAUTHORIZED);
        }
        let (was, is) = (self.apply)(&self.state, body);
        let changed = ConfigurationChanged {
            config: self.config,
            was,
            is,
        };
        reply::json(res, StatusCode::OK, &changed);
    }
}

/// `POST /admin/purge-payments` → 200 `{"message": "All payments purged."}`.
pub(crate) struct PurgePayments(pub Arc<ProcessorState>);

#[async_trait]
impl Handler for PurgePayments {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        if !authorized(&self.0, req) {
            return reply::empty(res, StatusCode::UNAUTHORIZED);
        }
        self.0.store.purge();
        reply::message(res, StatusCode::OK, "All payments purged.");
    }
}
