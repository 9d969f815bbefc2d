#![cfg(all(not(target_arch = "wasm32"), feature = "tokio"))]
//! Bounded memory, measured: a test binary of its own whose global allocator counts live heap
//! bytes and their peak, so the figures are this process's and nothing else's. A scripted
//! server on an ephemeral loopback port (in the same process; it allocates a few hundred KB)
//! plays the broker:
//!
//! - **slow no-ack consumer**: the server pushes 200,000 deliveries of 1 KB as fast as the
//!   socket takes them; the consumer waits 500 ms, then takes them with a 1 ms sleep every 50.
//!   The read budget (8 MiB by default) stops reading and TCP pushes back on the server;
//! - **publishing without awaiting**: 200,000 `publish_now` calls of 1 KB whose waits are
//!   dropped, to a server that reads nothing for 500 ms: past 32 MiB unsent, publishes are
//!   refused with `Error::WriteBufferFull`; then the same with `basic_publish` awaited, which
//!   waits instead.
//!
//! Run alone (`cargo test --features tokio --test memory -- --test-threads=1`): the tests
//! measure the process's heap, so they must not overlap. With `WARREN_MEMORY_OUT=FILE` each
//! appends a row (case, peak heap over the start, VmHWM) for docs/robustness.md.

use bytes::Bytes;
use futures::StreamExt;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use warren::client::{ConsumeOptions, PublishOptions};
use warren::protocol::*;
use warren::{Connection, Error, FieldTable};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size > layout.size() {
                let grow = new_size - layout.size();
                let now = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The tests share the process heap: one at a time, whatever the harness does.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MESSAGES: usize = 200_000;
const BODY: usize = 1024;
const MIB: f64 = (1 << 20) as f64;

/// Starts measuring: the peak is reset to what is live now, which is returned.
fn baseline() -> usize {
    let live = LIVE.load(Ordering::SeqCst);
    PEAK.store(live, Ordering::SeqCst);
    live
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn record(case: &str, over_start: usize, detail: &str) {
    let line = format!(
        "{case}\t{:.1}\t{:.0}\t{detail}\n",
        over_start as f64 / MIB,
        vm_hwm_kb() as f64 / 1024.0
    );
    print!("memory: {line}");
    if let Ok(path) = std::env::var("WARREN_MEMORY_OUT") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        std::io::Write::write_all(&mut f, line.as_bytes()).unwrap();
    }
}

fn frame(channel: u16, m: &Method) -> Vec<u8> {
    let mut out = Vec::new();
    encode_method(&mut out, channel, m).unwrap();
    out
}

#[derive(Clone, Copy)]
enum Role {
    /// After consume-ok, push MESSAGES deliveries.
    Flood,
    /// Read nothing for 500 ms after the channel opened, then read everything.
    SlowReader,
}

/// A one-connection server: handshake, channel.open-ok, then its role. Returns the port.
async fn server(role: Role) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (mut r, mut w) = sock.into_split();
        let mut header = [0u8; 8];
        r.read_exact(&mut header).await.unwrap();
        let start = ConnectionStart {
            version_major: 0,
            version_minor: 9,
            server_properties: FieldTable::new(),
            mechanisms: Bytes::from_static(b"PLAIN"),
            locales: Bytes::from_static(b"en_US"),
        };
        w.write_all(&frame(0, &Method::ConnectionStart(start)))
            .await
            .unwrap();
        let mut dec = FrameDecoder::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = r.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            dec.extend(&buf[..n]);
            while let Ok(Some(f)) = dec.next_frame() {
                match f {
                    Frame::Method(0, Method::ConnectionStartOk(_)) => {
                        let tune = ConnectionTune {
                            channel_max: 16,
                            frame_max: 131_072,
                            heartbeat: 0,
                        };
                        w.write_all(&frame(0, &Method::ConnectionTune(tune)))
                            .await
                            .unwrap();
                    }
                    Frame::Method(0, Method::ConnectionOpen(_)) => {
                        let ok = Method::ConnectionOpenOk(ConnectionOpenOk::default());
                        w.write_all(&frame(0, &ok)).await.unwrap();
                    }
                    Frame::Method(0, Method::ConnectionClose(_)) => {
                        let _ = w.write_all(&frame(0, &Method::ConnectionCloseOk)).await;
                        return;
                    }
                    Frame::Method(ch, Method::ChannelOpen(_)) => {
                        let ok = Method::ChannelOpenOk(ChannelOpenOk::default());
                        w.write_all(&frame(ch, &ok)).await.unwrap();
                        if let Role::SlowReader = role {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                    Frame::Method(ch, Method::BasicConsume(_)) => {
                        let ok = BasicConsumeOk {
                            consumer_tag: "flood".into(),
                        };
                        w.write_all(&frame(ch, &Method::BasicConsumeOk(ok)))
                            .await
                            .unwrap();
                        flood(&mut w, ch).await;
                    }
                    _ => {}
                }
            }
        }
    });
    port
}

