//! `GET /payments/service-health`: its report and its one-call-per-5-s window.

use super::*;

#[tokio::test]
async fn health_reports_failure_mode_and_delay() {
    let emu = spawn_emulator(EmulatorConfig {
        delay_ms: 1234,
        failure: true,
        ..EmulatorConfig::default()
    })
    .await;
    let response = health(&emu).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"failing":true,"minResponseTime":1234}"#
    );
}

#[tokio::test]
async fn health_allows_one_call_per_window_queues_two_and_refuses_the_rest() {
    let window = Duration::from_secs(600);
    let emu = spawn_emulator(EmulatorConfig {
        health_window: window,
        ..EmulatorConfig::default()
    })
    .await;
    assert_eq!(health(&emu).await.status(), StatusCode::OK);

    let url = emu.url();
    let _queued: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                client()
                    .get(format!("{url}/payments/service-health"))
                    .send()
                    .await
            })
        })
        .collect();
    assert!(
        emu.handle()
            .wait_until(EVENTUALLY, |h| h.health_waiting() == 2)
            .await
    );

    let refused = health(&emu).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&refused).as_deref(), Some("600"));
}

#[tokio::test]
async fn queued_health_calls_are_answered_in_later_windows() {
    let window = Duration::from_millis(250);
    let emu = spawn_emulator(EmulatorConfig {
        health_window: window,
        ..EmulatorConfig::default()
    })
    .await;
    let started = Instant::now();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let url = emu.url();
            tokio::spawn(async move {
                client()
                    .get(format!("{url}/payments/service-health"))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), StatusCode::OK);
    }
    // Three calls need three windows: the last one cannot end within one window of the start.
    assert!(started.elapsed() > window, "{:?}", started.elapsed());
}
