//! Failures of the service's own parts: a worker killed mid-call, a SIGTERM while a call is in
//! flight, Redis going away. The worker and the `all` role run as the real binary in a child
//! process so that they can be killed and signalled.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rinha::domain::format_millis;

use crate::assert_error;
use crate::support::{EVENTUALLY, new_id, spawn_stack, stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_call_is_reclaimed_by_another_and_booked_once_with_the_stored_requested_at()
 {
    let mut stack = stack()
        .without_worker()
        .set("reclaim_idle_ms", "2000")
        .spawn()
        .await;
    let default = stack.default_processor().clone();
    default.set_delay_ms(1500);
    let mut doomed = stack
        .spawn_child("worker", &[("worker_name", "doomed")])
        .await;
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );

    assert!(
        default
            .wait_until(EVENTUALLY, |p| p.payments_received() == 1)
            .await,
        "the worker calls the processor:\n{}",
        doomed.log()
    );
    let in_flight = stack.wait_for_status(&id, "in_flight", EVENTUALLY).await;
    assert!(default.payment(&id).is_none(), "killed before the answer");
    doomed.kill();
    // The processor finishes the call it received and stores the payment anyway.
    default.set_delay_ms(0);

    stack.start_worker(&[("worker_name", "survivor")]).await;
    let booked = stack.wait_for_status(&id, "booked", EVENTUALLY).await;

    let stored = default.payment(&id).expect("stored by the first call");
    assert_eq!(booked["processor"], "default");
    assert_eq!(booked["requestedAt"], stored.requested_at.as_str());
    assert_eq!(booked["requestedAt"], in_flight["since"]);
    assert_eq!(default.payment_count(), 1);
    assert_eq!(
        default.payments_received(),
        1,
        "the survivor asked (GET /payments/{{id}}) and found it: no second call"
    );
    assert_eq!(stack.fallback_processor().payments_received(), 0);
    let rows = stack.ledger_rows().await;
    assert_eq!(rows.len(), 1, "booked exactly once: {rows:?}");
    assert_eq!(format_millis(rows[0].3), stored.requested_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_call_in_flight_finish_and_exits_0_within_the_drain_deadline() {
    let drain = Duration::from_millis(3000);
    let mut stack = stack()
        .without_app()
        .set("drain_deadline_ms", "3000")
        .spawn()
        .await;
    let default = stack.default_processor().clone();
    default.set_delay_ms(1000);
    let mut app = stack.spawn_child("all", &[]).await;
    stack.base_url = app.api_url.clone().unwrap();
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    assert!(
        default
            .wait_until(EVENTUALLY, |p| p.payments_received() == 1)
            .await,
        "the call is in flight:\n{}",
        app.log()
    );

    let signalled = Instant::now();
    app.signal("TERM");
    let margin = Duration::from_secs(2);
    let status = app.wait_exit(drain + margin).await;

    let log = app.log();
    let status =
        status.unwrap_or_else(|| panic!("still running after {:?}:\n{log}", drain + margin));
    assert!(status.success(), "exit status {status}:\n{log}");
    assert!(signalled.elapsed() < drain + margin);
    let rows = stack.ledger_rows().await;
    assert_eq!(rows.len(), 1, "the call in flight was booked:\n{log}");
    let stored = default.payment(&id).unwrap();
    assert_eq!(format_millis(rows[0].3), stored.requested_at);
    assert_eq!(rows[0].1, "default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_longer_than_the_drain_deadline_is_left_pending_and_finished_once_by_the_next_worker()
 {
    let drain = Duration::from_millis(1000);
    let mut stack = stack()
        .without_worker()
        .set("drain_deadline_ms", "1000")
        .set("reclaim_idle_ms", "2000")
        .spawn()
        .await;
    let default = stack.default_processor().clone();
    default.set_delay_ms(2500);
    let mut worker = stack
        .spawn_child("worker", &[("worker_name", "leaving")])
        .await;
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    let in_flight = stack.wait_for_status(&id, "in_flight", EVENTUALLY).await;
    assert!(
        default
            .wait_until(EVENTUALLY, |p| p.payments_received() == 1)
            .await
    );

    let signalled = Instant::now();
    worker.signal("TERM");
    let margin = Duration::from_secs(2);
    let status = worker.wait_exit(drain + margin).await;
    let log = worker.log();
    let status =
        status.unwrap_or_else(|| panic!("still running after {:?}:\n{log}", drain + margin));
    assert!(status.success(), "exit status {status}:\n{log}");
    assert!(signalled.elapsed() < drain + margin);
    // Left pending, with its attempt record: still in flight to the default processor.
    let (_, pending) = stack.payment_status(&id).await;
    assert_eq!(pending["status"], "in_flight", "{pending}");
    assert_eq!(pending["since"], in_flight["since"]);

    default.set_delay_ms(0);
    stack.start_worker(&[("worker_name", "next")]).await;
    let booked = stack.wait_for_status(&id, "booked", EVENTUALLY).await;

    let stored = default.payment(&id).expect("stored by the first call");
    assert_eq!(booked["processor"], "default");
    assert_eq!(booked["requestedAt"], stored.requested_at.as_str());
    assert_eq!(booked["requestedAt"], in_flight["since"]);
    assert_eq!(default.payment_count(), 1);
    assert_eq!(stack.fallback_processor().payments_received(), 0);
    assert_eq!(stack.ledger_rows().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_payments_get_503_with_retry_after_and_nothing_is_enqueued() {
    let mut stack = spawn_stack().await;
    let id = new_id();
    stack.redis.stop().await;

    let asked = Instant::now();
    let reply = stack.post_payment_reply(&id, "19.90").await;

    assert_error(&reply, 503, "unavailable");
    assert!(reply.headers.contains_key("retry-after"), "{reply:?}");
    assert!(
        asked.elapsed() < Duration::from_millis(1500),
        "answered within the client's patience: {:?}",
        asked.elapsed()
    );

    stack.redis.restart().await;
    assert_eq!(
        stack.accepted_in_redis(&id).await,
        None,
        "nothing was enqueued"
    );

    // The client retries, as Retry-After told it to; the first tries may still find the
    // service reconnecting.
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let (status, body) = stack.post_payment(&id, "19.90").await;
        if status == StatusCode::ACCEPTED {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            Instant::now() < deadline,
            "not accepted after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stack.wait_for_status(&id, "booked", EVENTUALLY).await;
    assert_eq!(stack.default_processor().payments_received(), 1);
    assert_eq!(stack.ledger_rows().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_comes_back_empty_new_payments_are_still_processed() {
    let mut stack = stack().redis_without_persistence().spawn().await;
    let before = new_id();
    assert_eq!(
        stack.post_payment(&before, "1").await.0,
        StatusCode::ACCEPTED
    );
    stack.wait_for_status(&before, "booked", EVENTUALLY).await;

    // Everything Redis held is gone, the consumer group included.
    stack.redis.restart().await;

    let after = new_id();
    let deadline = Instant::now() + EVENTUALLY;
    while stack.post_payment(&after, "2").await.0 != StatusCode::ACCEPTED {
        assert!(
            Instant::now() < deadline,
            "not accepted after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stack.wait_for_status(&after, "booked", EVENTUALLY).await;
    assert_eq!(stack.ledger_rows().await.len(), 2);
}
