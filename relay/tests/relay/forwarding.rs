//! Bytes both ways, subprotocols, closes in both directions, failover, backpressure, and a real
//! AMQP handshake with RabbitMQ when one is configured.

use std::time::Duration;

use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::harness::*;

#[tokio::test]
async fn round_trip_through_an_echo_upstream() {
    let up = echo_upstream().await;
    let relay = Relay::start(&upstreams(&[up]), &[]).await;
    let mut ws = open(&relay.url()).await;
    for size in [1usize, 7, 4096, 200_000] {
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        send(&mut ws, &data).await;
        let mut back = Vec::new();
        while back.len() < size {
            back.extend(next_binary(&mut ws).await);
        }
        assert_eq!(back, data, "{size} bytes");
    }
    assert_eq!(relay.metric("warren_relay_connections_open").await, 1);
    let total = 1 + 7 + 4096 + 200_000;
    assert_eq!(
        relay
            .metric("warren_relay_bytes_total{direction=\"to_upstream\"}")
            .await,
        total
    );
    assert_eq!(
        relay
            .metric("warren_relay_bytes_total{direction=\"to_client\"}")
            .await,
        total
    );
}

#[tokio::test]
async fn subprotocol_amqp_tokens_are_echoed_and_none_is_fine() {
    let up = echo_upstream().await;
    let relay = Relay::start(&upstreams(&[up]), &[]).await;
    for (offer, want) in [
        (None, None),
        (Some("amqp"), Some("amqp")),
        (Some("amqp091"), Some("amqp091")),
        (Some("mqtt, amqp"), Some("amqp")),
    ] {
        let headers: Vec<(&'static str, &str)> = offer
            .map(|o| vec![("sec-websocket-protocol", o)])
            .unwrap_or_default();
        let (mut ws, resp) = connect(&relay.url(), &headers)
            .await
            .unwrap_or_else(|e| panic!("{offer:?}: {e}"));
        let got = resp
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(got.as_deref(), want, "offered {offer:?}");
        send(&mut ws, b"x").await;
        assert_eq!(next_binary(&mut ws).await, b"x");
    }
    // an offer the relay does not speak: no protocol in the answer (the client then gives up)
    let Err(err) = connect(&relay.url(), &[("sec-websocket-protocol", "mqtt")]).await else {
        panic!("the client must refuse an answer without its protocol");
    };
    assert!(
        err.to_string().to_lowercase().contains("subprotocol"),
        "{err}"
    );
}

#[tokio::test]
async fn upstream_end_is_a_close_1000_and_client_close_is_a_fin() {
    let (up, mut accepted) = manual_upstream().await;
    let relay = Relay::start(&upstreams(&[up]), &[]).await;

    // upstream closes -> the client gets a normal close
    let mut ws = open(&relay.url()).await;
    let mut s = within("upstream accept", accepted.recv()).await.unwrap();
    s.write_all(b"bye").await.unwrap();
    drop(s);
    assert_eq!(next_binary(&mut ws).await, b"bye");
    let frame = next_close(&mut ws).await.expect("close frame");
    assert_eq!(frame.code, CloseCode::Normal);

    // the client closes -> the upstream reads EOF after the bytes sent before
    let mut ws = open(&relay.url()).await;
    let mut s = within("upstream accept", accepted.recv()).await.unwrap();
    send(&mut ws, b"last words").await;
    within("client close", ws.close(None)).await.unwrap();
    let mut got = Vec::new();
    within("upstream EOF", s.read_to_end(&mut got))
        .await
        .unwrap();
    assert_eq!(got, b"last words");
    relay.wait_log("reason=\"client_closed\"").await;
}

#[tokio::test]
async fn unreachable_upstreams_close_with_1011_and_failover_picks_the_next() {
    let dead = format!("127.0.0.1:{}", free_port().await).parse().unwrap();
    let relay = Relay::start(&upstreams(&[dead]), &[]).await;
    let mut ws = open(&relay.url()).await;
    let frame = next_close(&mut ws).await.expect("close frame");
    assert_eq!(frame.code, CloseCode::Error);
    assert_eq!(frame.reason.as_str(), "upstream unreachable");
    assert_eq!(
        relay
            .metric("warren_relay_closes_total{reason=\"upstream_unreachable\"}")
            .await,
        1
    );

    let live = echo_upstream().await;
    let relay = Relay::start(&upstreams(&[dead, live]), &[]).await;
    let mut ws = open(&relay.url()).await;
    send(&mut ws, b"via the second").await;
    assert_eq!(next_binary(&mut ws).await, b"via the second");
    assert_eq!(
        relay
            .metric("warren_relay_upstream_connect_failures_total")
            .await,
        1
    );
}

#[tokio::test]
async fn a_stalled_upstream_stops_the_client_within_a_bound() {
    // the upstream accepts but never reads: the relay must stop reading the client instead of
    // buffering; what the client gets out is bounded by socket buffers plus one message
    let (up, mut accepted) = manual_upstream().await;
    let relay = Relay::start(&upstreams(&[up]), &[]).await;
    let mut ws = open(&relay.url()).await;
    let _held = within("upstream accept", accepted.recv()).await.unwrap();
    let chunk = vec![7u8; 256 << 10];
    let mut sent = 0usize;
    loop {
        match tokio::time::timeout(
            Duration::from_millis(1500),
            ws.send(Message::Binary(chunk.clone().into())),
        )
        .await
        {
            Ok(Ok(())) => sent += chunk.len(),
            Ok(Err(e)) => panic!("send failed: {e}"),
            Err(_) => break, // blocked: backpressure reached the client
        }
        assert!(
            sent < 64 << 20,
            "the relay accepted {sent} bytes from a client whose upstream reads nothing"
        );
    }
    assert!(sent > 0);
}

/// `host:port` of a real RabbitMQ (scripts/test sets it), else these checks use fakes only.
pub fn broker() -> Option<String> {
    std::env::var("WARREN_RELAY_TEST_AMQP")
        .ok()
        .filter(|s| !s.is_empty())
}

/// One AMQP method frame on channel 0.
pub fn method_frame(class: u16, method: u16, args: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&class.to_be_bytes());
    payload.extend_from_slice(&method.to_be_bytes());
    payload.extend_from_slice(args);
    let mut f = vec![1u8, 0, 0];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(&payload);
    f.push(0xce);
    f
}

