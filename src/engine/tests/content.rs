// Test-only: engine/mod.rs declares the tests module under #[cfg(test)].
//! Content assembly: deliveries and basic.get split across frames, and malformed content.

use super::*;

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
        consumer_tag: ShortStr::new(),
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
