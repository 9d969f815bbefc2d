#![cfg(target_arch = "wasm32")]
//! The Rust client API (`warren::client`) over the WebSocket transport, in headless Chromium,
//! against a real broker behind the WS→TCP relay.
//!
//!   CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=120 \
//!     WARREN_WS_URL=ws://127.0.0.1:15673 cargo test --target wasm32-unknown-unknown --test browser
//!
//! `WARREN_WS_URL` is read at compile time. Every wait is bounded by [`within`]: a hang fails the
//! test with the name of the step instead of stalling the runner. Queues are server-named and
//! exclusive (or uniquely named and deleted), so the tests leave nothing behind.

use futures::future::{join_all, select, Either};
use futures::StreamExt;
use gloo_timers::future::TimeoutFuture;
use std::future::Future;
use warren::client::{
    ConsumeOptions, PublishOptions, QueueDeclareOptions, QueueDeleteOptions, QueueInfo,
};
use warren::transport::websocket::{self, WebSocketStreamTransport};
use warren::{BasicProperties, Channel, Config, Connection, Error, FieldTable, ReplyCode};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const WS_URL: &str = match option_env!("WARREN_WS_URL") {
    Some(u) => u,
    None => "ws://127.0.0.1:15673",
};

/// Bound on a single step (a round trip, a delivery, a handshake).
const STEP_MS: u32 = 15_000;

/// Awaits `fut`, panicking (failing the test) if it takes longer than `ms`.
async fn within<F: Future>(ms: u32, what: &str, fut: F) -> F::Output {
    match select(Box::pin(fut), TimeoutFuture::new(ms)).await {
        Either::Left((v, _)) => v,
        Either::Right(_) => panic!("timed out after {ms} ms: {what}"),
    }
}

async fn step<F: Future>(what: &str, fut: F) -> F::Output {
    within(STEP_MS, what, fut).await
}

fn config(user: &str, pass: &str, vhost: &str) -> Config {
    Config {
        username: user.into(),
        password: pass.into(),
        vhost: vhost.into(),
        connection_name: Some("warren browser.rs".into()),
        platform: "browser (warren tests)".into(),
        ..Config::default()
    }
}

/// The transport `dial` picks (`websocket::uses_stream`).
async fn open(mut cfg: Config) -> Result<Connection, Error> {
    let ws = step("WebSocket open", websocket::connect(WS_URL, &[], false))
        .await
        .map_err(|cause| Error::ConnectionLost {
            cause,
            handshake: false,
        })?;
    cfg.handshake_timeout = 10_000;
    step("AMQP handshake", Connection::open(ws, cfg)).await
}

async fn guest() -> Connection {
    open(config("guest", "guest", "/"))
        .await
        .expect("connect as guest")
}

async fn channel(conn: &Connection) -> Channel {
    step("open channel", conn.channel(None))
        .await
        .expect("open channel")
}

/// A fresh server-named queue that goes away with the connection.
async fn temp_queue(ch: &Channel) -> String {
    let o = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let q = step("declare queue", ch.queue_declare("", o, FieldTable::new()))
        .await
        .expect("declare server-named queue");
    assert!(
        q.name.starts_with("amq.gen-"),
        "server-named queue: {}",
        q.name
    );
    q.name
}

async fn queue_info(ch: &Channel, name: &str) -> QueueInfo {
    let o = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    step(
        "passive declare",
        ch.queue_declare(name, o, FieldTable::new()),
    )
    .await
    .expect("passive declare")
}

async fn publish(ch: &Channel, queue: &str, body: &[u8]) {
    step(
        "publish",
        ch.basic_publish(
            "",
            queue,
            body,
            &BasicProperties::default(),
            PublishOptions::default(),
        ),
    )
    .await
    .expect("publish");
}

async fn close(conn: Connection) {
    step("close", conn.close()).await.expect("close");
}

