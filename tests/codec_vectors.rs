#![cfg(not(target_arch = "wasm32"))]
//! Hand-checked byte vectors: what real brokers send and what they expect, byte for byte.
//! Every length below was counted by hand; the comments show the arithmetic.

use bytes::Bytes;
use warren::protocol::codec::Reader;
use warren::protocol::*;

fn decode_all(bytes: &[u8]) -> Vec<Frame> {
    let mut dec = FrameDecoder::new();
    dec.extend(bytes);
    let mut frames = Vec::new();
    while let Some(f) = dec.next_frame().expect("valid frames") {
        frames.push(f);
    }
    assert_eq!(dec.buffered(), 0);
    frames
}

/// Concatenates byte pieces; lets a vector be written one commented field per line.
fn cat(pieces: &[&[u8]]) -> Vec<u8> {
    pieces.concat()
}

/// A boolean `t` entry of the capabilities table: key length, key, tag, value 1.
fn cap(key: &str) -> Vec<u8> {
    cat(&[&[key.len() as u8], key.as_bytes(), b"t", &[1]])
}

/// Connection.Start as RabbitMQ 3.10.8 sends it on channel 0.
#[rustfmt::skip]
fn rabbitmq_connection_start() -> Vec<u8> {
    cat(&[
        &[0x01],                   // frame type 1: method
        &[0x00, 0x00],             // channel 0
        &[0x00, 0x00, 0x01, 0xF4], // payload size 500 = 4 + 2 + (4 + 463) + (4 + 14) + (4 + 5)
        &[0x00, 0x0A],             // class 10: connection
        &[0x00, 0x0A],             // method 10: start
        &[0x00],                   // version-major 0
        &[0x09],                   // version-minor 9
        // server-properties: a table of 463 bytes = 217 + 31 + 70 + 74 + 31 + 21 + 19
        &[0x00, 0x00, 0x01, 0xCF],
        // "capabilities" F: 1 + 12 + 1 + 4 + 199 = 217
        &[12],
        b"capabilities",
        b"F",
        // 199 = 21 + 29 + 13 + 25 + 21 + 22 + 31 + 19 + 18 (each entry: 1 + key + 't' + 1)
        &[0x00, 0x00, 0x00, 0xC7],
        &cap("publisher_confirms"),           // 18-byte key: 21
        &cap("exchange_exchange_bindings"),   // 26: 29
        &cap("basic.nack"),                   // 10: 13
        &cap("consumer_cancel_notify"),       // 22: 25
        &cap("connection.blocked"),           // 18: 21
        &cap("consumer_priorities"),          // 19: 22
        &cap("authentication_failure_close"), // 28: 31
        &cap("per_consumer_qos"),             // 16: 19
        &cap("direct_reply_to"),              // 15: 18
        // "cluster_name" S "rabbit@warren": 1 + 12 + 1 + 4 + 13 = 31
        &[12],
        b"cluster_name",
        b"S",
        &[0, 0, 0, 13],
        b"rabbit@warren",
        // "copyright" S (55 bytes): 1 + 9 + 1 + 4 + 55 = 70
        &[9],
        b"copyright",
        b"S",
        &[0, 0, 0, 55],
        b"Copyright (c) 2007-2022 VMware, Inc. or its affiliates.",
        // "information" S (57 bytes): 1 + 11 + 1 + 4 + 57 = 74
        &[11],
        b"information",
        b"S",
        &[0, 0, 0, 57],
        b"Licensed under the MPL 2.0. Website: https://rabbitmq.com",
        // "platform" S "Erlang/OTP 25.2.3": 1 + 8 + 1 + 4 + 17 = 31
        &[8],
        b"platform",
        b"S",
        &[0, 0, 0, 17],
        b"Erlang/OTP 25.2.3",
        // "product" S "RabbitMQ": 1 + 7 + 1 + 4 + 8 = 21
        &[7],
        b"product",
        b"S",
        &[0, 0, 0, 8],
        b"RabbitMQ",
        // "version" S "3.10.8": 1 + 7 + 1 + 4 + 6 = 19
        &[7],
        b"version",
        b"S",
        &[0, 0, 0, 6],
        b"3.10.8",
        // mechanisms: long string of 14 bytes
        &[0, 0, 0, 14],
        b"AMQPLAIN PLAIN",
        // locales: long string of 5 bytes
        &[0, 0, 0, 5],
        b"en_US",
        &[0xCE], // frame end
    ])
}

