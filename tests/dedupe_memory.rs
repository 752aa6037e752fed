//! What the dedupe window costs in Redis memory, measured on a real `redis-server`:
//!
//! ```sh
//! cargo test --release --test dedupe_memory -- --nocapture
//! ```
//!
//! enqueues N payments through the real enqueue script and prints, per payment, the growth of
//! `INFO memory used_memory` and the `MEMORY USAGE` of the dedupe buckets alone (the rest is the
//! stream, which the worker empties as it books). The README's durability section quotes it.

mod support;

use std::time::Duration;

use rinha::domain::PaymentRequest;
use rinha::queue::{DedupeWindow, EnqueueOutcome, Queue, keys};
use support::TestRedis;

const PAYMENTS: usize = 50_000;

async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory in INFO memory")
}

async fn memory_usage(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> u64 {
    redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(key)
        .arg("SAMPLES")
        .arg(0)
        .query_async::<Option<u64>>(conn)
        .await
        .unwrap()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dedupe_window_costs_under_160_bytes_per_payment() {
    let redis = TestRedis::start().await;
    let queue = Queue::connect(&redis.url(), Duration::from_secs(5))
        .await
        .unwrap()
        .with_dedupe_window(DedupeWindow::new(Duration::from_secs(3600)));
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let before = used_memory(&mut conn).await;

    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16usize {
        let queue = queue.clone();
        tasks.spawn(async move {
            for n in (worker..PAYMENTS).step_by(16) {
                let body = format!(
                    r#"{{"correlationId":"7e57a11e-0000-4000-8000-{n:012x}","amount":19.90}}"#
                );
                let payment = PaymentRequest::parse(body.as_bytes()).unwrap();
                let outcome = queue.enqueue(&payment, 0).await.unwrap();
                assert_eq!(outcome, EnqueueOutcome::Accepted);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    let after = used_memory(&mut conn).await;
    let buckets: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", keys::ACCEPTED_BUCKET_PREFIX))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut dedupe = 0;
    for key in &buckets {
        dedupe += memory_usage(&mut conn, key).await;
    }
    let stream = memory_usage(&mut conn, keys::PAYMENTS).await;
    let n = PAYMENTS as f64;
    println!(
        "{PAYMENTS} payments: used_memory +{} B ({:.1} B/payment, stream included); \
         dedupe buckets {} B in {} key(s) ({:.1} B/payment); stream {} B ({:.1} B/payment)",
        after - before,
        (after - before) as f64 / n,
        dedupe,
        buckets.len(),
        dedupe as f64 / n,
        stream,
        stream as f64 / n,
    );
    assert!(dedupe as f64 / n < 160.0, "{dedupe} B for {PAYMENTS}");
}
