//! `/admin/...`: token, summary, delay and failure settings, purge.

use super::*;

#[tokio::test]
async fn every_admin_endpoint_refuses_a_missing_or_wrong_token_with_401() {
    use reqwest::Method;
    let emu = spawn_default().await;
    let endpoints = [
        (Method::GET, "/admin/payments-summary", None),
        (
            Method::PUT,
            "/admin/configurations/token",
            Some(json!({"token": "x"})),
        ),
        (
            Method::PUT,
            "/admin/configurations/delay",
            Some(json!({"delay": 1})),
        ),
        (
            Method::PUT,
            "/admin/configurations/failure",
            Some(json!({"failure": true})),
        ),
        (Method::POST, "/admin/purge-payments", None),
    ];
    for (method, path, body) in endpoints {
        for token in [None, Some("wrong")] {
            let response = admin(&emu, method.clone(), path, token, body.clone()).await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} {token:?}"
            );
            assert_eq!(response.text().await.unwrap(), "");
        }
    }
    let handle = emu.handle();
    assert_eq!(
        (handle.token().as_str(), handle.delay_ms(), handle.failing()),
        ("123", 0, false)
    );
}

#[tokio::test]
async fn the_token_can_be_changed_and_then_only_the_new_one_works() {
    let emu = spawn_emulator(EmulatorConfig {
        token: "initial".to_owned(),
        ..EmulatorConfig::default()
    })
    .await;
    let put = admin(
        &emu,
        reqwest::Method::PUT,
        "/admin/configurations/token",
        Some("initial"),
        Some(json!({"token": "next"})),
    )
    .await;
    assert_eq!(put.status(), StatusCode::NO_CONTENT);
    let purge = |token| {
        admin(
            &emu,
            reqwest::Method::POST,
            "/admin/purge-payments",
            Some(token),
            None,
        )
    };
    assert_eq!(purge("initial").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(purge("next").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn delay_and_failure_configuration_answer_what_was_and_what_is() {
    let emu = spawn_default().await;
    let put = |path, body| admin(&emu, reqwest::Method::PUT, path, Some("123"), Some(body));

    let delay = put("/admin/configurations/delay", json!({"delay": 100})).await;
    assert_eq!(delay.status(), StatusCode::OK);
    assert_eq!(
        delay.text().await.unwrap(),
        r#"{"config":"delay","was":0,"is":100}"#
    );
    let failure = put("/admin/configurations/failure", json!({"failure": true})).await;
    assert_eq!(failure.status(), StatusCode::OK);
    assert_eq!(
        failure.text().await.unwrap(),
        r#"{"config":"failure","was":false,"is":true}"#
    );
    assert_eq!(
        (emu.handle().delay_ms(), emu.handle().failing()),
        (100, true)
    );

    let bad = put("/admin/configurations/delay", json!({"delay": "slow"})).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn summary_counts_requested_at_in_an_inclusive_range_with_the_exact_fee() {
    let emu = spawn_emulator(EmulatorConfig {
        fee: "0.15".parse().unwrap(),
        ..EmulatorConfig::default()
    })
    .await;
    let client = client();
    let times = [
        "2025-07-15T12:00:00.000Z",
        "2025-07-15T12:00:01.000Z",
        "2025-07-15T12:00:02.000Z",
        "2025-07-15T12:00:02.001Z",
    ];
    for (n, at) in (1..).zip(times) {
        assert_eq!(
            pay_with(&client, &emu, &id(n), "19.90", at)
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }

    let inclusive = summary(
        &emu,
        "?from=2025-07-15T12:00:00.000Z&to=2025-07-15T12:00:02.000Z",
    )
    .await;
    assert_eq!(inclusive.status(), StatusCode::OK);
    assert_eq!(
        inclusive.text().await.unwrap(),
        r#"{"totalAmount":59.70,"totalRequests":3,"totalFee":8.9550,"feePerTransaction":0.15}"#
    );
    let empty = summary(
        &emu,
        "?from=2025-07-15T11:00:00.000Z&to=2025-07-15T11:59:59.999Z",
    )
    .await;
    let empty: Value = empty.json().await.unwrap();
    assert_eq!(
        (
            empty["totalRequests"].as_u64(),
            empty["totalAmount"].as_f64()
        ),
        (Some(0), Some(0.0))
    );
}

#[tokio::test]
async fn summary_counts_every_payment_when_a_bound_is_missing_and_refuses_bad_dates() {
    let emu = spawn_default().await;
    for n in 1..=3 {
        pay(&emu, &id(n)).await;
    }
    for query in [
        "",
        "?from=2030-01-01T00:00:00.000Z",
        "?to=2000-01-01T00:00:00.000Z",
    ] {
        let body: Value = summary(&emu, query).await.json().await.unwrap();
        assert_eq!(body["totalRequests"], 3, "{query}");
    }
    assert_eq!(
        summary(&emu, "?from=garbage&to=2000-01-01T00:00:00Z")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn purge_forgets_every_payment() {
    let emu = spawn_default().await;
    pay(&emu, &id(1)).await;
    let purge = admin(
        &emu,
        reqwest::Method::POST,
        "/admin/purge-payments",
        Some("123"),
        None,
    )
    .await;
    assert_eq!(purge.status(), StatusCode::OK);
    assert_eq!(
        purge.text().await.unwrap(),
        r#"{"message":"All payments purged."}"#
    );
    assert_eq!(emu.handle().payment_count(), 0);
    assert_eq!(
        pay(&emu, &id(1)).await.status(),
        StatusCode::OK,
        "a purged id is new again"
    );
}
