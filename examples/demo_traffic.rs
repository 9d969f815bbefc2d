//! The dashboard demo's traffic: a native program on the session API that keeps a broker busy
//! with the kinds of messages a queue dashboard is for.
//!
//! - `demo.telemetry` (topic exchange): JSON sensor readings under `sensor.<site>.<kind>`, a few
//!   hundred per second, with a burst of several times that every now and then.
//! - `demo.orders` (topic exchange) → `demo.orders.stream` (a stream queue, `x-queue-type=stream`):
//!   order events `order.<event>` carrying priority, correlation and message ids, timestamps,
//!   and headers of many AMQP types (nested tables, arrays, floats, 64-bit integers, bytes).
//!   The stream keeps the flat headers only (RabbitMQ stores them as AMQP 1.0 application
//!   properties, which have no tables or arrays): bind a queue to `demo.orders` to see them all.
//! - `demo.rpc`: an RPC server answering every request with the server time and load.
//!
//! Everything goes through one [`Session`], so the generator itself rides out broker restarts
//! and relay cuts: it reconnects, declares its exchanges and queues again and carries on.
//!
//! Run: `cargo run --release --example demo_traffic --features tokio -- [options]`
//!
//! ```text
//!   --url URL            broker (default $WARREN_AMQP_URL, else amqp://guest:guest@127.0.0.1:$WARREN_BROKER_PORT/%2f)
//!   --rate N             telemetry messages per second outside bursts (default 300)
//!   --burst-every S      seconds between bursts, 0 = none (default 20)
//!   --burst-secs S       length of a burst in seconds (default 3)
//!   --burst-factor F     rate multiplier during a burst (default 4)
//!   --orders N           order events per second (default 4)
//!   --no-rpc             do not serve demo.rpc
//!   --duration S         exit after S seconds (default: run until killed)
//!   --quiet              no per-second summary
//! ```

use futures::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use warren::client::{ExchangeDeclareOptions, PublishOptions, QueueDeclareOptions};
use warren::session::{RpcHandler, SessionMessage};
use warren::{BasicProperties, FieldTable, FieldValue, Session, SessionEvent, SessionOptions};

const TELEMETRY: &str = "demo.telemetry";
const ORDERS: &str = "demo.orders";
const ORDERS_STREAM: &str = "demo.orders.stream";
const RPC_QUEUE: &str = "demo.rpc";

const SITES: [&str; 5] = ["ams", "fra", "nyc", "sgp", "syd"];
const KINDS: [(&str, &str, f64, f64); 5] = [
    // kind, unit, baseline, amplitude
    ("temperature", "°C", 21.0, 4.0),
    ("humidity", "%", 45.0, 15.0),
    ("power", "kW", 120.0, 40.0),
    ("vibration", "mm/s", 2.0, 1.5),
    ("pressure", "hPa", 1013.0, 8.0),
];
const EVENTS: [&str; 5] = ["created", "paid", "packed", "shipped", "cancelled"];
const TIERS: [&str; 3] = ["bronze", "silver", "gold"];

struct Config {
    url: String,
    rate: f64,
    burst_every: f64,
    burst_secs: f64,
    burst_factor: f64,
    orders: f64,
    rpc: bool,
    duration: Option<f64>,
    quiet: bool,
}