#[wasm_bindgen_test]
async fn handshake_negotiates_and_reports_the_server() {
    let conn = guest().await;
    assert!(conn.is_open());
    assert!(conn.frame_max() >= 4096, "frame_max {}", conn.frame_max());
    assert!(conn.channel_max() > 0, "channel_max {}", conn.channel_max());
    let props = conn.server_properties();
    let product = props.get("product").map(|v| format!("{v:?}"));
    assert!(
        product.as_deref().is_some_and(|p| p.contains("RabbitMQ")),
        "server product: {product:?}"
    );
    // a requested frame_max below the server's is what the connection uses
    let mut small = config("guest", "guest", "/");
    small.frame_max = 8192;
    let c2 = open(small).await.expect("connect with frame_max 8192");
    assert_eq!(c2.frame_max(), 8192);
    close(c2).await;
    close(conn).await;
}

#[wasm_bindgen_test]
async fn heartbeats_keep_an_idle_connection_alive() {
    // heartbeat 1 s: the broker drops a connection that stays silent for ~2 s, so idling for
    // 3.5 s only survives if the driver sends heartbeats on time
    let mut cfg = config("guest", "guest", "/");
    cfg.heartbeat = Some(1);
    let conn = open(cfg).await.expect("connect with heartbeat 1");
    assert_eq!(conn.heartbeat(), 1, "negotiated heartbeat");
    let ch = channel(&conn).await;
    TimeoutFuture::new(3_500).await; // idle on purpose: the point of the test
    assert!(conn.is_open(), "connection dropped while idle");
    let q = temp_queue(&ch).await;
    publish(&ch, &q, b"alive").await;
    let m = step("get", ch.basic_get(&q, true))
        .await
        .expect("get")
        .expect("message");
    assert_eq!(&m.body[..], b"alive");
    close(conn).await;
}

#[wasm_bindgen_test]
async fn declare_publish_consume_ack() {
    let conn = guest().await;
    let ch = channel(&conn).await;
    let q = temp_queue(&ch).await;
    for i in 0..10 {
        publish(&ch, &q, format!("message {i}").as_bytes()).await;
    }
    let o = ConsumeOptions {
        no_ack: false,
        ..Default::default()
    };
    let mut consumer = step("consume", ch.basic_consume(&q, o, FieldTable::new()))
        .await
        .expect("basic_consume");
    assert!(!consumer.tag().is_empty());
    for i in 0..10u64 {
        let m = step("delivery", consumer.next())
            .await
            .expect("consumer ended early")
            .expect("delivery error");
        assert_eq!(m.body_str(), format!("message {i}"));
        assert_eq!(m.delivery_tag, i + 1);
        assert_eq!(m.routing_key, q);
        assert_eq!(m.exchange, "");
        assert_eq!(m.consumer_tag, consumer.tag());
        assert!(!m.redelivered);
        m.ack().expect("ack");
    }
    step("cancel", consumer.cancel()).await.expect("cancel");
    // the stream ends after the cancel instead of hanging
    assert!(step("stream end", consumer.next()).await.is_none());
    // every message was acked: nothing is left, and nothing comes back as unacked
    let info = queue_info(&ch, &q).await;
    assert_eq!((info.message_count, info.consumer_count), (0, 0));
    close(conn).await;
}

#[wasm_bindgen_test]
async fn basic_get_empty_and_with_count() {
    let conn = guest().await;
    let ch = channel(&conn).await;
    let q = temp_queue(&ch).await;
    let none = step("get on empty", ch.basic_get(&q, true))
        .await
        .expect("basic_get");
    assert!(none.is_none(), "empty queue gives None");
    publish(&ch, &q, b"first").await;
    publish(&ch, &q, b"second").await;
    let m = step("get", ch.basic_get(&q, false))
        .await
        .expect("basic_get")
        .expect("a message");
    assert_eq!(&m.body[..], b"first");
    assert_eq!(m.message_count, Some(1), "one left behind it");
    assert_eq!(m.routing_key, q);
    m.ack().expect("ack");
    let m = step("get", ch.basic_get(&q, true))
        .await
        .expect("basic_get")
        .expect("a message");
    assert_eq!(&m.body[..], b"second");
    assert_eq!(m.message_count, Some(0));
    let info = queue_info(&ch, &q).await;
    assert_eq!(info.message_count, 0);
    close(conn).await;
}

