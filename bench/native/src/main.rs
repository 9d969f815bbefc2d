//! Native side-by-side workloads: warren (tokio transport) vs lapin vs amqprs, one measurement per
//! process so no client leaves tasks or sockets behind for the next one.
//!
//!   warren-bench CLIENT WORKLOAD N [QUEUE]
//!     CLIENT   warren | lapin | amqprs
//!     WORKLOAD publish        publish N x 16 B, timed until the queue holds N (passive declare)
//!              consume_ack    queue pre-filled with N (untimed); prefetch 1000, ack each message
//!              consume_noack  queue pre-filled with N (untimed); no-ack consumer
//!
//! Prints one JSON line: {"client":..,"workload":..,"n":..,"seconds":..}. The broker URL comes
//! from WARREN_AMQP_URL (default amqp://guest:guest@127.0.0.1:5673/%2f). Every client uses the
//! same multi-threaded tokio runtime, the same queue settings (transient, non-exclusive, fresh per
//! run), the same 16-byte body without properties and the same poll for the queue depth.

use std::time::{Duration, Instant};

const BODY: &[u8; 16] = b"0123456789abcdef";
const PREFETCH: u16 = 1000;
/// A measurement that has not finished by then is a failure, not a hang.
const LIMIT: Duration = Duration::from_secs(300);

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    Publish,
    ConsumeAck,
    ConsumeNoAck,
}

struct Target {
    host: String,
    port: u16,
    user: String,
    pass: String,
    url: String,
}

fn target() -> Target {
    let url = std::env::var("WARREN_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5673/%2f".into());
    // amqp://user:pass@host:port/vhost — the benchmark always uses the default vhost.
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let (cred, hp) = authority
        .rsplit_once('@')
        .unwrap_or(("guest:guest", authority));
    let (user, pass) = cred.split_once(':').unwrap_or((cred, ""));
    let (host, port) = hp.rsplit_once(':').unwrap_or((hp, "5672"));
    Target {
        host: host.into(),
        port: port.parse().expect("port in WARREN_AMQP_URL"),
        user: user.into(),
        pass: pass.into(),
        url: format!("amqp://{user}:{pass}@{host}:{port}/%2f"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!(
            "usage: warren-bench warren|lapin|amqprs publish|consume_ack|consume_noack N [QUEUE]"
        );
        std::process::exit(2);
    }
    let client = args[1].as_str();
    let workload = match args[2].as_str() {
        "publish" => Workload::Publish,
        "consume_ack" => Workload::ConsumeAck,
        "consume_noack" => Workload::ConsumeNoAck,
        w => {
            eprintln!("unknown workload {w}");
            std::process::exit(2);
        }
    };
    let n: u32 = args[3].parse().expect("N must be a number");
    let queue = args
        .get(4)
        .cloned()
        .unwrap_or_else(|| format!("warren-bench-native-{}", std::process::id()));
    let t = target();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let run = async {
        match client {
            "warren" => warren_run(&t, workload, n, &queue).await,
            "lapin" => lapin_run(&t, workload, n, &queue).await,
            "amqprs" => amqprs_run(&t, workload, n, &queue).await,
            c => Err(format!("unknown client {c}").into()),
        }
    };
    let result = rt.block_on(async { tokio::time::timeout(LIMIT, run).await });
    match result {
        Ok(Ok(secs)) => println!(
            "{{\"client\":\"{client}\",\"workload\":\"{}\",\"n\":{n},\"seconds\":{secs:.6}}}",
            args[2]
        ),
        Ok(Err(e)) => {
            eprintln!("{client} {}: {e}", args[2]);
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("{client} {}: timed out after {LIMIT:?}", args[2]);
            std::process::exit(1);
        }
    }
    // Do not wait for client tasks that linger after close.
    rt.shutdown_timeout(Duration::from_secs(2));
}

// ---------------------------------------------------------------------------------------------
// warren

async fn warren_run(t: &Target, w: Workload, n: u32, q: &str) -> Res<f64> {
    use futures::StreamExt;
    use warren::client::{ConsumeOptions, PublishOptions, QueueDeclareOptions, QueueDeleteOptions};
    use warren::{BasicProperties, Connection, FieldTable};

    let conn = Connection::connect(&t.url).await?;
    let ch = conn.channel(None).await?;
    let _ = ch.queue_delete(q, QueueDeleteOptions::default()).await;
    ch.queue_declare(q, QueueDeclareOptions::default(), FieldTable::new())
        .await?;
    let props = BasicProperties::default();
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };

    let publish_all = || async {
        for _ in 0..n {
            ch.basic_publish("", q, BODY, &props, PublishOptions::default())
                .await?;
        }
        loop {
            let info = ch.queue_declare(q, passive, FieldTable::new()).await?;
            if info.message_count >= n {
                return Res::Ok(());
            }
        }
    };

    let secs = match w {
        Workload::Publish => {
            let t0 = Instant::now();
            publish_all().await?;
            t0.elapsed().as_secs_f64()
        }
        Workload::ConsumeAck | Workload::ConsumeNoAck => {
            publish_all().await?;
            let no_ack = w == Workload::ConsumeNoAck;
            if !no_ack {
                ch.basic_qos(PREFETCH, 0, false).await?;
            }
            let o = ConsumeOptions {
                no_ack,
                ..Default::default()
            };
            let t0 = Instant::now();
            let mut consumer = ch.basic_consume(q, o, FieldTable::new()).await?;
            let mut got = 0;
            while got < n {
                let m = consumer.next().await.ok_or("consumer ended early")??;
                if !no_ack {
                    m.ack()?;
                }
                got += 1;
            }
            let secs = t0.elapsed().as_secs_f64();
            consumer.cancel().await?;
            secs
        }
    };
    ch.queue_delete(q, QueueDeleteOptions::default()).await?;
    conn.close().await?;
    Ok(secs)
}