fn s(v: &str) -> FieldValue {
    FieldValue::LongString(Bytes::copy_from_slice(v.as_bytes()))
}

#[test]
fn rabbitmq_connection_start_decodes() {
    let bytes = rabbitmq_connection_start();
    assert_eq!(bytes.len(), 500 + 8);
    let frames = decode_all(&bytes);

    let capabilities = FieldTable(
        [
            "publisher_confirms",
            "exchange_exchange_bindings",
            "basic.nack",
            "consumer_cancel_notify",
            "connection.blocked",
            "consumer_priorities",
            "authentication_failure_close",
            "per_consumer_qos",
            "direct_reply_to",
        ]
        .iter()
        .map(|k| (k.to_string(), FieldValue::Bool(true)))
        .collect(),
    );
    let expected = ConnectionStart {
        version_major: 0,
        version_minor: 9,
        server_properties: FieldTable(vec![
            ("capabilities".into(), FieldValue::Table(capabilities)),
            ("cluster_name".into(), s("rabbit@warren")),
            (
                "copyright".into(),
                s("Copyright (c) 2007-2022 VMware, Inc. or its affiliates."),
            ),
            (
                "information".into(),
                s("Licensed under the MPL 2.0. Website: https://rabbitmq.com"),
            ),
            ("platform".into(), s("Erlang/OTP 25.2.3")),
            ("product".into(), s("RabbitMQ")),
            ("version".into(), s("3.10.8")),
        ]),
        mechanisms: Bytes::from_static(b"AMQPLAIN PLAIN"),
        locales: Bytes::from_static(b"en_US"),
    };
    assert_eq!(
        frames,
        vec![Frame::Method(0, Method::ConnectionStart(expected.clone()))]
    );

    // Lookups a client makes on it.
    let props = &expected.server_properties;
    assert_eq!(
        props.get("product").and_then(FieldValue::as_str),
        Some("RabbitMQ")
    );
    match props.get("capabilities") {
        Some(FieldValue::Table(caps)) => {
            assert_eq!(
                caps.get("publisher_confirms"),
                Some(&FieldValue::Bool(true))
            );
            assert_eq!(caps.get("basic.nack"), Some(&FieldValue::Bool(true)));
        }
        other => panic!("capabilities: {other:?}"),
    }

    // And it encodes back to exactly the broker's bytes.
    let mut out = Vec::new();
    encode_method(&mut out, 0, &Method::ConnectionStart(expected)).unwrap();
    assert_eq!(out, bytes);
}

