//! Facts about the official processor that a backend can observe and must cope with, read from
//! its source (zanfranceschi/rinha-de-backend-2025-payment-processor):
//!
//! - `POST /payments` runs its delay filter before its failure filter and before the insert, so
//!   a duplicate id waits the whole delay before its 422: re-sending learns nothing sooner;
//! - `GET /payments/{id}` has no delay filter, and reads `requested_at` back from a
//!   `timestamp` column (no time zone): .NET writes it as UTC wall time with no zone designator,
//!   up to microseconds, trailing zeros dropped (`"2025-07-15T12:34:56.123"`);
//! - `GET /payments/{id}` is behind the same concurrency limiter as `POST /payments`.

use super::*;

/// `GET /payments/{id}`'s body as JSON.
async fn get_payment(emu: &RunningEmulator, id: &str) -> Response {
    client()
        .get(format!("{}/payments/{id}", emu.url()))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_duplicate_waits_the_whole_delay_before_its_422() {
    let emu = spawn_default().await;
    assert_eq!(pay(&emu, &id(1)).await.status(), StatusCode::OK);
    emu.handle().set_delay_ms(300);
    let started = Instant::now();
    let again = pay(&emu, &id(1)).await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "422 after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn get_payment_answers_requested_at_as_utc_wall_time_without_a_zone_designator() {
    let emu = spawn_default().await;
    let client = client();
    // (what the backend sent, what GET answers)
    let cases = [
        ("2025-07-15T12:34:56.123Z", "2025-07-15T12:34:56.123"),
        ("2025-07-15T09:34:56.120-03:00", "2025-07-15T12:34:56.12"),
        ("2025-07-15T12:34:56.000Z", "2025-07-15T12:34:56"),
        ("2025-07-15T12:34:56.1234567Z", "2025-07-15T12:34:56.123456"),
        ("2025-07-15T12:34:56.5", "2025-07-15T12:34:56.5"),
    ];
    for (n, (sent, answered)) in (1..).zip(cases) {
        let paid = pay_with(&client, &emu, &id(n), "19.90", sent)
            .await
            .unwrap();
        assert_eq!(paid.status(), StatusCode::OK, "{sent}");
        let body: Value = get_payment(&emu, &id(n)).await.json().await.unwrap();
        assert_eq!(body["requestedAt"], answered, "sent {sent}");
    }
}

#[tokio::test]
async fn get_payment_is_not_delayed() {
    let emu = spawn_default().await;
    assert_eq!(pay(&emu, &id(1)).await.status(), StatusCode::OK);
    emu.handle().set_delay_ms(5_000);
    let started = Instant::now();
    assert_eq!(get_payment(&emu, &id(1)).await.status(), StatusCode::OK);
    assert_eq!(
        get_payment(&emu, &id(2)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn get_payment_is_refused_with_429_while_payments_hold_every_slot() {
    let emu = spawn_emulator(EmulatorConfig {
        max_inflight: 1,
        max_queued: 0,
        delay_ms: 60_000,
        ..EmulatorConfig::default()
    })
    .await;
    let handle = emu.handle().clone();
    let url = emu.url();
    let _running = tokio::spawn(async move {
        client()
            .post(format!("{url}/payments"))
            .json(&json!({"correlationId": id(1), "amount": 1, "requestedAt": AT}))
            .send()
            .await
    });
    assert!(handle.wait_until(EVENTUALLY, |h| h.in_flight() == 1).await);

    let refused = get_payment(&emu, &id(1)).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&refused).as_deref(), Some("5"));
}
