//! `GET /payments-summary`: exact money and bounds compared with the stored millisecond.

use reqwest::StatusCode;
use rinha::domain::format_millis;

use crate::assert_error;
use crate::support::{EVENTUALLY, Stack, new_id, spawn_stack};

/// Books one payment and returns its stored `requestedAt` in ms.
async fn one_booked_payment(stack: &Stack) -> i64 {
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    stack.wait_until_booked(1, EVENTUALLY).await;
    let rows = stack.ledger_rows().await;
    assert_eq!(rows.len(), 1);
    let requested_at = rows[0].3;
    assert_eq!(
        stack.default_processor().payment(&id).unwrap().requested_at,
        format_millis(requested_at),
        "the ledger holds the requestedAt the processor stored"
    );
    requested_at
}

fn count(summary: &serde_json::Value) -> u64 {
    crate::support::booked_count(summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_ledger_summarises_to_zero_with_two_decimals() {
    let stack = spawn_stack().await;
    let reply = stack.summary_raw("").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.content_type().starts_with("application/json"));
    assert_eq!(
        reply.text,
        r#"{"default":{"totalRequests":0,"totalAmount":0.00},"fallback":{"totalRequests":0,"totalAmount":0.00}}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_are_inclusive_on_both_sides_at_the_exact_stored_millisecond() {
    let stack = spawn_stack().await;
    let at = one_booked_payment(&stack).await;
    let t = format_millis;

    let cases = [
        (format!("from={}&to={}", t(at), t(at)), 1),
        (format!("from={}", t(at)), 1),
        (format!("to={}", t(at)), 1),
        (format!("from={}", t(at + 1)), 0),
        (format!("to={}", t(at - 1)), 0),
        (format!("from={}&to={}", t(at - 1), t(at + 1)), 1),
        // Empty bounds are open.
        ("from=&to=".to_owned(), 1),
        // Sub-millisecond digits are compared exactly: the stored millisecond is
        // `…sss.000`, so a `from` one microsecond later excludes it and a `to` 999 µs later
        // still includes it.
        (format!("from={}", t(at).replace('Z', "001Z")), 0),
        (format!("to={}", t(at).replace('Z', "999Z")), 1),
        // Offsets other than Z, with the `+` raw, encoded, or turned into a space.
        (format!("from={}", t(at).replace('Z', "+00:00")), 1),
        (format!("from={}", t(at).replace('Z', "%2B00:00")), 1),
        (format!("from={}", t(at).replace('Z', "%2000:00")), 1),
        (format!("from={}", t(at + 1).replace('Z', "+00:00")), 0),
    ];
    for (query, expected) in cases {
        let summary = stack.summary(&query).await;
        assert_eq!(count(&summary), expected, "?{query}: {summary}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_later_than_to_is_a_bad_request() {
    let stack = spawn_stack().await;
    let reply = stack
        .summary_raw("from=2025-07-15T12:34:56.001Z&to=2025-07-15T12:34:56.000Z")
        .await;
    assert_error(&reply, 400, "bad_request");
    // Equal bounds are a one-millisecond window, not an error.
    let reply = stack
        .summary_raw("from=2025-07-15T12:34:56.000Z&to=2025-07-15T12:34:56.000Z")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparseable_bound_is_a_bad_request_naming_the_parameter() {
    let stack = spawn_stack().await;
    for (query, param) in [
        ("from=yesterday", "`from`"),
        ("to=2025-13-01T00:00:00Z", "`to`"),
        ("from=2025-07-15T12:34:56.000Z&to=1752582896", "`to`"),
        ("from=2025-07-15", "`from`"),
    ] {
        let reply = stack.summary_raw(query).await;
        assert_error(&reply, 400, "bad_request");
        let message = reply.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(param), "?{query}: {message}");
    }
}
