// Test-only: engine/mod.rs declares the tests module under #[cfg(test)].
//! Publisher confirms: sequence numbers, acks and nacks, returns.

use super::*;

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
