//! PROXY protocol v2 towards the upstream: the exact header bytes on a test listener, with the
//! client address from the socket or from a trusted proxy's X-Forwarded-For; and RabbitMQ with
//! `proxy_protocol = true` reporting that address when one is configured.

use std::net::SocketAddr;

use crate::forwarding::{await_method, start_ok};
use crate::harness::*;

const SIGNATURE: [u8; 12] = [
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
];

fn v4_header(src: [u8; 4], src_port: u16, dst: SocketAddr) -> Vec<u8> {
    let mut h = SIGNATURE.to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0x00, 0x0c]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&src_port.to_be_bytes());
    h.extend_from_slice(&dst.port().to_be_bytes());
    h
}

#[tokio::test]
async fn the_v2_header_precedes_the_client_bytes() {
    let (up, mut accepted) = manual_upstream().await;
    let relay = Relay::start(&format!("{}proxy_protocol = true\n", upstreams(&[up])), &[]).await;
    let tcp = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    let client_port = tcp.local_addr().unwrap().port();
    let req =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(relay.url())
            .unwrap();
    let (mut ws, _) = within("handshake", tokio_tungstenite::client_async(req, tcp))
        .await
        .unwrap();
    let mut s = within("upstream accept", accepted.recv()).await.unwrap();
    send(&mut ws, b"AMQP\x00\x00\x09\x01").await;
    let want = v4_header([127, 0, 0, 1], client_port, relay.addr);
    assert_eq!(read_n(&mut s, want.len()).await, want);
    assert_eq!(read_n(&mut s, 8).await, b"AMQP\x00\x00\x09\x01");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_header_names_the_forwarded_client() {
    let (up, mut accepted) = manual_upstream().await;
    let cfg = format!(
        "{}proxy_protocol = true\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
        upstreams(&[up])
    );
    let relay = Relay::start(&cfg, &[]).await;
    let (_ws, _) = connect(
        &relay.url(),
        &[("x-forwarded-for", "198.51.100.20, 203.0.113.7")],
    )
    .await
    .unwrap();
    let mut s = within("upstream accept", accepted.recv()).await.unwrap();
    // the forwarded client's port is unknown: 0
    let want = v4_header([203, 0, 113, 7], 0, relay.addr);
    assert_eq!(read_n(&mut s, want.len()).await, want);

    // an untrusted relay config: the socket address, whatever the header says
    let relay = Relay::start(&format!("{}proxy_protocol = true\n", upstreams(&[up])), &[]).await;
    let (_ws, _) = connect(&relay.url(), &[("x-forwarded-for", "203.0.113.7")])
        .await
        .unwrap();
    let mut s = within("upstream accept", accepted.recv()).await.unwrap();
    let got = read_n(&mut s, 28).await;
    assert_eq!(&got[..16], &v4_header([127, 0, 0, 1], 0, relay.addr)[..16]);
    assert_eq!(&got[16..20], &[127, 0, 0, 1]);
}

/// With `WARREN_RELAY_TEST_PROXY_AMQP` (a RabbitMQ node with `proxy_protocol = true`, started by
/// scripts/test) and `WARREN_RELAY_TEST_CTL` (a rabbitmqctl command for it): log in through the
/// relay with a forwarded address and check that the broker reports that address as the peer.
#[tokio::test]
async fn rabbitmq_sees_the_client_address_through_proxy_protocol() {
    let (Ok(addr), Ok(ctl)) = (
        std::env::var("WARREN_RELAY_TEST_PROXY_AMQP"),
        std::env::var("WARREN_RELAY_TEST_CTL"),
    ) else {
        eprintln!("WARREN_RELAY_TEST_PROXY_AMQP / WARREN_RELAY_TEST_CTL not set: PROXY v2 checked against the test listener only");
        return;
    };
    let cfg = format!("upstreams = [\"{addr}\"]\nallow_missing_origin = true\nproxy_protocol = true\ntrusted_proxies = [\"127.0.0.1\"]\n");
    let relay = Relay::start(&cfg, &[]).await;
    let (mut ws, _) = connect(&relay.url(), &[("x-forwarded-for", "203.0.113.77")])
        .await
        .unwrap();
    send(&mut ws, b"AMQP\x00\x00\x09\x01").await;
    let mut buf = Vec::new();
    await_method(&mut ws, &mut buf, 10, 10).await;
    send(&mut ws, &start_ok("guest", "guest")).await;
    await_method(&mut ws, &mut buf, 10, 30).await;
    // tune-ok + open, so the connection is listed as running
    let mut tune_ok = Vec::new();
    tune_ok.extend_from_slice(&2047u16.to_be_bytes());
    tune_ok.extend_from_slice(&131072u32.to_be_bytes());
    tune_ok.extend_from_slice(&0u16.to_be_bytes());
    send(&mut ws, &crate::forwarding::method_frame(10, 31, &tune_ok)).await;
    send(
        &mut ws,
        &crate::forwarding::method_frame(10, 40, b"\x01/\x00\x00"),
    )
    .await;
    await_method(&mut ws, &mut buf, 10, 41).await;
    let out = within(
        "rabbitmqctl",
        tokio::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "{ctl} list_connections peer_host peer_port --quiet"
            ))
            .output(),
    )
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rabbitmqctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().next() == Some("203.0.113.77")),
        "list_connections:\n{text}"
    );
}
