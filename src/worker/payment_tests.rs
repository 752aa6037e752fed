//! The step, row by row of the outcome table, against fake stores and processors.

use std::time::Duration;

use super::*;
use crate::ledger::Booking;
use crate::worker::fake_world::{Bench, Fake};

#[tokio::test]
async fn a_200_is_booked_with_the_requested_at_we_sent_and_acknowledged() {
    let mut bench = Bench::new(Fake::answering([CallOutcome::Processed]));
    assert_eq!(bench.step().await, Step::Booked(Processor::Default));
    let (p, sent_at) = bench.fake.calls()[0];
    assert_eq!(p, Processor::Default);
    let booked = bench.fake.booked();
    assert_eq!(booked.len(), 1);
    assert_eq!(booked[0].requested_at, sent_at);
    assert_eq!(booked[0].amount.cents(), 1990);
    assert_eq!(*bench.fake.acknowledged.lock().unwrap(), 1);
    assert_eq!(
        bench.fake.record().number,
        1,
        "the attempt was recorded before the call"
    );
}

#[tokio::test]
async fn a_422_is_booked_with_the_requested_at_the_processor_stored() {
    let fake = Fake::answering([CallOutcome::AlreadyProcessed]);
    *fake.stored.lock().unwrap() = Some(42);
    let mut bench = Bench::new(fake);
    assert_eq!(bench.step().await, Step::Booked(Processor::Default));
    assert_eq!(bench.fake.booked()[0].requested_at, 42);
}

#[tokio::test]
async fn a_500_frees_the_payment_and_books_nothing() {
    let mut bench = Bench::new(Fake::answering([CallOutcome::NotProcessed]));
    assert_eq!(bench.step().await, Step::Retry);
    assert!(bench.fake.booked().is_empty());
    assert_eq!(bench.state.attempt.unresolved, None);
    assert_eq!(
        bench.fake.record().unresolved,
        None,
        "the record says so too"
    );
}

#[tokio::test]
async fn an_unknown_answer_pins_the_payment_and_asking_books_the_requested_at_sent() {
    let mut bench = Bench::new(Fake::answering([CallOutcome::Unknown]));
    assert_eq!(bench.step().await, Step::Retry);
    let open = bench.state.attempt.unresolved.expect("pinned");
    assert_eq!(open.processor, Processor::Default);
    assert_eq!(bench.fake.record().unresolved, Some(open));
    assert!(bench.fake.booked().is_empty());

    *bench.fake.stored.lock().unwrap() = Some(open.requested_at);
    assert_eq!(bench.step().await, Step::Booked(Processor::Default));
    assert_eq!(bench.fake.calls().len(), 1, "asked, not re-sent");
    assert_eq!(bench.fake.booked()[0].requested_at, open.requested_at);
}

#[tokio::test]
async fn a_busy_answer_is_re_sent_to_the_same_processor_with_the_same_requested_at() {
    let mut bench = Bench::new(Fake::answering([
        CallOutcome::Busy { retry_after: None },
        CallOutcome::Processed,
    ]));
    assert_eq!(bench.step().await, Step::Retry);
    assert_eq!(bench.step().await, Step::Booked(Processor::Default));
    let calls = bench.fake.calls();
    assert_eq!(calls[1], (Processor::Default, calls[0].1));
    assert_eq!(bench.fake.booked()[0].requested_at, calls[0].1);
}

#[tokio::test]
async fn a_busy_answer_retries_on_the_same_processor() {
    let mut bench = Bench::new(Fake::answering([CallOutcome::Busy { retry_after: None }]));
    assert_eq!(bench.step().await, Step::Retry);
    assert_eq!(
        bench.state.attempt.unresolved.map(|open| open.processor),
        Some(Processor::Default)
    );
    assert!(bench.fake.booked().is_empty());
}

#[tokio::test]
async fn a_misconfigured_processor_leaves_the_payment_queued_and_free_to_go_elsewhere() {
    let mut bench = Bench::new(Fake::answering([
        CallOutcome::Misconfigured,
        CallOutcome::Processed,
    ]));
    assert_eq!(bench.step().await, Step::Retry);
    assert_eq!(bench.state.attempt.unresolved, None);
    assert!(bench.fake.dead_letters.lock().unwrap().is_empty());
    // The misconfigured default is left alone: the next call goes to the fallback.
    assert_eq!(bench.step().await, Step::Booked(Processor::Fallback));
}

