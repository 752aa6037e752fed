//! The dedupe window (`dedupe_window_ms`): replays inside it are answered without enqueueing,
//! and Redis forgets ids after it, so its memory is bounded by the window, not by history.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rinha::queue::keys;

use crate::support::{EVENTUALLY, Stack, new_id, stack};

/// Every key that holds accepted ids (the old unbounded hash and any bucket).
async fn dedupe_keys(stack: &Stack) -> Vec<String> {
    let pattern = format!("{}*", keys::ACCEPTED);
    redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut stack.redis_connection().await)
        .await
        .expect("KEYS")
}

/// Redis's clock in ms (the clock the enqueue script buckets by).
async fn redis_now(stack: &Stack) -> u64 {
    let (secs, micros): (u64, u64) = redis::cmd("TIME")
        .query_async(&mut stack.redis_connection().await)
        .await
        .expect("TIME");
    secs * 1000 + micros / 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_holding_accepted_ids_expires_within_the_window_and_one_bucket() {
    let stack = stack()
        .without_worker()
        .set("dedupe_window_ms", "60000")
        .spawn()
        .await;
    for _ in 0..3 {
        assert_eq!(
            stack.post_payment(&new_id(), "19.90").await.0,
            StatusCode::ACCEPTED
        );
    }
    let keys = dedupe_keys(&stack).await;
    assert!(!keys.is_empty(), "accepted ids are kept somewhere");
    let mut conn = stack.redis_connection().await;
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        // A window of 4 buckets of 15 s: a bucket lives at most 5 buckets.
        assert!((1..=75_000).contains(&ttl), "{key} expires in {ttl} ms");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_in_a_later_bucket_of_the_window_is_202_and_enqueues_nothing() {
    // Buckets of 500 ms: the replay below lands in a later bucket than the first request.
    let stack = stack()
        .without_worker()
        .set("dedupe_window_ms", "2000")
        .spawn()
        .await;
    let id = new_id();
    let first_bucket = redis_now(&stack).await / 500;
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    let deadline = Instant::now() + EVENTUALLY;
    while redis_now(&stack).await / 500 <= first_bucket + 1 {
        assert!(Instant::now() < deadline, "redis's clock does not move");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        stack.post_payment(&id, "19.9").await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stack.post_payment(&id, "19.91").await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        stack.stream_length().await,
        1,
        "the replay enqueued nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_window_an_id_is_forgotten_and_its_memory_freed() {
    let stack = stack()
        .without_worker()
        .set("dedupe_window_ms", "400")
        .spawn()
        .await;
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let keys = dedupe_keys(&stack).await;
        if keys.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still held after {EVENTUALLY:?}: {keys:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Beyond the window only the ledger's primary key stands in the way: the replay is
    // accepted and enqueued again.
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(stack.stream_length().await, 2);
}
