//! The routing rule, decision by decision.

use super::*;
use std::time::Duration;

fn routing() -> Routing {
    Routing::new(RoutingConfig {
        fees: [Fee::parse("0.05").unwrap(), Fee::parse("0.15").unwrap()],
        audit_slack: Duration::from_millis(1500),
        max_inflight: 3,
        probe_interval: Duration::from_millis(500),
        misconfigured_pause: Duration::from_millis(10_000),
        settlement_delay: Duration::from_millis(0),
        max_calls_per_sec: 0,
    })
}

fn health(failing: bool, min_response_time: u64) -> HealthReport {
    HealthReport {
        failing,
        min_response_time,
    }
}

#[test]
fn prefers_the_cheaper_processor() {
    let mut r = routing();
    assert_eq!(r.choose(0, 0).unwrap().processor, Processor::Default);
}

#[test]
fn cheaper_fee_wins_whatever_its_name() {
    let mut r = Routing::new(RoutingConfig {
        fees: [Fee::parse("0.10").unwrap(), Fee::parse("0.07").unwrap()],
        ..routing().config
    });
    assert_eq!(r.choose(0, 0).unwrap().processor, Processor::Fallback);
}

#[test]
fn a_failing_cheaper_processor_is_not_probed_while_the_other_is_usable() {
    let mut r = routing();
    let t = r.choose(0, 0).unwrap();
    r.finish(t, CallOutcome::NotProcessed, 10);
    // However long it has been, the fallback takes the payments: a probe would be a payment
    // sent into an unusable processor.
    for at in [20, 600, 5_000] {
        let t = r.choose(at, at).unwrap();
        assert_eq!(t.processor, Processor::Fallback);
        r.finish(t, CallOutcome::Processed, at + 5);
    }
    // Its recovery is learnt from the health report.
    r.apply_health(Processor::Default, health(false, 0), 5_100);
    assert_eq!(
        r.choose(5_200, 5_200).unwrap().processor,
        Processor::Default
    );
}

/// `routing()` with a one-second settlement delay: the holding tests.
fn holding_for_a_second() -> Routing {
    Routing::new(RoutingConfig {
        settlement_delay: Duration::from_millis(1_000),
        ..routing().config
    })
}

#[test]
fn a_payment_waits_the_settlement_delay_for_a_failing_cheaper_processor() {
    let mut r = holding_for_a_second();
    let t = r.choose(0, 0).unwrap();
    r.finish(t, CallOutcome::NotProcessed, 10);
    // The fallback works, but the default may recover within the settlement delay.
    assert_eq!(r.choose(100, 100), None);
    assert_eq!(
        r.choose(600, 100),
        None,
        "no probe while the fallback is usable"
    );
    // Held long enough: the dearer processor takes it.
    assert_eq!(r.choose(1_050, 0).unwrap().processor, Processor::Fallback);
    // A health report of the recovery ends the hold for the rest.
    r.apply_health(Processor::Default, health(false, 0), 1_100);
    assert_eq!(
        r.choose(1_200, 1_100).unwrap().processor,
        Processor::Default
    );
}

#[test]
fn a_backlog_from_a_slowness_of_both_holds_for_the_cheaper_one() {
    let mut r = holding_for_a_second();
    // Both slow, neither failing: nothing is usable, and a slow processor gets no probe.
    r.apply_health(Processor::Default, health(false, 2_000), 0);
    r.apply_health(Processor::Fallback, health(false, 2_000), 0);
    assert_eq!(r.choose(9_000, 0), None);
    // The dearer one is fast again first; the payment waiting since 0 holds for the cheaper
    // one a settlement delay from then, as after an outage of both (the test below).
    r.apply_health(Processor::Fallback, health(false, 0), 10_000);
    assert_eq!(r.choose(10_100, 0), None);
    assert_eq!(r.choose(10_999, 0), None);
    assert_eq!(r.choose(11_000, 0).unwrap().processor, Processor::Fallback);
}

