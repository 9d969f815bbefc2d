//! Channels and error scoping: ids, channel_max, soft errors (one channel), hard errors (the whole
//! connection), and what happens to pending calls, consumers and later calls when things close.

use crate::common::*;
use futures::future::join_all;
use futures::StreamExt;
use std::time::{Duration, Instant};
use warren::client::{ConsumeOptions, ExchangeDeclareOptions, PublishOptions, QueueDeclareOptions};
use warren::{BasicProperties, Connection, Error, FieldTable, ReplyCode};

fn passive() -> QueueDeclareOptions {
    QueueDeclareOptions {
        passive: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn several_channels_get_distinct_ids_and_work_independently() {
    bounded(async {
        let conn = connect().await;
        let chans = join_all((0..5).map(|_| conn.channel(None))).await;
        let chans: Vec<_> = chans.into_iter().map(Result::unwrap).collect();
        let mut ids: Vec<u16> = chans.iter().map(|c| c.id()).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        // Each channel carries its own traffic: a queue per channel, a message through each.
        for ch in &chans {
            assert!(ch.is_open());
            let q = temp_queue(ch).await;
            let body = format!("via channel {}", ch.id());
            ch.basic_publish(
                "",
                &q,
                body.as_bytes(),
                &BasicProperties::default(),
                PublishOptions::default(),
            )
            .await
            .unwrap();
            let m = get_eventually(ch, &q, 50).await.expect("message");
            assert_eq!(m.body_str(), body);
            assert_eq!(m.channel, ch.id());
        }
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn explicit_channel_ids() {
    bounded(async {
        let conn = connect().await;
        let ch7 = conn.channel(Some(7)).await.unwrap();
        assert_eq!(ch7.id(), 7);
        // The same id twice is refused client-side (the broker would close the connection with 504).
        assert!(matches!(
            conn.channel(Some(7)).await,
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            conn.channel(Some(0)).await,
            Err(Error::InvalidArgument(_))
        ));
        // Automatic ids take the lowest free one.
        assert_eq!(conn.channel(None).await.unwrap().id(), 1);
        assert_eq!(conn.channel(None).await.unwrap().id(), 2);
        let high = conn.channel(Some(2047)).await.unwrap();
        temp_queue(&high).await;
        temp_queue(&ch7).await;
        assert!(conn.is_open());
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn channel_max_is_enforced_and_ids_are_reused() {
    bounded(async {
        let conn = Connection::connect(&url_with("channel_max=3"))
            .await
            .unwrap();
        assert_eq!(conn.channel_max(), 3);
        let a = conn.channel(None).await.unwrap();
        let b = conn.channel(None).await.unwrap();
        let c = conn.channel(None).await.unwrap();
        assert_eq!((a.id(), b.id(), c.id()), (1, 2, 3));
        assert_eq!(conn.channel(None).await.unwrap_err(), Error::NoFreeChannel);
        b.close().await.unwrap();
        assert!(!b.is_open());
        let again = conn.channel(None).await.unwrap();
        assert_eq!(again.id(), 2, "the closed channel's id is reused");
        temp_queue(&again).await;
        // The old handle with the same id refers to a closed channel only in the user's mind; the
        // id now names the new channel. The other channels are unaffected.
        temp_queue(&a).await;
        temp_queue(&c).await;
        assert_eq!(conn.channel(None).await.unwrap_err(), Error::NoFreeChannel);
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn calls_on_a_closed_channel_fail_fast() {
    bounded(async {
        let (conn, ch) = open().await;
        ch.close().await.unwrap();
        assert!(!ch.is_open());
        ch.close().await.unwrap(); // closing twice is harmless
        let e = within(1_000, ch.queue_declare("", exclusive(), FieldTable::new()))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NotOpen(_)), "{e:?}");
        let e = ch
            .basic_publish(
                "",
                "x",
                b"x",
                &BasicProperties::default(),
                PublishOptions::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NotOpen(_)), "{e:?}");
        assert!(matches!(ch.basic_ack(1, false), Err(Error::NotOpen(_))));
        assert!(conn.is_open());
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn soft_error_closes_only_that_channel_and_rejects_its_pending_calls() {
    bounded(async {
        let conn = connect().await;
        let bad = conn.channel(None).await.unwrap();
        let good = conn.channel(None).await.unwrap();
        let missing = unique("missing-queue");
        // Pipeline: the failing call and two more behind it on the same channel, all in flight
        // at once. The broker answers none of the later ones, so they must fail with the close.
        let never = unique("never");
        let (first, second, third) = futures::join!(
            bad.queue_declare(&missing, passive(), FieldTable::new()),
            bad.queue_declare("", exclusive(), FieldTable::new()),
            bad.exchange_declare(
                &never,
                "direct",
                ExchangeDeclareOptions::default(),
                FieldTable::new()
            ),
        );
        let first = first.unwrap_err();
        let info = first.close_info().expect("close info");
        assert_eq!(
            (info.code, info.class_id, info.method_id),
            (ReplyCode::NOT_FOUND, 50, 10),
            "{first}"
        );
        assert!(info.text.contains(&missing), "{first}");
        for e in [second.unwrap_err(), third.unwrap_err()] {
            assert_eq!(
                e, first,
                "calls behind the failing one fail with the same close"
            );
        }
        assert!(!bad.is_open());
        assert!(bad
            .queue_declare("", exclusive(), FieldTable::new())
            .await
            .is_err());
        // Everything else is fine.
        assert!(conn.is_open());
        assert!(good.is_open());
        temp_queue(&good).await;
        let fresh = conn.channel(None).await.unwrap();
        temp_queue(&fresh).await;
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn soft_error_ends_consumers_of_that_channel_with_the_error() {
    bounded(async {
        let conn = connect().await;
        let ch = conn.channel(None).await.unwrap();
        let q = temp_queue(&ch).await;
        let mut consumer = ch
            .basic_consume(&q, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let e = ch
            .queue_declare(&unique("missing"), passive(), FieldTable::new())
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::NOT_FOUND);
        let item = consumer
            .next()
            .await
            .expect("the consumer reports why it ended");
        assert_channel_closed(&item.unwrap_err(), ReplyCode::NOT_FOUND);
        assert!(consumer.next().await.is_none());
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn hard_error_fails_everything_on_the_connection() {
    bounded(async {
        let conn = connect().await;
        let ch = conn.channel(None).await.unwrap();
        let other = conn.channel(None).await.unwrap();
        let q = temp_queue(&other).await;
        let mut consumer = other
            .basic_consume(&q, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let closed = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.closed().await })
        };
        // An unknown exchange type is a connection error in RabbitMQ: 503 COMMAND_INVALID. The
        // declare queued behind it on the same channel is never answered and must fail too.
        let x = unique("x");
        let (bad, behind) = futures::join!(
            ch.exchange_declare(
                &x,
                "no-such-type",
                ExchangeDeclareOptions::default(),
                FieldTable::new()
            ),
            ch.queue_declare("", exclusive(), FieldTable::new()),
        );
        assert_connection_closed(&bad.unwrap_err(), ReplyCode::COMMAND_INVALID);
        assert_connection_closed(&behind.unwrap_err(), ReplyCode::COMMAND_INVALID);
        // The consumer on the other channel yields the error once, then ends.
        assert_connection_closed(
            &consumer.next().await.unwrap().unwrap_err(),
            ReplyCode::COMMAND_INVALID,
        );
        assert!(consumer.next().await.is_none());
        // closed() resolves with the reason, for waiters registered before and after.
        let reason = closed.await.unwrap().expect("an error, not a normal close");
        assert_connection_closed(&reason, ReplyCode::COMMAND_INVALID);
        assert_eq!(conn.closed().await, Some(reason.clone()));
        assert!(!conn.is_open());
        assert!(!other.is_open());
        // Every later call fails at once with the same reason instead of hanging.
        let t0 = Instant::now();
        assert_connection_closed(
            &conn.channel(None).await.unwrap_err(),
            ReplyCode::COMMAND_INVALID,
        );
        assert_connection_closed(&conn.close().await.unwrap_err(), ReplyCode::COMMAND_INVALID);
        let e = other
            .basic_publish(
                "",
                &q,
                b"x",
                &BasicProperties::default(),
                PublishOptions::default(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::ConnectionClosed(_) | Error::NotOpen(_)),
            "{e:?}"
        );
        assert!(other
            .queue_declare("", exclusive(), FieldTable::new())
            .await
            .is_err());
        assert!(t0.elapsed() < Duration::from_secs(1));
    })
    .await
}

#[tokio::test]
async fn broker_forced_close_is_reported() {
    bounded(async {
        let name = unique("forced");
        let conn = Connection::connect(&url_with(&format!("name={name}")))
            .await
            .unwrap();
        let ch = conn.channel(None).await.unwrap();
        let q = temp_queue(&ch).await;
        let mut consumer = ch
            .basic_consume(&q, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let Some(list) = broker_ctl(&["list_connections", "pid", "client_properties"]).await else {
            eprintln!("skipped: rabbitmqctl unavailable");
            return;
        };
        let line = list
            .lines()
            .find(|l| l.contains(&name))
            .unwrap_or_else(|| panic!("{name} not in\n{list}"));
        let pid = line.split('\t').next().unwrap().to_string();
        broker_ctl(&["close_connection", &pid, "warren test says bye"])
            .await
            .expect("close_connection");
        let e = consumer.next().await.expect("an error first").unwrap_err();
        assert_connection_closed(&e, ReplyCode::CONNECTION_FORCED);
        assert!(e.to_string().contains("warren test says bye"), "{e}");
        assert!(consumer.next().await.is_none());
        assert_connection_closed(&conn.closed().await.unwrap(), ReplyCode::CONNECTION_FORCED);
        assert!(ch
            .queue_declare("", exclusive(), FieldTable::new())
            .await
            .is_err());
    })
    .await
}

#[tokio::test]
async fn client_close_ends_consumers_and_settles_everything() {
    bounded(async {
        let conn = connect().await;
        let ch = conn.channel(None).await.unwrap();
        let pub_ch = conn.channel(None).await.unwrap();
        let q = temp_queue(&ch).await;
        let mut consumer = ch
            .basic_consume(&q, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        pub_ch.confirm_select().await.unwrap();
        let waiter = {
            let conn = conn.clone();
            tokio::spawn(async move { conn.closed().await })
        };
        // Publishes still unconfirmed when the connection closes must resolve either way, not hang.
        let props = BasicProperties::default();
        let publishes = join_all(
            (0..200).map(|_| pub_ch.basic_publish("", &q, b"x", &props, PublishOptions::default())),
        );
        let closing = conn.close();
        // Calls made once the close has started fail at once instead of waiting for an answer.
        let after = async {
            tokio::task::yield_now().await;
            ch.queue_declare("", exclusive(), FieldTable::new()).await
        };
        let (results, closed, after) = futures::join!(publishes, closing, after);
        closed.unwrap();
        assert!(matches!(after.unwrap_err(), Error::NotOpen(_)));
        assert_eq!(results.len(), 200);
        assert_eq!(waiter.await.unwrap(), None);
        // Our close is not an error: the consumer may drain what was delivered, then ends.
        while let Some(item) = consumer.next().await {
            item.expect("deliveries only, no error after a normal close");
        }
        assert!(!conn.is_open());
        assert!(!ch.is_open());
        let e = within(1_000, conn.channel(None)).await.unwrap_err();
        assert!(matches!(e, Error::NotOpen(_)), "{e:?}");
        assert!(within(1_000, ch.basic_get(&q, true)).await.is_err());
        assert!(ch.basic_ack(1, false).is_err());
        conn.close().await.unwrap(); // closing again is a no-op
    })
    .await
}

#[tokio::test]
async fn our_close_crossing_the_brokers_close_keeps_the_connection() {
    bounded(async {
        let (conn, ch) = open().await;
        let id = ch.id();
        // The nowait declare fails on the broker, which sends channel.close while our own
        // channel.close is already on its way: both closes cross on the wire, and the broker
        // still answers ours with close-ok.
        let nowait_passive = QueueDeclareOptions {
            passive: true,
            nowait: true,
            ..Default::default()
        };
        ch.queue_declare(&unique("missing"), nowait_passive, FieldTable::new())
            .await
            .unwrap();
        match ch.close().await {
            Ok(()) => {}
            Err(e) => assert_channel_closed(&e, ReplyCode::NOT_FOUND),
        }
        assert!(!ch.is_open());
        assert!(conn.is_open(), "{:?}", within(1_000, conn.closed()).await);
        // The id is free again and the connection fully usable.
        let again = conn.channel(Some(id)).await.unwrap();
        temp_queue(&again).await;
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn stale_handle_does_not_act_on_a_reused_channel_id() {
    bounded(async {
        let conn = Connection::connect(&url_with("channel_max=2"))
            .await
            .unwrap();
        let old = conn.channel(None).await.unwrap();
        let id = old.id();
        old.close().await.unwrap();
        let new = conn.channel(None).await.unwrap();
        assert_eq!(new.id(), id, "the id is reused");
        // The old handle must not reach the channel that now has its id.
        assert!(matches!(old.basic_ack(1, false), Err(Error::NotOpen(_))));
        let e = old
            .queue_declare("", exclusive(), FieldTable::new())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NotOpen(_)), "{e:?}");
        assert!(!old.is_open());
        // Had the stale ack reached the new channel, the broker would have closed it (406).
        let q = temp_queue(&new).await;
        assert!(new.basic_get(&q, true).await.unwrap().is_none());
        assert!(new.is_open());
        conn.close().await.unwrap();
    })
    .await
}
