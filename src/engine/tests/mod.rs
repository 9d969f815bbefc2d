//! Deterministic engine tests against a scripted in-memory broker ([`fake_broker`]): no sockets,
//! no sleeps, time is a virtual `Millis` clock that only moves through `handle_timeout` at the
//! deadlines `poll_timeout` returns.

// Test-only: engine/mod.rs declares this module under #[cfg(test)].
#![cfg(test)]

mod fake_broker;

use super::*;
use bytes::Bytes;
use fake_broker::*;

const USER: &str = "user";
const PASS: &str = "pass";

fn config() -> Config {
    Config {
        username: USER.into(),
        password: PASS.into(),
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

// ===================================================================================== handshake

#[test]
fn start_ok_uses_plain_and_announces_client_properties() {
    let cfg = Config {
        connection_name: Some("orders-service".into()),
        ..config()
    };
    let (_, _, hs) = connected_with(cfg, Tune::default());
    let s = hs.start_ok;
    assert_eq!(s.mechanism, "PLAIN");
    assert_eq!(&s.response[..], b"\0user\0pass");
    let props = &s.client_properties;
    assert_eq!(
        props.get("product").and_then(|v| v.as_str()),
        Some("warren")
    );
    assert_eq!(
        props.get("connection_name").and_then(|v| v.as_str()),
        Some("orders-service")
    );
    let caps = match props.get("capabilities") {
        Some(FieldValue::Table(t)) => t,
        other => panic!("capabilities must be a table, got {other:?}"),
    };
    for cap in [
        "publisher_confirms",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
        "basic.nack",
        "exchange_exchange_bindings",
        "per_consumer_qos",
        "direct_reply_to",
        "consumer_priorities",
    ] {
        assert_eq!(
            caps.get(cap),
            Some(&FieldValue::Bool(true)),
            "capability {cap}"
        );
    }
}

#[test]
fn connection_name_absent_unless_configured() {
    let (_, _, hs) = connected_with(config(), Tune::default());
    assert!(hs
        .start_ok
        .client_properties
        .get("connection_name")
        .is_none());
    assert_eq!(hs.open.virtual_host, "/", "the default vhost");
}

#[test]
fn amqplain_response_is_an_unprefixed_field_table() {
    let cfg = Config {
        auth_mechanism: AuthMechanism::AmqPlain,
        ..config()
    };
    let mut eng = Engine::new(cfg, 0);
    let mut b = FakeBroker::new();
    let s = b.start(&mut eng);
    assert_eq!(s.mechanism, "AMQPLAIN");
    // No 4-byte length prefix: the response starts with the first key's length.
    assert_eq!(s.response[0] as usize, "LOGIN".len());
    let mut framed = (s.response.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(&s.response);
    let mut r = crate::protocol::codec::Reader::new(Bytes::from(framed));
    let table = FieldTable::decode(&mut r).expect("AMQPLAIN response decodes as a table");
    r.finish().expect("no trailing bytes");
    assert_eq!(table.get("LOGIN").and_then(|v| v.as_str()), Some(USER));
    assert_eq!(table.get("PASSWORD").and_then(|v| v.as_str()), Some(PASS));
}

#[test]
fn mechanism_not_offered_is_access_refused() {
    let mut eng = Engine::new(config(), 0);
    let mut b = FakeBroker::new();
    b.mechanisms = "AMQPLAIN EXTERNAL";
    b.send_start(&mut eng);
    let events = drain_events(&mut eng);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(closed_code(&events), 403);
    assert!(eng.is_closed());
    // No credentials go out for a mechanism the broker did not offer.
    b.expect_nothing(&mut eng);
}

#[test]
fn tune_negotiation() {
    struct Case {
        ours: (u16, u32, Option<u16>),
        theirs: (u16, u32, u16),
        want: (u16, u32, u16),
    }
    #[rustfmt::skip]
    let cases = [
        // channel_max: 0 takes the server's, otherwise the smaller.
        Case { ours: (0, 131_072, None), theirs: (2047, 131_072, 60), want: (2047, 131_072, 60) },
        Case { ours: (10, 131_072, None), theirs: (2047, 131_072, 60), want: (10, 131_072, 60) },
        Case { ours: (10, 131_072, None), theirs: (0, 131_072, 60), want: (10, 131_072, 60) },
        // frame_max: the smaller non-zero value, never below 4096.
        Case { ours: (0, 131_072, None), theirs: (2047, 0, 60), want: (2047, 131_072, 60) },
        Case { ours: (0, 0, None), theirs: (2047, 65_536, 60), want: (2047, 65_536, 60) },
        Case { ours: (0, 8192, None), theirs: (2047, 131_072, 60), want: (2047, 8192, 60) },
        Case { ours: (0, 131_072, None), theirs: (2047, 16_384, 60), want: (2047, 16_384, 60) },
        Case { ours: (0, 1000, None), theirs: (2047, 131_072, 60), want: (2047, 4096, 60) },
        Case { ours: (0, 131_072, None), theirs: (2047, 1024, 60), want: (2047, 4096, 60) },
        // heartbeat: None takes the server's, Some(0) disables, Some(n) wins.
        Case { ours: (0, 131_072, Some(0)), theirs: (2047, 131_072, 60), want: (2047, 131_072, 0) },
        Case { ours: (0, 131_072, Some(5)), theirs: (2047, 131_072, 60), want: (2047, 131_072, 5) },
        Case { ours: (0, 131_072, None), theirs: (2047, 131_072, 0), want: (2047, 131_072, 0) },
    ];
    for (i, c) in cases.iter().enumerate() {
        let cfg = Config {
            channel_max: c.ours.0,
            frame_max: c.ours.1,
            heartbeat: c.ours.2,
            ..config()
        };
        let tune = Tune {
            channel_max: c.theirs.0,
            frame_max: c.theirs.1,
            heartbeat: c.theirs.2,
        };
        let (eng, _, hs) = connected_with(cfg, tune);
        let got = (
            hs.tune_ok.channel_max,
            hs.tune_ok.frame_max,
            hs.tune_ok.heartbeat,
        );
        assert_eq!(got, c.want, "case {i}: tune-ok");
        assert_eq!(
            (eng.channel_max(), eng.frame_max(), eng.heartbeat()),
            c.want,
            "case {i}: engine getters"
        );
    }
}

#[test]
fn tune_ok_and_open_are_pipelined_and_carry_the_vhost() {
    let cfg = Config {
        vhost: "prod/eu".into(),
        ..config()
    };
    let mut eng = Engine::new(cfg, 0);
    let mut b = FakeBroker::new();
    b.start(&mut eng);
    // `tune` asserts both frames arrive in exactly one poll_transmit buffer.
    let (_, open) = b.tune(&mut eng, Tune::default());
    assert_eq!(open.virtual_host, "prod/eu");
    assert!(!eng.is_open());
    assert!(drain_events(&mut eng).is_empty(), "Opened before open-ok");
    b.open_ok(&mut eng);
}

#[test]
fn opened_event_carries_server_properties() {
    let mut eng = Engine::new(config(), 0);
    let mut b = FakeBroker::new();
    b.server_properties.insert("cluster_name", "rabbit@prod-7");
    b.server_properties.insert("version", "4.0.5");
    // open_ok asserts the single Opened event equals what connection.start carried.
    b.handshake(&mut eng);
    assert!(eng.is_open());
}

#[test]
fn broker_close_during_handshake_is_reported_with_its_code() {
    let mut eng = Engine::new(config(), 0);
    let mut b = FakeBroker::new();
    b.start(&mut eng);
    let close = ConnectionClose {
        reply_code: 403,
        reply_text: "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN"
            .into(),
        class_id: 0,
        method_id: 0,
    };
    b.send(&mut eng, 0, &Method::ConnectionClose(close));
    assert_eq!(b.expect_method(&mut eng), (0, Method::ConnectionCloseOk));
    b.expect_nothing(&mut eng);
    let events = drain_events(&mut eng);
    assert_eq!(events.len(), 1, "{events:?}");
    match closed_error(&events) {
        Some(Error::ConnectionClosed(info)) => {
            assert_eq!(info.code, ReplyCode::ACCESS_REFUSED);
            assert!(info.text.contains("Login was refused"));
        }
        other => panic!("expected ConnectionClosed 403, got {other:?}"),
    }
    assert!(eng.is_closed());
    assert_eq!(eng.poll_timeout(), None);
}

#[test]
fn transport_closed_mid_handshake_mentions_the_handshake() {
    for stage in 0..3 {
        let mut eng = Engine::new(config(), 0);
        let mut b = FakeBroker::new();
        match stage {
            0 => {
                b.recv(&mut eng);
            }
            1 => {
                b.start(&mut eng);
            }
            _ => {
                b.start(&mut eng);
                b.tune(&mut eng, Tune::default());
            }
        }
        eng.handle_transport_closed(TransportError::Reset("connection reset by peer".into()));
        let events = drain_events(&mut eng);
        match closed_error(&events) {
            Some(e @ Error::ConnectionLost { handshake, .. }) => {
                assert!(handshake, "stage {stage}: {e:?}");
                let why = e.to_string();
                assert!(why.contains("handshake"), "stage {stage}: {why}");
                assert!(
                    why.contains("connection reset by peer"),
                    "stage {stage}: {why}"
                );
            }
            other => panic!("stage {stage}: expected ConnectionLost, got {other:?}"),
        }
        assert!(eng.is_closed());
    }
}

#[test]
fn connection_start_after_open_is_unexpected() {
    let (mut eng, mut b) = connected();
    b.send(
        &mut eng,
        0,
        &Method::ConnectionStart(ConnectionStart::default()),
    );
    assert_eq!(b.expect_connection_close(&mut eng).reply_code, 505);
    assert_eq!(closed_code(&drain_events(&mut eng)), 505);
}

// ====================================================================================== channels

#[test]
fn channel_ids_are_lowest_free_and_reused_after_close() {
    let (mut eng, mut b) = connected();
    assert_eq!(open_channel(&mut eng, &mut b), 1);
    assert_eq!(open_channel(&mut eng, &mut b), 2);
    assert_eq!(open_channel(&mut eng, &mut b), 3);

    let req = eng.close_channel(2).unwrap();
    match b.expect_method(&mut eng) {
        (2, Method::ChannelClose(c)) => assert_eq!(c.reply_code, 200),
        other => panic!("expected channel.close on 2, got {other:?}"),
    }
    // Still reserved while closing.
    let (id, _) = eng.open_channel(None).unwrap();
    assert_eq!(id, 4);
    b.expect_method(&mut eng);
    b.send(&mut eng, 2, &Method::ChannelCloseOk);
    assert_eq!(
        drain_events(&mut eng),
        vec![
            ok_reply(req, Method::ChannelCloseOk),
            Event::ChannelClosed {
                channel: 2,
                error: None
            }
        ]
    );
    assert_eq!(eng.open_channel(None).unwrap().0, 2);
}

#[test]
fn explicit_channel_ids_and_invalid_ones() {
    let tune = Tune {
        channel_max: 100,
        ..Tune::default()
    };
    let (mut eng, mut b, _) = connected_with(config(), tune);
    let (id, _) = eng.open_channel(Some(7)).unwrap();
    assert_eq!(id, 7);
    assert_eq!(b.expect_method(&mut eng).0, 7);
    let (id, _) = eng.open_channel(Some(100)).unwrap();
    assert_eq!(id, 100);
    assert_eq!(b.expect_method(&mut eng).0, 100);

    for bad in [0, 101, u16::MAX, 7, 100] {
        match eng.open_channel(Some(bad)) {
            Err(Error::InvalidArgument(_)) => {}
            other => panic!("channel {bad}: expected InvalidArgument, got {other:?}"),
        }
    }
    b.expect_nothing(&mut eng);
    // Lowest free skips the explicit ones.
    assert_eq!(eng.open_channel(None).unwrap().0, 1);
}

#[test]
fn no_free_channel_when_exhausted() {
    let tune = Tune {
        channel_max: 2,
        ..Tune::default()
    };
    let (mut eng, mut b, _) = connected_with(config(), tune);
    assert_eq!(open_channel(&mut eng, &mut b), 1);
    assert_eq!(open_channel(&mut eng, &mut b), 2);
    assert_eq!(eng.open_channel(None), Err(Error::NoFreeChannel));
    b.expect_nothing(&mut eng);
}

#[test]
fn commands_before_open_fail_fast() {
    let mut eng = Engine::new(config(), 0);
    assert_eq!(eng.open_channel(None), Err(Error::NotOpen("connection")));
    let mut b = FakeBroker::new();
    b.start(&mut eng);
    assert_eq!(eng.open_channel(None), Err(Error::NotOpen("connection")));
    assert!(eng.call(1, queue_declare("q")).is_err());
    b.expect_nothing(&mut eng);
}

// ========================================================================================= calls

#[test]
fn queue_declare_reply_matches_its_request() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    let req = eng.call(ch, queue_declare("jobs")).unwrap();
    assert_eq!(b.expect_method(&mut eng), (ch, queue_declare("jobs")));
    assert!(
        drain_events(&mut eng).is_empty(),
        "reply before the broker answered"
    );
    b.send(&mut eng, ch, &declare_ok("jobs", 12));
    assert_eq!(
        drain_events(&mut eng),
        vec![ok_reply(req, declare_ok("jobs", 12))]
    );
}

#[test]
fn pipelined_calls_complete_in_fifo_order() {
    let (mut eng, mut b) = connected();
    // Pipelined even behind channel.open, before open-ok.
    let (ch, open_req) = eng.open_channel(None).unwrap();
    let exchange = Method::ExchangeDeclare(ExchangeDeclare {
        exchange: "logs".into(),
        kind: "topic".into(),
        ..Default::default()
    });
    let bind = Method::QueueBind(QueueBind {
        queue: "q".into(),
        exchange: "logs".into(),
        routing_key: "#".into(),
        ..Default::default()
    });
    let r1 = eng.call(ch, exchange.clone()).unwrap();
    let r2 = eng.call(ch, queue_declare("q")).unwrap();
    let r3 = eng.call(ch, bind.clone()).unwrap();
    let qos = Method::BasicQos(BasicQos {
        prefetch_count: 10,
        ..Default::default()
    });
    let r4 = eng.call(ch, qos.clone()).unwrap();
    let reqs = [open_req, r1, r2, r3, r4];
    let mut sorted = reqs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "request ids must be distinct: {reqs:?}");

    // One buffer, in call order.
    let raw = b.recv(&mut eng).unwrap();
    assert_eq!(split_frames(&raw).len(), 5);
    assert_eq!(
        b.expect_method(&mut eng),
        (ch, Method::ChannelOpen(ChannelOpen::default()))
    );
    assert_eq!(b.expect_method(&mut eng), (ch, exchange));
    assert_eq!(b.expect_method(&mut eng), (ch, queue_declare("q")));
    assert_eq!(b.expect_method(&mut eng), (ch, bind));
    assert_eq!(b.expect_method(&mut eng), (ch, qos));

    let mut replies = method_bytes(ch, &Method::ChannelOpenOk(ChannelOpenOk::default()));
    replies.extend(method_bytes(ch, &Method::ExchangeDeclareOk));
    replies.extend(method_bytes(ch, &declare_ok("q", 0)));
    replies.extend(method_bytes(ch, &Method::QueueBindOk));
    replies.extend(method_bytes(ch, &Method::BasicQosOk));
    b.send_chunked(&mut eng, &replies, 5);
    assert_eq!(
        drain_events(&mut eng),
        vec![
            ok_reply(open_req, Method::ChannelOpenOk(ChannelOpenOk::default())),
            ok_reply(r1, Method::ExchangeDeclareOk),
            ok_reply(r2, declare_ok("q", 0)),
            ok_reply(r3, Method::QueueBindOk),
            ok_reply(r4, Method::BasicQosOk),
        ]
    );
    assert!(eng.is_open());
}

#[test]
fn nowait_calls_complete_at_once_and_leave_nothing_pending() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    let nowait = Method::QueueDeclare(QueueDeclare {
        queue: "fire-and-forget".into(),
        nowait: true,
        ..Default::default()
    });
    let r1 = eng.call(ch, nowait.clone()).unwrap();
    assert_eq!(
        drain_events(&mut eng),
        vec![Event::Reply {
            req: r1,
            result: Ok(Response::Method(nowait.clone()))
        }]
    );
    assert_eq!(b.expect_method(&mut eng), (ch, nowait));
    // If the nowait call had left a pending entry, this bind-ok would not match its head.
    let bind = Method::QueueBind(QueueBind {
        queue: "fire-and-forget".into(),
        exchange: "amq.direct".into(),
        ..Default::default()
    });
    let r2 = eng.call(ch, bind).unwrap();
    b.expect_method(&mut eng);
    b.send(&mut eng, ch, &Method::QueueBindOk);
    assert_eq!(
        drain_events(&mut eng),
        vec![ok_reply(r2, Method::QueueBindOk)]
    );
    assert!(eng.is_open());
}

