//! The read side is bounded: a consumer that falls behind stops the connection reading its
//! socket (TCP pushes back on the broker) instead of buffering without end, and the pause never
//! looks like a dead peer or starves a call waiting for its reply.

use crate::common::*;
use std::time::Duration;
use warren::client::{ConsumeOptions, PublishOptions, QueueDeclareOptions};
use warren::{BasicProperties, Channel, Connection, FieldTable};

const BUDGET: usize = 256 << 10;

/// Resident memory of this process in KiB (Linux).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

/// Fills a fresh queue with `n` messages of `size` bytes and returns its name.
async fn filled_queue(n: usize, size: usize) -> (Connection, String) {
    let (conn, ch) = open().await;
    let q = unique("backpressure");
    let opts = QueueDeclareOptions {
        auto_delete: false,
        ..Default::default()
    };
    ch.queue_declare(&q, opts, FieldTable::new()).await.unwrap();
    ch.confirm_select().await.unwrap();
    let body = vec![b'x'; size];
    let props = BasicProperties::default();
    let mut last = None;
    for _ in 0..n {
        let wait = ch
            .publish_now("", &q, &body, &props, PublishOptions::default())
            .unwrap();
        last = Some(wait);
    }
    if let Some(warren::client::PublishWait::Confirm(_, rx)) = last {
        rx.await.unwrap().unwrap();
    }
    (conn, q)
}

async fn slow_consumer(q: &str, query: &str) -> (Connection, Channel, warren::Consumer) {
    let conn = Connection::connect(&url_with(query)).await.unwrap();
    let ch = conn.channel(None).await.unwrap();
    let opts = ConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let consumer = ch.basic_consume(q, opts, FieldTable::new()).await.unwrap();
    (conn, ch, consumer)
}

#[tokio::test]
async fn a_slow_consumer_of_100k_messages_holds_no_more_than_the_read_budget() {
    within(120_000, async {
        const N: usize = 100_000;
        let (pub_conn, q) = filled_queue(N, 64).await;
        let rss_before = rss_kib();
        let (conn, ch, mut consumer) = slow_consumer(&q, &format!("read_budget={BUDGET}")).await;
        let (mut peak, mut got) = (0, 0);
        while got < N {
            let msg = consumer.wait(10_000).await.unwrap().expect("a message");
            assert_eq!(msg.body.len(), 64);
            got += 1;
            peak = peak.max(conn.unread_bytes());
            if got % 2_000 == 0 {
                // The application is busy elsewhere: the broker keeps sending meanwhile.
                tokio::time::sleep(Duration::from_millis(20)).await;
                peak = peak.max(conn.unread_bytes());
            }
        }
        let rss_growth = rss_kib().saturating_sub(rss_before);
        println!(
            "slow consumer: {N} x 64 B, read budget {BUDGET} B, peak unread {peak} B, RSS growth {rss_growth} KiB"
        );
        // One socket read (128 KiB) of tiny messages may land on top of a budget that was just
        // under its limit; without the budget the whole queue (about 30 MB counted) piles up.
        assert!(peak <= BUDGET + 512 * 1024, "peak unread {peak} B");
        assert_eq!(conn.unread_bytes(), 0);
        ch.queue_delete(&q, Default::default()).await.unwrap();
        conn.close().await.unwrap();
        pub_conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_paused_read_side_is_not_a_dead_peer_and_does_not_starve_replies() {
    within(30_000, async {
        let (pub_conn, q) = filled_queue(5_000, 512).await;
        // heartbeat=1: a peer silent for 2 s counts as dead; the pause below lasts longer.
        let query = format!("read_budget={}&heartbeat=1", 64 << 10);
        let (conn, ch, mut consumer) = slow_consumer(&q, &query).await;
        let first = consumer.wait(5_000).await.unwrap().expect("a message");
        assert_eq!(first.body.len(), 512);
        tokio::time::sleep(Duration::from_millis(3_000)).await;
        assert!(conn.is_open(), "the stalled connection must stay up");
        assert!(conn.unread_bytes() > 0, "the budget is full while we sleep");
        // A call made now is answered even though deliveries are queued ahead of its reply.
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        within(5_000, ch.queue_declare(&q, passive, FieldTable::new()))
            .await
            .unwrap();
        let mut got = 1;
        while got < 5_000 {
            consumer.wait(5_000).await.unwrap().expect("a message");
            got += 1;
        }
        assert!(conn.is_open());
        ch.queue_delete(&q, Default::default()).await.unwrap();
        conn.close().await.unwrap();
        pub_conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn messages_dropped_unread_give_their_budget_back() {
    within(30_000, async {
        let (pub_conn, q) = filled_queue(2_000, 256).await;
        let query = format!("read_budget={}", 32 << 10);
        let (conn, ch, consumer) = slow_consumer(&q, &query).await;
        // Wait until the budget is exhausted, then drop the consumer with messages unread.
        let t0 = std::time::Instant::now();
        while conn.unread_bytes() < 32 << 10 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "budget never filled"
            );
            tokio::task::yield_now().await;
        }
        drop(consumer);
        assert_eq!(conn.unread_bytes(), 0);
        // The connection reads again: whatever the dropped consumer had in flight is discarded,
        // and a message published now reaches a new consumer behind it.
        let opts = ConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        let mut again = ch.basic_consume(&q, opts, FieldTable::new()).await.unwrap();
        let pub_ch = pub_conn.channel(None).await.unwrap();
        let props = BasicProperties::default();
        pub_ch
            .basic_publish("", &q, b"after", &props, PublishOptions::default())
            .await
            .unwrap();
        loop {
            let m = again.wait(5_000).await.unwrap().expect("reading resumed");
            if &m.body[..] == b"after" {
                break;
            }
        }
        drop(again);
        ch.queue_delete(&q, Default::default()).await.unwrap();
        conn.close().await.unwrap();
        pub_conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn closing_while_the_read_budget_is_full_is_not_stuck_behind_unread_messages() {
    within(30_000, async {
        let (pub_conn, q) = filled_queue(2_000, 256).await;
        let (conn, ch, _consumer) = slow_consumer(&q, &format!("read_budget={}", 16 << 10)).await;
        let t0 = std::time::Instant::now();
        while conn.unread_bytes() < 16 << 10 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "budget never filled"
            );
            tokio::task::yield_now().await;
        }
        // The close-ok sits behind deliveries nobody reads: reading must resume for it.
        within(5_000, conn.close()).await.unwrap();
        drop(ch);
        let ch = pub_conn.channel(None).await.unwrap();
        ch.queue_delete(&q, Default::default()).await.unwrap();
        pub_conn.close().await.unwrap();
    })
    .await
}
