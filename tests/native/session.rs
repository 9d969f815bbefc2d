//! Sessions against the real broker, through a [`FaultProxy`]: reconnects after cuts, refusals,
//! dead peers and a broker restart; topology replay with server-named queues; stale settles;
//! the bounded outbox; and the acceptance run (10,000 confirmed publishes across faults).
//!
//! Every test holds [`shared_broker`] (or [`exclusive_broker`] when it restarts the broker) and
//! is bounded in time.

use crate::common::*;
use crate::faults::*;
use futures::channel::mpsc;
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warren::client::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, PublishOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use warren::session::{Backoff, SessionMessage, SubscribeOptions, Subscription};
use warren::{
    BasicProperties, Connection, Error, FieldTable, FieldValue, ReplyCode, Session, SessionEvent,
    SessionOptions,
};

/// The options every test uses: backoff from 100 ms (doubling, with jitter).
fn options() -> SessionOptions {
    SessionOptions {
        backoff: Backoff {
            initial_ms: 100,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A session's events, read with a bound.
struct Events(mpsc::Receiver<SessionEvent>);

impl Events {
    fn of(s: &Session) -> Events {
        Events(s.events())
    }

    async fn next(&mut self, ms: u64) -> SessionEvent {
        within(ms, self.0.next())
            .await
            .expect("the event stream ended")
    }

    /// Reads events until one matches `stop` (included), at most `ms` in all.
    async fn until(&mut self, ms: u64, stop: impl Fn(&SessionEvent) -> bool) -> Vec<SessionEvent> {
        within(ms, async {
            let mut seen = Vec::new();
            while let Some(ev) = self.0.next().await {
                let done = stop(&ev);
                seen.push(ev);
                if done {
                    return seen;
                }
            }
            panic!("the event stream ended after {seen:?}");
        })
        .await
    }

    async fn until_recovered(&mut self, ms: u64) -> Vec<SessionEvent> {
        self.until(ms, |e| matches!(e, SessionEvent::Recovered))
            .await
    }

    async fn until_disconnected(&mut self, ms: u64) -> Vec<SessionEvent> {
        self.until(ms, |e| matches!(e, SessionEvent::Disconnected { .. }))
            .await
    }
}

/// The variant names of `events`, for asserting sequences.
fn kinds(events: &[SessionEvent]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e {
            SessionEvent::Connected { .. } => "Connected",
            SessionEvent::Disconnected { .. } => "Disconnected",
            SessionEvent::Reconnecting { .. } => "Reconnecting",
            SessionEvent::Recovered => "Recovered",
            SessionEvent::RecoveryFailed { .. } => "RecoveryFailed",
            SessionEvent::Failed { .. } => "Failed",
        })
        .collect()
}

fn auto_delete_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    }
}

/// A named queue that outlives connections (not exclusive, not auto-delete, not durable); the
/// test deletes it.
fn lasting() -> QueueDeclareOptions {
    QueueDeclareOptions::default()
}

fn with_id(id: u64) -> BasicProperties {
    BasicProperties::default()
        .with_headers(FieldTable::new().with("id", FieldValue::I64(id as i64)))
}

fn id_of(m: &SessionMessage) -> u64 {
    match m.properties.headers.as_ref().and_then(|h| h.get("id")) {
        Some(FieldValue::I64(v)) => *v as u64,
        other => panic!("message without an id header: {other:?}"),
    }
}

async fn publish(s: &Session, exchange: &str, key: &str, body: &[u8]) -> Result<(), Error> {
    s.publish(
        exchange,
        key,
        body,
        &BasicProperties::default(),
        PublishOptions::default(),
    )
    .await
}

/// The next message, which must come within `ms`.
async fn next_message(sub: &mut Subscription, ms: u64) -> SessionMessage {
    match sub.wait(ms).await {
        Ok(Some(m)) => m,
        other => panic!("expected a message within {ms} ms, got {other:?}"),
    }
}

/// Asserts that nothing (no message, no error, no end) comes within `ms`.
async fn assert_quiet(sub: &mut Subscription, ms: u64) {
    match sub.wait(ms).await {
        Err(Error::Timeout) => {}
        other => panic!("expected a quiet subscription, got {other:?}"),
    }
}

