#![cfg(all(not(target_arch = "wasm32"), feature = "tokio"))]
//! Connection lifecycle: heartbeats keep an idle connection alive, update-secret, closing from
//! several handles and tasks.

mod native_common;

use futures::StreamExt;
use native_common::*;
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
        let mut consumer = ch.basic_consume(&q, ConsumeOptions::default(), FieldTable::new()).await.unwrap();
        // This wait *is* the test, not synchronisation: the connection stays idle for 3 s, longer
        // than the broker tolerates without client heartbeats at heartbeat=1 (it closes after two
        // missed intervals), and longer than warren tolerates without broker heartbeats.
        let t0 = Instant::now();
        assert_eq!(consumer.wait(3_000).await.unwrap_err(), Error::Timeout);
        assert!(t0.elapsed() >= Duration::from_millis(2_900));
        assert!(conn.is_open(), "closed while idle: {:?}", within(1_000, conn.closed()).await);
        // Still fully usable in both directions.
        let info = ch.queue_declare(&q, warren::client::QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::new()).await.unwrap();
        assert_eq!(info.consumer_count, 1);
        conn.close().await.unwrap();
        assert!(consumer.next().await.is_none());
    })
    .await
}

#[tokio::test]
async fn update_secret_with_the_same_password() {
    bounded(async {
        let conn = Connection::connect(&url_for("warren", "warren-secret", "%2f", "")).await.unwrap();
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
        let mut consumer = ch.basic_consume(&q, ConsumeOptions::default(), FieldTable::new()).await.unwrap();
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
            async move { conn.close_with(ReplyCode::SUCCESS, "done from a task").await }
        });
        closer.await.unwrap().unwrap();
        assert_eq!(watcher.await.unwrap(), None);
        assert_eq!(reader.await.unwrap(), 0, "the consumer ended without messages or errors");
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
