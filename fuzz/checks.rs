//! The properties each fuzz target checks, one function per target. Shared by the libFuzzer
//! binaries (`fuzz/fuzz_targets/*.rs`, `#[path]`-included) and by the corpus replay test of the
//! main crate (`tests/fuzz_corpus.rs`, which includes this file too), so every committed corpus
//! input is re-checked by plain `cargo test` without libFuzzer. Only warren's public codec and
//! engine API is used. A violated property panics (libFuzzer records the input as a crash).
#![allow(dead_code)]

use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use warren::engine::{Config, Engine, Error, Event, ReqId};
use warren::protocol::codec::Reader;
use warren::protocol::*;

/// A tiny deterministic PRNG (xorshift64*) seeded from the input, for chunk sizes and clocks.
struct Rng(u64);

impl Rng {
    fn seeded(data: &[u8]) -> Rng {
        let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
        for &b in data.iter().take(16) {
            h = (h ^ b as u64).wrapping_mul(0x1000_0000_01B3);
        }
        Rng(h | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// An error a re-encode of decoded input may legitimately give: values warren decodes but
/// never sends (an `L` above i64::MAX; a short string that grew past 255 bytes when invalid
/// UTF-8 was replaced by U+FFFD).
fn explained(e: &EncodeError) -> bool {
    matches!(
        e,
        EncodeError::Unrepresentable(_) | EncodeError::ShortStringTooLong { .. }
    )
}

/// Decoding every frame of `data` in one piece and in arbitrary chunks gives the same frames
/// and the same error; every method frame re-encodes to bytes that decode to the same method.
/// `data[0]` seeds the chunking, `data[1]` picks the frame_max (0 = none).
pub fn frame_decoder(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let max = match data[1] % 4 {
        0 => 0,
        1 => 4096,
        2 => 131_072,
        _ => 1 << 20,
    };
    let input = &data[2..];
    let whole = decode_all(input, max, &mut |_| input.len().max(1));
    let mut rng = Rng::seeded(data);
    let chunked = decode_all(input, max, &mut |left| 1 + rng.below(left.min(300)));
    if whole != chunked {
        // PartialEq says NaN != NaN (a header may carry one): compare what was decoded.
        assert_eq!(
            format!("{whole:?}"),
            format!("{chunked:?}"),
            "chunking changed the decoding"
        );
    }
    for frame in whole.0 {
        if let Frame::Method(ch, m) = frame {
            let mut out = Vec::new();
            match encode_method(&mut out, ch, &m) {
                Ok(()) => {
                    let mut dec = FrameDecoder::new();
                    dec.extend(&out);
                    let again = dec.next_frame().expect("re-encoded frame decodes");
                    let Some(Frame::Method(ch2, m2)) = again else {
                        panic!("re-encoded method frame decoded as {again:?}");
                    };
                    assert_eq!(ch2, ch);
                    let mut out2 = Vec::new();
                    encode_method(&mut out2, ch2, &m2).expect("encodes twice");
                    assert_eq!(out, out2, "{} does not round-trip", m.name());
                }
                Err(e) => assert!(explained(&e), "{}: {e}", m.name()),
            }
        }
    }
}

type Decoded = (Vec<Frame>, Option<DecodeError>);

fn decode_all(input: &[u8], max: u32, chunk: &mut dyn FnMut(usize) -> usize) -> Decoded {
    let mut dec = FrameDecoder::new();
    dec.set_max_frame(max);
    let mut frames = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let n = chunk(rest.len()).min(rest.len());
        dec.extend(&rest[..n]);
        rest = &rest[n..];
        loop {
            match dec.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
        // What the decoder holds is at most one frame under construction (bounded by the
        // frame_max when one is set), never a growing backlog of complete frames.
        if max != 0 {
            assert!(dec.buffered() <= max as usize + 7, "{}", dec.buffered());
        }
    }
    (frames, None)
}

/// A method payload that decodes re-encodes to bytes that decode again and re-encode to the
/// same bytes (decode → encode → decode is a fixpoint after one pass).
pub fn method_roundtrip(data: &[u8]) {
    let Ok(m) = Method::decode(Bytes::copy_from_slice(data)) else {
        return;
    };
    let mut once = Vec::new();
    if let Err(e) = m.encode(&mut once) {
        assert!(explained(&e), "{}: {e}", m.name());
        return;
    }
    let again = Method::decode(Bytes::from(once.clone())).expect("re-encoded method decodes");
    assert_eq!(again.id(), m.id());
    let mut twice = Vec::new();
    again.encode(&mut twice).expect("encodes twice");
    assert_eq!(once, twice, "{} does not round-trip", m.name());
}

/// The same for a content header (class, body size and all 14 basic properties).
pub fn properties_roundtrip(data: &[u8]) {
    let Ok(h) = ContentHeader::decode(&mut Reader::new(data)) else {
        return;
    };
    let mut once = Vec::new();
    if let Err(e) = h.encode(&mut once) {
        assert!(explained(&e), "{e}");
        return;
    }
    let again = ContentHeader::decode(&mut Reader::new(&once)).expect("re-encoded header decodes");
    assert_eq!(again.body_size, h.body_size);
    assert_eq!(again.properties.flags(), h.properties.flags());
    let mut twice = Vec::new();
    again.encode(&mut twice).expect("encodes twice");
    assert_eq!(once, twice, "content header does not round-trip");
}

/// The same for a field table (every value type, nesting bounded by MAX_NESTING).
pub fn table_roundtrip(data: &[u8]) {
    let mut r = Reader::new(data);
    let Ok(t) = FieldTable::decode(&mut r) else {
        return;
    };
    let mut once = Vec::new();
    if let Err(e) = t.encode(&mut once) {
        assert!(explained(&e), "{e}");
        return;
    }
    let mut r2 = Reader::new(&once);
    let again = FieldTable::decode(&mut r2).expect("re-encoded table decodes");
    assert_eq!(r2.remaining(), 0);
    assert_eq!(again.len(), t.len());
    let mut twice = Vec::new();
    again.encode(&mut twice).expect("encodes twice");
    assert_eq!(once, twice, "field table does not round-trip");
}

// ----- the engine -----

fn frame(channel: u16, m: &Method) -> Vec<u8> {
    let mut out = Vec::new();
    encode_method(&mut out, channel, m).expect("encode");
    out
}

/// What the tests learn from one engine: every event checked as it comes.
#[derive(Default)]
struct Watch {
    closed: bool,
    replies: HashSet<ReqId>,
    confirms: HashSet<(u16, u64)>,
    /// Confirms reported since the last look, in order.
    fresh: Vec<(u16, u64)>,
    channels_closed: Vec<u16>,
}

impl Watch {
    /// Drains events and output; checks that nothing follows Closed, that no reply or confirm
    /// comes twice, and that everything the engine sends is well-formed frames.
    fn drain(&mut self, eng: &mut Engine) {
        while let Some(ev) = eng.poll_event() {
            assert!(!self.closed, "event after Closed: {ev:?}");
            match ev {
                Event::Reply { req, .. } => {
                    assert!(self.replies.insert(req), "second reply for request {req}")
                }
                Event::Confirm { channel, seq, .. } => {
                    assert!(
                        self.confirms.insert((channel, seq)),
                        "second confirm {channel}/{seq}"
                    );
                    self.fresh.push((channel, seq));
                }
                Event::ChannelClosed { channel, .. } => {
                    // A reopened channel numbers its publishes from 1 again.
                    self.confirms.retain(|c| c.0 != channel);
                    self.channels_closed.push(channel)
                }
                Event::Closed { error } => {
                    self.closed = true;
                    if let Some(Error::ConnectionClosed(info)) = &error {
                        // A protocol violation we detected, or the peer's close: both end
                        // the connection; ours always carry a hard-error code.
                        let _ = info.code.is_hard_error();
                    }
                }
                _ => {}
            }
        }
        while let Some(out) = eng.poll_transmit() {
            let mut dec = FrameDecoder::new();
            let body = out.strip_prefix(&PROTOCOL_HEADER[..]).unwrap_or(&out);
            dec.extend(body);
            loop {
                match dec.next_frame() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => panic!("the engine sent a malformed frame: {e}"),
                }
            }
            assert_eq!(dec.buffered(), 0, "the engine sent a partial frame");
        }
        if eng.is_closed() {
            assert_eq!(eng.poll_timeout(), None, "a timer survives the close");
        }
    }
}

/// A copy of [`handshake`]'s engine, made once per process (the handshake costs more than
/// most inputs), and a fresh watch that has seen what it saw.
fn handshaken(w: &mut Watch) -> (Engine, u64) {
    use std::sync::OnceLock;
    static READY: OnceLock<(Engine, u64, HashSet<ReqId>)> = OnceLock::new();
    let (eng, now, replies) = READY.get_or_init(|| {
        let mut w = Watch::default();
        let (eng, now) = handshake(&mut w);
        (eng, now, w.replies)
    });
    w.replies = replies.clone();
    (eng.clone(), *now)
}

/// An engine through a valid handshake (heartbeat 10 s, frame_max 4096, 1 s operation
/// deadline, 1 MiB max message size) with channel 1 open in confirm mode, two publishes
/// unconfirmed and one queue.declare pending.
fn handshake(w: &mut Watch) -> (Engine, u64) {
    let cfg = Config {
        heartbeat: Some(10),
        frame_max: 4096,
        operation_timeout: 1_000,
        max_message_size: 1 << 20,
        ..Config::default()
    };
    let mut now = 1_000;
    let mut eng = Engine::new(cfg, now);
    let start = ConnectionStart {
        version_major: 0,
        version_minor: 9,
        server_properties: FieldTable::new().with("product", "fuzz"),
        mechanisms: Bytes::from_static(b"PLAIN AMQPLAIN"),
        locales: Bytes::from_static(b"en_US"),
    };
    eng.handle_bytes(&frame(0, &Method::ConnectionStart(start)));
    let tune = ConnectionTune {
        channel_max: 16,
        frame_max: 4096,
        heartbeat: 10,
    };
    eng.handle_bytes(&frame(0, &Method::ConnectionTune(tune)));
    eng.handle_bytes(&frame(
        0,
        &Method::ConnectionOpenOk(ConnectionOpenOk::default()),
    ));
    w.drain(&mut eng);
    assert!(eng.is_open(), "handshake");
    let (ch, _) = eng.open_channel(Some(1)).expect("open channel");
    eng.handle_bytes(&frame(ch, &Method::ChannelOpenOk(ChannelOpenOk::default())));
    eng.call(ch, Method::ConfirmSelect(ConfirmSelect { nowait: true }))
        .expect("confirm.select");
    for _ in 0..2 {
        let props = BasicProperties::default();
        eng.publish(ch, "", "q", false, false, &props, b"hello")
            .expect("publish");
    }
    let declare = QueueDeclare {
        queue: "q".into(),
        ..Default::default()
    };
    eng.call(ch, Method::QueueDeclare(declare))
        .expect("declare");
    now += 1;
    eng.handle_timeout(now);
    w.drain(&mut eng);
    (eng, now)
}

/// Arbitrary bytes from the broker after a valid handshake, split anywhere, with time passing
/// in between: the engine never panics, never emits anything after Closed, never answers a
/// request or confirms a publish twice, only sends well-formed frames, and once the transport
/// ends it has failed every call still waiting.
pub fn engine_bytes(data: &[u8]) {
    let mut w = Watch::default();
    let (mut eng, mut now) = handshaken(&mut w);
    let mut rng = Rng::seeded(data);
    let mut rest = data;
    while !rest.is_empty() {
        let n = (1 + rng.below(rest.len().min(512))).min(rest.len());
        eng.handle_bytes(&rest[..n]);
        rest = &rest[n..];
        if rng.below(4) == 0 {
            now += rng.below(6_000) as u64;
            if eng.poll_timeout().is_some_and(|at| at <= now) {
                eng.handle_timeout(now);
            }
        }
        w.drain(&mut eng);
    }
    eng.handle_transport_closed(warren::engine::TransportError::ClosedByPeer);
    w.drain(&mut eng);
    assert!(w.closed, "the end of the transport closes the engine");
}

/// A scripted broker and application taking turns, one byte per step: publishes, acks and
/// nacks (single and multiple, for real and for made-up tags), calls and their replies,
/// channel opens and closes from either side, deliveries, blocked/unblocked, the clock, and
/// the end. Invariants, beyond those of [`engine_bytes`]: a confirm is only ever reported for
/// a sequence number that was published on that channel and not confirmed before; every
/// broker ack or nack of an outstanding publish is reported (no confirmed publish is lost);
/// every call gets exactly one reply by the end.
pub fn engine_ops(data: &[u8]) {
    let mut w = Watch::default();
    let (mut eng, mut now) = handshaken(&mut w);
    // Per channel: sequence numbers published and not yet settled, in order.
    let mut outstanding: HashMap<u16, Vec<u64>> = HashMap::from([(1, vec![1, 2])]);
    let mut next_seq: HashMap<u16, u64> = HashMap::from([(1, 3)]);
    let mut calls: HashSet<ReqId> = HashSet::new();
    let mut expected_confirms: HashSet<(u16, u64)> = HashSet::new();
    let mut delivery_tag = 0u64;
    // The channels the engine knows, and whether we are closing them: acks are settled on a
    // known channel that is not closing (after our channel.close only close-ok matters).
    let mut known: HashMap<u16, bool> = HashMap::from([(1, false)]);
    for (i, &op) in data.iter().enumerate() {
        if eng.is_closed() {
            break;
        }
        let arg = data.get(i + 1).copied().unwrap_or(0);
        let mut settled_now: Vec<(u16, u64)> = Vec::new();
        let ch: u16 = 1 + (arg % 3) as u16;
        match op % 16 {
            0 | 1 => {
                let props = BasicProperties::default();
                if let Ok(Some(seq)) = eng.publish(ch, "", "q", false, false, &props, &[arg; 3]) {
                    let expected = next_seq.entry(ch).or_insert(1);
                    assert_eq!(seq, *expected, "confirm sequence numbers are consecutive");
                    *expected += 1;
                    outstanding.entry(ch).or_default().push(seq);
                }
            }
            2 | 3 => {
                // The broker settles the oldest outstanding publish (or a made-up tag).
                let multiple = arg & 0x10 != 0;
                let list = outstanding.entry(ch).or_default();
                let tag = match list.first() {
                    Some(&first) if arg & 0x20 == 0 => first + (arg as u64 % 2),
                    _ => arg as u64 * 7 + 100,
                };
                if known.get(&ch) == Some(&false) {
                    let settled: Vec<u64> = if multiple {
                        list.iter().copied().filter(|&s| s <= tag).collect()
                    } else {
                        list.iter().copied().filter(|&s| s == tag).collect()
                    };
                    list.retain(|s| !settled.contains(s));
                    settled_now.extend(settled.iter().map(|&s| (ch, s)));
                }
                let m = if op % 16 == 2 {
                    Method::BasicAck(BasicAck {
                        delivery_tag: tag,
                        multiple,
                    })
                } else {
                    Method::BasicNack(BasicNack {
                        delivery_tag: tag,
                        multiple,
                        requeue: false,
                    })
                };
                eng.handle_bytes(&frame(ch, &m));
            }
            4 => {
                let m = Method::QueueDeclare(QueueDeclare {
                    queue: format!("q{arg}").into(),
                    ..Default::default()
                });
                if let Ok(req) = eng.call(ch, m) {
                    calls.insert(req);
                }
            }
            5 => {
                let ok = QueueDeclareOk {
                    queue: format!("q{arg}").into(),
                    message_count: 0,
                    consumer_count: 0,
                };
                eng.handle_bytes(&frame(ch, &Method::QueueDeclareOk(ok)));
            }
            6 => {
                if let Ok((id, req)) = eng.open_channel(Some(ch)) {
                    calls.insert(req);
                    known.insert(id, false);
                    outstanding.remove(&id);
                    next_seq.remove(&id);
                }
            }
            7 => eng.handle_bytes(&frame(ch, &Method::ChannelOpenOk(ChannelOpenOk::default()))),
            8 => {
                if let Ok(req) =
                    eng.call(ch, Method::ConfirmSelect(ConfirmSelect { nowait: false }))
                {
                    calls.insert(req);
                }
            }
            9 => eng.handle_bytes(&frame(ch, &Method::ConfirmSelectOk)),
            10 => {
                let close = ChannelClose {
                    reply_code: 406,
                    reply_text: "PRECONDITION_FAILED".into(),
                    class_id: 60,
                    method_id: 40,
                };
                eng.handle_bytes(&frame(ch, &Method::ChannelClose(close)));
            }
            11 => {
                if let Ok(req) = eng.close_channel(ch) {
                    calls.insert(req);
                    known.insert(ch, true);
                }
            }
            12 => eng.handle_bytes(&frame(ch, &Method::ChannelCloseOk)),
            13 => {
                delivery_tag += 1;
                let d = Method::BasicDeliver(BasicDeliver {
                    consumer_tag: "c".into(),
                    delivery_tag,
                    redelivered: false,
                    exchange: ShortStr::new(),
                    routing_key: "q".into(),
                });
                let mut out = Vec::new();
                let body = vec![arg; arg as usize * 40];
                encode_content(&mut out, ch, &d, &BasicProperties::default(), &body, 4096)
                    .expect("encode delivery");
                // Split anywhere: the engine reassembles.
                let cut = (arg as usize * 13) % out.len();
                eng.handle_bytes(&out[..cut]);
                eng.handle_bytes(&out[cut..]);
            }
            14 => {
                let m = if arg & 1 == 0 {
                    Method::ConnectionBlocked(ConnectionBlocked {
                        reason: "fuzz".into(),
                    })
                } else {
                    Method::ConnectionUnblocked
                };
                eng.handle_bytes(&frame(0, &m));
            }
            _ => {
                now += arg as u64 * 50;
                if eng.poll_timeout().is_some_and(|at| at <= now) {
                    eng.handle_timeout(now);
                }
                // The broker stays alive.
                let mut hb = Vec::new();
                encode_heartbeat(&mut hb);
                eng.handle_bytes(&hb);
            }
        }
        w.drain(&mut eng);
        // Channels that ended take their outstanding publishes with them (the router fails
        // their waiters on ChannelClosed; the engine forgets them).
        // Checked per step, against what this step did (linear in the input).
        expected_confirms.extend(settled_now.iter().copied());
        let fresh: HashSet<(u16, u64)> = w.fresh.drain(..).collect();
        for c in &fresh {
            assert!(
                expected_confirms.contains(c),
                "confirm {c:?} for a publish the broker did not settle"
            );
        }
        if !eng.is_closed() {
            for c in &settled_now {
                assert!(
                    fresh.contains(c),
                    "the broker settled {c:?}; no confirm was reported"
                );
            }
        }
        for id in w.channels_closed.drain(..) {
            known.remove(&id);
            outstanding.remove(&id);
            next_seq.remove(&id);
            expected_confirms.retain(|c| c.0 != id);
        }
    }
    eng.handle_transport_closed(warren::engine::TransportError::ClosedByPeer);
    w.drain(&mut eng);
    assert!(w.closed);
    for req in calls {
        assert!(w.replies.contains(&req), "call {req} never got a reply");
    }
}
