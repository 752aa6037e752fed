//! `POST /payments` and `GET /payments/{id}`: what is accepted, what is refused, and that an
//! accepted payment ends up processed exactly once.

use reqwest::{Method, StatusCode};

use crate::assert_error;
use crate::support::{EVENTUALLY, ID_PREFIX, new_id, spawn_stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_payment_is_processed_by_the_default_processor_and_summarised_to_the_cent() {
    let stack = spawn_stack().await;
    let ids = [new_id(), new_id(), new_id()];

    for (id, amount) in ids.iter().zip(["19.90", "0.01", "1000"]) {
        let (status, body) = stack.post_payment(id, amount).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["correlationId"], id.as_str());
        assert_eq!(body["status"], "accepted");
    }
    stack.wait_until_booked(3, EVENTUALLY).await;

    let summary = stack.summary_raw("").await;
    assert_eq!(summary.status, StatusCode::OK);
    assert_eq!(
        summary.text,
        r#"{"default":{"totalRequests":3,"totalAmount":1019.91},"fallback":{"totalRequests":0,"totalAmount":0.00}}"#,
        "amounts are exact, with two decimals"
    );
    let default = stack.default_processor();
    assert_eq!(default.payment_count(), 3);
    assert_eq!(default.payment(&ids[0]).unwrap().amount_cents, 1990);
    assert_eq!(stack.fallback_processor().payments_received(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booked_payment_reports_its_processor_and_the_requested_at_the_processor_stored() {
    let stack = spawn_stack().await;
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );

    let booked = stack.wait_for_status(&id, "booked", EVENTUALLY).await;

    let stored = stack.default_processor().payment(&id).expect("stored");
    assert_eq!(booked["correlationId"], id.as_str());
    assert_eq!(booked["processor"], "default");
    assert_eq!(booked["amount"].as_f64(), Some(19.9));
    assert_eq!(booked["requestedAt"], stored.requested_at.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_payment_is_reported_as_queued_until_a_worker_takes_it() {
    let mut stack = crate::support::stack().without_worker().spawn().await;
    let id = new_id();
    assert_eq!(stack.post_payment(&id, "5").await.0, StatusCode::ACCEPTED);

    let (status, body) = stack.payment_status(&id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "queued", "{body}");
    assert_eq!(body["amount"].as_f64(), Some(5.0));

    stack.start_worker(&[]).await;
    stack.wait_for_status(&id, "booked", EVENTUALLY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_payment_id_is_404_and_a_malformed_one_is_400() {
    let stack = spawn_stack().await;

    let unknown = stack
        .request(Method::GET, &format!("/payments/{}", new_id()))
        .await;
    assert_error(&unknown, 404, "not_found");
    let malformed = stack.request(Method::GET, "/payments/not-a-uuid").await;
    assert_error(&malformed, 400, "bad_request");
}

/// One row of the input table: a request and the error it must get.
struct Refused {
    what: &'static str,
    content_type: Option<&'static str>,
    body: String,
    status: u16,
    error: &'static str,
}

fn refused(what: &'static str, body: String, status: u16, error: &'static str) -> Refused {
    Refused {
        what,
        content_type: Some("application/json"),
        body,
        status,
        error,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invalid_payment_is_refused_with_a_json_error_and_nothing_is_enqueued() {
    let stack = spawn_stack().await;
    let id = new_id;
    let braced = format!("{{{}}}", id());
    let rows = vec![
        // 400: not JSON, not an object, a field of the wrong JSON type, a missing field.
        refused(
            "not JSON",
            format!(r#"{{"correlationId":"{}","#, id()),
            400,
            "bad_request",
        ),
        refused("empty body", String::new(), 400, "bad_request"),
        refused("an array", "[]".into(), 400, "bad_request"),
        refused("a string", r#""payment""#.into(), 400, "bad_request"),
        refused(
            "amount as a string",
            format!(r#"{{"correlationId":"{}","amount":"19.90"}}"#, id()),
            400,
            "bad_request",
        ),
        refused(
            "amount null",
            format!(r#"{{"correlationId":"{}","amount":null}}"#, id()),
            400,
            "bad_request",
        ),
        refused(
            "correlationId as a number",
            r#"{"correlationId":12345,"amount":19.90}"#.into(),
            400,
            "bad_request",
        ),
        refused(
            "missing amount",
            format!(r#"{{"correlationId":"{}"}}"#, id()),
            400,
            "bad_request",
        ),
        refused(
            "missing correlationId",
            r#"{"amount":19.90}"#.into(),
            400,
            "bad_request",
        ),
        // 415: a Content-Type that is not JSON.
        Refused {
            what: "text/plain",
            content_type: Some("text/plain"),
            body: format!(r#"{{"correlationId":"{}","amount":19.90}}"#, id()),
            status: 415,
            error: "unsupported_media_type",
        },
        Refused {
            what: "a form",
            content_type: Some("application/x-www-form-urlencoded"),
            body: format!(r#"{{"correlationId":"{}","amount":19.90}}"#, id()),
            status: 415,
            error: "unsupported_media_type",
        },
        // 422: a correlationId that is not a hyphenated UUID.
        refused(
            "not a UUID",
            r#"{"correlationId":"order-42","amount":19.90}"#.into(),
            422,
            "unprocessable_entity",
        ),
        refused(
            "a braced UUID",
            format!(r#"{{"correlationId":"{braced}","amount":19.90}}"#),
            422,
            "unprocessable_entity",
        ),
        refused(
            "a URN UUID",
            format!(r#"{{"correlationId":"urn:uuid:{}","amount":19.90}}"#, id()),
            422,
            "unprocessable_entity",
        ),
        refused(
            "a UUID without hyphens",
            format!(
                r#"{{"correlationId":"{}","amount":19.90}}"#,
                id().replace('-', "")
            ),
            422,
            "unprocessable_entity",
        ),
        // 422: an amount that is not positive, too precise or too large.
        refused(
            "amount zero",
            format!(r#"{{"correlationId":"{}","amount":0}}"#, id()),
            422,
            "unprocessable_entity",
        ),
        refused(
            "amount negative",
            format!(r#"{{"correlationId":"{}","amount":-19.90}}"#, id()),
            422,
            "unprocessable_entity",
        ),
        refused(
            "three decimal places",
            format!(r#"{{"correlationId":"{}","amount":19.901}}"#, id()),
            422,
            "unprocessable_entity",
        ),
        refused(
            "below a cent",
            format!(r#"{{"correlationId":"{}","amount":0.001}}"#, id()),
            422,
            "unprocessable_entity",
        ),
        refused(
            "above the maximum",
            format!(r#"{{"correlationId":"{}","amount":1000000000.01}}"#, id()),
            422,
            "unprocessable_entity",
        ),
        // 413: a body over 4 KiB, even a valid one.
        refused(
            "a body over 4 KiB",
            format!(
                r#"{{"correlationId":"{}","amount":19.90,"padding":"{}"}}"#,
                id(),
                "x".repeat(5000)
            ),
            413,
            "payload_too_large",
        ),
    ];

    for row in &rows {
        let reply = stack
            .post_raw("/payments", row.content_type, row.body.clone())
            .await;
        assert_error(&reply, row.status, row.error);
        if let Some(at) = row.body.find(ID_PREFIX) {
            let id = &row.body[at..at + 36];
            assert_eq!(
                stack.accepted_in_redis(id).await,
                None,
                "{}: nothing may be enqueued",
                row.what
            );
        }
    }

    // Valid payments sent after the refused ones are processed; once they are booked, the
    // worker has had every chance to process anything refused that slipped into the queue.
    let valid = [
        (Some("application/json; charset=utf-8"), "19.90"),
        (None, "1000000000.00"),
        (Some("Application/JSON"), "0.01"),
    ];
    for (content_type, amount) in valid {
        let reply = stack
            .post_raw(
                "/payments",
                content_type,
                format!(
                    r#"{{"correlationId":"{}","amount":{amount},"ignored":{{"extra":[1]}}}}"#,
                    id()
                ),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::ACCEPTED,
            "{content_type:?}: {reply:?}"
        );
    }
    stack.wait_until_booked(3, EVENTUALLY).await;
    assert_eq!(stack.default_processor().payments_received(), 3);
    assert_eq!(stack.fallback_processor().payments_received(), 0);
    assert_eq!(
        stack.summary_raw("").await.text,
        r#"{"default":{"totalRequests":3,"totalAmount":1000000019.91},"fallback":{"totalRequests":0,"totalAmount":0.00}}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_405_naming_the_allowed_one_and_an_unknown_path_is_404() {
    let stack = spawn_stack().await;
    let cases = [
        (Method::GET, "/payments".to_owned(), "POST"),
        (Method::PUT, "/payments".to_owned(), "POST"),
        (Method::POST, "/payments-summary".to_owned(), "GET"),
        (Method::DELETE, format!("/payments/{}", new_id()), "GET"),
        (Method::GET, "/purge-payments".to_owned(), "POST"),
    ];
    for (method, path, allow) in cases {
        let reply = stack.request(method.clone(), &path).await;
        assert_error(&reply, 405, "method_not_allowed");
        assert_eq!(
            reply.headers.get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
    }
    for path in ["/", "/payment", "/payments-summary/today", "/admin/purge"] {
        let reply = stack.request(Method::GET, path).await;
        assert_error(&reply, 404, "not_found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_in_upper_case_is_the_same_payment_as_in_lower_case() {
    let stack = spawn_stack().await;
    let id = new_id();
    let (status, body) = stack.post_payment(&id.to_uppercase(), "19.90").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["correlationId"], id.as_str(), "stored lowercase");

    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    stack.wait_for_status(&id, "booked", EVENTUALLY).await;
    let upper = stack
        .wait_for_status(&id.to_uppercase(), "booked", EVENTUALLY)
        .await;
    assert_eq!(upper["correlationId"], id.as_str());
    assert_eq!(stack.default_processor().payments_received(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_with_the_same_amount_is_accepted_again_and_processed_once() {
    let stack = spawn_stack().await;
    let id = new_id();

    let (first, _) = stack.post_payment(&id, "19.9").await;
    let (replay, body) = stack.post_payment(&id, "19.90").await;

    assert_eq!(first, StatusCode::ACCEPTED);
    assert_eq!(replay, StatusCode::ACCEPTED, "{body}");
    stack.wait_until_booked(1, EVENTUALLY).await;
    // A replay after processing is still the same payment.
    assert_eq!(
        stack.post_payment(&id, "1.99e1").await.0,
        StatusCode::ACCEPTED
    );
    // Another payment, booked after the replays, shows the worker went past them.
    let later = new_id();
    assert_eq!(
        stack.post_payment(&later, "1").await.0,
        StatusCode::ACCEPTED
    );
    stack.wait_for_status(&later, "booked", EVENTUALLY).await;

    assert_eq!(stack.default_processor().payments_received(), 2);
    assert_eq!(stack.ledger_rows().await.len(), 2);
    let summary = stack.summary("").await;
    assert_eq!(summary["default"]["totalRequests"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_id_with_another_amount_is_a_conflict_and_changes_nothing() {
    let stack = spawn_stack().await;
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );

    let conflict = stack.post_payment_reply(&id, "20.00").await;

    assert_error(&conflict, 409, "conflict");
    let booked = stack.wait_for_status(&id, "booked", EVENTUALLY).await;
    assert_eq!(booked["amount"].as_f64(), Some(19.9));
    assert_eq!(stack.default_processor().payments_received(), 1);
    // Still a conflict after processing.
    let again = stack.post_payment_reply(&id, "20.00").await;
    assert_error(&again, 409, "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_finished_arriving_after_the_enqueue_deadline_is_408_and_enqueues_nothing() {
    // nginx stamps the arrival when the headers arrive; a client that trickles its body past the
    // deadline has given up by then. It is the client's slowness, not ours: 408, not 503.
    let stack = spawn_stack().await;
    let id = new_id();
    let two_seconds_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        - 2.0;
    let response = stack
        .client
        .post(format!("{}/payments", stack.base_url))
        .header("content-type", "application/json")
        .header("x-arrival-time", format!("{two_seconds_ago:.3}"))
        .body(format!(r#"{{"correlationId":"{id}","amount":19.90}}"#))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status().as_u16(), 408);
    assert!(stack.accepted_in_redis(&id).await.is_none());

    let (status, body) = stack.post_payment(&id, "19.90").await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "a retry in time is accepted: {body}"
    );
}
