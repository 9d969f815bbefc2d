//! Every refusal reason: origin, missing origin, path, connections per address, total,
//! upgrade rate, message size, idle, handshake timeout; and X-Forwarded-For only from trusted peers.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::harness::*;

async fn refusals(relay: &Relay, reason: &str) -> u64 {
    relay
        .metric(&format!(
            "warren_relay_refusals_total{{reason=\"{reason}\"}}"
        ))
        .await
}

#[tokio::test]
async fn origins_outside_the_allowlist_get_403() {
    let up = echo_upstream().await;
    let cfg = format!("upstreams = [\"{up}\"]\nallowed_origins = [\"https://app.example.com\", \"https://*.example.org\"]\n");
    let relay = Relay::start(&cfg, &[]).await;
    for ok in [
        "https://app.example.com",
        "https://a.example.org",
        "https://b.c.example.org",
    ] {
        connect(&relay.url(), &[("origin", ok)])
            .await
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        "https://evil.example",
        "http://app.example.com",
        "https://example.org",
        "null",
        "https://app.example.com.evil.net",
    ] {
        assert_eq!(
            refused_status(&relay.url(), &[("origin", bad)]).await,
            403,
            "{bad}"
        );
    }
    // no Origin at all: refused unless allow_missing_origin
    assert_eq!(refused_status(&relay.url(), &[]).await, 403);
    assert_eq!(refusals(&relay, "origin").await, 6);
    let line = relay.wait_log("reason=\"origin\"").await;
    assert!(line.contains("refused"), "{line}");

    let relay = Relay::start(&format!("{cfg}allow_missing_origin = true\n"), &[]).await;
    open(&relay.url()).await;
    assert_eq!(
        refused_status(&relay.url(), &[("origin", "https://evil.example")]).await,
        403
    );
}

#[tokio::test]
async fn a_wrong_path_gets_404() {
    let up = echo_upstream().await;
    let relay = Relay::start(&format!("{}path = \"/amqp\"\n", upstreams(&[up])), &[]).await;
    let base = format!("ws://{}", relay.addr);
    assert_eq!(refused_status(&format!("{base}/"), &[]).await, 404);
    assert_eq!(refused_status(&format!("{base}/amqp/x"), &[]).await, 404);
    open(&format!("{base}/amqp")).await;
    open(&format!("{base}/amqp?vhost=x")).await;
    assert_eq!(refusals(&relay, "path").await, 2);
}

#[tokio::test]
async fn connections_per_address_and_in_total_are_limited() {
    let up = echo_upstream().await;
    let relay = Relay::start(
        &format!("{}max_connections_per_ip = 2\n", upstreams(&[up])),
        &[],
    )
    .await;
    let a = open(&relay.url()).await;
    let _b = open(&relay.url()).await;
    assert_eq!(refused_status(&relay.url(), &[]).await, 429);
    assert_eq!(refusals(&relay, "connections_per_ip").await, 1);
    drop(a);
    // the slot comes back once the relay has seen the close
    relay.wait_log("connection closed").await;
    open(&relay.url()).await;

    let relay = Relay::start(&format!("{}max_connections = 1\n", upstreams(&[up])), &[]).await;
    let _a = open(&relay.url()).await;
    assert_eq!(refused_status(&relay.url(), &[]).await, 503);
    assert_eq!(refusals(&relay, "total_connections").await, 1);
}

#[tokio::test]
async fn upgrades_per_address_are_rate_limited() {
    let up = echo_upstream().await;
    let cfg = format!(
        "{}upgrade_rate_per_ip = 0.01\nupgrade_burst_per_ip = 3\n",
        upstreams(&[up])
    );
    let relay = Relay::start(&cfg, &[]).await;
    for _ in 0..3 {
        drop(open(&relay.url()).await);
    }
    assert_eq!(refused_status(&relay.url(), &[]).await, 429);
    assert_eq!(refusals(&relay, "upgrade_rate").await, 1);
}

