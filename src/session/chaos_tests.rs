//! The session fed arbitrary event sequences, checked against its invariants: a seeded random
//! walk (one seed per case, 200 cases, on tokio's paused clock against the in-memory
//! [`FakeServer`]) over publishes, consumer takes with ack / nack / reject, socket cuts, dead
//! networks (black holes, noticed by heartbeats), broker force-closes, refused reconnects and
//! the passing of time. After every step and at the end:
//!
//! - **no confirmed publish lost**: every publish that returned `Ok` (confirmed) is among what
//!   the broker accepted, and is delivered to the subscription (at least once) by the end;
//! - **no duplicate consumer**: the broker never has more than one consumer on live
//!   connections for the one subscription, whatever the reconnects did (a black-holed
//!   connection's consumer lingers on the broker until it notices, as in RabbitMQ);
//! - **no stale ack**: the broker never saw an ack, nack or reject for a delivery tag its
//!   channel did not have (a message settled after the connection it came on was replaced
//!   must be dropped by the session, not sent as a stale tag).
//!
//! This is a deterministic randomised test rather than a libFuzzer target: the session needs a
//! runtime, the fake broker and its clock, which live in the crate's test build. Failing seeds
//! print the event trace.

#![cfg(all(test, feature = "tokio"))]

use crate::client::{ConnectionUrl, PublishOptions, QueueDeclareOptions};
use crate::rt;
use crate::session::{Backoff, Dialer, Session, SessionOptions, SubscribeOptions};
use crate::testing::FakeServer;
use crate::{BasicProperties, FieldTable};
use std::collections::BTreeSet;
use std::sync::Arc;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn session(server: &FakeServer) -> Session {
    let s = server.clone();
    let dialer: Dialer = Arc::new(move |_| {
        let s = s.clone();
        Box::pin(async move { s.connect().await })
    });
    let urls = vec![ConnectionUrl::parse("amqp://guest:guest@fake:5672/%2f?heartbeat=2").unwrap()];
    let options = SessionOptions {
        backoff: Backoff {
            initial_ms: 50,
            max_ms: 1_000,
            ..Backoff::default()
        },
        connect_timeout_ms: Some(2_000),
        operation_timeout_ms: 20_000,
        ..SessionOptions::default()
    };
    Session::connect_dialed(urls, options, Some(dialer))
        .await
        .expect("session connects")
}

/// Acks, nacks (requeue) or rejects (requeue) a message, once.
fn settle(rng: &mut Rng, m: crate::session::SessionMessage) {
    let _ = match rng.below(4) {
        0 => m.nack(true),
        1 => m.reject(true),
        _ => m.ack(),
    };
}

/// Runs one seed; returns (publishes confirmed, connections the broker accepted).
async fn one_case(seed: u64) -> (usize, usize) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let server = FakeServer::new();
    server.set_heartbeat(2);
    let session = session(&server).await;
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let q = session
        .queue_declare("chaos", durable, FieldTable::new())
        .await
        .unwrap();
    let mut sub = session
        .subscribe(&q, SubscribeOptions::default(), FieldTable::new())
        .await
        .unwrap();
    let persistent = BasicProperties::default().with_delivery_mode(2);
    let mut confirmed = BTreeSet::new();
    let mut received = BTreeSet::new();
    let mut trace = Vec::new();
    let mut held = Vec::new();
    for step in 0..60u32 {
        let action = rng.below(12);
        trace.push(action);
        if std::env::var("CHAOS_TRACE").is_ok() {
            eprintln!("step {step}: {action}");
        }
        match action {
            0..=3 => {
                let body = format!("m{step}");
                let published = session
                    .publish(
                        "",
                        "chaos",
                        body.as_bytes(),
                        &persistent,
                        PublishOptions::default(),
                    )
                    .await;
                if published.is_ok() {
                    confirmed.insert(body);
                }
            }
            4..=6 => {
                if let Ok(Some(m)) = sub.wait(rng.below(500) + 1).await {
                    received.insert(String::from_utf8_lossy(&m.body).into_owned());
                    if rng.below(3) == 0 {
                        // Settled at a later step, perhaps after its connection is gone.
                        held.push(m);
                    } else {
                        settle(&mut rng, m);
                    }
                }
                if !held.is_empty() && rng.below(2) == 0 {
                    let i = rng.below(held.len() as u64) as usize;
                    settle(&mut rng, held.swap_remove(i));
                }
            }
            7 => server.cut(),
            8 => server.blackhole(),
            9 => server.force_close(320, "CONNECTION_FORCED - chaos"),
            10 => server.refuse_next(rng.below(3) as usize),
            _ => rt::sleep_ms(rng.below(5_000)).await,
        }
        let consumers = server.live_consumer_count("chaos");
        assert!(
            consumers <= 1,
            "seed {seed}: {consumers} consumers after {trace:?}"
        );
        assert_eq!(
            server.stale_settles(),
            0,
            "seed {seed}: stale settle after {trace:?}"
        );
    }
    for m in held.drain(..) {
        let _ = m.ack();
    }
    // Everything confirmed reached the broker and, by and by, the subscription.
    let accepted: BTreeSet<String> = server
        .published()
        .into_iter()
        .map(|(_, _, b)| String::from_utf8_lossy(&b).into_owned())
        .collect();
    for body in &confirmed {
        assert!(
            accepted.contains(body),
            "seed {seed}: confirmed {body} lost; {trace:?}"
        );
    }
    let mut rounds = 0;
    while !confirmed.is_subset(&received) {
        rounds += 1;
        assert!(
            rounds < 2_000,
            "seed {seed}: never delivered {:?}; {trace:?}",
            confirmed.difference(&received).collect::<Vec<_>>()
        );
        if let Ok(Some(m)) = sub.wait(1_000).await {
            received.insert(String::from_utf8_lossy(&m.body).into_owned());
            let _ = m.ack();
        }
    }
    assert!(server.live_consumer_count("chaos") <= 1);
    assert_eq!(server.stale_settles(), 0, "seed {seed}: {trace:?}");
    session.stop().await;
    (confirmed.len(), server.connections())
}

#[tokio::test(start_paused = true)]
async fn random_event_sequences_keep_the_session_invariants() {
    let only: Option<u64> = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    let (mut confirmed, mut connections, mut cases) = (0, 0, 0);
    for seed in 0..200 {
        if only.is_some_and(|o| o != seed) {
            continue;
        }
        let (c, n) = one_case(seed).await;
        confirmed += c;
        connections += n;
        cases += 1;
    }
    println!(
        "session chaos: {cases} cases, {confirmed} confirmed publishes, {connections} connections"
    );
    // The walk did exercise recovery: more connections than cases.
    assert!(
        connections > 2 * cases,
        "{connections} connections in {cases} cases"
    );
    assert!(
        confirmed > 10 * cases,
        "{confirmed} confirmed publishes in {cases} cases"
    );
}
