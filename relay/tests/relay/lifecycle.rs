//! SIGTERM: stop accepting, let open connections finish, close the rest at the drain deadline;
//! /healthz and /metrics on the admin port.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::harness::*;

#[tokio::test]
async fn sigterm_stops_accepting_and_drains() {
    let up = echo_upstream().await;
    let mut relay = Relay::start(&format!("{}drain_timeout = 30\n", upstreams(&[up])), &[]).await;
    assert_eq!(relay.admin_get("/healthz").await, (200, "ok\n".to_string()));
    let mut ws = open(&relay.url()).await;
    relay.signal("TERM");
    relay.wait_log("listener closed").await;
    // no new connections...
    assert!(
        TcpStream::connect(relay.addr).await.is_err(),
        "the listener must be closed"
    );
    assert_eq!(relay.admin_get("/healthz").await.0, 503);
    // ...while the open one keeps working
    send(&mut ws, b"still here").await;
    assert_eq!(next_binary(&mut ws).await, b"still here");
    // and once it ends, the relay exits at once (long before the 30 s deadline)
    let t = Instant::now();
    within("close", ws.close(None)).await.unwrap();
    let status = relay.wait_exit(WAIT).await;
    assert!(status.success(), "{status:?}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn at_the_drain_deadline_open_connections_get_1001() {
    let up = echo_upstream().await;
    let mut relay = Relay::start(&format!("{}drain_timeout = 0.5\n", upstreams(&[up])), &[]).await;
    let mut ws = open(&relay.url()).await;
    let t = Instant::now();
    relay.signal("TERM");
    let frame = next_close(&mut ws).await.expect("close frame");
    assert_eq!(frame.code, CloseCode::Away);
    assert_eq!(frame.reason.as_str(), "relay shutting down");
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "closed after {:?}",
        t.elapsed()
    );
    let _ = ws.close(None).await;
    assert!(relay.wait_exit(WAIT).await.success());
}

#[tokio::test]
async fn metrics_and_health_endpoints() {
    let up = echo_upstream().await;
    let relay = Relay::start(
        &format!(
            "{}allowed_origins = [\"https://ok.example\"]\nallow_missing_origin = false\n",
            upstreams(&[up]).replace("allow_missing_origin = true\n", "")
        ),
        &[],
    )
    .await;
    let (status, body) = relay.admin_get("/metrics").await;
    assert_eq!(status, 200);
    for series in [
        "warren_relay_connections_open 0",
        "warren_relay_connections_total 0",
        "warren_relay_refusals_total{reason=\"origin\"} 0",
        "# TYPE warren_relay_bytes_total counter",
    ] {
        assert!(body.contains(series), "{series} missing in\n{body}");
    }
    assert_eq!(
        refused_status(&relay.url(), &[("origin", "https://bad.example")]).await,
        403
    );
    let mut ws = open_with_origin(&relay, "https://ok.example").await;
    send(&mut ws, b"abc").await;
    next_binary(&mut ws).await;
    assert_eq!(
        relay
            .metric("warren_relay_refusals_total{reason=\"origin\"}")
            .await,
        1
    );
    assert_eq!(relay.metric("warren_relay_connections_total").await, 1);
    assert_eq!(relay.metric("warren_relay_connections_open").await, 1);
    assert_eq!(relay.admin_get("/nope").await.0, 404);
    assert_eq!(relay.admin_get("/healthz").await.0, 200);
    ws.close(None).await.unwrap();
}

async fn open_with_origin(relay: &Relay, origin: &str) -> Ws {
    connect(&relay.url(), &[("origin", origin)])
        .await
        .unwrap()
        .0
}
