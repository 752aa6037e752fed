//! `GET /payments/service-health`: failure mode and delay, behind a fixed-window rate limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use salvo::http::StatusCode;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};
use serde::Serialize;
use tokio::time::Instant;

use super::limits::Booking;
use super::reply;
use super::state::ProcessorState;

/// The body of the health answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HealthResponse {
    failing: bool,
    min_response_time: i32,
}

/// `GET /payments/service-health`: 200 now, 200 after waiting for a later window, or 429.
pub(crate) struct ServiceHealth(pub Arc<ProcessorState>);

#[async_trait]
impl Handler for ServiceHealth {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let state = &self.0;
        match state.health.book(Instant::now()) {
            Booking::Now => {}
            Booking::At(start) => {
                let _waiting = Waiting::enter(&state.health_waiting);
                tokio::time::sleep_until(start).await;
            }
            Booking::Rejected => return reply::too_many_requests(res, state.retry_after_secs()),
        }
        // Read after the wait: a queued call reports the state of the window it was let in.
        let body = HealthResponse {
            failing: state.settings.failing(),
            min_response_time: state.settings.delay_ms(),
        };
        reply::json(res, StatusCode::OK, &body);
    }
}

/// Counts a call as waiting until it is let in or gives up.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
