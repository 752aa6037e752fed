//! The admission limit: at most 800 calls in flight plus 500 queued, the rest 429.

use super::*;

#[tokio::test]
async fn beyond_the_in_flight_and_queue_limits_a_payment_is_429_at_once() {
    let emu = spawn_emulator(EmulatorConfig {
        max_inflight: 2,
        max_queued: 1,
        delay_ms: 60_000,
        ..EmulatorConfig::default()
    })
    .await;
    let handle = emu.handle().clone();
    let url = emu.url();
    let post = |n: u64| {
        let url = url.clone();
        tokio::spawn(async move {
            client()
                .post(format!("{url}/payments"))
                .json(&json!({"correlationId": id(n), "amount": 1, "requestedAt": AT}))
                .send()
                .await
        })
    };
    let _running = [post(1), post(2)];
    assert!(handle.wait_until(EVENTUALLY, |h| h.in_flight() == 2).await);
    let _waiting = post(3);
    assert!(handle.wait_until(EVENTUALLY, |h| h.queued() == 1).await);

    let refused = pay(&emu, &id(4)).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&refused).as_deref(), Some("5"));
    assert_eq!(
        refused.text().await.unwrap(),
        "Calm down, bitch. Try again later."
    );
    assert_eq!(handle.payments_received(), 4);
}

#[tokio::test]
async fn a_queued_payment_runs_when_a_slot_frees() {
    let emu = spawn_emulator(EmulatorConfig {
        max_inflight: 1,
        max_queued: 1,
        delay_ms: 150,
        ..EmulatorConfig::default()
    })
    .await;
    let handle = emu.handle().clone();
    let url = emu.url();
    let started = Instant::now();
    let post = |n: u64| {
        let url = url.clone();
        tokio::spawn(async move {
            let response = client()
                .post(format!("{url}/payments"))
                .json(&json!({"correlationId": id(n), "amount": 1, "requestedAt": AT}))
                .send()
                .await
                .unwrap();
            (response.status(), started.elapsed())
        })
    };
    let first = post(1);
    assert!(handle.wait_until(EVENTUALLY, |h| h.in_flight() == 1).await);
    let second = post(2);
    assert!(handle.wait_until(EVENTUALLY, |h| h.queued() == 1).await);
    assert_eq!(
        pay(&emu, &id(3)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    assert_eq!(first.await.unwrap().0, StatusCode::OK);
    let (status, elapsed) = second.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        elapsed >= Duration::from_millis(300),
        "the second waited for the first: {elapsed:?}"
    );
    assert_eq!(handle.payment_count(), 2);
}
