//! A consumer that survives the network: a [`Session`] instead of a bare connection.
//!
//! The session connects to the first of its URLs that answers (failover: later attempts go round
//! the list), records what it declares, and after a lost connection reconnects with backoff,
//! declares it all again (the server-named queue gets a new name, the binding follows it) and
//! keeps the same subscription yielding. Publishes are confirmed, and sent again after a
//! reconnect until they are (at least once).
//!
//! This program declares a topic exchange, a server-named queue bound to it with `demo.#`,
//! subscribes, publishes a few confirmed messages to itself, prints what arrives and what the
//! session reports, and exits once it has them all.
//!
//! Run: `cargo run --example robust_consumer --features tokio`
//!
//! Broker: `WARREN_AMQP_URL` (default amqp://guest:guest@127.0.0.1:5673/%2f), and a second URL to
//! fail over to in `WARREN_AMQP_FAILOVER_URL` (default: the first one again). Exits non-zero
//! unless every message came back.

use futures::StreamExt;
use std::collections::BTreeSet;
use std::time::Duration;
use warren::client::{ExchangeDeclareOptions, PublishOptions, QueueDeclareOptions};
use warren::session::{Backoff, SubscribeOptions};
use warren::{BasicProperties, FieldTable, Session, SessionEvent, SessionOptions};

const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5673/%2f";
const MESSAGES: usize = 5;

async fn run() -> Result<(), String> {
    let primary = std::env::var("WARREN_AMQP_URL").unwrap_or_else(|_| DEFAULT_URL.into());
    let failover = std::env::var("WARREN_AMQP_FAILOVER_URL").unwrap_or_else(|_| primary.clone());

    let options = SessionOptions {
        // Retry after ~100 ms, then 200, 400, ... (with jitter), at most 30 s apart. A real
        // consumer would leave `max_attempts` at `None` (retry for ever); this one gives up
        // once 6 attempts in a row failed (a few seconds), so a missing broker fails it.
        backoff: Backoff {
            initial_ms: 100,
            max_attempts: Some(6),
            ..Default::default()
        },
        ..Default::default()
    };
    let session = Session::connect([primary, failover], options)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    // Debug output never shows credentials.
    println!("connected: {session:?}");

    // What the session goes through, printed as it happens.
    let mut events = session.events();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                SessionEvent::Connected { url } => println!("[session] connected to {url}"),
                SessionEvent::Disconnected { error } => println!("[session] lost: {error}"),
                SessionEvent::Reconnecting { attempt, delay_ms } => {
                    println!("[session] attempt {attempt} in {delay_ms} ms")
                }
                SessionEvent::Recovered => println!("[session] recovered"),
                SessionEvent::RecoveryFailed { object, error } => {
                    println!("[session] could not restore {object}: {error}")
                }
                SessionEvent::Failed { error } => println!("[session] gave up: {error}"),
            }
        }
    });

    let exchange = format!("warren-robust-consumer-{}", std::process::id());
    let auto_delete = ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    session
        .exchange_declare(&exchange, "topic", auto_delete, FieldTable::new())
        .await
        .map_err(|e| format!("exchange.declare: {e}"))?;
    // Server-named and exclusive: it lives as long as the connection; the session declares a
    // new one after every reconnect and `queue.name()` follows it.
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let queue = session
        .queue_declare("", exclusive, FieldTable::new())
        .await
        .map_err(|e| format!("queue.declare: {e}"))?;
    session
        .queue_bind(&queue, &exchange, "demo.#", FieldTable::new())
        .await
        .map_err(|e| format!("queue.bind: {e}"))?;
    let mut subscription = session
        .subscribe(&queue, SubscribeOptions::default(), FieldTable::new())
        .await
        .map_err(|e| format!("subscribe: {e}"))?;
    println!(
        "consuming from {} (bound to {exchange} with demo.#)",
        queue.name()
    );

    for n in 0..MESSAGES {
        let body = format!("message {n}");
        let props = BasicProperties::default().with_content_type("text/plain");
        // Resolves once the broker confirmed it (waiting out a reconnect if need be).
        session
            .publish(
                &exchange,
                "demo.greeting",
                body.as_bytes(),
                &props,
                PublishOptions::default(),
            )
            .await
            .map_err(|e| format!("publish {n}: {e}"))?;
        println!("published and confirmed: {body:?}");
    }

    // At least once: after a reconnect a message may come twice, so count distinct bodies.
    let mut received = BTreeSet::new();
    while received.len() < MESSAGES {
        let message = match subscription.wait(10_000).await {
            Ok(Some(m)) => m,
            Ok(None) => return Err("the subscription ended".into()),
            Err(e) => return Err(format!("waiting for messages: {e}")),
        };
        let body = message.body_str().into_owned();
        println!(
            "received {body:?} (routing key {}, redelivered {})",
            message.routing_key, message.redelivered
        );
        message.ack().map_err(|e| format!("ack: {e}"))?;
        received.insert(body);
    }

    // Ends the subscription, closes the connection; no reconnect happens after this.
    session.stop().await;
    if subscription.next().await.is_some() {
        return Err("the subscription yielded after stop()".into());
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    match tokio::time::timeout(Duration::from_secs(40), run()).await {
        Ok(Ok(())) => println!("PASS robust consumer: {MESSAGES} messages went round"),
        Ok(Err(e)) => {
            eprintln!("FAIL robust consumer: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("FAIL robust consumer: did not finish within 40 s");
            std::process::exit(1);
        }
    }
}
