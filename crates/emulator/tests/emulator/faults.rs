//! The fault hooks tests script: statuses, hangs, resets.

use super::*;

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

#[tokio::test]
async fn a_scripted_redirect_answers_its_status_and_location_without_storing() {
    let emu = spawn_default().await;
    emu.handle().faults().push(
        Fault::Redirect {
            status: 302,
            location: "/elsewhere".to_owned(),
        },
        1,
    );
    let no_follow = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = pay_with(&no_follow, &emu, &id(1), "19.90", AT)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap(),
        "/elsewhere"
    );
    assert!(emu.handle().payment(&id(1)).is_none());
}
