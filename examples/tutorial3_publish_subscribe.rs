//! Tutorial 3, "Publish/Subscribe": one message, many receivers. A log emitter publishes to a
//! `fanout` exchange, which copies every message to each queue bound to it. Each subscriber
//! declares its own throw-away queue (server-named, exclusive: gone when its connection closes)
//! and binds it to the exchange.
//!
//! This program runs an emitter and two subscribers concurrently and checks that
//!   - a message published while no queue is bound goes nowhere: with `mandatory` set, the
//!     broker hands it back (312 NO_ROUTE);
//!   - once both subscribers are bound, each receives every log line, in publish order.
//!
//! Run: `cargo run --example tutorial3_publish_subscribe --features tokio`
//!
//! Broker: `WARREN_AMQP_URL` (default amqp://guest:guest@127.0.0.1:5673/%2f).

use futures::StreamExt;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};
use warren::client::{
    ConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, PublishOptions,
    QueueDeclareOptions,
};
use warren::{BasicProperties, Channel, Connection, FieldTable, ReplyCode};

const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5673/%2f";
const END: &str = "(end of log)";
const LINES: [&str; 5] = [
    "boot: warren log emitter started",
    "info: 3 widgets polished",
    "warning: disk 81% full",
    "error: widget 7 jammed",
    "info: shutting down",
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
        ch.exchange_declare(exchange, "fanout", o, FieldTable::new()),
    )
    .await
}

async fn emitter(
    url: String,
    exchange: String,
    go: watch::Sender<bool>,
    mut ready: mpsc::Receiver<()>,
) -> Result<(), String> {
    let conn = within(10, "emitter: connect", Connection::connect(&url)).await?;
    let ch = within(5, "emitter: channel.open", conn.channel(None)).await?;
    declare_exchange(&ch, &exchange).await?;
    let props = BasicProperties::default().with_content_type("text/plain");

    // Nobody is bound yet: the exchange drops the message, or (mandatory) returns it.
    let mut returns = ch.returns();
    let mandatory = PublishOptions {
        mandatory: true,
        ..Default::default()
    };
    within(
        5,
        "basic.publish",
        ch.basic_publish(&exchange, "", b"is anybody there?", &props, mandatory),
    )
    .await?;
    let back = within(5, "waiting for basic.return", async {
        returns.next().await.ok_or("returns ended")
    })
    .await?;
    println!(
        "[emitter] with no subscriber the message came back: {} {}",
        back.reply_code.0, back.reply_text
    );
    if back.reply_code != ReplyCode::NO_ROUTE || &back.body[..] != b"is anybody there?" {
        return Err(format!(
            "expected 312 NO_ROUTE with our body, got {} {:?}",
            back.reply_code, back.body
        ));
    }

    // Let the subscribers bind, then broadcast.
    let _ = go.send(true);
    for _ in 0..2 {
        within(10, "emitter: waiting for subscribers", async {
            ready.recv().await.ok_or("a subscriber gave up")
        })
        .await?;
    }
    for line in LINES.iter().chain([&END]) {
        within(
            5,
            "basic.publish",
            ch.basic_publish(
                &exchange,
                "",
                line.as_bytes(),
                &props,
                PublishOptions::default(),
            ),
        )
        .await?;
        println!("[emitter] published {line:?}");
    }
    within(5, "emitter: connection.close", conn.close()).await
}

async fn subscriber(
    name: &'static str,
    url: String,
    exchange: String,
    mut go: watch::Receiver<bool>,
    ready: mpsc::Sender<()>,
) -> Result<Vec<String>, String> {
    let conn = within(10, "subscriber: connect", Connection::connect(&url)).await?;
    let ch = within(5, "subscriber: channel.open", conn.channel(None)).await?;
    within(10, "subscriber: waiting for the go", go.wait_for(|&go| go)).await?;
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
    within(
        5,
        "queue.bind",
        ch.queue_bind(&q.name, &exchange, "", FieldTable::new()),
    )
    .await?;
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
    println!("[{name}] listening on {}", q.name);
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
        let line = msg.body_str().into_owned();
        if line == END {
            break;
        }
        println!("[{name}] {line}");
        got.push(line);
    }
    // closing the connection removes the exclusive queue (and its binding)
    within(5, "subscriber: connection.close", conn.close()).await?;
    Ok(got)
}

async fn run() -> Result<(), String> {
    let url = amqp_url();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let exchange = format!("warren-tut3-logs-{}-{nanos}", std::process::id());
    let (go_tx, go_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = mpsc::channel(2);

    let result = tokio::try_join!(
        subscriber(
            "subscriber 1",
            url.clone(),
            exchange.clone(),
            go_rx.clone(),
            ready_tx.clone()
        ),
        subscriber(
            "subscriber 2",
            url.clone(),
            exchange.clone(),
            go_rx,
            ready_tx
        ),
        emitter(url.clone(), exchange.clone(), go_tx, ready_rx),
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

    let (one, two, ()) = result?;
    for (name, got) in [("subscriber 1", one), ("subscriber 2", two)] {
        if got != LINES {
            return Err(format!("{name} received {got:?}, expected {LINES:?}"));
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    match tokio::time::timeout(Duration::from_secs(45), run()).await {
        Ok(Ok(())) => println!(
            "PASS tutorial 3 (publish/subscribe): both subscribers got all {} lines",
            LINES.len()
        ),
        Ok(Err(e)) => {
            eprintln!("FAIL tutorial 3 (publish/subscribe): {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("FAIL tutorial 3 (publish/subscribe): did not finish within 45 s");
            std::process::exit(1);
        }
    }
}