const HELP: &str = "\
usage: demo_traffic [options]
  --url URL            broker (default $WARREN_AMQP_URL, else amqp://guest:guest@127.0.0.1:$WARREN_BROKER_PORT/%2f)
  --rate N             telemetry messages per second outside bursts (default 300)
  --burst-every S      seconds between bursts, 0 = none (default 20)
  --burst-secs S       length of a burst in seconds (default 3)
  --burst-factor F     rate multiplier during a burst (default 4)
  --orders N           order events per second (default 4)
  --no-rpc             do not serve demo.rpc
  --duration S         exit after S seconds (default: run until killed)
  --quiet              no summary every 5 s";

fn usage(why: &str) -> ! {
    eprintln!("demo_traffic: {why}\n{HELP}");
    std::process::exit(2);
}

fn config() -> Config {
    let port = std::env::var("WARREN_BROKER_PORT").unwrap_or_else(|_| "5673".into());
    let mut c = Config {
        url: std::env::var("WARREN_AMQP_URL")
            .unwrap_or_else(|_| format!("amqp://guest:guest@127.0.0.1:{port}/%2f")),
        rate: 300.0,
        burst_every: 20.0,
        burst_secs: 3.0,
        burst_factor: 4.0,
        orders: 4.0,
        rpc: true,
        duration: None,
        quiet: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> f64 {
            let v = args
                .next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")));
            match v.parse::<f64>() {
                Ok(n) if n.is_finite() && n >= 0.0 => n,
                _ => usage(&format!("{name}: not a non-negative number: {v}")),
            }
        };
        match a.as_str() {
            "--rate" => c.rate = num("--rate"),
            "--burst-every" => c.burst_every = num("--burst-every"),
            "--burst-secs" => c.burst_secs = num("--burst-secs"),
            "--burst-factor" => c.burst_factor = num("--burst-factor"),
            "--orders" => c.orders = num("--orders"),
            "--duration" => c.duration = Some(num("--duration")),
            "--no-rpc" => c.rpc = false,
            "--quiet" => c.quiet = true,
            "--url" => c.url = args.next().unwrap_or_else(|| usage("--url needs a value")),
            "-h" | "--help" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            other => usage(&format!("unknown option {other}")),
        }
    }
    c
}

/// xorshift64*: deterministic enough, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// RFC 3339 UTC time of a Unix time in milliseconds (civil-from-days, Howard Hinnant).
fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

fn load_average() -> (f64, f64, f64) {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text.split_whitespace().map(|s| s.parse().unwrap_or(0.0));
    (
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    )
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Default)]
struct Counters {
    telemetry: AtomicU64,
    orders: AtomicU64,
    rpc: AtomicU64,
    errors: AtomicU64,
}

async fn declare(session: &Session) -> Result<(), String> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    session
        .exchange_declare(TELEMETRY, "topic", durable, FieldTable::new())
        .await
        .map_err(|e| format!("declare {TELEMETRY}: {e}"))?;
    session
        .exchange_declare(ORDERS, "topic", durable, FieldTable::new())
        .await
        .map_err(|e| format!("declare {ORDERS}: {e}"))?;
    let mut args = FieldTable::new();
    args.insert("x-queue-type", "stream");
    // keep the demo's disk use bounded: 64 MB of order history
    args.insert("x-max-length-bytes", 64_i64 * 1024 * 1024);
    let stream = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    session
        .queue_declare(ORDERS_STREAM, stream, args)
        .await
        .map_err(|e| format!("declare {ORDERS_STREAM}: {e}"))?;
    session
        .queue_bind(ORDERS_STREAM, ORDERS, "order.#", FieldTable::new())
        .await
        .map_err(|e| format!("bind {ORDERS_STREAM}: {e}"))?;
    Ok(())
}

