#![cfg(target_arch = "wasm32")]
//! The hostile-broker cases and a slow no-ack consumer in headless Chromium: the browser talks to
//! a warren-relay in front of the hostile broker (examples/hostile_broker.rs, started with its
//! relay by scripts/hostile), picks each case with `GET /case/NAME` on the broker's port, and
//! connects; then, through the normal relay to the real broker, a normal connection (the module
//! is not poisoned) and the memory of a no-ack consumer that processes one message per
//! millisecond.
//!
//!   scripts/broker start; scripts/relay start; scripts/hostile start
//!   CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=240 \
//!     WARREN_WS_URL=ws://127.0.0.1:15673 WARREN_HOSTILE_WS_URL=ws://127.0.0.1:15680 \
//!     WARREN_HOSTILE_CONTROL_URL=http://127.0.0.1:5680 \
//!     cargo test --target wasm32-unknown-unknown --test browser_hostile -- --nocapture
//!
//! The URLs are read at compile time (scripts/test sets them). Every wait is bounded; the figures
//! (per-case outcome and time, wasm memory) are printed with `console_log!`.

use futures::future::{join_all, select, Either};
use futures::StreamExt;
use gloo_timers::future::TimeoutFuture;
use std::future::Future;
use warren::client::{ConsumeOptions, PublishOptions, QueueDeclareOptions};
use warren::transport::websocket::{self, WebSocketStreamTransport};
use warren::{BasicProperties, Config, Connection, Error, FieldTable, TransportError};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const WS_URL: &str = match option_env!("WARREN_WS_URL") {
    Some(u) => u,
    None => "ws://127.0.0.1:15673",
};
/// browser → relay → hostile broker.
const HOSTILE_WS_URL: &str = match option_env!("WARREN_HOSTILE_WS_URL") {
    Some(u) => u,
    None => "ws://127.0.0.1:15680",
};
/// The hostile broker's port, where `GET /case/NAME` picks the script.
const CONTROL_URL: &str = match option_env!("WARREN_HOSTILE_CONTROL_URL") {
    Some(u) => u,
    None => "http://127.0.0.1:5680",
};

/// Bound on one case, from the connect to the settled `closed()`.
const CASE_MS: u32 = 15_000;

async fn within<F: Future>(ms: u32, what: &str, fut: F) -> F::Output {
    match select(Box::pin(fut), TimeoutFuture::new(ms)).await {
        Either::Left((v, _)) => v,
        Either::Right(_) => panic!("timed out after {ms} ms: {what}"),
    }
}

/// The size of this module's `WebAssembly.Memory` (it only grows).
fn wasm_memory_bytes() -> f64 {
    let mem: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    mem.buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as f64
}

const MB: f64 = 1024.0 * 1024.0;

/// `GET {CONTROL_URL}/case/NAME` through the page's `fetch`; panics unless it answers 200.
async fn choose(name: &str) {
    let url = format!("{CONTROL_URL}/case/{name}");
    let global = js_sys::global();
    let fetch: js_sys::Function = js_sys::Reflect::get(&global, &"fetch".into())
        .expect("globalThis.fetch")
        .unchecked_into();
    let promise: js_sys::Promise = fetch
        .call1(&global, &url.as_str().into())
        .expect("fetch")
        .unchecked_into();
    let resp = within(5_000, &url, JsFuture::from(promise))
        .await
        .unwrap_or_else(|e| panic!("{url}: {e:?} (is scripts/hostile running?)"));
    let status = js_sys::Reflect::get(&resp, &"status".into())
        .ok()
        .and_then(|s| s.as_f64());
    assert_eq!(status, Some(200.0), "{url}");
}

fn config() -> Config {
    Config {
        username: "guest".into(),
        password: "guest".into(),
        vhost: "/".into(),
        heartbeat: Some(0),
        handshake_timeout: 5_000,
        operation_timeout: 5_000,
        connection_name: Some("warren browser_hostile.rs".into()),
        ..Config::default()
    }
}

/// Connects through `url`, opens a channel and a consumer when the handshake succeeds, and
/// returns how the connection ended.
async fn run_case(url: &str) -> Option<Error> {
    let ws = match websocket::connect(url, &[]).await {
        Ok(ws) => ws,
        Err(cause) => panic!("WebSocket to {url}: {cause:?}"),
    };
    let conn = match Connection::open(ws, config()).await {
        Ok(c) => c,
        Err(e) => return Some(e),
    };
    let ch = match conn.channel(None).await {
        Ok(ch) => ch,
        Err(e) => return Some(e),
    };
    let consumer = ch
        .basic_consume("q", ConsumeOptions::default(), FieldTable::new())
        .await;
    let end = conn.closed().await;
    drop(consumer);
    end
}