#[test]
fn a_backlog_from_an_outage_of_both_holds_for_the_cheaper_one() {
    let mut r = holding_for_a_second();
    r.apply_health(Processor::Default, health(true, 2_000), 0);
    r.apply_health(Processor::Fallback, health(true, 1_000), 0);
    // Neither is usable: only the one whose delay is short enough gets a probe.
    let probe = r.choose(9_990, 0).unwrap();
    assert_eq!(probe.processor, Processor::Fallback);
    assert_eq!(
        r.choose_pinned(Processor::Default, 9_995),
        None,
        "2 s: never probed"
    );
    let _ = r.finish(probe, CallOutcome::Processed, 10_020);
    // The fallback recovered first; a payment waiting since long ago still holds, and the
    // default is not probed while the fallback is usable.
    assert_eq!(r.choose(10_100, 0), None);
    assert_eq!(r.choose(10_600, 0), None);
    // The default's health report shows it recovered: the backlog goes to it.
    r.apply_health(Processor::Default, health(false, 20), 10_700);
    let next = r.choose(10_710, 0).unwrap();
    assert_eq!(next.processor, Processor::Default);
    let _ = r.finish(next, CallOutcome::Processed, 10_730);
    assert_eq!(r.expected_latency_ms(Processor::Default, 10_730), 20.0);
}

#[test]
fn a_failing_processor_with_a_long_delay_is_never_probed() {
    let mut r = routing();
    r.apply_health(Processor::Default, health(true, 2_000), 0);
    r.apply_health(Processor::Fallback, health(true, 5_000), 0);
    assert_eq!(r.choose(1_000, 1_000), None);
    assert_eq!(r.choose_pinned(Processor::Default, 1_000), None);
    assert_eq!(r.choose_pinned(Processor::Fallback, 1_000), None);
}

#[test]
fn both_failing_means_wait_except_probes() {
    let mut r = routing();
    r.apply_health(Processor::Default, health(true, 0), 0);
    r.apply_health(Processor::Fallback, health(true, 0), 0);
    let probe = r.choose(1_000, 1_000).unwrap();
    let second = r.choose(1_000, 1_000).unwrap();
    assert_ne!(probe.processor, second.processor);
    assert_eq!(r.choose(1_001, 1_001), None);
}

#[test]
fn a_slow_cheap_processor_yields_to_a_fast_one() {
    let mut r = routing();
    r.apply_health(Processor::Default, health(false, 1_300), 0);
    assert_eq!(r.choose(0, 0).unwrap().processor, Processor::Fallback);
    // A payment pinned to the slow one waits too.
    assert_eq!(r.choose_pinned(Processor::Default, 0), None);
    // Both slow: nothing is sent (a slow processor stores late); health shows the recovery.
    r.apply_health(Processor::Fallback, health(false, 5_000), 0);
    assert_eq!(r.choose(10, 10), None);
    r.apply_health(Processor::Default, health(false, 10), 100);
    assert_eq!(r.choose(110, 110).unwrap().processor, Processor::Default);
}

#[test]
fn slowness_shows_before_any_call_completes() {
    let mut r = routing();
    let _stuck = r.choose(0, 0).unwrap();
    assert!(r.expected_latency_ms(Processor::Default, 1_250) >= 1_250.0);
    assert_eq!(
        r.choose(1_250, 1_250).unwrap().processor,
        Processor::Fallback
    );
}

#[test]
fn a_full_processor_that_carries_the_arrival_rate_is_waited_for() {
    let mut r = routing();
    r.apply_health(Processor::Default, health(false, 100), 0);
    for t in 0..20 {
        r.note_arrival(t, 20);
    }
    for _ in 0..3 {
        assert_eq!(r.choose(20, 20).unwrap().processor, Processor::Default);
    }
    // 3 in flight at 100 ms carry 30/s > 20/s: wait rather than pay the fallback fee.
    assert_eq!(r.choose(20, 20), None);
}

#[test]
fn a_full_processor_that_cannot_carry_the_arrival_rate_overflows() {
    let mut r = routing();
    r.apply_health(Processor::Default, health(false, 100), 0);
    for t in 0..50 {
        r.note_arrival(t, 50);
    }
    for _ in 0..3 {
        assert_eq!(r.choose(50, 50).unwrap().processor, Processor::Default);
    }
    assert_eq!(r.choose(50, 50).unwrap().processor, Processor::Fallback);
    // A backlog read late is not arrival rate.
    let mut r = routing();
    r.note_arrival(0, 5_000);
    assert_eq!(r.arrival_rate(5_000), 0.0);
}

#[test]
fn busy_and_misconfigured_pause_the_processor() {
    let mut r = routing();
    let t = r.choose(0, 0).unwrap();
    r.finish(
        t,
        CallOutcome::Busy {
            retry_after: Some(Duration::from_secs(1)),
        },
        0,
    );
    assert_eq!(r.choose_pinned(Processor::Default, 500), None);
    let t = r.choose_pinned(Processor::Default, 1_000).unwrap();
    r.finish(t, CallOutcome::Processed, 1_010);
    let t = r.choose_pinned(Processor::Fallback, 1_000).unwrap();
    r.finish(t, CallOutcome::Misconfigured, 1_000);
    assert_eq!(r.choose_pinned(Processor::Fallback, 5_000), None);
    // A paused processor is not waited for like a full one: the other takes the payment.
    let t = r.choose(5_000, 5_000).unwrap();
    r.finish(t, CallOutcome::Misconfigured, 5_000);
    assert_eq!(r.choose(5_001, 5_001), None, "both misconfigured: wait");
}

