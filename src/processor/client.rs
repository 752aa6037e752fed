//! The HTTP client for one processor.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::outcome::{CallOutcome, classify_status};
use crate::config::ProcessorSettings;
use crate::domain::{Amount, CorrelationId, Millis, Processor, format_millis, time::parse_millis};

/// A processor's answer to the health endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct HealthReport {
    pub failing: bool,
    #[serde(rename = "minResponseTime")]
    pub min_response_time: u64,
}

/// What a processor stored for a payment (`GET /payments/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredPayment {
    pub requested_at: Millis,
}

#[derive(Serialize)]
struct PaymentBody<'a> {
    #[serde(rename = "correlationId")]
    correlation_id: &'a str,
    /// Serialized from the exact cents as a JSON number with two decimals.
    amount: serde_json::Number,
    #[serde(rename = "requestedAt")]
    requested_at: String,
}

/// Calls one processor. Cheap to clone: reqwest pools connections.
#[derive(Clone)]
pub struct ProcessorClient {
    pub processor: Processor,
    base: String,
    http: reqwest::Client,
}

impl ProcessorClient {
    pub fn new(settings: &ProcessorSettings, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            // Never followed: see `classify_status`.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client builds with static settings");
        Self {
            processor: settings.processor,
            base: settings.url.clone(),
            http,
        }
    }

    /// Sends a payment with the given `requestedAt`; never fails, the outcome says it all.
    pub async fn pay(
        &self,
        id: &CorrelationId,
        amount: Amount,
        requested_at: Millis,
    ) -> CallOutcome {
        let amount_text = amount.to_string();
        let body = PaymentBody {
            correlation_id: id.as_str(),
            amount: amount_text
                .parse()
                .expect("a two-decimal amount is a JSON number"),
            requested_at: format_millis(requested_at),
        };
        let result = self
            .http
            .post(format!("{}/payments", self.base))
            .json(&body)
            .send()
            .await;
        match result {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                classify_status(response.status().as_u16(), retry_after)
            }
            Err(err) if err.is_connect() => CallOutcome::NotSent,
            Err(err) => {
                tracing::debug!(%err, processor = %self.processor, correlation_id = %id, "call outcome unknown");
                CallOutcome::Unknown
            }
        }
    }

    /// Asks what the processor stored for `id`: `Ok(Some)` stored, `Ok(None)` a definite 404,
    /// `Err` when the answer is unknown.
    pub async fn stored(&self, id: &CorrelationId) -> Result<Option<StoredPayment>, String> {
        let response = self
            .http
            .get(format!("{}/payments/{}", self.base, id))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match response.status().as_u16() {
            404 => Ok(None),
            200 => {
                let value: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
                let requested_at = value
                    .get("requestedAt")
                    .and_then(|v| v.as_str())
                    .and_then(parse_millis)
                    .ok_or_else(|| format!("no requestedAt in {value}"))?;
                Ok(Some(StoredPayment { requested_at }))
            }
            other => Err(format!("GET /payments/{{id}} answered {other}")),
        }
    }

    /// Calls the rate-limited health endpoint.
    pub async fn health(&self) -> Result<HealthReport, String> {
        let response = self
            .http
            .get(format!("{}/payments/service-health", self.base))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("health answered {}", response.status()));
        }
        response.json().await.map_err(|e| e.to_string())
    }
}
