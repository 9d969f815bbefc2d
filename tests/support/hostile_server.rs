//! The hostile broker's server side, shared by the native tests (tests/native/hostile.rs) and the
//! standalone server the browser tests connect to through a relay (examples/hostile_broker.rs):
//! a scripted AMQP server that completes the handshake (or refuses it in a chosen way), lets the
//! client open a channel and start a consumer, and then misbehaves. [`case`] names the scripts
//! both use.
#![allow(dead_code)]

use bytes::Bytes;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use warren::protocol::*;
use warren::FieldTable;

/// How the server answers the protocol header.
#[derive(Clone, Copy, PartialEq)]
pub enum Opening {
    Normal,
    /// Sends a protocol header back (an AMQP 1.0 broker refusing 0-9-1).
    ProtocolHeader,
    /// connection.start offering only a mechanism warren does not implement.
    NoMechanism,
    /// connection.start whose server-properties table declares 4 GiB.
    HugeTable,
}

/// What the server does once the client's consumer is set up.
#[derive(Clone)]
pub enum Act {
    Raw(Vec<u8>),
    /// A content header on channel 1 declaring `size` bytes, then body frames for ever (until
    /// the client closes or the socket breaks).
    EndlessBody(u64),
    /// Nothing more, ever; the socket stays open.
    Silence,
}

pub struct Script {
    pub opening: Opening,
    /// Proposed in connection.tune.
    pub heartbeat: u16,
    pub frame_max: u32,
    pub acts: Vec<Act>,
}

impl Script {
    pub fn after_consume(acts: Vec<Act>) -> Script {
        Script {
            opening: Opening::Normal,
            heartbeat: 0,
            frame_max: 4096,
            acts,
        }
    }
}

/// What the server saw from the client.
#[derive(Debug, Default)]
pub struct Seen {
    pub tune_ok: Option<ConnectionTuneOk>,
    /// Frames the client sent after the misbehaviour began.
    pub after: Vec<Frame>,
    /// The client closed its socket.
    pub eof: bool,
    /// Body bytes the endless-body writer got out before the client closed.
    pub body_bytes: u64,
}

impl Seen {
    pub fn close(&self) -> Option<&ConnectionClose> {
        self.after.iter().find_map(|f| match f {
            Frame::Method(0, Method::ConnectionClose(c)) => Some(c),
            _ => None,
        })
    }

    /// Heartbeat frames the client sent after the misbehaviour began.
    pub fn heartbeats(&self) -> usize {
        self.after
            .iter()
            .filter(|f| matches!(f, Frame::Heartbeat))
            .count()
    }

    /// What the client sent after the misbehaviour began, one item per method in order
    /// (`connection.close 501 `text``, `basic.reject 7 requeue=true`, `basic.cancel `tag``, else
    /// the method's name), then `socket closed` if it closed its socket. The docs' tables, the
    /// standalone server's log and its `GET /seen` answer all use this form.
    pub fn sent(&self) -> Vec<String> {
        let mut said: Vec<String> = self
            .after
            .iter()
            .filter_map(|f| match f {
                Frame::Method(_, Method::ConnectionClose(c)) => Some(format!(
                    "connection.close {} `{}`",
                    c.reply_code, c.reply_text
                )),
                Frame::Method(_, Method::BasicReject(r)) => Some(format!(
                    "basic.reject {} requeue={}",
                    r.delivery_tag, r.requeue
                )),
                Frame::Method(_, Method::BasicCancel(c)) => {
                    Some(format!("basic.cancel `{}`", c.consumer_tag))
                }
                Frame::Method(_, m) => Some(m.name().to_string()),
                _ => None,
            })
            .collect();
        if self.eof {
            said.push("socket closed".into());
        }
        said
    }
}

pub fn frame(channel: u16, m: &Method) -> Vec<u8> {
    let mut out = Vec::new();
    encode_method(&mut out, channel, m).unwrap();
    out
}