#[test]
fn call_and_send_reject_the_wrong_kind_of_method() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    let ack = Method::BasicAck(BasicAck {
        delivery_tag: 1,
        multiple: false,
    });
    assert!(matches!(
        eng.call(ch, ack.clone()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        eng.send(ch, &queue_declare("q")),
        Err(Error::InvalidArgument(_))
    ));
    b.expect_nothing(&mut eng);
    eng.send(ch, &ack).unwrap();
    assert_eq!(b.expect_method(&mut eng), (ch, ack));
}

#[test]
fn reply_matching_no_pending_call_is_unexpected_frame() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    b.send(&mut eng, ch, &declare_ok("ghost", 0));
    let close = b.expect_connection_close(&mut eng);
    assert_eq!(close.reply_code, 505);
    let events = drain_events(&mut eng);
    assert_eq!(closed_code(&events), 505);
    assert!(eng.is_closed());
}

#[test]
fn reply_of_the_wrong_kind_is_unexpected_frame_and_fails_the_call() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    let req = eng.call(ch, queue_declare("q")).unwrap();
    b.expect_method(&mut eng);
    b.send(&mut eng, ch, &Method::QueueBindOk);
    assert_eq!(b.expect_connection_close(&mut eng).reply_code, 505);
    let events = drain_events(&mut eng);
    let err = closed_error(&events).expect("an error");
    assert_eq!(err.reply_code(), Some(ReplyCode::UNEXPECTED_FRAME));
    assert!(events.contains(&Event::Reply {
        req,
        result: Err(err.clone())
    }));
}

