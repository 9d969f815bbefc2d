//! Tutorial 5, "Topics": routing on patterns. Routing keys of a `topic` exchange are words
//! separated by dots; in a binding, `*` stands for exactly one word and `#` for zero or more.
//!
//! Events here are keyed `<region>.<service>.<level>`. Two subscribers bind patterns:
//!   - "payments team": `*.payments.*`                 (any region, payments, any level)
//!   - "on-call":       `*.*.critical` and `eu.#`      (anything critical; everything from eu)
//!
//! The emitter publishes keys chosen to probe the rules (three-word keys, shorter and longer
//! ones, a message matching two bindings of one queue, keys matching nothing) with `mandatory`
//! and publisher confirms; a final marker (key `control.end`, bound by both) ends the stream.
//! The program checks each subscriber's messages against a hand-written table, that a message
//! matching two bindings of one queue arrives there once, and that exactly the keys nobody
//! matches came back as unroutable.
//!
//! Run: `cargo run --example tutorial5_topics --features tokio`
//!
//! Broker: `WARREN_AMQP_URL` (default amqp://guest:guest@127.0.0.1:5673/%2f).

use futures::StreamExt;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use warren::client::{
    ConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, PublishOptions,
    QueueDeclareOptions,
};
use warren::{BasicProperties, Channel, Connection, FieldTable, ReplyCode};

const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5673/%2f";
const END_KEY: &str = "control.end";

const PAYMENTS: (&str, &[&str]) = ("payments team", &["*.payments.*"]);
const ON_CALL: (&str, &[&str]) = ("on-call", &["*.*.critical", "eu.#"]);

/// (routing key, reaches the payments team, reaches on-call), in publish order.
const EVENTS: [(&str, bool, bool); 11] = [
    ("us.payments.info", true, false),
    ("eu.payments.critical", true, true), // on-call matches twice, gets it once
    ("us.search.critical", false, true),
    ("eu.search.debug", false, true),
    ("ap.search.info", false, false),
    ("payments", false, false),
    ("us.payments.db.critical", false, false), // four words: neither `*.payments.*` nor `*.*.critical`
    ("eu", false, true),                       // `#` may match zero words
    ("eu.payments", false, true),              // `*.payments.*` needs a third word
    ("euro.payments.debug", true, false),      // `eu.#` matches the word `eu`, not a prefix
    ("ap.payments.critical", true, true),
];

fn amqp_url() -> String {
    std::env::var("WARREN_AMQP_URL").unwrap_or_else(|_| DEFAULT_URL.into())
}

/// Awaits `fut` for at most `secs` seconds; any failure becomes a message naming `what`.
async fn within<T, E: std::fmt::Display>(
    secs: u64,
    what: &str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: nothing happened within {secs} s")),
    }
}

async fn declare_exchange(ch: &Channel, exchange: &str) -> Result<(), String> {
    let o = ExchangeDeclareOptions::default(); // transient, deleted at the end
    within(
        5,
        "exchange.declare",
        ch.exchange_declare(exchange, "topic", o, FieldTable::new()),
    )
    .await
}

/// Publishes every event (body = "event <n>"); returns the keys the broker could not route.
async fn emitter(
    url: String,
    exchange: String,
    mut ready: mpsc::Receiver<()>,
) -> Result<Vec<String>, String> {
    let conn = within(10, "emitter: connect", Connection::connect(&url)).await?;
    let ch = within(5, "emitter: channel.open", conn.channel(None)).await?;
    declare_exchange(&ch, &exchange).await?;
    for _ in 0..2 {
        within(10, "emitter: waiting for subscribers", async {
            ready.recv().await.ok_or("a subscriber gave up")
        })
        .await?;
    }
    let mut returns = ch.returns();
    within(5, "confirm.select", ch.confirm_select()).await?;
    let props = BasicProperties::default().with_content_type("text/plain");
    let mandatory = PublishOptions {
        mandatory: true,
        ..Default::default()
    };
    for (n, (key, _, _)) in EVENTS.iter().enumerate() {
        let body = format!("event {n}");
        within(
            5,
            "basic.publish",
            ch.basic_publish(&exchange, key, body.as_bytes(), &props, mandatory),
        )
        .await?;
        println!("[emitter] {key:<24} {body}");
    }
    within(
        5,
        "basic.publish",
        ch.basic_publish(&exchange, END_KEY, b"", &props, mandatory),
    )
    .await?;
    // Every publish is confirmed, and the broker sends a return before its confirm.
    let mut unroutable = Vec::new();
    while let Ok(r) = returns.try_recv() {
        if r.reply_code != ReplyCode::NO_ROUTE {
            return Err(format!(
                "unexpected basic.return {} {}",
                r.reply_code, r.reply_text
            ));
        }
        println!("[emitter] nobody matched {}", r.routing_key);
        unroutable.push(String::from(r.routing_key));
    }
    within(5, "emitter: connection.close", conn.close()).await?;
    Ok(unroutable)
}

