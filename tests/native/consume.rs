//! Consuming: prefetch, settling (ack/nack/reject/recover), cancellation from either side,
//! exclusivity, several consumers, basic.get.

use crate::common::*;
use futures::StreamExt;
use std::collections::HashSet;
use warren::client::{ConsumeOptions, PublishOptions, QueueDeleteOptions};
use warren::{BasicProperties, Channel, Error, FieldTable, ReplyCode};

/// Publishes `n` messages "0".."n-1" to `queue` through a confirm channel: when this returns they
/// are all enqueued.
async fn fill(conn: &warren::Connection, queue: &str, n: usize) {
    let ch = conn.channel(None).await.unwrap();
    ch.confirm_select().await.unwrap();
    let props = &BasicProperties::default();
    let ch = &ch;
    let publishes = (0..n).map(|i| async move {
        let body = i.to_string();
        ch.basic_publish("", queue, body.as_bytes(), props, PublishOptions::default())
            .await
    });
    for r in futures::future::join_all(publishes).await {
        r.unwrap();
    }
    ch.close().await.unwrap();
}

fn acked() -> ConsumeOptions {
    ConsumeOptions::default()
}

fn no_ack() -> ConsumeOptions {
    ConsumeOptions {
        no_ack: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn prefetch_limits_unacked_deliveries() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        fill(&conn, &q, 20).await;
        ch.basic_qos(10, 0, false).await.unwrap();
        let mut consumer = ch
            .basic_consume(&q, acked(), FieldTable::new())
            .await
            .unwrap();
        let mut first = Vec::new();
        for i in 0..10 {
            let m = consumer.wait(5_000).await.unwrap().expect("delivery");
            assert_eq!(m.body_str(), i.to_string());
            assert_eq!(m.delivery_tag, i as u64 + 1);
            assert!(!m.redelivered);
            assert_eq!(
                (
                    m.exchange.as_str(),
                    m.routing_key.as_str(),
                    m.consumer_tag.as_str()
                ),
                ("", q.as_str(), consumer.tag())
            );
            first.push(m);
        }
        // The broker holds the other 10 back until something is acked.
        assert_eq!(consumer.wait(500).await.unwrap_err(), Error::Timeout);
        assert_eq!(ready_count(&ch, &q).await, 10);
        for m in &first {
            m.ack().unwrap();
        }
        for i in 10..20 {
            let m = consumer
                .wait(5_000)
                .await
                .unwrap()
                .expect("delivery after acks");
            assert_eq!(m.body_str(), i.to_string());
            m.ack().unwrap();
        }
        assert_eq!(consumer.wait(200).await.unwrap_err(), Error::Timeout);
        assert_eq!(ready_count(&ch, &q).await, 0);
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn ack_multiple_releases_the_window() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        fill(&conn, &q, 6).await;
        ch.basic_qos(3, 0, false).await.unwrap();
        let mut consumer = ch
            .basic_consume(&q, acked(), FieldTable::new())
            .await
            .unwrap();
        let mut last = 0;
        for _ in 0..3 {
            last = consumer.wait(5_000).await.unwrap().unwrap().delivery_tag;
        }
        assert_eq!(consumer.wait(300).await.unwrap_err(), Error::Timeout);
        ch.basic_ack(last, true).unwrap();
        for i in 3..6 {
            assert_eq!(
                consumer.wait(5_000).await.unwrap().unwrap().body_str(),
                i.to_string()
            );
        }
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn ack_nack_reject_with_basic_get() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        fill(&conn, &q, 3).await;

        let m0 = ch.basic_get(&q, false).await.unwrap().unwrap();
        assert_eq!(
            (m0.body_str().as_ref(), m0.message_count, m0.redelivered),
            ("0", Some(2), false)
        );
        m0.ack().unwrap();

        let m1 = ch.basic_get(&q, false).await.unwrap().unwrap();
        assert_eq!(m1.body_str(), "1");
        m1.nack(true).unwrap();
        // Requeued at its original position (the head), flagged redelivered.
        let again = ch.basic_get(&q, false).await.unwrap().unwrap();
        assert_eq!((again.body_str().as_ref(), again.redelivered), ("1", true));
        again.ack().unwrap();

        let m2 = ch.basic_get(&q, false).await.unwrap().unwrap();
        assert_eq!((m2.body_str().as_ref(), m2.message_count), ("2", Some(0)));
        m2.reject(false).unwrap();
        assert!(
            ch.basic_get(&q, false).await.unwrap().is_none(),
            "rejected without requeue: gone"
        );

        // nack without requeue drops, reject with requeue keeps.
        fill(&conn, &q, 2).await;
        ch.basic_get(&q, false)
            .await
            .unwrap()
            .unwrap()
            .nack(false)
            .unwrap();
        ch.basic_get(&q, false)
            .await
            .unwrap()
            .unwrap()
            .reject(true)
            .unwrap();
        let kept = ch.basic_get(&q, true).await.unwrap().unwrap();
        assert_eq!((kept.body_str().as_ref(), kept.redelivered), ("1", true));
        assert!(ch.basic_get(&q, true).await.unwrap().is_none());
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn nack_requeue_redelivers_to_the_consumer() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        fill(&conn, &q, 1).await;
        let mut consumer = ch
            .basic_consume(&q, acked(), FieldTable::new())
            .await
            .unwrap();
        let m = consumer.wait(5_000).await.unwrap().unwrap();
        assert!(!m.redelivered);
        m.nack(true).unwrap();
        let m = consumer.wait(5_000).await.unwrap().unwrap();
        assert_eq!((m.body_str().as_ref(), m.redelivered), ("0", true));
        m.reject(false).unwrap();
        assert_eq!(consumer.wait(300).await.unwrap_err(), Error::Timeout);
        assert_eq!(ready_count(&ch, &q).await, 0);
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn ack_of_unknown_delivery_tag_is_precondition_failed() {
    bounded(async {
        let (conn, ch) = open().await;
        ch.basic_ack(999, false).unwrap(); // async method: the broker answers with a channel close
        let e = ch
            .queue_declare("", exclusive(), FieldTable::new())
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::PRECONDITION_FAILED);
        assert!(conn.is_open());
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn basic_get_reports_message_count_and_none_when_empty() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        assert!(ch.basic_get(&q, true).await.unwrap().is_none());
        fill(&conn, &q, 3).await;
        for (i, left) in [2u32, 1, 0].into_iter().enumerate() {
            let m = ch.basic_get(&q, true).await.unwrap().unwrap();
            assert_eq!(
                (m.body_str().into_owned(), m.message_count),
                (i.to_string(), Some(left))
            );
            assert_eq!(
                (m.exchange.as_str(), m.routing_key.as_str()),
                ("", q.as_str())
            );
            assert_eq!(m.consumer_tag, "");
        }
        assert!(ch.basic_get(&q, true).await.unwrap().is_none());
        let e = ch.basic_get(&unique("missing"), true).await.unwrap_err();
        assert_channel_closed(&e, ReplyCode::NOT_FOUND);
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn basic_recover_requeues_unacked_messages() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        fill(&conn, &q, 2).await;
        let a = ch.basic_get(&q, false).await.unwrap().unwrap();
        let b = ch.basic_get(&q, false).await.unwrap().unwrap();
        assert!(!a.redelivered && !b.redelivered);
        assert!(ch.basic_get(&q, false).await.unwrap().is_none());
        ch.basic_recover(true).await.unwrap();
        let mut bodies = Vec::new();
        while let Some(m) = ch.basic_get(&q, false).await.unwrap() {
            assert!(m.redelivered);
            bodies.push(m.body_str().into_owned());
            m.ack().unwrap();
        }
        bodies.sort();
        assert_eq!(bodies, ["0", "1"]);
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn consumers_on_several_channels() {
    bounded(async {
        let (conn, ch) = open().await;
        let shared_q = temp_queue(&ch).await;
        let chans: Vec<Channel> = futures::future::join_all((0..3).map(|_| conn.channel(None)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let mut consumers = Vec::new();
        for c in &chans {
            consumers.push(
                c.basic_consume(&shared_q, no_ack(), FieldTable::new())
                    .await
                    .unwrap(),
            );
        }
        fill(&conn, &shared_q, 30).await;
        // Competing consumers: each message goes to exactly one of them (RabbitMQ round-robins,
        // so every consumer gets some).
        let mut merged = futures::stream::select_all(consumers);
        let mut seen = HashSet::new();
        let mut per_channel = std::collections::HashMap::<u16, usize>::new();
        for _ in 0..30 {
            let m = merged.next().await.unwrap().unwrap();
            assert!(seen.insert(m.body_str().into_owned()), "delivered twice");
            *per_channel.entry(m.channel).or_default() += 1;
        }
        assert_eq!(seen.len(), 30);
        let mut ids: Vec<u16> = per_channel.keys().copied().collect();
        ids.sort_unstable();
        let mut expected: Vec<u16> = chans.iter().map(|c| c.id()).collect();
        expected.sort_unstable();
        assert_eq!(
            ids, expected,
            "every consumer got messages: {per_channel:?}"
        );
        assert_eq!(ready_count(&ch, &shared_q).await, 0);
        // Separate queues bound to one fanout: each consumer sees every message.
        let x = unique("fan");
        ch.exchange_declare(
            &x,
            "fanout",
            warren::client::ExchangeDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::new(),
        )
        .await
        .unwrap();
        let mut fan = Vec::new();
        for c in &chans {
            let q = temp_queue(c).await;
            c.queue_bind(&q, &x, "", FieldTable::new()).await.unwrap();
            fan.push(
                c.basic_consume(&q, no_ack(), FieldTable::new())
                    .await
                    .unwrap(),
            );
        }
        ch.basic_publish(
            &x,
            "",
            b"to all",
            &BasicProperties::default(),
            PublishOptions::default(),
        )
        .await
        .unwrap();
        for c in &mut fan {
            let m = c.wait(5_000).await.unwrap().unwrap();
            assert_eq!(
                (m.body_str().as_ref(), m.exchange.as_str()),
                ("to all", x.as_str())
            );
        }
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn client_cancel_ends_the_stream() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        let tag = unique("tag");
        let mut consumer = ch
            .basic_consume(
                &q,
                ConsumeOptions {
                    tag: tag.clone(),
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::new(),
            )
            .await
            .unwrap();
        assert_eq!(consumer.tag(), tag);
        fill(&conn, &q, 1).await;
        assert_eq!(consumer.next().await.unwrap().unwrap().body_str(), "0");
        consumer.cancel().await.unwrap();
        assert!(consumer.next().await.is_none());
        // Nothing is delivered to it any more: new messages stay in the queue.
        fill(&conn, &q, 2).await;
        assert_eq!(ready_count(&ch, &q).await, 2);
        // Cancelling by tag through the channel works the same way.
        let mut second = ch
            .basic_consume(&q, acked(), FieldTable::new())
            .await
            .unwrap();
        assert_ne!(second.tag(), tag);
        assert!(second.tag().starts_with("amq.ctag-"), "{}", second.tag());
        ch.basic_cancel(second.tag()).await.unwrap();
        // It may have received the two messages before the cancel: drain, then it ends.
        let mut got = 0;
        while let Some(m) = second.next().await {
            m.unwrap();
            got += 1;
        }
        assert!(got <= 2);
        assert!(ch.is_open());
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn server_cancel_on_queue_delete_ends_the_stream() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        let mut consumer = ch
            .basic_consume(&q, no_ack(), FieldTable::new())
            .await
            .unwrap();
        fill(&conn, &q, 1).await;
        assert!(consumer.next().await.unwrap().is_ok());
        let other = conn.channel(None).await.unwrap();
        assert_eq!(
            other
                .queue_delete(&q, QueueDeleteOptions::default())
                .await
                .unwrap(),
            0
        );
        // basic.cancel from the broker: the stream ends cleanly and the channel stays open.
        assert!(consumer.next().await.is_none());
        assert!(ch.is_open());
        temp_queue(&ch).await;
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn channel_close_ends_its_consumers() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        let mut a = ch
            .basic_consume(&q, acked(), FieldTable::new())
            .await
            .unwrap();
        let mut b = ch
            .basic_consume(&q, acked(), FieldTable::new())
            .await
            .unwrap();
        let keep_ch = conn.channel(None).await.unwrap();
        let mut keep = keep_ch
            .basic_consume(&q, no_ack(), FieldTable::new())
            .await
            .unwrap();
        ch.close().await.unwrap();
        assert!(a.next().await.is_none());
        assert!(b.next().await.is_none());
        // The consumer on the other channel carries on.
        fill(&conn, &q, 1).await;
        assert_eq!(keep.wait(5_000).await.unwrap().unwrap().body_str(), "0");
        conn.close().await.unwrap();
        assert!(keep.next().await.is_none());
    })
    .await
}

#[tokio::test]
async fn exclusive_consumer_conflicts() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        let _excl = ch
            .basic_consume(
                &q,
                ConsumeOptions {
                    exclusive: true,
                    ..Default::default()
                },
                FieldTable::new(),
            )
            .await
            .unwrap();
        let other = conn.channel(None).await.unwrap();
        let e = other
            .basic_consume(&q, acked(), FieldTable::new())
            .await
            .unwrap_err();
        // RabbitMQ answers 403 ACCESS_REFUSED ("in exclusive use"); 405 would also be acceptable.
        assert!(
            matches!(
                code(&e),
                ReplyCode::ACCESS_REFUSED | ReplyCode::RESOURCE_LOCKED
            ),
            "{e}"
        );
        assert!(matches!(e, Error::ChannelClosed(_)), "{e:?}");
        // And the other way round: an exclusive consumer when one already exists.
        let q2 = temp_queue(&ch).await;
        let _plain = ch
            .basic_consume(&q2, acked(), FieldTable::new())
            .await
            .unwrap();
        let other = conn.channel(None).await.unwrap();
        let e = other
            .basic_consume(
                &q2,
                ConsumeOptions {
                    exclusive: true,
                    ..Default::default()
                },
                FieldTable::new(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                code(&e),
                ReplyCode::ACCESS_REFUSED | ReplyCode::RESOURCE_LOCKED
            ),
            "{e}"
        );
        assert!(ch.is_open());
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn consume_from_missing_queue_is_not_found() {
    bounded(async {
        let (conn, ch) = open().await;
        let e = ch
            .basic_consume(&unique("missing"), acked(), FieldTable::new())
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::NOT_FOUND);
        assert!(conn.is_open());
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn reused_consumer_tag_is_a_connection_error() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        let tag = unique("dup");
        let opts = ConsumeOptions {
            tag: tag.clone(),
            ..Default::default()
        };
        let mut first = ch
            .basic_consume(&q, opts.clone(), FieldTable::new())
            .await
            .unwrap();
        // RabbitMQ treats a duplicate tag on one channel as a hard error: 530 NOT_ALLOWED.
        let e = ch
            .basic_consume(&q, opts, FieldTable::new())
            .await
            .unwrap_err();
        assert_connection_closed(&e, ReplyCode::NOT_ALLOWED);
        assert_connection_closed(
            &first.next().await.unwrap().unwrap_err(),
            ReplyCode::NOT_ALLOWED,
        );
        assert!(first.next().await.is_none());
        assert!(!conn.is_open());
    })
    .await
}

#[tokio::test]
async fn basic_recover_redelivers_to_the_consumer() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        fill(&conn, &q, 2).await;
        let mut consumer = ch
            .basic_consume(&q, acked(), FieldTable::new())
            .await
            .unwrap();
        for i in 0..2 {
            let m = consumer.wait(5_000).await.unwrap().unwrap();
            assert_eq!(
                (m.body_str().into_owned(), m.redelivered),
                (i.to_string(), false)
            );
        }
        ch.basic_recover(true).await.unwrap();
        for i in 0..2 {
            let m = consumer.wait(5_000).await.unwrap().unwrap();
            assert_eq!(
                (m.body_str().into_owned(), m.redelivered),
                (i.to_string(), true)
            );
            m.ack().unwrap();
        }
        // RabbitMQ does not implement recover without requeue: 540 NOT_IMPLEMENTED, a hard error.
        let e = ch.basic_recover(false).await.unwrap_err();
        assert_connection_closed(&e, ReplyCode::NOT_IMPLEMENTED);
        assert_connection_closed(
            &consumer.next().await.unwrap().unwrap_err(),
            ReplyCode::NOT_IMPLEMENTED,
        );
        assert!(!conn.is_open());
    })
    .await
}

#[tokio::test]
async fn dropping_an_active_consumer_cancels_it() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        let consumer = ch
            .basic_consume(&q, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        drop(consumer);
        // Same channel, so the broker sees the cancel before the publish: the message stays in
        // the queue instead of going to a consumer nobody reads.
        ch.basic_publish(
            "",
            &q,
            b"kept",
            &BasicProperties::default(),
            PublishOptions::default(),
        )
        .await
        .unwrap();
        let msg = get_eventually(&ch, &q, 50)
            .await
            .expect("the message was not given to the dropped consumer");
        assert_eq!(&msg.body[..], b"kept");
        conn.close().await.unwrap();
    })
    .await
}

/// Stream queues: a consumer attaches at the offset given in its arguments, and every delivery
/// carries its offset in the `x-stream-offset` header.
#[tokio::test]
async fn stream_queue_consumed_from_an_offset() {
    bounded(async {
        let (conn, ch) = open().await;
        let name = unique("stream");
        let args = FieldTable::new().with("x-queue-type", "stream");
        let durable = warren::client::QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.queue_declare(&name, durable, args).await.unwrap();
        ch.confirm_select().await.unwrap();
        let props = BasicProperties::default();
        let publishes = (0..5).map(|i| {
            let body = format!("m{i}");
            let ch = ch.clone();
            let (name, props) = (name.clone(), props.clone());
            async move {
                ch.basic_publish(
                    "",
                    &name,
                    body.as_bytes(),
                    &props,
                    PublishOptions::default(),
                )
                .await
            }
        });
        for r in futures::future::join_all(publishes).await {
            r.unwrap();
        }
        for (offset, first) in [
            (warren::FieldValue::I64(2), 2),
            (warren::FieldValue::from("first"), 0),
        ] {
            let consumer_ch = conn.channel(None).await.unwrap();
            consumer_ch.basic_qos(100, 0, false).await.unwrap();
            let args = FieldTable::new().with("x-stream-offset", offset);
            let mut consumer = consumer_ch
                .basic_consume(&name, ConsumeOptions::default(), args)
                .await
                .unwrap();
            for i in first..5 {
                let m = consumer.next().await.expect("a delivery").unwrap();
                assert_eq!(m.body_str(), format!("m{i}"));
                let at = m
                    .properties
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("x-stream-offset"))
                    .and_then(|v| v.as_i64());
                assert_eq!(at, Some(i as i64), "x-stream-offset header");
                m.ack().unwrap();
            }
            consumer.cancel().await.unwrap();
            consumer_ch.close().await.unwrap();
        }
        ch.queue_delete(&name, QueueDeleteOptions::default())
            .await
            .unwrap();
        conn.close().await.unwrap();
    })
    .await
}
