//! Publishing: body sizes around frame boundaries and far beyond, every basic property, and
//! header tables with every field type, all round-tripped through the broker.

use crate::common::*;
use bytes::Bytes;
use futures::StreamExt;
use warren::client::{ConsumeOptions, PublishOptions};
use warren::{BasicProperties, Channel, Connection, FieldTable, FieldValue, Message, ReplyCode};

/// A body whose every byte depends on its position, so a lost, duplicated or reordered frame
/// shows up as a mismatch.
fn patterned(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Publishes each body (confirmed) to a fresh queue and reads them back through a consumer, then
/// again through basic.get, comparing byte for byte.
async fn round_trip_bodies(conn: &Connection, sizes: &[usize]) {
    let ch = conn.channel(None).await.unwrap();
    ch.confirm_select().await.unwrap();
    let q = temp_queue(&ch).await;
    let bodies: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| patterned(n, i as u32 + 1))
        .collect();
    let props = BasicProperties::default();
    for body in &bodies {
        ch.basic_publish("", &q, body, &props, PublishOptions::default())
            .await
            .unwrap();
    }
    let mut consumer = ch
        .basic_consume(
            &q,
            ConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::new(),
        )
        .await
        .unwrap();
    for (body, size) in bodies.iter().zip(sizes) {
        let m = consumer.next().await.unwrap().unwrap();
        assert_eq!(m.body.len(), *size);
        assert!(
            m.body[..] == body[..],
            "consumer: body of {size} bytes differs"
        );
    }
    consumer.cancel().await.unwrap();
    for body in &bodies {
        ch.basic_publish("", &q, body, &props, PublishOptions::default())
            .await
            .unwrap();
    }
    for (body, size) in bodies.iter().zip(sizes) {
        let m = ch
            .basic_get(&q, true)
            .await
            .unwrap()
            .expect("confirmed message is queued");
        assert_eq!(m.body.len(), *size);
        assert!(
            m.body[..] == body[..],
            "basic.get: body of {size} bytes differs"
        );
    }
    assert!(ch.basic_get(&q, true).await.unwrap().is_none());
    ch.close().await.unwrap();
}

