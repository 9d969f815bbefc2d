//! Tutorial 2, "Work queues": a producer hands out time-consuming tasks, and a pool of workers
//! shares them. Each worker acknowledges a task only after finishing it (so a crashed worker's
//! task would be redelivered), and asks for one task at a time with `basic.qos(prefetch = 1)`,
//! so a busy worker is not handed more work while an idle one waits.
//!
//! Here a producer and two workers run concurrently, each on its own connection. A task's
//! "cost" is its number of dots, each worth 60 ms of pretend work. The program checks that
//!   - every task was acknowledged exactly once, none redelivered, and the queue ends empty;
//!   - both workers took part;
//!   - prefetch 1 held: no worker received a task before it had acked the previous one.
//!
//! Run: `cargo run --example tutorial2_work_queues --features tokio`
//!
//! Broker: `WARREN_AMQP_URL` (default amqp://guest:guest@127.0.0.1:5673/%2f).

use futures::StreamExt;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};
use warren::client::{ConsumeOptions, PublishOptions, QueueDeclareOptions, QueueDeleteOptions};
use warren::{BasicProperties, Channel, Connection, FieldTable, Message};

const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5673/%2f";
const TASKS: usize = 12;
const MS_PER_DOT: u64 = 60;

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

/// The task queue survives a broker restart (durable) and so do its messages (persistent).
/// Everyone declares it identically; `x-expires` removes it if this program dies early.
async fn declare(ch: &Channel, queue: &str) -> Result<(), String> {
    let o = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let args = FieldTable::new().with("x-expires", 60_000i32);
    within(5, "queue.declare", ch.queue_declare(queue, o, args))
        .await
        .map(drop)
}

/// Task `i` ("task 3 ..."): 1 to 3 dots.
fn task_body(i: usize) -> String {
    format!("task {i} {}", ".".repeat(i % 3 + 1))
}

async fn producer(url: String, queue: String, ready: mpsc::Receiver<()>) -> Result<(), String> {
    let conn = within(10, "producer: connect", Connection::connect(&url)).await?;
    let ch = within(5, "producer: channel.open", conn.channel(None)).await?;
    declare(&ch, &queue).await?;
    // Wait until both workers consume, so the first tasks are not all taken by whoever came first.
    let mut ready = ready;
    for _ in 0..2 {
        within(10, "producer: waiting for the workers", async {
            ready
                .recv()
                .await
                .ok_or("a worker gave up before consuming")
        })
        .await?;
    }
    // With confirms, each publish resolves once the broker has taken responsibility for it.
    within(5, "confirm.select", ch.confirm_select()).await?;
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("text/plain");
    for i in 1..=TASKS {
        let body = task_body(i);
        within(
            5,
            "basic.publish",
            ch.basic_publish(
                "",
                &queue,
                body.as_bytes(),
                &props,
                PublishOptions::default(),
            ),
        )
        .await?;
        println!("[producer] sent {body:?}");
    }
    within(5, "producer: connection.close", conn.close()).await
}

struct Report {
    name: &'static str,
    done: Vec<usize>,
    /// Deliveries that arrived while the previous task was still unacknowledged.
    early: usize,
    redelivered: usize,
}

async fn worker(
    name: &'static str,
    url: String,
    queue: String,
    ready: mpsc::Sender<()>,
    acked: mpsc::UnboundedSender<usize>,
    mut stop: watch::Receiver<bool>,
) -> Result<Report, String> {
    let conn = within(10, "worker: connect", Connection::connect(&url)).await?;
    let ch = within(5, "worker: channel.open", conn.channel(None)).await?;
    declare(&ch, &queue).await?;
    within(5, "basic.qos", ch.basic_qos(1, 0, false)).await?;
    let consumer = within(
        5,
        "basic.consume",
        ch.basic_consume(&queue, ConsumeOptions::default(), FieldTable::new()),
    )
    .await?;
    let tag = consumer.tag().to_owned();
    println!("[{name}] waiting for tasks");
    let _ = ready.send(()).await;

    // One half notes when each delivery arrives, the other half does the work. The timestamps
    // show whether the broker respected prefetch 1 (no delivery before the previous ack).
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel::<(Instant, Message)>();
    let receive = async move {
        let mut consumer = consumer;
        while let Some(item) = consumer.next().await {
            let msg = item.map_err(|e| format!("{name}: consumer failed: {e}"))?;
            let _ = arrivals_tx.send((Instant::now(), msg));
        }
        Ok::<(), String>(())
    };
    let work = async {
        let mut report = Report {
            name,
            done: Vec::new(),
            early: 0,
            redelivered: 0,
        };
        let mut last_ack: Option<Instant> = None;
        loop {
            let (arrived, msg) = tokio::select! {
                m = arrivals.recv() => match m {
                    Some(m) => m,
                    None => return Err(format!("{name}: the consumer ended unexpectedly")),
                },
                _ = stop.changed() => break,
            };
            if last_ack.is_some_and(|t| arrived < t) {
                report.early += 1;
            }
            if msg.redelivered {
                report.redelivered += 1;
            }
            let body = msg.body_str().into_owned();
            let id: usize = body
                .split(' ')
                .nth(1)
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("{name}: unexpected task {body:?}"))?;
            let dots = body.chars().filter(|&c| c == '.').count() as u64;
            println!("[{name}] working on {body:?}");
            tokio::time::sleep(Duration::from_millis(dots * MS_PER_DOT)).await;
            last_ack = Some(Instant::now());
            msg.ack().map_err(|e| format!("{name}: basic.ack: {e}"))?;
            println!("[{name}] done with task {id}");
            report.done.push(id);
            let _ = acked.send(id);
        }
        within(5, "basic.cancel", ch.basic_cancel(&tag)).await?;
        Ok(report)
    };
    let ((), report) = tokio::try_join!(receive, work)?;
    within(5, "worker: connection.close", conn.close()).await?;
    Ok(report)
}

