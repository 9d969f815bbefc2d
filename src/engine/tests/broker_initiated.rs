// Test-only: engine/mod.rs declares the tests module under #[cfg(test)].
//! What the broker starts: channel and connection close, cancel, flow, blocked.

use super::*;

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