/// Whether a queue exists on the broker (passive declare on a direct connection).
async fn queue_exists(conn: &Connection, name: &str) -> bool {
    let ch = conn.channel(None).await.expect("channel");
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    match ch.queue_declare(name, passive, FieldTable::new()).await {
        Ok(_) => {
            let _ = ch.close().await;
            true
        }
        Err(e) => {
            assert_channel_closed(&e, ReplyCode::NOT_FOUND);
            false
        }
    }
}

/// What a passive declare of another connection's exclusive queue gets: 405 RESOURCE_LOCKED
/// while it exists, 404 NOT_FOUND once it is gone.
async fn exclusive_queue_state(conn: &Connection, name: &str) -> ReplyCode {
    let ch = conn.channel(None).await.expect("channel");
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let e = ch
        .queue_declare(name, passive, FieldTable::new())
        .await
        .expect_err("another connection's exclusive queue");
    code(&e)
}

async fn exchange_exists(conn: &Connection, name: &str) -> bool {
    let ch = conn.channel(None).await.expect("channel");
    let passive = ExchangeDeclareOptions {
        passive: true,
        ..Default::default()
    };
    match ch
        .exchange_declare(name, "topic", passive, FieldTable::new())
        .await
    {
        Ok(()) => {
            let _ = ch.close().await;
            true
        }
        Err(e) => {
            assert_channel_closed(&e, ReplyCode::NOT_FOUND);
            false
        }
    }
}

/// A session through `proxy` with a topic exchange (auto-delete), a server-named exclusive queue
/// bound to it with `key.#`, and a subscription on that queue.
async fn session_with_queue(
    proxy: &FaultProxy,
    query: &str,
    opts: SessionOptions,
) -> (Session, String, warren::session::QueueHandle, Subscription) {
    let s = Session::connect([proxy.url(query)], opts)
        .await
        .expect("session connects");
    let ex = unique("sess-x");
    s.exchange_declare(&ex, "topic", auto_delete_exchange(), FieldTable::new())
        .await
        .expect("exchange.declare");
    let q = s
        .queue_declare("", exclusive(), FieldTable::new())
        .await
        .expect("queue.declare");
    s.queue_bind(&q, &ex, "key.#", FieldTable::new())
        .await
        .expect("queue.bind");
    let sub = s
        .subscribe(&q, SubscribeOptions::default(), FieldTable::new())
        .await
        .expect("subscribe");
    (s, ex, q, sub)
}

#[tokio::test]
async fn session_basic_publish_subscribe_ack_and_stop() {
    let _broker = shared_broker().await;
    bounded(async {
        let proxy = FaultProxy::start().await;
        let (s, ex, q, mut sub) = session_with_queue(&proxy, "", options()).await;
        assert!(
            q.name().starts_with("amq.gen-"),
            "server-named: {}",
            q.name()
        );

        publish(&s, &ex, "key.basic", b"hello")
            .await
            .expect("confirmed");
        let m = next_message(&mut sub, 5_000).await;
        assert_eq!(&m.body[..], b"hello");
        assert_eq!(
            (m.exchange.as_str(), m.routing_key.as_str()),
            (ex.as_str(), "key.basic")
        );
        assert!(!m.redelivered);
        m.ack().expect("ack");
        assert_eq!(s.pending_publishes(), (0, 0));

        let accepted = proxy.accepted();
        assert_eq!(accepted, 1, "one connection");
        s.stop().await;
        assert!(!s.is_connected());
        assert!(
            matches!(sub.wait(2_000).await, Ok(None)),
            "stop() ends the subscription stream"
        );
        assert!(matches!(
            publish(&s, &ex, "key.basic", b"late").await,
            Err(Error::NotOpen(_))
        ));
        // Were a supervisor still running, a cut would make it reconnect within the first
        // backoff (≤ 100 ms); watch for five times that.
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            proxy.accepted(),
            accepted,
            "no connection attempt after stop()"
        );
    })
    .await
}

