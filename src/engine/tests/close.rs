// Test-only: engine/mod.rs declares the tests module under #[cfg(test)].
//! Closing channels and the connection from our side.

use super::*;

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