#[tokio::test]
async fn bodies_around_frame_boundaries_arrive_byte_exact() {
    bounded(async {
        let conn = connect().await;
        let fm = conn.frame_max() as usize;
        assert_eq!(fm, 131_072);
        // frame_max - 8 is the largest body that fits in one frame (7 bytes header + frame end).
        round_trip_bodies(
            &conn,
            &[
                0,
                1,
                fm - 9,
                fm - 8,
                fm - 7,
                fm,
                2 * (fm - 8),
                2 * (fm - 8) + 1,
            ],
        )
        .await;
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn bodies_with_the_smallest_frame_size() {
    bounded(async {
        let conn = Connection::connect(&url_with("frame_max=4096"))
            .await
            .unwrap();
        assert_eq!(conn.frame_max(), 4096);
        round_trip_bodies(&conn, &[0, 1, 4088, 4089, 4096, 100_000]).await;
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn five_megabyte_body_spans_many_frames_both_ways() {
    bounded(async {
        let conn = connect().await;
        round_trip_bodies(&conn, &[5 * 1024 * 1024]).await;
        conn.close().await.unwrap();
    })
    .await
}

fn all_properties(user: &str) -> BasicProperties {
    BasicProperties {
        content_type: Some("application/json".into()),
        content_encoding: Some("gzip".into()),
        headers: Some(FieldTable::new().with("h", "v").with("n", 7i32)),
        delivery_mode: Some(2),
        priority: Some(0),
        correlation_id: Some("corr-123".into()),
        reply_to: Some("amq.rabbitmq.reply-to-not-really".into()),
        expiration: Some("600000".into()),
        message_id: Some("msg-\u{e9}-1".into()),
        timestamp: Some(1_700_000_123),
        kind: Some("order.created".into()),
        user_id: Some(user.into()),
        app_id: Some("warren-tests".into()),
        cluster_id: Some("cluster-x".into()),
    }
}

async fn publish_and_get(ch: &Channel, q: &str, props: &BasicProperties) -> Message {
    ch.basic_publish("", q, b"props", props, PublishOptions::default())
        .await
        .unwrap();
    ch.basic_get(q, true)
        .await
        .unwrap()
        .expect("the confirmed message is in the queue")
}

#[tokio::test]
async fn all_fourteen_properties_round_trip() {
    bounded(async {
        let (conn, ch) = open().await;
        ch.confirm_select().await.unwrap();
        let q = temp_queue(&ch).await;
        let props = all_properties("guest");
        assert_eq!(props.flags() & 0xfffc, 0xfffc, "all 14 flags set");
        let got = publish_and_get(&ch, &q, &props).await;
        assert_eq!(got.properties, props);
        // Through a consumer too.
        ch.basic_publish("", &q, b"props", &props, PublishOptions::default())
            .await
            .unwrap();
        let mut consumer = ch
            .basic_consume(
                &q,
                ConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::new(),
            )
            .await
            .unwrap();
        assert_eq!(consumer.next().await.unwrap().unwrap().properties, props);
        consumer.cancel().await.unwrap();
        // No properties at all stays no properties (the broker adds nothing).
        let got = publish_and_get(&ch, &q, &BasicProperties::default()).await;
        assert_eq!(got.properties, BasicProperties::default());
        // Each property alone (catches flag-bit/order mistakes that the all-set case hides).
        let all = all_properties("guest");
        let singles = [
            BasicProperties {
                content_type: all.content_type.clone(),
                ..Default::default()
            },
            BasicProperties {
                content_encoding: all.content_encoding.clone(),
                ..Default::default()
            },
            BasicProperties {
                headers: all.headers.clone(),
                ..Default::default()
            },
            BasicProperties {
                delivery_mode: Some(1),
                ..Default::default()
            },
            BasicProperties {
                priority: Some(9),
                ..Default::default()
            },
            BasicProperties {
                correlation_id: all.correlation_id.clone(),
                ..Default::default()
            },
            BasicProperties {
                reply_to: all.reply_to.clone(),
                ..Default::default()
            },
            BasicProperties {
                expiration: all.expiration.clone(),
                ..Default::default()
            },
            BasicProperties {
                message_id: all.message_id.clone(),
                ..Default::default()
            },
            BasicProperties {
                timestamp: Some(0),
                ..Default::default()
            },
            BasicProperties {
                kind: all.kind.clone(),
                ..Default::default()
            },
            BasicProperties {
                user_id: all.user_id.clone(),
                ..Default::default()
            },
            BasicProperties {
                app_id: all.app_id.clone(),
                ..Default::default()
            },
            BasicProperties {
                cluster_id: all.cluster_id.clone(),
                ..Default::default()
            },
        ];
        for p in &singles {
            assert_eq!(p.flags().count_ones(), 1);
            assert_eq!(&publish_and_get(&ch, &q, p).await.properties, p);
        }
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn user_id_must_match_the_connecting_user() {
    bounded(async {
        let conn = Connection::connect(&url_for("warren", "warren-secret", "%2f", ""))
            .await
            .unwrap();
        let ch = conn.channel(None).await.unwrap();
        ch.confirm_select().await.unwrap();
        let q = temp_queue(&ch).await;
        let got = publish_and_get(&ch, &q, &all_properties("warren")).await;
        assert_eq!(got.properties, all_properties("warren"));
        let e = ch
            .basic_publish(
                "",
                &q,
                b"x",
                &all_properties("guest"),
                PublishOptions::default(),
            )
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::PRECONDITION_FAILED);
        conn.close().await.unwrap();
    })
    .await
}

/// One header per field type warren can send.
fn every_field_type() -> FieldTable {
    let nested = FieldTable::new()
        .with("inner", "x")
        .with("deep", FieldTable::new().with("n", FieldValue::I64(-1)));
    FieldTable::new()
        .with("bool-t", FieldValue::Bool(true))
        .with("bool-f", FieldValue::Bool(false))
        .with("i8", FieldValue::I8(-128))
        .with("u8", FieldValue::U8(255))
        .with("i16", FieldValue::I16(-32768))
        .with("u16", FieldValue::U16(65535))
        .with("i32", FieldValue::I32(i32::MIN))
        .with("u32", FieldValue::U32(u32::MAX))
        .with("i64", FieldValue::I64(i64::MIN))
        .with("u64", FieldValue::U64(u64::MAX >> 1))
        .with("f32", FieldValue::F32(1.5))
        .with("f64", FieldValue::F64(-2.25e300))
        .with(
            "decimal",
            FieldValue::Decimal {
                scale: 2,
                value: -12345,
            },
        )
        .with("string", "h\u{e9}llo")
        .with("string-empty", "")
        .with(
            "string-binary",
            FieldValue::LongString(Bytes::from_static(&[0xff, 0x00, 0xfe])),
        )
        .with(
            "bytes",
            FieldValue::ByteArray(Bytes::from_static(&[0, 1, 2, 255])),
        )
        .with(
            "array",
            FieldValue::Array(vec![
                FieldValue::I32(1),
                "two".into(),
                FieldValue::Bool(false),
                FieldValue::Void,
                FieldValue::Array(vec![]),
            ]),
        )
        .with("array-empty", FieldValue::Array(vec![]))
        .with("timestamp", FieldValue::Timestamp(1_700_000_000))
        .with("table", nested)
        .with("table-empty", FieldTable::new())
        .with("void", FieldValue::Void)
}

#[tokio::test]
async fn headers_with_every_field_type_round_trip() {
    bounded(async {
        let (conn, ch) = open().await;
        ch.confirm_select().await.unwrap();
        let q = temp_queue(&ch).await;
        let sent = every_field_type();
        let got = publish_and_get(
            &ch,
            &q,
            &BasicProperties::default().with_headers(sent.clone()),
        )
        .await;
        let got = got.properties.headers.expect("headers");
        // RabbitMQ forwards the encoded properties untouched unless it has to change them, so
        // every type comes back as sent, with one exception on warren's side: U64 has no tag
        // RabbitMQ accepts and is sent as `l`, so it comes back as I64 (same value).
        let mut expected = sent.clone();
        expected.insert("u64", FieldValue::I64(i64::MAX));
        assert_eq!(got.len(), expected.len());
        for ((k1, v1), (k2, v2)) in got.iter().zip(expected.iter()) {
            assert_eq!((k1, v1), (k2, v2));
        }
        assert_eq!(got, expected);
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn headers_survive_when_the_broker_rewrites_them() {
    bounded(async {
        // Dead-lettering makes RabbitMQ decode the headers, add x-death and re-encode them: a
        // stricter round trip through the broker's own table codec.
        let (conn, ch) = open().await;
        ch.confirm_select().await.unwrap();
        let dead = temp_queue(&ch).await;
        let args = FieldTable::new()
            .with("x-dead-letter-exchange", "")
            .with("x-dead-letter-routing-key", dead.as_str());
        let q = unique("dlx-src");
        ch.queue_declare(&q, exclusive(), args).await.unwrap();
        let sent = every_field_type();
        ch.basic_publish(
            "",
            &q,
            b"dl",
            &BasicProperties::default().with_headers(sent.clone()),
            PublishOptions::default(),
        )
        .await
        .unwrap();
        let m = ch.basic_get(&q, false).await.unwrap().expect("message");
        m.reject(false).unwrap();
        let m = get_eventually(&ch, &dead, 200)
            .await
            .expect("dead-lettered message");
        let got = m.properties.headers.expect("headers");
        assert!(
            matches!(got.get("x-death"), Some(FieldValue::Array(_))),
            "{got:?}"
        );
        // Observed conversions when RabbitMQ re-encodes a table (3.10):
        //  - U64 (sent as `l` by warren) → I64, as above;
        //  - everything else, including i8/u8/u16/u32/f32/decimal/void and binary strings,
        //    is re-encoded with the tag it came with.
        for (k, v) in sent.iter() {
            let want = if k == "u64" {
                FieldValue::I64(i64::MAX)
            } else {
                v.clone()
            };
            assert_eq!(got.get(k), Some(&want), "header {k}");
        }
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn unencodable_values_fail_before_anything_is_sent() {
    bounded(async {
        let (conn, ch) = open().await;
        ch.confirm_select().await.unwrap();
        let q = temp_queue(&ch).await;
        let props = BasicProperties::default();
        // Short strings are limited to 255 bytes: the publish fails locally...
        let long_key = "k".repeat(256);
        let e = ch
            .basic_publish("", &long_key, b"x", &props, PublishOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(e, warren::Error::Encode(_)), "{e:?}");
        let e = ch
            .queue_declare(&long_key, exclusive(), FieldTable::new())
            .await
            .unwrap_err();
        assert!(matches!(e, warren::Error::Encode(_)), "{e:?}");
        let long_type = BasicProperties {
            content_type: Some("t".repeat(300).into()),
            ..Default::default()
        };
        let e = ch
            .basic_publish("", &q, b"x", &long_type, PublishOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(e, warren::Error::Encode(_)), "{e:?}");
        // ...and nothing half-encoded reached the broker: channel, confirm numbering and
        // connection are intact (255 bytes is still fine).
        assert!(ch.is_open() && conn.is_open());
        let max_key = "k".repeat(255);
        ch.basic_publish("", &max_key, b"dropped", &props, PublishOptions::default())
            .await
            .unwrap();
        ch.basic_publish("", &q, b"after", &props, PublishOptions::default())
            .await
            .unwrap();
        assert_eq!(
            ch.basic_get(&q, true).await.unwrap().unwrap().body_str(),
            "after"
        );
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn content_header_must_fit_in_one_frame() {
    bounded(async {
        let conn = Connection::connect(&url_with("frame_max=4096"))
            .await
            .unwrap();
        let ch = conn.channel(None).await.unwrap();
        ch.confirm_select().await.unwrap();
        let q = temp_queue(&ch).await;
        // Header frame = 8 (frame overhead) + 12 (class, weight, body size) + 2 (flags)
        // + 4 (table length) + 1 + 1 ("k") + 1 + 4 (S tag, length) + N = 33 + N bytes.
        let with_value = |n: usize| {
            BasicProperties::default().with_headers(FieldTable::new().with("k", "v".repeat(n)))
        };
        let fits = with_value(4096 - 33);
        ch.basic_publish("", &q, b"big header", &fits, PublishOptions::default())
            .await
            .unwrap();
        let m = ch.basic_get(&q, true).await.unwrap().unwrap();
        assert_eq!(m.properties, fits);
        // One byte more cannot be sent (there are no continuation frames for headers).
        let e = ch
            .basic_publish(
                "",
                &q,
                b"x",
                &with_value(4096 - 32),
                PublishOptions::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, warren::Error::Encode(_)), "{e:?}");
        assert!(ch.is_open());
        ch.basic_publish(
            "",
            &q,
            b"still fine",
            &BasicProperties::default(),
            PublishOptions::default(),
        )
        .await
        .unwrap();
        conn.close().await.unwrap();
    })
    .await
}
