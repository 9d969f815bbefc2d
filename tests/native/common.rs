//! Helpers shared by the native integration test modules (real broker over tokio TCP).
//!
//! The broker URL comes from `WARREN_AMQP_URL` (default: the private test broker started by
//! `scripts/broker start`). Every test wraps its body in [`bounded`] so a hang fails instead of
//! blocking the suite, and names its queues/exchanges with [`unique`] so tests run in parallel.
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use warren::client::{QueueDeclareOptions, QueueInfo};
use warren::{Channel, Connection, Error, FieldTable, Message, ReplyCode};

pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5673/%2f";

/// The broker URL for the default user and vhost.
pub fn url() -> String {
    std::env::var("WARREN_AMQP_URL").unwrap_or_else(|_| DEFAULT_URL.into())
}

/// `host:port` of the broker under test, taken from [`url`].
pub fn host_port() -> String {
    let u = url();
    let rest = u.split_once("://").map_or(u.as_str(), |(_, r)| r);
    let rest = rest.split(['/', '?']).next().unwrap_or(rest);
    rest.rsplit_once('@').map_or(rest, |(_, hp)| hp).to_string()
}

/// A URL for the broker under test with other credentials, vhost (already percent-encoded) and query.
pub fn url_for(user: &str, pass: &str, vhost: &str, query: &str) -> String {
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("amqp://{user}:{pass}@{}/{vhost}{q}", host_port())
}

/// The default URL with a query string appended.
pub fn url_with(query: &str) -> String {
    let u = url();
    let sep = if u.contains('?') { '&' } else { '?' };
    format!("{u}{sep}{query}")
}

/// Runs a test body under a 20 s bound, so a hang is a failure.
pub async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    within(20_000, fut).await
}

/// Runs `fut` under a bound of `ms` milliseconds; panics when it elapses.
pub async fn within<T>(ms: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_millis(ms), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {ms} ms"))
}

/// A name no other test (or earlier run) uses: `warren-test-<what>-<pid>-<nanos>-<counter>`.
pub fn unique(what: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("warren-test-{what}-{}-{nanos}-{n}", std::process::id())
}

pub async fn connect() -> Connection {
    Connection::connect(&url())
        .await
        .expect("connect to the test broker")
}

/// A connection and one open channel on it.
pub async fn open() -> (Connection, Channel) {
    let conn = connect().await;
    let ch = conn.channel(None).await.expect("open channel");
    (conn, ch)
}

pub fn exclusive() -> QueueDeclareOptions {
    QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    }
}

/// Declares a server-named exclusive queue (deleted when the connection closes).
pub async fn temp_queue(ch: &Channel) -> String {
    temp_queue_info(ch).await.name
}

pub async fn temp_queue_info(ch: &Channel) -> QueueInfo {
    ch.queue_declare("", exclusive(), FieldTable::new())
        .await
        .expect("declare temp queue")
}

/// The reply code an error carries; panics (with the error) when it carries none.
pub fn code(e: &Error) -> ReplyCode {
    e.reply_code()
        .unwrap_or_else(|| panic!("error without a reply code: {e:?}"))
}

/// Asserts `e` is a channel-level close with `expected`.
pub fn assert_channel_closed(e: &Error, expected: ReplyCode) {
    match e {
        Error::ChannelClosed(info) => assert_eq!(info.code, expected, "{e}"),
        other => panic!("expected ChannelClosed({expected:?}), got {other:?}"),
    }
}

/// Asserts `e` is a connection-level close with `expected`.
pub fn assert_connection_closed(e: &Error, expected: ReplyCode) {
    match e {
        Error::ConnectionClosed(info) => assert_eq!(info.code, expected, "{e}"),
        other => panic!("expected ConnectionClosed({expected:?}), got {other:?}"),
    }
}

/// The queue's ready-message count as the broker reports it (passive declare).
pub async fn ready_count(ch: &Channel, queue: &str) -> u32 {
    let o = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    ch.queue_declare(queue, o, FieldTable::new())
        .await
        .expect("passive declare")
        .message_count
}