/// Binds a fresh exclusive queue with `patterns` and collects routing keys until the end marker.
async fn subscriber(
    (name, patterns): (&'static str, &[&str]),
    url: String,
    exchange: String,
    ready: mpsc::Sender<()>,
) -> Result<Vec<String>, String> {
    let conn = within(10, "subscriber: connect", Connection::connect(&url)).await?;
    let ch = within(5, "subscriber: channel.open", conn.channel(None)).await?;
    declare_exchange(&ch, &exchange).await?;
    let o = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let q = within(
        5,
        "queue.declare",
        ch.queue_declare("", o, FieldTable::new()),
    )
    .await?;
    for pattern in patterns.iter().chain([&END_KEY]) {
        within(
            5,
            "queue.bind",
            ch.queue_bind(&q.name, &exchange, pattern, FieldTable::new()),
        )
        .await?;
    }
    let opts = ConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut consumer = within(
        5,
        "basic.consume",
        ch.basic_consume(&q.name, opts, FieldTable::new()),
    )
    .await?;
    println!("[{name}] bound {patterns:?}");
    let _ = ready.send(()).await;

    let mut got = Vec::new();
    loop {
        let msg = within(10, "subscriber: waiting for events", async {
            consumer
                .next()
                .await
                .unwrap_or_else(|| Err(warren::Error::NotOpen("consumer")))
        })
        .await?;
        if msg.routing_key == END_KEY {
            break;
        }
        println!("[{name}] {} ({})", msg.routing_key, msg.body_str());
        let n: usize = msg
            .body_str()
            .trim_start_matches("event ")
            .parse()
            .map_err(|_| "bad body")?;
        if EVENTS.get(n).map(|e| e.0) != Some(msg.routing_key.as_str()) {
            return Err(format!(
                "{name}: body {:?} does not belong to key {}",
                msg.body_str(),
                msg.routing_key
            ));
        }
        got.push(msg.routing_key.to_string());
    }
    within(5, "subscriber: connection.close", conn.close()).await?;
    Ok(got)
}

async fn run() -> Result<(), String> {
    let url = amqp_url();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let exchange = format!("warren-tut5-topic-events-{}-{nanos}", std::process::id());
    let (ready_tx, ready_rx) = mpsc::channel(2);

    let result = tokio::try_join!(
        subscriber(PAYMENTS, url.clone(), exchange.clone(), ready_tx.clone()),
        subscriber(ON_CALL, url.clone(), exchange.clone(), ready_tx),
        emitter(url.clone(), exchange.clone(), ready_rx),
    );

    // Delete the exchange whatever happened.
    let conn = within(10, "connect", Connection::connect(&url)).await?;
    let ch = within(5, "channel.open", conn.channel(None)).await?;
    within(
        5,
        "exchange.delete",
        ch.exchange_delete(&exchange, ExchangeDeleteOptions::default()),
    )
    .await?;
    within(5, "connection.close", conn.close()).await?;

    let (payments, on_call, unroutable) = result?;
    let keys = |pick: fn(&(&str, bool, bool)) -> bool| -> Vec<String> {
        EVENTS
            .iter()
            .filter(|e| pick(e))
            .map(|e| e.0.to_string())
            .collect()
    };
    let checks = [
        (PAYMENTS.0, payments, keys(|e| e.1)),
        (ON_CALL.0, on_call, keys(|e| e.2)),
        ("unroutable", unroutable, keys(|e| !e.1 && !e.2)),
    ];
    for (name, got, want) in checks {
        if got != want {
            return Err(format!("{name}: got {got:?}, expected {want:?}"));
        }
        println!("{name}: {got:?} as expected");
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    match tokio::time::timeout(Duration::from_secs(45), run()).await {
        Ok(Ok(())) => {
            println!("PASS tutorial 5 (topics): every key matched exactly the expected patterns")
        }
        Ok(Err(e)) => {
            eprintln!("FAIL tutorial 5 (topics): {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("FAIL tutorial 5 (topics): did not finish within 45 s");
            std::process::exit(1);
        }
    }
}
