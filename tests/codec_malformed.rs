#![cfg(not(target_arch = "wasm32"))]
//! Malformed input becomes a typed `DecodeError` (never a panic), and values that cannot be encoded
//! become a typed `EncodeError` with nothing written.

mod support;

use proptest::prelude::*;
use warren::protocol::codec::{self, Reader};
use warren::protocol::*;

/// Wraps a payload in a frame header and frame end.
fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(0xCE);
    out
}

fn first_result(bytes: &[u8]) -> Result<Option<Frame>, DecodeError> {
    let mut dec = FrameDecoder::new();
    dec.extend(bytes);
    dec.next_frame()
}

fn first_error(bytes: &[u8]) -> DecodeError {
    match first_result(bytes) {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Feeds everything, then pulls frames until the decoder wants more bytes or fails.
fn decode_until_stuck(dec: &mut FrameDecoder) -> Result<usize, DecodeError> {
    let mut n = 0;
    while dec.next_frame()?.is_some() {
        n += 1;
    }
    Ok(n)
}

#[test]
fn bad_frame_end() {
    let mut bytes = frame(8, 0, &[]);
    *bytes.last_mut().unwrap() = 0x00;
    assert_eq!(first_error(&bytes), DecodeError::BadFrameEnd(0x00));

    let mut bytes = frame(1, 1, &[0, 20, 0, 41]); // channel.close-ok
    *bytes.last_mut().unwrap() = 0xCD;
    assert_eq!(first_error(&bytes), DecodeError::BadFrameEnd(0xCD));
}

#[test]
fn unknown_frame_type() {
    for kind in [0u8, 4, 5, 7, 9, 0xCE, 0xFF] {
        assert_eq!(
            first_error(&frame(kind, 0, &[])),
            DecodeError::UnknownFrameType(kind)
        );
    }
}

#[test]
fn unknown_method() {
    assert_eq!(
        first_error(&frame(1, 0, &[0, 10, 0, 99])),
        DecodeError::UnknownMethod(10, 99)
    );
    assert_eq!(
        first_error(&frame(1, 0, &[0x03, 0xE7, 0, 10])),
        DecodeError::UnknownMethod(999, 10)
    );
    // exchange.unbind-ok is (40, 51) in RabbitMQ's spec, not (40, 41).
    assert_eq!(
        first_error(&frame(1, 0, &[0, 40, 0, 41])),
        DecodeError::UnknownMethod(40, 41)
    );
    assert_eq!(
        first_result(&frame(1, 0, &[0, 40, 0, 51])),
        Ok(Some(Frame::Method(0, Method::ExchangeUnbindOk)))
    );
}

#[test]
fn trailing_bytes_after_method() {
    // channel.close-ok (20, 41) has no arguments; two extra bytes follow.
    assert_eq!(
        first_error(&frame(1, 1, &[0, 20, 0, 41, 0xAB, 0xCD])),
        DecodeError::TrailingBytes(2)
    );
    // basic.ack (60, 80): 8-byte tag + bits octet, then one byte too many.
    assert_eq!(
        first_error(&frame(1, 1, &[0, 60, 0, 80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 7])),
        DecodeError::TrailingBytes(1)
    );
}

#[test]
fn truncated_method_payload_inside_complete_frame() {
    // basic.ack with only 4 of the 8 delivery-tag bytes.
    assert_eq!(
        first_error(&frame(1, 1, &[0, 60, 0, 80, 0, 0, 0, 1])),
        DecodeError::Incomplete("basic.ack: delivery_tag")
    );
    // A payload too short even for the class and method ids.
    assert_eq!(
        first_error(&frame(1, 1, &[0, 60, 0])),
        DecodeError::Incomplete("method frame: method_id")
    );
    assert_eq!(
        first_error(&frame(1, 1, &[])),
        DecodeError::Incomplete("method frame: class_id")
    );
    // A short string claiming 10 bytes with 2 present: basic.consume-ok (60, 21).
    assert_eq!(
        first_error(&frame(1, 1, &[0, 60, 0, 21, 10, b'a', b'b'])),
        DecodeError::Incomplete("basic.consume-ok: consumer_tag")
    );
    // A table whose length (50) runs past the payload: connection.start-ok (10, 11) starts with one.
    assert_eq!(
        first_error(&frame(1, 0, &[0, 10, 0, 11, 0, 0, 0, 50, 1, b'k', b'V'])),
        DecodeError::Incomplete("connection.start-ok: client_properties")
    );
    // A content header cut off inside the properties: flags say content-type, no string follows.
    let header = [0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x00];
    assert_eq!(
        first_error(&frame(2, 1, &header)),
        DecodeError::Incomplete("basic properties: content_type")
    );
    // The error text names the method and the field.
    let e = first_error(&frame(
        1,
        1,
        &[0, 60, 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0],
    ));
    assert_eq!(e.to_string(), "basic.deliver: routing_key truncated");
}

/// An incomplete frame is not an error: the decoder waits, whatever the prefix length.
#[test]
fn incomplete_frame_waits() {
    let whole = frame(1, 1, &[0, 60, 0, 80, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    for n in 0..whole.len() {
        let mut dec = FrameDecoder::new();
        dec.extend(&whole[..n]);
        assert_eq!(dec.next_frame(), Ok(None), "prefix of {n}");
        assert_eq!(dec.buffered(), n);
    }
}

#[test]
fn unknown_field_type_tag() {
    // queue.declare with an arguments table holding "k" of type 'U' (which RabbitMQ rejects).
    let mut payload = vec![0, 50, 0, 10, 0, 0, 1, b'q', 0];
    payload.extend_from_slice(&[0, 0, 0, 5, 1, b'k', b'U', 0, 1]);
    assert_eq!(
        first_error(&frame(1, 1, &payload)),
        DecodeError::UnknownFieldType(b'U')
    );
    for tag in [b'Z', b'?', 0u8, b'c'] {
        let bytes = [tag, 0, 0, 0, 0];
        let mut r = Reader::new(&bytes);
        assert_eq!(
            FieldValue::decode(&mut r),
            Err(DecodeError::UnknownFieldType(tag))
        );
    }
    // Inside an array too.
    let mut r = Reader::new(&[b'A', 0, 0, 0, 2, b'V', b'Q']);
    assert_eq!(
        FieldValue::decode(&mut r),
        Err(DecodeError::UnknownFieldType(b'Q'))
    );
}

#[test]
fn frame_larger_than_max_frame() {
    let mut dec = FrameDecoder::new();
    dec.set_max_frame(4096);
    // 4088 payload bytes + 8 overhead = 4096: accepted.
    let ok = frame(3, 1, &[7; 4088]);
    dec.extend(&ok);
    assert!(matches!(dec.next_frame(), Ok(Some(Frame::Body(1, b))) if b.len() == 4088));

    // 4089 + 8 > 4096: refused as soon as the 7-byte header is in, before the payload arrives.
    let big = frame(3, 1, &[7; 4089]);
    dec.extend(&big[..7]);
    assert_eq!(dec.next_frame(), Err(DecodeError::FrameTooLarge(4089)));

    // A huge announced size is refused without waiting (or allocating) for it.
    let mut dec = FrameDecoder::new();
    dec.set_max_frame(131072);
    dec.extend(&[3, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF]);
    assert_eq!(dec.next_frame(), Err(DecodeError::FrameTooLarge(u32::MAX)));
}

#[test]
fn content_header_for_other_class() {
    let header = [0, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        first_error(&frame(2, 1, &header)),
        DecodeError::UnknownContentClass(50)
    );
}

#[test]
fn property_flags_with_reserved_bits() {
    for flags in [0x0001u16, 0x0002, 0x8001, 0xFFFF] {
        let mut header = vec![0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        header.extend_from_slice(&flags.to_be_bytes());
        assert_eq!(
            first_error(&frame(2, 1, &header)),
            DecodeError::BadPropertyFlags(flags)
        );
    }
}

#[test]
fn trailing_bytes_after_content_header() {
    let header = [0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xEE];
    assert_eq!(
        first_error(&frame(2, 1, &header)),
        DecodeError::TrailingBytes(1)
    );
}

#[test]
fn protocol_header_from_peer() {
    let header = *b"AMQP\x00\x00\x09\x01";
    assert_eq!(first_error(&header), DecodeError::ProtocolHeader(header));

    // Arriving in pieces: wait until all 8 bytes are in.
    let mut dec = FrameDecoder::new();
    for (i, b) in header.iter().enumerate() {
        dec.extend(&[*b]);
        if i < 7 {
            assert_eq!(dec.next_frame(), Ok(None), "after {} bytes", i + 1);
        }
    }
    assert_eq!(dec.next_frame(), Err(DecodeError::ProtocolHeader(header)));

    // A broker offering another version, after a valid frame.
    let mut dec = FrameDecoder::new();
    dec.extend(&frame(8, 0, &[]));
    dec.extend(b"AMQP\x01\x01\x00\x0A");
    assert_eq!(dec.next_frame(), Ok(Some(Frame::Heartbeat)));
    assert_eq!(
        dec.next_frame(),
        Err(DecodeError::ProtocolHeader(*b"AMQP\x01\x01\x00\x0A"))
    );
}

/// Every error displays as a sentence (used in connection-close texts).
#[test]
fn errors_display() {
    let errors = [
        DecodeError::Incomplete("basic.deliver: routing_key"),
        DecodeError::BadFrameEnd(0),
        DecodeError::UnknownFrameType(9),
        DecodeError::UnknownMethod(1, 2),
        DecodeError::UnknownContentClass(50),
        DecodeError::UnknownFieldType(b'U'),
        DecodeError::TrailingBytes(3),
        DecodeError::FrameTooLarge(5000),
        DecodeError::ProtocolHeader(*b"AMQP\x00\x00\x09\x01"),
        DecodeError::BadPropertyFlags(1),
        DecodeError::NestingTooDeep,
    ];
    for e in errors {
        assert!(!e.to_string().is_empty());
    }
    let e = EncodeError::ShortStringTooLong {
        field: "x",
        len: 256,
    };
    assert!(e.to_string().contains("256"));
}

// ---- encode errors: typed, and nothing written ----

fn publish_with_routing_key(routing_key: String) -> Method {
    Method::BasicPublish(BasicPublish {
        routing_key: routing_key.into(),
        ..BasicPublish::default()
    })
}

#[test]
fn short_string_of_256_bytes_is_refused() {
    let before = vec![1, 2, 3];
    let mut out = before.clone();
    let err = encode_method(&mut out, 1, &publish_with_routing_key("r".repeat(256))).unwrap_err();
    assert_eq!(
        err,
        EncodeError::ShortStringTooLong {
            field: "basic.publish routing_key",
            len: 256
        }
    );
    assert_eq!(out, before);

    // The limit is in bytes: 128 two-byte characters are 256 bytes.
    let err = encode_method(&mut out, 1, &publish_with_routing_key("é".repeat(128))).unwrap_err();
    assert!(matches!(
        err,
        EncodeError::ShortStringTooLong { len: 256, .. }
    ));
    assert_eq!(out, before);

    // 255 bytes is fine.
    encode_method(&mut out, 1, &publish_with_routing_key("r".repeat(255))).unwrap();
    assert_eq!(out.len(), 3 + 8 + 4 + 2 + 1 + 256 + 1);
}

#[test]
fn long_field_table_key_is_refused() {
    let table = FieldTable::new()
        .with("fine", 1)
        .with("k".repeat(256), true);
    let declare = Method::QueueDeclare(QueueDeclare {
        queue: "q".into(),
        arguments: table.clone(),
        ..QueueDeclare::default()
    });
    let before = vec![9; 5];
    let mut out = before.clone();
    let err = encode_method(&mut out, 1, &declare).unwrap_err();
    assert_eq!(
        err,
        EncodeError::ShortStringTooLong {
            field: "field table key",
            len: 256
        }
    );
    assert_eq!(out, before);

    // Encoding the table on its own writes nothing either.
    assert!(table.encode(&mut out).is_err());
    assert_eq!(out, before);

    // Nested inside a value.
    let nested = FieldValue::Array(vec![FieldValue::I8(1), FieldValue::Table(table)]);
    assert!(nested.encode(&mut out).is_err());
    assert_eq!(out, before);
}

#[test]
fn u64_above_i64_max_is_unrepresentable() {
    let mut out = vec![0xAB];
    let err = FieldValue::U64(i64::MAX as u64 + 1)
        .encode(&mut out)
        .unwrap_err();
    assert!(matches!(err, EncodeError::Unrepresentable(_)));
    assert_eq!(out, vec![0xAB]);

    // In a publish's headers: encode_content refuses the whole message.
    let props = BasicProperties::default()
        .with_headers(FieldTable::new().with("n", FieldValue::U64(u64::MAX)));
    let err = encode_content(
        &mut out,
        1,
        &publish_with_routing_key("q".into()),
        &props,
        b"body",
        4096,
    )
    .unwrap_err();
    assert!(matches!(err, EncodeError::Unrepresentable(_)));
    assert_eq!(out, vec![0xAB]);
}

#[test]
fn bad_property_writes_nothing() {
    let mut out = vec![0xAB];
    let props = BasicProperties::default()
        .with_content_type("text/plain")
        .with_correlation_id("c".repeat(300));
    let err = encode_content(
        &mut out,
        1,
        &publish_with_routing_key("q".into()),
        &props,
        b"body",
        4096,
    )
    .unwrap_err();
    assert_eq!(
        err,
        EncodeError::ShortStringTooLong {
            field: "correlation_id",
            len: 300
        }
    );
    assert_eq!(out, vec![0xAB]);
    // And the properties encoder alone leaves the buffer as it was.
    assert!(props.encode(&mut out).is_err());
    assert_eq!(out, vec![0xAB]);
}

/// A content header that cannot fit in one frame of frame_max bytes is refused: the broker would
/// close the connection with FRAME_ERROR.
#[test]
fn content_header_larger_than_frame_max_is_refused() {
    let mut headers = FieldTable::new();
    for i in 0..20 {
        headers.insert(format!("h{i}"), "v".repeat(250));
    }
    let props = BasicProperties::default().with_headers(headers);
    let mut out = vec![0xAB];
    let err = encode_content(
        &mut out,
        1,
        &publish_with_routing_key("q".into()),
        &props,
        b"body",
        4096,
    )
    .unwrap_err();
    assert!(matches!(err, EncodeError::TooLong { .. }), "{err:?}");
    assert_eq!(out, vec![0xAB]);
    // With a larger frame_max it goes out.
    encode_content(
        &mut out,
        1,
        &publish_with_routing_key("q".into()),
        &props,
        b"body",
        131072,
    )
    .unwrap();
}

/// `depth` arrays nested inside each other, each holding only the next: 'A' + 4-byte length.
fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut value = Vec::with_capacity(depth * 5);
    for level in 0..depth {
        let inner = (depth - level - 1) * 5;
        value.push(b'A');
        value.extend_from_slice(&(inner as u32).to_be_bytes());
    }
    value
}

/// Deeply nested arrays in a frame from the peer are refused, not a stack overflow.
#[test]
fn deep_nesting_is_refused() {
    let value = nested_arrays(100_000);
    let mut payload = vec![0, 10, 0, 11]; // connection.start-ok: a table first
    payload.extend_from_slice(&((value.len() + 2) as u32).to_be_bytes());
    payload.extend_from_slice(&[1, b'k']);
    payload.extend_from_slice(&value);
    assert_eq!(
        first_error(&frame(1, 0, &payload)),
        DecodeError::NestingTooDeep
    );
}

/// 64 levels of tables and arrays are fine; the 65th is refused.
#[test]
fn nesting_limit_is_64() {
    assert_eq!(codec::MAX_NESTING, 64);
    let decode = |bytes: Vec<u8>| FieldValue::decode(&mut Reader::new(&bytes));
    assert!(decode(nested_arrays(64)).is_ok());
    assert_eq!(decode(nested_arrays(65)), Err(DecodeError::NestingTooDeep));

    // Tables count too: a table holding 63 arrays is 64 levels, with 64 arrays it is 65.
    let table = |depth: usize| {
        let value = nested_arrays(depth);
        let mut t = ((value.len() + 2) as u32).to_be_bytes().to_vec();
        t.extend_from_slice(&[1, b'k']);
        t.extend_from_slice(&value);
        FieldTable::decode(&mut Reader::new(&t))
    };
    assert!(table(63).is_ok());
    assert_eq!(table(64), Err(DecodeError::NestingTooDeep));

    // What decodes re-encodes to the same bytes.
    let v = decode(nested_arrays(64)).unwrap();
    let mut out = Vec::new();
    v.encode(&mut out).unwrap();
    assert_eq!(out, nested_arrays(64));
}

// ---- byte soup ----

/// A frame with a plausible header and a garbage payload, to reach the method/header decoders.
fn soup_frame() -> impl Strategy<Value = Vec<u8>> {
    let ids = prop_oneof![
        Just((10u16, 10u16)),
        Just((10, 11)),
        Just((10, 30)),
        Just((10, 50)),
        Just((20, 40)),
        Just((40, 10)),
        Just((50, 10)),
        Just((60, 20)),
        Just((60, 40)),
        Just((60, 60)),
        Just((60, 80)),
        (any::<u16>(), any::<u16>()),
    ];
    let payload = proptest::collection::vec(any::<u8>(), 0..200);
    let kind = prop_oneof![4 => Just(1u8), 2 => Just(2u8), 1 => Just(3u8), 1 => Just(8u8), 1 => any::<u8>()];
    let end = prop_oneof![9 => Just(0xCEu8), 1 => any::<u8>()];
    (kind, any::<u16>(), ids, payload, end).prop_map(|(kind, channel, (c, m), payload, end)| {
        let mut p = Vec::new();
        match kind {
            1 => {
                p.extend_from_slice(&c.to_be_bytes());
                p.extend_from_slice(&m.to_be_bytes());
            }
            2 => p.extend_from_slice(&[0, 60, 0, 0]),
            _ => {}
        }
        p.extend_from_slice(&payload);
        let mut f = frame(kind, channel, &p);
        *f.last_mut().unwrap() = end;
        f
    })
}

fn run_soup(bytes: &[u8], chunks: &[usize], max_frame: Option<u32>) {
    let mut dec = FrameDecoder::new();
    if let Some(m) = max_frame {
        dec.set_max_frame(m);
    }
    let mut rest = bytes;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).clamp(1, rest.len());
        dec.extend(&rest[..n]);
        rest = &rest[n..];
        if decode_until_stuck(&mut dec).is_err() {
            return;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes in arbitrary chunks: the decoder returns frames, waits, or errors; it never panics.
    #[test]
    fn byte_soup_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        chunks in proptest::collection::vec(1usize..300, 1..8),
        max_frame in proptest::option::of(4096u32..140000),
    ) {
        run_soup(&bytes, &chunks, max_frame);
    }

    /// Well-framed garbage reaches the method, header and table decoders; still no panic.
    #[test]
    fn framed_soup_never_panics(
        frames in proptest::collection::vec(soup_frame(), 1..12),
        chunks in proptest::collection::vec(1usize..300, 1..8),
    ) {
        run_soup(&frames.concat(), &chunks, None);
    }

    /// Every valid method payload with its tail cut off is Incomplete, with bytes added is TrailingBytes.
    #[test]
    fn cut_or_padded_methods_error(m in support::method_strategy::method(), cut in any::<prop::sample::Index>(), extra in 1usize..4) {
        let mut out = Vec::new();
        encode_method(&mut out, 0, &m).unwrap();
        let payload = &out[7..out.len() - 1];
        let at = cut.index(payload.len());
        let shorter = frame(1, 0, &payload[..at]);
        match first_result(&shorter) {
            Err(DecodeError::Incomplete(what)) => {
                // Cut inside the ids: the frame's ids are named; after them, the method and its field.
                let want = if at < 4 { "method frame: ".to_string() } else { format!("{}: ", m.name()) };
                prop_assert!(what.starts_with(&want), "{what:?} for {} cut at {at}", m.name());
                prop_assert!(what.len() > want.len(), "no field named: {what:?}");
            }
            other => prop_assert!(false, "{} cut at {at}: {other:?}", m.name()),
        }
        let mut longer = payload.to_vec();
        longer.resize(longer.len() + extra, 0);
        prop_assert_eq!(first_result(&frame(1, 0, &longer)), Err(DecodeError::TrailingBytes(extra)));
    }
}