/// `basic.get` (no-ack) until a message comes, polling the broker at most `tries` times.
///
/// A publish on a channel without confirms is only "sent", so a get right after it may race the
/// broker's routing; each get is a full round trip, so this waits on broker state, not on a clock.
pub async fn get_eventually(ch: &Channel, queue: &str, tries: usize) -> Option<Message> {
    for _ in 0..tries {
        if let Some(m) = ch.basic_get(queue, true).await.expect("basic.get") {
            return Some(m);
        }
        tokio::task::yield_now().await;
    }
    None
}

/// Whether the broker under test is this checkout's private broker (`scripts/broker`), the one
/// `scripts/broker ctl` reaches: [`url`] points at 127.0.0.1 (or localhost) on the port that
/// script uses (`WARREN_BROKER_PORT`, default 5673; scripts/lib.sh reads the same variable).
pub fn is_private_broker() -> bool {
    let port = std::env::var("WARREN_BROKER_PORT").unwrap_or_else(|_| "5673".into());
    let hp = host_port();
    hp == format!("127.0.0.1:{port}") || hp == format!("localhost:{port}")
}

/// Runs `scripts/broker ctl ARGS` (rabbitmqctl against the private test broker) and returns its
/// stdout, or `None` when the suite runs against another broker (see [`is_private_broker`]) or
/// the tool is unavailable, in which case the calling test skips the part that needs it.
pub async fn broker_ctl(args: &[&str]) -> Option<String> {
    if !is_private_broker() {
        return None;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/broker");
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(script)
            .arg("ctl")
            .arg("-q")
            .args(&args)
            .output()
    });
    let out = within(15_000, run).await.ok()?.ok()?;
    if !out.status.success() {
        eprintln!(
            "broker ctl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

type ClientWriter = std::sync::Arc<tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>>;

/// A TCP relay between the client and the broker that a test can cut (`kill`: both sockets
/// closed), silence (`blackhole`: sockets stay open, bytes are dropped both ways — a dead network
/// the client must notice by itself) or use to slip frames to the client (`inject`).
pub struct Proxy {
    pub port: u16,
    blackholed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    client: std::sync::Arc<std::sync::Mutex<Option<ClientWriter>>>,
}

impl Proxy {
    pub async fn start() -> Proxy {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let blackholed = Arc::new(AtomicBool::new(false));
        let tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let client: Arc<Mutex<Option<ClientWriter>>> = Arc::default();
        let (bh, ts, cl) = (blackholed.clone(), tasks.clone(), client.clone());
        let acceptor = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(broker) = tokio::net::TcpStream::connect(host_port()).await else {
                    return;
                };
                let (cr, cw) = client.into_split();
                let (br, bw) = broker.into_split();
                let cw = Arc::new(tokio::sync::Mutex::new(cw));
                *cl.lock().unwrap() = Some(cw.clone());
                let up = tokio::spawn(pump(cr, Arc::new(tokio::sync::Mutex::new(bw)), bh.clone()));
                let down = tokio::spawn(pump(br, cw, bh.clone()));
                ts.lock().unwrap().extend([up, down]);
            }
        });
        tasks.lock().unwrap().push(acceptor);
        Proxy {
            port,
            blackholed,
            tasks,
            client,
        }
    }

    /// The test broker's URL, through this proxy.
    pub fn url(&self, query: &str) -> String {
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!("amqp://guest:guest@127.0.0.1:{}/%2f{q}", self.port)
    }

    /// From now on every byte is dropped, in both directions; no socket is closed.
    pub fn blackhole(&self) {
        self.blackholed.store(true, Ordering::SeqCst);
    }

    /// Writes raw bytes to the (last) client as if the broker had sent them. Only safe between
    /// frames, i.e. while the broker is not sending anything (an idle connection, heartbeats off).
    pub async fn inject(&self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let w = self
            .client
            .lock()
            .unwrap()
            .clone()
            .expect("a client is connected");
        w.lock().await.write_all(bytes).await.unwrap();
    }

    /// Closes every relayed socket (the client sees EOF) and stops accepting.
    pub fn kill(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        self.client.lock().unwrap().take();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    to: std::sync::Arc<tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>>,
    blackholed: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        if blackholed.load(Ordering::SeqCst) {
            if n == 0 {
                // Keep the other side open: a silent network, not a closed one.
                std::future::pending::<()>().await;
            }
            continue;
        }
        let mut to = to.lock().await;
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            let _ = to.shutdown().await;
            return;
        }
    }
}
