//! Publisher confirms, mandatory returns, transactions and channel.flow.

use crate::common::*;
use futures::channel::mpsc::TryRecvError;
use futures::future::join_all;
use warren::client::{PublishOptions, QueueDeclareOptions};
use warren::{BasicProperties, Error, FieldTable, FieldValue, ReplyCode};

fn mandatory() -> PublishOptions {
    PublishOptions {
        mandatory: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn thousand_confirmed_publishes_in_flight() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        ch.confirm_select().await.unwrap();
        ch.confirm_select().await.unwrap(); // idempotent
        let props = BasicProperties::default();
        let bodies: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
        let results =
            join_all(bodies.iter().map(|b| {
                ch.basic_publish("", &q, b.as_bytes(), &props, PublishOptions::default())
            }))
            .await;
        assert_eq!(results.len(), 1000);
        for r in results {
            r.unwrap();
        }
        // Acked means enqueued: all 1000 are there, in publish order.
        assert_eq!(ready_count(&ch, &q).await, 1000);
        for b in bodies.iter().take(3) {
            assert_eq!(
                ch.basic_get(&q, true).await.unwrap().unwrap().body_str(),
                b.as_str()
            );
        }
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn publish_to_missing_exchange_fails_the_confirm() {
    bounded(async {
        let (conn, ch) = open().await;
        ch.confirm_select().await.unwrap();
        let x = unique("missing-x");
        let e = ch
            .basic_publish(
                &x,
                "k",
                b"x",
                &BasicProperties::default(),
                PublishOptions::default(),
            )
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::NOT_FOUND);
        assert!(e.to_string().contains(&x), "{e}");
        assert!(!ch.is_open());
        assert!(conn.is_open());
        let ch2 = conn.channel(None).await.unwrap();
        ch2.confirm_select().await.unwrap();
        let q = temp_queue(&ch2).await;
        ch2.basic_publish(
            "",
            &q,
            b"fine",
            &BasicProperties::default(),
            PublishOptions::default(),
        )
        .await
        .unwrap();
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn mandatory_unroutable_is_returned_before_the_confirm() {
    bounded(async {
        let (conn, ch) = open().await;
        ch.confirm_select().await.unwrap();
        let mut returns = ch.returns();
        let key = unique("nowhere");
        let props = BasicProperties::default()
            .with_content_type("text/plain")
            .with_correlation_id("c-1");
        ch.basic_publish("amq.direct", &key, b"bounce", &props, mandatory())
            .await
            .expect("an unroutable message is still acked");
        // The return was delivered before the publish resolved: it is already in the stream.
        let r = returns.try_recv().expect("return arrived before the ack");
        assert_eq!(r.reply_code, ReplyCode::NO_ROUTE);
        assert_eq!(r.reply_text, "NO_ROUTE");
        assert_eq!(
            (r.channel, r.exchange.as_str(), r.routing_key.as_str()),
            (ch.id(), "amq.direct", key.as_str())
        );
        assert_eq!(&r.body[..], b"bounce");
        assert_eq!(r.properties, props);

        // Not mandatory: silently dropped, nothing returned. Routable mandatory: nothing returned.
        ch.basic_publish(
            "amq.direct",
            &key,
            b"drop",
            &props,
            PublishOptions::default(),
        )
        .await
        .unwrap();
        let q = temp_queue(&ch).await;
        ch.basic_publish("", &q, b"routed", &props, mandatory())
            .await
            .unwrap();
        assert_eq!(
            returns.try_recv().unwrap_err(),
            TryRecvError::Empty,
            "no further returns"
        );
        conn.close().await.unwrap();
        // The stream ends with the connection.
        assert_eq!(returns.try_recv().unwrap_err(), TryRecvError::Closed);
    })
    .await
}

#[tokio::test]
async fn returns_without_confirms_precede_later_replies() {
    bounded(async {
        let (conn, ch) = open().await;
        let mut returns = ch.returns();
        let key = unique("nowhere");
        ch.basic_publish("", &key, b"one", &BasicProperties::default(), mandatory())
            .await
            .unwrap();
        ch.basic_publish("", &key, b"two", &BasicProperties::default(), mandatory())
            .await
            .unwrap();
        // The broker handles a channel's methods in order: once a later call is answered, both
        // returns have arrived.
        ch.basic_qos(5, 0, false).await.unwrap();
        let a = returns.try_recv().unwrap();
        let b = returns.try_recv().unwrap();
        assert_eq!((&a.body[..], &b.body[..]), (&b"one"[..], &b"two"[..]));
        assert_eq!(a.reply_code, ReplyCode::NO_ROUTE);
        assert_eq!(returns.try_recv().unwrap_err(), TryRecvError::Empty);
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn broker_nack_fails_the_publish() {
    bounded(async {
        let (conn, ch) = open().await;
        ch.confirm_select().await.unwrap();
        let q = unique("reject-publish");
        let args = FieldTable::new()
            .with("x-max-length", FieldValue::I32(1))
            .with("x-overflow", "reject-publish");
        ch.queue_declare(
            &q,
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            args,
        )
        .await
        .unwrap();
        let props = BasicProperties::default();
        ch.basic_publish("", &q, b"fits", &props, PublishOptions::default())
            .await
            .unwrap();
        let e = ch
            .basic_publish("", &q, b"overflow", &props, PublishOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e, Error::Nacked);
        // A nack is not a channel error.
        assert!(ch.is_open());
        assert_eq!(
            ch.basic_get(&q, true).await.unwrap().unwrap().body_str(),
            "fits"
        );
        ch.basic_publish("", &q, b"fits again", &props, PublishOptions::default())
            .await
            .unwrap();
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn transactions_commit_and_rollback() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        let observer = conn.channel(None).await.unwrap();
        ch.tx_select().await.unwrap();
        let props = BasicProperties::default();
        ch.basic_publish("", &q, b"rolled back", &props, PublishOptions::default())
            .await
            .unwrap();
        ch.basic_publish(
            "",
            &q,
            b"rolled back too",
            &props,
            PublishOptions::default(),
        )
        .await
        .unwrap();
        // Uncommitted publishes are invisible...
        ch.basic_qos(0, 0, false).await.unwrap(); // a round trip on the tx channel first
        assert_eq!(ready_count(&observer, &q).await, 0);
        ch.tx_rollback().await.unwrap();
        assert_eq!(ready_count(&observer, &q).await, 0);
        // ...and committed ones appear at commit.
        ch.basic_publish("", &q, b"committed", &props, PublishOptions::default())
            .await
            .unwrap();
        ch.tx_commit().await.unwrap();
        assert_eq!(ready_count(&observer, &q).await, 1);
        assert_eq!(
            observer
                .basic_get(&q, false)
                .await
                .unwrap()
                .unwrap()
                .body_str(),
            "committed"
        );

        // Acks are transactional too: acked inside a rolled-back transaction means not acked.
        let m = ch.basic_get(&q, false).await.unwrap();
        assert!(
            m.is_none(),
            "the message is unacked on the observer channel"
        );
        // Closing the observer requeues the message; the queue takes it back asynchronously
        // after close-ok, so ask until it is there (each ask is a round trip; bounded).
        observer.close().await.unwrap();
        let mut m = None;
        for _ in 0..200 {
            m = ch.basic_get(&q, false).await.unwrap();
            if m.is_some() {
                break;
            }
        }
        let m = m.expect("the closed channel's unacked message is requeued");
        assert!(m.redelivered);
        m.ack().unwrap();
        ch.tx_rollback().await.unwrap();
        ch.basic_recover(true).await.unwrap();
        let m = ch
            .basic_get(&q, false)
            .await
            .unwrap()
            .expect("ack was rolled back");
        m.ack().unwrap();
        ch.tx_commit().await.unwrap();
        let observer = conn.channel(None).await.unwrap();
        assert_eq!(ready_count(&observer, &q).await, 0);
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn tx_and_confirm_modes_exclude_each_other() {
    bounded(async {
        let (conn, ch) = open().await;
        let e = ch.tx_commit().await.unwrap_err();
        assert_channel_closed(&e, ReplyCode::PRECONDITION_FAILED);
        let ch = conn.channel(None).await.unwrap();
        ch.tx_select().await.unwrap();
        let e = ch.confirm_select().await.unwrap_err();
        assert_channel_closed(&e, ReplyCode::PRECONDITION_FAILED);
        let ch = conn.channel(None).await.unwrap();
        ch.confirm_select().await.unwrap();
        let e = ch.tx_select().await.unwrap_err();
        assert_channel_closed(&e, ReplyCode::PRECONDITION_FAILED);
        assert!(conn.is_open());
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn channel_flow() {
    bounded(async {
        let (conn, ch) = open().await;
        assert!(!ch.is_flow_paused());
        assert!(
            ch.basic_flow(true).await.unwrap(),
            "active=true is acknowledged with active=true"
        );
        // RabbitMQ does not implement pausing deliveries with channel.flow: active=false is
        // answered with connection.close 540 NOT_IMPLEMENTED (a hard error).
        let e = ch.basic_flow(false).await.unwrap_err();
        assert_connection_closed(&e, ReplyCode::NOT_IMPLEMENTED);
        assert!(!conn.is_open());
        assert_connection_closed(&conn.closed().await.unwrap(), ReplyCode::NOT_IMPLEMENTED);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_and_consumer_on_several_threads() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        let mut consumer = ch
            .basic_consume(
                &q,
                warren::client::ConsumeOptions::default(),
                FieldTable::new(),
            )
            .await
            .unwrap();
        let reader = tokio::spawn(async move {
            use futures::StreamExt;
            let mut seen = std::collections::HashSet::new();
            while seen.len() < 800 {
                let m = consumer.next().await.unwrap().unwrap();
                m.ack().unwrap();
                assert!(seen.insert(m.body_str().into_owned()), "duplicate delivery");
            }
            seen
        });
        // Four tasks, each with its own confirm channel, publishing 200 messages at once.
        let publishers: Vec<_> = (0..4)
            .map(|p| {
                let (conn, q) = (conn.clone(), q.clone());
                tokio::spawn(async move {
                    let ch = conn.channel(None).await.unwrap();
                    ch.confirm_select().await.unwrap();
                    let props = BasicProperties::default();
                    let bodies: Vec<String> = (0..200).map(|i| format!("{p}-{i}")).collect();
                    for r in join_all(bodies.iter().map(|b| {
                        ch.basic_publish("", &q, b.as_bytes(), &props, PublishOptions::default())
                    }))
                    .await
                    {
                        r.unwrap();
                    }
                })
            })
            .collect();
        for p in publishers {
            p.await.unwrap();
        }
        let seen = reader.await.unwrap();
        assert_eq!(seen.len(), 800);
        assert!(seen.contains("0-0") && seen.contains("3-199"));
        conn.close().await.unwrap();
    })
    .await
}
