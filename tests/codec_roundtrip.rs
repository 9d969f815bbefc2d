#![cfg(not(target_arch = "wasm32"))]
//! Property tests: everything the codec encodes decodes back to the same value, however the bytes
//! are split or coalesced on the way.

mod support;

use bytes::Bytes;
use proptest::prelude::*;
use support::method_strategy::method;
use support::{field_table, field_value, field_value_with_u64, normalized, properties, short_str};
use warren::protocol::codec::Reader;
use warren::protocol::*;

/// Drains every complete frame; a decode error fails the test.
fn drain(dec: &mut FrameDecoder, into: &mut Vec<Frame>) {
    loop {
        match dec.next_frame() {
            Ok(Some(f)) => into.push(f),
            Ok(None) => return,
            Err(e) => panic!("decode error: {e:?}"),
        }
    }
}

fn decode_whole(bytes: &[u8]) -> Vec<Frame> {
    let mut dec = FrameDecoder::new();
    dec.extend(bytes);
    let mut frames = Vec::new();
    drain(&mut dec, &mut frames);
    assert_eq!(dec.buffered(), 0, "bytes left over");
    frames
}

/// Splits a buffer of whole frames into (type, channel, payload) without using the decoder.
fn raw_frames(mut bytes: &[u8]) -> Vec<(u8, u16, &[u8])> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let size = u32::from_be_bytes(bytes[3..7].try_into().unwrap()) as usize;
        assert_eq!(bytes[7 + size], 0xCE, "frame end");
        out.push((
            bytes[0],
            u16::from_be_bytes([bytes[1], bytes[2]]),
            &bytes[7..7 + size],
        ));
        bytes = &bytes[8 + size..];
    }
    out
}

/// The four methods that carry content, with arbitrary arguments.
fn content_method() -> BoxedStrategy<Method> {
    prop_oneof![
        (
            any::<u16>(),
            short_str(),
            short_str(),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(ticket, exchange, routing_key, mandatory, immediate)| {
                Method::BasicPublish(BasicPublish {
                    ticket,
                    exchange: exchange.into(),
                    routing_key: routing_key.into(),
                    mandatory,
                    immediate,
                })
            }),
        (
            short_str(),
            any::<u64>(),
            any::<bool>(),
            short_str(),
            short_str()
        )
            .prop_map(
                |(consumer_tag, delivery_tag, redelivered, exchange, routing_key)| {
                    Method::BasicDeliver(BasicDeliver {
                        consumer_tag: consumer_tag.into(),
                        delivery_tag,
                        redelivered,
                        exchange: exchange.into(),
                        routing_key: routing_key.into(),
                    })
                }
            ),
        (any::<u16>(), short_str(), short_str(), short_str()).prop_map(
            |(reply_code, reply_text, exchange, routing_key)| {
                Method::BasicReturn(BasicReturn {
                    reply_code,
                    reply_text: reply_text.into(),
                    exchange: exchange.into(),
                    routing_key: routing_key.into(),
                })
            }
        ),
        (
            any::<u64>(),
            any::<bool>(),
            short_str(),
            short_str(),
            any::<u32>()
        )
            .prop_map(
                |(delivery_tag, redelivered, exchange, routing_key, message_count)| {
                    Method::BasicGetOk(BasicGetOk {
                        delivery_tag,
                        redelivered,
                        exchange: exchange.into(),
                        routing_key: routing_key.into(),
                        message_count,
                    })
                }
            ),
    ]
    .boxed()
}

/// Mostly ordinary properties; sometimes headers of 0.5 to 12 KB, around the smallest frame_max.
fn message_properties() -> BoxedStrategy<BasicProperties> {
    let big = (
        properties(),
        proptest::collection::vec(
            (
                "[a-z]{1,8}",
                proptest::collection::vec(any::<u8>(), 100..600),
            ),
            5..20,
        ),
    )
        .prop_map(|(mut p, extra)| {
            let mut headers = p.headers.take().unwrap_or_default();
            for (k, v) in extra {
                if headers.get(&k).is_none() {
                    headers.0.push((k, FieldValue::LongString(v.into())));
                }
            }
            p.headers = Some(headers);
            p
        });
    prop_oneof![4 => properties(), 1 => big].boxed()
}

