//! Tutorial 6, "RPC": request/reply over a broker. A client publishes a request to the server's
//! queue with two properties: `reply_to`, where the answer should go, and `correlation_id`, to
//! tell the answers apart. The server computes the result, publishes it to `reply_to` with the
//! same `correlation_id`, and only then acks the request.
//!
//! The client uses RabbitMQ's direct reply-to: it consumes the pseudo-queue
//! `amq.rabbitmq.reply-to` (no-ack, on the channel it publishes requests from) and puts that
//! name in `reply_to`; the broker rewrites it into a per-channel address, so no reply queue has
//! to be declared.
//!
//! Here a Fibonacci server and a client run concurrently on their own connections. The client
//! fires several calls at once, matches replies to calls by correlation id, and drops a reply
//! whose id it no longer waits for (as after a timeout). The program checks fib(10) = 55 and the
//! other results, that every call got its own answer, that exactly the stale reply was ignored,
//! and that the server saw a broker-rewritten reply address.
//!
//! Run: `cargo run --example tutorial6_rpc --features tokio`
//!
//! Broker: `WARREN_AMQP_URL` (default amqp://guest:guest@127.0.0.1:5673/%2f).

use futures::StreamExt;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, watch};
use warren::client::{ConsumeOptions, PublishOptions, QueueDeclareOptions};
use warren::{BasicProperties, Channel, Connection, Consumer, FieldTable};

const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5673/%2f";
const REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// (n, fib(n)) with fib(0) = 0, fib(1) = 1.
const CALLS: [(u32, u64); 8] = [
    (10, 55),
    (0, 0),
    (1, 1),
    (2, 1),
    (20, 6_765),
    (30, 832_040),
    (45, 1_134_903_170),
    (90, 2_880_067_194_370_816_120),
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

fn fib(n: u32) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a + b);
    }
    a
}