/// Basic.Publish to the default exchange with routing key "q", mandatory, then a header with
/// content-type "text/plain" and delivery-mode 2, then the 5-byte body "hello", on channel 1.
#[test]
#[rustfmt::skip]
fn basic_publish_with_content_encodes_exactly() {
    let expected: Vec<u8> = cat(&[
        // --- method frame ---
        &[0x01],             // frame type 1: method
        &[0x00, 0x01],       // channel 1
        &[0x00, 0x00, 0x00, 0x0A], // size 10 = 4 (ids) + 2 (ticket) + 1 ("") + 2 ("q") + 1 (bits)
        &[0x00, 0x3C],       // class 60: basic
        &[0x00, 0x28],       // method 40: publish
        &[0x00, 0x00],       // ticket 0 (reserved)
        &[0x00],             // exchange: short string of length 0
        &[0x01, b'q'],       // routing key "q"
        &[0x01],             // bits: mandatory (bit 0) set, immediate (bit 1) clear
        &[0xCE],             // frame end
        // --- content header frame ---
        &[0x02],             // frame type 2: header
        &[0x00, 0x01],       // channel 1
        &[0x00, 0x00, 0x00, 0x1A], // size 26 = 2 + 2 + 8 + 2 (flags) + 11 ("text/plain") + 1
        &[0x00, 0x3C],       // class 60
        &[0x00, 0x00],       // weight 0
        &[0, 0, 0, 0, 0, 0, 0, 5], // body size 5
        &[0x90, 0x00],       // flags: content-type (bit 15) | delivery-mode (bit 12)
        &[10],               // content-type length 10
        b"text/plain",
        &[0x02],             // delivery-mode 2: persistent
        &[0xCE],             // frame end
        // --- body frame ---
        &[0x03],             // frame type 3: body
        &[0x00, 0x01],       // channel 1
        &[0x00, 0x00, 0x00, 0x05], // size 5
        b"hello",
        &[0xCE], // frame end
    ]);

    let publish = Method::BasicPublish(BasicPublish {
        ticket: 0,
        exchange: ShortStr::new(),
        routing_key: "q".into(),
        mandatory: true,
        immediate: false,
    });
    let props = BasicProperties::default()
        .with_content_type("text/plain")
        .with_delivery_mode(2);
    assert_eq!(props.flags(), 0x9000);

    let mut out = Vec::new();
    encode_content(&mut out, 1, &publish, &props, b"hello", 131072).unwrap();
    assert_eq!(out, expected);

    assert_eq!(
        decode_all(&expected),
        vec![
            Frame::Method(1, publish),
            Frame::Header(
                1,
                Box::new(ContentHeader {
                    class_id: 60,
                    body_size: 5,
                    properties: props,
                })
            ),
            Frame::Body(1, Bytes::from_static(b"hello")),
        ]
    );
}

/// An empty body sends no body frame at all (the header's body size 0 says it all).
#[test]
fn empty_body_has_no_body_frame() {
    let publish = Method::BasicPublish(BasicPublish::default());
    let mut out = Vec::new();
    encode_content(
        &mut out,
        3,
        &publish,
        &BasicProperties::default(),
        b"",
        4096,
    )
    .unwrap();
    let frames = decode_all(&out);
    assert_eq!(frames.len(), 2);
    assert_eq!(
        frames[1],
        Frame::Header(
            3,
            Box::new(ContentHeader {
                class_id: 60,
                body_size: 0,
                properties: BasicProperties::default(),
            })
        )
    );
    // Header with no properties: 2 + 2 + 8 + 2 (flags 0) = 14 bytes.
    assert_eq!(
        &out[out.len() - 22..out.len() - 15],
        &[2, 0, 3, 0, 0, 0, 14]
    );
}