// ======================================================================================= content

#[test]
fn delivery_split_across_body_frames_is_reassembled_exactly() {
    let tune = Tune {
        frame_max: 4096,
        ..Tune::default()
    };
    let (mut eng, mut b, _) = connected_with(config(), tune);
    let ch = open_channel(&mut eng, &mut b);
    let body = patterned(10_000);
    let props = rich_properties();
    let bytes = content_bytes(ch, &deliver_method(77), &props, &body, 4096);
    let frames = split_frames(&bytes);
    assert_eq!(
        frames.iter().filter(|f| f.0 == 3).count(),
        3,
        "test needs several body frames"
    );
    // Arbitrary TCP-style chunking, with a heartbeat between header and body (allowed).
    let (head, rest) = bytes.split_at(frames[0].2.len() + frames[1].2.len());
    b.send_chunked(&mut eng, head, 13);
    b.heartbeat(&mut eng);
    assert!(
        drain_events(&mut eng).is_empty(),
        "delivery before its body"
    );
    b.send_chunked(&mut eng, rest, 1000);
    let want = Delivery {
        channel: ch,
        consumer_tag: "ctag".into(),
        delivery_tag: 77,
        redelivered: false,
        exchange: "ex".into(),
        routing_key: "rk".into(),
        message_count: None,
        properties: props,
        body: Bytes::from(body),
    };
    assert_eq!(
        drain_events(&mut eng),
        vec![Event::Delivery(Box::new(want))]
    );
    assert!(eng.is_open());
}

#[test]
fn zero_length_body_delivers_on_the_header() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    let bytes = content_bytes(
        ch,
        &deliver_method(1),
        &BasicProperties::default(),
        b"",
        131_072,
    );
    assert_eq!(
        split_frames(&bytes).len(),
        2,
        "no body frame for an empty body"
    );
    b.send_raw(&mut eng, &bytes);
    match drain_events(&mut eng).as_slice() {
        [Event::Delivery(d)] => {
            assert_eq!(d.delivery_tag, 1);
            assert!(d.body.is_empty());
        }
        other => panic!("expected one delivery, got {other:?}"),
    }
    // The channel is not left waiting for a body: the next delivery works.
    b.deliver(
        &mut eng,
        ch,
        2,
        b"next",
        &BasicProperties::default(),
        131_072,
    );
    match drain_events(&mut eng).as_slice() {
        [Event::Delivery(d)] => assert_eq!((d.delivery_tag, &d.body[..]), (2, &b"next"[..])),
        other => panic!("expected one delivery, got {other:?}"),
    }
}

#[test]
fn body_frame_without_header_is_unexpected_frame() {
    for with_method in [false, true] {
        let (mut eng, mut b) = connected();
        let ch = open_channel(&mut eng, &mut b);
        let bytes = content_bytes(
            ch,
            &deliver_method(1),
            &BasicProperties::default(),
            b"abc",
            131_072,
        );
        let frames = split_frames(&bytes);
        if with_method {
            b.send_raw(&mut eng, &frames[0].2);
        }
        b.send_raw(&mut eng, &frames[2].2); // the body frame
        assert_eq!(b.expect_connection_close(&mut eng).reply_code, 505);
        assert_eq!(
            closed_code(&drain_events(&mut eng)),
            505,
            "with_method={with_method}"
        );
    }
}

#[test]
fn method_while_body_expected_is_unexpected_frame() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    let bytes = content_bytes(
        ch,
        &deliver_method(1),
        &BasicProperties::default(),
        b"abc",
        131_072,
    );
    let frames = split_frames(&bytes);
    b.send_raw(&mut eng, &frames[0].2);
    b.send_raw(&mut eng, &frames[1].2);
    b.send(&mut eng, ch, &deliver_method(2));
    assert_eq!(closed_code(&drain_events(&mut eng)), 505);
}

