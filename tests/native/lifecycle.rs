//! Connection lifecycle: heartbeats keep an idle connection alive, update-secret, closing from
//! several handles and tasks, and a network that dies (through a relay the test controls).

use crate::common::*;
use futures::StreamExt;
use std::time::{Duration, Instant};
use warren::client::ConsumeOptions;
use warren::{Connection, Error, FieldTable, ReplyCode};

#[tokio::test]
async fn heartbeats_keep_an_idle_connection_open() {
    bounded(async {
        let conn = Connection::connect(&url_with("heartbeat=1")).await.unwrap();
        assert_eq!(conn.heartbeat(), 1);
        let ch = conn.channel(None).await.unwrap();
        let q = temp_queue(&ch).await;
        let mut consumer = ch
            .basic_consume(&q, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        // This wait *is* the test, not synchronisation: the connection stays idle for 3 s, longer
        // than the broker tolerates without client heartbeats at heartbeat=1 (it closes after two
        // missed intervals), and longer than warren tolerates without broker heartbeats.
        let t0 = Instant::now();
        assert_eq!(consumer.wait(3_000).await.unwrap_err(), Error::Timeout);
        assert!(t0.elapsed() >= Duration::from_millis(2_900));
        assert!(
            conn.is_open(),
            "closed while idle: {:?}",
            within(1_000, conn.closed()).await
        );
        // Still fully usable in both directions.
        let info = ch
            .queue_declare(
                &q,
                warren::client::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::new(),
            )
            .await
            .unwrap();
        assert_eq!(info.consumer_count, 1);
        conn.close().await.unwrap();
        assert!(consumer.next().await.is_none());
    })
    .await
}

#[tokio::test]
async fn update_secret_with_the_same_password() {
    bounded(async {
        let conn = Connection::connect(&url_for("warren", "warren-secret", "%2f", ""))
            .await
            .unwrap();
        let r = conn.update_secret("warren-secret", "rotation test").await;
        match r {
            Ok(()) => {
                // The connection carries on with the refreshed credentials.
                let ch = conn.channel(None).await.unwrap();
                temp_queue(&ch).await;
                conn.close().await.unwrap();
            }
            Err(e) => panic!("update-secret failed: {e:?}"),
        }
    })
    .await
}

#[tokio::test]
async fn close_from_another_handle_and_task() {
    bounded(async {
        let conn = connect().await;
        let ch = conn.channel(None).await.unwrap();
        let q = temp_queue(&ch).await;
        let mut consumer = ch
            .basic_consume(&q, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let watcher = tokio::spawn({
            let conn = conn.clone();
            async move { conn.closed().await }
        });
        let reader = tokio::spawn(async move {
            let mut n = 0;
            while let Some(item) = consumer.next().await {
                item.unwrap();
                n += 1;
            }
            n
        });
        let closer = tokio::spawn({
            let conn = conn.clone();
            async move {
                conn.close_with(ReplyCode::SUCCESS, "done from a task")
                    .await
            }
        });
        closer.await.unwrap().unwrap();
        assert_eq!(watcher.await.unwrap(), None);
        assert_eq!(
            reader.await.unwrap(),
            0,
            "the consumer ended without messages or errors"
        );
        assert!(!conn.is_open());
        assert!(!ch.is_open());
    })
    .await
}

#[tokio::test]
async fn many_connections_at_once() {
    bounded(async {
        let u = url();
        let conns = futures::future::join_all((0..10).map(|_| Connection::connect(&u))).await;
        let conns: Vec<Connection> = conns.into_iter().map(Result::unwrap).collect();
        for c in &conns {
            let ch = c.channel(None).await.unwrap();
            temp_queue(&ch).await;
        }
        for r in futures::future::join_all(conns.iter().map(|c| c.close())).await {
            r.unwrap();
        }
        assert!(conns.iter().all(|c| !c.is_open()));
    })
    .await
}

#[tokio::test]
async fn lost_transport_fails_pending_calls_consumers_and_later_calls() {
    bounded(async {
        let proxy = Proxy::start().await;
        let conn = Connection::connect(&proxy.url("heartbeat=0"))
            .await
            .unwrap();
        let ch = conn.channel(None).await.unwrap();
        let q = temp_queue(&ch).await;
        let mut consumer = ch
            .basic_consume(&q, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        // A call whose request is swallowed, so it is certainly pending when the socket dies.
        proxy.blackhole();
        let pending = tokio::spawn({
            let ch = ch.clone();
            async move { ch.queue_declare("", exclusive(), FieldTable::new()).await }
        });
        tokio::task::yield_now().await;
        proxy.kill();
        let lost = |e: &Error| matches!(e, Error::ConnectionLost { .. });
        let e = pending.await.unwrap().unwrap_err();
        assert!(lost(&e), "{e:?}");
        let e = consumer.next().await.expect("an error first").unwrap_err();
        assert!(lost(&e), "{e:?}");
        assert!(consumer.next().await.is_none());
        let reason = conn.closed().await.expect("not a normal close");
        assert!(lost(&reason), "{reason:?}");
        assert!(!conn.is_open());
        let e = within(1_000, ch.basic_get(&q, true)).await.unwrap_err();
        assert!(lost(&e), "{e:?}");
        let e = within(1_000, conn.channel(None)).await.unwrap_err();
        assert!(lost(&e), "{e:?}");
        assert!(lost(&within(1_000, conn.close()).await.unwrap_err()));
    })
    .await
}

#[tokio::test]
async fn silent_broker_is_detected_by_missed_heartbeats() {
    bounded(async {
        let proxy = Proxy::start().await;
        let conn = Connection::connect(&proxy.url("heartbeat=1"))
            .await
            .unwrap();
        let ch = conn.channel(None).await.unwrap();
        let q = temp_queue(&ch).await;
        let mut consumer = ch
            .basic_consume(&q, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        // The network goes silent without closing anything: only heartbeats can tell.
        proxy.blackhole();
        let t0 = Instant::now();
        let pending = tokio::spawn({
            let ch = ch.clone();
            async move { ch.queue_declare("", exclusive(), FieldTable::new()).await }
        });
        let e = consumer.wait(10_000).await.unwrap_err();
        let waited = t0.elapsed();
        assert!(matches!(e, Error::ConnectionLost { .. }), "{e:?}");
        // Two heartbeat intervals without a byte from the broker (checked every half interval).
        assert!(
            waited >= Duration::from_millis(1_400),
            "declared dead too early: {waited:?}"
        );
        assert!(
            waited < Duration::from_millis(4_000),
            "declared dead too late: {waited:?}"
        );
        assert!(matches!(
            pending.await.unwrap().unwrap_err(),
            Error::ConnectionLost { .. }
        ));
        assert!(matches!(
            conn.closed().await,
            Some(Error::ConnectionLost { .. })
        ));
    })
    .await
}

#[tokio::test]
async fn close_on_a_silent_network_ends_by_heartbeat() {
    bounded(async {
        let proxy = Proxy::start().await;
        let conn = Connection::connect(&proxy.url("heartbeat=1"))
            .await
            .unwrap();
        let ch = conn.channel(None).await.unwrap();
        proxy.blackhole();
        // The close-ok never comes; the close must still end, with the reason.
        let (declared, closed) = futures::join!(
            ch.queue_declare("", exclusive(), FieldTable::new()),
            conn.close()
        );
        assert!(matches!(
            declared.unwrap_err(),
            Error::ConnectionLost { .. }
        ));
        assert!(matches!(closed.unwrap_err(), Error::ConnectionLost { .. }));
        assert!(!conn.is_open());
    })
    .await
}

#[tokio::test]
async fn update_secret_is_not_rechecked_by_the_internal_backend() {
    bounded(async {
        let conn = Connection::connect(&url_for("warren", "warren-secret", "%2f", ""))
            .await
            .unwrap();
        let ch = conn.channel(None).await.unwrap();
        let q = temp_queue(&ch).await;
        // Observed with RabbitMQ 3.10: update-secret exists for token backends (OAuth 2); the
        // internal user database does not verify the new secret, so even a different password is
        // answered with update-secret-ok and the connection carries on.
        conn.update_secret("a-different-secret", "rotation test")
            .await
            .unwrap();
        conn.update_secret("warren-secret", "and back")
            .await
            .unwrap();
        assert!(conn.is_open());
        assert_eq!(ready_count(&ch, &q).await, 0);
        conn.close().await.unwrap();
    })
    .await
}

fn assert_send<T: Send>(_: &T) {}

#[tokio::test]
async fn handles_and_api_futures_are_send() {
    // Native users spawn work on multi-thread runtimes: every handle and every future the API
    // returns must be Send. The futures are only built and dropped, never polled.
    bounded(async {
        use warren::client::*;
        let (conn, ch) = open().await;
        let q = temp_queue(&ch).await;
        let mut consumer = ch
            .basic_consume(&q, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let props = warren::BasicProperties::default();
        assert_send(&conn);
        assert_send(&ch);
        assert_send(&consumer);
        assert_send(&Connection::connect("amqp://127.0.0.1"));
        assert_send(&conn.channel(None));
        assert_send(&conn.close());
        assert_send(&conn.closed());
        assert_send(&conn.update_secret("x", "y"));
        assert_send(&ch.exchange_declare(
            "x",
            "direct",
            ExchangeDeclareOptions::default(),
            FieldTable::new(),
        ));
        assert_send(&ch.exchange_delete("x", ExchangeDeleteOptions::default()));
        assert_send(&ch.exchange_bind("a", "b", "", FieldTable::new()));
        assert_send(&ch.exchange_unbind("a", "b", "", FieldTable::new()));
        assert_send(&ch.queue_declare("", QueueDeclareOptions::default(), FieldTable::new()));
        assert_send(&ch.queue_bind("q", "x", "", FieldTable::new()));
        assert_send(&ch.queue_unbind("q", "x", "", FieldTable::new()));
        assert_send(&ch.queue_purge("q"));
        assert_send(&ch.queue_delete("q", QueueDeleteOptions::default()));
        assert_send(&ch.basic_qos(1, 0, false));
        assert_send(&ch.basic_publish("", "q", b"", &props, PublishOptions::default()));
        assert_send(&ch.basic_consume("q", ConsumeOptions::default(), FieldTable::new()));
        assert_send(&ch.basic_cancel("t"));
        assert_send(&ch.basic_get("q", true));
        assert_send(&ch.basic_recover(true));
        assert_send(&ch.basic_flow(true));
        assert_send(&ch.confirm_select());
        assert_send(&ch.tx_select());
        assert_send(&ch.tx_commit());
        assert_send(&ch.tx_rollback());
        assert_send(&ch.close());
        assert_send(&ch.returns());
        assert_send(&consumer.cancel());
        assert_send(&consumer.wait(1));
        assert_send(&consumer.next());
        // And they can be spawned (tokio::spawn requires Send).
        drop(consumer);
        let c = conn.clone();
        let ch2 = tokio::spawn(async move { c.channel(None).await })
            .await
            .unwrap()
            .unwrap();
        temp_queue(&ch2).await;
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn blocked_and_unblocked_notifications() {
    // A real broker blocks publishers on a resource alarm, which would stall everyone using the
    // shared test broker; the relay slips the two notifications in instead.
    bounded(async {
        use warren::protocol::{encode_method, ConnectionBlocked, Method};
        use warren::ConnectionEvent;
        let proxy = Proxy::start().await;
        let conn = Connection::connect(&proxy.url("heartbeat=0"))
            .await
            .unwrap();
        let mut events = conn.events();
        let ch = conn.channel(None).await.unwrap();
        let mut frames = Vec::new();
        let blocked = Method::ConnectionBlocked(ConnectionBlocked {
            reason: "low on memory".into(),
        });
        encode_method(&mut frames, 0, &blocked).unwrap();
        encode_method(&mut frames, 0, &Method::ConnectionUnblocked).unwrap();
        proxy.inject(&frames).await;
        assert_eq!(
            events.next().await,
            Some(ConnectionEvent::Blocked("low on memory".into()))
        );
        assert_eq!(events.next().await, Some(ConnectionEvent::Unblocked));
        // The real broker never saw any of it and the connection is unharmed.
        temp_queue(&ch).await;
        conn.close().await.unwrap();
        assert_eq!(
            events.next().await,
            None,
            "the event stream ends with the connection"
        );
    })
    .await
}

#[tokio::test]
async fn close_is_bounded_when_the_broker_never_answers() {
    bounded(async {
        let proxy = Proxy::start().await;
        let conn = Connection::connect(&proxy.url("heartbeat=0&connection_timeout=700"))
            .await
            .unwrap();
        proxy.blackhole();
        let t = Instant::now();
        let e = conn.close().await.unwrap_err();
        assert!(matches!(e, Error::Timeout), "{e:?}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "took {:?}",
            t.elapsed()
        );
        assert!(!conn.is_open());
    })
    .await
}
