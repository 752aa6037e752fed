//! The settings: defaults, layering and every refusal.

use super::*;

#[test]
fn defaults_are_valid() {
    let s = Settings::with_overrides(&[]).unwrap();
    assert_eq!(s.processor(Processor::Default).fee.millionths(), 50_000);
    assert_eq!(s.enqueue_deadline, Duration::from_millis(1000));
    assert_eq!(s.listen, ListenAddr::Tcp("0.0.0.0:9999".into()));
    assert!(!s.purge_enabled);
    assert_eq!(s.watchdog, Some(Duration::from_secs(5)));
    assert_eq!(s.dedupe_window, Duration::from_secs(120));
    let off = Settings::with_overrides(&[("watchdog_ms", "0")]).unwrap();
    assert_eq!(off.watchdog, None);
    assert_eq!(s.probe_interval, Duration::from_millis(250));
    assert_eq!(s.misconfigured_pause, Duration::from_secs(10));
    // The rule's default for 5 % / 15 % over a 60 s span.
    assert_eq!(s.settlement_delay, Duration::from_millis(11_429));
    let no_hold = Settings::with_overrides(&[("settlement_delay_ms", "0")]).unwrap();
    assert_eq!(no_hold.settlement_delay, Duration::ZERO);
    let longer = Settings::with_overrides(&[("traffic_span_ms", "120000")]).unwrap();
    assert_eq!(longer.settlement_delay, Duration::from_millis(22_857));
    assert!(Settings::with_overrides(&[("traffic_span_ms", "0")]).is_err());
}

#[test]
fn overrides_apply_and_fees_accept_numbers() {
    let s = Settings::with_overrides(&[
        ("default_fee", "0.07"),
        ("listen", "unix:/tmp/x.sock"),
        ("purge_enabled", "true"),
    ])
    .unwrap();
    assert_eq!(s.processor(Processor::Default).fee.millionths(), 70_000);
    assert_eq!(s.listen, ListenAddr::Unix("/tmp/x.sock".into()));
    assert!(s.purge_enabled);
}

#[test]
fn errors_name_the_key() {
    let err = Settings::with_overrides(&[("fallback_fee", "2.5")]).unwrap_err();
    assert!(err.to_string().contains("fallback_fee"), "{err}");
    let err = Settings::with_overrides(&[("default_url", "ftp://x")]).unwrap_err();
    assert!(err.to_string().contains("default_url"), "{err}");
    let err = Settings::with_overrides(&[("max_inflight", "0")]).unwrap_err();
    assert!(err.to_string().contains("max_inflight"), "{err}");
    let err = Settings::with_overrides(&[("watchdog_ms", "50")]).unwrap_err();
    assert!(err.to_string().contains("watchdog_ms"), "{err}");
    let err = Settings::with_overrides(&[("dedupe_window_ms", "0")]).unwrap_err();
    assert!(err.to_string().contains("dedupe_window_ms"), "{err}");
    for key in ["probe_interval_ms", "misconfigured_pause_ms"] {
        let err = Settings::with_overrides(&[(key, "0")]).unwrap_err();
        assert!(err.to_string().contains(key), "{err}");
    }
    let err = Settings::with_overrides(&[("no_such_key", "1")]).unwrap_err();
    assert!(err.to_string().contains("no_such_key"), "{err}");
}

#[test]
fn zero_and_nonsense_durations_are_refused_naming_the_key() {
    for (key, value) in [
        // Reclaiming and refreshing every 0 ms is a busy loop.
        ("reclaim_idle_ms", "0"),
        ("reclaim_idle_ms", "50"),
        // A "not found" before the call could even have timed out says nothing.
        ("unknown_grace_ms", "0"),
        ("unknown_grace_ms", "2999"),
        ("postgres_connect_timeout_ms", "0"),
        ("postgres_pool_wait_ms", "0"),
        // A linger longer than a second only delays payments.
        ("read_linger_ms", "1001"),
    ] {
        let err = Settings::with_overrides(&[("processor_timeout_ms", "3000"), (key, value)])
            .expect_err(&format!("{key} = {value} is refused"));
        assert!(err.to_string().contains(key), "{err}");
    }
    let ok = Settings::with_overrides(&[
        ("processor_timeout_ms", "3000"),
        ("unknown_grace_ms", "3000"),
        ("reclaim_idle_ms", "100"),
        ("read_linger_ms", "0"),
    ])
    .unwrap();
    assert_eq!(ok.unknown_grace, Duration::from_secs(3));
    assert_eq!(ok.read_linger, Duration::ZERO, "0 turns the linger off");
}