#[test]
fn body_longer_than_header_said_is_unexpected_frame() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    let short = content_bytes(
        ch,
        &deliver_method(1),
        &BasicProperties::default(),
        b"ab",
        131_072,
    );
    let long = content_bytes(
        ch,
        &deliver_method(1),
        &BasicProperties::default(),
        b"abcdef",
        131_072,
    );
    let (s, l) = (split_frames(&short), split_frames(&long));
    b.send_raw(&mut eng, &s[0].2);
    b.send_raw(&mut eng, &s[1].2); // header: 2 bytes
    b.send_raw(&mut eng, &l[2].2); // body: 6 bytes
    let events = drain_events(&mut eng);
    assert!(
        !events.iter().any(|e| matches!(e, Event::Delivery(_))),
        "{events:?}"
    );
    assert_eq!(closed_code(&events), 505);
}

#[test]
fn deliveries_interleave_across_channels() {
    let (mut eng, mut b) = connected();
    let c1 = open_channel(&mut eng, &mut b);
    let c2 = open_channel(&mut eng, &mut b);
    let props = BasicProperties::default();
    let one = split_frames(&content_bytes(
        c1,
        &deliver_method(1),
        &props,
        &patterned(5000),
        4096,
    ));
    let two = split_frames(&content_bytes(
        c2,
        &deliver_method(1),
        &props,
        b"second",
        4096,
    ));
    assert_eq!(one.len(), 4);
    // c1: method, header, first body; c2: whole message; c1: last body.
    for f in [&one[0], &one[1], &two[0], &one[2], &two[1], &two[2]] {
        b.send_raw(&mut eng, &f.2);
    }
    let events = drain_events(&mut eng);
    match events.as_slice() {
        [Event::Delivery(d)] => assert_eq!((d.channel, &d.body[..]), (c2, &b"second"[..])),
        other => panic!("expected channel {c2}'s delivery, got {other:?}"),
    }
    b.send_raw(&mut eng, &one[3].2);
    match drain_events(&mut eng).as_slice() {
        [Event::Delivery(d)] => {
            assert_eq!(d.channel, c1);
            assert_eq!(&d.body[..], &patterned(5000)[..]);
        }
        other => panic!("expected channel {c1}'s delivery, got {other:?}"),
    }
}

#[test]
fn basic_get_ok_and_get_empty() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    let get = Method::BasicGet(BasicGet {
        queue: "jobs".into(),
        ..Default::default()
    });
    let req = eng.call(ch, get.clone()).unwrap();
    assert_eq!(b.expect_method(&mut eng), (ch, get.clone()));
    let get_ok = Method::BasicGetOk(BasicGetOk {
        delivery_tag: 9,
        redelivered: true,
        exchange: "".into(),
        routing_key: "jobs".into(),
        message_count: 5,
    });
    let props = rich_properties();
    b.content(&mut eng, ch, &get_ok, &props, b"payload", 131_072);
    let want = Delivery {
        channel: ch,
        consumer_tag: String::new(),
        delivery_tag: 9,
        redelivered: true,
        exchange: "".into(),
        routing_key: "jobs".into(),
        message_count: Some(5),
        properties: props,
        body: Bytes::from_static(b"payload"),
    };
    assert_eq!(
        drain_events(&mut eng),
        vec![Event::Reply {
            req,
            result: Ok(Response::Get(Some(Box::new(want))))
        }]
    );

    let req = eng.call(ch, get).unwrap();
    b.expect_method(&mut eng);
    b.send(
        &mut eng,
        ch,
        &Method::BasicGetEmpty(BasicGetEmpty::default()),
    );
    assert_eq!(
        drain_events(&mut eng),
        vec![Event::Reply {
            req,
            result: Ok(Response::Get(None))
        }]
    );
    assert!(eng.is_open());
}

#[test]
fn get_ok_without_a_get_is_unexpected_frame() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    b.send(
        &mut eng,
        ch,
        &Method::BasicGetEmpty(BasicGetEmpty::default()),
    );
    assert_eq!(closed_code(&drain_events(&mut eng)), 505);
}

// ======================================================================================= publish

#[test]
fn publish_splits_large_bodies_at_frame_max() {
    let tune = Tune {
        frame_max: 4096,
        ..Tune::default()
    };
    let (mut eng, mut b, _) = connected_with(config(), tune);
    let ch = open_channel(&mut eng, &mut b);
    let body = patterned(10_000);
    let props = rich_properties();
    let seq = eng
        .publish(ch, "ex", "rk", true, false, &props, &body)
        .unwrap();
    assert_eq!(seq, None, "no confirm sequence outside confirm mode");
    let raw = b.recv(&mut eng).unwrap();
    let frames = split_frames(&raw);
    for (kind, channel, f) in &frames {
        assert!(
            f.len() <= 4096,
            "frame of {} bytes exceeds frame_max",
            f.len()
        );
        assert_eq!(*channel, ch);
        assert!(matches!(kind, 1..=3));
    }
    let bodies: Vec<_> = frames.iter().filter(|f| f.0 == 3).collect();
    assert_eq!(bodies.len(), 3, "10000 bytes in 4088-byte pieces");
    assert_eq!(
        b.expect_method(&mut eng),
        (
            ch,
            Method::BasicPublish(BasicPublish {
                ticket: 0,
                exchange: "ex".into(),
                routing_key: "rk".into(),
                mandatory: true,
                immediate: false,
            })
        )
    );
    match b.expect_frame(&mut eng) {
        Frame::Header(c, h) => {
            assert_eq!(c, ch);
            assert_eq!(h.body_size, 10_000);
            assert_eq!(h.properties, props);
        }
        other => panic!("expected a content header, got {other:?}"),
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        match b.expect_frame(&mut eng) {
            Frame::Body(c, chunk) => {
                assert_eq!(c, ch);
                got.extend_from_slice(&chunk);
            }
            other => panic!("expected a body frame, got {other:?}"),
        }
    }
    assert_eq!(got, body);
    b.expect_nothing(&mut eng);
}

#[test]
fn publish_fits_one_body_frame_under_a_large_frame_max() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    eng.publish(
        ch,
        "",
        "q",
        false,
        false,
        &BasicProperties::default(),
        &patterned(100_000),
    )
    .unwrap();
    let raw = b.recv(&mut eng).unwrap();
    let kinds: Vec<u8> = split_frames(&raw).iter().map(|f| f.0).collect();
    assert_eq!(kinds, vec![1, 2, 3]);
}

fn confirm_channel(eng: &mut Engine, b: &mut FakeBroker) -> u16 {
    let ch = open_channel(eng, b);
    let req = eng
        .call(ch, Method::ConfirmSelect(ConfirmSelect { nowait: false }))
        .unwrap();
    assert_eq!(
        b.expect_method(eng),
        (ch, Method::ConfirmSelect(ConfirmSelect { nowait: false }))
    );
    b.send(eng, ch, &Method::ConfirmSelectOk);
    assert_eq!(
        drain_events(eng),
        vec![ok_reply(req, Method::ConfirmSelectOk)]
    );
    ch
}

fn publish_n(eng: &mut Engine, b: &mut FakeBroker, ch: u16, n: u64) {
    for i in 1..=n {
        let seq = eng
            .publish(ch, "", "q", true, false, &BasicProperties::default(), b"m")
            .unwrap();
        assert_eq!(seq, Some(i));
    }
    b.recv(eng);
    for _ in 0..n * 3 {
        b.expect_frame(eng);
    }
}

