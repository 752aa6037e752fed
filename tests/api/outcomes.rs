//! The outcome table: what each answer of a processor does to a payment.
//!
//! | answer | action |
//! |---|---|
//! | 200 / 422 | book (422: with the `requestedAt` the processor stored) |
//! | 500 | not processed: may go to the other processor |
//! | timeout, dropped connection | unknown: pinned to that processor and asked (`GET /payments/{id}`), never re-sent into its delay; not found after `unknown_grace_ms` → free |
//! | 429 (`Retry-After`) | busy: retried on the same processor after the pause |
//! | 401 / 403 / 404, a redirect (not followed) | misconfigured: not used for a while, the payment stays queued |
//! | 400 | dead-lettered, never retried |

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rinha_emulator::Fault;

use crate::support::{EVENTUALLY, new_id, spawn_stack, stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_stored_but_unanswered_is_asked_about_and_booked_once_without_a_resend() {
    let stack = spawn_stack().await;
    let default = stack.default_processor();
    // The processor stores the payment, then drops the connection: the outcome is unknown.
    default.faults().push(Fault::StoreThenDrop, 1);
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );

    let booked = stack.wait_for_status(&id, "booked", EVENTUALLY).await;

    // Asked with GET /payments/{id}, which found it: no second POST.
    assert_eq!(default.payments_received(), 1);
    assert_eq!(default.payment_count(), 1);
    let first = default.payment(&id).unwrap();
    assert_eq!(booked["processor"], "default");
    assert_eq!(
        booked["requestedAt"],
        first.requested_at.as_str(),
        "booked with the requestedAt of the call that was stored"
    );
    assert_eq!(stack.fallback_processor().payments_received(), 0);
    let rows = stack.ledger_rows().await;
    assert_eq!(rows.len(), 1, "booked once: {rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_slower_than_the_timeout_is_asked_and_the_payment_it_stored_is_booked_once() {
    let stack = stack()
        .set("processor_timeout_ms", "500")
        .set("unknown_grace_ms", "4000")
        .spawn()
        .await;
    let default = stack.default_processor();
    let fallback = stack.fallback_processor();
    // Every call times out; the processor still stores each payment when its delay ends.
    default.set_delay_ms(1_500);
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );

    // Booked while the processor is still slower than the timeout: asking found it.
    let booked = stack.wait_for_status(&id, "booked", EVENTUALLY).await;
    assert_eq!(default.delay_ms(), 1_500);
    assert_eq!(booked["processor"], "default");
    assert_eq!(
        booked["requestedAt"],
        default.payment(&id).unwrap().requested_at.as_str()
    );
    assert_eq!(
        default.payments_received(),
        1,
        "asked, never re-sent into the delay"
    );
    assert_eq!(fallback.payments_received(), 0, "never charged elsewhere");

    // Recovered: the next payment goes through the ordinary way.
    default.set_delay_ms(0);
    let next = new_id();
    assert_eq!(
        stack.post_payment(&next, "10").await.0,
        StatusCode::ACCEPTED
    );
    stack.wait_for_status(&next, "booked", EVENTUALLY).await;
    let rows = stack.ledger_rows().await;
    assert_eq!(rows.len(), 2, "each booked once: {rows:?}");
    assert_eq!(default.payment_count() + fallback.payment_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_timed_out_and_was_never_stored_is_freed_only_after_the_grace() {
    const GRACE_MS: u64 = 3_000;
    let stack = stack()
        .set("processor_timeout_ms", "1000")
        .set("unknown_grace_ms", &GRACE_MS.to_string())
        .spawn()
        .await;
    let default = stack.default_processor();
    default.faults().push(Fault::Hang, 1);
    let id = new_id();
    let posted = Instant::now();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    let in_flight = stack.wait_for_status(&id, "in_flight", EVENTUALLY).await;
    assert_eq!(in_flight["processor"], "default");

    let booked = stack.wait_for_status(&id, "booked", EVENTUALLY).await;

    // The hung call was asked about until the processor could no longer store it; only
    // then was the payment sent again, as a new call with its own requestedAt.
    assert!(
        posted.elapsed() >= Duration::from_millis(GRACE_MS),
        "sent again after {:?}, inside the grace",
        posted.elapsed()
    );
    assert_eq!(default.payments_received(), 2);
    assert_ne!(booked["requestedAt"], in_flight["since"]);
    let stored = default.payment(&id).unwrap();
    assert_eq!(booked["requestedAt"], stored.requested_at.as_str());
    assert_eq!(stack.ledger_rows().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_processor_that_keeps_answering_500_sends_the_payment_to_the_fallback() {
    let stack = spawn_stack().await;
    let default = stack.default_processor();
    // Failing for longer than a payment holds for the cheaper processor's probes.
    default.faults().push(Fault::status(500), 1_000);
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );

    let booked = stack.wait_for_status(&id, "booked", EVENTUALLY).await;

    assert_eq!(booked["processor"], "fallback");
    assert!(
        default.payments_received() >= 1,
        "the default was tried first (and probed while the payment held for it)"
    );
    assert_eq!(default.payment_count(), 0);
    let stored = stack.fallback_processor().payment(&id).unwrap();
    assert_eq!(booked["requestedAt"], stored.requested_at.as_str());
    let summary = stack.summary("").await;
    assert_eq!(summary["default"]["totalRequests"], 0);
    assert_eq!(summary["fallback"]["totalRequests"], 1);
    assert_eq!(summary["fallback"]["totalAmount"].as_f64(), Some(19.9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_dead_letters_the_payment_and_it_is_never_retried() {
    let stack = spawn_stack().await;
    let default = stack.default_processor();
    default.faults().push(Fault::status(400), 1);
    let rejected = new_id();
    assert_eq!(
        stack.post_payment(&rejected, "19.90").await.0,
        StatusCode::ACCEPTED
    );

    let dead = stack
        .wait_for_status(&rejected, "dead_lettered", EVENTUALLY)
        .await;
    assert!(
        dead["reason"].as_str().is_some_and(|r| r.contains("400")),
        "the reason is kept: {dead}"
    );

    // A later payment is processed; by then a retry of the rejected one would have happened.
    let later = new_id();
    assert_eq!(
        stack.post_payment(&later, "1").await.0,
        StatusCode::ACCEPTED
    );
    stack.wait_for_status(&later, "booked", EVENTUALLY).await;
    assert_eq!(
        default.payments_received(),
        2,
        "one rejected call, one for the later payment"
    );
    assert_eq!(stack.fallback_processor().payments_received(), 0);
    assert_eq!(
        stack.payment_status(&rejected).await.1["status"],
        "dead_lettered"
    );
    let summary = stack.summary("").await;
    assert_eq!(summary["default"]["totalRequests"], 1);
    assert_eq!(summary["default"]["totalAmount"].as_f64(), Some(1.0));
    // The id stays taken: a replay is answered, not processed again.
    assert_eq!(
        stack.post_payment(&rejected, "19.90").await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stack.payment_status(&rejected).await.1["status"],
        "dead_lettered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_is_retried_on_the_same_processor_after_the_pause() {
    let stack = spawn_stack().await;
    let default = stack.default_processor();
    default.faults().push(Fault::status_retry_after(429, 1), 1);
    let id = new_id();
    let posted = Instant::now();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );

    let booked = stack.wait_for_status(&id, "booked", EVENTUALLY).await;

    assert!(
        posted.elapsed() >= Duration::from_millis(900),
        "Retry-After: 1 is honoured (booked after {:?})",
        posted.elapsed()
    );
    assert_eq!(booked["processor"], "default");
    assert_eq!(default.payments_received(), 2);
    assert_eq!(
        booked["requestedAt"],
        default.payment(&id).unwrap().requested_at.as_str()
    );
    assert_eq!(stack.fallback_processor().payments_received(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misconfigured_processor_is_left_alone_and_the_payment_stays_queued_until_one_works() {
    let stack = spawn_stack().await;
    let default = stack.default_processor();
    let fallback = stack.fallback_processor();
    default.faults().push(Fault::status(401), 1);
    fallback.faults().push(Fault::status(404), 1);
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );

    // 401 from the default: the payment was not processed, so it may try the fallback,
    // which answers 404. Both are now misconfigured: nothing is booked, the payment waits.
    assert!(
        fallback
            .wait_until(EVENTUALLY, |p| p.payments_received() == 1)
            .await,
        "after the default's 401 the payment tries the fallback"
    );
    assert_eq!(default.payments_received(), 1);
    stack.wait_for_status(&id, "queued", EVENTUALLY).await;
    assert_eq!(crate::support::booked_count(&stack.summary("").await), 0);

    // Once the pause is over and the processor answers again, the payment is processed.
    let booked = stack
        .wait_for_status(&id, "booked", Duration::from_secs(20))
        .await;
    assert_eq!(
        default.payments_received() + fallback.payments_received(),
        3
    );
    let processor = booked["processor"].as_str().unwrap();
    let handle = if processor == "default" {
        default
    } else {
        fallback
    };
    assert_eq!(
        booked["requestedAt"],
        handle.payment(&id).unwrap().requested_at.as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed_and_never_books_a_payment_the_processor_did_not_store() {
    let stack = spawn_stack().await;
    let default = stack.default_processor();
    let first = new_id();
    assert_eq!(
        stack.post_payment(&first, "10").await.0,
        StatusCode::ACCEPTED
    );
    stack.wait_for_status(&first, "booked", EVENTUALLY).await;
    // Followed, this 302 would turn the POST into a GET of a stored payment: a 200.
    default.faults().push(
        Fault::Redirect {
            status: 302,
            location: format!("/payments/{first}"),
        },
        1,
    );
    let id = new_id();
    assert_eq!(
        stack.post_payment(&id, "19.90").await.0,
        StatusCode::ACCEPTED
    );

    let booked = stack.wait_for_status(&id, "booked", EVENTUALLY).await;

    assert_eq!(booked["processor"], "fallback", "{booked}");
    assert!(default.payment(&id).is_none());
    assert!(stack.fallback_processor().payment(&id).is_some());
}
