//! Real RabbitMQ traffic for the fuzz corpus: a session of declares (with argument tables),
//! binds, confirmed and mandatory publishes with every property and a rich headers table, a
//! return, gets, consumes, acks, nacks, rejects, qos, purge and deletes runs through a
//! recording relay to the test broker. The test checks that every frame either side sent
//! decodes (and re-encodes to the same bytes); with `WARREN_CAPTURE_CORPUS=DIR` (e.g.
//! `fuzz/corpus`) it also writes the seeds for each fuzz target there.

use crate::common::{bounded, host_port};
use bytes::Bytes;
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warren::client::{ConsumeOptions, ExchangeDeclareOptions, PublishOptions, QueueDeclareOptions};
use warren::protocol::codec::Reader;
use warren::protocol::*;
use warren::{BasicProperties, Connection, FieldTable, FieldValue};

type Log = Arc<Mutex<Vec<u8>>>;

/// A relay to the broker that records both directions.
async fn recording_relay() -> (u16, Log, Log) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (up, down): (Log, Log) = Default::default();
    let (u, d) = (up.clone(), down.clone());
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let broker = tokio::net::TcpStream::connect(host_port()).await.unwrap();
        let (cr, cw) = client.into_split();
        let (br, bw) = broker.into_split();
        tokio::spawn(copy(cr, bw, u));
        tokio::spawn(copy(br, cw, d));
    });
    (port, up, down)
}

async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    log: Log,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            let _ = to.shutdown().await;
            return;
        }
        log.lock().unwrap().extend_from_slice(&buf[..n]);
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn rich_headers() -> FieldTable {
    let nested = FieldTable::new()
        .with("count", 3i64)
        .with("reason", "rejected");
    FieldTable::new()
        .with("s", "text")
        .with("i32", -7i32)
        .with("i64", 1i64 << 40)
        .with("f64", 2.5f64)
        .with("t", true)
        .with("table", nested.clone())
        .with(
            "array",
            FieldValue::Array(vec![
                FieldValue::Table(nested),
                FieldValue::I32(1),
                FieldValue::Void,
            ]),
        )
        .with(
            "bytes",
            FieldValue::ByteArray(Bytes::from_static(b"\x00\x01\xff")),
        )
        .with("ts", FieldValue::Timestamp(1_700_000_000))
        .with(
            "dec",
            FieldValue::Decimal {
                scale: 2,
                value: -1234,
            },
        )
        .with("i8", FieldValue::I8(-3))
        .with("f32", FieldValue::F32(0.5))
        .with("i16", FieldValue::I16(-300))
}

fn rich_properties(i: u8) -> BasicProperties {
    let mut p = BasicProperties::default()
        .with_content_type("application/json")
        .with_headers(rich_headers())
        .with_delivery_mode(2)
        .with_correlation_id(format!("corr-{i}"))
        .with_reply_to("replies");
    p.content_encoding = Some("identity".into());
    p.priority = Some(i % 10);
    p.expiration = Some("60000".into());
    p.message_id = Some(format!("m-{i}").into());
    p.timestamp = Some(1_700_000_000 + i as u64);
    p.kind = Some("event".into());
    p.user_id = Some("guest".into());
    p.app_id = Some("warren-corpus".into());
    p
}

/// The frames of one direction; panics on a decode error (real traffic must decode).
fn frames(mut raw: &[u8]) -> Vec<(u8, Vec<u8>, Frame)> {
    if raw.starts_with(b"AMQP") {
        raw = &raw[8..];
    }
    let mut out = Vec::new();
    let mut rest = raw;
    while rest.len() >= 8 {
        let size = u32::from_be_bytes([rest[3], rest[4], rest[5], rest[6]]) as usize;
        let whole = &rest[..size + 8];
        let mut dec = FrameDecoder::new();
        dec.extend(whole);
        let frame = dec
            .next_frame()
            .expect("real traffic decodes")
            .expect("a whole frame");
        out.push((whole[0], whole[7..7 + size].to_vec(), frame));
        rest = &rest[size + 8..];
    }
    assert!(rest.is_empty(), "{} trailing bytes", rest.len());
    out
}

