//! Tutorial 4, "Routing": subscribe to a subset of messages. Log lines go to a `direct`
//! exchange with their severity as routing key; a queue receives a message only if it is bound
//! with exactly that key. One queue may have several bindings.
//!
//! Two subscribers run here next to an emitter, each on its own connection:
//!   - "error file" binds only `error` (say, it writes errors to disk);
//!   - "console"    binds `info`, `warning` and `error`.
//!
//! No one binds `debug`. The emitter publishes a mix of severities with `mandatory` set and
//! publisher confirms on; a final marker (key `end-of-log`, bound by both) closes the stream.
//! The program checks that each subscriber received exactly its severities, in order, and that
//! exactly the `debug` lines came back to the emitter as unroutable.
//!
//! Run: `cargo run --example tutorial4_routing --features tokio`
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
const END_KEY: &str = "end-of-log";

/// (severity, text), in publish order.
const LOG: [(&str, &str); 8] = [
    ("info", "cache warmed in 120 ms"),
    ("debug", "config: retries=3"),
    ("warning", "slow query: 2.3 s"),
    ("error", "payment 17 failed: card declined"),
    ("debug", "gc pause 4 ms"),
    ("info", "user 5 signed in"),
    ("error", "disk /var is full"),
    ("warning", "certificate expires in 9 days"),
];

const ERROR_FILE: (&str, &[&str]) = ("error file", &["error"]);
const CONSOLE: (&str, &[&str]) = ("console", &["info", "warning", "error"]);

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
        ch.exchange_declare(exchange, "direct", o, FieldTable::new()),
    )
    .await
}

/// Publishes the log; returns the severities the broker could not route (in return order).
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
    for (severity, text) in LOG.iter().chain([&(END_KEY, "")]) {
        // confirmed: the broker has routed it (or returned it, before the confirm)
        within(
            5,
            "basic.publish",
            ch.basic_publish(&exchange, severity, text.as_bytes(), &props, mandatory),
        )
        .await?;
        if *severity != END_KEY {
            println!("[emitter] {severity}: {text}");
        }
    }
    let mut unroutable = Vec::new();
    while let Ok(r) = returns.try_recv() {
        if r.reply_code != ReplyCode::NO_ROUTE {
            return Err(format!(
                "unexpected basic.return {} {}",
                r.reply_code, r.reply_text
            ));
        }
        println!(
            "[emitter] nobody wanted {}: {}",
            r.routing_key,
            r.body.escape_ascii()
        );
        unroutable.push(String::from(r.routing_key));
    }
    within(5, "emitter: connection.close", conn.close()).await?;
    Ok(unroutable)
}

/// Binds a fresh exclusive queue with `keys` and collects (severity, text) until the end marker.
async fn subscriber(
    (name, keys): (&'static str, &[&str]),
    url: String,
    exchange: String,
    ready: mpsc::Sender<()>,
) -> Result<Vec<(String, String)>, String> {
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
    for key in keys.iter().chain([&END_KEY]) {
        within(
            5,
            "queue.bind",
            ch.queue_bind(&q.name, &exchange, key, FieldTable::new()),
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
    println!("[{name}] listening for {keys:?}");
    let _ = ready.send(()).await;

    let mut got = Vec::new();
    loop {
        let msg = within(10, "subscriber: waiting for log lines", async {
            consumer
                .next()
                .await
                .unwrap_or_else(|| Err(warren::Error::NotOpen("consumer")))
        })
        .await?;
        if msg.routing_key == END_KEY {
            break;
        }
        println!("[{name}] {}: {}", msg.routing_key, msg.body_str());
        got.push((msg.routing_key.to_string(), msg.body_str().into_owned()));
    }
    within(5, "subscriber: connection.close", conn.close()).await?;
    Ok(got)
}

async fn run() -> Result<(), String> {
    let url = amqp_url();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let exchange = format!("warren-tut4-direct-logs-{}-{nanos}", std::process::id());
    let (ready_tx, ready_rx) = mpsc::channel(2);

    let result = tokio::try_join!(
        subscriber(ERROR_FILE, url.clone(), exchange.clone(), ready_tx.clone()),
        subscriber(CONSOLE, url.clone(), exchange.clone(), ready_tx),
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

    let (error_file, console, unroutable) = result?;
    // A direct exchange delivers a message to the queues bound with exactly its key.
    let expect = |keys: &[&str]| -> Vec<(String, String)> {
        LOG.iter()
            .filter(|(severity, _)| keys.contains(severity))
            .map(|(s, t)| (s.to_string(), t.to_string()))
            .collect()
    };
    for ((name, keys), got) in [(ERROR_FILE, error_file), (CONSOLE, console)] {
        if got != expect(keys) {
            return Err(format!(
                "{name} received {got:?}, expected {:?}",
                expect(keys)
            ));
        }
    }
    if unroutable != ["debug", "debug"] {
        return Err(format!(
            "unroutable: {unroutable:?}, expected the two debug lines"
        ));
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    match tokio::time::timeout(Duration::from_secs(45), run()).await {
        Ok(Ok(())) => println!("PASS tutorial 4 (routing): each subscriber got exactly its severities; debug went nowhere"),
        Ok(Err(e)) => {
            eprintln!("FAIL tutorial 4 (routing): {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("FAIL tutorial 4 (routing): did not finish within 45 s");
            std::process::exit(1);
        }
    }
}