/// Body frames are cut at frame_max − 8: with frame_max 4096 a 10000-byte body is 4088 + 4088 + 1824.
#[test]
fn body_is_split_at_frame_max() {
    let body: Vec<u8> = (0..10000u32).map(|i| i as u8).collect();
    let mut out = Vec::new();
    let publish = Method::BasicPublish(BasicPublish::default());
    encode_content(
        &mut out,
        1,
        &publish,
        &BasicProperties::default(),
        &body,
        4096,
    )
    .unwrap();
    let sizes: Vec<usize> = decode_all(&out)
        .iter()
        .filter_map(|f| match f {
            Frame::Body(_, b) => Some(b.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, vec![4088, 4088, 1824]);
}

#[test]
fn heartbeat_bytes() {
    // type 8, channel 0, size 0, no payload, frame end.
    let bytes = [0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xCE];
    let mut out = vec![0x11];
    encode_heartbeat(&mut out);
    assert_eq!(out[1..], bytes);
    assert_eq!(decode_all(&bytes), vec![Frame::Heartbeat]);
}

#[test]
#[rustfmt::skip]
fn connection_tune_and_close_bytes() {
    // Tune as RabbitMQ sends it: channel-max 2047, frame-max 131072, heartbeat 60.
    let tune = [
        0x01, 0x00, 0x00, // method frame, channel 0
        0x00, 0x00, 0x00, 0x0C, // size 12 = 4 + 2 + 4 + 2
        0x00, 0x0A, 0x00, 0x1E, // connection.tune (10, 30)
        0x07, 0xFF, // channel-max 2047
        0x00, 0x02, 0x00, 0x00, // frame-max 131072
        0x00, 0x3C, // heartbeat 60
        0xCE,
    ];
    let m = Method::ConnectionTune(ConnectionTune {
        channel_max: 2047,
        frame_max: 131072,
        heartbeat: 60,
    });
    assert_eq!(decode_all(&tune), vec![Frame::Method(0, m)]);

    // Channel.Close 404 from the broker on channel 5, about queue.declare (50, 10).
    let text = b"NOT_FOUND - no queue 'x' in vhost '/'";
    let close = cat(&[
        &[0x01, 0x00, 0x05],
        &(4 + 2 + 1 + text.len() as u32 + 4).to_be_bytes(), // ids, code, text, class, method
        &[0x00, 0x14, 0x00, 0x28], // channel.close (20, 40)
        &[0x01, 0x94],             // reply code 404
        &[text.len() as u8],
        text,
        &[0x00, 0x32, 0x00, 0x0A], // class 50, method 10
        &[0xCE],
    ]);
    let m = Method::ChannelClose(ChannelClose {
        reply_code: ReplyCode::NOT_FOUND.0,
        reply_text: String::from_utf8(text.to_vec()).unwrap().into(),
        class_id: 50,
        method_id: 10,
    });
    assert_eq!(decode_all(&close), vec![Frame::Method(5, m.clone())]);
    let mut out = Vec::new();
    encode_method(&mut out, 5, &m).unwrap();
    assert_eq!(out, close);
}

/// Bits pack from the least significant bit of one octet, in argument order.
#[test]
#[rustfmt::skip]
fn queue_declare_bit_packing() {
    let m = Method::QueueDeclare(QueueDeclare {
        ticket: 0,
        queue: "jobs".into(),
        passive: false,
        durable: true,
        exclusive: false,
        auto_delete: true,
        nowait: true,
        arguments: FieldTable::new().with("x-queue-type", "quorum"),
    });
    let expected = cat(&[
        &[0x01, 0x00, 0x02],
        &[0x00, 0x00, 0x00, 0x28], // 40 = 4 (ids) + 2 (ticket) + 5 ("jobs") + 1 (bits) + 4 + 24 (table)
        &[0x00, 0x32, 0x00, 0x0A], // queue.declare (50, 10)
        &[0x00, 0x00],             // ticket
        &[4],
        b"jobs",
        &[0b0001_1010], // passive 0, durable 1, exclusive 0, auto-delete 1, nowait 1
        &[0x00, 0x00, 0x00, 0x18], // table of 24 = 1 + 12 ("x-queue-type") + 1 ('S') + 4 + 6 ("quorum")
        &[12],
        b"x-queue-type",
        b"S",
        &[0, 0, 0, 6],
        b"quorum",
        &[0xCE],
    ]);
    let mut out = Vec::new();
    encode_method(&mut out, 2, &m).unwrap();
    assert_eq!(out, expected);
}

/// A table with one entry per type tag RabbitMQ uses, in RabbitMQ's dialect.
#[rustfmt::skip]
fn every_tag_table() -> Vec<u8> {
    let body = cat(&[
        &[1], b"t", b"t", &[0x01],                          // t: boolean true
        &[1], b"b", b"b", &[0xFF],                          // b: signed 8-bit, -1
        &[1], b"B", b"B", &[0xFF],                          // B: unsigned 8-bit, 255
        &[1], b"s", b"s", &[0xFF, 0xFE],                    // s: SIGNED 16-bit, -2
        &[1], b"u", b"u", &[0xFF, 0xFE],                    // u: unsigned 16-bit, 65534
        &[1], b"I", b"I", &[0xFF, 0xFF, 0xFF, 0xFE],        // I: signed 32-bit, -2
        &[1], b"i", b"i", &[0xFF, 0xFF, 0xFF, 0xFE],        // i: unsigned 32-bit, 4294967294
        &[1], b"l", b"l", &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE], // l: signed 64, -2
        &[1], b"f", b"f", &[0x3F, 0xC0, 0x00, 0x00],        // f: f32 1.5
        &[1], b"d", b"d", &[0x40, 0x09, 0x21, 0xFB, 0x54, 0x44, 0x2D, 0x18], // d: f64 pi
        &[1], b"D", b"D", &[0x02, 0xFF, 0xFF, 0xFF, 0x85],  // D: scale 2, value -123 → -1.23
        &[1], b"S", b"S", &[0, 0, 0, 2], b"hi",             // S: long string "hi"
        &[1], b"x", b"x", &[0, 0, 0, 3], &[1, 2, 3],        // x: byte array 01 02 03
        // A: array of 5 + 6 + 1 = 12 bytes: I 1, S "a", V
        &[1], b"A", b"A", &[0, 0, 0, 12],
        b"I", &[0, 0, 0, 1],
        b"S", &[0, 0, 0, 1], b"a",
        b"V",
        &[1], b"T", b"T", &[0, 0, 0, 0, 0x65, 0x53, 0xF1, 0x00], // T: 1700000000 s
        // F: nested table of 1 + 1 + 1 + 1 = 4 bytes: "k" b 5
        &[1], b"F", b"F", &[0, 0, 0, 4], &[1], b"k", b"b", &[5],
        &[1], b"V", b"V",                                   // V: void
    ]);
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

#[test]
fn every_field_type_tag_decodes() {
    let bytes = every_tag_table();
    let mut r = Reader::new(&bytes);
    let t = FieldTable::decode(&mut r).unwrap();
    r.finish().unwrap();

    let expected = vec![
        ("t", FieldValue::Bool(true)),
        ("b", FieldValue::I8(-1)),
        ("B", FieldValue::U8(255)),
        ("s", FieldValue::I16(-2)),
        ("u", FieldValue::U16(65534)),
        ("I", FieldValue::I32(-2)),
        ("i", FieldValue::U32(4_294_967_294)),
        ("l", FieldValue::I64(-2)),
        ("f", FieldValue::F32(1.5)),
        ("d", FieldValue::F64(std::f64::consts::PI)),
        (
            "D",
            FieldValue::Decimal {
                scale: 2,
                value: -123,
            },
        ),
        ("S", s("hi")),
        ("x", FieldValue::ByteArray(Bytes::from_static(&[1, 2, 3]))),
        (
            "A",
            FieldValue::Array(vec![FieldValue::I32(1), s("a"), FieldValue::Void]),
        ),
        ("T", FieldValue::Timestamp(1_700_000_000)),
        (
            "F",
            FieldValue::Table(FieldTable(vec![("k".into(), FieldValue::I8(5))])),
        ),
        ("V", FieldValue::Void),
    ];
    let expected = FieldTable(
        expected
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    );
    assert_eq!(t, expected);

    // Each variant is written back with the tag it came from.
    let mut out = Vec::new();
    t.encode(&mut out).unwrap();
    assert_eq!(out, bytes);
}

/// `L` (unsigned 64-bit) is read but never written: U64 goes out as `l`.
#[test]
fn unsigned_64_is_decode_only() {
    let bytes = cat(&[b"L", &[0xFF; 8], b"L", &[0, 0, 0, 0, 0, 0, 0, 7]]);
    let mut r = Reader::new(&bytes);
    assert_eq!(
        FieldValue::decode(&mut r).unwrap(),
        FieldValue::U64(u64::MAX)
    );
    assert_eq!(FieldValue::decode(&mut r).unwrap(), FieldValue::U64(7));

    let mut out = Vec::new();
    FieldValue::U64(7).encode(&mut out).unwrap();
    assert_eq!(out, cat(&[b"l", &[0, 0, 0, 0, 0, 0, 0, 7]]));
    let back = FieldValue::decode(&mut Reader::new(&out)).unwrap();
    assert_eq!(back, FieldValue::I64(7));

    let mut out = Vec::new();
    FieldValue::U64(i64::MAX as u64).encode(&mut out).unwrap();
    assert_eq!(
        out,
        cat(&[b"l", &[0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]])
    );
}

/// Any non-zero boolean octet is true; true is always written as 1.
#[test]
fn boolean_octets() {
    for (octet, value) in [(0u8, false), (1, true), (2, true), (0xFF, true)] {
        let v = FieldValue::decode(&mut Reader::new(&[b't', octet])).unwrap();
        assert_eq!(v, FieldValue::Bool(value));
        let mut out = Vec::new();
        v.encode(&mut out).unwrap();
        assert_eq!(out, vec![b't', value as u8]);
    }
}

/// Non-UTF-8 long strings keep their bytes; `as_str` declines them.
#[test]
fn long_strings_are_bytes() {
    let bytes = cat(&[b"S", &[0, 0, 0, 2], &[0xC3, 0x28]]);
    let v = FieldValue::decode(&mut Reader::new(&bytes)).unwrap();
    assert_eq!(v, FieldValue::LongString(Bytes::from_static(&[0xC3, 0x28])));
    assert_eq!(v.as_str(), None);
    assert_eq!(s("héllo").as_str(), Some("héllo"));
}

/// All 14 properties present: flags 0xFFFC (bits 15..2), fields in flag order.
#[test]
#[rustfmt::skip]
fn all_fourteen_property_flags() {
    let p = BasicProperties {
        content_type: Some("a".into()),
        content_encoding: Some("b".into()),
        headers: Some(FieldTable::new()),
        delivery_mode: Some(1),
        priority: Some(9),
        correlation_id: Some("c".into()),
        reply_to: Some("d".into()),
        expiration: Some("60000".into()),
        message_id: Some("e".into()),
        timestamp: Some(1),
        kind: Some("f".into()),
        user_id: Some("g".into()),
        app_id: Some("h".into()),
        cluster_id: Some("i".into()),
    };
    assert_eq!(p.flags(), 0xFFFC);
    let expected = cat(&[
        &[0xFF, 0xFC],
        &[1], b"a",                 // content-type
        &[1], b"b",                 // content-encoding
        &[0, 0, 0, 0],              // headers: empty table
        &[1],                       // delivery-mode
        &[9],                       // priority
        &[1], b"c",                 // correlation-id
        &[1], b"d",                 // reply-to
        &[5], b"60000",             // expiration
        &[1], b"e",                 // message-id
        &[0, 0, 0, 0, 0, 0, 0, 1],  // timestamp
        &[1], b"f",                 // type
        &[1], b"g",                 // user-id
        &[1], b"h",                 // app-id
        &[1], b"i",                 // cluster-id (deprecated, still carried)
    ]);
    let mut out = Vec::new();
    p.encode(&mut out).unwrap();
    assert_eq!(out, expected);
    let back = BasicProperties::decode(&mut Reader::new(&out)).unwrap();
    assert_eq!(back, p);
}

#[test]
fn reply_codes() {
    assert_eq!(ReplyCode(404), ReplyCode::NOT_FOUND);
    assert_eq!(ReplyCode::NOT_FOUND.to_string(), "404 NOT_FOUND");
    assert_eq!(ReplyCode(999).to_string(), "999");
    assert!(ReplyCode::FRAME_ERROR.is_hard_error());
    assert!(!ReplyCode::PRECONDITION_FAILED.is_hard_error());
}
