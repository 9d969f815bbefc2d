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
//! (per-case outcome and time, wasm memory) are printed with `console_log!`. What warren sent
//! back is read from the server itself: `GET /seen` on its port answers what it read on the
//! case's connection once that connection has ended (examples/hostile_broker.rs).

use futures::future::{join_all, select, Either};
use futures::StreamExt;
use gloo_timers::future::TimeoutFuture;
use std::future::Future;
use std::sync::Mutex;
use warren::client::{ConsumeOptions, Consumer, PublishOptions, QueueDeclareOptions};
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

/// `GET {CONTROL_URL}{path}` through the page's `fetch` (bounded by `ms`); panics unless it
/// answers 200, and returns the body.
async fn control(path: &str, ms: u32) -> String {
    let url = format!("{CONTROL_URL}{path}");
    let global = js_sys::global();
    let fetch: js_sys::Function = js_sys::Reflect::get(&global, &"fetch".into())
        .expect("globalThis.fetch")
        .unchecked_into();
    let promise: js_sys::Promise = fetch
        .call1(&global, &url.as_str().into())
        .expect("fetch")
        .unchecked_into();
    let resp = within(ms, &url, JsFuture::from(promise))
        .await
        .unwrap_or_else(|e| panic!("{url}: {e:?} (is scripts/hostile running?)"));
    let status = js_sys::Reflect::get(&resp, &"status".into())
        .ok()
        .and_then(|s| s.as_f64());
    let text: js_sys::Function = js_sys::Reflect::get(&resp, &"text".into())
        .expect("Response.text")
        .unchecked_into();
    let body: js_sys::Promise = text.call0(&resp).expect("text()").unchecked_into();
    let body = within(ms, &url, JsFuture::from(body))
        .await
        .expect("the response body")
        .as_string()
        .unwrap_or_default();
    assert_eq!(status, Some(200.0), "{url}: {body}");
    body
}

/// `GET /case/NAME`: the script the hostile broker plays to the next connections.
async fn choose(name: &str) {
    control(&format!("/case/{name}"), 5_000).await;
}

/// What the hostile broker read on the chosen case's connection, one item per line
/// (`case NAME`, `heartbeat N`, `heartbeats N`, then each method warren sent, as
/// `hostile_server::Seen::sent` words them, and `socket closed`). The server answers once the
/// connection has ended there (it waits at most 10 s): no sleep, a bounded wait.
async fn broker_read(name: &str) -> Vec<String> {
    let body = control("/seen", 15_000).await;
    let lines: Vec<String> = body.lines().map(str::to_string).collect();
    assert_eq!(
        lines.first().map(String::as_str),
        Some(format!("case {name}").as_str()),
        "{body}"
    );
    console_log!("hostile case {name}: broker read {}", lines[3..].join(", "));
    lines
}

/// The methods warren sent (lines after the `heartbeats` count).
fn sent(read: &[String]) -> &[String] {
    &read[3..]
}

/// Warnings and errors logged through the `log` crate (warren logs a delivery nobody reads),
/// kept so a test can assert them, and echoed to the console.
struct Captured;