#[wasm_bindgen_test]
async fn one_megabyte_body_spans_many_frames_byte_exact() {
    // frame_max 4096 → a 1 MiB body travels in 257 body frames each way
    let mut cfg = config("guest", "guest", "/");
    cfg.frame_max = 4096;
    let conn = open(cfg).await.expect("connect with frame_max 4096");
    assert_eq!(conn.frame_max(), 4096);
    let ch = channel(&conn).await;
    let q = temp_queue(&ch).await;
    let body: Vec<u8> = (0..1_048_576u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let props = BasicProperties {
        content_type: Some("application/octet-stream".into()),
        ..Default::default()
    };
    step(
        "publish 1 MiB",
        ch.basic_publish("", &q, &body, &props, PublishOptions::default()),
    )
    .await
    .expect("publish 1 MiB");
    // twice more, so both the consumer path and the get path reassemble it
    publish(&ch, &q, &body).await;

    let mut consumer = step(
        "consume",
        ch.basic_consume(
            &q,
            ConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::new(),
        ),
    )
    .await
    .expect("consume");
    let m = step("1 MiB delivery", consumer.next())
        .await
        .expect("consumer ended")
        .expect("delivery error");
    assert_eq!(m.body.len(), body.len());
    assert!(m.body[..] == body[..], "delivered body differs");
    assert_eq!(
        m.properties.content_type.as_deref(),
        Some("application/octet-stream")
    );
    step("cancel", consumer.cancel()).await.expect("cancel");
    // the second copy may already be on its way to the (now cancelled) no-ack consumer
    let m2 = step("second delivery or get", async {
        match consumer.next().await {
            Some(Ok(m)) => Some(m),
            _ => ch.basic_get(&q, true).await.expect("basic_get"),
        }
    })
    .await
    .expect("second copy");
    assert!(m2.body[..] == body[..], "second body differs");
    close(conn).await;
}

#[wasm_bindgen_test]
async fn confirms_with_500_publishes_in_flight() {
    let conn = guest().await;
    let ch = channel(&conn).await;
    let q = temp_queue(&ch).await;
    step("confirm_select", ch.confirm_select())
        .await
        .expect("confirm_select");
    let bodies: Vec<Vec<u8>> = (0..500).map(|i| format!("c{i}").into_bytes()).collect();
    let props = BasicProperties::default();
    // join_all polls every publish once before awaiting any: all 500 are on the wire before
    // the first confirm can come back
    let results = within(
        30_000,
        "500 confirms",
        join_all(
            bodies
                .iter()
                .map(|b| ch.basic_publish("", &q, b, &props, PublishOptions::default())),
        ),
    )
    .await;
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} nacked/failed: {:?}",
        failed.len(),
        failed.first()
    );
    let info = queue_info(&ch, &q).await;
    assert_eq!(
        info.message_count, 500,
        "every confirmed message is in the queue"
    );
    // order is preserved
    for i in [0, 1, 2] {
        let m = step("get", ch.basic_get(&q, true))
            .await
            .expect("get")
            .expect("message");
        assert_eq!(m.body_str(), format!("c{i}"));
    }
    // a confirmed publish to a missing exchange fails with the channel's 404
    let r = step(
        "publish to a missing exchange",
        ch.basic_publish(
            "warren-no-such-exchange",
            "",
            b"x",
            &props,
            PublishOptions::default(),
        ),
    )
    .await;
    match r {
        Err(Error::ChannelClosed(info)) => assert_eq!(info.code, ReplyCode::NOT_FOUND),
        other => panic!("expected ChannelClosed 404, got {other:?}"),
    }
    close(conn).await;
}

