//! The payment-processor emulator, pinned down over real HTTP on loopback: each test starts
//! its own emulator on a random port and talks to it as the backend or the load test would.

use std::time::{Duration, Instant};

use reqwest::{Client, Response, StatusCode};
use rinha_emulator::{self as emulator, EmulatorConfig, Fault, RunningEmulator, TOKEN_HEADER};
use serde_json::{Value, json};

/// Bound for every "wait until it happened" in these tests: generous, never slept through.
const EVENTUALLY: Duration = Duration::from_secs(5);
const AT: &str = "2025-07-15T12:34:56.000Z";

async fn spawn_emulator(config: EmulatorConfig) -> RunningEmulator {
    emulator::start(config).await.expect("emulator starts")
}

async fn spawn_default() -> RunningEmulator {
    spawn_emulator(EmulatorConfig::default()).await
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A distinct, valid UUID per `n`.
fn id(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// `POST /payments` with the amount written exactly as `amount` (JSON number text).
async fn pay_with(
    client: &Client,
    emu: &RunningEmulator,
    id: &str,
    amount: &str,
    at: &str,
) -> reqwest::Result<Response> {
    client
        .post(format!("{}/payments", emu.url()))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"correlationId":"{id}","amount":{amount},"requestedAt":"{at}"}}"#
        ))
        .send()
        .await
}

async fn pay(emu: &RunningEmulator, id: &str) -> Response {
    pay_with(&client(), emu, id, "19.90", AT).await.unwrap()
}

async fn admin(
    emu: &RunningEmulator,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut request = client().request(method, format!("{}{path}", emu.url()));
    if let Some(token) = token {
        request = request.header(TOKEN_HEADER, token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn summary(emu: &RunningEmulator, query: &str) -> Response {
    admin(
        emu,
        reqwest::Method::GET,
        &format!("/admin/payments-summary{query}"),
        Some("123"),
        None,
    )
    .await
}

async fn health(emu: &RunningEmulator) -> Response {
    client()
        .get(format!("{}/payments/service-health", emu.url()))
        .send()
        .await
        .unwrap()
}

fn retry_after(response: &Response) -> Option<String> {
    response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned())
}

// ---- POST /payments and GET /payments/{id} ----

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
async fn get_payment_returns_the_rounded_amount_and_requested_at_verbatim() {
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
            r#"{{"correlationId":"{}","amount":19.91,"requestedAt":"{odd_but_valid}"}}"#,
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

// ---- admission limit: in flight + queued ----

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

// ---- GET /payments/service-health ----

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

// ---- admin ----

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

// ---- fault hooks ----

#[tokio::test]
async fn scripted_statuses_answer_once_each_in_order_without_storing() {
    let emu = spawn_default().await;
    let faults = emu.handle().faults();
    faults.push(Fault::status(503), 1);
    faults.push(Fault::status_retry_after(429, 2), 1);

    let unavailable = pay(&emu, &id(1)).await;
    assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after(&unavailable), None);
    let limited = pay(&emu, &id(2)).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&limited).as_deref(), Some("2"));
    assert_eq!(pay(&emu, &id(3)).await.status(), StatusCode::OK);

    assert_eq!(emu.handle().payment_count(), 1);
    assert_eq!(emu.handle().payments_received(), 3);
    assert_eq!(faults.pending(), 0);
}

#[tokio::test]
async fn store_then_drop_stores_the_payment_but_never_answers() {
    let emu = spawn_default().await;
    emu.handle().set_failure(true);
    emu.handle().faults().push(Fault::StoreThenDrop, 1);
    let error = pay_with(&client(), &emu, &id(1), "19.90", AT)
        .await
        .unwrap_err();
    assert!(!error.is_timeout() && error.status().is_none(), "{error}");
    assert!(
        emu.handle().payment(&id(1)).is_some(),
        "stored before the connection dropped"
    );
}

#[tokio::test]
async fn hang_never_answers_nor_stores() {
    let emu = spawn_default().await;
    emu.handle().faults().push(Fault::Hang, 1);
    let impatient = Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = pay_with(&impatient, &emu, &id(1), "19.90", AT)
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(emu.handle().payment(&id(1)).is_none());
    assert_eq!(emu.handle().payments_received(), 1);
    assert_eq!(
        pay(&emu, &id(2)).await.status(),
        StatusCode::OK,
        "only one call hangs"
    );
}

// ---- the binary ----

#[tokio::test]
async fn the_binary_serves_with_its_arguments_and_exits_0_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_payment-processor"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--fee",
            "0.15",
            "--token",
            "secret",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("listen="))
        .expect(&line)
        .to_owned();

    let response = client()
        .get(format!("http://{addr}/admin/payments-summary"))
        .header(TOKEN_HEADER, "secret")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"totalAmount":0.00,"totalRequests":0,"totalFee":0.0000,"feePerTransaction":0.15}"#
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success());
}
