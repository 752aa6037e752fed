//! The queue under faults, against a real Redis: a restart with many pending entries, entries
//! nobody can parse, a dead worker's entries behind a live one's, and two workers after an
//! outage longer than `reclaim_idle_ms` (each entry must keep exactly one holder).

use std::time::{Duration, Instant};

use redis::Value;
use reqwest::StatusCode;
use rinha::queue::{AttemptWrite, Queue, keys};

use crate::support::{EVENTUALLY, Stack, booked_count, new_id, stack};

/// Appends `n` well-formed payments straight to the stream (as the enqueue script writes them)
/// and returns their entry ids.
async fn append(stack: &Stack, n: usize) -> Vec<String> {
    let mut redis = stack.redis_connection().await;
    let mut out = Vec::new();
    for _ in 0..n {
        let entry: String = redis::cmd("XADD")
            .arg(keys::PAYMENTS)
            .arg("*")
            .arg("id")
            .arg(new_id())
            .arg("cents")
            .arg(1990)
            .arg("at")
            .arg(rinha::domain::now_millis())
            .query_async(&mut redis)
            .await
            .expect("XADD");
        out.push(entry);
    }
    out
}

/// Delivers up to `n` new entries to `consumer` without acknowledging them, as a worker killed
/// right after reading them leaves them.
async fn deliver(stack: &Stack, consumer: &str, n: usize) -> Vec<String> {
    let queue = queue(stack).await;
    queue
        .read_new(consumer, n, Duration::from_millis(10))
        .await
        .expect("XREADGROUP")
        .into_iter()
        .map(|p| p.entry_id)
        .collect()
}

async fn queue(stack: &Stack) -> Queue {
    Queue::connect(&stack.redis.url(), Duration::from_secs(2))
        .await
        .expect("connecting to redis")
}