#[wasm_bindgen_test]
async fn soft_error_closes_only_the_channel() {
    let conn = guest().await;
    let ch = channel(&conn).await;
    let other = channel(&conn).await;
    let o = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let r = step(
        "passive declare of a missing queue",
        ch.queue_declare("warren-browser-no-such-queue", o, FieldTable::new()),
    )
    .await;
    match r {
        Err(Error::ChannelClosed(info)) => {
            assert_eq!(info.code, ReplyCode::NOT_FOUND);
            assert!(info.text.contains("NOT_FOUND"), "reply text: {}", info.text);
            assert_eq!(
                (info.class_id, info.method_id),
                (50, 10),
                "caused by queue.declare"
            );
        }
        other => panic!("expected ChannelClosed 404, got {other:?}"),
    }
    assert!(!ch.is_open(), "the failed channel is closed");
    assert!(conn.is_open(), "the connection survives a soft error");
    // calls on the closed channel fail at once instead of hanging
    let r = step(
        "call on the closed channel",
        ch.queue_declare("", Default::default(), FieldTable::new()),
    )
    .await;
    assert!(r.is_err(), "call on a closed channel: {r:?}");
    // the other channel and new channels work
    assert!(other.is_open());
    let q = temp_queue(&other).await;
    publish(&other, &q, b"still fine").await;
    let fresh = channel(&conn).await;
    let m = step("get", fresh.basic_get(&q, true))
        .await
        .expect("get")
        .expect("message");
    assert_eq!(&m.body[..], b"still fine");
    close(conn).await;
}

