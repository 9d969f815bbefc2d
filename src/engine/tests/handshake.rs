// Test-only: engine/mod.rs declares the tests module under #[cfg(test)].
//! The opening handshake: start-ok, tune negotiation, open, and how it fails.

use super::*;

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
    let mut r = crate::protocol::codec::Reader::new(&framed);
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
        // A server proposing none gets DEFAULT_HEARTBEAT back unless we asked for 0.
        Case { ours: (0, 131_072, None), theirs: (2047, 131_072, 0), want: (2047, 131_072, DEFAULT_HEARTBEAT) },
        Case { ours: (0, 131_072, Some(0)), theirs: (2047, 131_072, 0), want: (2047, 131_072, 0) },
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

#[test]
fn peer_offering_another_protocol_is_refused_during_the_handshake() {
    let mut eng = Engine::new(config(), 0);
    let mut b = FakeBroker::new();
    b.recv(&mut eng);
    b.send_raw(&mut eng, b"AMQP\x01\x01\x00\x0A");
    let events = drain_events(&mut eng);
    match closed_error(&events) {
        Some(
            e @ Error::ConnectionLost {
                cause: TransportError::Refused(_),
                handshake: true,
            },
        ) => {
            let text = e.to_string();
            assert!(text.contains("refused"), "{text}");
            assert!(text.contains("handshake"), "{text}");
        }
        other => panic!("expected ConnectionLost(Refused), got {other:?}"),
    }
    assert!(eng.is_closed());
    assert_eq!(eng.poll_timeout(), None);
    b.expect_nothing(&mut eng);
}
