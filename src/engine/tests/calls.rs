// Test-only: engine/mod.rs declares the tests module under #[cfg(test)].
//! Synchronous calls: replies matched to requests, nowait, call vs send.

use super::*;

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
    // A method only servers send is refused in every build, with or without the encoders of
    // server methods (feature server-codec).
    match eng.send(ch, &deliver_method(1)) {
        Err(Error::InvalidArgument(why)) => {
            assert_eq!(why, "basic.deliver is sent only by servers")
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
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