/// One item of a frame stream: a method, a whole message, or a heartbeat.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // test data, built once per case
enum Item {
    Method(u16, Method),
    Content(u16, Method, BasicProperties, Vec<u8>),
    Heartbeat,
}

fn item(max_body: usize) -> BoxedStrategy<Item> {
    prop_oneof![
        4 => (any::<u16>(), method()).prop_map(|(c, m)| Item::Method(c, m)),
        3 => (
            any::<u16>(),
            content_method(),
            properties(),
            proptest::collection::vec(any::<u8>(), 0..max_body)
        )
            .prop_map(|(c, m, p, b)| Item::Content(c, m, p, b)),
        1 => Just(Item::Heartbeat),
    ]
    .boxed()
}

/// Encodes a stream of items and returns the bytes plus the frames they should decode to.
/// Items whose content header would not fit in `frame_max` are skipped.
fn encode_items(items: &[Item], frame_max: u32) -> (Vec<u8>, Vec<Frame>) {
    let mut out = Vec::new();
    let mut expected = Vec::new();
    for item in items {
        match item {
            Item::Method(c, m) => {
                encode_method(&mut out, *c, m).unwrap();
                expected.push(Frame::Method(*c, m.clone()));
            }
            Item::Content(c, m, p, body) => {
                if encode_content(&mut out, *c, m, p, body, frame_max).is_err() {
                    continue;
                }
                expected.push(Frame::Method(*c, m.clone()));
                expected.push(Frame::Header(
                    *c,
                    Box::new(ContentHeader {
                        class_id: 60,
                        body_size: body.len() as u64,
                        properties: p.clone(),
                    }),
                ));
                for piece in body.chunks(frame_max as usize - 8) {
                    expected.push(Frame::Body(*c, Bytes::copy_from_slice(piece)));
                }
            }
            Item::Heartbeat => {
                encode_heartbeat(&mut out);
                expected.push(Frame::Heartbeat);
            }
        }
    }
    (out, expected)
}

