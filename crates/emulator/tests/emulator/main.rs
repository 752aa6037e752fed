//! The payment-processor emulator, pinned down over real HTTP on loopback: each test starts
//! its own emulator on a random port and talks to it as the backend or the load test would.
//! One module per behaviour; the helpers below are shared by all of them.

mod admin;
mod admission;
mod binary;
mod conformance;
mod faults;
mod payments;
mod service_health;

use std::time::{Duration, Instant};

use reqwest::{Client, Response, StatusCode};
use rinha_emulator::{self as emulator, EmulatorConfig, Fault, RunningEmulator, TOKEN_HEADER};
use serde_json::{Value, json};

/// Bound for every "wait until it happened" in these tests: generous, never slept through.
const EVENTUALLY: Duration = Duration::from_secs(5);
const AT: &str = "2025-07-15T12:34:56.000Z";

async fn spawn_emulator(config: EmulatorConfig) -> RunningEmulator {
    emulator::start(config).await.expect("emulator starts")
}

async fn spawn_default() -> RunningEmulator {
    spawn_emulator(EmulatorConfig::default()).await
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A distinct, valid UUID per `n`.
fn id(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// `POST /payments` with the amount written exactly as `amount` (JSON number text).
async fn pay_with(
    client: &Client,
    emu: &RunningEmulator,
    id: &str,
    amount: &str,
    at: &str,
) -> reqwest::Result<Response> {
    client
        .post(format!("{}/payments", emu.url()))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"correlationId":"{id}","amount":{amount},"requestedAt":"{at}"}}"#
        ))
        .send()
        .await
}

async fn pay(emu: &RunningEmulator, id: &str) -> Response {
    pay_with(&client(), emu, id, "19.90", AT).await.unwrap()
}

async fn admin(
    emu: &RunningEmulator,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut request = client().request(method, format!("{}{path}", emu.url()));
    if let Some(token) = token {
        request = request.header(TOKEN_HEADER, token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn summary(emu: &RunningEmulator, query: &str) -> Response {
    admin(
        emu,
        reqwest::Method::GET,
        &format!("/admin/payments-summary{query}"),
        Some("123"),
        None,
    )
    .await
}

async fn health(emu: &RunningEmulator) -> Response {
    client()
        .get(format!("{}/payments/service-health", emu.url()))
        .send()
        .await
        .unwrap()
}

fn retry_after(response: &Response) -> Option<String> {
    response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned())
}