#[tokio::test]
async fn a_400_dead_letters_the_payment_with_its_reason() {
    let mut bench = Bench::new(Fake::answering([CallOutcome::Rejected]));
    assert_eq!(bench.step().await, Step::DeadLettered);
    let reasons = bench.fake.dead_letters.lock().unwrap().clone();
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].contains("400"), "{reasons:?}");
    assert!(bench.fake.booked().is_empty());
}

#[tokio::test]
async fn a_400_while_an_earlier_call_is_unresolved_stays_pinned() {
    let mut bench = Bench::new(Fake::answering([CallOutcome::Rejected]))
        .pinned_to(Processor::Fallback, 7, Duration::ZERO)
        .after_a_busy_answer();
    assert_eq!(bench.step().await, Step::Retry);
    assert_eq!(bench.fake.calls(), vec![(Processor::Fallback, 7)]);
    assert!(bench.fake.dead_letters.lock().unwrap().is_empty());
    assert_eq!(
        bench.state.attempt.unresolved.map(|open| open.processor),
        Some(Processor::Fallback)
    );
}

#[tokio::test]
async fn an_unknown_call_quiet_past_the_grace_is_asked_about_and_booked_if_stored() {
    let fake = Fake::default();
    *fake.stored.lock().unwrap() = Some(7);
    let mut bench = Bench::new(fake).pinned_to(Processor::Fallback, 7, Duration::from_secs(120));
    assert_eq!(bench.step().await, Step::Booked(Processor::Fallback));
    assert!(bench.fake.calls().is_empty(), "asked, not re-sent");
    assert_eq!(bench.fake.booked()[0].requested_at, 7);
}

#[tokio::test]
async fn an_unknown_call_quiet_past_the_grace_and_not_stored_is_freed() {
    let mut bench =
        Bench::new(Fake::default()).pinned_to(Processor::Fallback, 7, Duration::from_secs(120));
    assert_eq!(bench.step().await, Step::Retry);
    assert!(bench.fake.calls().is_empty(), "asked, not re-sent");
    assert_eq!(bench.state.attempt.unresolved, None);
    assert_eq!(bench.fake.record().unresolved, None);
}

#[tokio::test]
async fn after_shutdown_the_payment_is_left_pending_without_a_call() {
    let mut bench = Bench::new(Fake::default());
    bench.trigger.trigger();
    assert_eq!(bench.step().await, Step::LeftPending);
    assert!(bench.fake.calls().is_empty());
    assert!(bench.fake.booked().is_empty());
}

#[tokio::test]
async fn an_unknown_answer_is_asked_about_next_not_re_sent() {
    // Only one POST is scripted: a second one would panic.
    let mut bench = Bench::new(Fake::answering([CallOutcome::Unknown]));
    assert_eq!(bench.step().await, Step::Retry);
    let open = bench.state.attempt.unresolved.expect("pinned");

    assert_eq!(bench.step().await, Step::Retry);
    assert_eq!(bench.fake.calls().len(), 1, "asked, not re-sent");
    assert_eq!(bench.state.attempt.unresolved, Some(open), "still pinned");
    assert_eq!(bench.fake.record().unresolved, Some(open));
}

#[tokio::test]
async fn a_pinned_payment_not_found_inside_the_grace_stays_pinned_without_a_call() {
    let mut bench =
        Bench::new(Fake::default()).pinned_to(Processor::Fallback, 7, Duration::from_secs(1));
    let open = bench.state.attempt.unresolved;
    assert_eq!(bench.step().await, Step::Retry);
    assert!(bench.fake.calls().is_empty(), "asked, not re-sent");
    assert_eq!(
        bench.state.attempt.unresolved, open,
        "a 404 inside the grace says nothing: the call may still be in the processor's delay"
    );
}

#[tokio::test]
async fn a_pinned_payment_found_stored_inside_the_grace_is_booked_without_a_call() {
    let fake = Fake::default();
    *fake.stored.lock().unwrap() = Some(7);
    let mut bench = Bench::new(fake).pinned_to(Processor::Fallback, 7, Duration::from_secs(1));
    assert_eq!(bench.step().await, Step::Booked(Processor::Fallback));
    assert!(bench.fake.calls().is_empty(), "asked, not re-sent");
    assert_eq!(bench.fake.booked()[0].requested_at, 7);
}