/// connection.start-ok with PLAIN credentials.
pub fn start_ok(user: &str, password: &str) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(&0u32.to_be_bytes()); // client-properties: empty table
    a.push(5);
    a.extend_from_slice(b"PLAIN");
    let resp = format!("\0{user}\0{password}");
    a.extend_from_slice(&(resp.len() as u32).to_be_bytes());
    a.extend_from_slice(resp.as_bytes());
    a.push(5);
    a.extend_from_slice(b"en_US");
    method_frame(10, 11, &a)
}

/// Reads whole frames until one with the given class/method arrives (bounded).
pub async fn await_method(ws: &mut Ws, buf: &mut Vec<u8>, class: u16, method: u16) {
    loop {
        while buf.len() >= 7 {
            let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]) as usize;
            if buf.len() < 8 + size {
                break;
            }
            let frame: Vec<u8> = buf.drain(..8 + size).collect();
            if frame[0] == 1 && size >= 4 {
                let c = u16::from_be_bytes([frame[7], frame[8]]);
                let m = u16::from_be_bytes([frame[9], frame[10]]);
                if (c, m) == (class, method) {
                    return;
                }
                assert_ne!((c, m), (10, 50), "the broker closed the connection");
            }
        }
        buf.extend(next_binary(ws).await);
    }
}

#[tokio::test]
async fn amqp_login_through_the_relay_to_rabbitmq() {
    let Some(addr) = broker() else {
        eprintln!("WARREN_RELAY_TEST_AMQP not set: no broker round trip (scripts/test sets it)");
        return;
    };
    let relay = Relay::start(
        &format!("upstreams = [\"{addr}\"]\nallow_missing_origin = true\n"),
        &[],
    )
    .await;
    let mut ws = open(&relay.url()).await;
    send(&mut ws, b"AMQP\x00\x00\x09\x01").await;
    let mut buf = Vec::new();
    await_method(&mut ws, &mut buf, 10, 10).await; // connection.start
    send(&mut ws, &start_ok("warren", "warren-secret")).await;
    await_method(&mut ws, &mut buf, 10, 30).await; // connection.tune: the login succeeded
    within("close", ws.close(None)).await.unwrap();
}
