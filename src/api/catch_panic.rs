//! A panic inside a request is that request's 500, never the process's problem.
//!
//! Without this layer a handler panic unwinds into salvo's connection task: tokio catches it
//! there and the connection is closed with no answer (nginx then retries or times out). The
//! layer answers instead, with the same JSON error shape as every other error, and logs it.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use salvo::http::header::CONTENT_TYPE;
use salvo::http::{HeaderValue, ResBody};
use salvo::prelude::*;

use super::ApiError;
use crate::metrics::Metrics;
use crate::telemetry::panic_message;

/// The hoop in front of every handler; see the module docs.
pub(super) struct CatchPanic {
    pub(super) metrics: Arc<Metrics>,
}

#[salvo::async_trait]
impl Handler for CatchPanic {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        // Unwind safety: a request's handler shares only atomics (metrics) and self-healing
        // connections (Redis, PostgreSQL pool) with other requests; nothing it could leave half
        // updated is read by another request.
        let next = AssertUnwindSafe(ctrl.call_next(req, depot, res)).catch_unwind();
        if let Err(payload) = next.await {
            let path = req.uri().path();
            tracing::error!(
                method = %req.method(),
                path,
                panic = panic_message(&*payload),
                "request handler panicked; answered 500"
            );
            let err = ApiError::Internal("internal error while handling this request".into());
            self.metrics.request(err.status().as_u16());
            res.status_code(err.status());
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res.body(ResBody::Once(err.body().into()));
            ctrl.skip_rest();
        }
    }
}