fn ack(tag: u64, multiple: bool) -> Method {
    Method::BasicAck(BasicAck {
        delivery_tag: tag,
        multiple,
    })
}

fn confirm(channel: u16, seq: u64, acked: bool) -> Event {
    Event::Confirm {
        channel,
        seq,
        acked,
    }
}

#[test]
fn confirm_mode_numbers_publishes_from_one() {
    let (mut eng, mut b) = connected();
    let plain = open_channel(&mut eng, &mut b);
    let ch = confirm_channel(&mut eng, &mut b);
    for want in 1..=5 {
        let seq = eng.publish(ch, "", "q", false, false, &BasicProperties::default(), b"x");
        assert_eq!(seq, Ok(Some(want)));
    }
    // Per channel: the other channel is not in confirm mode.
    let seq = eng.publish(
        plain,
        "",
        "q",
        false,
        false,
        &BasicProperties::default(),
        b"x",
    );
    assert_eq!(seq, Ok(None));
}

#[test]
fn publishes_pipelined_behind_confirm_select_are_numbered() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    eng.call(ch, Method::ConfirmSelect(ConfirmSelect { nowait: false }))
        .unwrap();
    let seq = eng.publish(ch, "", "q", false, false, &BasicProperties::default(), b"x");
    assert_eq!(
        seq,
        Ok(Some(1)),
        "the broker counts from confirm.select, not select-ok"
    );
}

#[test]
fn ack_multiple_confirms_every_earlier_sequence_in_order() {
    let (mut eng, mut b) = connected();
    let ch = confirm_channel(&mut eng, &mut b);
    publish_n(&mut eng, &mut b, ch, 4);
    b.send(&mut eng, ch, &ack(3, true));
    assert_eq!(
        drain_events(&mut eng),
        vec![
            confirm(ch, 1, true),
            confirm(ch, 2, true),
            confirm(ch, 3, true)
        ]
    );
    b.send(&mut eng, ch, &ack(4, false));
    assert_eq!(drain_events(&mut eng), vec![confirm(ch, 4, true)]);
    // A duplicate ack confirms nothing twice.
    b.send(&mut eng, ch, &ack(4, true));
    assert!(drain_events(&mut eng).is_empty());
}

#[test]
fn nack_single_settles_only_that_sequence() {
    let (mut eng, mut b) = connected();
    let ch = confirm_channel(&mut eng, &mut b);
    publish_n(&mut eng, &mut b, ch, 3);
    let nack = Method::BasicNack(BasicNack {
        delivery_tag: 2,
        multiple: false,
        requeue: false,
    });
    b.send(&mut eng, ch, &nack);
    assert_eq!(drain_events(&mut eng), vec![confirm(ch, 2, false)]);
    b.send(&mut eng, ch, &ack(3, true));
    assert_eq!(
        drain_events(&mut eng),
        vec![confirm(ch, 1, true), confirm(ch, 3, true)]
    );
}

#[test]
fn basic_return_is_emitted_before_the_confirm() {
    let (mut eng, mut b) = connected();
    let ch = confirm_channel(&mut eng, &mut b);
    publish_n(&mut eng, &mut b, ch, 1);
    let ret = Method::BasicReturn(BasicReturn {
        reply_code: 312,
        reply_text: "NO_ROUTE".into(),
        exchange: "".into(),
        routing_key: "q".into(),
    });
    let mut bytes = content_bytes(ch, &ret, &BasicProperties::default(), b"m", 131_072);
    bytes.extend(method_bytes(ch, &ack(1, false)));
    b.send_raw(&mut eng, &bytes);
    let events = drain_events(&mut eng);
    match events.as_slice() {
        [Event::Return(r), c] => {
            assert_eq!(r.reply_code, ReplyCode::NO_ROUTE);
            assert_eq!(r.routing_key, "q");
            assert_eq!(&r.body[..], b"m");
            assert_eq!(*c, confirm(ch, 1, true));
        }
        other => panic!("expected Return then Confirm, got {other:?}"),
    }
}

// ============================================================================= server-initiated

#[test]
fn channel_close_from_broker_fails_that_channel_only() {
    let (mut eng, mut b) = connected();
    let c1 = open_channel(&mut eng, &mut b);
    let c2 = open_channel(&mut eng, &mut b);
    let passive = Method::QueueDeclare(QueueDeclare {
        queue: "missing".into(),
        passive: true,
        ..Default::default()
    });
    let r1 = eng.call(c1, passive).unwrap();
    let r2 = eng.call(c2, queue_declare("other")).unwrap();
    b.recv(&mut eng);
    b.expect_method(&mut eng);
    b.expect_method(&mut eng);

    let close = ChannelClose {
        reply_code: 404,
        reply_text: "NOT_FOUND - no queue 'missing' in vhost '/'".into(),
        class_id: 50,
        method_id: 10,
    };
    b.send(&mut eng, c1, &Method::ChannelClose(close));
    assert_eq!(b.expect_method(&mut eng), (c1, Method::ChannelCloseOk));
    b.expect_nothing(&mut eng);
    let err = Error::ChannelClosed(close_info(
        404,
        "NOT_FOUND - no queue 'missing' in vhost '/'",
        50,
        10,
    ));
    assert_eq!(
        drain_events(&mut eng),
        vec![
            Event::Reply {
                req: r1,
                result: Err(err.clone())
            },
            Event::ChannelClosed {
                channel: c1,
                error: Some(err)
            }
        ]
    );
    assert!(eng.is_open());
    assert!(!eng.channel_is_open(c1));
    assert_eq!(
        eng.call(c1, queue_declare("x")),
        Err(Error::NotOpen("channel"))
    );

    // The other channel's pending call is untouched and still completes.
    b.send(&mut eng, c2, &declare_ok("other", 0));
    assert_eq!(
        drain_events(&mut eng),
        vec![ok_reply(r2, declare_ok("other", 0))]
    );
    assert!(eng.channel_is_open(c2));
}

#[test]
fn connection_close_from_broker_fails_everything() {
    let (mut eng, mut b) = connected();
    let c1 = open_channel(&mut eng, &mut b);
    let c2 = open_channel(&mut eng, &mut b);
    let r1 = eng.call(c1, queue_declare("a")).unwrap();
    let r2 = eng.call(c2, queue_declare("b")).unwrap();
    let r3 = eng.call(c2, queue_declare("c")).unwrap();
    let (c3, r4) = eng.open_channel(None).unwrap();
    b.recv(&mut eng);
    for _ in 0..4 {
        b.expect_method(&mut eng);
    }
    let close = ConnectionClose {
        reply_code: 320,
        reply_text: "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"
            .into(),
        class_id: 0,
        method_id: 0,
    };
    b.send(&mut eng, 0, &Method::ConnectionClose(close.clone()));
    assert_eq!(b.expect_method(&mut eng), (0, Method::ConnectionCloseOk));
    let err = Error::ConnectionClosed(close_info(320, &close.reply_text, 0, 0));
    let events = drain_events(&mut eng);
    assert_eq!(closed_error(&events), Some(err.clone()));
    for req in [r1, r2, r3, r4] {
        let n = events
            .iter()
            .filter(|e| matches!(e, Event::Reply { req: r, .. } if *r == req))
            .count();
        assert_eq!(n, 1, "req {req} must be answered exactly once: {events:?}");
        assert!(events.contains(&Event::Reply {
            req,
            result: Err(err.clone())
        }));
    }
    for ch in [c1, c2, c3] {
        assert!(events.contains(&Event::ChannelClosed {
            channel: ch,
            error: Some(err.clone())
        }));
    }
    assert_eq!(events.len(), 4 + 3 + 1);
    assert!(eng.is_closed());
    assert_eq!(eng.poll_timeout(), None);

    // Later commands fail with the same error, and send nothing.
    assert_eq!(eng.open_channel(None), Err(err.clone()));
    assert_eq!(eng.call(c1, queue_declare("z")), Err(err.clone()));
    assert_eq!(
        eng.publish(c1, "", "q", false, false, &BasicProperties::default(), b"x"),
        Err(err.clone())
    );
    assert_eq!(eng.send(c1, &ack(1, false)), Err(err));
    // Bytes after the end are ignored.
    b.send(&mut eng, c1, &declare_ok("late", 0));
    assert!(drain_events(&mut eng).is_empty());
    b.expect_nothing(&mut eng);
}

