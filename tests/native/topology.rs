//! Exchanges, queues and bindings against the real broker.
//!
//! Routing outcomes are observed without sleeping: publishes go through a confirm-mode channel
//! with `mandatory`, so when a publish resolves the broker has either enqueued the message or
//! already sent it back with basic.return (RabbitMQ sends the return before the ack).

use crate::common::*;
use futures::channel::mpsc::TryRecvError;
use futures::StreamExt;
use warren::client::Returns;
use warren::client::{
    ConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, PublishOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use warren::{BasicProperties, Channel, FieldTable, FieldValue, ReplyCode};

fn passive_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        passive: true,
        ..Default::default()
    }
}

fn passive_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        passive: true,
        ..Default::default()
    }
}

fn auto_delete() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    }
}

/// A confirm-mode channel and its returns stream.
async fn confirm_channel(conn: &warren::Connection) -> (Channel, Returns) {
    let ch = conn.channel(None).await.unwrap();
    ch.confirm_select().await.unwrap();
    let returns = ch.returns();
    (ch, returns)
}

/// Publishes mandatory + confirmed; `true` when the broker routed it, `false` when it came back 312.
async fn routed(
    ch: &Channel,
    returns: &mut Returns,
    exchange: &str,
    key: &str,
    props: &BasicProperties,
) -> bool {
    let body = format!("{exchange}/{key}");
    ch.basic_publish(
        exchange,
        key,
        body.as_bytes(),
        props,
        PublishOptions {
            mandatory: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    match returns.try_recv() {
        Ok(r) => {
            assert_eq!(r.reply_code, ReplyCode::NO_ROUTE);
            assert_eq!(
                (r.exchange.as_str(), r.routing_key.as_str()),
                (exchange, key)
            );
            assert_eq!(&r.body[..], body.as_bytes());
            false
        }
        Err(TryRecvError::Closed) => panic!("returns stream ended"),
        Err(TryRecvError::Empty) => true, // nothing returned
    }
}

/// Drains a queue with basic.get and returns the bodies in order.
async fn drain(ch: &Channel, queue: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(m) = ch.basic_get(queue, true).await.unwrap() {
        out.push(m.body_str().into_owned());
    }
    out
}

#[tokio::test]
async fn exchange_declare_and_delete_every_type() {
    bounded(async {
        let (conn, mut ch) = open().await;
        for kind in ["direct", "fanout", "topic", "headers"] {
            let x = unique(kind);
            ch.exchange_declare(
                &x,
                kind,
                ExchangeDeclareOptions::default(),
                FieldTable::new(),
            )
            .await
            .unwrap();
            // Redeclaring with the same type is fine; passive finds it.
            ch.exchange_declare(
                &x,
                kind,
                ExchangeDeclareOptions::default(),
                FieldTable::new(),
            )
            .await
            .unwrap();
            ch.exchange_declare(&x, kind, passive_exchange(), FieldTable::new())
                .await
                .unwrap();
            ch.exchange_delete(&x, ExchangeDeleteOptions::default())
                .await
                .unwrap();
            let e = ch
                .exchange_declare(&x, kind, passive_exchange(), FieldTable::new())
                .await
                .unwrap_err();
            assert_channel_closed(&e, ReplyCode::NOT_FOUND);
            assert!(!ch.is_open());
            // The 404 closed the channel; reopen the same id for the next round.
            ch = conn.channel(Some(ch.id())).await.unwrap();
        }
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn redeclare_with_another_type_is_precondition_failed() {
    bounded(async {
        let (conn, ch) = open().await;
        let x = unique("retype");
        ch.exchange_declare(&x, "direct", auto_delete(), FieldTable::new())
            .await
            .unwrap();
        let e = ch
            .exchange_declare(&x, "fanout", auto_delete(), FieldTable::new())
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::PRECONDITION_FAILED);
        let ch = conn.channel(None).await.unwrap();
        ch.exchange_delete(&x, ExchangeDeleteOptions::default())
            .await
            .unwrap();
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn passive_declare_of_missing_exchange_keeps_the_connection_usable() {
    bounded(async {
        let (conn, ch) = open().await;
        let x = unique("absent");
        let e = ch
            .exchange_declare(&x, "direct", passive_exchange(), FieldTable::new())
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::NOT_FOUND);
        let info = e.close_info().unwrap();
        assert_eq!(
            (info.class_id, info.method_id),
            (40, 10),
            "caused by exchange.declare"
        );
        assert!(conn.is_open());
        let ch2 = conn.channel(None).await.unwrap();
        let (pub_ch, mut returns) = confirm_channel(&conn).await;
        let q = temp_queue(&ch2).await;
        assert!(routed(&pub_ch, &mut returns, "", &q, &BasicProperties::default()).await);
        assert_eq!(drain(&ch2, &q).await, [format!("/{q}")]);
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn exchange_to_exchange_bind_routes_and_unbind_stops_it() {
    bounded(async {
        let conn = connect().await;
        let ch = conn.channel(None).await.unwrap();
        let (pub_ch, mut returns) = confirm_channel(&conn).await;
        let src = unique("e2e-src");
        let dst = unique("e2e-dst");
        // Not auto-delete: unbinding the last binding would delete an auto-delete source.
        ch.exchange_declare(
            &src,
            "direct",
            ExchangeDeclareOptions::default(),
            FieldTable::new(),
        )
        .await
        .unwrap();
        ch.exchange_declare(&dst, "fanout", auto_delete(), FieldTable::new())
            .await
            .unwrap();
        let q = temp_queue(&ch).await;
        ch.queue_bind(&q, &dst, "", FieldTable::new())
            .await
            .unwrap();
        let props = BasicProperties::default();

        assert!(
            !routed(&pub_ch, &mut returns, &src, "k", &props).await,
            "no e2e binding yet"
        );
        ch.exchange_bind(&dst, &src, "k", FieldTable::new())
            .await
            .unwrap();
        assert!(routed(&pub_ch, &mut returns, &src, "k", &props).await);
        assert!(!routed(&pub_ch, &mut returns, &src, "other-key", &props).await);
        assert_eq!(drain(&ch, &q).await, [format!("{src}/k")]);

        ch.exchange_unbind(&dst, &src, "k", FieldTable::new())
            .await
            .unwrap();
        assert!(
            !routed(&pub_ch, &mut returns, &src, "k", &props).await,
            "unbound"
        );
        assert!(drain(&ch, &q).await.is_empty());

        ch.exchange_delete(&src, ExchangeDeleteOptions::default())
            .await
            .unwrap();
        ch.exchange_delete(&dst, ExchangeDeleteOptions::default())
            .await
            .unwrap();
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn if_unused_delete_of_bound_exchange_is_precondition_failed() {
    bounded(async {
        let (conn, ch) = open().await;
        let x = unique("bound");
        ch.exchange_declare(
            &x,
            "fanout",
            ExchangeDeclareOptions::default(),
            FieldTable::new(),
        )
        .await
        .unwrap();
        let q = temp_queue(&ch).await;
        ch.queue_bind(&q, &x, "", FieldTable::new()).await.unwrap();
        let e = ch
            .exchange_delete(
                &x,
                ExchangeDeleteOptions {
                    if_unused: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::PRECONDITION_FAILED);
        // Still there; once unbound, if_unused deletion succeeds.
        let ch = conn.channel(None).await.unwrap();
        ch.exchange_declare(&x, "fanout", passive_exchange(), FieldTable::new())
            .await
            .unwrap();
        ch.queue_unbind(&q, &x, "", FieldTable::new())
            .await
            .unwrap();
        ch.exchange_delete(
            &x,
            ExchangeDeleteOptions {
                if_unused: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let e = ch
            .exchange_declare(&x, "fanout", passive_exchange(), FieldTable::new())
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::NOT_FOUND);
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn topic_patterns_route_as_specified() {
    bounded(async {
        let conn = connect().await;
        let ch = conn.channel(None).await.unwrap();
        let (pub_ch, mut returns) = confirm_channel(&conn).await;
        let x = unique("topic");
        ch.exchange_declare(&x, "topic", auto_delete(), FieldTable::new())
            .await
            .unwrap();
        let q = temp_queue(&ch).await;
        ch.queue_bind(&q, &x, "a.*.c", FieldTable::new())
            .await
            .unwrap();
        ch.queue_bind(&q, &x, "x.#", FieldTable::new())
            .await
            .unwrap();
        let props = BasicProperties::default();
        let cases = [
            ("a.b.c", true),
            ("a.b.b.c", false),
            ("a.c", false),
            ("x", true),
            ("x.y.z", true),
            ("b.x", false),
            ("A.b.c", false),
        ];
        for (key, expected) in cases {
            assert_eq!(
                routed(&pub_ch, &mut returns, &x, key, &props).await,
                expected,
                "{key}"
            );
        }
        let expect: Vec<String> = cases
            .iter()
            .filter(|c| c.1)
            .map(|c| format!("{x}/{}", c.0))
            .collect();
        assert_eq!(drain(&ch, &q).await, expect);

        ch.queue_unbind(&q, &x, "x.#", FieldTable::new())
            .await
            .unwrap();
        assert!(!routed(&pub_ch, &mut returns, &x, "x.y", &props).await);
        assert!(routed(&pub_ch, &mut returns, &x, "a.z.c", &props).await);
        assert_eq!(drain(&ch, &q).await, [format!("{x}/a.z.c")]);
        ch.exchange_delete(&x, ExchangeDeleteOptions::default())
            .await
            .unwrap();
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn headers_exchange_matches_binding_arguments() {
    bounded(async {
        let conn = connect().await;
        let ch = conn.channel(None).await.unwrap();
        let (pub_ch, mut returns) = confirm_channel(&conn).await;
        let x = unique("headers");
        ch.exchange_declare(&x, "headers", auto_delete(), FieldTable::new())
            .await
            .unwrap();
        let q = temp_queue(&ch).await;
        let args = FieldTable::new()
            .with("x-match", "all")
            .with("format", "pdf")
            .with("size", 42i32);
        ch.queue_bind(&q, &x, "", args).await.unwrap();
        let with = |t: FieldTable| BasicProperties::default().with_headers(t);
        let full = with(
            FieldTable::new()
                .with("format", "pdf")
                .with("size", 42i32)
                .with("extra", true),
        );
        assert!(routed(&pub_ch, &mut returns, &x, "", &full).await);
        assert!(
            !routed(
                &pub_ch,
                &mut returns,
                &x,
                "",
                &with(FieldTable::new().with("format", "pdf"))
            )
            .await
        );
        assert!(
            !routed(
                &pub_ch,
                &mut returns,
                &x,
                "",
                &with(FieldTable::new().with("format", "pdf").with("size", 43i32))
            )
            .await
        );
        assert!(!routed(&pub_ch, &mut returns, &x, "", &BasicProperties::default()).await);
        assert_eq!(drain(&ch, &q).await.len(), 1);
        ch.exchange_delete(&x, ExchangeDeleteOptions::default())
            .await
            .unwrap();
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn queue_declare_named_and_server_named() {
    bounded(async {
        let (conn, ch) = open().await;
        let name = unique("named");
        let info = ch
            .queue_declare(&name, exclusive(), FieldTable::new())
            .await
            .unwrap();
        assert_eq!(
            (info.name.as_str(), info.message_count, info.consumer_count),
            (name.as_str(), 0, 0)
        );
        let a = temp_queue_info(&ch).await;
        let b = temp_queue_info(&ch).await;
        assert!(a.name.starts_with("amq.gen-"), "{}", a.name);
        assert_ne!(a.name, b.name);
        assert_eq!((a.message_count, a.consumer_count), (0, 0));
        // Redeclaring is idempotent and reports the same queue.
        let again = ch
            .queue_declare(&name, exclusive(), FieldTable::new())
            .await
            .unwrap();
        assert_eq!(again, info);
        // Names starting with amq. are reserved for the broker.
        let e = ch
            .queue_declare(&format!("amq.{name}"), exclusive(), FieldTable::new())
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::ACCESS_REFUSED);
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn passive_declare_reports_counts() {
    bounded(async {
        let conn = connect().await;
        let ch = conn.channel(None).await.unwrap();
        let (pub_ch, mut returns) = confirm_channel(&conn).await;
        let q = temp_queue(&ch).await;
        for _ in 0..3 {
            assert!(routed(&pub_ch, &mut returns, "", &q, &BasicProperties::default()).await);
        }
        let info = ch
            .queue_declare(&q, passive_queue(), FieldTable::new())
            .await
            .unwrap();
        assert_eq!(
            (info.name.as_str(), info.message_count, info.consumer_count),
            (q.as_str(), 3, 0)
        );
        // A consumer with prefetch 1 holds one unacked message: 2 ready, 1 consumer.
        let cons_ch = conn.channel(None).await.unwrap();
        cons_ch.basic_qos(1, 0, false).await.unwrap();
        let mut consumer = cons_ch
            .basic_consume(&q, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let first = consumer.next().await.unwrap().unwrap();
        let info = ch
            .queue_declare(&q, passive_queue(), FieldTable::new())
            .await
            .unwrap();
        assert_eq!((info.message_count, info.consumer_count), (2, 1));
        first.ack().unwrap();
        consumer.next().await.unwrap().unwrap().ack().unwrap();
        consumer.next().await.unwrap().unwrap().ack().unwrap();
        consumer.cancel().await.unwrap();
        let info = ch
            .queue_declare(&q, passive_queue(), FieldTable::new())
            .await
            .unwrap();
        assert_eq!((info.message_count, info.consumer_count), (0, 0));
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn queue_bind_and_unbind_with_routing_keys() {
    bounded(async {
        let conn = connect().await;
        let ch = conn.channel(None).await.unwrap();
        let (pub_ch, mut returns) = confirm_channel(&conn).await;
        let q = temp_queue(&ch).await;
        let key = unique("key");
        let props = BasicProperties::default();
        assert!(!routed(&pub_ch, &mut returns, "amq.direct", &key, &props).await);
        ch.queue_bind(&q, "amq.direct", &key, FieldTable::new())
            .await
            .unwrap();
        assert!(routed(&pub_ch, &mut returns, "amq.direct", &key, &props).await);
        ch.queue_unbind(&q, "amq.direct", &key, FieldTable::new())
            .await
            .unwrap();
        assert!(!routed(&pub_ch, &mut returns, "amq.direct", &key, &props).await);
        assert_eq!(drain(&ch, &q).await, [format!("amq.direct/{key}")]);
        // Binding to a missing exchange is a soft 404.
        let e = ch
            .queue_bind(&q, &unique("nope"), &key, FieldTable::new())
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::NOT_FOUND);
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn purge_and_delete_return_counts() {
    bounded(async {
        let conn = connect().await;
        let ch = conn.channel(None).await.unwrap();
        let (pub_ch, mut returns) = confirm_channel(&conn).await;
        let q = temp_queue(&ch).await;
        for _ in 0..5 {
            assert!(routed(&pub_ch, &mut returns, "", &q, &BasicProperties::default()).await);
        }
        assert_eq!(ch.queue_purge(&q).await.unwrap(), 5);
        assert_eq!(ch.queue_purge(&q).await.unwrap(), 0);
        for _ in 0..4 {
            assert!(routed(&pub_ch, &mut returns, "", &q, &BasicProperties::default()).await);
        }
        // if_empty refuses to delete a queue holding messages.
        let e = ch
            .queue_delete(
                &q,
                QueueDeleteOptions {
                    if_empty: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::PRECONDITION_FAILED);
        let ch = conn.channel(None).await.unwrap();
        assert_eq!(ready_count(&ch, &q).await, 4);
        assert_eq!(
            ch.queue_delete(&q, QueueDeleteOptions::default())
                .await
                .unwrap(),
            4
        );
        let e = ch
            .queue_declare(&q, passive_queue(), FieldTable::new())
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::NOT_FOUND);
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn if_unused_delete_of_consumed_queue_is_precondition_failed() {
    bounded(async {
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        let cons_ch = conn.channel(None).await.unwrap();
        let _consumer = cons_ch
            .basic_consume(&q, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let e = ch
            .queue_delete(
                &q,
                QueueDeleteOptions {
                    if_unused: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::PRECONDITION_FAILED);
        assert!(cons_ch.is_open());
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn nowait_variants_take_effect() {
    bounded(async {
        let (conn, ch) = open().await;
        let x = unique("nowait-x");
        let q = unique("nowait-q");
        // nowait calls resolve without a reply; the synchronous call after each proves the broker
        // applied it (a channel processes methods in order).
        ch.exchange_declare(
            &x,
            "fanout",
            ExchangeDeclareOptions {
                nowait: true,
                ..Default::default()
            },
            FieldTable::new(),
        )
        .await
        .unwrap();
        ch.exchange_declare(&x, "fanout", passive_exchange(), FieldTable::new())
            .await
            .unwrap();
        let info = ch
            .queue_declare(
                &q,
                QueueDeclareOptions {
                    exclusive: true,
                    nowait: true,
                    ..Default::default()
                },
                FieldTable::new(),
            )
            .await
            .unwrap();
        assert_eq!(info.name, q);
        ch.queue_declare(&q, passive_queue(), FieldTable::new())
            .await
            .unwrap();
        ch.queue_bind(&q, &x, "", FieldTable::new()).await.unwrap();
        ch.exchange_delete(
            &x,
            ExchangeDeleteOptions {
                nowait: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            ch.queue_delete(
                &q,
                QueueDeleteOptions {
                    nowait: true,
                    ..Default::default()
                }
            )
            .await
            .unwrap(),
            0
        );
        let e = ch
            .exchange_declare(&x, "fanout", passive_exchange(), FieldTable::new())
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::NOT_FOUND);

        // A nowait call that fails closes the channel asynchronously: the next call learns why.
        let ch = conn.channel(None).await.unwrap();
        let nowait_passive = QueueDeclareOptions {
            passive: true,
            nowait: true,
            ..Default::default()
        };
        ch.queue_declare(&q, nowait_passive, FieldTable::new())
            .await
            .unwrap();
        let e = ch
            .queue_declare("", exclusive(), FieldTable::new())
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::NOT_FOUND);
        assert!(conn.is_open());
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn declare_arguments_are_applied() {
    bounded(async {
        let conn = connect().await;
        let ch = conn.channel(None).await.unwrap();
        let (pub_ch, mut returns) = confirm_channel(&conn).await;
        let args = FieldTable::new().with("x-max-length", FieldValue::I32(2));
        let q = unique("max-length");
        ch.queue_declare(&q, exclusive(), args).await.unwrap();
        for _ in 0..5 {
            assert!(routed(&pub_ch, &mut returns, "", &q, &BasicProperties::default()).await);
        }
        assert_eq!(
            ready_count(&ch, &q).await,
            2,
            "x-max-length drops the oldest"
        );
        // Declaring it again with other arguments is refused.
        let other = FieldTable::new().with("x-max-length", FieldValue::I32(3));
        let e = ch.queue_declare(&q, exclusive(), other).await.unwrap_err();
        assert_channel_closed(&e, ReplyCode::PRECONDITION_FAILED);
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn internal_exchange_only_receives_through_bindings() {
    bounded(async {
        let conn = connect().await;
        let ch = conn.channel(None).await.unwrap();
        let (pub_ch, mut returns) = confirm_channel(&conn).await;
        let src = unique("front");
        let internal = unique("internal");
        ch.exchange_declare(
            &src,
            "fanout",
            ExchangeDeclareOptions::default(),
            FieldTable::new(),
        )
        .await
        .unwrap();
        let o = ExchangeDeclareOptions {
            internal: true,
            ..Default::default()
        };
        ch.exchange_declare(&internal, "fanout", o, FieldTable::new())
            .await
            .unwrap();
        let q = temp_queue(&ch).await;
        ch.queue_bind(&q, &internal, "", FieldTable::new())
            .await
            .unwrap();
        ch.exchange_bind(&internal, &src, "", FieldTable::new())
            .await
            .unwrap();
        assert!(
            routed(
                &pub_ch,
                &mut returns,
                &src,
                "any",
                &BasicProperties::default()
            )
            .await
        );
        assert_eq!(drain(&ch, &q).await, [format!("{src}/any")]);
        // Publishing to it directly is refused.
        let e = pub_ch
            .basic_publish(
                &internal,
                "",
                b"x",
                &BasicProperties::default(),
                PublishOptions::default(),
            )
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::ACCESS_REFUSED);
        ch.exchange_delete(&src, ExchangeDeleteOptions::default())
            .await
            .unwrap();
        ch.exchange_delete(&internal, ExchangeDeleteOptions::default())
            .await
            .unwrap();
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn reserved_names_and_idempotent_deletes() {
    bounded(async {
        let (conn, ch) = open().await;
        let e = ch
            .exchange_declare(
                &format!("amq.{}", unique("x")),
                "direct",
                auto_delete(),
                FieldTable::new(),
            )
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::ACCESS_REFUSED);
        let ch = conn.channel(None).await.unwrap();
        // The predeclared exchanges exist; deleting what does not exist is fine in RabbitMQ 3.10.
        ch.exchange_declare(
            "amq.topic",
            "topic",
            ExchangeDeclareOptions {
                durable: true,
                ..passive_exchange()
            },
            FieldTable::new(),
        )
        .await
        .unwrap();
        ch.exchange_delete(&unique("never-declared"), ExchangeDeleteOptions::default())
            .await
            .unwrap();
        assert_eq!(
            ch.queue_delete(&unique("never-declared"), QueueDeleteOptions::default())
                .await
                .unwrap(),
            0
        );
        assert!(ch.is_open());
        conn.close().await.unwrap();
    })
    .await
}