#[tokio::test]
async fn session_reconnects_after_a_cut_and_follows_the_renamed_queue() {
    let _broker = shared_broker().await;
    bounded(async {
        let proxy = FaultProxy::start().await;
        let (s, ex, q, mut sub) = session_with_queue(&proxy, "", options()).await;
        let mut events = Events::of(&s);
        publish(&s, &ex, "key.before", b"before").await.unwrap();
        next_message(&mut sub, 5_000).await.ack().unwrap();
        let old = q.name();

        proxy.cut();
        let seen = events.until_recovered(10_000).await;
        assert_eq!(
            kinds(&seen),
            ["Disconnected", "Reconnecting", "Connected", "Recovered"],
            "{seen:?}"
        );
        match &seen[1] {
            SessionEvent::Reconnecting { attempt, delay_ms } => {
                assert_eq!(*attempt, 1);
                assert!((50..=100).contains(delay_ms), "first delay {delay_ms} ms");
            }
            other => panic!("{other:?}"),
        }
        assert!(s.is_connected());
        let new = q.name();
        assert_ne!(
            new, old,
            "the server-named queue is declared anew, with a new name"
        );
        assert!(new.starts_with("amq.gen-"));
        assert_eq!(proxy.accepted(), 2);

        // The binding was replayed for the new queue; the same subscription yields.
        publish(&s, &ex, "key.after", b"after").await.unwrap();
        let m = next_message(&mut sub, 5_000).await;
        assert_eq!(&m.body[..], b"after");
        assert_eq!(m.routing_key, "key.after");
        m.ack().unwrap();

        // The broker deletes the old exclusive queue once it has noticed the cut (until then a
        // passive declare from elsewhere is refused with 405 RESOURCE_LOCKED).
        let direct = connect().await;
        within(10_000, async {
            while exclusive_queue_state(&direct, &old).await != ReplyCode::NOT_FOUND {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert_eq!(
            exclusive_queue_state(&direct, &new).await,
            ReplyCode::RESOURCE_LOCKED,
            "the new queue exists, owned by the session's connection"
        );
        direct.close().await.unwrap();
        s.stop().await;
    })
    .await
}

#[tokio::test]
async fn session_stale_ack_after_recovery_is_a_no_op_and_the_broker_redelivers() {
    let _broker = shared_broker().await;
    bounded(async {
        let proxy = FaultProxy::start().await;
        let s = Session::connect([proxy.url("")], options()).await.unwrap();
        let mut events = Events::of(&s);
        let name = unique("sess-stale");
        let q = s
            .queue_declare(&name, lasting(), FieldTable::new())
            .await
            .unwrap();
        assert_eq!(q.name(), name);
        let mut sub = s
            .subscribe(&q, SubscribeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        publish(&s, "", &name, b"once").await.unwrap();
        let first = next_message(&mut sub, 5_000).await;
        assert!(!first.redelivered);

        proxy.cut();
        events.until_recovered(10_000).await;
        // Settled after the connection it came over was replaced: nothing is sent (the same
        // delivery tag on the new connection's channel would be a 406 PRECONDITION_FAILED).
        assert_eq!(first.ack(), Ok(()));
        assert_eq!(first.nack(true), Ok(()));

        let again = next_message(&mut sub, 5_000).await;
        assert_eq!(&again.body[..], b"once");
        assert!(
            again.redelivered,
            "the broker redelivers what was never acked"
        );
        again.ack().expect("ack on the live connection");

        // Still healthy: the subscription channel takes more, nothing comes back, no drop.
        publish(&s, "", &name, b"next").await.unwrap();
        let next = next_message(&mut sub, 5_000).await;
        assert_eq!((&next.body[..], next.redelivered), (&b"next"[..], false));
        next.ack().unwrap();
        assert_quiet(&mut sub, 300).await;
        assert!(s.is_connected());
        assert!(
            events.0.try_recv().is_err(),
            "no event after the recovery (no channel or connection error)"
        );
        let left = s
            .queue_delete(&q, QueueDeleteOptions::default())
            .await
            .unwrap();
        assert_eq!(left, 0, "every message was acked");
        s.stop().await;
    })
    .await
}

#[tokio::test]
async fn session_recovers_after_refusals_with_growing_backoff() {
    let _broker = shared_broker().await;
    bounded(async {
        let proxy = FaultProxy::start().await;
        let (s, ex, _q, mut sub) = session_with_queue(&proxy, "", options()).await;
        let mut events = Events::of(&s);

        proxy.refuse(true);
        proxy.cut();
        let mut delays = Vec::new();
        let mut seen = Vec::new();
        while delays.len() < 4 {
            let ev = events.next(10_000).await;
            if let SessionEvent::Reconnecting { attempt, delay_ms } = &ev {
                assert_eq!(*attempt as usize, delays.len() + 1, "{seen:?}");
                delays.push(*delay_ms);
            }
            seen.push(ev);
        }
        assert!(
            !kinds(&seen).contains(&"Connected"),
            "nothing connects while refused: {seen:?}"
        );
        assert!(proxy.refused() >= 3, "refused {} attempts", proxy.refused());
        proxy.refuse(false);
        let back = Instant::now();
        let rest = events.until_recovered(10_000).await;
        assert!(!kinds(&rest).contains(&"Failed"), "{rest:?}");
        println!(
            "refused: backoff delays {delays:?} ms; recovered {} ms after the refusals ended",
            back.elapsed().as_millis()
        );
        for (i, d) in delays.iter().enumerate() {
            let ceiling = 100u64 << i;
            assert!(
                (ceiling / 2..=ceiling).contains(d),
                "delay {i}: {d} ms, expected [{}, {ceiling}]",
                ceiling / 2
            );
        }
        assert!(delays.windows(2).all(|w| w[1] >= w[0]), "{delays:?}");
        assert!(delays[3] > delays[0], "{delays:?}");

        publish(&s, &ex, "key.back", b"back").await.unwrap();
        assert_eq!(&next_message(&mut sub, 5_000).await.body[..], b"back");
        s.stop().await;
    })
    .await
}

#[tokio::test]
async fn session_wrong_password_fails_at_once_unless_retry_fatal() {
    let _broker = shared_broker().await;
    bounded(async {
        let proxy = FaultProxy::start().await;
        let t0 = Instant::now();
        let err = Session::connect([proxy.url_as("guest", "wrong", "")], options())
            .await
            .expect_err("wrong password");
        assert_connection_closed(&err, ReplyCode::ACCESS_REFUSED);
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        // A retry would start within the first backoff (≤ 100 ms): watch for five times that.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(proxy.accepted(), 1, "one attempt only");

        // retry_fatal: the refusal is retried like any other, here up to max_attempts.
        let opts = SessionOptions {
            retry_fatal: true,
            backoff: Backoff {
                initial_ms: 100,
                max_attempts: Some(3),
                ..Default::default()
            },
            ..Default::default()
        };
        let err = Session::connect([proxy.url_as("guest", "wrong", "")], opts)
            .await
            .expect_err("still the wrong password");
        assert_connection_closed(&err, ReplyCode::ACCESS_REFUSED);
        assert_eq!(proxy.accepted(), 1 + 3, "three attempts with retry_fatal");
    })
    .await
}

#[tokio::test]
async fn session_detects_a_dead_peer_by_heartbeats_and_recovers() {
    let _broker = shared_broker().await;
    bounded(async {
        let proxy = FaultProxy::start().await;
        // An attempt that starts inside the black hole hangs in its handshake: bound it.
        let opts = SessionOptions {
            connect_timeout_ms: Some(1_500),
            ..options()
        };
        let (s, ex, _q, mut sub) = session_with_queue(&proxy, "heartbeat=2", opts).await;
        let mut events = Events::of(&s);
        publish(&s, &ex, "key.alive", b"alive").await.unwrap();
        next_message(&mut sub, 5_000).await.ack().unwrap();

        let t0 = Instant::now();
        proxy.blackhole(true);
        let seen = events.until_disconnected(8_000).await;
        let detected = t0.elapsed();
        println!(
            "dead peer (heartbeat 2 s): Disconnected {} ms after the black hole began",
            detected.as_millis()
        );
        match seen.last() {
            Some(SessionEvent::Disconnected {
                error: Error::ConnectionLost { .. },
            }) => {}
            other => panic!("expected a lost connection, got {other:?} after {seen:?}"),
        }
        // Silence is noticed 2 intervals after the heartbeat check (every half interval) that
        // last saw data: at most 2.5 intervals, 5 s, plus a little for timers and scheduling.
        assert!(
            detected <= Duration::from_millis(5_250),
            "detected after {detected:?}, more than 2.5 heartbeat intervals"
        );

        proxy.blackhole(false);
        let back = Instant::now();
        events.until_recovered(10_000).await;
        println!(
            "dead peer: recovered {} ms after the black hole ended",
            back.elapsed().as_millis()
        );
        publish(&s, &ex, "key.alive", b"again").await.unwrap();
        assert_eq!(&next_message(&mut sub, 5_000).await.body[..], b"again");
        s.stop().await;
    })
    .await
}

#[tokio::test]
async fn session_outbox_holds_publishes_while_disconnected_and_refuses_past_its_bound() {
    let _broker = shared_broker().await;
    bounded(async {
        let proxy = FaultProxy::start().await;
        let opts = SessionOptions {
            outbox_max_messages: 5,
            ..options()
        };
        let (s, ex, _q, mut sub) = session_with_queue(&proxy, "", opts).await;
        let mut events = Events::of(&s);

        proxy.refuse(true);
        proxy.cut();
        events.until_disconnected(5_000).await;
        let waiting: Vec<_> = (0..5u64)
            .map(|id| {
                let s = s.clone();
                let ex = ex.clone();
                tokio::spawn(async move {
                    s.publish(
                        &ex,
                        "key.outbox",
                        b"queued",
                        &with_id(id),
                        PublishOptions::default(),
                    )
                    .await
                })
            })
            .collect();
        // The five take their slots as soon as they run.
        within(5_000, async {
            while s.pending_publishes().0 < 5 {
                tokio::task::yield_now().await;
            }
        })
        .await;
        let t0 = Instant::now();
        let sixth = s
            .publish(
                &ex,
                "key.outbox",
                b"sixth",
                &with_id(5),
                PublishOptions::default(),
            )
            .await;
        assert_eq!(sixth, Err(Error::OutboxFull));
        assert!(
            t0.elapsed() < Duration::from_millis(100),
            "at once: {:?}",
            t0.elapsed()
        );
        assert!(
            waiting.iter().all(|t| !t.is_finished()),
            "the five wait for a connection"
        );
        assert!(!s.is_connected());

        proxy.refuse(false);
        for t in waiting {
            within(10_000, t)
                .await
                .unwrap()
                .expect("confirmed once the path is back");
        }
        assert_eq!(s.pending_publishes(), (0, 0));
        let mut ids = HashSet::new();
        for _ in 0..5 {
            let m = next_message(&mut sub, 5_000).await;
            ids.insert(id_of(&m));
            m.ack().unwrap();
        }
        assert_eq!(ids, (0..5).collect::<HashSet<u64>>());
        assert_quiet(&mut sub, 300).await;
        s.stop().await;
    })
    .await
}

#[tokio::test]
async fn session_redeclares_topology_after_a_broker_restart() {
    let _broker = exclusive_broker().await;
    if let Err(why) = restart_allowed() {
        println!("skipping the broker restart test: {why}");
        return;
    }
    within(90_000, async {
        let proxy = FaultProxy::start().await;
        let s = Session::connect([proxy.url("")], options()).await.unwrap();
        let mut events = Events::of(&s);
        // Non-durable: the restart drops them.
        let ex = unique("sess-restart-x");
        let name = unique("sess-restart-q");
        s.exchange_declare(
            &ex,
            "topic",
            ExchangeDeclareOptions::default(),
            FieldTable::new(),
        )
        .await
        .unwrap();
        let q = s
            .queue_declare(&name, lasting(), FieldTable::new())
            .await
            .unwrap();
        s.queue_bind(&q, &ex, "restart.*", FieldTable::new())
            .await
            .unwrap();
        let mut sub = s
            .subscribe(&q, SubscribeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        publish(&s, &ex, "restart.before", b"before").await.unwrap();
        next_message(&mut sub, 5_000).await.ack().unwrap();

        // Keep the session out until the broker's state has been looked at.
        proxy.refuse(true);
        broker_stop_app().await;
        let seen = events.until_disconnected(15_000).await;
        match seen.last() {
            Some(SessionEvent::Disconnected {
                error: Error::ConnectionClosed(info),
            }) => assert_eq!(info.code, ReplyCode::CONNECTION_FORCED),
            other => panic!("expected a forced close, got {other:?}"),
        }
        broker_start_app().await;
        let direct = connect().await;
        assert!(
            !queue_exists(&direct, &name).await,
            "the restart dropped the queue"
        );
        assert!(!exchange_exists(&direct, &ex).await, "and the exchange");

        proxy.refuse(false);
        let back = Instant::now();
        let rest = events.until_recovered(30_000).await;
        assert!(!kinds(&rest).contains(&"RecoveryFailed"), "{rest:?}");
        assert!(queue_exists(&direct, &name).await, "redeclared");
        assert!(exchange_exists(&direct, &ex).await, "redeclared");
        publish(&s, &ex, "restart.after", b"after").await.unwrap();
        let m = next_message(&mut sub, 5_000).await;
        println!(
            "broker restart: first delivery {} ms after the path was back",
            back.elapsed().as_millis()
        );
        assert_eq!(
            (&m.body[..], m.routing_key.as_str()),
            (&b"after"[..], "restart.after")
        );
        m.ack().unwrap();

        assert_eq!(
            s.queue_delete(&q, QueueDeleteOptions::default()).await,
            Ok(0)
        );
        s.exchange_delete(&ex, ExchangeDeleteOptions::default())
            .await
            .unwrap();
        direct.close().await.unwrap();
        s.stop().await;
    })
    .await
}

// --- the acceptance run ---------------------------------------------------------------------

/// xorshift64: the fault schedule is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x % n
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Cut,
    Restart,
}

const PUBLISHERS: u64 = 8;
const PER_PUBLISHER: u64 = 1_250;
const TOTAL: u64 = PUBLISHERS * PER_PUBLISHER;

/// Faults at message counts drawn from `seed`: five cuts and (when allowed) one broker restart,
/// each at least 600 confirms after the one before, between 500 and 9,500.
fn schedule(seed: u64, restart: bool) -> Vec<(u64, Fault)> {
    let mut rng = Rng(seed | 1);
    let mut faults = vec![Fault::Cut; 5];
    if restart {
        // Among the first four, so publishing goes on for a while after it.
        let at = rng.below(4) as usize;
        faults.insert(at, Fault::Restart);
    }
    // Split 9,000 confirms into gaps of at least 600: 500 + the sum of the gaps before each.
    let n = faults.len() as u64;
    let spare = 9_000 - 600 * n;
    let mut cuts: Vec<u64> = (0..n).map(|_| rng.below(spare)).collect();
    cuts.sort_unstable();
    faults
        .into_iter()
        .zip(cuts)
        .enumerate()
        .map(|(i, (f, extra))| (500 + 600 * i as u64 + extra, f))
        .collect()
}

/// What a consumer task saw: how often each id came, and when each delivery came.
#[derive(Default)]
struct Seen {
    ids: HashMap<u64, u32>,
    at: Vec<Instant>,
}

/// Consumes (and acks) everything `sub` yields until it ends.
fn spawn_consumer(mut sub: Subscription) -> (Arc<Mutex<Seen>>, tokio::task::JoinHandle<()>) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let task = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(item) = sub.next().await {
                let m = item.expect("the subscription yields messages, not errors");
                let mut seen = seen.lock().unwrap();
                seen.at.push(Instant::now());
                *seen.ids.entry(id_of(&m)).or_default() += 1;
                m.ack().expect("ack");
            }
        })
    };
    (seen, task)
}