#[test]
fn recovery_is_learnt_from_success_and_health() {
    let mut r = routing();
    r.apply_health(Processor::Default, health(true, 0), 0);
    r.apply_health(Processor::Fallback, health(true, 0), 0);
    let t = r.choose_pinned(Processor::Default, 0).unwrap();
    r.finish(t, CallOutcome::Processed, 5);
    assert!(!r.is_failing(Processor::Default));
    r.apply_health(Processor::Default, health(true, 0), 0);
    assert!(r.is_failing(Processor::Default));
    r.apply_health(Processor::Default, health(false, 0), 0);
    assert_eq!(
        r.choose(10_000, 10_000).unwrap().processor,
        Processor::Default
    );
}

#[test]
fn calls_from_the_outage_do_not_make_a_recovered_processor_look_slow() {
    let mut r = routing();
    // Both fail with 1 s delays; probes are sent and take 1 s to answer.
    r.apply_health(Processor::Default, health(true, 1_000), 0);
    r.apply_health(Processor::Fallback, health(true, 1_000), 0);
    let slow_probe = r.choose_pinned(Processor::Default, 100).unwrap();
    // Recovery: a fresh probe answers in 20 ms.
    let fresh_probe = r.choose_pinned(Processor::Default, 1_000).unwrap();
    r.finish(fresh_probe, CallOutcome::Processed, 1_020);
    assert!(r.expected_latency_ms(Processor::Default, 1_500) < 100.0);
    let next = r.choose(1_500, 1_500).unwrap();
    assert_eq!(next.processor, Processor::Default);
    r.finish(next, CallOutcome::Processed, 1_520);
    // The outage's probe finally answers: it does not count as a sample.
    r.finish(slow_probe, CallOutcome::Processed, 2_100);
    assert!(r.expected_latency_ms(Processor::Default, 2_100) < 100.0);
}

#[test]
fn finish_reports_changes_of_health_only() {
    let mut r = routing();
    r.apply_health(Processor::Fallback, health(true, 0), 0);
    let t = r.choose(0, 0).unwrap();
    assert_eq!(r.finish(t, CallOutcome::NotProcessed, 5), Some(true));
    let t = r.choose_pinned(Processor::Default, 600).unwrap();
    assert_eq!(r.finish(t, CallOutcome::NotProcessed, 605), None);
    let t = r.choose_pinned(Processor::Default, 1_200).unwrap();
    assert_eq!(r.finish(t, CallOutcome::Processed, 1_205), Some(false));
    let t = r.choose(1_300, 1_300).unwrap();
    assert_eq!(r.finish(t, CallOutcome::Processed, 1_305), None);
}

#[test]
fn a_health_report_older_than_our_own_answered_call_is_ignored() {
    let mut r = routing();
    // A poll asked at 1_000 during the outage is answered late, after a call sent at
    // 1_100 found the processor recovered and fast.
    let t = r.choose(1_100, 1_100).unwrap();
    let _ = r.finish(t, CallOutcome::Processed, 1_120);
    r.apply_health(Processor::Default, health(true, 2_000), 1_000);
    assert!(!r.is_failing(Processor::Default));
    assert_eq!(
        r.choose(1_200, 1_200).unwrap().processor,
        Processor::Default
    );
    // A newer report applies.
    r.apply_health(Processor::Default, health(true, 0), 1_300);
    assert!(r.is_failing(Processor::Default));
}

#[test]
fn a_recovery_answered_after_the_outage_delay_does_not_look_slow() {
    let mut r = routing();
    r.apply_health(Processor::Default, health(true, 1_000), 0);
    r.apply_health(Processor::Fallback, health(true, 0), 0);
    // A probe sent during the outage waits out its 1 s delay, then succeeds.
    let probe = r.choose_pinned(Processor::Default, 1_000).unwrap();
    assert_eq!(r.finish(probe, CallOutcome::Processed, 2_000), Some(false));
    assert_eq!(
        r.choose(2_010, 2_010).unwrap().processor,
        Processor::Default
    );
}
