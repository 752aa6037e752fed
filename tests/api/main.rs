//! The payment service pinned down over real HTTP, against a real Redis, a real PostgreSQL 17
//! and the processor emulators. Every test starts its own stack (`support::spawn_stack`), so
//! tests run in parallel and cannot see each other's payments; test names state the behaviour.
//!
//! - `payments`: accepting payments — the input table, idempotency, conflicts, status;
//! - `summary`: the summary's exact money and its time bounds;
//! - `outcomes`: what each processor answer does to a payment (the outcome table);
//! - `crashes`: a worker killed mid-call, SIGTERM draining, Redis down;
//! - `dedupe`: the dedupe window — replays inside it, memory freed after it;
//! - `exactly_once`: paid once whatever the queue entry goes through; ledger conflicts alarm;
//! - `purge`: the purge endpoint;
//! - `queue_faults`: restarts with many pending entries, malformed entries, reclaiming after outages;
//! - `unknown_outcome`: an enqueue not heard in time is looked up before answering;
//! - `support_smoke`: the test helpers themselves start real servers that clients can use.

#[path = "../support/mod.rs"]
mod support;

mod crashes;
mod dedupe;
mod exactly_once;
mod outcomes;
mod payments;
mod purge;
mod queue_faults;
mod summary;
mod support_smoke;
mod unknown_outcome;

use reqwest::StatusCode;
use support::Reply;

/// Asserts an error answer: `status`, a JSON content type and a body
/// `{"error": <code>, "message": <non-empty text>}`.
fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(
        reply.status,
        StatusCode::from_u16(status).unwrap(),
        "expected {status} {code}, got {reply:?}"
    );
    assert!(
        reply.content_type().starts_with("application/json"),
        "error answers are JSON: {reply:?}"
    );
    let body = reply.json();
    assert_eq!(body["error"], code, "{reply:?}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an error carries a message: {reply:?}"
    );
}