// ---------------------------------------------------------------------------------------------
// lapin

async fn lapin_run(t: &Target, w: Workload, n: u32, q: &str) -> Res<f64> {
    use futures::StreamExt;
    use lapin::options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions,
        BasicQosOptions, QueueDeclareOptions, QueueDeleteOptions,
    };
    use lapin::types::FieldTable;
    use lapin::{BasicProperties, Connection, ConnectionProperties};

    let conn = Connection::connect(&t.url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    let _ = ch
        .queue_delete(q.into(), QueueDeleteOptions::default())
        .await;
    // queue_delete failing closes the channel: use a fresh one.
    let ch = if ch.status().connected() {
        ch
    } else {
        conn.create_channel().await?
    };
    ch.queue_declare(
        q.into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };

    let publish_all = || async {
        for _ in 0..n {
            ch.basic_publish(
                "".into(),
                q.into(),
                BasicPublishOptions::default(),
                BODY,
                BasicProperties::default(),
            )
            .await?;
        }
        loop {
            let info = ch
                .queue_declare(q.into(), passive, FieldTable::default())
                .await?;
            if info.message_count() >= n {
                return Res::Ok(());
            }
        }
    };

    let secs = match w {
        Workload::Publish => {
            let t0 = Instant::now();
            publish_all().await?;
            t0.elapsed().as_secs_f64()
        }
        Workload::ConsumeAck | Workload::ConsumeNoAck => {
            publish_all().await?;
            let no_ack = w == Workload::ConsumeNoAck;
            if !no_ack {
                ch.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
            }
            let o = BasicConsumeOptions {
                no_ack,
                ..Default::default()
            };
            let t0 = Instant::now();
            let mut consumer = ch
                .basic_consume(q.into(), "".into(), o, FieldTable::default())
                .await?;
            let mut got = 0;
            while got < n {
                let d = consumer.next().await.ok_or("consumer ended early")??;
                if !no_ack {
                    d.ack(BasicAckOptions::default()).await?;
                }
                got += 1;
            }
            let secs = t0.elapsed().as_secs_f64();
            ch.basic_cancel(consumer.tag(), BasicCancelOptions::default())
                .await?;
            secs
        }
    };
    ch.queue_delete(q.into(), QueueDeleteOptions::default())
        .await?;
    conn.close(200, "bye".into()).await?;
    Ok(secs)
}

// ---------------------------------------------------------------------------------------------
// amqprs

async fn amqprs_run(t: &Target, w: Workload, n: u32, q: &str) -> Res<f64> {
    use amqprs::channel::{
        BasicAckArguments, BasicCancelArguments, BasicConsumeArguments, BasicPublishArguments,
        BasicQosArguments, QueueDeclareArguments, QueueDeleteArguments,
    };
    use amqprs::connection::{Connection, OpenConnectionArguments};
    use amqprs::BasicProperties;

    let conn = Connection::open(&OpenConnectionArguments::new(
        &t.host, t.port, &t.user, &t.pass,
    ))
    .await?;
    let ch = conn.open_channel(None).await?;
    // Deleting an absent queue is not an error in RabbitMQ 3.x.
    ch.queue_delete(QueueDeleteArguments::new(q)).await?;
    ch.queue_declare(QueueDeclareArguments::new(q)).await?;
    let passive = QueueDeclareArguments::new(q).passive(true).finish();

    let publish_all = || async {
        let args = BasicPublishArguments::new("", q);
        for _ in 0..n {
            ch.basic_publish(BasicProperties::default(), BODY.to_vec(), args.clone())
                .await?;
        }
        loop {
            let (_, count, _) = ch
                .queue_declare(passive.clone())
                .await?
                .ok_or("no declare-ok")?;
            if count >= n {
                return Res::Ok(());
            }
        }
    };

    let secs = match w {
        Workload::Publish => {
            let t0 = Instant::now();
            publish_all().await?;
            t0.elapsed().as_secs_f64()
        }
        Workload::ConsumeAck | Workload::ConsumeNoAck => {
            publish_all().await?;
            let no_ack = w == Workload::ConsumeNoAck;
            if !no_ack {
                ch.basic_qos(BasicQosArguments::new(0, PREFETCH, false))
                    .await?;
            }
            let args = BasicConsumeArguments::new(q, "")
                .manual_ack(!no_ack)
                .finish();
            let t0 = Instant::now();
            let (tag, mut rx) = ch.basic_consume_rx(args).await?;
            let mut got = 0;
            while got < n {
                let m = rx.recv().await.ok_or("consumer ended early")?;
                if !no_ack {
                    let tag = m.deliver.as_ref().ok_or("no deliver")?.delivery_tag();
                    ch.basic_ack(BasicAckArguments::new(tag, false)).await?;
                }
                got += 1;
            }
            let secs = t0.elapsed().as_secs_f64();
            ch.basic_cancel(BasicCancelArguments::new(&tag)).await?;
            secs
        }
    };
    ch.queue_delete(QueueDeleteArguments::new(q)).await?;
    ch.close().await?;
    conn.close().await?;
    Ok(secs)
}