/// Telemetry at `rate` per second (times `burst_factor` during bursts), in 20 ms ticks.
async fn telemetry(session: Session, c: Arc<Config>, counters: Arc<Counters>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let props = BasicProperties {
        content_type: Some("application/json".into()),
        delivery_mode: Some(1),
        app_id: Some("demo-traffic".into()),
        ..Default::default()
    };
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut due = 0.0f64;
    let mut last = Instant::now();
    let mut seq: u64 = 0;
    loop {
        tick.tick().await;
        let t = start.elapsed().as_secs_f64();
        let bursting = c.burst_every > 0.0 && t % c.burst_every >= c.burst_every - c.burst_secs;
        let rate = if bursting {
            c.rate * c.burst_factor
        } else {
            c.rate
        };
        let now = Instant::now();
        due += rate * now.duration_since(last).as_secs_f64();
        last = now;
        // after a stall (disconnected), do not try to catch up on more than a second
        due = due.min(rate.max(1.0));
        while due >= 1.0 {
            due -= 1.0;
            seq += 1;
            let site = SITES[rng.below(SITES.len())];
            let (kind, unit, base, amp) = KINDS[rng.below(KINDS.len())];
            let phase = t / 30.0 + site.len() as f64 + base;
            let value = base + amp * phase.sin() + amp * 0.2 * (rng.unit() - 0.5);
            let sensor = rng.below(8) + 1;
            let ts = now_ms();
            let body = format!(
                "{{\"site\":{},\"kind\":{},\"sensor\":\"{site}-{}-{sensor}\",\"value\":{:.3},\"unit\":{},\"seq\":{seq},\"ts\":{ts}}}",
                json_string(site),
                json_string(kind),
                &kind[..4],
                value,
                json_string(unit),
            );
            let key = format!("sensor.{site}.{kind}");
            let mut p = props.clone();
            let mut h = FieldTable::new();
            h.insert("sensor-seq", seq as i64);
            h.insert("firmware", "2.4.1");
            p.headers = Some(h);
            // unconfirmed: telemetry is fire-and-forget (it waits in the outbox while down)
            match session
                .publish_with(
                    TELEMETRY,
                    &key,
                    body.as_bytes(),
                    &p,
                    PublishOptions::default(),
                    false,
                )
                .await
            {
                Ok(()) => counters.telemetry.fetch_add(1, Ordering::Relaxed),
                Err(_) => counters.errors.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}

fn order_headers(rng: &mut Rng, order: u64, event: &str, ts_secs: u64) -> FieldTable {
    let mut customer = FieldTable::new();
    let cid = 10_000 + rng.below(500) as i64;
    customer.insert("id", cid);
    customer.insert("tier", TIERS[rng.below(TIERS.len())]);
    customer.insert(
        "since",
        FieldValue::Timestamp(ts_secs.saturating_sub(86_400 * (30 + rng.below(900) as u64))),
    );
    let mut shipping = FieldTable::new();
    shipping.insert("country", ["NL", "DE", "US", "SG", "AU"][rng.below(5)]);
    shipping.insert("express", rng.below(4) == 0);
    shipping.insert("weight-kg", (rng.unit() * 20.0 * 100.0).round() / 100.0);
    let items: Vec<FieldValue> = (0..1 + rng.below(4))
        .map(|_| FieldValue::from(format!("SKU-{:04}", rng.below(9999))))
        .collect();
    let mut h = FieldTable::new();
    h.insert("event", event);
    h.insert("order-id", order as i64);
    // beyond 32 bits: an int64 on the wire
    h.insert("trace-id", 0x1_0000_0000_i64 + (rng.next() >> 34) as i64);
    // (no decimal: RabbitMQ's stream queues crash the channel on a decimal header)
    let cents = 500 + rng.below(50_000) as i64;
    h.insert("amount", cents as f64 / 100.0);
    h.insert("amount-cents", cents);
    h.insert("currency", "EUR");
    h.insert("items", FieldValue::Array(items));
    h.insert("customer", customer);
    h.insert("shipping", shipping);
    h.insert("placed-at", FieldValue::Timestamp(ts_secs));
    h.insert(
        "signature",
        FieldValue::ByteArray(bytes_of(rng.next().to_be_bytes())),
    );
    h
}

fn bytes_of(b: [u8; 8]) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(&b)
}

/// Order events at `rate` per second, confirmed (the stream keeps them).
async fn orders(session: Session, c: Arc<Config>, counters: Arc<Counters>) {
    if c.orders <= 0.0 {
        return;
    }
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / c.orders));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut order: u64 = 1000;
    // orders in flight and the event each is at
    let mut open: Vec<(u64, usize)> = Vec::new();
    loop {
        tick.tick().await;
        let (id, step) = if open.is_empty() || rng.below(3) == 0 {
            order += 1;
            open.push((order, 0));
            (order, 0)
        } else {
            let i = rng.below(open.len());
            let (id, step) = open[i];
            // a few orders are cancelled after payment, the rest go on to shipping
            let next = if step == 1 && rng.below(6) == 0 {
                4
            } else {
                step + 1
            };
            if next >= 3 {
                open.swap_remove(i);
            } else {
                open[i].1 = next;
            }
            (id, next)
        };
        if open.len() > 50 {
            open.remove(0);
        }
        let event = EVENTS[step];
        let ms = now_ms();
        let secs = ms / 1000;
        let body = format!(
            "{{\"order\":\"ORD-{id}\",\"event\":{},\"at\":{},\"lines\":{},\"total\":{:.2}}}",
            json_string(event),
            json_string(&iso8601(ms)),
            1 + rng.below(4),
            5.0 + rng.unit() * 495.0
        );
        let props = BasicProperties {
            content_type: Some("application/json".into()),
            delivery_mode: Some(2),
            priority: Some(if event == "cancelled" {
                9
            } else {
                rng.below(5) as u8
            }),
            correlation_id: Some(format!("ORD-{id}").into()),
            message_id: Some(format!("ORD-{id}-{event}-{ms}").into()),
            timestamp: Some(secs),
            kind: Some(format!("order.{event}").into()),
            app_id: Some("demo-traffic".into()),
            headers: Some(order_headers(&mut rng, id, event, secs)),
            ..Default::default()
        };
        let key = format!("order.{event}");
        match session
            .publish(
                ORDERS,
                &key,
                body.as_bytes(),
                &props,
                PublishOptions::default(),
            )
            .await
        {
            Ok(()) => counters.orders.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                eprintln!("demo_traffic: order publish failed: {e}");
                counters.errors.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

async fn serve_rpc(
    session: &Session,
    counters: Arc<Counters>,
) -> Result<warren::session::RpcServer, String> {
    let started = Instant::now();
    let handler: RpcHandler = Arc::new(move |m: SessionMessage| {
        let counters = counters.clone();
        Box::pin(async move {
            let n = counters.rpc.fetch_add(1, Ordering::Relaxed) + 1;
            let ms = now_ms();
            let (l1, l5, l15) = load_average();
            let request = String::from_utf8_lossy(&m.body).into_owned();
            let body = format!(
                "{{\"serverTime\":{},\"unixMs\":{ms},\"load\":{{\"1m\":{l1},\"5m\":{l5},\"15m\":{l15}}},\"uptimeS\":{},\"published\":{{\"telemetry\":{},\"orders\":{}}},\"requests\":{n},\"request\":{}}}",
                json_string(&iso8601(ms)),
                started.elapsed().as_secs(),
                counters.telemetry.load(Ordering::Relaxed),
                counters.orders.load(Ordering::Relaxed),
                json_string(&request),
            );
            let props = BasicProperties {
                content_type: Some("application/json".into()),
                timestamp: Some(ms / 1000),
                app_id: Some("demo-traffic".into()),
                ..Default::default()
            };
            Ok((body.into_bytes(), props))
        })
    });
    session
        .rpc_server(RPC_QUEUE, 4, handler)
        .await
        .map_err(|e| format!("rpc server on {RPC_QUEUE}: {e}"))
}

async fn run(c: Config) -> Result<(), String> {
    let c = Arc::new(c);
    let session = Session::connect([c.url.as_str()], SessionOptions::default())
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut events = session.events();
    tokio::spawn(async move {
        while let Some(ev) = events.next().await {
            match ev {
                SessionEvent::Disconnected { error } => {
                    eprintln!("demo_traffic: connection lost: {error}")
                }
                SessionEvent::Reconnecting { attempt, delay_ms } => {
                    eprintln!("demo_traffic: reconnect attempt {attempt} in {delay_ms} ms")
                }
                SessionEvent::Recovered => eprintln!("demo_traffic: reconnected"),
                SessionEvent::Failed { error } => eprintln!("demo_traffic: gave up: {error}"),
                _ => {}
            }
        }
    });
    declare(&session).await?;
    let counters = Arc::new(Counters::default());
    let _rpc = if c.rpc {
        Some(serve_rpc(&session, counters.clone()).await?)
    } else {
        None
    };
    println!(
        "demo_traffic: {} msg/s telemetry on {TELEMETRY} (sensor.<site>.<kind>), {} orders/s on {ORDERS} -> stream {ORDERS_STREAM}{}",
        c.rate,
        c.orders,
        if c.rpc { ", RPC server on demo.rpc" } else { "" }
    );
    tokio::spawn(telemetry(session.clone(), c.clone(), counters.clone()));
    tokio::spawn(orders(session.clone(), c.clone(), counters.clone()));
    let start = Instant::now();
    let mut report = tokio::time::interval(Duration::from_secs(5));
    report.tick().await; // the first tick is immediate
    let mut last = 0;
    loop {
        report.tick().await;
        if !c.quiet {
            let n = counters.telemetry.load(Ordering::Relaxed);
            println!(
                "demo_traffic: {:.0} telemetry msg/s, {} orders, {} rpc requests, {} errors",
                (n - last) as f64 / 5.0,
                counters.orders.load(Ordering::Relaxed),
                counters.rpc.load(Ordering::Relaxed),
                counters.errors.load(Ordering::Relaxed)
            );
            last = n;
        }
        if c.duration
            .is_some_and(|d| start.elapsed().as_secs_f64() >= d)
        {
            break;
        }
    }
    session.stop().await;
    Ok(())
}

#[tokio::main]
async fn main() {
    let c = config();
    if let Err(e) = run(c).await {
        eprintln!("demo_traffic: {e}");
        if e.contains("inequivalent arg") {
            eprintln!(
                "demo_traffic: a queue or exchange of that name exists with other settings \
                 (left by an older version?); delete it, e.g. `scripts/broker ctl delete_queue NAME`"
            );
        }
        std::process::exit(1);
    }
}