#[tokio::test]
async fn an_oversize_message_closes_with_1009() {
    let up = echo_upstream().await;
    let relay = Relay::start(
        &format!("{}max_message_size = 1000\n", upstreams(&[up])),
        &[],
    )
    .await;
    let mut ws = open(&relay.url()).await;
    send(&mut ws, &[1u8; 1000]).await;
    assert_eq!(next_binary(&mut ws).await.len(), 1000);
    // the send itself may fail once the relay has closed; the close frame is what counts
    let _ = tokio::time::timeout(
        WAIT,
        futures_util::SinkExt::send(
            &mut ws,
            tokio_tungstenite::tungstenite::Message::Binary(vec![1u8; 1001].into()),
        ),
    )
    .await;
    let frame = next_close(&mut ws).await.expect("close frame");
    assert_eq!(frame.code, CloseCode::Size);
    relay.wait_log("reason=\"message_too_big\"").await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_with_1001() {
    let up = echo_upstream().await;
    let relay = Relay::start(&format!("{}idle_timeout = 0.5\n", upstreams(&[up])), &[]).await;
    let mut ws = open(&relay.url()).await;
    let t = Instant::now();
    // traffic keeps it open past the timeout
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        send(&mut ws, b"ping").await;
        assert_eq!(next_binary(&mut ws).await, b"ping");
    }
    let frame = next_close(&mut ws).await.expect("close frame");
    assert_eq!(frame.code, CloseCode::Away);
    assert_eq!(frame.reason.as_str(), "idle timeout");
    assert!(
        t.elapsed() >= Duration::from_millis(1200),
        "closed after {:?} despite traffic",
        t.elapsed()
    );
    relay.wait_log("reason=\"idle\"").await;
}

#[tokio::test]
async fn a_silent_or_slow_handshake_is_dropped_at_the_timeout() {
    let up = echo_upstream().await;
    let relay = Relay::start(
        &format!("{}handshake_timeout = 0.5\n", upstreams(&[up])),
        &[],
    )
    .await;
    for partial in [&b""[..], b"GET / HTTP/1.1\r\nHost: x\r\n"] {
        let mut s = TcpStream::connect(relay.addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut s, partial)
            .await
            .unwrap();
        let t = Instant::now();
        let mut buf = [0u8; 64];
        let n = within("relay drops the socket", s.read(&mut buf))
            .await
            .unwrap_or(0);
        assert_eq!(n, 0, "expected EOF, got {:?}", &buf[..n]);
        let waited = t.elapsed();
        assert!(
            waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
            "dropped after {waited:?}"
        );
    }
    assert_eq!(refusals(&relay, "handshake_timeout").await, 2);
}

#[tokio::test]
async fn x_forwarded_for_counts_only_from_trusted_proxies() {
    let up = echo_upstream().await;
    // untrusted peer (127.0.0.1 not listed): the spoofed headers are ignored, both count as 127.0.0.1
    let cfg = format!(
        "{}max_connections_per_ip = 1\ntrusted_proxies = [\"10.0.0.0/8\"]\n",
        upstreams(&[up])
    );
    let relay = Relay::start(&cfg, &[]).await;
    let _a = connect(&relay.url(), &[("x-forwarded-for", "203.0.113.1")])
        .await
        .unwrap();
    assert_eq!(
        refused_status(&relay.url(), &[("x-forwarded-for", "203.0.113.2")]).await,
        429
    );
    assert_eq!(
        refused_status(&relay.url(), &[("forwarded", "for=203.0.113.3")]).await,
        429
    );
    relay.wait_log("client=127.0.0.1").await;

    // the same from a trusted proxy: two distinct clients
    let cfg = format!(
        "{}max_connections_per_ip = 1\ntrusted_proxies = [\"127.0.0.1\"]\n",
        upstreams(&[up])
    );
    let relay = Relay::start(&cfg, &[]).await;
    let _a = connect(&relay.url(), &[("x-forwarded-for", "203.0.113.1")])
        .await
        .unwrap();
    let _b = connect(&relay.url(), &[("x-forwarded-for", "203.0.113.2")])
        .await
        .unwrap();
    assert_eq!(
        refused_status(&relay.url(), &[("forwarded", "for=203.0.113.2")]).await,
        429
    );
    relay.wait_log("client=203.0.113.2").await;
}
