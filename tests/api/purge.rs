//! `POST /purge-payments`: off unless configured, guarded by a token when one is set, and a
//! clean slate afterwards.

use reqwest::StatusCode;

use crate::assert_error;
use crate::support::{EVENTUALLY, Reply, Stack, new_id, stack};

async fn purge(stack: &Stack, token: Option<&str>) -> Reply {
    let mut request = stack
        .client
        .post(format!("{}/purge-payments", stack.base_url));
    if let Some(token) = token {
        request = request.header("x-purge-token", token);
    }
    let response = request.send().await.expect("the API answers");
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_is_not_found_unless_enabled() {
    let stack = stack().set("purge_enabled", "false").spawn().await;
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    stack.wait_until_booked(1, EVENTUALLY).await;

    assert_error(&purge(&stack, None).await, 404, "not_found");

    assert_eq!(crate::support::booked_count(&stack.summary("").await), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_with_a_token_needs_it_and_then_forgets_every_payment() {
    let stack = stack().set("purge_token", "s3cret").spawn().await;
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    stack.wait_until_booked(1, EVENTUALLY).await;

    assert_error(&purge(&stack, None).await, 401, "unauthorized");
    assert_error(&purge(&stack, Some("guess")).await, 401, "unauthorized");
    assert_eq!(crate::support::booked_count(&stack.summary("").await), 1);

    let purged = purge(&stack, Some("s3cret")).await;
    assert_eq!(purged.status, StatusCode::OK, "{purged:?}");
    assert_eq!(purged.json()["message"], "All payments purged.");

    assert_eq!(
        stack.summary_raw("").await.text,
        r#"{"default":{"totalRequests":0,"totalAmount":0.00},"fallback":{"totalRequests":0,"totalAmount":0.00}}"#
    );
    assert_eq!(stack.payment_status(&id).await.0, StatusCode::NOT_FOUND);
    // The load test purges the processors too; then the same id is a new payment.
    stack.default_processor().purge();
    stack.fallback_processor().purge();
    assert_eq!(
        stack.post_payment(&id, "5.00").await.0,
        StatusCode::ACCEPTED
    );
    let booked = stack.wait_for_status(&id, "booked", EVENTUALLY).await;
    assert_eq!(booked["amount"].as_f64(), Some(5.0));
    assert_eq!(stack.ledger_rows().await.len(), 1);
}