/// Feeds `bytes` in chunks of the given sizes (cycled), draining frames after every chunk.
fn decode_chunked(bytes: &[u8], sizes: &[usize]) -> Vec<Frame> {
    let mut dec = FrameDecoder::new();
    let mut frames = Vec::new();
    let mut rest = bytes;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).clamp(1, rest.len());
        dec.extend(&rest[..n]);
        rest = &rest[n..];
        drain(&mut dec, &mut frames);
    }
    assert_eq!(dec.buffered(), 0, "bytes left over");
    frames
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every method, on any channel, survives encode_method → FrameDecoder, and re-encodes to the
    /// same bytes. Bytes already in the output buffer are kept.
    #[test]
    fn every_method_round_trips(channel in any::<u16>(), m in method(), prefix in proptest::collection::vec(any::<u8>(), 0..4)) {
        let mut out = prefix.clone();
        encode_method(&mut out, channel, &m).unwrap();
        prop_assert_eq!(&out[..prefix.len()], &prefix[..]);
        let frame = &out[prefix.len()..];
        prop_assert_eq!(frame[0], 1);
        prop_assert_eq!(u16::from_be_bytes([frame[1], frame[2]]), channel);
        let size = u32::from_be_bytes(frame[3..7].try_into().unwrap()) as usize;
        prop_assert_eq!(size + 8, frame.len());
        prop_assert_eq!(frame[frame.len() - 1], 0xCE);
        prop_assert_eq!(u16::from_be_bytes([frame[7], frame[8]]), m.class_id());
        prop_assert_eq!(u16::from_be_bytes([frame[9], frame[10]]), m.method_id());

        let frames = decode_whole(frame);
        prop_assert_eq!(&frames, &vec![Frame::Method(channel, m.clone())]);

        let mut again = Vec::new();
        encode_method(&mut again, channel, &m).unwrap();
        prop_assert_eq!(&again[..], frame);
    }

    /// Field tables, nested arbitrarily, decode to themselves and re-encode to the same bytes.
    #[test]
    fn field_tables_round_trip(t in field_table()) {
        let mut out = Vec::new();
        t.encode(&mut out).unwrap();
        let len = u32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
        prop_assert_eq!(len + 4, out.len());
        let mut r = Reader::new(&out);
        let back = FieldTable::decode(&mut r).unwrap();
        r.finish().unwrap();
        prop_assert_eq!(&back, &t);
        let mut again = Vec::new();
        back.encode(&mut again).unwrap();
        prop_assert_eq!(again, out);
    }

    /// A single value (not inside a table) round trips too.
    #[test]
    fn field_values_round_trip(v in field_value()) {
        let mut out = Vec::new();
        v.encode(&mut out).unwrap();
        let mut r = Reader::new(&out);
        prop_assert_eq!(FieldValue::decode(&mut r).unwrap(), v);
        prop_assert_eq!(r.remaining(), 0);
    }

    /// Documented conversion: `U64` is written as `l` and read back as `I64`, wherever it is nested.
    #[test]
    fn u64_comes_back_as_i64(v in field_value_with_u64()) {
        let mut out = Vec::new();
        v.encode(&mut out).unwrap();
        let mut r = Reader::new(&out);
        prop_assert_eq!(FieldValue::decode(&mut r).unwrap(), normalized(&v));
        prop_assert_eq!(r.remaining(), 0);
    }

    /// Documented conversion: a boolean octet other than 0 or 1 decodes as true.
    #[test]
    fn any_nonzero_bool_octet_is_true(b in any::<u8>()) {
        let bytes = Bytes::from(vec![b't', b]);
        let v = FieldValue::decode(&mut Reader::new(&bytes)).unwrap();
        prop_assert_eq!(v, FieldValue::Bool(b != 0));
    }

    /// Floats are carried bit for bit, NaN payloads and negative zero included.
    #[test]
    fn float_bits_round_trip(f in any::<u32>(), d in any::<u64>()) {
        let mut out = Vec::new();
        FieldValue::F32(f32::from_bits(f)).encode(&mut out).unwrap();
        FieldValue::F64(f64::from_bits(d)).encode(&mut out).unwrap();
        let mut r = Reader::new(&out);
        match FieldValue::decode(&mut r).unwrap() {
            FieldValue::F32(x) => prop_assert_eq!(x.to_bits(), f),
            other => prop_assert!(false, "expected F32, got {:?}", other),
        }
        match FieldValue::decode(&mut r).unwrap() {
            FieldValue::F64(x) => prop_assert_eq!(x.to_bits(), d),
            other => prop_assert!(false, "expected F64, got {:?}", other),
        }
    }

    /// Properties alone: flags say exactly which fields are present, and they round trip.
    #[test]
    fn properties_round_trip(p in properties()) {
        let mut out = Vec::new();
        p.encode(&mut out).unwrap();
        let flags = u16::from_be_bytes([out[0], out[1]]);
        prop_assert_eq!(flags, p.flags());
        prop_assert_eq!(flags & 0b11, 0);
        let present = [
            p.content_type.is_some(),
            p.content_encoding.is_some(),
            p.headers.is_some(),
            p.delivery_mode.is_some(),
            p.priority.is_some(),
            p.correlation_id.is_some(),
            p.reply_to.is_some(),
            p.expiration.is_some(),
            p.message_id.is_some(),
            p.timestamp.is_some(),
            p.kind.is_some(),
            p.user_id.is_some(),
            p.app_id.is_some(),
            p.cluster_id.is_some(),
        ];
        for (i, is) in present.iter().enumerate() {
            prop_assert_eq!(flags & (1 << (15 - i)) != 0, *is, "flag bit {} ", 15 - i);
        }
        let mut r = Reader::new(&out);
        prop_assert_eq!(BasicProperties::decode(&mut r).unwrap(), p);
        prop_assert_eq!(r.remaining(), 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// A message becomes method + header + body frames; the body frames concatenate to the body and
    /// no frame exceeds frame_max. A header too large for frame_max is refused, writing nothing.
    #[test]
    fn content_round_trips(
        channel in any::<u16>(),
        m in content_method(),
        p in message_properties(),
        body in proptest::collection::vec(any::<u8>(), 0..20000),
        frame_max in prop_oneof![Just(4096u32), 4096u32..8192, 4096u32..70000],
    ) {
        let mut out = vec![0xAA];
        let res = encode_content(&mut out, channel, &m, &p, &body, frame_max);

        let mut header = Vec::new();
        ContentHeader { class_id: 60, body_size: body.len() as u64, properties: p.clone() }
            .encode(&mut header)
            .unwrap();
        if header.len() + 8 > frame_max as usize {
            prop_assert!(matches!(res, Err(EncodeError::TooLong { .. })), "{:?}", res);
            prop_assert_eq!(out, vec![0xAA]);
            return Ok(());
        }
        res.unwrap();
        prop_assert_eq!(out[0], 0xAA);

        let raw = raw_frames(&out[1..]);
        for (kind, ch, payload) in &raw {
            prop_assert_eq!(*ch, channel);
            prop_assert!(payload.len() + 8 <= frame_max as usize, "frame of {} > {}", payload.len() + 8, frame_max);
            prop_assert!(matches!(kind, 1..=3));
        }
        prop_assert_eq!(raw[1].2, &header[..]);

        let frames = decode_whole(&out[1..]);
        prop_assert_eq!(&frames[0], &Frame::Method(channel, m));
        match &frames[1] {
            Frame::Header(ch, h) => {
                prop_assert_eq!(*ch, channel);
                prop_assert_eq!(h.class_id, 60);
                prop_assert_eq!(h.body_size, body.len() as u64);
                prop_assert_eq!(&h.properties, &p);
            }
            other => prop_assert!(false, "expected a header, got {:?}", other),
        }
        let mut joined = Vec::new();
        for f in &frames[2..] {
            match f {
                Frame::Body(ch, b) => {
                    prop_assert_eq!(*ch, channel);
                    prop_assert!(!b.is_empty(), "empty body frame");
                    joined.extend_from_slice(b);
                }
                other => prop_assert!(false, "expected a body frame, got {:?}", other),
            }
        }
        prop_assert_eq!(joined, body.clone());
        // As few body frames as frame_max allows.
        let chunk = frame_max as usize - 8;
        prop_assert_eq!(frames.len() - 2, body.len().div_ceil(chunk));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A stream of frames decodes the same whether it arrives coalesced, one byte at a time, or in
    /// chunks of random sizes.
    #[test]
    fn stream_decodes_under_any_chunking(
        items in proptest::collection::vec(item(6000), 1..16),
        frame_max in 4096u32..12000,
        sizes in proptest::collection::vec(1usize..3000, 1..16),
    ) {
        let (bytes, expected) = encode_items(&items, frame_max);
        prop_assert_eq!(&decode_whole(&bytes), &expected);
        prop_assert_eq!(&decode_chunked(&bytes, &[1]), &expected);
        prop_assert_eq!(&decode_chunked(&bytes, &sizes), &expected);
        // Tuning the limit to the frame_max in use accepts every frame.
        let mut dec = FrameDecoder::new();
        dec.set_max_frame(frame_max);
        dec.extend(&bytes);
        let mut frames = Vec::new();
        drain(&mut dec, &mut frames);
        prop_assert_eq!(&frames, &expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Split into two pieces at every byte boundary: the frames are always the same.
    #[test]
    fn stream_split_at_every_boundary(items in proptest::collection::vec(item(300), 1..8)) {
        let (bytes, expected) = encode_items(&items, 4096);
        for at in 0..=bytes.len() {
            let mut dec = FrameDecoder::new();
            let mut frames = Vec::new();
            dec.extend(&bytes[..at]);
            drain(&mut dec, &mut frames);
            dec.extend(&bytes[at..]);
            drain(&mut dec, &mut frames);
            prop_assert_eq!(dec.buffered(), 0);
            prop_assert_eq!(&frames, &expected, "split at {}", at);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The allocation-free publish encoder writes exactly what the generic one writes.
    #[test]
    fn encode_publish_matches_encode_content(
        exchange in short_str(),
        routing_key in short_str(),
        mandatory in any::<bool>(),
        immediate in any::<bool>(),
        props in properties(),
        body in proptest::collection::vec(any::<u8>(), 0..9000),
        frame_max in 4096u32..20000,
    ) {
        let method = Method::BasicPublish(BasicPublish {
            ticket: 0,
            exchange: exchange.as_str().into(),
            routing_key: routing_key.as_str().into(),
            mandatory,
            immediate,
        });
        let mut generic = Vec::new();
        let r1 = encode_content(&mut generic, 3, &method, &props, &body, frame_max);
        let mut direct = Vec::new();
        let r2 = encode_publish(&mut direct, 3, &exchange, &routing_key, mandatory, immediate, &props, &body, frame_max);
        prop_assert_eq!(r1, r2);
        prop_assert_eq!(generic, direct);
    }
}