/// Serves fib requests until told to stop; returns the reply addresses it answered.
async fn server(
    url: String,
    queue: String,
    ready: oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> Result<Vec<String>, String> {
    let conn = within(10, "server: connect", Connection::connect(&url)).await?;
    let ch = within(5, "server: channel.open", conn.channel(None)).await?;
    // auto-delete: the queue goes away when the server stops consuming
    let o = QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    within(
        5,
        "queue.declare",
        ch.queue_declare(&queue, o, FieldTable::new()),
    )
    .await?;
    within(5, "basic.qos", ch.basic_qos(1, 0, false)).await?;
    let mut requests = within(
        5,
        "basic.consume",
        ch.basic_consume(&queue, ConsumeOptions::default(), FieldTable::new()),
    )
    .await?;
    println!("[server] awaiting RPC requests on {queue}");
    let _ = ready.send(());

    let mut answered = Vec::new();
    loop {
        let msg = tokio::select! {
            m = requests.next() => match m {
                Some(m) => m.map_err(|e| format!("server: consumer failed: {e}"))?,
                None => return Err("server: the consumer ended unexpectedly".into()),
            },
            _ = stop.changed() => break,
        };
        let (Some(reply_to), Some(corr)) =
            (&msg.properties.reply_to, &msg.properties.correlation_id)
        else {
            return Err(format!(
                "server: request without reply_to/correlation_id: {:?}",
                msg.properties
            ));
        };
        let n: u32 = msg
            .body_str()
            .parse()
            .map_err(|_| format!("server: bad request {:?}", msg.body_str()))?;
        let answer = fib(n).to_string();
        println!("[server] fib({n}) = {answer} (correlation id {corr})");
        let props = BasicProperties::default().with_correlation_id(corr.clone());
        within(
            5,
            "server: basic.publish",
            ch.basic_publish(
                "",
                reply_to,
                answer.as_bytes(),
                &props,
                PublishOptions::default(),
            ),
        )
        .await?;
        msg.ack().map_err(|e| format!("server: basic.ack: {e}"))?;
        answered.push(reply_to.as_str().to_owned());
    }
    within(5, "basic.cancel", requests.cancel()).await?;
    within(5, "server: connection.close", conn.close()).await?;
    Ok(answered)
}

/// Calls in flight, by correlation id.
type Pending = Mutex<HashMap<String, oneshot::Sender<String>>>;

struct FibClient {
    ch: Channel,
    server_queue: String,
    id_prefix: String,
    next_id: AtomicU64,
    pending: Pending,
}

impl FibClient {
    fn new_id(&self) -> String {
        format!(
            "{}-{}",
            self.id_prefix,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn request(&self, n: u32, id: &str) -> impl Future<Output = Result<(), warren::Error>> + '_ {
        let props = BasicProperties::default()
            .with_reply_to(REPLY_TO)
            .with_correlation_id(id);
        let body = n.to_string();
        async move {
            self.ch
                .basic_publish(
                    "",
                    &self.server_queue,
                    body.as_bytes(),
                    &props,
                    PublishOptions::default(),
                )
                .await
        }
    }

    async fn call(&self, n: u32) -> Result<u64, String> {
        let id = self.new_id();
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id.clone(), tx);
        within(5, "client: basic.publish", self.request(n, &id)).await?;
        let body = within(10, &format!("client: waiting for fib({n})"), rx).await?;
        body.parse()
            .map_err(|_| format!("client: bad answer {body:?} for fib({n})"))
    }

    /// Sends a request and forgets it at once, as a caller that gave up would.
    async fn call_and_forget(&self, n: u32) -> Result<String, String> {
        let id = self.new_id();
        within(5, "client: basic.publish", self.request(n, &id)).await?;
        Ok(id)
    }

    /// Routes replies to the waiting calls until `total` replies arrived; returns the ids of
    /// replies nobody waited for.
    async fn dispatch(&self, replies: &mut Consumer, total: usize) -> Result<Vec<String>, String> {
        let mut stale = Vec::new();
        for _ in 0..total {
            let reply = within(10, "client: waiting for replies", async {
                replies
                    .next()
                    .await
                    .unwrap_or_else(|| Err(warren::Error::NotOpen("consumer")))
            })
            .await?;
            let id = reply
                .properties
                .correlation_id
                .as_deref()
                .unwrap_or_default()
                .to_owned();
            match self.pending.lock().unwrap().remove(&id) {
                Some(tx) => {
                    let _ = tx.send(reply.body_str().into_owned());
                }
                None => {
                    println!("[client] ignoring a reply for unknown correlation id {id:?}");
                    stale.push(id);
                }
            }
        }
        Ok(stale)
    }
}

async fn client(
    url: String,
    server_queue: String,
    server_ready: oneshot::Receiver<()>,
    stop_server: watch::Sender<bool>,
) -> Result<(), String> {
    let conn = within(10, "client: connect", Connection::connect(&url)).await?;
    let ch = within(5, "client: channel.open", conn.channel(None)).await?;
    // Direct reply-to: consume the pseudo-queue (no-ack) before publishing requests on this channel.
    let opts = ConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut replies = within(
        5,
        "basic.consume amq.rabbitmq.reply-to",
        ch.basic_consume(REPLY_TO, opts, FieldTable::new()),
    )
    .await?;
    within(10, "client: waiting for the server", server_ready).await?;

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let fc = FibClient {
        ch,
        server_queue,
        id_prefix: format!("fib-{}-{nanos}", std::process::id()),
        next_id: AtomicU64::new(1),
        pending: Mutex::new(HashMap::new()),
    };
    // One request whose caller has already given up, then all calls at once.
    let forgotten = fc.call_and_forget(7).await?;
    let calls = async {
        let results = futures::future::join_all(CALLS.iter().map(|&(n, _)| fc.call(n))).await;
        results.into_iter().collect::<Result<Vec<u64>, String>>()
    };
    let (stale, results) = tokio::try_join!(fc.dispatch(&mut replies, CALLS.len() + 1), calls)?;

    for (&(n, want), got) in CALLS.iter().zip(&results) {
        println!("[client] fib({n}) = {got}");
        if *got != want {
            return Err(format!("fib({n}) returned {got}, expected {want}"));
        }
    }
    if stale != [forgotten.clone()] {
        return Err(format!(
            "ignored replies {stale:?}, expected only {forgotten:?}"
        ));
    }
    if !fc.pending.lock().unwrap().is_empty() {
        return Err("some calls never got a reply".into());
    }
    let _ = stop_server.send(true);
    within(5, "client: connection.close", conn.close()).await
}

async fn run() -> Result<(), String> {
    let url = amqp_url();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let queue = format!("warren-tut6-rpc-{}-{nanos}", std::process::id());
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = watch::channel(false);

    let (answered, ()) = tokio::try_join!(
        server(url.clone(), queue.clone(), ready_tx, stop_rx),
        client(url, queue, ready_rx, stop_tx),
    )?;
    if answered.len() != CALLS.len() + 1 {
        return Err(format!(
            "the server answered {} requests, expected {}",
            answered.len(),
            CALLS.len() + 1
        ));
    }
    // The broker replaced the pseudo-queue name by a routable per-channel address.
    if let Some(bad) = answered
        .iter()
        .find(|r| !r.starts_with("amq.rabbitmq.reply-to."))
    {
        return Err(format!("reply_to as seen by the server was {bad:?}"));
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    match tokio::time::timeout(Duration::from_secs(45), run()).await {
        Ok(Ok(())) => println!(
            "PASS tutorial 6 (RPC): fib(10) = 55 and {} more calls answered via direct reply-to",
            CALLS.len() - 1
        ),
        Ok(Err(e)) => {
            eprintln!("FAIL tutorial 6 (RPC): {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("FAIL tutorial 6 (RPC): did not finish within 45 s");
            std::process::exit(1);
        }
    }
}