#[test]
fn basic_cancel_from_broker() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    let cancel = |nowait| {
        Method::BasicCancel(BasicCancel {
            consumer_tag: "ctag-1".into(),
            nowait,
        })
    };
    b.send(&mut eng, ch, &cancel(false));
    assert_eq!(
        b.expect_method(&mut eng),
        (
            ch,
            Method::BasicCancelOk(BasicCancelOk {
                consumer_tag: "ctag-1".into()
            })
        )
    );
    let event = Event::ConsumerCancelled {
        channel: ch,
        consumer_tag: "ctag-1".into(),
    };
    assert_eq!(drain_events(&mut eng), vec![event.clone()]);
    // RabbitMQ sends it with nowait set: then no cancel-ok is due.
    b.send(&mut eng, ch, &cancel(true));
    b.expect_nothing(&mut eng);
    assert_eq!(drain_events(&mut eng), vec![event]);
    assert!(eng.channel_is_open(ch));
}

#[test]
fn channel_flow_from_broker() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    for active in [false, true] {
        b.send(&mut eng, ch, &Method::ChannelFlow(ChannelFlow { active }));
        assert_eq!(
            b.expect_method(&mut eng),
            (ch, Method::ChannelFlowOk(ChannelFlowOk { active }))
        );
        assert_eq!(
            drain_events(&mut eng),
            vec![Event::Flow {
                channel: ch,
                active
            }]
        );
    }
}

#[test]
fn connection_blocked_and_unblocked() {
    let (mut eng, mut b) = connected();
    b.send(
        &mut eng,
        0,
        &Method::ConnectionBlocked(ConnectionBlocked {
            reason: "low on memory".into(),
        }),
    );
    b.send(&mut eng, 0, &Method::ConnectionUnblocked);
    assert_eq!(
        drain_events(&mut eng),
        vec![
            Event::Blocked {
                reason: "low on memory".into()
            },
            Event::Unblocked
        ]
    );
    b.expect_nothing(&mut eng);
    assert!(eng.is_open());
}

// ================================================================================== client close

#[test]
fn client_close_waits_for_close_ok() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    eng.close(ReplyCode::SUCCESS, "goodbye", 0).unwrap();
    let close = b.expect_connection_close(&mut eng);
    assert_eq!(
        (close.reply_code, close.reply_text.as_str()),
        (200, "goodbye")
    );
    assert!(!eng.is_open());
    assert!(!eng.is_closed());
    assert!(drain_events(&mut eng).is_empty(), "closed before close-ok");
    // Closing twice sends nothing more; commands fail fast.
    eng.close(ReplyCode::SUCCESS, "again", 0).unwrap();
    b.expect_nothing(&mut eng);
    assert_eq!(eng.open_channel(None), Err(Error::NotOpen("connection")));

    b.send(&mut eng, 0, &Method::ConnectionCloseOk);
    let events = drain_events(&mut eng);
    assert_eq!(closed_error(&events), None);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::ChannelClosed { channel, .. } if *channel == ch)));
    assert!(eng.is_closed());
}

#[test]
fn transport_closed_while_closing_counts_as_clean() {
    let (mut eng, mut b) = connected();
    eng.close(ReplyCode::SUCCESS, "bye", 0).unwrap();
    b.expect_connection_close(&mut eng);
    eng.handle_transport_closed(TransportError::ClosedByPeer);
    assert_eq!(closed_error(&drain_events(&mut eng)), None);
}

#[test]
fn transport_closed_when_open_is_connection_lost() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    let req = eng.call(ch, queue_declare("q")).unwrap();
    eng.handle_transport_closed(TransportError::Reset("socket error".into()));
    let events = drain_events(&mut eng);
    let err = Error::ConnectionLost {
        cause: TransportError::Reset("socket error".into()),
        handshake: false,
    };
    assert_eq!(closed_error(&events), Some(err.clone()));
    assert!(events.contains(&Event::Reply {
        req,
        result: Err(err)
    }));
}

#[test]
fn close_channel_round_trip() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    let req = eng.close_channel(ch).unwrap();
    match b.expect_method(&mut eng) {
        (c, Method::ChannelClose(close)) if c == ch => assert_eq!(close.reply_code, 200),
        other => panic!("expected channel.close, got {other:?}"),
    }
    assert!(!eng.channel_is_open(ch));
    // Commands on a closing channel fail fast and send nothing.
    assert_eq!(
        eng.call(ch, queue_declare("q")),
        Err(Error::NotOpen("channel"))
    );
    assert_eq!(
        eng.publish(ch, "", "q", false, false, &BasicProperties::default(), b"x"),
        Err(Error::NotOpen("channel"))
    );
    assert_eq!(eng.send(ch, &ack(1, false)), Err(Error::NotOpen("channel")));
    assert_eq!(eng.close_channel(ch), Err(Error::NotOpen("channel")));
    b.expect_nothing(&mut eng);

    b.send(&mut eng, ch, &Method::ChannelCloseOk);
    assert_eq!(
        drain_events(&mut eng),
        vec![
            ok_reply(req, Method::ChannelCloseOk),
            Event::ChannelClosed {
                channel: ch,
                error: None
            }
        ]
    );
    assert!(eng.is_open());
}

#[test]
fn deliveries_in_flight_after_channel_close_are_discarded() {
    // The broker may have deliveries on the wire when our channel.close reaches it.
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    let other = open_channel(&mut eng, &mut b);
    let req = eng.close_channel(ch).unwrap();
    b.expect_method(&mut eng);
    b.deliver(
        &mut eng,
        ch,
        1,
        b"late",
        &BasicProperties::default(),
        131_072,
    );
    b.deliver(&mut eng, ch, 2, b"", &BasicProperties::default(), 131_072);
    b.send(&mut eng, ch, &ack(1, false));
    b.send(&mut eng, ch, &Method::ChannelCloseOk);
    assert_eq!(
        drain_events(&mut eng),
        vec![
            ok_reply(req, Method::ChannelCloseOk),
            Event::ChannelClosed {
                channel: ch,
                error: None
            }
        ]
    );
    assert!(
        eng.is_open(),
        "in-flight content on a closing channel is not a protocol error"
    );
    b.expect_nothing(&mut eng);
    assert!(eng.channel_is_open(other));
}

