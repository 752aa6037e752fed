//! `POST /payments` and `GET /payments/{id}`: status codes, bodies, stored amounts and ids.

use super::*;

#[tokio::test]
async fn a_new_payment_is_stored_and_answered_200() {
    let emu = spawn_default().await;
    let response = pay(&emu, &id(1)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"message":"payment processed successfully"}"#
    );
    let stored = emu.handle().payment(&id(1)).expect("stored");
    assert_eq!(
        (stored.amount_cents, stored.requested_at.as_str()),
        (1990, AT)
    );
}

#[tokio::test]
async fn get_payment_returns_the_rounded_amount_and_requested_at_in_utc() {
    let emu = spawn_default().await;
    let odd_but_valid = "2025-07-15T09:34:56.1234567-03:00";
    let response = pay_with(
        &client(),
        &emu,
        &id(7).to_uppercase(),
        "19.905",
        odd_but_valid,
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = client()
        .get(format!("{}/payments/{}", emu.url(), id(7)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        format!(
            r#"{{"correlationId":"{}","amount":19.91,"requestedAt":"2025-07-15T12:34:56.123456"}}"#,
            id(7)
        )
    );
}

#[tokio::test]
async fn amounts_are_rounded_to_cents_half_away_from_zero() {
    let emu = spawn_default().await;
    let client = client();
    let cases = [
        ("19.905", 1991),
        ("19.9049", 1990),
        ("0.005", 1),
        ("0.004", 0),
        ("-1.005", -101),
        ("1e1", 1000),
    ];
    for (n, (amount, cents)) in (1..).zip(cases) {
        let response = pay_with(&client, &emu, &id(n), amount, AT).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{amount}");
        assert_eq!(
            emu.handle().payment(&id(n)).unwrap().amount_cents,
            cents,
            "{amount}"
        );
    }
}

#[tokio::test]
async fn a_stored_id_is_refused_with_422_and_the_first_payment_kept() {
    let emu = spawn_default().await;
    assert_eq!(pay(&emu, &id(1)).await.status(), StatusCode::OK);
    let again = pay_with(&client(), &emu, &id(1), "5.00", AT).await.unwrap();
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = again.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains(&id(1)), "{body}");
    assert_eq!(emu.handle().payment(&id(1)).unwrap().amount_cents, 1990);
    assert_eq!(emu.handle().payment_count(), 1);
}

#[tokio::test]
async fn the_delay_comes_first_and_a_failing_call_still_waits_it_then_500_storing_nothing() {
    let emu = spawn_default().await;
    let handle = emu.handle();
    handle.set_delay_ms(150);

    let started = Instant::now();
    assert_eq!(pay(&emu, &id(1)).await.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));

    handle.set_failure(true);
    let started = Instant::now();
    let failed = pay(&emu, &id(2)).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(failed.text().await.unwrap(), "");
    assert!(handle.payment(&id(2)).is_none());
    assert_eq!(handle.payment_count(), 1);
}

#[tokio::test]
async fn invalid_bodies_are_400_and_non_json_bodies_415() {
    let emu = spawn_default().await;
    let client = client();
    let url = format!("{}/payments", emu.url());
    let invalid = [
        "not json".to_owned(),
        r#"{"amount":19.90,"requestedAt":"2025-07-15T12:34:56.000Z"}"#.to_owned(),
        format!(r#"{{"correlationId":"nope","amount":19.90,"requestedAt":"{AT}"}}"#),
        format!(
            r#"{{"correlationId":"{}","amount":"19.90","requestedAt":"{AT}"}}"#,
            id(1)
        ),
        format!(
            r#"{{"correlationId":"{}","amount":19.90,"requestedAt":"yesterday"}}"#,
            id(1)
        ),
    ];
    for body in invalid {
        let response = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let response = client
        .post(&url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(emu.handle().payment_count(), 0);
}

#[tokio::test]
async fn an_unknown_payment_is_404_and_an_id_that_is_no_uuid_400() {
    let emu = spawn_default().await;
    let get = |path: String| {
        client()
            .get(format!("{}/payments/{path}", emu.url()))
            .send()
    };
    let missing = get(id(404)).await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.text().await.unwrap(), "");
    assert_eq!(
        get("not-a-uuid".to_owned()).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_client_hanging_up_during_the_delay_does_not_cancel_the_payment() {
    let emu = spawn_default().await;
    emu.handle().set_delay_ms(300);
    let impatient = Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let error = pay_with(&impatient, &emu, &id(1), "19.90", AT)
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(
        emu.handle()
            .wait_for_payment(&id(1), EVENTUALLY)
            .await
            .is_some()
    );
}