/// The confirmed ids `seen` lacks, sorted.
fn missing(confirmed: &HashSet<u64>, seen: &Mutex<Seen>) -> Vec<u64> {
    let seen = seen.lock().unwrap();
    let mut v: Vec<u64> = confirmed
        .iter()
        .filter(|id| !seen.ids.contains_key(id))
        .copied()
        .collect();
    v.sort_unstable();
    v
}

/// Total deliveries and duplicates.
fn tally(seen: &Mutex<Seen>) -> (u64, u64) {
    let seen = seen.lock().unwrap();
    let total: u64 = seen.ids.values().map(|&n| u64::from(n)).sum();
    (total, total - seen.ids.len() as u64)
}

/// 10,000 confirmed publishes (8 publishers × 1,250, each publish awaited) while the connection
/// is cut five times and the broker restarted once, at confirm counts drawn from a seed.
///
/// Two queues take every message, through topic bindings the session replays:
/// - `lasting`: named, not exclusive, not auto-delete (not durable: the restart drops it and its
///   binding, and the recovery redeclares both). Every confirmed id must come out of it.
/// - `renamed`: server-named and auto-delete, so every recovery declares a new one and binds it
///   again. It must deliver after every fault; but what it held when its connection went (even
///   deliveries on the wire) goes with it — an auto-delete queue cannot give at-least-once
///   delivery across connections whatever the client does — so its losses are only reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_acceptance_10k_confirmed_publishes_survive_cuts_and_a_restart() {
    let _broker = exclusive_broker().await;
    let restart = match restart_allowed() {
        Ok(()) => true,
        Err(why) => {
            println!("acceptance: running without the broker restart: {why}");
            false
        }
    };
    within(120_000, acceptance(restart)).await
}

