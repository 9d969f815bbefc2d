//! Tutorial 1, "Hello World": one program puts a message into a named queue, another takes it out.
//!
//! Both roles run here concurrently, each on its own connection as if they were separate
//! processes: a receiver that waits for one message, and a sender that publishes "Hello World!"
//! through the default exchange (which routes by queue name). Both declare the queue, so it does
//! not matter which one gets there first.
//!
//! Run: `cargo run --example tutorial1_hello_world --features tokio`
//!
//! Broker: `WARREN_AMQP_URL` (default amqp://guest:guest@127.0.0.1:5673/%2f). Exits non-zero
//! unless the receiver got exactly the message that was sent.

use futures::StreamExt;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use warren::client::{ConsumeOptions, PublishOptions, QueueDeclareOptions, QueueDeleteOptions};
use warren::{BasicProperties, Channel, Connection, FieldTable};

const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5673/%2f";
const GREETING: &str = "Hello World!";

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

/// Declares the queue the same way on both sides. It is not exclusive (two connections use it);
/// `x-expires` removes it if this program dies before deleting it.
async fn declare(ch: &Channel, queue: &str) -> Result<(), String> {
    let args = FieldTable::new().with("x-expires", 60_000i32);
    within(
        5,
        "queue.declare",
        ch.queue_declare(queue, QueueDeclareOptions::default(), args),
    )
    .await
    .map(drop)
}

async fn receiver(url: String, queue: String) -> Result<String, String> {
    let conn = within(10, "receiver: connect", Connection::connect(&url)).await?;
    let ch = within(5, "receiver: channel.open", conn.channel(None)).await?;
    declare(&ch, &queue).await?;
    let opts = ConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut consumer = within(
        5,
        "basic.consume",
        ch.basic_consume(&queue, opts, FieldTable::new()),
    )
    .await?;
    println!("[receiver] waiting for messages on {queue}");
    let msg = within(10, "receiver: waiting for the message", async {
        consumer
            .next()
            .await
            .unwrap_or_else(|| Err(warren::Error::NotOpen("consumer")))
    })
    .await?;
    let body = msg.body_str().into_owned();
    println!(
        "[receiver] received {body:?} (exchange {:?}, routing key {:?})",
        msg.exchange, msg.routing_key
    );
    if !msg.exchange.is_empty() || msg.routing_key != queue {
        return Err(format!(
            "expected the default exchange and routing key {queue}, got {:?}/{:?}",
            msg.exchange, msg.routing_key
        ));
    }
    within(5, "basic.cancel", consumer.cancel()).await?;
    let left = within(
        5,
        "queue.delete",
        ch.queue_delete(&queue, QueueDeleteOptions::default()),
    )
    .await?;
    if left != 0 {
        return Err(format!(
            "{left} unexpected message(s) were left in the queue"
        ));
    }
    within(5, "receiver: connection.close", conn.close()).await?;
    Ok(body)
}

async fn sender(url: String, queue: String) -> Result<(), String> {
    let conn = within(10, "sender: connect", Connection::connect(&url)).await?;
    let ch = within(5, "sender: channel.open", conn.channel(None)).await?;
    declare(&ch, &queue).await?;
    let props = BasicProperties::default().with_content_type("text/plain");
    within(
        5,
        "basic.publish",
        ch.basic_publish(
            "",
            &queue,
            GREETING.as_bytes(),
            &props,
            PublishOptions::default(),
        ),
    )
    .await?;
    println!("[sender] sent {GREETING:?}");
    // close waits for the broker's close-ok, so the publish before it has been processed
    within(5, "sender: connection.close", conn.close()).await
}

async fn run() -> Result<(), String> {
    let url = amqp_url();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let queue = format!("warren-tut1-hello-{}-{nanos}", std::process::id());

    // the two roles run concurrently, like two programs started side by side
    let (got, ()) = tokio::try_join!(receiver(url.clone(), queue.clone()), sender(url, queue))?;
    if got != GREETING {
        return Err(format!("received {got:?}, expected {GREETING:?}"));
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    match tokio::time::timeout(Duration::from_secs(40), run()).await {
        Ok(Ok(())) => println!("PASS tutorial 1 (hello world): the message went through the queue"),
        Ok(Err(e)) => {
            eprintln!("FAIL tutorial 1 (hello world): {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("FAIL tutorial 1 (hello world): did not finish within 40 s");
            std::process::exit(1);
        }
    }
}
