//! The HTTP API. One handler dispatches on (method, path) so that every answer, 404 and 405
//! included, has the same JSON error shape and no routing table work sits on the hot path.

mod catch_panic;
mod error;
mod json;
mod payments;
mod status;
mod summary;

use std::sync::Arc;

use salvo::http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use salvo::http::{HeaderValue, Method, StatusCode};
use salvo::prelude::*;

pub use error::ApiError;
pub use summary::bounds as summary_bounds;

use crate::config::Settings;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::queue::Queue;

/// Which endpoints an instance serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The public API (payments, summary, purge) plus health and metrics.
    Public,
    /// Health and metrics only (the worker's own listener); health also checks PostgreSQL.
    Operations,
}

/// The API's shared state.
pub struct Api {
    pub settings: Arc<Settings>,
    pub queue: Queue,
    pub ledger: Ledger,
    pub metrics: Arc<Metrics>,
    pub surface: Surface,
}

/// The answer to one request.
pub(crate) enum Reply {
    Json(StatusCode, String),
    /// `GET /metrics`: [`Metrics::render`]'s OpenMetrics text.
    Metrics(String),
}

impl Api {
    async fn route(&self, req: &mut Request) -> Result<Reply, ApiError> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let public = self.surface == Surface::Public;
        match path.as_str() {
            "/payments" if public => match method {
                Method::POST => payments::create(self, req).await,
                _ => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            },
            "/payments-summary" if public => match method {
                Method::GET => summary::get(self, req).await,
                _ => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            },
            "/purge-payments" if public && self.settings.purge_enabled => match method {
                Method::POST => self.purge(req).await,
                _ => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            },
            "/healthz" => match method {
                Method::GET => Ok(self.health().await),
                _ => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            },
            "/metrics" => match method {
                Method::GET => Ok(self.render_metrics().await),
                _ => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            },
            p if public && p.starts_with("/payments/") => match method {
                Method::GET => status::get(self, &p["/payments/".len()..]).await,
                _ => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            },
            _ => Err(ApiError::NotFound),
        }
    }

    async fn purge(&self, req: &Request) -> Result<Reply, ApiError> {
        if let Some(token) = &self.settings.purge_token {
            let given = req
                .headers()
                .get("x-purge-token")
                .and_then(|v| v.to_str().ok());
            if given != Some(token.as_str()) {
                return Err(ApiError::Unauthorized);
            }
        }
        self.ledger
            .purge()
            .await
            .map_err(|e| ApiError::Unavailable(format!("ledger unavailable: {e}")))?;
        self.queue
            .purge()
            .await
            .map_err(|e| ApiError::Unavailable(format!("queue unavailable: {e}")))?;
        tracing::warn!("all payments purged");
        Ok(Reply::Json(
            StatusCode::OK,
            json::to_body(&json::Message {
                message: "All payments purged.",
            }),
        ))
    }

    async fn health(&self) -> Reply {
        let redis = self.queue.ping().await;
        let postgres = match self.surface {
            Surface::Operations => self.ledger.ping().await,
            Surface::Public => true,
        };
        let status = if redis && postgres {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        Reply::Json(status, json::to_body(&json::Health { redis, postgres }))
    }

    async fn render_metrics(&self) -> Reply {
        let depth = self.queue.depth().await.ok();
        Reply::Metrics(self.metrics.render(depth))
    }
}

#[salvo::async_trait]
impl Handler for Api {
    async fn handle(
        &self,
        req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let (status, body, content_type) = match self.route(req).await {
            Ok(Reply::Json(status, body)) => (status, body, "application/json"),
            Ok(Reply::Metrics(body)) => (StatusCode::OK, body, crate::metrics::CONTENT_TYPE),
            Err(err) => {
                if let ApiError::MethodNotAllowed { allow } = err {
                    res.headers_mut()
                        .insert(ALLOW, HeaderValue::from_static(allow));
                }
                if let ApiError::Unavailable(_) | ApiError::OutcomeUnknown = err {
                    res.headers_mut()
                        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                }
                (err.status(), err.body(), "application/json")
            }
        };
        self.metrics.request(status.as_u16());
        res.status_code(status);
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        let _ = res.write_body(body);
        ctrl.skip_rest();
    }
}

/// Builds the salvo service for `api`.
pub fn service(api: Api) -> Service {
    let metrics = api.metrics.clone();
    service_for(api, metrics)
}

/// The service around any handler: what every request goes through before it.
fn service_for(handler: impl Handler, metrics: Arc<Metrics>) -> Service {
    Service::new(Router::new())
        .hoop(catch_panic::CatchPanic { metrics })
        .hoop(handler)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use salvo::Server;
    use salvo::conn::{Acceptor, Listener, TcpListener};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// The percent-decoder `GET /payments-summary` used before form_urlencoded replaced it, kept
    /// here as a real trigger: it slices the text at byte offsets and panics on `%aé`.
    fn old_percent_decode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%'
                && i + 2 < bytes.len()
                && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Answers 200 with the decoded query, through the old decoder.
    struct OldDecoder;

    #[salvo::async_trait]
    impl Handler for OldDecoder {
        async fn handle(
            &self,
            req: &mut Request,
            _depot: &mut Depot,
            res: &mut Response,
            _ctrl: &mut FlowCtrl,
        ) {
            let decoded = old_percent_decode(req.uri().query().unwrap_or(""));
            res.status_code(StatusCode::OK);
            let _ = res.write_body(decoded);
        }
    }

    /// Sends one raw HTTP/1.1 request on a fresh connection; returns the whole answer text.
    async fn exchange(addr: &str, target: &str) -> String {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut answer));
        read.await
            .expect("an answer or a close within 5 s")
            .unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }

    // The current-thread runtime, like `rinha api`: a panic must not take the only thread.
    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_request_is_answered_500_with_the_json_error_and_the_next_is_served() {
        let metrics = Arc::new(Metrics::default());
        let acceptor = TcpListener::new("127.0.0.1:0").bind().await;
        let addr = acceptor.holdings()[0]
            .local_addr
            .clone()
            .into_std()
            .unwrap()
            .to_string();
        let server = Server::new(acceptor);
        let handle = server.handle();
        let task = tokio::spawn(server.serve(service_for(OldDecoder, metrics.clone())));

        let answer = exchange(&addr, "/payments-summary?from=%a\u{e9}").await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(head.starts_with("HTTP/1.1 500 "), "{answer:?}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{answer:?}"
        );
        let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
        assert_eq!(body["error"], "internal_error", "{answer:?}");
        assert!(
            metrics
                .render(None)
                .contains("rinha_http_requests_total{status=\"500\"} 1")
        );

        let answer = exchange(&addr, "/payments-summary?from=%41").await;
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
        assert!(answer.ends_with("from=A"), "{answer:?}");

        handle.stop_forceful();
        let _ = task.await;
    }
}