pub fn start_method(mechanisms: &'static [u8]) -> Method {
    Method::ConnectionStart(ConnectionStart {
        version_major: 0,
        version_minor: 9,
        server_properties: FieldTable::new().with("product", "hostile"),
        mechanisms: Bytes::from_static(mechanisms),
        locales: Bytes::from_static(b"en_US"),
    })
}

pub fn deliver(tag: &str, delivery_tag: u64) -> Vec<u8> {
    frame(
        1,
        &Method::BasicDeliver(BasicDeliver {
            consumer_tag: tag.into(),
            delivery_tag,
            redelivered: false,
            exchange: ShortStr::new(),
            routing_key: "q".into(),
        }),
    )
}

/// A complete message on channel 1: basic.deliver, its content header and body (frame_max 4096).
pub fn deliver_message(tag: &str, delivery_tag: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_content(
        &mut out,
        1,
        &Method::BasicDeliver(BasicDeliver {
            consumer_tag: tag.into(),
            delivery_tag,
            redelivered: false,
            exchange: ShortStr::new(),
            routing_key: "q".into(),
        }),
        &BasicProperties::default(),
        body,
        4096,
    )
    .unwrap();
    out
}

/// A raw frame: type, channel, payload, and the given end octet.
pub fn raw_frame(kind: u8, channel: u16, payload: &[u8], end: u8) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(end);
    out
}

pub fn header_frame(channel: u16, body_size: u64) -> Vec<u8> {
    let mut p = Vec::new();
    ContentHeader {
        class_id: 60,
        body_size,
        properties: BasicProperties::default(),
    }
    .encode(&mut p)
    .unwrap();
    raw_frame(2, channel, &p, 0xCE)
}

enum Cmd {
    Write(Vec<u8>),
    Endless(u64),
}

pub struct Server {
    pub port: u16,
    pub seen: tokio::task::JoinHandle<Seen>,
}

/// Starts the server for one connection on an ephemeral loopback port.
pub async fn serve(script: Script) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = tokio::spawn(async move {
        let Ok((sock, _)) = listener.accept().await else {
            return Seen::default();
        };
        play(sock, &script).await
    });
    Server { port, seen }
}

/// Plays `script` on one accepted connection (bounded: 30 s of reading at most) and returns
/// what the client sent.
pub async fn play(sock: TcpStream, script: &Script) -> Seen {
    let (r, w) = sock.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let body_bytes = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn(write_loop(w, rx, stop.clone(), body_bytes.clone()));
    let mut seen = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        read_loop(r, script, &tx),
    )
    .await
    .unwrap_or_default();
    stop.store(true, Ordering::SeqCst);
    drop(tx);
    let _ = writer.await;
    seen.body_bytes = body_bytes.load(Ordering::SeqCst);
    seen
}

async fn write_loop(
    mut w: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    stop: Arc<AtomicBool>,
    body_bytes: Arc<AtomicU64>,
) {
    while let Some(cmd) = rx.recv().await {
        match cmd {
            Cmd::Write(b) => {
                if w.write_all(&b).await.is_err() {
                    return;
                }
            }
            Cmd::Endless(size) => {
                if w.write_all(&header_frame(1, size)).await.is_err() {
                    return;
                }
                let body = raw_frame(3, 1, &[0x42; 4088], 0xCE);
                while !stop.load(Ordering::SeqCst) {
                    if w.write_all(&body).await.is_err() {
                        return;
                    }
                    body_bytes.fetch_add(4088, Ordering::SeqCst);
                }
            }
        }
    }
}