#[tokio::test]
async fn an_answered_resend_does_not_move_the_grace_clock_of_the_call_still_open() {
    // A 503 (busy: maybe processed behind a proxy) pins the payment; the re-send is answered
    // 500, which says nothing of the first call: the grace still counts from the first send.
    let mut bench = Bench::new(Fake::answering([
        CallOutcome::Busy { retry_after: None },
        CallOutcome::NotProcessed,
    ]));
    assert_eq!(bench.step().await, Step::Retry);
    let first = bench.state.attempt.unresolved.expect("pinned");
    assert_eq!(bench.step().await, Step::Retry);
    assert_eq!(bench.fake.calls().len(), 2, "a busy answer is re-sent");
    let open = bench.state.attempt.unresolved.expect("still pinned");
    assert_eq!(open.last_sent, first.last_sent);
    assert_eq!(open.requested_at, first.requested_at);
    assert_eq!(bench.fake.record().unresolved, Some(open));
}

#[tokio::test]
async fn a_200_for_a_payment_the_ledger_has_at_the_other_processor_is_an_alarm() {
    let mut bench = Bench::new(Fake::answering([CallOutcome::Processed]));
    let earlier = Booking {
        correlation_id: bench.state.entry.correlation_id,
        processor: Processor::Fallback,
        amount: bench.state.entry.amount,
        requested_at: 1,
    };
    bench.fake.booked.lock().unwrap().push(earlier);
    assert_eq!(bench.step().await, Step::Booked(Processor::Default));
    assert_eq!(
        bench.fake.booked(),
        vec![earlier],
        "the ledger keeps its first row"
    );
    assert_eq!(*bench.fake.acknowledged.lock().unwrap(), 1);
    let metrics = bench.metrics.render(None);
    assert!(
        metrics.contains("rinha_ledger_conflicts_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("rinha_bookings_total{processor=\"default\"} 0"));
}

#[tokio::test]
async fn an_unreadable_attempt_record_is_resolved_by_asking_both_processors_not_treated_as_fresh() {
    // Were the record taken as fresh, the payment would be paid at the default (scripted 200).
    let fake = Fake::answering([CallOutcome::Processed]);
    *fake.record.lock().unwrap() = Some("v9|garbage".to_owned());
    *fake.stored.lock().unwrap() = Some(7);
    *fake.stored_only_at.lock().unwrap() = Some(Processor::Fallback);
    let mut bench = Bench::new(fake);
    bench.process_redelivered().await;
    assert!(bench.fake.calls().is_empty(), "asked, never called");
    let asked = bench.fake.asked.lock().unwrap().clone();
    assert!(asked.contains(&Processor::Default) && asked.contains(&Processor::Fallback));
    let booked = bench.fake.booked();
    assert_eq!(booked.len(), 1);
    assert_eq!(
        (booked[0].processor, booked[0].requested_at),
        (Processor::Fallback, 7)
    );
}

#[tokio::test]
async fn an_unreadable_attempt_record_found_nowhere_waits_the_grace_before_a_call() {
    let fake = Fake::answering([CallOutcome::Processed]);
    *fake.record.lock().unwrap() = Some("garbage".to_owned());
    let mut bench = Bench::new(fake);
    bench.unknown_grace = Duration::from_millis(600);
    let started = std::time::Instant::now();
    bench.process_redelivered().await;
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "called after {:?}, inside the grace",
        started.elapsed()
    );
    assert_eq!(bench.fake.booked().len(), 1);
    assert_eq!(bench.fake.calls().len(), 1);
}

#[tokio::test]
async fn the_settlement_delay_counts_from_acceptance_not_from_when_the_worker_read_the_payment() {
    // A payment that waited in the stream behind a held backlog has used up its delay there.
    let delay = Duration::from_secs(60);
    let mut bench = Bench::new(Fake::answering([CallOutcome::Processed]))
        .settlement_delay(delay)
        .accepted_ago(delay + Duration::from_secs(1));
    let failing = crate::processor::HealthReport {
        failing: true,
        min_response_time: 0,
    };
    bench
        .routing
        .apply_health(Processor::Default, failing, now_millis());

    let processed = tokio::time::timeout(Duration::from_secs(5), bench.process_new()).await;

    assert!(
        processed.is_ok(),
        "held for the cheaper processor although accepted longer than the delay ago"
    );
    assert_eq!(bench.fake.calls()[0].0, Processor::Fallback);
}