/// Who holds each pending entry: entry id → consumer.
async fn owners(stack: &Stack) -> Vec<(String, String)> {
    let reply: Value = redis::cmd("XPENDING")
        .arg(keys::PAYMENTS)
        .arg(keys::GROUP)
        .arg("-")
        .arg("+")
        .arg(10_000)
        .query_async(&mut stack.redis_connection().await)
        .await
        .expect("XPENDING");
    let Value::Array(rows) = reply else {
        panic!("XPENDING answered {reply:?}")
    };
    rows.into_iter()
        .map(|row| match row {
            Value::Array(f) => match (&f[0], &f[1]) {
                (Value::BulkString(id), Value::BulkString(who)) => (
                    String::from_utf8_lossy(id).into_owned(),
                    String::from_utf8_lossy(who).into_owned(),
                ),
                other => panic!("XPENDING row {other:?}"),
            },
            other => panic!("XPENDING row {other:?}"),
        })
        .collect()
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + EVENTUALLY;
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {EVENTUALLY:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_worker_resumes_every_pending_entry_of_its_name_not_only_the_first_256() {
    // reclaim_idle_ms so long that only the start-up resume can book them within the test.
    let mut stack = stack()
        .without_worker()
        .set("reclaim_idle_ms", "600000")
        .spawn()
        .await;
    append(&stack, 300).await;
    assert_eq!(deliver(&stack, "w", 1000).await.len(), 300);

    stack.start_worker(&[("worker_name", "w")]).await;

    let summary = stack.wait_until_booked(300, EVENTUALLY).await;
    assert_eq!(booked_count(&summary), 300, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_stream_entry_is_dead_lettered_and_counted_instead_of_pending_forever() {
    let stack = stack().without_worker().spawn().await;
    let mut redis = stack.redis_connection().await;
    let _: String = redis::cmd("XADD")
        .arg(keys::PAYMENTS)
        .arg("*")
        .arg("id")
        .arg("not-a-uuid")
        .arg("cents")
        .arg("many")
        .query_async(&mut redis)
        .await
        .expect("XADD");
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );

    let worker = stack.spawn_child("worker", &[]).await;
    stack.wait_until_booked(1, EVENTUALLY).await;
    wait_for("the stream empties", async || {
        stack.stream_length().await == 0
    })
    .await;
    let dead: u64 = redis::cmd("XLEN")
        .arg(keys::DEAD)
        .query_async(&mut redis)
        .await
        .expect("XLEN");
    assert_eq!(
        dead, 1,
        "the malformed entry went to the dead-letter stream"
    );
    let metrics = reqwest::get(format!("{}/metrics", worker.ops_url.as_ref().unwrap()))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains("rinha_malformed_entries_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaiming_moves_on_past_live_entries_to_a_dead_workers_entries_behind_them() {
    let stack = stack().without_app().spawn().await;
    let queue = queue(&stack).await;
    append(&stack, 25).await;
    let alive = deliver(&stack, "alive", 25).await;
    append(&stack, 5).await;
    let dead = deliver(&stack, "dead", 5).await;
    let min_idle = Duration::from_millis(500);
    tokio::time::sleep(min_idle + Duration::from_millis(200)).await; // both age past min_idle
    queue.refresh("alive", &alive).await.expect("refresh");

    // Small batches, as a busy worker asks for: each XAUTOCLAIM looks at ten entries at most.
    let mut claimed = Vec::new();
    for _ in 0..10 {
        let got = queue.reclaim("taker", min_idle, 1).await.expect("reclaim");
        claimed.extend(got.into_iter().map(|p| p.entry_id));
    }

    claimed.sort();
    assert_eq!(claimed, dead, "the dead worker's entries were reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaiming_never_hands_a_worker_back_its_own_entries() {
    let stack = stack().without_app().spawn().await;
    let queue = queue(&stack).await;
    append(&stack, 3).await;
    deliver(&stack, "a", 3).await;
    let min_idle = Duration::from_millis(300);
    // As after a Redis outage longer than reclaim_idle: a's live entries look idle.
    tokio::time::sleep(min_idle + Duration::from_millis(200)).await;

    let got = queue.reclaim("a", min_idle, 100).await.expect("reclaim");

    assert!(
        got.is_empty(),
        "a already works on these; a second task would be a second holder: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshing_does_not_take_back_an_entry_another_worker_reclaimed() {
    let stack = stack().without_app().spawn().await;
    let queue = queue(&stack).await;
    append(&stack, 1).await;
    let held = deliver(&stack, "a", 1).await;
    let min_idle = Duration::from_millis(300);
    tokio::time::sleep(min_idle + Duration::from_millis(200)).await;
    let taken = queue.reclaim("b", min_idle, 10).await.expect("reclaim");
    assert_eq!(taken.len(), 1, "b took over a's entry");

    // a's refresh comes late (its Redis calls failed during the outage).
    queue.refresh("a", &held).await.expect("refresh");

    assert_eq!(
        owners(&stack).await,
        vec![(held[0].clone(), "b".to_owned())],
        "b keeps it: a taking it back would give it two holders"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_loses_only_entries_another_worker_took_not_those_acknowledged() {
    let stack = stack().without_app().spawn().await;
    let queue = queue(&stack).await;
    append(&stack, 3).await;
    let held = deliver(&stack, "a", 3).await;
    // The refresh loop sends what `held` listed a moment ago: by the time its call runs, a's task
    // may have acknowledged one entry, and another worker may have reclaimed one.
    let mut redis = stack.redis_connection().await;
    let _: i64 = redis::cmd("XACK")
        .arg(keys::PAYMENTS)
        .arg(keys::GROUP)
        .arg(&held[0])
        .query_async(&mut redis)
        .await
        .expect("XACK");
    let _: Value = redis::cmd("XCLAIM")
        .arg(keys::PAYMENTS)
        .arg(keys::GROUP)
        .arg("b")
        .arg(0)
        .arg(&held[1])
        .arg("JUSTID")
        .query_async(&mut redis)
        .await
        .expect("XCLAIM");

    let lost = queue.refresh("a", &held).await.expect("refresh");

    assert_eq!(
        lost,
        vec![held[1].clone()],
        "only b's is lost to a; the acknowledged one is simply done"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_record_is_written_only_while_the_writer_still_holds_the_entry() {
    let stack = stack().without_app().spawn().await;
    let queue = queue(&stack).await;
    append(&stack, 1).await;
    let held = deliver(&stack, "a", 1).await;
    let id = rinha::domain::CorrelationId::parse(&new_id()).unwrap();
    assert!(
        queue
            .set_attempt_if_held("a", &held[0], &id, "before")
            .await
            .expect("write")
    );
    let min_idle = Duration::from_millis(300);
    tokio::time::sleep(min_idle + Duration::from_millis(200)).await;
    assert_eq!(queue.reclaim("b", min_idle, 10).await.unwrap().len(), 1);

    // a's task, still running after the outage, is about to call a processor again.
    let written = queue
        .set_attempt_if_held("a", &held[0], &id, "after")
        .await
        .expect("write");

    assert!(!written, "a no longer holds it, so it may not call again");
    assert_eq!(
        queue.attempt(&id).await.unwrap().as_deref(),
        Some("before"),
        "b reads what a wrote before the takeover"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_attempt_records_fences_each_payment_on_its_own() {
    let stack = stack().without_app().spawn().await;
    let queue = queue(&stack).await;
    append(&stack, 1).await;
    let taken_over = deliver(&stack, "a", 1).await;
    let min_idle = Duration::from_millis(300);
    tokio::time::sleep(min_idle + Duration::from_millis(200)).await;
    assert_eq!(queue.reclaim("b", min_idle, 10).await.unwrap().len(), 1);
    append(&stack, 1).await;
    let still_held = deliver(&stack, "a", 1).await;
    let ids = [new_id(), new_id()].map(|id| rinha::domain::CorrelationId::parse(&id).unwrap());
    let writes = [
        AttemptWrite {
            entry_id: taken_over[0].clone(),
            correlation_id: ids[0],
            record: "lost".to_owned(),
        },
        AttemptWrite {
            entry_id: still_held[0].clone(),
            correlation_id: ids[1],
            record: "held".to_owned(),
        },
    ];

    let written = queue
        .set_attempts_if_held("a", &writes)
        .await
        .expect("write");

    assert_eq!(
        written,
        vec![false, true],
        "one answer per payment, in order"
    );
    assert_eq!(queue.attempt(&ids[0]).await.unwrap(), None);
    assert_eq!(
        queue.attempt(&ids[1]).await.unwrap().as_deref(),
        Some("held")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_worker_takes_up_its_own_pending_entries_that_no_task_holds() {
    // As after Redis lost the tail of its AOF: acknowledgements rolled back, the entries are
    // pending again under the name of a worker that is running and has no task for them.
    let mut stack = stack()
        .without_worker()
        .set("reclaim_idle_ms", "1000")
        .spawn()
        .await;
    stack.start_worker(&[("worker_name", "w")]).await;
    // Appended and delivered in one transaction, so the worker's own blocked read cannot get
    // them first.
    let mut txn = redis::pipe();
    txn.atomic();
    for _ in 0..3 {
        txn.cmd("XADD")
            .arg(keys::PAYMENTS)
            .arg("*")
            .arg("id")
            .arg(new_id())
            .arg("cents")
            .arg(1990)
            .arg("at")
            .arg(rinha::domain::now_millis());
    }
    txn.cmd("XREADGROUP")
        .arg("GROUP")
        .arg(keys::GROUP)
        .arg("w")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(keys::PAYMENTS)
        .arg(">");
    let _: Value = txn
        .query_async(&mut stack.redis_connection().await)
        .await
        .expect("XADD and XREADGROUP");
    assert_eq!(owners(&stack).await.len(), 3, "pending under w, no task");

    let summary = stack.wait_until_booked(3, EVENTUALLY).await;
    assert_eq!(booked_count(&summary), 3, "{summary}");
}
