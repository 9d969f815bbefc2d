//! The relay never logs payloads: a PLAIN login passes through it with every log level on, and
//! no line of its log contains the password.

use crate::forwarding::{await_method, broker, start_ok};
use crate::harness::*;

#[tokio::test]
async fn the_password_never_reaches_the_log() {
    const PASSWORD: &str = "s3cr3t-Pa55word-that-must-not-be-logged";
    let up = echo_upstream().await;
    let relay = Relay::start(&upstreams(&[up]), &["--log-level", "trace"]).await;
    let mut ws = open(&relay.url()).await;
    let frame = start_ok("guest", PASSWORD);
    send(&mut ws, &frame).await;
    assert_eq!(next_binary(&mut ws).await, frame);
    ws.close(None).await.unwrap();
    relay.wait_log("connection closed").await;
    check(&relay.log(), PASSWORD);
}

#[tokio::test]
async fn the_password_of_a_real_login_never_reaches_the_log() {
    let Some(addr) = broker() else {
        eprintln!("WARREN_RELAY_TEST_AMQP not set: checked with the echo upstream only");
        return;
    };
    let relay = Relay::start(
        &format!("upstreams = [\"{addr}\"]\nallow_missing_origin = true\n"),
        &["--log-level", "trace", "--log-format", "json"],
    )
    .await;
    let mut ws = open(&relay.url()).await;
    send(&mut ws, b"AMQP\x00\x00\x09\x01").await;
    let mut buf = Vec::new();
    await_method(&mut ws, &mut buf, 10, 10).await;
    send(&mut ws, &start_ok("warren", "warren-secret")).await;
    await_method(&mut ws, &mut buf, 10, 30).await;
    ws.close(None).await.unwrap();
    relay.wait_log("connection closed").await;
    check(&relay.log(), "warren-secret");
}

fn check(log: &[String], secret: &str) {
    assert!(log.len() >= 3, "expected a trace log, got {log:?}");
    for line in log {
        assert!(!line.contains(secret), "the log leaks the password: {line}");
        // nor the PLAIN response in another spelling (bytes, escaped)
        assert!(
            !line.contains(&format!("{:?}", secret.as_bytes())[1..20]),
            "{line}"
        );
    }
}