#[test]
fn channel_close_crossing_ours_keeps_the_connection() {
    // We send channel.close while the broker sends its own (e.g. 406). Per the spec both sides
    // answer the other's close with close-ok, so the broker's close-ok still follows.
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    let req = eng.close_channel(ch).unwrap();
    b.expect_method(&mut eng);
    let close = ChannelClose {
        reply_code: 406,
        reply_text: "PRECONDITION_FAILED - unknown delivery tag 9".into(),
        class_id: 60,
        method_id: 80,
    };
    b.send(&mut eng, ch, &Method::ChannelClose(close.clone()));
    assert_eq!(b.expect_method(&mut eng), (ch, Method::ChannelCloseOk));
    // The id stays reserved until the broker's close-ok, so it cannot be handed out again.
    let (next, _) = eng.open_channel(None).unwrap();
    assert_ne!(next, ch);
    b.expect_method(&mut eng);
    b.send(&mut eng, ch, &Method::ChannelCloseOk);
    assert!(
        eng.is_open(),
        "the broker's close-ok is not a protocol error"
    );
    b.expect_nothing(&mut eng);
    let err = Error::ChannelClosed(close_info(406, &close.reply_text, 60, 80));
    let events = drain_events(&mut eng);
    assert_eq!(
        events,
        vec![
            Event::Reply {
                req,
                result: Err(err.clone())
            },
            Event::ChannelClosed {
                channel: ch,
                error: Some(err)
            }
        ]
    );
    assert_eq!(eng.open_channel(None).unwrap().0, ch);
}

// ==================================================================================== heartbeats

const T0: Millis = 1_000_000;

fn heartbeat_config(hb: Option<u16>) -> Config {
    Config {
        heartbeat: hb,
        ..config()
    }
}

/// Connected with a 2 s heartbeat proposed by the broker (config `None` takes it); timers not armed yet.
fn heartbeat_connected() -> (Engine, FakeBroker) {
    let tune = Tune {
        heartbeat: 2,
        ..Tune::default()
    };
    let (eng, b, hs) = connected_with(heartbeat_config(None), tune);
    assert_eq!(hs.tune_ok.heartbeat, 2);
    assert_eq!(eng.heartbeat(), 2);
    (eng, b)
}

/// Fires the first deadline (due at once after the handshake) at `T0`: the virtual clock starts.
fn arm(eng: &mut Engine) {
    let first = eng
        .poll_timeout()
        .expect("a deadline once heartbeats are negotiated");
    assert!(first <= T0);
    eng.handle_timeout(T0);
}

fn heartbeat_pair() -> (Engine, FakeBroker) {
    let (mut eng, b) = heartbeat_connected();
    arm(&mut eng);
    (eng, b)
}

const HEARTBEAT_FRAME: [u8; 8] = [8, 0, 0, 0, 0, 0, 0, 0xCE];

/// Advances the virtual clock to the engine's next deadline and fires it.
fn fire_next(eng: &mut Engine, now: &mut Millis) {
    let at = eng.poll_timeout().expect("a pending deadline");
    assert!(
        at > *now,
        "deadline {at} not after now {now}: the engine would spin"
    );
    *now = at;
    eng.handle_timeout(at);
}

#[test]
fn heartbeat_sent_after_half_an_idle_interval() {
    let (mut eng, mut b) = heartbeat_pair();
    b.expect_nothing(&mut eng);
    let mut now = T0;
    loop {
        fire_next(&mut eng, &mut now);
        assert!(now <= T0 + 1000, "no heartbeat within interval/2");
        if let Some(raw) = b.recv(&mut eng) {
            assert_eq!(raw, HEARTBEAT_FRAME);
            break;
        }
    }
    assert!(now >= T0 + 500, "heartbeat too early, at +{} ms", now - T0);
    assert_eq!(b.expect_frame(&mut eng), Frame::Heartbeat);
    assert!(drain_events(&mut eng).is_empty());
}

#[test]
fn outgoing_traffic_postpones_the_heartbeat() {
    let (mut eng, mut b) = heartbeat_pair();
    let first = eng.poll_timeout().unwrap();
    assert!(first <= T0 + 1000);
    // Something goes out just before the deadline: no heartbeat is needed then.
    eng.open_channel(None).unwrap();
    b.expect_method(&mut eng);
    let mut now = T0;
    fire_next(&mut eng, &mut now);
    assert_eq!(now, first);
    b.expect_nothing(&mut eng);
    // And the next idle deadline does send one.
    loop {
        fire_next(&mut eng, &mut now);
        assert!(
            now <= T0 + 2000,
            "no heartbeat after the postponed deadline"
        );
        if let Some(raw) = b.recv(&mut eng) {
            assert_eq!(raw, HEARTBEAT_FRAME);
            break;
        }
    }
}

#[test]
fn silent_broker_is_declared_lost_after_two_intervals() {
    let (mut eng, mut b) = heartbeat_connected();
    let ch = open_channel(&mut eng, &mut b);
    let req = eng.call(ch, queue_declare("q")).unwrap();
    b.expect_method(&mut eng);
    // The last byte from the broker arrived just now, at T0.
    arm(&mut eng);
    let mut now = T0;
    let mut heartbeats = 0;
    let events = loop {
        fire_next(&mut eng, &mut now);
        while let Some(raw) = b.recv(&mut eng) {
            assert_eq!(raw, HEARTBEAT_FRAME);
            heartbeats += 1;
        }
        let events = drain_events(&mut eng);
        if !events.is_empty() {
            break events;
        }
        assert!(now < T0 + 10_000, "silent broker never detected");
    };
    let silent_for = now - T0;
    assert!(
        (4000..=5000).contains(&silent_for),
        "declared lost after {silent_for} ms, want about 2 intervals (4000 ms)"
    );
    assert!(
        heartbeats >= 1,
        "the engine kept sending heartbeats meanwhile"
    );
    match closed_error(&events) {
        Some(Error::ConnectionLost {
            cause: TransportError::Timeout(why),
            handshake: false,
        }) => assert!(why.contains("heartbeat"), "{why}"),
        other => panic!("expected ConnectionLost, got {other:?}"),
    }
    assert!(events.iter().any(
        |e| matches!(e, Event::Reply { req: r, result: Err(Error::ConnectionLost { .. }) } if *r == req)
    ));
    assert!(eng.is_closed());
    assert_eq!(eng.poll_timeout(), None);
}

#[test]
fn broker_heartbeats_keep_the_connection_alive() {
    let (mut eng, mut b) = heartbeat_pair();
    let mut now = T0;
    let mut next_broker = T0 + 2000;
    let mut sent_at = vec![T0];
    while now < T0 + 60_000 {
        let deadline = eng.poll_timeout().expect("timers stay armed while open");
        assert!(deadline > now);
        now = deadline.min(next_broker);
        if now == next_broker {
            b.heartbeat(&mut eng);
            next_broker += 2000;
        }
        if now == deadline {
            eng.handle_timeout(now);
        }
        while let Some(raw) = b.recv(&mut eng) {
            assert_eq!(raw, HEARTBEAT_FRAME);
            sent_at.push(now);
        }
        let events = drain_events(&mut eng);
        assert!(events.is_empty(), "at +{} ms: {events:?}", now - T0);
    }
    assert!(eng.is_open());
    let max_gap = sent_at.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        max_gap <= 2000,
        "the engine went {max_gap} ms without sending anything (interval 2000 ms)"
    );
    assert!(
        sent_at.len() >= 25,
        "only {} heartbeats in 60 s",
        sent_at.len() - 1
    );
}

#[test]
fn heartbeat_some_zero_disables_timers() {
    let tune = Tune {
        heartbeat: 60,
        ..Tune::default()
    };
    let (mut eng, mut b, hs) = connected_with(heartbeat_config(Some(0)), tune);
    assert_eq!(hs.tune_ok.heartbeat, 0);
    assert_eq!(eng.poll_timeout(), None);
    eng.handle_timeout(T0 + 1_000_000);
    b.expect_nothing(&mut eng);
    assert!(eng.is_open());
}