/// MESSAGES deliveries of BODY bytes, written in batches of 64 (one small reused buffer).
async fn flood(w: &mut tokio::net::tcp::OwnedWriteHalf, ch: u16) {
    let body = vec![0x5A; BODY];
    let mut batch = Vec::new();
    let mut tag = 0u64;
    while (tag as usize) < MESSAGES {
        batch.clear();
        for _ in 0..64.min(MESSAGES - tag as usize) {
            tag += 1;
            let d = Method::BasicDeliver(BasicDeliver {
                consumer_tag: "flood".into(),
                delivery_tag: tag,
                redelivered: false,
                exchange: warren::protocol::ShortStr::new(),
                routing_key: "q".into(),
            });
            encode_content(
                &mut batch,
                ch,
                &d,
                &BasicProperties::default(),
                &body,
                131_072,
            )
            .unwrap();
        }
        if w.write_all(&batch).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_no_ack_consumer_of_200k_messages_stays_within_the_read_budget() {
    let _serial = SERIAL.lock().await;
    let port = server(Role::Flood).await;
    let start = baseline();
    let t0 = Instant::now();
    let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f?heartbeat=0");
    let conn = Connection::connect(&url).await.unwrap();
    let ch = conn.channel(None).await.unwrap();
    let o = ConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut consumer = ch.basic_consume("q", o, FieldTable::new()).await.unwrap();
    // The application is busy: the server fills what it can.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut max_unread = 0;
    let mut got = 0;
    while got < MESSAGES {
        let m = tokio::time::timeout(Duration::from_secs(20), consumer.next())
            .await
            .expect("deliveries keep coming")
            .expect("stream open")
            .expect("a message");
        assert_eq!(m.body.len(), BODY);
        got += 1;
        if got % 50 == 0 {
            max_unread = max_unread.max(conn.unread_bytes());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let peak = PEAK.load(Ordering::SeqCst) - start;
    drop(consumer);
    conn.close().await.unwrap();
    record(
        "slow no-ack consumer, 200,000 × 1 KB",
        peak,
        &format!(
            "read budget 8 MiB (default); most unread seen {:.1} MiB; {:.1} s",
            max_unread as f64 / MIB,
            t0.elapsed().as_secs_f64()
        ),
    );
    assert!(
        peak < 16 << 20,
        "heap peaked {:.1} MiB over the start",
        peak as f64 / MIB
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_without_awaiting_is_refused_past_the_write_limit() {
    let _serial = SERIAL.lock().await;
    let port = server(Role::SlowReader).await;
    let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f?heartbeat=0");
    let conn = Connection::connect(&url).await.unwrap();
    let ch = conn.channel(None).await.unwrap();
    let body = vec![7u8; BODY];
    let props = BasicProperties::default();
    let start = baseline();
    let (mut queued, mut refused) = (0usize, 0usize);
    for _ in 0..MESSAGES {
        match ch.publish_now("", "q", &body, &props, PublishOptions::default()) {
            Ok(wait) => {
                drop(wait); // nobody awaits
                queued += 1;
            }
            Err(Error::WriteBufferFull { .. }) => refused += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    let peak = PEAK.load(Ordering::SeqCst) - start;
    record(
        "publish_now × 200,000 (1 KB), never awaited",
        peak,
        &format!("{queued} queued, {refused} refused with WriteBufferFull (limit 32 MiB unsent)"),
    );
    assert!(refused > 0, "nothing was refused");
    assert!(
        peak < 48 << 20,
        "heap peaked {:.1} MiB over the start",
        peak as f64 / MIB
    );

    // Awaited, the same volume waits for the transport instead and every publish goes.
    let start = baseline();
    let t0 = Instant::now();
    for _ in 0..MESSAGES {
        ch.basic_publish("", "q", &body, &props, PublishOptions::default())
            .await
            .unwrap();
    }
    let peak = PEAK.load(Ordering::SeqCst) - start;
    record(
        "basic_publish × 200,000 (1 KB), awaited",
        peak,
        &format!("all sent in {:.1} s", t0.elapsed().as_secs_f64()),
    );
    assert!(
        peak < 48 << 20,
        "heap peaked {:.1} MiB over the start",
        peak as f64 / MIB
    );
    conn.close().await.unwrap();
}