/// Reads frames from the client and plays the script; returns when the client closed (after
/// answering its connection.close) or its socket ended.
async fn read_loop(mut r: OwnedReadHalf, script: &Script, tx: &mpsc::UnboundedSender<Cmd>) -> Seen {
    let send = |b: Vec<u8>| {
        let _ = tx.send(Cmd::Write(b));
    };
    let mut seen = Seen::default();
    let mut header = [0u8; 8];
    if r.read_exact(&mut header).await.is_err() {
        return seen;
    }
    match script.opening {
        Opening::ProtocolHeader => send(b"AMQP\x00\x01\x00\x00".to_vec()),
        Opening::NoMechanism => send(frame(0, &start_method(b"SCRAM-SHA-256 GSSAPI"))),
        Opening::HugeTable => {
            let mut payload = vec![0, 10, 0, 10, 0, 9];
            payload.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
            payload.extend_from_slice(b"\x07product");
            send(raw_frame(1, 0, &payload, 0xCE));
        }
        Opening::Normal => send(frame(0, &start_method(b"PLAIN AMQPLAIN"))),
    }
    let mut dec = FrameDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut misbehaving = script.opening != Opening::Normal;
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => {
                seen.eof = true;
                return seen;
            }
            Ok(n) => n,
        };
        dec.extend(&buf[..n]);
        while let Ok(Some(f)) = dec.next_frame() {
            if misbehaving {
                seen.after.push(f.clone());
            }
            match f {
                Frame::Method(0, Method::ConnectionStartOk(_)) => {
                    let tune = ConnectionTune {
                        channel_max: 16,
                        frame_max: script.frame_max,
                        heartbeat: script.heartbeat,
                    };
                    send(frame(0, &Method::ConnectionTune(tune)));
                }
                Frame::Method(0, Method::ConnectionTuneOk(t)) => seen.tune_ok = Some(t),
                Frame::Method(0, Method::ConnectionOpen(_)) => send(frame(
                    0,
                    &Method::ConnectionOpenOk(ConnectionOpenOk::default()),
                )),
                Frame::Method(0, Method::ConnectionClose(_)) => {
                    send(frame(0, &Method::ConnectionCloseOk));
                    misbehaving = true;
                }
                Frame::Method(0, Method::ConnectionCloseOk) => return seen,
                // A reject is the answer the unknown-tag case waits for: end the case.
                Frame::Method(_, Method::BasicReject(_)) => {
                    let close = ConnectionClose {
                        reply_code: 320,
                        reply_text: "CONNECTION_FORCED".into(),
                        class_id: 0,
                        method_id: 0,
                    };
                    send(frame(0, &Method::ConnectionClose(close)));
                }
                Frame::Method(ch, Method::ChannelOpen(_)) => {
                    send(frame(ch, &Method::ChannelOpenOk(ChannelOpenOk::default())))
                }
                Frame::Method(ch, Method::BasicConsume(_)) if !misbehaving => {
                    let ok = BasicConsumeOk {
                        consumer_tag: "ctag".into(),
                    };
                    send(frame(ch, &Method::BasicConsumeOk(ok)));
                    misbehaving = true;
                    for act in &script.acts {
                        match act {
                            Act::Raw(b) => send(b.clone()),
                            Act::EndlessBody(size) => {
                                let _ = tx.send(Cmd::Endless(*size));
                            }
                            Act::Silence => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// The named cases: what the standalone server (examples/hostile_broker.rs) plays for
/// `GET /case/NAME`, and the scripts of the native tests of the same cases.
pub const CASES: &[&str] = &[
    "frame-larger-than-frame-max",
    "bad-frame-end",
    "unknown-frame-type",
    "unknown-method",
    "body-without-header",
    "body-longer-than-header",
    "body-shorter-than-header",
    "endless-body",
    "huge-table-length",
    "huge-table-in-handshake",
    "heartbeat-on-a-channel",
    "close-with-unknown-code",
    "protocol-header-sent-back",
    "no-supported-mechanism",
    "truncated-frame-then-silence",
    "truncated-frame-then-silence-no-heartbeat",
    "delivery-for-unknown-consumer-tag",
];

/// The script of the case named `name` (one of [`CASES`]).
pub fn case(name: &str) -> Option<Script> {
    let opening = |opening| Script {
        opening,
        ..Script::after_consume(vec![])
    };
    let raw = |b: Vec<u8>| Script::after_consume(vec![Act::Raw(b)]);
    let with_deliver = |rest: &[Vec<u8>]| {
        let mut b = deliver("ctag", 1);
        for r in rest {
            b.extend_from_slice(r);
        }
        raw(b)
    };
    Some(match name {
        // frame_max 4096 negotiated; a 10 000-byte method frame.
        "frame-larger-than-frame-max" => {
            let mut payload = vec![0, 60, 0, 60];
            payload.resize(10_000, 0);
            raw(raw_frame(1, 1, &payload, 0xCE))
        }
        "bad-frame-end" => raw(raw_frame(
            1,
            0,
            &frame(0, &Method::ConnectionUnblocked)[7..11],
            0x00,
        )),
        "unknown-frame-type" => raw(raw_frame(9, 0, b"", 0xCE)),
        "unknown-method" => raw(raw_frame(1, 1, &[0, 99, 0, 7], 0xCE)),
        "body-without-header" => with_deliver(&[raw_frame(3, 1, b"body", 0xCE)]),
        "body-longer-than-header" => {
            with_deliver(&[header_frame(1, 10), raw_frame(3, 1, &[1; 20], 0xCE)])
        }
        "body-shorter-than-header" => with_deliver(&[
            header_frame(1, 10),
            raw_frame(3, 1, &[1; 5], 0xCE),
            deliver("ctag", 2),
        ]),
        // A header announcing 2^62 bytes, then body frames as fast as the socket takes them.
        "endless-body" => Script::after_consume(vec![
            Act::Raw(deliver("ctag", 1)),
            Act::EndlessBody(1 << 62),
        ]),
        // A content header whose headers table declares 4 GiB inside a 40-byte frame.
        "huge-table-length" => {
            let mut p = vec![0, 60, 0, 0];
            p.extend_from_slice(&5u64.to_be_bytes());
            p.extend_from_slice(&0x2000u16.to_be_bytes()); // property flags: headers only
            p.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
            p.extend_from_slice(b"\x01kS\x00\x00\x00\x01x");
            with_deliver(&[raw_frame(2, 1, &p, 0xCE)])
        }
        "huge-table-in-handshake" => opening(Opening::HugeTable),
        "heartbeat-on-a-channel" => raw(raw_frame(8, 1, b"", 0xCE)),
        "close-with-unknown-code" => raw(frame(
            0,
            &Method::ConnectionClose(ConnectionClose {
                reply_code: 999,
                reply_text: "WHAT_IS_THIS".into(),
                class_id: 0,
                method_id: 0,
            }),
        )),
        "protocol-header-sent-back" => opening(Opening::ProtocolHeader),
        "no-supported-mechanism" => opening(Opening::NoMechanism),
        // 9 bytes of a basic.deliver frame (the 7-byte header and 2 of its payload), then
        // nothing, with the socket left open. Heartbeat 1 s proposed: the client that accepts it
        // must give up after two silent intervals.
        "truncated-frame-then-silence" => Script {
            heartbeat: 1,
            ..Script::after_consume(vec![
                Act::Raw(deliver("ctag", 1)[..9].to_vec()),
                Act::Silence,
            ])
        },
        // The same with heartbeat 0 proposed (and the client's off too): only the operation
        // deadline of a call the client then makes can end it.
        "truncated-frame-then-silence-no-heartbeat" => Script::after_consume(vec![
            Act::Raw(deliver("ctag", 1)[..9].to_vec()),
            Act::Silence,
        ]),
        // A whole message for consumer tag `nobody` (never given out; delivery tag 7), then one
        // for the client's own consumer (`ctag`, delivery tag 8). The server closes the
        // connection (320) once a basic.reject arrives (see read_loop).
        "delivery-for-unknown-consumer-tag" => {
            let mut b = deliver_message("nobody", 7, b"lost?");
            b.extend_from_slice(&deliver_message("ctag", 8, b"still consuming"));
            raw(b)
        }
        _ => return None,
    })
}