/// What each case must end with: the reply code of a `ConnectionClosed` and a piece of its
/// text, or (code 0) a refused handshake.
const EXPECTED: &[(&str, u16, &str)] = &[
    ("frame-larger-than-frame-max", 501, "exceeds frame_max"),
    ("bad-frame-end", 501, "frame end"),
    ("unknown-frame-type", 501, "unknown frame type 9"),
    ("unknown-method", 503, "unknown method 99.7"),
    ("body-without-header", 505, "without a content header"),
    ("body-longer-than-header", 505, "longer than its header"),
    (
        "body-shorter-than-header",
        505,
        "while a message body was expected",
    ),
    ("endless-body", 501, "max_message_size"),
    ("huge-table-length", 502, "truncated"),
    ("huge-table-in-handshake", 502, ""),
    ("heartbeat-on-a-channel", 501, "heartbeat"),
    ("close-with-unknown-code", 999, "WHAT_IS_THIS"),
    ("protocol-header-sent-back", 0, "refused AMQP 0-9-1"),
    ("no-supported-mechanism", 403, "does not offer PLAIN"),
];

#[wasm_bindgen_test]
async fn hostile_broker_cases_through_the_relay_then_a_normal_connection() {
    let mem0 = wasm_memory_bytes();
    let mut peak = mem0;
    for &(name, code, text) in EXPECTED {
        choose(name).await;
        let t0 = warren::rt::now_ms();
        let end = within(CASE_MS, name, run_case(HOSTILE_WS_URL)).await;
        let ms = warren::rt::now_ms() - t0;
        let mem = wasm_memory_bytes();
        peak = peak.max(mem);
        console_log!(
            "hostile case {name}: {ms} ms, wasm memory {:.1} MB, ended with {end:?}",
            mem / MB
        );
        match (&end, code) {
            (
                Some(Error::ConnectionLost {
                    cause: TransportError::Refused(why),
                    handshake: true,
                }),
                0,
            ) => assert!(why.contains(text), "{name}: {why}"),
            (Some(Error::ConnectionClosed(info)), _) if code != 0 => {
                assert_eq!(info.code.0, code, "{name}: {info:?}");
                assert!(info.text.contains(text), "{name}: {info:?}");
            }
            _ => panic!("{name}: expected code {code} / {text:?}, got {end:?}"),
        }
    }
    // The endless body (2^62 declared) is refused from its header: memory does not follow it.
    console_log!(
        "hostile cases: wasm memory {:.1} MB at the start, peak {:.1} MB",
        mem0 / MB,
        peak / MB
    );
    assert!(
        peak - mem0 < 16.0 * MB,
        "wasm memory grew by {:.1} MB",
        (peak - mem0) / MB
    );

    // Nothing is left poisoned: a normal connection to the real broker works.
    let ws = within(CASE_MS, "WebSocket open", websocket::connect(WS_URL, &[]))
        .await
        .expect("WebSocket to the normal relay");
    let conn = within(CASE_MS, "handshake", Connection::open(ws, config()))
        .await
        .expect("a normal connection after the hostile cases");
    let ch = within(CASE_MS, "channel", conn.channel(None))
        .await
        .unwrap();
    let q = within(
        CASE_MS,
        "declare",
        ch.queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::new(),
        ),
    )
    .await
    .unwrap();
    within(
        CASE_MS,
        "publish",
        ch.basic_publish(
            "",
            &q.name,
            b"still alive",
            &BasicProperties::default(),
            PublishOptions::default(),
        ),
    )
    .await
    .unwrap();
    let got = within(CASE_MS, "get", ch.basic_get(&q.name, true))
        .await
        .unwrap()
        .expect("the message");
    assert_eq!(got.body_str(), "still alive");
    within(CASE_MS, "close", conn.close()).await.unwrap();
}

/// How many 1 KB messages the memory test publishes, and how long its consumer may run.
const MEM_MESSAGES: u64 = 200_000;
const MEM_PUBLISH_MS: u64 = 40_000;
const MEM_WINDOW_MS: u64 = 60_000;