static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl log::Log for Captured {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            let line = format!("{} {}", r.level(), r.args());
            console_log!("log: {line}");
            LOGGED.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

static CAPTURED: Captured = Captured;

/// Installs [`Captured`] (once per module) and returns what it has kept so far, emptied.
fn take_logged() -> Vec<String> {
    if log::set_logger(&CAPTURED).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    std::mem::take(&mut *LOGGED.lock().unwrap())
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
    let ws = match websocket::connect(url, &[], false).await {
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
/// text, or (code 0) a refused handshake; and the first thing the broker must have read from
/// warren once it misbehaved (a line of `GET /seen`, by its start).
const EXPECTED: &[(&str, u16, &str, &str)] = &[
    (
        "frame-larger-than-frame-max",
        501,
        "exceeds frame_max",
        "connection.close 501",
    ),
    ("bad-frame-end", 501, "frame end", "connection.close 501"),
    (
        "unknown-frame-type",
        501,
        "unknown frame type 9",
        "connection.close 501",
    ),
    (
        "unknown-method",
        503,
        "unknown method 99.7",
        "connection.close 503",
    ),
    (
        "body-without-header",
        505,
        "without a content header",
        "connection.close 505",
    ),
    (
        "body-longer-than-header",
        505,
        "longer than its header",
        "connection.close 505",
    ),
    (
        "body-shorter-than-header",
        505,
        "while a message body was expected",
        "connection.close 505",
    ),
    (
        "endless-body",
        501,
        "max_message_size",
        "connection.close 501",
    ),
    (
        "huge-table-length",
        502,
        "truncated",
        "connection.close 502",
    ),
    ("huge-table-in-handshake", 502, "", "connection.close 502"),
    (
        "heartbeat-on-a-channel",
        501,
        "heartbeat",
        "connection.close 501",
    ),
    (
        "close-with-unknown-code",
        999,
        "WHAT_IS_THIS",
        "connection.close-ok",
    ),
    (
        "protocol-header-sent-back",
        0,
        "refused AMQP 0-9-1",
        "socket closed",
    ),
    (
        "no-supported-mechanism",
        403,
        "does not offer PLAIN",
        "socket closed",
    ),
];

#[wasm_bindgen_test]
async fn hostile_broker_cases_through_the_relay_then_a_normal_connection() {
    let mem0 = wasm_memory_bytes();
    let mut peak = mem0;
    for &(name, code, text, first_sent) in EXPECTED {
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
        let read = broker_read(name).await;
        assert!(
            sent(&read)
                .first()
                .is_some_and(|l| l.starts_with(first_sent)),
            "{name}: the broker read {read:?}, expected {first_sent:?} first"
        );
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

    still_works().await;
}

/// Nothing is left poisoned (no trap, no stuck state): a normal connection through the normal
/// relay to the real broker declares, publishes and gets.
async fn still_works() {
    let ws = within(
        CASE_MS,
        "WebSocket open",
        websocket::connect(WS_URL, &[], false),
    )
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

/// Connects through the hostile relay with `cfg`, opens a channel and a consumer of `q` (every
/// step bounded); the case must let all of that succeed.
async fn open_and_consume(cfg: Config) -> (Connection, warren::client::Channel, Consumer) {
    let ws = within(
        CASE_MS,
        "WebSocket open",
        websocket::connect(HOSTILE_WS_URL, &[], false),
    )
    .await
    .expect("WebSocket to the hostile relay");
    let conn = within(CASE_MS, "handshake", Connection::open(ws, cfg))
        .await
        .expect("the handshake succeeds in this case");
    let ch = within(CASE_MS, "channel", conn.channel(None))
        .await
        .expect("channel opens");
    let consumer = within(
        CASE_MS,
        "consume",
        ch.basic_consume("q", ConsumeOptions::default(), FieldTable::new()),
    )
    .await
    .expect("consume-ok");
    (conn, ch, consumer)
}

fn log_case(name: &str, ms: u64, end: &Option<Error>) {
    console_log!(
        "hostile case {name}: {ms} ms, wasm memory {:.1} MB, ended with {end:?}",
        wasm_memory_bytes() / MB
    );
}

/// 9 bytes of a basic.deliver frame, then silence with the socket open; heartbeat 1 s accepted
/// from the broker and a queue.declare pending (operation deadline 5 s): the heartbeat deadline
/// (two silent intervals) must end the connection and fail the call with the same typed error,
/// well before the operation deadline, with no close sent (the peer is taken for gone).
#[wasm_bindgen_test]
async fn hostile_truncated_frame_then_silence_ends_by_the_heartbeat_deadline() {
    let name = "truncated-frame-then-silence";
    choose(name).await;
    let cfg = Config {
        heartbeat: None,
        ..config()
    };
    let (conn, ch, consumer) = open_and_consume(cfg).await;
    let t0 = warren::rt::now_ms();
    let declare = ch.queue_declare("never-answered", Default::default(), FieldTable::new());
    // 5 s: past two heartbeat intervals (2 s) with room, and the operation deadline, which would
    // end it with Error::Timeout instead.
    let (declared, end) = within(
        5_000,
        "the heartbeat deadline",
        futures::future::join(declare, conn.closed()),
    )
    .await;
    let ms = warren::rt::now_ms() - t0;
    log_case(name, ms, &end);
    match &end {
        Some(Error::ConnectionLost {
            cause: TransportError::Timeout(why),
            handshake: false,
        }) => assert!(why.contains("no data from the broker"), "{why}"),
        other => panic!("{name}: expected ConnectionLost {{ Timeout }}, got {other:?}"),
    }
    assert_eq!(
        declared.as_ref().err(),
        end.as_ref(),
        "the pending call fails with the connection's error"
    );
    // The last bytes arrived just before the consume resolved: two silent seconds after them.
    assert!(
        (1_500..4_500).contains(&ms),
        "{name}: ended {ms} ms after the silence began (heartbeat 1 s)"
    );
    drop(consumer);
    let read = broker_read(name).await;
    assert!(read.contains(&"heartbeat 1".to_string()), "{read:?}");
    let heartbeats: usize = read[2]
        .strip_prefix("heartbeats ")
        .and_then(|n| n.parse().ok())
        .expect("heartbeats N");
    assert!(
        heartbeats >= 1,
        "{name}: warren sent no heartbeat in the silence"
    );
    assert_eq!(sent(&read), ["queue.declare", "socket closed"], "{read:?}");
    still_works().await;
}

/// The same truncated frame and silence with heartbeats off on both sides: the operation
/// deadline (1 s) of a queue.declare must fail it with `Error::Timeout`, and warren must close
/// the connection (200, naming the deadline) rather than wait for ever.
#[wasm_bindgen_test]
async fn hostile_truncated_frame_then_silence_ends_by_the_operation_deadline() {
    let name = "truncated-frame-then-silence-no-heartbeat";
    choose(name).await;
    let cfg = Config {
        operation_timeout: 1_000,
        ..config()
    };
    let (conn, ch, consumer) = open_and_consume(cfg).await;
    let t0 = warren::rt::now_ms();
    let declared = within(
        5_000,
        "the operation deadline",
        ch.queue_declare("never-answered", Default::default(), FieldTable::new()),
    )
    .await;
    let ms = warren::rt::now_ms() - t0;
    assert_eq!(declared.unwrap_err(), Error::Timeout, "{name}");
    let end = within(5_000, "the connection's end", conn.closed()).await;
    log_case(name, ms, &end);
    assert_eq!(end, Some(Error::Timeout), "{name}");
    assert!(
        (900..3_000).contains(&ms),
        "{name}: the call failed after {ms} ms (operation_timeout 1000)"
    );
    drop(consumer);
    let read = broker_read(name).await;
    assert!(read.contains(&"heartbeat 0".to_string()), "{read:?}");
    let sent = sent(&read);
    assert_eq!(sent.first().map(String::as_str), Some("queue.declare"));
    assert!(
        sent.get(1).is_some_and(
            |l| l.starts_with("connection.close 200") && l.contains("operation_timeout")
        ),
        "{name}: the broker read {read:?}"
    );
    assert_eq!(sent.last().map(String::as_str), Some("socket closed"));
    still_works().await;
}

/// A whole message for consumer tag `nobody` (never given out; delivery tag 7), then one for the
/// client's own consumer (delivery tag 8); the broker closes the connection (320) once it reads a
/// basic.reject. warren must log the orphan, reject it with requeue, cancel `nobody` (or a broker
/// would hand it straight back), and keep delivering to its own consumer.
#[wasm_bindgen_test]
async fn hostile_delivery_for_an_unknown_consumer_tag_is_rejected_and_cancelled() {
    let name = "delivery-for-unknown-consumer-tag";
    take_logged();
    choose(name).await;
    let t0 = warren::rt::now_ms();
    let (conn, _ch, mut consumer) = open_and_consume(config()).await;
    let first = within(CASE_MS, "the consumer's own delivery", consumer.next())
        .await
        .expect("a delivery before the end")
        .expect("a message, not an error");
    assert_eq!(
        (
            first.consumer_tag.as_str(),
            first.delivery_tag,
            first.body_str().as_ref()
        ),
        ("ctag", 8, "still consuming"),
        "{name}: the orphan must not reach the consumer, and its own message must"
    );
    let end = within(CASE_MS, "the broker's close", conn.closed()).await;
    let ms = warren::rt::now_ms() - t0;
    log_case(name, ms, &end);
    match &end {
        Some(Error::ConnectionClosed(info)) => {
            assert_eq!(
                (info.code.0, info.text.as_str()),
                (320, "CONNECTION_FORCED")
            )
        }
        other => panic!("{name}: expected the broker's 320, got {other:?}"),
    }
    drop(consumer);
    let logged = take_logged();
    assert!(
        logged
            .iter()
            .any(|l| l.starts_with("WARN") && l.contains("\"nobody\"") && l.contains("reject")),
        "{name}: no warning about the delivery for `nobody`: {logged:?}"
    );
    let read = broker_read(name).await;
    let sent = sent(&read);
    let rejects: Vec<&String> = sent
        .iter()
        .filter(|l| l.starts_with("basic.reject"))
        .collect();
    assert_eq!(
        rejects,
        ["basic.reject 7 requeue=true"],
        "{name}: only the orphan is rejected, requeued: {read:?}"
    );
    assert!(
        sent.iter().any(|l| l == "basic.cancel `nobody`"),
        "{name}: `nobody` is not cancelled: {read:?}"
    );
    assert!(
        !sent.iter().any(|l| l == "basic.cancel `ctag`"),
        "{name}: the client's own consumer was cancelled: {read:?}"
    );
    assert!(
        sent.iter().any(|l| l == "connection.close-ok"),
        "{name}: the broker's close was not answered: {read:?}"
    );
    still_works().await;
}

/// How many 1 KB messages the memory test publishes, and how long its consumer may run.
const MEM_MESSAGES: u64 = 200_000;
const MEM_PUBLISH_MS: u64 = 40_000;
const MEM_WINDOW_MS: u64 = 60_000;

#[wasm_bindgen_test]
async fn slow_no_ack_consumer_keeps_wasm_memory_bounded() {
    let open = || async {
        let ws = within(
            CASE_MS,
            "WebSocket open",
            websocket::connect(WS_URL, &[], false),
        )
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
