//! The `payment-processor` binary: arguments, readiness line, SIGTERM.

use super::*;

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