/// Waits until all tasks were acked (by anyone), then tells the workers to stop.
async fn supervisor(
    mut acked: mpsc::UnboundedReceiver<usize>,
    stop: watch::Sender<bool>,
) -> Result<(), String> {
    for _ in 0..TASKS {
        within(15, "waiting for the workers to finish the tasks", async {
            acked.recv().await.ok_or("the workers stopped early")
        })
        .await?;
    }
    let _ = stop.send(true);
    Ok(())
}

async fn run() -> Result<(), String> {
    let url = amqp_url();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let queue = format!("warren-tut2-tasks-{}-{nanos}", std::process::id());
    let (ready_tx, ready_rx) = mpsc::channel(2);
    let (acked_tx, acked_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);

    let started = Instant::now();
    let (a, b, (), ()) = tokio::try_join!(
        worker(
            "worker A",
            url.clone(),
            queue.clone(),
            ready_tx.clone(),
            acked_tx.clone(),
            stop_rx.clone()
        ),
        worker(
            "worker B",
            url.clone(),
            queue.clone(),
            ready_tx,
            acked_tx,
            stop_rx
        ),
        producer(url.clone(), queue.clone(), ready_rx),
        supervisor(acked_rx, stop_tx),
    )?;
    println!(
        "all {TASKS} tasks done in {} ms",
        started.elapsed().as_millis()
    );

    let mut all = BTreeMap::<usize, &str>::new();
    for r in [&a, &b] {
        println!("{}: {} task(s) {:?}", r.name, r.done.len(), r.done);
        if r.done.is_empty() {
            return Err(format!("{} never got a task", r.name));
        }
        if r.early > 0 {
            return Err(format!(
                "{} received {} task(s) before acking the previous one (prefetch 1 ignored)",
                r.name, r.early
            ));
        }
        if r.redelivered > 0 {
            return Err(format!(
                "{} saw {} redelivered task(s)",
                r.name, r.redelivered
            ));
        }
        for &id in &r.done {
            if let Some(other) = all.insert(id, r.name) {
                return Err(format!("task {id} was done twice ({other} and {})", r.name));
            }
        }
    }
    if all.keys().copied().ne(1..=TASKS) {
        return Err(format!(
            "tasks done {:?}, expected 1..={TASKS}",
            all.keys().collect::<Vec<_>>()
        ));
    }

    // Clean up: the queue must be empty now.
    let conn = within(10, "connect", Connection::connect(&url)).await?;
    let ch = within(5, "channel.open", conn.channel(None)).await?;
    let left = within(
        5,
        "queue.delete",
        ch.queue_delete(&queue, QueueDeleteOptions::default()),
    )
    .await?;
    within(5, "connection.close", conn.close()).await?;
    if left != 0 {
        return Err(format!("{left} message(s) were left in the queue"));
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    match tokio::time::timeout(Duration::from_secs(45), run()).await {
        Ok(Ok(())) => println!("PASS tutorial 2 (work queues): {TASKS} tasks shared fairly by 2 workers, each acked once"),
        Ok(Err(e)) => {
            eprintln!("FAIL tutorial 2 (work queues): {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("FAIL tutorial 2 (work queues): did not finish within 45 s");
            std::process::exit(1);
        }
    }
}