// ============================================================================= malformed input

#[test]
fn garbage_bytes_close_the_connection_with_a_frame_error() {
    // An HTTP server answering our protocol header, a bogus frame type after the handshake.
    for (handshake, garbage) in [
        (false, &b"HTTP/1.1 400 Bad Request\r\n\r\n"[..]),
        (true, &[9u8, 0, 0, 0, 0, 0, 0, 0xCE][..]),
        (true, &[0xFFu8; 64][..]),
    ] {
        let mut eng = Engine::new(config(), 0);
        let mut b = FakeBroker::new();
        if handshake {
            b.handshake(&mut eng);
        } else {
            b.recv(&mut eng);
        }
        b.send_raw(&mut eng, garbage);
        let events = drain_events(&mut eng);
        let code = closed_code(&events);
        assert!(code == 501 || code == 502, "code {code} for {garbage:?}");
        assert_eq!(b.expect_connection_close(&mut eng).reply_code, code);
        assert!(eng.is_closed());
    }
}

#[test]
fn bad_frame_end_is_a_frame_error() {
    let (mut eng, mut b) = connected();
    let mut bytes = method_bytes(0, &Method::ConnectionUnblocked);
    *bytes.last_mut().unwrap() = 0x00;
    b.send_raw(&mut eng, &bytes);
    assert_eq!(closed_code(&drain_events(&mut eng)), 501);
    assert_eq!(b.expect_connection_close(&mut eng).reply_code, 501);
}

#[test]
fn truncated_method_arguments_are_a_syntax_error() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    eng.call(ch, queue_declare("q")).unwrap();
    b.expect_method(&mut eng);
    // queue.declare-ok (50, 11) with no arguments at all.
    let bytes = [1, 0, ch as u8, 0, 0, 0, 4, 0, 50, 0, 11, 0xCE];
    b.send_raw(&mut eng, &bytes);
    let events = drain_events(&mut eng);
    assert_eq!(closed_code(&events), 502);
    assert_eq!(b.expect_connection_close(&mut eng).reply_code, 502);
}

#[test]
fn oversized_frame_is_rejected_from_its_header() {
    let tune = Tune {
        frame_max: 4096,
        ..Tune::default()
    };
    let (mut eng, mut b, _) = connected_with(config(), tune);
    let ch = open_channel(&mut eng, &mut b);
    // Only the 7-byte header of a 1 MB body frame: no need to wait for (or buffer) the rest.
    let mut header = vec![3, 0, ch as u8];
    header.extend_from_slice(&(1u32 << 20).to_be_bytes());
    b.send_raw(&mut eng, &header);
    assert_eq!(closed_code(&drain_events(&mut eng)), 501);
    assert_eq!(b.expect_connection_close(&mut eng).reply_code, 501);
}

#[test]
fn method_on_unknown_channel_is_channel_error() {
    let (mut eng, mut b) = connected();
    open_channel(&mut eng, &mut b);
    b.send(&mut eng, 9, &declare_ok("q", 0));
    assert_eq!(closed_code(&drain_events(&mut eng)), 504);
    assert_eq!(b.expect_connection_close(&mut eng).reply_code, 504);
    assert!(eng.is_closed());
}

#[test]
fn channel_method_during_handshake_is_unexpected() {
    let mut eng = Engine::new(config(), 0);
    let mut b = FakeBroker::new();
    b.start(&mut eng);
    b.send(&mut eng, 1, &deliver_method(1));
    assert_eq!(closed_code(&drain_events(&mut eng)), 505);
}

/// xorshift64*: deterministic pseudo-random bytes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Valid traffic to mutate: a delivery, a reply, confirms, a close.
    let mut valid = content_bytes(
        1,
        &deliver_method(1),
        &rich_properties(),
        &patterned(300),
        4096,
    );
    valid.extend(method_bytes(1, &declare_ok("q", 3)));
    valid.extend(method_bytes(1, &ack(1, true)));
    valid.extend(method_bytes(
        0,
        &Method::ConnectionBlocked(ConnectionBlocked { reason: "x".into() }),
    ));
    for round in 0..400 {
        let (mut eng, mut b) = connected();
        let ch = open_channel(&mut eng, &mut b);
        eng.call(ch, queue_declare("q")).unwrap();
        eng.call(ch, Method::ConfirmSelect(ConfirmSelect { nowait: true }))
            .unwrap();
        let _ = eng.publish(ch, "", "q", false, false, &BasicProperties::default(), b"x");
        drain_events(&mut eng);
        let input: Vec<u8> = if round % 2 == 0 {
            let mut v = valid.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            v
        } else {
            (0..rng.below(200)).map(|_| rng.next() as u8).collect()
        };
        let mut rest = &input[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len().min(64));
            eng.handle_bytes(&rest[..n]);
            rest = &rest[n..];
        }
        let events = drain_events(&mut eng);
        if eng.is_closed() {
            match closed_error(&events) {
                Some(Error::ConnectionClosed(info)) => {
                    assert!(info.code.is_hard_error(), "round {round}: {info:?}")
                }
                Some(Error::ConnectionLost { .. }) => {}
                other => panic!("round {round}: closed with {other:?}"),
            }
        }
        // Whatever was queued for the broker still decodes.
        while b.recv(&mut eng).is_some() {}
    }
}

// ======================================================================================= secrets

const SECRET: &str = "hunter2-S3cr3t!";

#[test]
fn config_debug_redacts_the_password() {
    let cfg = Config {
        password: SECRET.into(),
        ..config()
    };
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains(SECRET), "{dbg}");
    assert!(dbg.contains(USER), "the rest is still useful: {dbg}");
    let eng = Engine::new(cfg, 0);
    assert!(!format!("{eng:?}").contains(SECRET));
}

#[test]
fn handshake_failures_never_show_the_password() {
    let mut texts = Vec::new();
    for scenario in 0..6 {
        let mech = if scenario % 2 == 0 {
            AuthMechanism::Plain
        } else {
            AuthMechanism::AmqPlain
        };
        let cfg = Config {
            password: SECRET.into(),
            auth_mechanism: mech,
            ..config()
        };
        let mut eng = Engine::new(cfg, 0);
        let mut b = FakeBroker::new();
        match scenario {
            0 | 1 => {
                b.mechanisms = "EXTERNAL";
                b.send_start(&mut eng);
            }
            2 | 3 => {
                b.start(&mut eng);
                let close = ConnectionClose {
                    reply_code: 403,
                    reply_text: "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.".into(),
                    class_id: 0,
                    method_id: 0,
                };
                b.send(&mut eng, 0, &Method::ConnectionClose(close));
            }
            _ => {
                b.start(&mut eng);
                // A secure challenge is answered, then the broker hangs up.
                b.send(
                    &mut eng,
                    0,
                    &Method::ConnectionSecure(ConnectionSecure::default()),
                );
                eng.handle_transport_closed(TransportError::Reset(
                    "connection reset by peer".into(),
                ));
            }
        }
        let events = drain_events(&mut eng);
        let err = closed_error(&events).expect("an error");
        texts.push(format!("{err}"));
        texts.push(format!("{err:?}"));
        texts.push(format!("{events:?}"));
        if let Some(info) = err.close_info() {
            texts.push(info.to_string());
        }
    }
    for t in &texts {
        assert!(!t.contains(SECRET), "password leaked: {t}");
    }
}
