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

/// Sends `request` as raw bytes to the API and returns the status line of the answer, or `None`
/// when the connection closed without one; panics if nothing happens within a second.
async fn raw_status_line(stack: &Stack, request: &[u8]) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = stack.base_url.trim_start_matches("http://");
    let exchange = async {
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        conn.write_all(request).await.expect("send");
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            if answer.windows(2).any(|w| w == b"\r\n") {
                break;
            }
        }
        let text = String::from_utf8_lossy(&answer).into_owned();
        text.lines().next().map(str::to_owned)
    };
    tokio::time::timeout(std::time::Duration::from_secs(1), exchange)
        .await
        .expect("the API answers or closes within a second")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_utf8_after_a_percent_is_a_bad_request_and_the_api_stays_up() {
    let stack = spawn_stack().await;
    // What reqwest would percent-encode for us: `é` as raw UTF-8 bytes in the request line.
    let request =
        "GET /payments-summary?from=%a\u{e9} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let status = raw_status_line(&stack, request.as_bytes()).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 400 Bad Request"));
    // And the next request is served as usual.
    assert_eq!(stack.summary_raw("").await.status, StatusCode::OK);
}