#[tokio::test]
async fn real_broker_traffic_decodes_and_seeds_the_fuzz_corpus() {
    let (port, up, down) = recording_relay().await;
    bounded(async {
        let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f?heartbeat=0");
        let conn = Connection::connect(&url).await.unwrap();
        let ch = conn.channel(None).await.unwrap();
        let args = FieldTable::new()
            .with("alternate-exchange", "amq.fanout")
            .with("x-note", 1i32);
        let ex = format!("warren-corpus-{}", std::process::id());
        ch.exchange_declare(
            &ex,
            "topic",
            ExchangeDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            args,
        )
        .await
        .unwrap();
        let qargs = FieldTable::new()
            .with("x-message-ttl", 60_000i32)
            .with("x-max-length", 1000i64)
            .with("x-queue-mode", "default");
        let q = ch
            .queue_declare(
                "",
                QueueDeclareOptions {
                    exclusive: true,
                    ..Default::default()
                },
                qargs,
            )
            .await
            .unwrap();
        ch.queue_bind(
            &q.name,
            &ex,
            "a.#",
            FieldTable::new().with("x-match", "all"),
        )
        .await
        .unwrap();
        ch.basic_qos(10, 0, false).await.unwrap();
        ch.confirm_select().await.unwrap();
        let mut returns = ch.returns();
        for i in 0..6u8 {
            let body = vec![b'a' + i; 100 + 3000 * i as usize]; // some bodies span frames
            ch.basic_publish(
                &ex,
                "a.b",
                &body,
                &rich_properties(i),
                PublishOptions::default(),
            )
            .await
            .unwrap();
        }
        // Unroutable and mandatory: basic.return, then the ack.
        let mandatory = PublishOptions {
            mandatory: true,
            ..Default::default()
        };
        ch.basic_publish(&ex, "nowhere", b"back", &rich_properties(9), mandatory)
            .await
            .unwrap();
        let returned = returns.next().await.unwrap();
        assert_eq!(&returned.body[..], b"back");
        let got = ch.basic_get(&q.name, false).await.unwrap().unwrap();
        got.reject(true).unwrap();
        let got = ch.basic_get(&q.name, false).await.unwrap().unwrap();
        assert!(got.redelivered);
        got.ack().unwrap();
        let mut consumer = ch
            .basic_consume(&q.name, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        for i in 0..4 {
            let m = consumer.next().await.unwrap().unwrap();
            match i {
                0 => m.nack(true).unwrap(),
                _ => m.ack().unwrap(),
            }
        }
        consumer.cancel().await.unwrap();
        let ch = conn.channel(None).await.unwrap();
        let _ = ch.queue_purge(&q.name).await;
        let _ = ch.queue_delete(&q.name, Default::default()).await;
        ch.exchange_delete(&ex, Default::default()).await.unwrap();
        conn.close().await.unwrap();
    })
    .await;
    // Give the relay a moment to record the last frames (close-ok); bounded, not a sync point
    // for correctness: the checks below need only what arrived.
    for _ in 0..50 {
        if down.lock().unwrap().ends_with(&[0xCE]) && !down.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let down = down.lock().unwrap().clone();
    let up = up.lock().unwrap().clone();
    let from_broker = frames(&down);
    let from_client = frames(&up);
    assert!(
        from_broker.len() > 30,
        "{} frames from the broker",
        from_broker.len()
    );
    // Everything either side sent round-trips through warren's encoders.
    for (kind, payload, frame) in from_broker.iter().chain(&from_client) {
        if let Frame::Method(_, m) = frame {
            let mut again = Vec::new();
            m.encode(&mut again).unwrap();
            assert_eq!(&again, payload, "{} re-encodes differently", m.name());
        }
        if *kind == 2 {
            let h = ContentHeader::decode(&mut Reader::new(payload)).unwrap();
            let mut again = Vec::new();
            h.encode(&mut again).unwrap();
            assert_eq!(&again, payload, "content header re-encodes differently");
        }
    }
    let Ok(dir) = std::env::var("WARREN_CAPTURE_CORPUS") else {
        return;
    };
    write_seeds(
        std::path::Path::new(&dir),
        &down,
        &from_broker,
        &from_client,
    );
}

fn write_seeds(
    dir: &std::path::Path,
    down: &[u8],
    from_broker: &[(u8, Vec<u8>, Frame)],
    from_client: &[(u8, Vec<u8>, Frame)],
) {
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), bytes).unwrap();
    };
    // frame_decoder: [chunking seed, frame_max selector] + the broker's whole stream.
    for (i, max) in [(0u8, 0u8), (1, 2)] {
        let mut v = vec![i, max];
        v.extend_from_slice(down);
        put("frame_decoder", &format!("rabbitmq-session-{i}"), &v);
    }
    // engine_bytes: what the broker sent after connection.open-ok (the target does its own
    // handshake), as one stream, and each frame on its own.
    let open_ok = from_broker
        .iter()
        .position(|f| matches!(f.2, Frame::Method(0, Method::ConnectionOpenOk(_))))
        .unwrap();
    let mut after = Vec::new();
    for (kind, payload, frame) in &from_broker[open_ok + 1..] {
        let mut one = vec![*kind];
        let ch = match frame {
            Frame::Method(c, _) | Frame::Header(c, _) | Frame::Body(c, _) => *c,
            Frame::Heartbeat => 0,
        };
        one.extend_from_slice(&ch.to_be_bytes());
        one.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        one.extend_from_slice(payload);
        one.push(0xCE);
        after.extend_from_slice(&one);
    }
    put("engine_bytes", "rabbitmq-after-handshake", &after);
    // method_roundtrip / properties_roundtrip: every distinct payload, both directions.
    let mut seen = std::collections::HashSet::new();
    for (kind, payload, frame) in from_broker.iter().chain(from_client) {
        if !seen.insert(payload.clone()) {
            continue;
        }
        match frame {
            Frame::Method(_, m) => put(
                "method_roundtrip",
                &format!("{}-{}", m.name(), seen.len()),
                payload,
            ),
            Frame::Header(..) if *kind == 2 => put(
                "properties_roundtrip",
                &format!("rabbitmq-{}", seen.len()),
                payload,
            ),
            _ => {}
        }
    }
    // table_roundtrip: the broker's server properties and the message headers.
    for (_, _, frame) in from_broker {
        match frame {
            Frame::Method(_, Method::ConnectionStart(s)) => {
                let mut v = Vec::new();
                s.server_properties.encode(&mut v).unwrap();
                put("table_roundtrip", "rabbitmq-server-properties", &v);
            }
            Frame::Header(_, h) => {
                if let Some(t) = &h.properties.headers {
                    let mut v = Vec::new();
                    t.encode(&mut v).unwrap();
                    put("table_roundtrip", "rabbitmq-headers", &v);
                }
            }
            _ => {}
        }
    }
    // engine_ops: one sequence touching every operation.
    put("engine_ops", "every-op", &(0u8..=255).collect::<Vec<_>>());
}
