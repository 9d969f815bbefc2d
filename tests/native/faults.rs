//! Fault injection for the session tests: [`FaultProxy`], a loopback TCP relay in front of the
//! test broker that can cut, refuse and black-hole connections, and a broker restart
//! (`rabbitmqctl stop_app` / `start_app`) that waits, bounded, until the broker serves AMQP again.
//!
//! A broker restart disturbs every test connected to the broker, not only the one that asked for
//! it. Tests that restart it take [`exclusive_broker`]; the session tests take [`shared_broker`],
//! so they never overlap a restart. Tests of other modules do not take the lock, so a restart only
//! runs when nothing else can be running on the broker: see [`restart_allowed`].
#![allow(dead_code)]

use crate::common::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::task::JoinHandle;
use warren::Connection;

struct Shared {
    /// Where relayed connections go (`host:port` of the broker under test).
    target: String,
    refuse: AtomicBool,
    /// `true` while bytes are dropped; a watch so a pump can wait for it to end.
    blackhole: watch::Sender<bool>,
    accepted: AtomicUsize,
    refused: AtomicUsize,
    /// One task per relayed connection; aborting it closes both of its sockets.
    conns: Mutex<Vec<JoinHandle<()>>>,
}

/// A TCP relay between a client and the test broker (127.0.0.1, an ephemeral port) with faults:
/// [`cut`](FaultProxy::cut), [`refuse`](FaultProxy::refuse), [`blackhole`](FaultProxy::blackhole).
/// It counts the connections it accepted, so a test can tell whether a client tried again.
pub struct FaultProxy {
    pub port: u16,
    shared: Arc<Shared>,
    acceptor: JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy in front of the broker under test ([`host_port`]).
    pub async fn start() -> FaultProxy {
        Self::start_to(host_port()).await
    }

    pub async fn start_to(target: String) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            target,
            refuse: AtomicBool::new(false),
            blackhole: watch::channel(false).0,
            accepted: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            conns: Mutex::new(Vec::new()),
        });
        let sh = shared.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                sh.accepted.fetch_add(1, Ordering::SeqCst);
                if sh.refuse.load(Ordering::SeqCst) {
                    sh.refused.fetch_add(1, Ordering::SeqCst);
                    drop(client); // accepted and closed at once: the client reads EOF
                    continue;
                }
                let task = tokio::spawn(relay(client, sh.clone()));
                let mut conns = sh.conns.lock().unwrap();
                conns.retain(|t| !t.is_finished());
                conns.push(task);
            }
        });
        FaultProxy {
            port,
            shared,
            acceptor,
        }
    }

    /// The test broker's URL (guest, default vhost) through this proxy, with a query string.
    pub fn url(&self, query: &str) -> String {
        self.url_as("guest", "guest", query)
    }

    pub fn url_as(&self, user: &str, pass: &str, query: &str) -> String {
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!("amqp://{user}:{pass}@127.0.0.1:{}/%2f{q}", self.port)
    }

    /// Closes every relayed connection now, both ways (each side sees its socket close); new
    /// connections are still accepted.
    pub fn cut(&self) {
        for t in self.shared.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// While `true`, new connections are accepted and closed at once (before any byte).
    pub fn refuse(&self, on: bool) {
        self.shared.refuse.store(on, Ordering::SeqCst);
    }

    /// While `true`, every byte is dropped, both ways, on every connection (also new ones); no
    /// socket is closed by the proxy, and a side that closes its socket meanwhile is not passed
    /// on to the other: a dead peer, which each end must notice by itself.
    pub fn blackhole(&self, on: bool) {
        self.shared.blackhole.send_replace(on);
    }

    /// Connections accepted so far (including refused ones).
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections accepted and closed at once because of [`FaultProxy::refuse`].
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Relayed connections still open.
    pub fn open_connections(&self) -> usize {
        let conns = self.shared.conns.lock().unwrap();
        conns.iter().filter(|t| !t.is_finished()).count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.cut();
    }
}

/// One relayed connection: ends (closing both sockets) when either side ends, or when aborted.
async fn relay(client: TcpStream, shared: Arc<Shared>) {
    let Ok(broker) = TcpStream::connect(&shared.target).await else {
        return; // the broker is down: the client sees its connection close
    };
    let _ = client.set_nodelay(true);
    let _ = broker.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (br, bw) = broker.into_split();
    tokio::select! {
        () = pump(cr, bw, &shared) => {}
        () = pump(br, cw, &shared) => {}
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, shared: &Shared) {
    let mut blackhole = shared.blackhole.subscribe();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        if *blackhole.borrow_and_update() {
            if n == 0 {
                // A dead network does not carry a close either: hold the other side open
                // until the black hole ends.
                let _ = blackhole.wait_for(|on| !*on).await;
                return;
            }
            continue;
        }
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

// --- broker restarts ------------------------------------------------------------------------

static BROKER: RwLock<()> = RwLock::const_new(());

/// Held by a test that must not overlap a broker restart.
pub async fn shared_broker() -> RwLockReadGuard<'static, ()> {
    BROKER.read().await
}

/// Held by a test that restarts the broker.
pub async fn exclusive_broker() -> RwLockWriteGuard<'static, ()> {
    BROKER.write().await
}