async fn acceptance(restart: bool) {
    let seed = 0x005E_ED0F_FA17;
    let plan = schedule(seed, restart);
    println!("acceptance: seed {seed:#x}, faults at confirm counts {plan:?}");

    let proxy = FaultProxy::start().await;
    let s = Session::connect([proxy.url("")], options()).await.unwrap();
    let mut events = Events::of(&s);
    let ex = unique("sess-accept-x");
    // Not auto-delete: the exchange outlives the bindings of the queues the cuts delete.
    s.exchange_declare(
        &ex,
        "topic",
        ExchangeDeclareOptions::default(),
        FieldTable::new(),
    )
    .await
    .unwrap();
    let auto_delete = QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    let renamed = s
        .queue_declare("", auto_delete, FieldTable::new())
        .await
        .unwrap();
    s.queue_bind(&renamed, &ex, "accept.*.msg", FieldTable::new())
        .await
        .unwrap();
    let lasting_name = unique("sess-accept-q");
    let lasting_q = s
        .queue_declare(&lasting_name, lasting(), FieldTable::new())
        .await
        .unwrap();
    s.queue_bind(&lasting_q, &ex, "accept.#", FieldTable::new())
        .await
        .unwrap();
    let subscribe = |q: warren::session::QueueHandle| {
        let s = s.clone();
        async move {
            let o = SubscribeOptions {
                prefetch: 500,
                ..Default::default()
            };
            s.subscribe(&q, o, FieldTable::new()).await.unwrap()
        }
    };
    let (seen_renamed, consumer_renamed) = spawn_consumer(subscribe(renamed.clone()).await);
    let (seen_lasting, consumer_lasting) = spawn_consumer(subscribe(lasting_q.clone()).await);

    // The publishers: each publish awaited; the confirmed ids and the count the faults follow.
    let (count_tx, count_rx) = tokio::sync::watch::channel(0u64);
    let count_tx = Arc::new(count_tx);
    // rabbitmqctl needs a few hundred ms before stop_app reaches the broker, while the publishers
    // make thousands of confirms a second: they pace themselves from the restart's mark until
    // the broker is down, so the restart lands at its mark and publishes go on through it.
    let (slow_tx, slow_rx) = tokio::sync::watch::channel(false);
    let confirmed: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let failed = Arc::new(AtomicUsize::new(0));
    let t_start = Instant::now();
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let (s, ex, confirmed, failed, count_tx, slow) = (
                s.clone(),
                ex.clone(),
                confirmed.clone(),
                failed.clone(),
                count_tx.clone(),
                slow_rx.clone(),
            );
            tokio::spawn(async move {
                for i in 0..PER_PUBLISHER {
                    if *slow.borrow() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let id = p * PER_PUBLISHER + i;
                    let key = format!("accept.{p}.msg");
                    let body = id.to_string();
                    let props = with_id(id);
                    match s
                        .publish(
                            &ex,
                            &key,
                            body.as_bytes(),
                            &props,
                            PublishOptions::default(),
                        )
                        .await
                    {
                        Ok(()) => {
                            confirmed.lock().unwrap().insert(id);
                            count_tx.send_modify(|c| *c += 1);
                        }
                        Err(e) => {
                            eprintln!("publish {id} failed: {e}");
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();

    // The faults, in order, each once the confirm count reaches its mark; the next one waits
    // for the recovery from the one before.
    struct Done {
        at: u64,
        fault: Fault,
        outage_ms: u128,
        /// When the path was back: the cut itself, or the broker serving again.
        back: Instant,
        recovered: Instant,
        attempts: usize,
    }
    let mut done = Vec::new();
    let mut count_rx = count_rx;
    let mut names = vec![renamed.name()];
    for &(at, fault) in &plan {
        let _ = within(60_000, count_rx.wait_for(|c| *c >= at)).await;
        let (outage_ms, back) = match fault {
            Fault::Cut => {
                proxy.cut();
                (0, Instant::now())
            }
            Fault::Restart => {
                slow_tx.send_replace(true);
                let stop = Instant::now();
                let ctl = tokio::spawn(broker_stop_app());
                events.until_disconnected(30_000).await;
                slow_tx.send_replace(false);
                let down = Instant::now();
                let at_down = *count_rx.borrow();
                within(30_000, ctl).await.unwrap();
                broker_start_app().await;
                println!(
                    "acceptance: restart marked at {at} confirms: the broker closed the connection \
                     {} ms after stop_app was called, at {at_down} confirms",
                    down.duration_since(stop).as_millis(),
                );
                (down.elapsed().as_millis(), Instant::now())
            }
        };
        let seen = events.until_recovered(60_000).await;
        let recovered = Instant::now();
        assert!(!kinds(&seen).contains(&"RecoveryFailed"), "{seen:?}");
        let name = renamed.name();
        assert!(
            !names.contains(&name),
            "a new server-named queue after each recovery"
        );
        names.push(name);
        assert_eq!(lasting_q.name(), lasting_name);
        let attempts = seen
            .iter()
            .filter(|e| matches!(e, SessionEvent::Reconnecting { .. }))
            .count();
        done.push(Done {
            at,
            fault,
            outage_ms,
            back,
            recovered,
            attempts,
        });
    }
    for p in publishers {
        within(60_000, p).await.unwrap();
    }
    let publish_secs = t_start.elapsed().as_secs_f64();
    let confirmed = confirmed.lock().unwrap().clone();

    // Every confirmed id out of the lasting queue (at least once): wait for them, bounded.
    let drained = tokio::time::timeout(Duration::from_secs(20), async {
        while !missing(&confirmed, &seen_lasting).is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let lost = missing(&confirmed, &seen_lasting);
    let lost_renamed = missing(&confirmed, &seen_renamed);
    let (total, duplicates) = tally(&seen_lasting);
    let (total_r, duplicates_r) = tally(&seen_renamed);

    println!("acceptance: {TOTAL} publishes by {PUBLISHERS} publishers in {publish_secs:.1} s");
    println!(
        "acceptance: confirmed {}, failed {}; lasting queue: consumed {total}, duplicates \
         {duplicates}, lost {}; server-named auto-delete queue: consumed {total_r}, duplicates \
         {duplicates_r}, gone with their queue {}",
        confirmed.len(),
        failed.load(Ordering::SeqCst),
        lost.len(),
        lost_renamed.len(),
    );
    let at_r = seen_renamed.lock().unwrap().at.clone();
    let at_l = seen_lasting.lock().unwrap().at.clone();
    for d in &done {
        let first = |at: &[Instant]| {
            at.iter()
                .find(|t| **t >= d.recovered)
                .map_or("none".into(), |t| {
                    t.duration_since(d.back).as_millis().to_string()
                })
        };
        let what = match d.fault {
            Fault::Cut => "cut".to_string(),
            Fault::Restart => format!(
                "broker restart ({} ms from the broker closing the connection to it serving \
                 again; times from then)",
                d.outage_ms
            ),
        };
        println!(
            "acceptance: {what} at {} confirms: recovered +{} ms after {} attempt(s), first \
             delivery after it +{} ms (server-named queue), +{} ms (lasting queue)",
            d.at,
            d.recovered.duration_since(d.back).as_millis(),
            d.attempts,
            first(&at_r),
            first(&at_l),
        );
    }

    assert!(
        drained.is_ok() && lost.is_empty(),
        "lost {} confirmed messages, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "every publish resolved Ok"
    );
    assert_eq!(confirmed.len() as u64, TOTAL);
    for d in &done {
        assert!(
            at_r.iter().any(|t| *t >= d.recovered),
            "the replayed binding of the renamed queue delivers after the fault at {}",
            d.at
        );
    }
    assert!(
        lost_renamed.len() < 200,
        "the auto-delete queue loses only what it held at a fault: {}",
        lost_renamed.len()
    );

    assert_eq!(
        s.queue_delete(&lasting_q, QueueDeleteOptions::default())
            .await,
        Ok(0)
    );
    s.stop().await;
    within(5_000, consumer_renamed).await.unwrap();
    within(5_000, consumer_lasting).await.unwrap();
    // The server-named queue was auto-delete; the exchange is ours to delete.
    let direct = connect().await;
    let ch = direct.channel(None).await.unwrap();
    ch.exchange_delete(&ex, ExchangeDeleteOptions::default())
        .await
        .unwrap();
    direct.close().await.unwrap();
}
