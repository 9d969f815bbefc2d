// Test-only: engine/mod.rs declares the tests module under #[cfg(test)].
//! Malformed input: frame and syntax errors, unknown channels, fuzzed bytes.

use super::*;

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

#[test]
fn a_method_only_clients_send_is_command_invalid() {
    // The engine decodes only what servers send: basic.publish from the broker is refused from
    // its ids (503, as RabbitMQ answers a method it does not take), whatever its arguments.
    for (ch, m) in [
        (1, Method::BasicPublish(BasicPublish::default())),
        (0, Method::ConnectionStartOk(ConnectionStartOk::default())),
        (1, queue_declare("q")),
    ] {
        let (mut eng, mut b) = connected();
        open_channel(&mut eng, &mut b);
        b.send(&mut eng, ch, &m);
        let events = drain_events(&mut eng);
        match closed_error(&events) {
            Some(Error::ConnectionClosed(info)) => {
                assert_eq!(info.code, ReplyCode::COMMAND_INVALID);
                let id = m.id();
                let want = format!(
                    "malformed frame from peer: {} ({}.{}) is sent only by clients",
                    m.name(),
                    id.class,
                    id.method
                );
                assert_eq!(info.text, want);
            }
            other => panic!("{}: expected ConnectionClosed, got {other:?}", m.name()),
        }
        assert_eq!(b.expect_connection_close(&mut eng).reply_code, 503);
    }
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

#[test]
fn heartbeat_on_a_non_zero_channel_is_a_frame_error() {
    let (mut eng, mut b) = connected();
    open_channel(&mut eng, &mut b);
    b.send_raw(&mut eng, &[8, 0, 1, 0, 0, 0, 0, 0xCE]);
    let events = drain_events(&mut eng);
    assert_eq!(closed_code(&events), 501);
    let close = b.expect_connection_close(&mut eng);
    assert_eq!(close.reply_code, 501);
    assert!(
        close.reply_text.contains("heartbeat"),
        "{}",
        close.reply_text
    );
}

#[test]
fn a_body_above_max_message_size_is_refused_from_its_header() {
    let cfg = Config {
        max_message_size: 1 << 20,
        ..config()
    };
    let (mut eng, mut b, _) = connected_with(cfg, Tune::default());
    let ch = open_channel(&mut eng, &mut b);
    // A header announcing 2^62 bytes: refused before any body frame.
    b.send(&mut eng, ch, &deliver_method(1));
    let header = ContentHeader {
        class_id: 60,
        body_size: 1 << 62,
        properties: BasicProperties::default(),
    };
    let mut raw = Vec::new();
    let mut payload = Vec::new();
    header.encode(&mut payload).unwrap();
    raw.push(2);
    raw.extend_from_slice(&ch.to_be_bytes());
    raw.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    raw.extend_from_slice(&payload);
    raw.push(0xCE);
    b.send_raw(&mut eng, &raw);
    let events = drain_events(&mut eng);
    assert_eq!(closed_code(&events), 501);
    let close = b.expect_connection_close(&mut eng);
    assert!(
        close.reply_text.contains("max_message_size"),
        "{}",
        close.reply_text
    );
    // Exactly the limit is fine.
    let cfg = Config {
        max_message_size: 5000,
        ..config()
    };
    let (mut eng, mut b, _) = connected_with(cfg, Tune::default());
    let ch = open_channel(&mut eng, &mut b);
    b.deliver(
        &mut eng,
        ch,
        1,
        &patterned(5000),
        &BasicProperties::default(),
        4096,
    );
    assert!(matches!(drain_events(&mut eng)[..], [Event::Delivery(_)]));
    b.deliver(
        &mut eng,
        ch,
        2,
        &patterned(5001),
        &BasicProperties::default(),
        4096,
    );
    assert_eq!(closed_code(&drain_events(&mut eng)), 501);
}

#[test]
fn a_body_longer_than_its_header_is_refused_before_it_is_buffered() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    // deliver + a header declaring 10 bytes, then a body frame of 11.
    let mut raw = content_bytes(
        ch,
        &deliver_method(1),
        &BasicProperties::default(),
        &[7; 10],
        4096,
    );
    raw.truncate(raw.len() - (8 + 10));
    raw.extend_from_slice(&[3, 0, ch as u8, 0, 0, 0, 11]);
    raw.extend_from_slice(&[7; 11]);
    raw.push(0xCE);
    b.send_raw(&mut eng, &raw);
    let events = drain_events(&mut eng);
    assert_eq!(closed_code(&events), 505);
    let close = b.expect_connection_close(&mut eng);
    assert!(
        close.reply_text.contains("longer than its header"),
        "{}",
        close.reply_text
    );
}
