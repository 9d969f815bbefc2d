//! Starting the relay binary, fake upstreams and WebSocket clients, all with bounded waits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The bound on every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

pub type Ws = WebSocketStream<TcpStream>;

pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {WAIT:?}"),
    }
}

/// A loopback port nobody listens on right now (bound, read, released).
pub async fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

pub struct Relay {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    line_count: watch::Receiver<usize>,
    _dir: TempDir,
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!(
            "warren-relay-test-{}-{tag}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Relay {
    /// Starts the binary with `config` (TOML, without `listen`/`admin_listen`, which the harness
    /// picks) plus `args`, and waits for its "listening" line.
    pub async fn start(config: &str, args: &[&str]) -> Relay {
        Self::start_in(TempDir::new("relay"), config, args).await
    }

    pub async fn start_in(dir: TempDir, config: &str, args: &[&str]) -> Relay {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port().await).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port().await).parse().unwrap();
        let path = dir.0.join("relay.toml");
        std::fs::write(
            &path,
            format!("listen = \"{addr}\"\nadmin_listen = \"{admin}\"\n{config}"),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_warren-relay"))
            .arg("--config")
            .arg(&path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn warren-relay");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (count_tx, line_count) = watch::channel(0usize);
        let mut reader = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                let mut l = sink.lock().unwrap();
                l.push(line);
                count_tx.send_replace(l.len());
            }
        });
        let relay = Relay {
            child,
            addr,
            admin,
            lines,
            line_count,
            _dir: dir,
        };
        relay.wait_log("warren-relay listening").await;
        relay
    }

    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until a log line contains `needle`.
    pub async fn wait_log(&self, needle: &str) -> String {
        let mut rx = self.line_count.clone();
        let found = tokio::time::timeout(WAIT, async {
            loop {
                if let Some(l) = self
                    .lines
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|l| l.contains(needle))
                {
                    return Some(l.clone());
                }
                if rx.changed().await.is_err() {
                    return self
                        .lines
                        .lock()
                        .unwrap()
                        .iter()
                        .find(|l| l.contains(needle))
                        .cloned();
                }
            }
        })
        .await;
        match found {
            Ok(Some(l)) => l,
            _ => panic!(
                "no log line with {needle:?}; log:\n{}",
                self.log().join("\n")
            ),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.child.id().expect("relay still running").to_string();
        let ok = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} {pid}");
    }

    /// GET on the admin port: (status code, body).
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let mut s = within("admin connect", TcpStream::connect(self.admin))
            .await
            .unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        within("admin response", s.read_to_string(&mut out))
            .await
            .unwrap();
        let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        (
            status,
            out.split_once("\r\n\r\n")
                .map(|x| x.1.to_string())
                .unwrap_or_default(),
        )
    }

    /// One sample of a metric line, e.g. `warren_relay_refusals_total{reason="origin"}`.
    pub async fn metric(&self, series: &str) -> u64 {
        let (_, body) = self.admin_get("/metrics").await;
        body.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|r| r.strip_prefix(' '))
                    .map(|v| v.parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no {series} in\n{body}"))
    }

    pub async fn wait_exit(&mut self, within_: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(within_, self.child.wait())
            .await
            .expect("relay did not exit in time")
            .unwrap()
    }
}

/// Config lines naming `upstreams`, with the origin check open for tests that are not about it.
pub fn upstreams(list: &[SocketAddr]) -> String {
    let l: Vec<String> = list.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "upstreams = [{}]\nallow_missing_origin = true\n",
        l.join(", ")
    )
}

/// An upstream that echoes every byte back.
pub async fn echo_upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// An upstream that hands each accepted connection to the test.
pub async fn manual_upstream() -> (SocketAddr, tokio::sync::mpsc::Receiver<TcpStream>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            if tx.send(s).await.is_err() {
                break;
            }
        }
    });
    (addr, rx)
}

/// A WebSocket client through the relay; `headers` are added to the upgrade request.
pub async fn connect(
    url: &str,
    headers: &[(&'static str, &str)],
) -> Result<
    (
        Ws,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut()
            .append(*k, HeaderValue::from_str(v).unwrap());
    }
    let host = req.uri().authority().unwrap().as_str().to_string();
    let tcp = within("tcp connect", TcpStream::connect(host))
        .await
        .unwrap();
    within("ws handshake", tokio_tungstenite::client_async(req, tcp)).await
}

pub async fn open(url: &str) -> Ws {
    connect(url, &[]).await.expect("upgrade").0
}

/// The HTTP status of a refused upgrade.
pub async fn refused_status(url: &str, headers: &[(&'static str, &str)]) -> u16 {
    match connect(url, headers).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Ok(_) => panic!("upgrade to {url} with {headers:?} was accepted"),
        Err(e) => panic!("upgrade to {url} with {headers:?} failed without a status: {e}"),
    }
}

/// The next data message (binary), skipping control frames.
pub async fn next_binary(ws: &mut Ws) -> Vec<u8> {
    loop {
        match within("next message", ws.next()).await {
            Some(Ok(Message::Binary(b))) => return b.to_vec(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a binary message, got {other:?}"),
        }
    }
}

/// Reads until the relay's close frame arrives.
pub async fn next_close(ws: &mut Ws) -> Option<CloseFrame> {
    loop {
        match within("close frame", ws.next()).await {
            Some(Ok(Message::Close(f))) => return f,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

pub async fn send(ws: &mut Ws, data: &[u8]) {
    within("send", ws.send(Message::Binary(data.to_vec().into())))
        .await
        .unwrap();
}

/// Reads exactly `n` bytes from an upstream-side socket.
pub async fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    within("upstream read", s.read_exact(&mut buf))
        .await
        .unwrap();
    buf
}
