//! A payment is paid once, whatever its queue entry goes through: delivered again as new after
//! it was booked (a Redis that lost its append-only file's tail rolls the group back), or booked
//! against a ledger row of the other processor (an alarm, never a silent no-op).

use reqwest::StatusCode;

use crate::support::{EVENTUALLY, new_id, spawn_stack, stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booked_payment_delivered_again_as_new_is_acknowledged_without_a_call() {
    let stack = spawn_stack().await;
    let default = stack.default_processor();
    let fallback = stack.fallback_processor();
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    let booked = stack.wait_for_status(&id, "booked", EVENTUALLY).await;
    assert_eq!(booked["processor"], "default");
    stack.wait_until_stream_empty(EVENTUALLY).await;

    // The default now fails: a payment sent again would be paid at the fallback.
    default.set_failure(true);
    stack.add_stream_entry(&id, 1990).await;
    stack.wait_until_stream_empty(EVENTUALLY).await;

    assert_eq!(default.payments_received(), 1, "not sent again");
    assert_eq!(fallback.payments_received(), 0, "not paid elsewhere");
    let rows = stack.ledger_rows().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].1, "default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_that_conflicts_with_a_row_for_the_other_processor_is_an_alarm() {
    let stack = spawn_stack().await;
    let default = stack.default_processor();
    // The call takes long enough for the ledger to get a row for this id meanwhile.
    default.set_delay_ms(1_000);
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    stack.wait_for_status(&id, "in_flight", EVENTUALLY).await;
    let ledger = rinha::ledger::Ledger::connect_one(&stack.ledger_url)
        .await
        .expect("connecting to the ledger");
    ledger
        .execute(
            "INSERT INTO payments (correlation_id, processor, amount_cents, requested_at_ms)
             VALUES ($1::text::uuid, 'fallback', 1990, 0)",
            &[&id],
        )
        .await
        .expect("a row for the other processor");

    assert!(
        default.wait_for_payment(&id, EVENTUALLY).await.is_some(),
        "the default processed it"
    );
    stack.wait_until_stream_empty(EVENTUALLY).await;

    let metrics = stack.worker_metrics().await;
    assert!(
        metrics.contains("rinha_ledger_conflicts_total 1"),
        "{metrics}"
    );
    let rows = stack.ledger_rows().await;
    assert_eq!(rows.len(), 1, "the ledger keeps one row: {rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reclaimed_payment_with_an_unreadable_attempt_record_is_booked_where_it_was_stored() {
    use rinha::queue::keys;

    let mut stack = stack()
        .without_worker()
        .set("reclaim_idle_ms", "300")
        .spawn()
        .await;
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    // A worker that died mid-call: it had read the entry, written a record this version cannot
    // read, and sent the payment to the fallback, which stored it.
    let mut redis = stack.redis_connection().await;
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(keys::GROUP)
        .arg("ghost")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(keys::PAYMENTS)
        .arg(">")
        .query_async(&mut redis)
        .await
        .expect("XREADGROUP");
    let _: () = redis::cmd("HSET")
        .arg(keys::ATTEMPTS)
        .arg(&id)
        .arg("v9|from-the-future")
        .query_async(&mut redis)
        .await
        .expect("HSET");
    let stored = reqwest::Client::new()
        .post(format!("{}/payments", stack.fallback.url()))
        .json(&serde_json::json!({
            "correlationId": id,
            "amount": 19.90,
            "requestedAt": "2025-07-15T12:34:56.000Z",
        }))
        .send()
        .await
        .expect("the fallback answers");
    assert_eq!(stored.status(), StatusCode::OK);

    stack.start_worker(&[]).await;
    let booked = stack.wait_for_status(&id, "booked", EVENTUALLY).await;

    assert_eq!(booked["processor"], "fallback", "{booked}");
    assert_eq!(booked["requestedAt"], "2025-07-15T12:34:56.000Z");
    assert_eq!(
        stack.default_processor().payments_received(),
        0,
        "never treated as fresh and paid at the cheaper processor"
    );
    assert_eq!(stack.ledger_rows().await.len(), 1);
}
