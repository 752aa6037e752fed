//! An enqueue whose outcome the API did not hear in time (Redis stuck, a lost reply) is looked
//! up before answering: 202 if the id is there, 503 only when it is known absent, else 504.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::assert_error;
use crate::support::{Stack, new_id, stack};

/// A short enqueue deadline, so each test waits a fraction of a second for the API's timeout.
const DEADLINE_MS: &str = "300";

/// Holds every client's writes (the enqueue script writes) while reads go on, as a Redis busy
/// elsewhere would hold our script; returns the connection to `CLIENT UNPAUSE` with.
async fn pause_writes(stack: &Stack) -> redis::aio::MultiplexedConnection {
    let mut conn = stack.redis_connection().await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(10_000)
        .arg("WRITE")
        .query_async(&mut conn)
        .await
        .expect("CLIENT PAUSE");
    conn
}

async fn unpause(mut conn: redis::aio::MultiplexedConnection) {
    let _: () = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async(&mut conn)
        .await
        .expect("CLIENT UNPAUSE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_whose_enqueue_is_not_heard_in_time_is_found_accepted_and_answered_202() {
    let stack = stack()
        .without_worker()
        .set("enqueue_deadline_ms", DEADLINE_MS)
        .spawn()
        .await;
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );

    let paused = pause_writes(&stack).await;
    let replay = stack.post_payment_reply(&id, "19.90").await;
    let other_amount = stack.post_payment_reply(&id, "20.00").await;
    unpause(paused).await;

    assert_eq!(replay.status, StatusCode::ACCEPTED, "{replay:?}");
    assert_error(&other_amount, 409, "conflict");
    assert_eq!(stack.stream_length().await, 1, "nothing enqueued twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_payment_known_absent_after_its_deadline_is_503_and_never_enqueued() {
    let stack = stack()
        .without_worker()
        .set("enqueue_deadline_ms", DEADLINE_MS)
        .spawn()
        .await;
    let paused = pause_writes(&stack).await;
    let reply = stack.post_payment_reply(&new_id(), "19.90").await;
    unpause(paused).await;

    assert_error(&reply, 503, "unavailable");
    // The held script runs now, past its deadline: it refuses, so the 503 told the truth. The
    // next payment goes over the API's same connection, so it runs after the held script.
    assert_eq!(
        stack.post_payment(&new_id(), "19.90").await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(stack.stream_length().await, 1, "only the later payment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_whose_outcome_stays_unknown_is_504_retry_safe_and_counted() {
    let mut stack = stack()
        .without_worker()
        .set("enqueue_deadline_ms", DEADLINE_MS)
        .spawn()
        .await;
    let id = new_id();
    stack.redis.pause();
    let started = Instant::now();
    let reply = stack.post_payment_reply(&id, "19.90").await;
    let took = started.elapsed();
    stack.redis.resume();

    assert_error(&reply, 504, "outcome_unknown");
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("same correlationId"),
        "{reply:?}"
    );
    assert_eq!(
        reply
            .headers
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("1")
    );
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    let metrics = stack.request(reqwest::Method::GET, "/metrics").await.text;
    assert!(
        metrics.contains("rinha_enqueue_outcome_unknown_total 1"),
        "{metrics}"
    );
    // The retry the message invites, once Redis is back: accepted, and enqueued once (the held
    // script ran past its deadline and refused).
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(stack.stream_length().await, 1);
}