#[wasm_bindgen_test]
async fn slow_no_ack_consumer_keeps_wasm_memory_bounded() {
    let open = || async {
        let ws = within(CASE_MS, "WebSocket open", websocket::connect(WS_URL, &[]))
            .await
            .expect("WebSocket to the relay");
        within(CASE_MS, "handshake", Connection::open(ws, config()))
            .await
            .expect("connect")
    };
    // The consumer reads through WebSocketStream, whose reads the driver pulls: paused at the
    // read budget, the backlog stays in the relay and the broker. (The classic WebSocket cannot
    // pause its peer: past READ_LIMIT it fails the connection with ReadBufferFull instead.)
    assert!(
        websocket::stream::supported(),
        "Chromium has WebSocketStream"
    );
    let t = within(
        CASE_MS,
        "WebSocketStream open",
        WebSocketStreamTransport::connect(WS_URL, &[]),
    )
    .await
    .expect("WebSocketStream to the relay");
    let consumer_conn = within(CASE_MS, "handshake", Connection::open(t, config()))
        .await
        .expect("connect");
    let ch = within(CASE_MS, "channel", consumer_conn.channel(None))
        .await
        .unwrap();
    let q = within(
        CASE_MS,
        "declare",
        ch.queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::new(),
        ),
    )
    .await
    .unwrap()
    .name;
    // First a second connection fills the queue (100 publishes in flight at a time, for at most
    // MEM_PUBLISH_MS) and closes: what it allocated is part of the starting figure, and the
    // consumer then has the whole backlog to fall behind on.
    let mem_before_publishing = wasm_memory_bytes();
    let publisher = open().await;
    let pch = within(CASE_MS, "channel", publisher.channel(None))
        .await
        .unwrap();
    let body = vec![0x61u8; 1024];
    let props = BasicProperties::default();
    let mut published = 0u64;
    let p0 = warren::rt::now_ms();
    while published < MEM_MESSAGES && warren::rt::now_ms() - p0 < MEM_PUBLISH_MS {
        let batch =
            (0..100).map(|_| pch.basic_publish("", &q, &body, &props, PublishOptions::default()));
        for r in within(CASE_MS, "publish", join_all(batch)).await {
            r.expect("publish");
        }
        published += 100;
        // A macrotask between batches, so the outbox leaves as WebSocket messages: published
        // without yielding, everything up to the write limit (32 MiB) would wait in wasm memory
        // and raise its high-water mark, under which the consumer's own growth would hide.
        TimeoutFuture::new(0).await;
    }
    let publish_secs = (warren::rt::now_ms() - p0) as f64 / 1000.0;
    within(CASE_MS, "close publisher", publisher.close())
        .await
        .unwrap();

    let mem0 = wasm_memory_bytes();
    let o = ConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut consumer = within(
        CASE_MS,
        "consume",
        ch.basic_consume(&q, o, FieldTable::new()),
    )
    .await
    .unwrap();

    let t0 = warren::rt::now_ms();
    let mut peak = mem0;
    let mut received = 0u64;
    // One message per millisecond: after message i the consumer waits until t0 + i ms.
    while received < MEM_MESSAGES && warren::rt::now_ms() - t0 < MEM_WINDOW_MS {
        let m = within(CASE_MS, "delivery", consumer.next())
            .await
            .expect("consumer ended early")
            .expect("delivery error");
        assert_eq!(m.body.len(), 1024);
        received += 1;
        let due = t0 + received;
        let now = warren::rt::now_ms();
        if due > now {
            TimeoutFuture::new((due - now) as u32).await;
        }
        if received % 1000 == 0 {
            peak = peak.max(wasm_memory_bytes());
        }
    }
    peak = peak.max(wasm_memory_bytes());
    let secs = (warren::rt::now_ms() - t0) as f64 / 1000.0;
    console_log!(
        "slow no-ack consumer: {published} published in {publish_secs:.1} s (wasm memory {:.1} -> {:.1} MB), {received} consumed in {secs:.1} s; wasm memory {:.1} MB at the start, peak {:.1} MB (+{:.1} MB)",
        mem_before_publishing / MB,
        mem0 / MB,
        mem0 / MB,
        peak / MB,
        (peak - mem0) / MB
    );
    assert!(published > received, "the consumer kept up: no backlog");
    // Dropped before the close: its unread deliveries would otherwise be read in (the broker's
    // close-ok comes after them) and queued for a handle nobody reads.
    drop(consumer);
    within(CASE_MS, "close consumer", consumer_conn.close())
        .await
        .unwrap();
    let after_close = wasm_memory_bytes();
    console_log!(
        "slow no-ack consumer: wasm memory after its connection closed {:.1} MB (+{:.1} MB over the start)",
        after_close / MB,
        (after_close - mem0) / MB
    );
    let peak = peak.max(after_close);
    // the 8 MiB read budget plus what the allocator keeps (12-13 MB measured here); unbounded
    // buffering of this run would pass 200 MB, so the bound still fails a broken budget
    assert!(
        peak - mem0 < 24.0 * MB,
        "wasm memory grew by {:.1} MB",
        (peak - mem0) / MB
    );
}