/// Whether a test may restart the broker: it must be this checkout's private broker (reachable by
/// `scripts/broker ctl`), and no test outside the session module may be running on it, i.e. the
/// tests run one at a time (`--test-threads=1` / `RUST_TEST_THREADS=1`), every name filter
/// selects session or fault tests (`cargo test --test native session`), or `WARREN_BROKER_RESTART=1`
/// says the caller arranged that. Otherwise the test prints why and skips the restart.
pub fn restart_allowed() -> Result<(), String> {
    if !is_private_broker() {
        return Err(format!(
            "{} is not this checkout's broker (scripts/broker, port WARREN_BROKER_PORT)",
            host_port()
        ));
    }
    if std::env::var("WARREN_BROKER_RESTART").is_ok_and(|v| v == "1") {
        return Ok(());
    }
    if std::env::var("RUST_TEST_THREADS").is_ok_and(|v| v == "1") {
        return Ok(());
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filters = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--test-threads=1"
            || (a == "--test-threads" && args.get(i + 1).is_some_and(|v| v == "1"))
        {
            return Ok(());
        }
        if matches!(
            a.as_str(),
            "--test-threads"
                | "--skip"
                | "--format"
                | "--color"
                | "-Z"
                | "--logfile"
                | "--report-time"
                | "--shuffle-seed"
        ) {
            i += 2;
            continue;
        }
        if !a.starts_with('-') {
            filters.push(a.clone());
        }
        i += 1;
    }
    if !filters.is_empty()
        && filters
            .iter()
            .all(|f| f.starts_with("session") || f.starts_with("faults"))
    {
        return Ok(());
    }
    Err(
        "other test modules may be using the broker right now; run `cargo test --test native \
         session`, or set WARREN_BROKER_RESTART=1 when nothing else uses it"
            .into(),
    )
}

/// Waits until the broker under test completes an AMQP handshake again: one attempt every
/// 200 ms, for at most 30 s. Returns how long it took.
pub async fn wait_broker_serving() -> Duration {
    let t0 = Instant::now();
    let attempt_url = url_with("connection_timeout=2000");
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_millis(2_500),
            Connection::connect(&attempt_url),
        )
        .await;
        if let Ok(Ok(conn)) = attempt {
            let _ = conn.close().await;
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the broker did not serve AMQP within 30 s after start_app"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `rabbitmqctl stop_app`: the broker closes every connection (320) and drops its non-durable
/// queues and exchanges. The caller checked [`restart_allowed`] and holds [`exclusive_broker`].
pub async fn broker_stop_app() {
    broker_ctl(&["stop_app"])
        .await
        .expect("rabbitmqctl stop_app");
}

/// `rabbitmqctl start_app`, then [`wait_broker_serving`]; returns when it serves AMQP again.
pub async fn broker_start_app() {
    broker_ctl(&["start_app"])
        .await
        .expect("rabbitmqctl start_app");
    let waited = wait_broker_serving().await;
    eprintln!(
        "broker serves AMQP {} ms after start_app returned",
        waited.as_millis()
    );
}

// --- the proxy itself -----------------------------------------------------------------------

#[tokio::test]
async fn proxy_relays_cuts_refuses_and_blackholes() {
    bounded(async {
        let proxy = FaultProxy::start().await;
        let conn = Connection::connect(&proxy.url(""))
            .await
            .expect("through the proxy");
        assert_eq!(proxy.accepted(), 1);

        proxy.cut();
        let err = within(5_000, conn.closed()).await;
        assert!(
            matches!(err, Some(warren::Error::ConnectionLost { .. })),
            "{err:?}"
        );

        proxy.refuse(true);
        let refused = Connection::connect(&proxy.url("connection_timeout=3000")).await;
        assert!(refused.is_err(), "a refused connection cannot open");
        assert_eq!((proxy.accepted(), proxy.refused()), (2, 1));
        proxy.refuse(false);

        proxy.blackhole(true);
        let silent = Connection::connect(&proxy.url("connection_timeout=500")).await;
        assert!(silent.is_err(), "no handshake through a black hole");
        proxy.blackhole(false);

        let conn = Connection::connect(&proxy.url(""))
            .await
            .expect("open again");
        let ch = conn.channel(None).await.expect("channel");
        temp_queue(&ch).await;
        conn.close().await.expect("close");
    })
    .await
}