#[wasm_bindgen_test]
async fn wrong_password_is_refused_with_403() {
    let r = open(config("guest", "not-the-password", "/")).await;
    match r {
        Err(e @ Error::ConnectionClosed(_)) => {
            assert_eq!(e.reply_code(), Some(ReplyCode::ACCESS_REFUSED), "{e}");
            assert!(
                !e.to_string().contains("not-the-password"),
                "password leaked: {e}"
            );
        }
        other => panic!("expected ConnectionClosed 403, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn vhost_permissions() {
    // guest may use warren-test
    let conn = open(config("guest", "guest", "warren-test"))
        .await
        .expect("guest on warren-test");
    let ch = channel(&conn).await;
    temp_queue(&ch).await;
    close(conn).await;
    // limited may not: 530 NOT_ALLOWED
    match open(config("limited", "limited-pass", "warren-test")).await {
        Err(e @ Error::ConnectionClosed(_)) => {
            assert_eq!(e.reply_code(), Some(ReplyCode::NOT_ALLOWED), "{e}")
        }
        other => panic!("expected ConnectionClosed 530, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn close_ends_everything_cleanly() {
    let conn = guest().await;
    let ch = channel(&conn).await;
    let name = format!("warren-browser-close-{}", js_sys::Date::now() as u64);
    let q = step(
        "declare named queue",
        ch.queue_declare(
            &name,
            QueueDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::new(),
        ),
    )
    .await
    .expect("declare");
    assert_eq!(q.name, name);
    let mut consumer = step(
        "consume",
        ch.basic_consume(&name, ConsumeOptions::default(), FieldTable::new()),
    )
    .await
    .expect("consume");
    close(conn.clone()).await;
    assert!(!conn.is_open());
    assert!(!ch.is_open());
    assert!(
        step("closed()", conn.closed()).await.is_none(),
        "closed by us: no error"
    );
    // the consumer stream ends (no error: we closed it)
    match step("consumer end", consumer.next()).await {
        None => {}
        Some(r) => panic!("consumer after close: {:?}", r.map(|m| m.delivery_tag)),
    }
    // calls after close fail fast
    let r = step("channel after close", conn.channel(None)).await;
    assert!(r.is_err(), "channel() after close: {r:?}");
    let r = step(
        "publish after close",
        ch.basic_publish(
            "",
            &name,
            b"x",
            &BasicProperties::default(),
            PublishOptions::default(),
        ),
    )
    .await;
    assert!(r.is_err(), "publish after close: {r:?}");
    // closing twice is harmless (no hang)
    let _ = step("second close", conn.close()).await;

    // the auto-delete queue went away with its consumer
    let conn = guest().await;
    let ch = channel(&conn).await;
    let r = step(
        "passive declare",
        ch.queue_declare(
            &name,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::new(),
        ),
    )
    .await;
    if r.is_ok() {
        // not deleted (e.g. the consumer never registered): clean up, but fail
        let ch2 = channel(&conn).await;
        let _ = step(
            "delete",
            ch2.queue_delete(&name, QueueDeleteOptions::default()),
        )
        .await;
        panic!("auto-delete queue {name} survived its consumer's connection");
    }
    close(conn).await;
}

/// Drains `consumer` slowly for `n` messages: before taking each one, records how many bytes of
/// delivered messages wait unread, and pauses every 100 messages, far slower than the broker
/// pushes a no-ack consumer. Returns the peak of [`Connection::unread_bytes`].
async fn slow_drain(conn: &Connection, consumer: &mut warren::Consumer, n: usize) -> usize {
    let mut peak = 0;
    for i in 0..n {
        peak = peak.max(conn.unread_bytes());
        if i % 100 == 99 {
            TimeoutFuture::new(3).await;
        }
        within(STEP_MS, "slow delivery", consumer.next())
            .await
            .expect("consumer ended early")
            .expect("delivery");
    }
    peak
}

#[wasm_bindgen_test]
async fn a_slow_consumer_is_held_to_the_read_budget_on_websocketstream() {
    const MESSAGES: usize = 100_000;
    const BODY: &[u8] = b"0123456789abcdef";
    const BUDGET: usize = 32 << 10;
    const DRAINED: usize = 20_000;
    /// The relay (warren-relay, like websockify) reads at most 64 KiB at a time and sends each read as
    /// one message.
    const WS_MESSAGE_MAX: usize = 64 << 10;

    let name = format!("warren-browser-slow-{}", js_sys::Date::now() as u64);
    let publisher = guest().await;
    let ch = channel(&publisher).await;
    let mut args = FieldTable::new();
    args.insert("x-expires", 120_000i32); // cleaned up even if this test dies
    step(
        "declare",
        ch.queue_declare(&name, QueueDeclareOptions::default(), args),
    )
    .await
    .expect("declare");
    within(30_000, "publish 100k", async {
        for _ in 0..MESSAGES {
            ch.basic_publish(
                "",
                &name,
                BODY,
                &BasicProperties::default(),
                PublishOptions::default(),
            )
            .await
            .expect("publish");
        }
        while queue_info(&ch, &name).await.message_count < MESSAGES as u32 {
            TimeoutFuture::new(20).await;
        }
    })
    .await;

    let mut cfg = config("guest", "guest", "/");
    cfg.handshake_timeout = 10_000;

    // On the stream path the driver's pause stops the reads: the backlog stays in the network
    // stack and the relay (warren-relay stops reading the broker too; websockify reads without bound),
    // not in this page.
    assert!(
        websocket::stream::supported(),
        "Chromium has WebSocketStream"
    );
    let t = step(
        "WebSocketStream open",
        WebSocketStreamTransport::connect(WS_URL, &[]),
    )
    .await
    .expect("open");
    let conn = step("handshake", Connection::open_with(t, cfg, BUDGET))
        .await
        .expect("handshake");
    let cch = channel(&conn).await;
    let o = ConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut consumer = step("consume", cch.basic_consume(&name, o, FieldTable::new()))
        .await
        .expect("basic_consume");
    let tag_len = consumer.tag().len();
    let started = js_sys::Date::now();
    let stream_peak = slow_drain(&conn, &mut consumer, DRAINED).await;
    let stream_ms = js_sys::Date::now() - started;
    // dropped first: its unread deliveries would keep the read side paused, and the close-ok
    // waits behind them (closing is not yet something the driver reads past the budget for)
    drop(consumer);
    close(conn).await;

    // The most one relay message can carry: each delivery is at least a basic.deliver frame
    // (8 + 4 + consumer tag + 8 + 1 + exchange + routing key), a header frame (22) and a body
    // frame (8 + body); every message it completes is charged 256 bytes plus its body.
    let wire_min = 23 + tag_len + name.len() + 22 + 8 + BODY.len();
    let allowance = (WS_MESSAGE_MAX / wire_min + 1) * (BODY.len() + 256);

    let _ = step(
        "delete",
        ch.queue_delete(&name, QueueDeleteOptions::default()),
    )
    .await;
    close(publisher).await;
    console_log!(
        "slow consumer over {MESSAGES} queued messages, read budget {BUDGET} B: peak unread \
         {stream_peak} B on WebSocketStream while {DRAINED} were taken in {stream_ms:.0} ms; \
         allowed: budget + {allowance} B (one {WS_MESSAGE_MAX} B relay message)"
    );
    assert!(
        stream_peak <= BUDGET + allowance,
        "WebSocketStream: {stream_peak} B unread, over the budget {BUDGET} + {allowance}"
    );
}
