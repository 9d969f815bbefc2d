//! Deterministic engine tests against a scripted in-memory broker ([`fake_broker`]): no sockets,
//! no sleeps, time is a virtual `Millis` clock that only moves to the deadlines `poll_timeout`
//! returns (`FakeBroker::drive` / `advance_to_next_deadline`). One file per topic; this one holds
//! the helpers they share.

// Test-only: engine/mod.rs declares this module under #[cfg(test)].
#![cfg(test)]

mod fake_broker;

mod broker_initiated;
mod calls;
mod channels;
mod close;
mod confirms;
mod content;
mod deadlines;
mod handshake;
mod heartbeat;
mod malformed;
mod operations;
mod publish;
mod secrets;

use super::*;
use bytes::Bytes;
use fake_broker::*;

const USER: &str = "user";
const PASS: &str = "pass";

/// The tests' configuration: heartbeats off unless a test asks (the default would pick
/// `DEFAULT_HEARTBEAT` against the fake broker's 0) and no operation deadline unless a test
/// asks (`operations.rs`), so each file sees only the timers it is about.
fn config() -> Config {
    Config {
        username: USER.into(),
        password: PASS.into(),
        heartbeat: Some(0),
        operation_timeout: 0,
        ..Config::default()
    }
}

fn connected_with(config: Config, tune: Tune) -> (Engine, FakeBroker, Handshake) {
    let mut eng = Engine::new(config, 0);
    let mut broker = FakeBroker::new();
    let hs = broker.handshake_with(&mut eng, tune);
    (eng, broker, hs)
}

fn connected() -> (Engine, FakeBroker) {
    let (eng, broker, _) = connected_with(config(), Tune::default());
    (eng, broker)
}

/// Opens the lowest free channel and completes channel.open-ok.
fn open_channel(eng: &mut Engine, b: &mut FakeBroker) -> u16 {
    let (id, req) = eng.open_channel(None).expect("open_channel");
    assert_eq!(
        b.expect_method(eng),
        (id, Method::ChannelOpen(ChannelOpen::default()))
    );
    b.send(eng, id, &Method::ChannelOpenOk(ChannelOpenOk::default()));
    assert_eq!(
        drain_events(eng),
        vec![ok_reply(
            req,
            Method::ChannelOpenOk(ChannelOpenOk::default())
        )]
    );
    assert!(eng.channel_is_open(id));
    id
}

fn ok_reply(req: ReqId, m: Method) -> Event {
    Event::Reply {
        req,
        result: Ok(Response::Method(m)),
    }
}

fn queue_declare(name: &str) -> Method {
    Method::QueueDeclare(QueueDeclare {
        queue: name.into(),
        ..Default::default()
    })
}

fn declare_ok(name: &str, messages: u32) -> Method {
    Method::QueueDeclareOk(QueueDeclareOk {
        queue: name.into(),
        message_count: messages,
        consumer_count: 0,
    })
}

fn close_info(code: u16, text: &str, class_id: u16, method_id: u16) -> CloseInfo {
    CloseInfo {
        code: ReplyCode(code),
        text: text.into(),
        class_id,
        method_id,
    }
}

/// The error of the single `Event::Closed` in `events`, which must be the last event.
fn closed_error(events: &[Event]) -> Option<Error> {
    match events.last() {
        Some(Event::Closed { error }) => error.clone(),
        _ => panic!("expected Event::Closed last, got {events:?}"),
    }
}

/// The reply code of the connection error in the last `Event::Closed`.
fn closed_code(events: &[Event]) -> u16 {
    match closed_error(events) {
        Some(Error::ConnectionClosed(info)) => info.code.0,
        other => panic!("expected ConnectionClosed, got {other:?}"),
    }
}

fn patterned(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn rich_properties() -> BasicProperties {
    let mut p = BasicProperties::default()
        .with_content_type("application/octet-stream")
        .with_headers(FieldTable::new().with("x-trace", "abc").with("n", 42i32))
        .with_delivery_mode(2)
        .with_correlation_id("corr-1")
        .with_reply_to("amq.rabbitmq.reply-to");
    p.message_id = Some("m-1".into());
    p.timestamp = Some(1_700_000_000);
    p.priority = Some(3);
    p
}

fn ack(tag: u64, multiple: bool) -> Method {
    Method::BasicAck(BasicAck {
        delivery_tag: tag,
        multiple,
    })
}
