//! A deterministic, in-memory, scripted AMQP 0-9-1 broker (a RabbitMQ subset) for tests of the
//! client and the session layer. It speaks real AMQP bytes over `tokio::io::duplex`, so the real
//! [`Connection`](crate::Connection), driver and engine run on top of it unchanged, and it uses
//! only tokio's clock, so `#[tokio::test(start_paused = true)]` drives its heartbeats too.
//!
//! ```ignore
//! let server = FakeServer::new();               // broker state survives connections
//! let conn = Connection::open(server.connect().await?, Config::default()).await?;
//! server.cut();                                 // every socket closed now: the client sees EOF
//! ```
//!
//! One [`Broker`] behind a mutex holds every exchange, queue, binding and connection; one task
//! per connection pumps bytes between its duplex end and the broker (the broker writes frames
//! into the connection's output buffer and wakes its task). Everything a client sends is
//! checked: bad input is answered the way RabbitMQ answers it (channel.close for soft errors,
//! connection.close for hard ones, then close-ok is awaited for 10 s of tokio time before the
//! socket drops anyway), never with a panic.
//!
//! Fault injection: [`FakeServer::cut`], [`FakeServer::blackhole`], [`FakeServer::refuse_next`],
//! [`FakeServer::refuse_login`], [`FakeServer::fail_after_frames`], [`FakeServer::restart`],
//! [`FakeServer::force_close`], [`FakeServer::delete_queue`], [`FakeServer::block`].
//!
//! Not modelled: transactions (tx.* is answered 540 NOT_IMPLEMENTED), dead-lettering, TTLs,
//! priorities, queue length limits, basic.qos prefetch_size, flow control of publishers while
//! blocked (blocked/unblocked are notifications only), stream offsets by timestamp (read as
//! "first"), SASL mechanisms other than PLAIN and AMQPLAIN (credentials are not checked: use
//! `refuse_login`).

// The API is for the session tests too; this file's own tests use only part of it.
#![allow(dead_code)]

use crate::engine::{Error, TransportError};
use crate::protocol::*;
use crate::transport::stream::StreamTransport;
use crate::transport::BoxTransport;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, WriteHalf};
use tokio::sync::Notify;
use tokio::time::{Duration, Instant};

/// What `connection.tune` proposes.
pub const CHANNEL_MAX: u16 = 2047;
pub const FRAME_MAX: u32 = 131_072;
/// Bytes either direction of a connection's duplex buffers before the writer waits.
const DUPLEX_BUF: usize = 4 << 20;
/// RabbitMQ's default max message size.
const MAX_BODY: u64 = 128 << 20;
/// How long the last words (close-ok, a close) may take to be written before the socket drops.
const FLUSH_GRACE: Duration = Duration::from_secs(5);
/// How long the server waits for `connection.close-ok` after its own close before it drops the
/// socket anyway.
const CLOSE_OK_TIMEOUT: Duration = Duration::from_secs(10);

/// A broker whose state survives connections. Cheap to clone (one shared state).
#[derive(Clone)]
pub struct FakeServer {
    inner: Arc<Mutex<Broker>>,
}

impl Default for FakeServer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for FakeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.lock();
        f.debug_struct("FakeServer")
            .field("connections", &b.accepted)
            .field("queues", &b.queues.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl FakeServer {
    pub fn new() -> Self {
        let mut broker = Broker::default();
        for (name, kind) in [
            ("", "direct"),
            ("amq.direct", "direct"),
            ("amq.fanout", "fanout"),
            ("amq.topic", "topic"),
            ("amq.headers", "headers"),
            ("amq.match", "headers"),
        ] {
            let mut x = Exchange::new(kind, true, false, false);
            x.builtin = true;
            broker.exchanges.insert(name.to_owned(), x);
        }
        FakeServer {
            inner: Arc::new(Mutex::new(broker)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Broker> {
        // A panic elsewhere must not hide the broker's state from the test's assertions.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a fresh connection: a duplex pair with the server task spawned on one end. Fails
    /// like a refused TCP connect while [`FakeServer::refuse_next`] is in force.
    pub async fn connect(&self) -> Result<BoxTransport, Error> {
        let (client, server_end) = tokio::io::duplex(DUPLEX_BUF);
        let (id, notify) = {
            let mut b = self.lock();
            if b.refuse_next > 0 {
                b.refuse_next -= 1;
                return Err(Error::ConnectionLost {
                    cause: TransportError::Refused("fake server refused the connection".into()),
                    handshake: false,
                });
            }
            b.accepted += 1;
            let id = b.accepted as u64;
            let mut conn = Conn::new();
            match b.fail_after.take() {
                Some(0) => conn.status = Status::Dead { flush: false },
                n => conn.frames_left = n,
            }
            let notify = conn.notify.clone();
            b.conns.insert(id, conn);
            (id, notify)
        };
        tokio::spawn(serve(self.clone(), id, notify, server_end));
        Ok(Box::new(StreamTransport::new(client)))
    }

    /// How many connections were accepted so far (refused ones not counted).
    pub fn connections(&self) -> usize {
        self.lock().accepted
    }

    /// Connections whose socket is still open (blackholed ones included).
    pub fn live_connections(&self) -> usize {
        let b = self.lock();
        b.conns.values().filter(|c| !c.status.is_dead()).count()
    }

    /// The heartbeat interval (seconds) proposed by `connection.tune` from now on; 0 (the
    /// default) proposes none. With a heartbeat the server sends one every interval and, like
    /// RabbitMQ, drops a connection it heard nothing from for two intervals.
    pub fn set_heartbeat(&self, secs: u16) {
        self.lock().heartbeat = secs;
    }

    /// Closes every live connection's socket now (blackholed ones too): the client reads EOF.
    /// Their channels end as in RabbitMQ: unacked messages requeued, exclusive queues deleted.
    pub fn cut(&self) {
        let mut b = self.lock();
        for id in b.conns.keys().copied().collect::<Vec<_>>() {
            b.end_connection(id, false);
        }
    }

    /// Live connections stay open but the server stops reading and writing them (a dead peer
    /// or a partition). Their broker-side state stays until [`FakeServer::cut`] or
    /// [`FakeServer::restart`], or until two heartbeat intervals pass when a heartbeat was
    /// negotiated (RabbitMQ's detection; the client still sees no EOF). New connections are
    /// unaffected.
    pub fn blackhole(&self) {
        let mut b = self.lock();
        for c in b.conns.values_mut() {
            if c.status == Status::Live {
                c.status = Status::Blackholed;
                c.notify.notify_one();
            }
        }
    }

    /// The next `n` [`FakeServer::connect`] calls fail as refused.
    pub fn refuse_next(&self, n: usize) {
        self.lock().refuse_next = n;
    }

    /// From now on handshakes are answered with `connection.close(code, text)`: after
    /// `connection.open` for 530 NOT_ALLOWED (an unknown vhost), after `start-ok` otherwise
    /// (403 ACCESS_REFUSED: bad credentials).
    pub fn refuse_login(&self, code: u16, text: &str) {
        self.lock().refuse_login = Some((code, text.to_owned()));
    }

    /// Undoes [`FakeServer::refuse_login`].
    pub fn accept_login(&self) {
        self.lock().refuse_login = None;
    }

    /// The next accepted connection is cut once the server has received `n` frames (method,
    /// header and body frames; the protocol header and heartbeats do not count; the handshake
    /// is start-ok, tune-ok, open = 3). The n-th frame still takes effect but its replies are
    /// lost; replies to the earlier frames are written first, so where the link drops does not
    /// depend on how the client's writes were chunked. `n == 0` cuts before connection.start.
    pub fn fail_after_frames(&self, n: usize) {
        self.lock().fail_after = Some(n);
    }

    /// Names of the queues that exist now, sorted.
    pub fn queue_names(&self) -> Vec<String> {
        self.lock().queues.keys().cloned().collect()
    }

    /// Names of the exchanges that exist now (the predeclared "" and amq.* included), sorted.
    pub fn exchange_names(&self) -> Vec<String> {
        self.lock().exchanges.keys().cloned().collect()
    }

    /// Bindings as (source exchange, destination, routing key); a destination exchange is
    /// written `exchange:<name>`.
    pub fn bindings(&self) -> Vec<(String, String, String)> {
        let b = self.lock();
        let mut out = Vec::new();
        for (src, x) in &b.exchanges {
            for bd in &x.bindings {
                let dest = match &bd.dest {
                    Dest::Queue(q) => q.clone(),
                    Dest::Exchange(e) => format!("exchange:{e}"),
                };
                out.push((src.clone(), dest, bd.key.clone()));
            }
        }
        out
    }

    /// Messages the queue holds: ready plus delivered-but-unacked (RabbitMQ's "messages"). For
    /// a stream queue: the length of the stream. 0 for a queue that does not exist.
    pub fn messages_in(&self, queue: &str) -> usize {
        let b = self.lock();
        match b.queues.get(queue) {
            None => 0,
            Some(q) if q.stream => q.log.len(),
            Some(q) => q.ready.len() + b.unacked_of(queue),
        }
    }

    /// Messages ready for delivery (not delivered, or requeued).
    pub fn ready_in(&self, queue: &str) -> usize {
        let b = self.lock();
        b.queues.get(queue).map_or(0, |q| q.ready.len())
    }

    pub fn consumer_count(&self, queue: &str) -> usize {
        let b = self.lock();
        b.queues.get(queue).map_or(0, |q| q.consumers.len())
    }

    /// Consumers of `queue` on connections that are still live (not black-holed: a dead
    /// connection's consumer lingers until the broker notices, as in RabbitMQ).
    pub fn live_consumer_count(&self, queue: &str) -> usize {
        let b = self.lock();
        b.queues.get(queue).map_or(0, |q| {
            q.consumers
                .iter()
                .filter(|c| {
                    b.conns
                        .get(&c.conn)
                        .is_some_and(|k| k.status == Status::Live)
                })
                .count()
        })
    }

    /// How many acks, nacks or rejects named a delivery tag their channel did not have
    /// (each a 406 channel error, as in RabbitMQ).
    pub fn stale_settles(&self) -> usize {
        self.lock().stale_settles
    }

    /// How many publishes arrived on a channel in confirm mode (the others were not confirmed).
    pub fn confirmed_publishes(&self) -> usize {
        self.lock().confirmed_publishes
    }

    /// Every publish the server accepted (its exchange existed), in order: (exchange, routing
    /// key, body). Unroutable ones included.
    pub fn published(&self) -> Vec<(String, String, Vec<u8>)> {
        self.lock().published.clone()
    }

    /// Every method the server received on any connection, in order, e.g. `"queue.declare q1"`,
    /// `"basic.consume amq.gen-2-1"`, `"channel.open 1"`, `"basic.publish logs a.b"`.
    pub fn log(&self) -> Vec<String> {
        self.lock().log.iter().map(|(_, s)| s.clone()).collect()
    }

    /// [`FakeServer::log`] of one connection (numbered from 1 in accept order).
    pub fn log_of(&self, connection: usize) -> Vec<String> {
        let b = self.lock();
        let id = connection as u64;
        b.log
            .iter()
            .filter(|(c, _)| *c == id)
            .map(|(_, s)| s.clone())
            .collect()
    }

    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    /// Drops every connection and all non-durable queues, exchanges and bindings, and the
    /// transient messages of durable queues (like `rabbitmqctl stop_app` / `start_app`).
    /// Names generated later stay unique.
    pub fn restart(&self) {
        let mut b = self.lock();
        for id in b.conns.keys().copied().collect::<Vec<_>>() {
            b.end_connection(id, false);
        }
        b.queues.retain(|_, q| q.durable);
        for q in b.queues.values_mut() {
            if !q.stream {
                q.ready.retain(|m| m.properties.delivery_mode == Some(2));
            }
            q.consumers.clear();
            q.rr = 0;
        }
        b.exchanges.retain(|_, x| x.durable);
        let (queues, exchanges): (HashSet<String>, HashSet<String>) = (
            b.queues.keys().cloned().collect(),
            b.exchanges.keys().cloned().collect(),
        );
        for x in b.exchanges.values_mut() {
            x.bindings.retain(|bd| match &bd.dest {
                Dest::Queue(q) => queues.contains(q),
                Dest::Exchange(e) => exchanges.contains(e),
            });
        }
    }

    /// Sends `connection.blocked(reason)` to every open connection, and to connections that
    /// open later, until [`FakeServer::unblock`]. Publishes are still accepted.
    pub fn block(&self, reason: &str) {
        let mut b = self.lock();
        b.blocked = Some(reason.to_owned());
        let m = Method::ConnectionBlocked(ConnectionBlocked {
            reason: reason.into(),
        });
        for c in b.conns.values_mut() {
            if c.phase == Phase::Opened && !c.blocked_sent {
                c.blocked_sent = true;
                c.send(0, &m);
            }
        }
    }

    pub fn unblock(&self) {
        let mut b = self.lock();
        b.blocked = None;
        for c in b.conns.values_mut() {
            if c.blocked_sent {
                c.blocked_sent = false;
                c.send(0, &Method::ConnectionUnblocked);
            }
        }
    }

    /// A broker-initiated `connection.close(code, text)` on every open connection (e.g. 320
    /// CONNECTION_FORCED, as the management UI's "force close").
    pub fn force_close(&self, code: u16, text: &str) {
        let mut b = self.lock();
        for id in b.conns.keys().copied().collect::<Vec<_>>() {
            if b.conns.get(&id).is_some_and(|c| c.phase == Phase::Opened) {
                b.close_connection(
                    id,
                    code,
                    text,
                    MethodId {
                        class: 0,
                        method: 0,
                    },
                );
            }
        }
    }

    /// Deletes a queue from the server side; its consumers get `basic.cancel`
    /// (consumer_cancel_notify).
    pub fn delete_queue(&self, name: &str) {
        self.lock().delete_queue(name, true);
    }

    /// Routes a message as if a client published it (not recorded in
    /// [`FakeServer::published`]). False when the exchange does not exist.
    pub fn publish(&self, exchange: &str, routing_key: &str, body: &[u8]) -> bool {
        let mut b = self.lock();
        if !b.exchanges.contains_key(exchange) {
            return false;
        }
        let msg = Msg {
            exchange: exchange.to_owned(),
            routing_key: routing_key.to_owned(),
            properties: BasicProperties::default(),
            body: Bytes::copy_from_slice(body),
            redelivered: false,
        };
        let targets = b.route(exchange, routing_key, None);
        b.enqueue(&targets, msg);
        true
    }
}

// ----------------------------------------------------------------------------------------------
// Broker state

#[derive(Default)]
struct Broker {
    heartbeat: u16,
    refuse_next: usize,
    refuse_login: Option<(u16, String)>,
    fail_after: Option<usize>,
    blocked: Option<String>,
    accepted: usize,
    conns: BTreeMap<u64, Conn>,
    exchanges: BTreeMap<String, Exchange>,
    queues: BTreeMap<String, Queue>,
    log: Vec<(u64, String)>,
    published: Vec<(String, String, Vec<u8>)>,
    /// Acks, nacks and rejects for delivery tags the channel never had or already settled.
    stale_settles: usize,
    /// Publishes that arrived on a channel in confirm mode.
    confirmed_publishes: usize,
    queue_seq: u64,
    ctag_seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Live,
    /// Open, but nothing is read or written.
    Blackholed,
    /// The socket is to be dropped, after writing what is queued when `flush`.
    Dead {
        flush: bool,
    },
}

impl Status {
    fn is_dead(self) -> bool {
        matches!(self, Status::Dead { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the protocol header.
    Greeting,
    StartOk,
    TuneOk,
    Open,
    Opened,
    /// We sent connection.close and wait for close-ok.
    Closing,
}

struct Conn {
    notify: Arc<Notify>,
    out: Vec<u8>,
    status: Status,
    phase: Phase,
    /// 0 until tune-ok.
    frame_max: u32,
    heartbeat: u16,
    channels: BTreeMap<u16, Chan>,
    /// fail_after_frames countdown.
    frames_left: Option<usize>,
    blocked_sent: bool,
}

impl Conn {
    fn new() -> Self {
        Conn {
            notify: Arc::new(Notify::new()),
            out: Vec::new(),
            status: Status::Live,
            phase: Phase::Greeting,
            frame_max: 0,
            heartbeat: 0,
            channels: BTreeMap::new(),
            frames_left: None,
            blocked_sent: false,
        }
    }

    fn send(&mut self, ch: u16, m: &Method) {
        if self.status != Status::Live {
            return;
        }
        match encode_method(&mut self.out, ch, m) {
            Ok(()) => self.notify.notify_one(),
            Err(e) => eprintln!("fake server: cannot encode {}: {e}", m.name()),
        }
    }

    fn send_content(&mut self, ch: u16, m: &Method, props: &BasicProperties, body: &[u8]) {
        if self.status != Status::Live {
            return;
        }
        let frame_max = match self.frame_max {
            0 => FRAME_MAX,
            n => n,
        };
        match encode_content(&mut self.out, ch, m, props, body, frame_max) {
            Ok(()) => self.notify.notify_one(),
            Err(e) => eprintln!("fake server: cannot encode {}: {e}", m.name()),
        }
    }
}

struct Chan {
    /// We sent channel.close and wait for close-ok; everything else is ignored.
    closing: bool,
    confirm: bool,
    publish_seq: u64,
    /// channel.flow(false) from the client.
    paused: bool,
    /// basic.qos global=false: the limit of consumers started afterwards.
    prefetch_consumer: u16,
    /// basic.qos global=true: the limit of the whole channel.
    prefetch_channel: u16,
    next_tag: u64,
    unacked: BTreeMap<u64, Unacked>,
    consumers: BTreeMap<String, ConsumerState>,
    content: Option<Incoming>,
    /// The queue an empty queue name refers to.
    last_queue: String,
}

impl Chan {
    fn new() -> Self {
        Chan {
            closing: false,
            confirm: false,
            publish_seq: 0,
            paused: false,
            prefetch_consumer: 0,
            prefetch_channel: 0,
            next_tag: 0,
            unacked: BTreeMap::new(),
            consumers: BTreeMap::new(),
            content: None,
            last_queue: String::new(),
        }
    }

    fn closing() -> Self {
        Chan {
            closing: true,
            ..Chan::new()
        }
    }
}

struct Unacked {
    queue: String,
    msg: Msg,
    consumer: Option<String>,
    stream: bool,
}

struct ConsumerState {
    queue: String,
    no_ack: bool,
    prefetch: u16,
    unacked: usize,
    exclusive: bool,
    /// Stream queues: the index of the next message to deliver.
    cursor: usize,
}

struct Incoming {
    publish: BasicPublish,
    header: Option<ContentHeader>,
    body: Vec<u8>,
}

#[derive(Clone)]
struct Msg {
    exchange: String,
    routing_key: String,
    properties: BasicProperties,
    body: Bytes,
    redelivered: bool,
}

struct Queue {
    durable: bool,
    exclusive: Option<u64>,
    auto_delete: bool,
    stream: bool,
    ready: VecDeque<Msg>,
    /// Stream queues: every message ever published, never removed.
    log: Vec<Msg>,
    consumers: Vec<CRef>,
    rr: usize,
    had_consumer: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CRef {
    conn: u64,
    ch: u16,
    tag: String,
}

struct Exchange {
    kind: String,
    durable: bool,
    auto_delete: bool,
    internal: bool,
    builtin: bool,
    had_bindings: bool,
    bindings: Vec<Binding>,
}

impl Exchange {
    fn new(kind: &str, durable: bool, auto_delete: bool, internal: bool) -> Self {
        Exchange {
            kind: kind.to_owned(),
            durable,
            auto_delete,
            internal,
            builtin: false,
            had_bindings: false,
            bindings: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Binding {
    dest: Dest,
    key: String,
    args: FieldTable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Dest {
    Queue(String),
    Exchange(String),
}

/// How a command failed: a soft error closes the channel, a hard one the connection.
enum Fail {
    Channel(u16, String, MethodId),
    Connection(u16, String, MethodId),
}

fn soft(code: ReplyCode, text: impl Into<String>, id: MethodId) -> Fail {
    Fail::Channel(code.0, text.into(), id)
}

fn hard(code: ReplyCode, text: impl Into<String>, id: MethodId) -> Fail {
    Fail::Connection(code.0, text.into(), id)
}

fn no_queue(name: &str, id: MethodId) -> Fail {
    soft(
        ReplyCode::NOT_FOUND,
        format!("NOT_FOUND - no queue '{name}' in vhost '/'"),
        id,
    )
}

fn no_exchange(name: &str, id: MethodId) -> Fail {
    soft(
        ReplyCode::NOT_FOUND,
        format!("NOT_FOUND - no exchange '{name}' in vhost '/'"),
        id,
    )
}

fn locked(name: &str, id: MethodId) -> Fail {
    soft(
        ReplyCode::RESOURCE_LOCKED,
        format!("RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{name}' in vhost '/'"),
        id,
    )
}

/// One line of the method log.
fn describe(ch: u16, m: &Method) -> String {
    let arg = match m {
        Method::ConnectionStartOk(s) => String::from(&s.mechanism),
        Method::ConnectionOpen(o) => String::from(&o.virtual_host),
        Method::ConnectionClose(c) => c.reply_code.to_string(),
        Method::ChannelOpen(_) | Method::ChannelClose(_) | Method::ChannelCloseOk => ch.to_string(),
        Method::ExchangeDeclare(d) => format!("{} {}", d.exchange, d.kind),
        Method::ExchangeDelete(d) => String::from(&d.exchange),
        Method::ExchangeBind(b) => format!("{} {} {}", b.destination, b.source, b.routing_key),
        Method::ExchangeUnbind(b) => {
            format!("{} {} {}", b.destination, b.source, b.routing_key)
        }
        Method::QueueDeclare(d) => String::from(&d.queue),
        Method::QueueBind(b) => format!("{} {} {}", b.queue, b.exchange, b.routing_key),
        Method::QueueUnbind(b) => format!("{} {} {}", b.queue, b.exchange, b.routing_key),
        Method::QueuePurge(p) => String::from(&p.queue),
        Method::QueueDelete(d) => String::from(&d.queue),
        Method::BasicQos(q) => q.prefetch_count.to_string(),
        Method::BasicConsume(c) => String::from(&c.queue),
        Method::BasicCancel(c) => String::from(&c.consumer_tag),
        Method::BasicPublish(p) => format!("{} {}", p.exchange, p.routing_key),
        Method::BasicGet(g) => String::from(&g.queue),
        Method::BasicAck(a) => a.delivery_tag.to_string(),
        Method::BasicNack(n) => n.delivery_tag.to_string(),
        Method::BasicReject(r) => r.delivery_tag.to_string(),
        _ => String::new(),
    };
    format!("{} {arg}", m.name()).trim_end().to_owned()
}

/// Topic matching: words split on '.', `*` is exactly one word, `#` zero or more.
fn topic_match(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|i| topic_match(rest, &key[i..])),
        Some((&"*", rest)) => !key.is_empty() && topic_match(rest, &key[1..]),
        Some((word, rest)) => key.first() == Some(word) && topic_match(rest, &key[1..]),
    }
}

fn words(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split('.').collect()
    }
}

/// Headers exchange matching: `x-match` all (default) or any over the non-`x-` arguments; a
/// void argument matches any value.
fn headers_match(args: &FieldTable, headers: Option<&FieldTable>) -> bool {
    let any = matches!(
        args.get("x-match").and_then(FieldValue::as_str),
        Some("any") | Some("any-with-x")
    );
    let mut pairs = args.iter().filter(|(k, _)| !k.starts_with("x-"));
    let hit = |(k, v): (&str, &FieldValue)| {
        headers
            .and_then(|h| h.get(k))
            .is_some_and(|hv| *v == FieldValue::Void || hv == v)
    };
    if any {
        pairs.any(hit)
    } else {
        pairs.all(hit)
    }
}

impl Broker {
    fn log_method(&mut self, conn: u64, ch: u16, m: &Method) {
        self.log.push((conn, describe(ch, m)));
    }

    fn unacked_of(&self, queue: &str) -> usize {
        self.conns
            .values()
            .flat_map(|c| c.channels.values())
            .flat_map(|ch| ch.unacked.values())
            .filter(|u| !u.stream && u.queue == queue)
            .count()
    }

    fn send(&mut self, c: u64, ch: u16, m: Method) {
        if let Some(conn) = self.conns.get_mut(&c) {
            conn.send(ch, &m);
        }
    }

    // --- connection lifecycle ---------------------------------------------------------------

    /// The protocol header arrived: offer connection.start.
    fn greet(&mut self, c: u64) {
        let caps: FieldTable = [
            "publisher_confirms",
            "exchange_exchange_bindings",
            "basic.nack",
            "consumer_cancel_notify",
            "connection.blocked",
            "authentication_failure_close",
            "per_consumer_qos",
        ]
        .iter()
        .map(|c| (*c, true))
        .collect();
        let props = FieldTable::new()
            .with("product", "FakeServer")
            .with("version", "3.13.0")
            .with("platform", "warren tests")
            .with("cluster_name", "fake@localhost")
            .with("capabilities", caps);
        let start = ConnectionStart {
            version_major: 0,
            version_minor: 9,
            server_properties: props,
            mechanisms: Bytes::from_static(b"PLAIN AMQPLAIN"),
            locales: Bytes::from_static(b"en_US"),
        };
        if let Some(conn) = self.conns.get_mut(&c) {
            conn.phase = Phase::StartOk;
            conn.send(0, &Method::ConnectionStart(start));
        }
    }

    /// Releases everything a connection holds (idempotent): its channels end (unacked messages
    /// requeued, consumers removed) and its exclusive queues are deleted.
    fn release_connection(&mut self, c: u64) {
        let channels = match self.conns.get_mut(&c) {
            Some(conn) => std::mem::take(&mut conn.channels),
            None => return,
        };
        for (ch, chan) in channels {
            self.release_channel(c, ch, chan);
        }
        let owned: Vec<String> = self
            .queues
            .iter()
            .filter(|(_, q)| q.exclusive == Some(c))
            .map(|(n, _)| n.clone())
            .collect();
        for q in owned {
            self.delete_queue(&q, false);
        }
    }

    /// The connection is over: release it and drop the socket (after flushing when `flush`).
    fn end_connection(&mut self, c: u64, flush: bool) {
        self.release_connection(c);
        if let Some(conn) = self.conns.get_mut(&c) {
            if !conn.status.is_dead() {
                conn.status = Status::Dead { flush };
            }
            conn.notify.notify_one();
        }
    }

    /// The connection's task is gone.
    fn forget(&mut self, c: u64) {
        self.release_connection(c);
        self.conns.remove(&c);
    }

    /// A hard error: connection.close, then wait for close-ok.
    fn close_connection(&mut self, c: u64, code: u16, text: &str, id: MethodId) {
        let close = Method::ConnectionClose(ConnectionClose {
            reply_code: code,
            reply_text: text.into(),
            class_id: id.class,
            method_id: id.method,
        });
        self.release_connection(c);
        if let Some(conn) = self.conns.get_mut(&c) {
            if conn.phase != Phase::Closing {
                conn.send(0, &close);
                conn.phase = Phase::Closing;
            }
        }
    }

    /// A soft error: channel.close, then wait for close-ok. The channel's resources are
    /// released now.
    fn close_channel(&mut self, c: u64, ch: u16, code: u16, text: &str, id: MethodId) {
        let chan = self
            .conns
            .get_mut(&c)
            .and_then(|conn| conn.channels.insert(ch, Chan::closing()));
        if let Some(chan) = chan {
            self.release_channel(c, ch, chan);
        }
        let close = Method::ChannelClose(ChannelClose {
            reply_code: code,
            reply_text: text.into(),
            class_id: id.class,
            method_id: id.method,
        });
        self.send(c, ch, close);
    }

    fn fail(&mut self, c: u64, ch: u16, f: Fail) {
        match f {
            Fail::Channel(code, text, id) => self.close_channel(c, ch, code, &text, id),
            Fail::Connection(code, text, id) => self.close_connection(c, code, &text, id),
        }
    }

    /// A channel ends: its unacked messages go back to their queues (redelivered, in order),
    /// its consumers are removed (auto-delete queues may go), deliveries move on.
    fn release_channel(&mut self, c: u64, ch: u16, chan: Chan) {
        let mut touched = BTreeSet::new();
        for (_, u) in chan.unacked.into_iter().rev() {
            if u.stream {
                continue;
            }
            if let Some(q) = self.queues.get_mut(&u.queue) {
                let mut msg = u.msg;
                msg.redelivered = true;
                q.ready.push_front(msg);
                touched.insert(u.queue);
            }
        }
        for (tag, cs) in chan.consumers {
            self.unregister_consumer(c, ch, &tag, &cs.queue);
            touched.insert(cs.queue);
        }
        for q in touched {
            self.dispatch(&q);
        }
    }

    fn unregister_consumer(&mut self, c: u64, ch: u16, tag: &str, queue: &str) {
        let Some(q) = self.queues.get_mut(queue) else {
            return;
        };
        q.consumers
            .retain(|r| !(r.conn == c && r.ch == ch && r.tag == tag));
        if q.rr >= q.consumers.len() {
            q.rr = 0;
        }
        if q.auto_delete && q.had_consumer && q.consumers.is_empty() {
            self.delete_queue(queue, false);
        }
    }

    /// Removes a queue and its bindings; its consumers are dropped, told by basic.cancel when
    /// `notify`. Unacked messages from it are simply dropped when settled.
    fn delete_queue(&mut self, name: &str, notify: bool) -> Option<usize> {
        let q = self.queues.remove(name)?;
        let dest = Dest::Queue(name.to_owned());
        for x in self.exchanges.values_mut() {
            x.bindings.retain(|b| b.dest != dest);
        }
        self.reap_exchanges();
        for r in &q.consumers {
            if let Some(conn) = self.conns.get_mut(&r.conn) {
                if let Some(chan) = conn.channels.get_mut(&r.ch) {
                    chan.consumers.remove(&r.tag);
                }
                if notify {
                    let cancel = Method::BasicCancel(BasicCancel {
                        consumer_tag: r.tag.as_str().into(),
                        nowait: true,
                    });
                    conn.send(r.ch, &cancel);
                }
            }
        }
        Some(q.ready.len())
    }

    fn delete_exchange(&mut self, name: &str) {
        if self.exchanges.remove(name).is_none() {
            return;
        }
        let dest = Dest::Exchange(name.to_owned());
        for x in self.exchanges.values_mut() {
            x.bindings.retain(|b| b.dest != dest);
        }
        self.reap_exchanges();
    }

    /// Auto-delete exchanges go when their last binding does.
    fn reap_exchanges(&mut self) {
        loop {
            let dead = self
                .exchanges
                .iter()
                .find(|(_, x)| x.auto_delete && x.had_bindings && x.bindings.is_empty())
                .map(|(n, _)| n.clone());
            match dead {
                Some(n) => {
                    self.exchanges.remove(&n);
                    let dest = Dest::Exchange(n);
                    for x in self.exchanges.values_mut() {
                        x.bindings.retain(|b| b.dest != dest);
                    }
                }
                None => return,
            }
        }
    }

    // --- input ------------------------------------------------------------------------------

    /// Counts a frame against fail_after_frames; true when it is the last before the cut.
    fn count_frame(&mut self, c: u64, frame: &Frame) -> bool {
        if matches!(frame, Frame::Heartbeat) {
            return false;
        }
        let Some(conn) = self.conns.get_mut(&c) else {
            return false;
        };
        match conn.frames_left {
            Some(n) => {
                let left = n.saturating_sub(1);
                conn.frames_left = Some(left);
                left == 0
            }
            None => false,
        }
    }

    fn on_frame(&mut self, c: u64, frame: Frame) {
        let Some(conn) = self.conns.get(&c) else {
            return;
        };
        if conn.status.is_dead() {
            return;
        }
        let phase = conn.phase;
        match frame {
            Frame::Heartbeat => {}
            Frame::Method(0, m) => {
                self.log_method(c, 0, &m);
                self.connection_method(c, m);
            }
            Frame::Method(ch, m) => {
                self.log_method(c, ch, &m);
                match phase {
                    Phase::Opened => self.channel_frame(c, ch, m),
                    Phase::Closing => {}
                    _ => {
                        let text = format!("{} on channel {ch} before connection.open", m.name());
                        self.close_connection(c, ReplyCode::UNEXPECTED_FRAME.0, &text, m.id());
                    }
                }
            }
            Frame::Header(ch, h) => self.content_frame(c, ch, Some(*h), None),
            Frame::Body(ch, b) => self.content_frame(c, ch, None, Some(b)),
        }
    }

    fn frame_error(&mut self, c: u64, e: DecodeError) {
        let code = match e {
            DecodeError::UnknownMethod(..) => ReplyCode::COMMAND_INVALID,
            DecodeError::UnknownFrameType(_)
            | DecodeError::BadFrameEnd(_)
            | DecodeError::HeartbeatOnChannel(_)
            | DecodeError::FrameTooLarge(_) => ReplyCode::FRAME_ERROR,
            _ => ReplyCode::SYNTAX_ERROR,
        };
        let text = format!("malformed frame: {e}");
        self.log.push((c, format!("frame error: {e}")));
        self.close_connection(
            c,
            code.0,
            &text,
            MethodId {
                class: 0,
                method: 0,
            },
        );
        // The stream is unusable: no close-ok can be read after this.
        self.end_connection(c, true);
    }

    fn connection_method(&mut self, c: u64, m: Method) {
        let Some(conn) = self.conns.get_mut(&c) else {
            return;
        };
        let id = m.id();
        match (conn.phase, m) {
            (Phase::Closing, Method::ConnectionCloseOk) => self.end_connection(c, false),
            (Phase::Closing, Method::ConnectionClose(_)) => {
                conn.send(0, &Method::ConnectionCloseOk);
                self.end_connection(c, true);
            }
            (Phase::Closing, _) => {}
            (Phase::StartOk, Method::ConnectionStartOk(s)) => {
                if s.mechanism != "PLAIN" && s.mechanism != "AMQPLAIN" {
                    let text = format!("ACCESS_REFUSED - unsupported mechanism {}", s.mechanism);
                    return self.close_connection(c, ReplyCode::ACCESS_REFUSED.0, &text, id);
                }
                if let Some((code, text)) = self.refuse_login.clone() {
                    if code != ReplyCode::NOT_ALLOWED.0 {
                        return self.close_connection(c, code, &text, id);
                    }
                }
                let tune = ConnectionTune {
                    channel_max: CHANNEL_MAX,
                    frame_max: FRAME_MAX,
                    heartbeat: self.heartbeat,
                };
                if let Some(conn) = self.conns.get_mut(&c) {
                    conn.phase = Phase::TuneOk;
                    conn.send(0, &Method::ConnectionTune(tune));
                }
            }
            (Phase::TuneOk, Method::ConnectionTuneOk(t)) => {
                conn.frame_max = match t.frame_max {
                    0 => FRAME_MAX,
                    n => n.clamp(FRAME_MIN_SIZE, FRAME_MAX),
                };
                conn.heartbeat = t.heartbeat;
                conn.phase = Phase::Open;
                conn.notify.notify_one(); // the task picks up frame_max and heartbeat
            }
            (Phase::Open, Method::ConnectionOpen(_)) => {
                if let Some((code, text)) = self.refuse_login.clone() {
                    if code == ReplyCode::NOT_ALLOWED.0 {
                        return self.close_connection(c, code, &text, id);
                    }
                }
                conn.phase = Phase::Opened;
                conn.send(
                    0,
                    &Method::ConnectionOpenOk(ConnectionOpenOk {
                        known_hosts: ShortStr::new(),
                    }),
                );
                if let Some(reason) = self.blocked.clone() {
                    conn.blocked_sent = true;
                    conn.send(
                        0,
                        &Method::ConnectionBlocked(ConnectionBlocked {
                            reason: reason.into(),
                        }),
                    );
                }
            }
            (Phase::Opened, Method::ConnectionClose(_)) => {
                conn.send(0, &Method::ConnectionCloseOk);
                self.end_connection(c, true);
            }
            (Phase::Opened, Method::ConnectionUpdateSecret(_)) => {
                conn.send(0, &Method::ConnectionUpdateSecretOk);
            }
            (_, m) => {
                let text = format!("UNEXPECTED_FRAME - {} on channel 0", m.name());
                self.close_connection(c, ReplyCode::UNEXPECTED_FRAME.0, &text, id);
            }
        }
    }

    fn channel_frame(&mut self, c: u64, ch: u16, m: Method) {
        let id = m.id();
        let Some(conn) = self.conns.get_mut(&c) else {
            return;
        };
        if let Method::ChannelOpen(_) = m {
            if ch > CHANNEL_MAX || conn.channels.contains_key(&ch) {
                let text = format!("CHANNEL_ERROR - channel {ch} is open or above channel_max");
                return self.close_connection(c, ReplyCode::CHANNEL_ERROR.0, &text, id);
            }
            conn.channels.insert(ch, Chan::new());
            let ok = Method::ChannelOpenOk(ChannelOpenOk {
                channel_id: Bytes::new(),
            });
            return conn.send(ch, &ok);
        }
        let Some(chan) = conn.channels.get_mut(&ch) else {
            let text = format!("CHANNEL_ERROR - {} on channel {ch}, not open", m.name());
            return self.close_connection(c, ReplyCode::CHANNEL_ERROR.0, &text, id);
        };
        if chan.closing {
            match m {
                Method::ChannelCloseOk => {
                    conn.channels.remove(&ch);
                }
                Method::ChannelClose(_) => {
                    conn.channels.remove(&ch);
                    conn.send(ch, &Method::ChannelCloseOk);
                }
                _ => {} // in flight before our close arrived
            }
            return;
        }
        if chan.content.is_some() {
            let text = format!("UNEXPECTED_FRAME - {} while content was expected", m.name());
            return self.close_connection(c, ReplyCode::UNEXPECTED_FRAME.0, &text, id);
        }
        if let Err(f) = self.channel_method(c, ch, m) {
            self.fail(c, ch, f);
        }
    }

    fn chan(&mut self, c: u64, ch: u16) -> Option<&mut Chan> {
        self.conns.get_mut(&c)?.channels.get_mut(&ch)
    }

    /// An empty queue name means the channel's last declared queue.
    fn queue_name(&mut self, c: u64, ch: u16, name: &str) -> String {
        match name {
            "" => self
                .chan(c, ch)
                .map(|x| x.last_queue.clone())
                .unwrap_or_default(),
            n => n.to_owned(),
        }
    }

    /// The queue, unless it is missing or another connection's exclusive queue.
    fn usable_queue(&self, c: u64, name: &str, id: MethodId) -> Result<&Queue, Fail> {
        match self.queues.get(name) {
            None => Err(no_queue(name, id)),
            Some(q) if q.exclusive.is_some_and(|o| o != c) => Err(locked(name, id)),
            Some(q) => Ok(q),
        }
    }

    fn channel_method(&mut self, c: u64, ch: u16, m: Method) -> Result<(), Fail> {
        let id = m.id();
        match m {
            Method::ChannelClose(_) => {
                let chan = self.conns.get_mut(&c).and_then(|x| x.channels.remove(&ch));
                if let Some(chan) = chan {
                    self.release_channel(c, ch, chan);
                }
                self.send(c, ch, Method::ChannelCloseOk);
            }
            Method::ChannelCloseOk | Method::ChannelFlowOk(_) => {}
            Method::ChannelFlow(f) => {
                if let Some(chan) = self.chan(c, ch) {
                    chan.paused = !f.active;
                }
                let ok = Method::ChannelFlowOk(ChannelFlowOk { active: f.active });
                self.send(c, ch, ok);
                if f.active {
                    self.dispatch_all();
                }
            }
            Method::AccessRequest(_) => self.send(
                c,
                ch,
                Method::AccessRequestOk(AccessRequestOk { ticket: 1 }),
            ),
            Method::ExchangeDeclare(d) => self.exchange_declare(c, ch, d, id)?,
            Method::ExchangeDelete(d) => {
                let x = match self.exchanges.get(d.exchange.as_str()) {
                    Some(x) if x.builtin => {
                        let text = format!(
                            "ACCESS_REFUSED - operation not permitted on exchange '{}'",
                            d.exchange
                        );
                        return Err(soft(ReplyCode::ACCESS_REFUSED, text, id));
                    }
                    x => x,
                };
                if d.if_unused && x.is_some_and(|x| !x.bindings.is_empty()) {
                    let text = format!("PRECONDITION_FAILED - exchange '{}' in use", d.exchange);
                    return Err(soft(ReplyCode::PRECONDITION_FAILED, text, id));
                }
                self.delete_exchange(&d.exchange);
                if !d.nowait {
                    self.send(c, ch, Method::ExchangeDeleteOk);
                }
            }
            Method::ExchangeBind(b) => {
                self.bind(
                    &b.source,
                    Dest::Exchange(String::from(&b.destination)),
                    &b.routing_key,
                    b.arguments,
                    id,
                )?;
                if !b.nowait {
                    self.send(c, ch, Method::ExchangeBindOk);
                }
            }
            Method::ExchangeUnbind(b) => {
                self.unbind(
                    &b.source,
                    Dest::Exchange(String::from(b.destination)),
                    &b.routing_key,
                    &b.arguments,
                );
                if !b.nowait {
                    self.send(c, ch, Method::ExchangeUnbindOk);
                }
            }
            Method::QueueDeclare(d) => self.queue_declare(c, ch, d, id)?,
            Method::QueueBind(b) => {
                let q = self.queue_name(c, ch, &b.queue);
                self.usable_queue(c, &q, id)?;
                if b.exchange.is_empty() {
                    let text = "ACCESS_REFUSED - operation not permitted on the default exchange";
                    return Err(soft(ReplyCode::ACCESS_REFUSED, text, id));
                }
                self.bind(&b.exchange, Dest::Queue(q), &b.routing_key, b.arguments, id)?;
                if !b.nowait {
                    self.send(c, ch, Method::QueueBindOk);
                }
            }
            Method::QueueUnbind(b) => {
                let q = self.queue_name(c, ch, &b.queue);
                self.unbind(&b.exchange, Dest::Queue(q), &b.routing_key, &b.arguments);
                self.send(c, ch, Method::QueueUnbindOk);
            }
            Method::QueuePurge(p) => {
                let name = self.queue_name(c, ch, &p.queue);
                self.usable_queue(c, &name, id)?;
                let count = self
                    .queues
                    .get_mut(&name)
                    .map_or(0, |q| std::mem::take(&mut q.ready).len());
                if !p.nowait {
                    let ok = QueuePurgeOk {
                        message_count: count as u32,
                    };
                    self.send(c, ch, Method::QueuePurgeOk(ok));
                }
            }
            Method::QueueDelete(d) => {
                let name = self.queue_name(c, ch, &d.queue);
                let count = match self.queues.get(&name) {
                    None => 0, // idempotent, as in RabbitMQ 3.x
                    Some(q) => {
                        if q.exclusive.is_some_and(|o| o != c) {
                            return Err(locked(&name, id));
                        }
                        if d.if_unused && !q.consumers.is_empty() {
                            let text = format!("PRECONDITION_FAILED - queue '{name}' in use");
                            return Err(soft(ReplyCode::PRECONDITION_FAILED, text, id));
                        }
                        if d.if_empty && !q.ready.is_empty() {
                            let text = format!("PRECONDITION_FAILED - queue '{name}' not empty");
                            return Err(soft(ReplyCode::PRECONDITION_FAILED, text, id));
                        }
                        self.delete_queue(&name, true).unwrap_or(0)
                    }
                };
                if !d.nowait {
                    let ok = QueueDeleteOk {
                        message_count: count as u32,
                    };
                    self.send(c, ch, Method::QueueDeleteOk(ok));
                }
            }
            Method::BasicQos(q) => {
                if let Some(chan) = self.chan(c, ch) {
                    if q.global {
                        chan.prefetch_channel = q.prefetch_count;
                    } else {
                        chan.prefetch_consumer = q.prefetch_count;
                    }
                }
                self.send(c, ch, Method::BasicQosOk);
                self.dispatch_all();
            }
            Method::BasicConsume(b) => self.consume(c, ch, b, id)?,
            Method::BasicCancel(b) => {
                let removed = self
                    .chan(c, ch)
                    .and_then(|chan| chan.consumers.remove(b.consumer_tag.as_str()));
                if let Some(cs) = removed {
                    self.unregister_consumer(c, ch, &b.consumer_tag, &cs.queue);
                }
                if !b.nowait {
                    let ok = BasicCancelOk {
                        consumer_tag: b.consumer_tag,
                    };
                    self.send(c, ch, Method::BasicCancelOk(ok));
                }
            }
            Method::BasicPublish(p) => {
                if p.immediate {
                    let text = "NOT_IMPLEMENTED - immediate=true";
                    return Err(hard(ReplyCode::NOT_IMPLEMENTED, text, id));
                }
                if let Some(chan) = self.chan(c, ch) {
                    chan.content = Some(Incoming {
                        publish: p,
                        header: None,
                        body: Vec::new(),
                    });
                }
            }
            Method::BasicGet(g) => self.get(c, ch, g, id)?,
            Method::BasicAck(a) => {
                let settled = self.settle(c, ch, a.delivery_tag, a.multiple, id)?;
                self.finish_settle(settled, false);
            }
            Method::BasicNack(n) => {
                let settled = self.settle(c, ch, n.delivery_tag, n.multiple, id)?;
                self.finish_settle(settled, n.requeue);
            }
            Method::BasicReject(r) => {
                let settled = self.settle(c, ch, r.delivery_tag, false, id)?;
                self.finish_settle(settled, r.requeue);
            }
            Method::BasicRecover(_) | Method::BasicRecoverAsync(_) => {
                let settled = self.settle(c, ch, 0, true, id)?;
                self.finish_settle(settled, true);
                if matches!(id, MethodId::BASIC_RECOVER) {
                    self.send(c, ch, Method::BasicRecoverOk);
                }
            }
            Method::ConfirmSelect(s) => {
                if let Some(chan) = self.chan(c, ch) {
                    chan.confirm = true;
                }
                if !s.nowait {
                    self.send(c, ch, Method::ConfirmSelectOk);
                }
            }
            Method::TxSelect | Method::TxCommit | Method::TxRollback => {
                let text = "NOT_IMPLEMENTED - the fake server has no transactions";
                return Err(soft(ReplyCode::NOT_IMPLEMENTED, text, id));
            }
            m => {
                let text = format!("COMMAND_INVALID - {} from a client", m.name());
                return Err(hard(ReplyCode::COMMAND_INVALID, text, id));
            }
        }
        Ok(())
    }

    fn exchange_declare(
        &mut self,
        c: u64,
        ch: u16,
        d: ExchangeDeclare,
        id: MethodId,
    ) -> Result<(), Fail> {
        match self.exchanges.get(d.exchange.as_str()) {
            _ if d.exchange.is_empty() && !d.passive => {
                let text = "ACCESS_REFUSED - operation not permitted on the default exchange";
                return Err(soft(ReplyCode::ACCESS_REFUSED, text, id));
            }
            None if d.passive => return Err(no_exchange(&d.exchange, id)),
            Some(_) if d.passive => {}
            Some(x) => {
                if x.kind != d.kind || x.durable != d.durable || x.auto_delete != d.auto_delete {
                    let text = format!(
                        "PRECONDITION_FAILED - inequivalent arg 'type', 'durable' or \
                         'auto_delete' for exchange '{}' in vhost '/'",
                        d.exchange
                    );
                    return Err(soft(ReplyCode::PRECONDITION_FAILED, text, id));
                }
            }
            None => {
                if d.exchange.starts_with("amq.") {
                    let text = format!(
                        "ACCESS_REFUSED - exchange name '{}' contains reserved prefix 'amq.*'",
                        d.exchange
                    );
                    return Err(soft(ReplyCode::ACCESS_REFUSED, text, id));
                }
                if !matches!(d.kind.as_str(), "direct" | "fanout" | "topic" | "headers") {
                    let text = format!("COMMAND_INVALID - invalid exchange type '{}'", d.kind);
                    return Err(hard(ReplyCode::COMMAND_INVALID, text, id));
                }
                let x = Exchange::new(&d.kind, d.durable, d.auto_delete, d.internal);
                self.exchanges.insert(String::from(&d.exchange), x);
            }
        }
        if !d.nowait {
            self.send(c, ch, Method::ExchangeDeclareOk);
        }
        Ok(())
    }

    fn bind(
        &mut self,
        source: &str,
        dest: Dest,
        key: &str,
        args: FieldTable,
        id: MethodId,
    ) -> Result<(), Fail> {
        if let Dest::Exchange(d) = &dest {
            if !self.exchanges.contains_key(d) {
                return Err(no_exchange(d, id));
            }
        }
        let Some(x) = self.exchanges.get_mut(source) else {
            return Err(no_exchange(source, id));
        };
        let b = Binding {
            dest,
            key: key.to_owned(),
            args,
        };
        if !x.bindings.contains(&b) {
            x.bindings.push(b);
            x.had_bindings = true;
        }
        Ok(())
    }

    fn unbind(&mut self, source: &str, dest: Dest, key: &str, args: &FieldTable) {
        if let Some(x) = self.exchanges.get_mut(source) {
            x.bindings
                .retain(|b| !(b.dest == dest && b.key == key && b.args == *args));
        }
        self.reap_exchanges();
    }

    fn queue_declare(
        &mut self,
        c: u64,
        ch: u16,
        d: QueueDeclare,
        id: MethodId,
    ) -> Result<(), Fail> {
        let stream = d.arguments.get("x-queue-type").and_then(FieldValue::as_str) == Some("stream");
        let name = if d.passive {
            let name = self.queue_name(c, ch, &d.queue);
            self.usable_queue(c, &name, id)?;
            name
        } else {
            let name = if d.queue.is_empty() {
                self.queue_seq += 1;
                format!("amq.gen-{c}-{}", self.queue_seq)
            } else if d.queue.starts_with("amq.") {
                let text = format!(
                    "ACCESS_REFUSED - queue name '{}' contains reserved prefix 'amq.*'",
                    d.queue
                );
                return Err(soft(ReplyCode::ACCESS_REFUSED, text, id));
            } else {
                String::from(&d.queue)
            };
            match self.queues.get(&name) {
                Some(q) => {
                    if q.exclusive.is_some_and(|o| o != c) {
                        return Err(locked(&name, id));
                    }
                    if q.durable != d.durable
                        || q.auto_delete != d.auto_delete
                        || q.exclusive.is_some() != d.exclusive
                        || q.stream != stream
                    {
                        let text = format!(
                            "PRECONDITION_FAILED - inequivalent arg 'durable', 'exclusive', \
                             'auto_delete' or 'x-queue-type' for queue '{name}' in vhost '/'"
                        );
                        return Err(soft(ReplyCode::PRECONDITION_FAILED, text, id));
                    }
                }
                None => {
                    if stream && (!d.durable || d.exclusive || d.auto_delete) {
                        let text = "PRECONDITION_FAILED - stream queues must be durable, \
                                    non-exclusive and not auto-delete";
                        return Err(soft(ReplyCode::PRECONDITION_FAILED, text, id));
                    }
                    let q = Queue {
                        durable: d.durable,
                        exclusive: d.exclusive.then_some(c),
                        auto_delete: d.auto_delete,
                        stream,
                        ready: VecDeque::new(),
                        log: Vec::new(),
                        consumers: Vec::new(),
                        rr: 0,
                        had_consumer: false,
                    };
                    self.queues.insert(name.clone(), q);
                }
            }
            name
        };
        if let Some(chan) = self.chan(c, ch) {
            chan.last_queue = name.clone();
        }
        if !d.nowait {
            let (messages, consumers) = self.queues.get(&name).map_or((0, 0), |q| {
                let n = if q.stream { q.log.len() } else { q.ready.len() };
                (n, q.consumers.len())
            });
            let ok = QueueDeclareOk {
                queue: name.into(),
                message_count: messages as u32,
                consumer_count: consumers as u32,
            };
            self.send(c, ch, Method::QueueDeclareOk(ok));
        }
        Ok(())
    }

    fn consume(&mut self, c: u64, ch: u16, b: BasicConsume, id: MethodId) -> Result<(), Fail> {
        let name = self.queue_name(c, ch, &b.queue);
        let q = self.usable_queue(c, &name, id)?;
        let exclusive_use = q.consumers.iter().any(|r| {
            self.conns
                .get(&r.conn)
                .and_then(|x| x.channels.get(&r.ch))
                .and_then(|x| x.consumers.get(&r.tag))
                .is_some_and(|cs| cs.exclusive)
        });
        if exclusive_use || (b.exclusive && !q.consumers.is_empty()) {
            let text = format!("ACCESS_REFUSED - queue '{name}' in vhost '/' in exclusive use");
            return Err(soft(ReplyCode::ACCESS_REFUSED, text, id));
        }
        let len = q.log.len();
        let cursor = match b.arguments.get("x-stream-offset") {
            None => len,
            Some(v) => match (v.as_i64(), v.as_str()) {
                (Some(n), _) => usize::try_from(n.max(0)).unwrap_or(len).min(len),
                (_, Some("first")) => 0,
                (_, Some("last")) => len.saturating_sub(1),
                (_, Some("next")) => len,
                _ if matches!(v, FieldValue::Timestamp(_)) => 0,
                _ => {
                    let text = "PRECONDITION_FAILED - invalid x-stream-offset";
                    return Err(soft(ReplyCode::PRECONDITION_FAILED, text, id));
                }
            },
        };
        let tag = if b.consumer_tag.is_empty() {
            self.ctag_seq += 1;
            format!("amq.ctag-{}", self.ctag_seq)
        } else {
            String::from(&b.consumer_tag)
        };
        let Some(chan) = self.chan(c, ch) else {
            return Ok(());
        };
        if chan.consumers.contains_key(&tag) {
            let text = format!("NOT_ALLOWED - attempt to reuse consumer tag '{tag}'");
            return Err(hard(ReplyCode::NOT_ALLOWED, text, id));
        }
        let cs = ConsumerState {
            queue: name.clone(),
            no_ack: b.no_ack,
            prefetch: chan.prefetch_consumer,
            unacked: 0,
            exclusive: b.exclusive,
            cursor,
        };
        chan.consumers.insert(tag.clone(), cs);
        if let Some(q) = self.queues.get_mut(&name) {
            q.consumers.push(CRef {
                conn: c,
                ch,
                tag: tag.clone(),
            });
            q.had_consumer = true;
        }
        if !b.nowait {
            let ok = BasicConsumeOk {
                consumer_tag: tag.into(),
            };
            self.send(c, ch, Method::BasicConsumeOk(ok));
        }
        self.dispatch(&name);
        Ok(())
    }

    fn get(&mut self, c: u64, ch: u16, g: BasicGet, id: MethodId) -> Result<(), Fail> {
        let name = self.queue_name(c, ch, &g.queue);
        if self.usable_queue(c, &name, id)?.stream {
            let text = "NOT_IMPLEMENTED - basic.get is not supported by stream queues";
            return Err(soft(ReplyCode::NOT_IMPLEMENTED, text, id));
        }
        let Some(q) = self.queues.get_mut(&name) else {
            return Ok(());
        };
        let Some(msg) = q.ready.pop_front() else {
            let empty = BasicGetEmpty {
                cluster_id: ShortStr::new(),
            };
            self.send(c, ch, Method::BasicGetEmpty(empty));
            return Ok(());
        };
        let remaining = q.ready.len() as u32;
        let Some(conn) = self.conns.get_mut(&c) else {
            return Ok(());
        };
        let Some(chan) = conn.channels.get_mut(&ch) else {
            return Ok(());
        };
        chan.next_tag += 1;
        let tag = chan.next_tag;
        let ok = Method::BasicGetOk(BasicGetOk {
            delivery_tag: tag,
            redelivered: msg.redelivered,
            exchange: msg.exchange.as_str().into(),
            routing_key: msg.routing_key.as_str().into(),
            message_count: remaining,
        });
        conn.send_content(ch, &ok, &msg.properties, &msg.body);
        if !g.no_ack {
            if let Some(chan) = conn.channels.get_mut(&ch) {
                let u = Unacked {
                    queue: name,
                    msg,
                    consumer: None,
                    stream: false,
                };
                chan.unacked.insert(tag, u);
            }
        }
        Ok(())
    }

    /// Takes the unacked deliveries a settle names off the channel. `tag` 0 with `multiple`
    /// means all of them. An unknown tag is a 406 channel error, as in RabbitMQ.
    fn settle(
        &mut self,
        c: u64,
        ch: u16,
        tag: u64,
        multiple: bool,
        id: MethodId,
    ) -> Result<Vec<Unacked>, Fail> {
        let Some(chan) = self.chan(c, ch) else {
            return Ok(Vec::new());
        };
        let stale = if multiple {
            tag > chan.next_tag
        } else {
            !chan.unacked.contains_key(&tag)
        };
        if stale {
            self.stale_settles += 1;
        }
        let Some(chan) = self.chan(c, ch) else {
            return Ok(Vec::new());
        };
        let tags: Vec<u64> = if multiple {
            if tag > chan.next_tag {
                let text = format!("PRECONDITION_FAILED - unknown delivery tag {tag}");
                return Err(soft(ReplyCode::PRECONDITION_FAILED, text, id));
            }
            let upto = if tag == 0 { u64::MAX } else { tag };
            chan.unacked.range(..=upto).map(|(t, _)| *t).collect()
        } else if chan.unacked.contains_key(&tag) {
            vec![tag]
        } else {
            let text = format!("PRECONDITION_FAILED - unknown delivery tag {tag}");
            return Err(soft(ReplyCode::PRECONDITION_FAILED, text, id));
        };
        let mut out = Vec::with_capacity(tags.len());
        for t in tags {
            if let Some(u) = chan.unacked.remove(&t) {
                if let Some(cs) = u.consumer.as_ref().and_then(|t| chan.consumers.get_mut(t)) {
                    cs.unacked = cs.unacked.saturating_sub(1);
                }
                out.push(u);
            }
        }
        Ok(out)
    }

    /// Settled deliveries are dropped, or requeued (in their order, at the front, redelivered).
    fn finish_settle(&mut self, settled: Vec<Unacked>, requeue: bool) {
        let mut touched = BTreeSet::new();
        for u in settled.into_iter().rev() {
            touched.insert(u.queue.clone());
            if !requeue || u.stream {
                continue;
            }
            if let Some(q) = self.queues.get_mut(&u.queue) {
                let mut msg = u.msg;
                msg.redelivered = true;
                q.ready.push_front(msg);
            }
        }
        for q in touched {
            self.dispatch(&q);
        }
    }

    fn content_frame(
        &mut self,
        c: u64,
        ch: u16,
        header: Option<ContentHeader>,
        body: Option<Bytes>,
    ) {
        let Some(conn) = self.conns.get_mut(&c) else {
            return;
        };
        let id = MethodId::BASIC_PUBLISH;
        match conn.phase {
            Phase::Opened => {}
            Phase::Closing => return,
            _ => {
                let text = "UNEXPECTED_FRAME - content before connection.open";
                return self.close_connection(c, ReplyCode::UNEXPECTED_FRAME.0, text, id);
            }
        }
        let Some(chan) = conn.channels.get_mut(&ch) else {
            let text = format!("CHANNEL_ERROR - content on channel {ch}, not open");
            return self.close_connection(c, ReplyCode::CHANNEL_ERROR.0, &text, id);
        };
        if chan.closing {
            return;
        }
        let unexpected = |what: &str| format!("UNEXPECTED_FRAME - {what} on channel {ch}");
        let Some(inc) = chan.content.as_mut() else {
            let text = unexpected("content without basic.publish");
            return self.close_connection(c, ReplyCode::UNEXPECTED_FRAME.0, &text, id);
        };
        match (header, body, inc.header.as_ref()) {
            (Some(h), _, None) => {
                if h.body_size > MAX_BODY {
                    chan.content = None;
                    let text = format!(
                        "PRECONDITION_FAILED - message size {} too large",
                        h.body_size
                    );
                    return self.close_channel(c, ch, ReplyCode::PRECONDITION_FAILED.0, &text, id);
                }
                inc.header = Some(h);
            }
            (None, Some(b), Some(h)) => {
                if inc.body.len() as u64 + b.len() as u64 > h.body_size {
                    let text = "FRAME_ERROR - body larger than the content header said";
                    return self.close_connection(c, ReplyCode::FRAME_ERROR.0, text, id);
                }
                inc.body.extend_from_slice(&b);
            }
            (Some(_), _, Some(_)) => {
                let text = unexpected("second content header");
                return self.close_connection(c, ReplyCode::UNEXPECTED_FRAME.0, &text, id);
            }
            _ => {
                let text = unexpected("content body before its header");
                return self.close_connection(c, ReplyCode::UNEXPECTED_FRAME.0, &text, id);
            }
        }
        let complete = inc
            .header
            .as_ref()
            .is_some_and(|h| inc.body.len() as u64 == h.body_size);
        if complete {
            if let Some(inc) = chan.content.take() {
                if let Err(f) = self.complete_publish(c, ch, inc) {
                    self.fail(c, ch, f);
                }
            }
        }
    }

    fn complete_publish(&mut self, c: u64, ch: u16, inc: Incoming) -> Result<(), Fail> {
        let id = MethodId::BASIC_PUBLISH;
        let p = inc.publish;
        let properties = inc.header.map(|h| h.properties).unwrap_or_default();
        match self.exchanges.get(p.exchange.as_str()) {
            None => return Err(no_exchange(&p.exchange, id)),
            Some(x) if x.internal => {
                let text = format!(
                    "ACCESS_REFUSED - cannot publish to internal exchange '{}'",
                    p.exchange
                );
                return Err(soft(ReplyCode::ACCESS_REFUSED, text, id));
            }
            Some(_) => {}
        }
        let seq = match self.chan(c, ch) {
            Some(chan) if chan.confirm => {
                chan.publish_seq += 1;
                Some(chan.publish_seq)
            }
            _ => None,
        };
        self.confirmed_publishes += usize::from(seq.is_some());
        self.published.push((
            String::from(&p.exchange),
            String::from(&p.routing_key),
            inc.body.clone(),
        ));
        let msg = Msg {
            exchange: String::from(&p.exchange),
            routing_key: String::from(&p.routing_key),
            properties,
            body: Bytes::from(inc.body),
            redelivered: false,
        };
        let targets = self.route(&p.exchange, &p.routing_key, msg.properties.headers.as_ref());
        if targets.is_empty() && p.mandatory {
            let ret = Method::BasicReturn(BasicReturn {
                reply_code: ReplyCode::NO_ROUTE.0,
                reply_text: "NO_ROUTE".into(),
                exchange: p.exchange,
                routing_key: p.routing_key,
            });
            if let Some(conn) = self.conns.get_mut(&c) {
                conn.send_content(ch, &ret, &msg.properties, &msg.body);
            }
        }
        if let Some(seq) = seq {
            let ack = BasicAck {
                delivery_tag: seq,
                multiple: false,
            };
            self.send(c, ch, Method::BasicAck(ack));
        }
        self.enqueue(&targets, msg);
        Ok(())
    }

    /// The queues a message reaches, following exchange-to-exchange bindings.
    fn route(&self, exchange: &str, key: &str, headers: Option<&FieldTable>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        if exchange.is_empty() {
            if self.queues.contains_key(key) {
                out.insert(key.to_owned());
            }
            return out;
        }
        let key_words = words(key);
        let mut seen = HashSet::new();
        let mut todo = vec![exchange.to_owned()];
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let Some(x) = self.exchanges.get(&name) else {
                continue;
            };
            for b in &x.bindings {
                let hit = match x.kind.as_str() {
                    "fanout" => true,
                    "topic" => topic_match(&words(&b.key), &key_words),
                    "headers" => headers_match(&b.args, headers),
                    _ => b.key == key,
                };
                if hit {
                    match &b.dest {
                        Dest::Queue(q) => {
                            out.insert(q.clone());
                        }
                        Dest::Exchange(e) => todo.push(e.clone()),
                    }
                }
            }
        }
        out
    }

    fn enqueue(&mut self, targets: &BTreeSet<String>, msg: Msg) {
        for name in targets {
            if let Some(q) = self.queues.get_mut(name) {
                if q.stream {
                    q.log.push(msg.clone());
                } else {
                    q.ready.push_back(msg.clone());
                }
            }
        }
        for name in targets {
            self.dispatch(name);
        }
    }

    // --- delivery ---------------------------------------------------------------------------

    fn dispatch_all(&mut self) {
        let names: Vec<String> = self.queues.keys().cloned().collect();
        for n in names {
            self.dispatch(&n);
        }
    }

    /// Delivers what can be delivered from one queue: round-robin over its consumers for a
    /// classic queue, every consumer from its own offset for a stream; within prefetch.
    fn dispatch(&mut self, name: &str) {
        let Some(q) = self.queues.get_mut(name) else {
            return;
        };
        let conns = &mut self.conns;
        if q.stream {
            for r in q.consumers.clone() {
                while let Some(cursor) = stream_cursor(conns, &r, q.log.len()) {
                    let Some(msg) = q.log.get(cursor).cloned() else {
                        break;
                    };
                    deliver(conns, &r, name, msg, Some(cursor));
                }
            }
            return;
        }
        while !q.ready.is_empty() && !q.consumers.is_empty() {
            let n = q.consumers.len();
            let Some(idx) = (0..n)
                .map(|i| (q.rr + i) % n)
                .find(|&i| has_credit(conns, &q.consumers[i]))
            else {
                return;
            };
            q.rr = (idx + 1) % n;
            let Some(msg) = q.ready.pop_front() else {
                return;
            };
            let r = q.consumers[idx].clone();
            deliver(conns, &r, name, msg, None);
        }
    }
}

/// Whether a consumer may take another delivery now.
fn has_credit(conns: &BTreeMap<u64, Conn>, r: &CRef) -> bool {
    let Some(conn) = conns.get(&r.conn) else {
        return false;
    };
    if conn.status.is_dead() || conn.phase != Phase::Opened {
        return false;
    }
    let Some(chan) = conn.channels.get(&r.ch) else {
        return false;
    };
    let Some(cs) = chan.consumers.get(&r.tag) else {
        return false;
    };
    if chan.closing || chan.paused {
        return false;
    }
    if cs.no_ack {
        return true;
    }
    let consumer_ok = cs.prefetch == 0 || cs.unacked < cs.prefetch as usize;
    let channel_ok =
        chan.prefetch_channel == 0 || chan.unacked.len() < chan.prefetch_channel as usize;
    consumer_ok && channel_ok
}

/// A stream consumer's next offset, if it has credit and the stream has more.
fn stream_cursor(conns: &BTreeMap<u64, Conn>, r: &CRef, len: usize) -> Option<usize> {
    let cursor = conns
        .get(&r.conn)?
        .channels
        .get(&r.ch)?
        .consumers
        .get(&r.tag)?
        .cursor;
    (cursor < len && has_credit(conns, r)).then_some(cursor)
}

/// basic.deliver to one consumer; records the unacked delivery unless no_ack. Stream
/// deliveries carry their offset as the `x-stream-offset` header.
fn deliver(
    conns: &mut BTreeMap<u64, Conn>,
    r: &CRef,
    queue: &str,
    mut msg: Msg,
    offset: Option<usize>,
) {
    let Some(conn) = conns.get_mut(&r.conn) else {
        return;
    };
    let Some(chan) = conn.channels.get_mut(&r.ch) else {
        return;
    };
    let Some(cs) = chan.consumers.get_mut(&r.tag) else {
        return;
    };
    if let Some(offset) = offset {
        cs.cursor = offset + 1;
        let mut headers = msg.properties.headers.take().unwrap_or_default();
        headers.insert("x-stream-offset", FieldValue::I64(offset as i64));
        msg.properties.headers = Some(headers);
    }
    chan.next_tag += 1;
    let tag = chan.next_tag;
    let no_ack = cs.no_ack;
    if !no_ack {
        cs.unacked += 1;
    }
    let m = Method::BasicDeliver(BasicDeliver {
        consumer_tag: r.tag.as_str().into(),
        delivery_tag: tag,
        redelivered: msg.redelivered,
        exchange: msg.exchange.as_str().into(),
        routing_key: msg.routing_key.as_str().into(),
    });
    conn.send_content(r.ch, &m, &msg.properties, &msg.body);
    if !no_ack {
        if let Some(chan) = conn.channels.get_mut(&r.ch) {
            let u = Unacked {
                queue: queue.to_owned(),
                msg,
                consumer: Some(r.tag.clone()),
                stream: offset.is_some(),
            };
            chan.unacked.insert(tag, u);
        }
    }
}

// ----------------------------------------------------------------------------------------------
// The connection task

/// Pumps one connection: decodes what the client sends into the broker, writes what the broker
/// queued for it, sends heartbeats, and drops the socket when the broker says so.
async fn serve(server: FakeServer, id: u64, notify: Arc<Notify>, stream: DuplexStream) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut io = ConnIo {
        decoder: FrameDecoder::new(),
        header: Vec::new(),
        greeted: false,
        pending: Vec::new(),
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_recv = Instant::now();
    let mut heartbeat = 0u16;
    let mut next_beat: Option<Instant> = None;
    let mut close_by: Option<Instant> = None;
    loop {
        let (status, hb, frame_max, closing) = {
            let mut b = server.lock();
            let Some(conn) = b.conns.get_mut(&id) else {
                break;
            };
            io.pending.append(&mut conn.out);
            let closing = conn.phase == Phase::Closing;
            (conn.status, conn.heartbeat, conn.frame_max, closing)
        };
        if closing && close_by.is_none() {
            close_by = Some(Instant::now() + CLOSE_OK_TIMEOUT);
        }
        match status {
            Status::Dead { flush: false } => break,
            Status::Dead { flush: true } => {
                let _ = tokio::time::timeout(FLUSH_GRACE, wr.write_all(&io.pending)).await;
                break;
            }
            Status::Blackholed => io.pending.clear(),
            Status::Live => {}
        }
        if hb != heartbeat {
            heartbeat = hb;
            next_beat = (hb > 0).then(|| Instant::now() + Duration::from_secs(hb.into()));
        }
        if frame_max > 0 {
            io.decoder.set_max_frame(frame_max);
        }
        let live = status == Status::Live;
        let beat_at = next_beat.unwrap_or_else(Instant::now);
        let close_at = close_by.unwrap_or_else(Instant::now);
        tokio::select! {
            biased;
            _ = notify.notified() => {}
            r = wr.write(&io.pending), if live && !io.pending.is_empty() => match r {
                Ok(n) if n > 0 => {
                    io.pending.drain(..n);
                }
                _ => break,
            },
            r = rd.read(&mut buf), if live => match r {
                Ok(n) if n > 0 => {
                    last_recv = Instant::now();
                    if !io.input(&server, id, &buf[..n], &mut wr).await {
                        break;
                    }
                }
                _ => break, // EOF or error: the client is gone
            },
            _ = tokio::time::sleep_until(close_at), if close_by.is_some() => {
                let mut b = server.lock();
                b.log.push((id, "no connection.close-ok".into()));
                b.end_connection(id, false);
            }
            _ = tokio::time::sleep_until(beat_at), if next_beat.is_some() => {
                let interval = Duration::from_secs(heartbeat.into());
                if live {
                    encode_heartbeat(&mut io.pending);
                }
                if last_recv.elapsed() >= interval * 2 {
                    let mut b = server.lock();
                    b.log.push((id, "heartbeat timeout".into()));
                    if live {
                        b.end_connection(id, false);
                    } else {
                        // A partition: the broker gives up on the client, which sees nothing.
                        b.release_connection(id);
                        next_beat = None;
                        continue;
                    }
                }
                next_beat = Some(Instant::now() + interval);
            }
        }
    }
    server.lock().forget(id);
}

struct ConnIo {
    decoder: FrameDecoder,
    header: Vec<u8>,
    greeted: bool,
    /// Bytes taken from the broker, not yet written.
    pending: Vec<u8>,
}

impl ConnIo {
    /// Feeds received bytes through the protocol header check and the frame decoder into the
    /// broker. False when the connection is to end now.
    async fn input(
        &mut self,
        server: &FakeServer,
        id: u64,
        mut data: &[u8],
        wr: &mut WriteHalf<DuplexStream>,
    ) -> bool {
        if !self.greeted {
            let take = (8 - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.header.len() < 8 {
                return true;
            }
            if self.header != PROTOCOL_HEADER {
                // As the spec says: answer with the header we speak, then close.
                let _ = wr.write_all(PROTOCOL_HEADER).await;
                server.lock().log.push((id, "bad protocol header".into()));
                return false;
            }
            self.greeted = true;
            server.lock().greet(id);
        }
        self.decoder.extend(data);
        loop {
            let frame = match self.decoder.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return true,
                Err(e) => {
                    server.lock().frame_error(id, e);
                    return true; // the connection is Dead { flush }: the loop writes the close
                }
            };
            let last = server.lock().count_frame(id, &frame);
            if last {
                // Replies to the earlier frames go out first.
                if let Some(conn) = server.lock().conns.get_mut(&id) {
                    self.pending.append(&mut conn.out);
                }
                let _ = tokio::time::timeout(FLUSH_GRACE, wr.write_all(&self.pending)).await;
                self.pending.clear();
                let mut b = server.lock();
                b.on_frame(id, frame);
                b.log.push((id, "cut (fail_after_frames)".into()));
                b.end_connection(id, false);
                return false;
            }
            server.lock().on_frame(id, frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{
        ConsumeOptions, ExchangeDeclareOptions, PublishOptions, QueueDeclareOptions,
    };
    use crate::{Config, Connection};

    async fn open(server: &FakeServer) -> Connection {
        let t = server.connect().await.expect("connect");
        Connection::open(t, Config::default()).await.expect("open")
    }

    /// Waits (virtual time) until `f` holds; panics after 5 s.
    async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
        for _ in 0..500 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never happened: {what}");
    }

    fn lost(e: &Option<Error>) -> bool {
        matches!(e, Some(Error::ConnectionLost { .. }))
    }

    #[tokio::test(start_paused = true)]
    async fn topic_confirm_consume_ack() {
        let server = FakeServer::new();
        let conn = open(&server).await;
        let ch = conn.channel(None).await.unwrap();
        ch.confirm_select().await.unwrap();
        let q = ch
            .queue_declare("", QueueDeclareOptions::default(), FieldTable::new())
            .await
            .unwrap();
        assert_eq!(q.name, "amq.gen-1-1");
        ch.exchange_declare(
            "logs",
            "topic",
            ExchangeDeclareOptions::default(),
            FieldTable::new(),
        )
        .await
        .unwrap();
        ch.queue_bind(&q.name, "logs", "a.*.#", FieldTable::new())
            .await
            .unwrap();
        let props = BasicProperties::default();
        for key in ["a.b", "a.b.c.d", "x.b", "a"] {
            ch.basic_publish(
                "logs",
                key,
                key.as_bytes(),
                &props,
                PublishOptions::default(),
            )
            .await
            .unwrap();
        }
        assert_eq!(server.published().len(), 4);
        assert_eq!(
            server.messages_in(&q.name),
            2,
            "a.b and a.b.c.d match a.*.#"
        );

        let mut consumer = ch
            .basic_consume(&q.name, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        assert_eq!(consumer.tag(), "amq.ctag-1");
        let first = consumer.wait(1000).await.unwrap().unwrap();
        assert_eq!(&first.body[..], b"a.b");
        assert!(!first.redelivered);
        first.ack().unwrap();
        let second = consumer.wait(1000).await.unwrap().unwrap();
        assert_eq!(&second.body[..], b"a.b.c.d");
        second.ack().unwrap();
        eventually("both acked", || server.messages_in(&q.name) == 0).await;

        let log = server.log();
        let pos = |s: &str| {
            log.iter()
                .position(|l| l == s)
                .unwrap_or_else(|| panic!("{s} in {log:?}"))
        };
        assert!(pos("queue.declare") < pos("exchange.declare logs topic"));
        assert!(pos("queue.bind amq.gen-1-1 logs a.*.#") < pos("basic.consume amq.gen-1-1"));
        assert_eq!(
            &log[..4],
            [
                "connection.start-ok PLAIN",
                "connection.tune-ok",
                "connection.open /",
                "channel.open 1"
            ]
        );
        conn.close().await.unwrap();
        eventually("closed", || server.live_connections() == 0).await;
        assert!(
            server.queue_names().contains(&q.name),
            "not exclusive: stays"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cut_loses_the_connection_and_requeues() {
        let server = FakeServer::new();
        let conn = open(&server).await;
        let ch = conn.channel(None).await.unwrap();
        let excl = QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        };
        ch.queue_declare("mine", excl, FieldTable::new())
            .await
            .unwrap();
        ch.queue_declare("work", QueueDeclareOptions::default(), FieldTable::new())
            .await
            .unwrap();
        assert!(server.publish("", "work", b"job"));
        let mut consumer = ch
            .basic_consume("work", ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let m = consumer.wait(1000).await.unwrap().unwrap();
        assert_eq!(server.ready_in("work"), 0);

        server.cut();
        assert_eq!(
            server.queue_names(),
            ["work"],
            "the exclusive queue went with its owner"
        );
        assert_eq!(server.ready_in("work"), 1, "the unacked message is back");
        let why = conn.closed().await;
        assert!(
            matches!(
                why,
                Some(Error::ConnectionLost {
                    cause: TransportError::ClosedByPeer,
                    handshake: false
                })
            ),
            "{why:?}"
        );
        drop(m);

        let conn = open(&server).await;
        let ch = conn.channel(None).await.unwrap();
        let got = ch.basic_get("work", true).await.unwrap().unwrap();
        assert!(got.redelivered);
        assert_eq!(&got.body[..], b"job");
        assert_eq!(server.connections(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn refuse_next_then_accept() {
        let server = FakeServer::new();
        server.refuse_next(2);
        for _ in 0..2 {
            match server.connect().await {
                Err(Error::ConnectionLost {
                    cause: TransportError::Refused(_),
                    handshake: false,
                }) => {}
                other => panic!("{:?}", other.map(|_| ())),
            }
        }
        let conn = open(&server).await;
        assert!(conn.is_open());
        assert_eq!(server.connections(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn refused_logins() {
        let server = FakeServer::new();
        server.refuse_login(403, "ACCESS_REFUSED - Login was refused");
        let t = server.connect().await.unwrap();
        match Connection::open(t, Config::default()).await {
            Err(Error::ConnectionClosed(info)) => assert_eq!(info.code, ReplyCode::ACCESS_REFUSED),
            other => panic!("{other:?}"),
        }
        server.refuse_login(530, "NOT_ALLOWED - vhost not found");
        let t = server.connect().await.unwrap();
        match Connection::open(t, Config::default()).await {
            Err(Error::ConnectionClosed(info)) => assert_eq!(info.code, ReplyCode::NOT_ALLOWED),
            other => panic!("{other:?}"),
        }
        assert!(server.log().contains(&"connection.open /".to_string()));
        server.accept_login();
        open(&server).await;
        eventually("refused sockets closed", || server.live_connections() == 1).await;
    }

    #[tokio::test(start_paused = true)]
    async fn restart_drops_what_is_not_durable() {
        let server = FakeServer::new();
        let conn = open(&server).await;
        let ch = conn.channel(None).await.unwrap();
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.queue_declare("keep", durable, FieldTable::new())
            .await
            .unwrap();
        ch.queue_declare("temp", QueueDeclareOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let persistent = BasicProperties::default().with_delivery_mode(2);
        ch.basic_publish("", "keep", b"p", &persistent, PublishOptions::default())
            .await
            .unwrap();
        ch.basic_publish(
            "",
            "keep",
            b"t",
            &BasicProperties::default(),
            PublishOptions::default(),
        )
        .await
        .unwrap();
        eventually("published", || server.messages_in("keep") == 2).await;

        server.restart();
        assert_eq!(server.queue_names(), ["keep"]);
        assert_eq!(
            server.messages_in("keep"),
            1,
            "only the persistent message survives"
        );
        assert!(lost(&conn.closed().await));
    }

    #[tokio::test(start_paused = true)]
    async fn passive_declare_of_unknown_queue_closes_the_channel() {
        let server = FakeServer::new();
        let conn = open(&server).await;
        let ch = conn.channel(None).await.unwrap();
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        match ch.queue_declare("nope", passive, FieldTable::new()).await {
            Err(Error::ChannelClosed(info)) => {
                assert_eq!(info.code, ReplyCode::NOT_FOUND);
                assert_eq!((info.class_id, info.method_id), (50, 10));
            }
            other => panic!("{other:?}"),
        }
        // The connection survives a soft error.
        let ch = conn.channel(None).await.unwrap();
        ch.queue_declare("yes", QueueDeclareOptions::default(), FieldTable::new())
            .await
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn prefetch_nack_requeue_and_mandatory_return() {
        let server = FakeServer::new();
        let conn = open(&server).await;
        let ch = conn.channel(None).await.unwrap();
        ch.queue_declare("q", QueueDeclareOptions::default(), FieldTable::new())
            .await
            .unwrap();
        for body in [b"1", b"2", b"3"] {
            server.publish("", "q", body);
        }
        ch.basic_qos(1, 0, false).await.unwrap();
        let mut consumer = ch
            .basic_consume("q", ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let m1 = consumer.wait(1000).await.unwrap().unwrap();
        assert!(
            matches!(consumer.wait(1000).await, Err(Error::Timeout)),
            "prefetch 1"
        );
        m1.nack(true).unwrap();
        let again = consumer.wait(1000).await.unwrap().unwrap();
        assert_eq!((&again.body[..], again.redelivered), (&b"1"[..], true));
        again.ack().unwrap();
        let m2 = consumer.wait(1000).await.unwrap().unwrap();
        assert_eq!(&m2.body[..], b"2");

        let mut returns = ch.returns();
        let mandatory = PublishOptions {
            mandatory: true,
            ..Default::default()
        };
        ch.basic_publish("", "nowhere", b"x", &BasicProperties::default(), mandatory)
            .await
            .unwrap();
        use futures::StreamExt;
        let r = crate::rt::timeout(1000, returns.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.reply_code, ReplyCode::NO_ROUTE);
    }

    #[tokio::test(start_paused = true)]
    async fn stream_offsets() {
        let server = FakeServer::new();
        let conn = open(&server).await;
        let ch = conn.channel(None).await.unwrap();
        let args = FieldTable::new().with("x-queue-type", "stream");
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.queue_declare("s", durable, args).await.unwrap();
        for body in [b"a", b"b", b"c"] {
            server.publish("", "s", body);
        }
        ch.basic_qos(10, 0, false).await.unwrap();
        let from_one = FieldTable::new().with("x-stream-offset", 1i64);
        let mut consumer = ch
            .basic_consume("s", ConsumeOptions::default(), from_one)
            .await
            .unwrap();
        for (body, offset) in [(b"b", 1i64), (b"c", 2)] {
            let m = consumer.wait(1000).await.unwrap().unwrap();
            assert_eq!(&m.body[..], body);
            let headers = m.properties.headers.clone().unwrap();
            assert_eq!(
                headers.get("x-stream-offset"),
                Some(&FieldValue::I64(offset))
            );
            m.ack().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            server.messages_in("s"),
            3,
            "acks do not remove stream messages"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_run_on_virtual_time_and_blackhole_times_out() {
        let server = FakeServer::new();
        server.set_heartbeat(10);
        let conn = open(&server).await;
        assert_eq!(conn.heartbeat(), 10);
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert!(conn.is_open(), "heartbeats keep an idle connection alive");

        server.blackhole();
        let started = Instant::now();
        let why = conn.closed().await;
        assert!(
            matches!(
                why,
                Some(Error::ConnectionLost {
                    cause: TransportError::Timeout(_),
                    ..
                })
            ),
            "{why:?}"
        );
        assert!(
            started.elapsed() <= Duration::from_secs(31),
            "{:?}",
            started.elapsed()
        );
        // A new connection is unaffected.
        let again = open(&server).await;
        assert!(again.is_open());
    }

    #[tokio::test(start_paused = true)]
    async fn fail_after_frames_applies_the_last_frame_but_loses_its_reply() {
        let server = FakeServer::new();
        // start-ok, tune-ok, open, channel.open, queue.declare
        server.fail_after_frames(5);
        let conn = open(&server).await;
        let ch = conn.channel(None).await.unwrap();
        let r = ch
            .queue_declare("q", QueueDeclareOptions::default(), FieldTable::new())
            .await;
        assert!(matches!(r, Err(Error::ConnectionLost { .. })), "{r:?}");
        assert_eq!(server.queue_names(), ["q"]);
        // Only the next connection was affected.
        let conn = open(&server).await;
        conn.channel(None).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn broker_initiated_cancel_force_close_and_block() {
        let server = FakeServer::new();
        let conn = open(&server).await;
        let mut events = conn.events();
        let ch = conn.channel(None).await.unwrap();
        ch.queue_declare("q", QueueDeclareOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let mut consumer = ch
            .basic_consume("q", ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        server.delete_queue("q");
        assert!(
            matches!(consumer.wait(1000).await, Ok(None)),
            "consumer ended"
        );

        server.block("low on memory");
        use futures::StreamExt;
        let ev = crate::rt::timeout(1000, events.next()).await.unwrap();
        assert!(format!("{ev:?}").contains("low on memory"), "{ev:?}");

        server.force_close(320, "CONNECTION_FORCED - bye");
        match conn.closed().await {
            Some(Error::ConnectionClosed(info)) => {
                assert_eq!(info.code, ReplyCode::CONNECTION_FORCED)
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn round_robin_across_connections() {
        let server = FakeServer::new();
        let (a, b) = (open(&server).await, open(&server).await);
        let (cha, chb) = (
            a.channel(None).await.unwrap(),
            b.channel(None).await.unwrap(),
        );
        cha.queue_declare("q", QueueDeclareOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let mut ca = cha
            .basic_consume("q", ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let mut cb = chb
            .basic_consume("q", ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let props = BasicProperties::default();
        for body in [b"1", b"2", b"3", b"4"] {
            chb.basic_publish("", "q", body, &props, PublishOptions::default())
                .await
                .unwrap();
        }
        for (i, want) in [b"1", b"2", b"3", b"4"].iter().enumerate() {
            let c = if i % 2 == 0 { &mut ca } else { &mut cb };
            let m = c.wait(1000).await.unwrap().unwrap();
            assert_eq!(&m.body[..], *want);
        }
        assert_eq!(server.consumer_count("q"), 2);
        assert_eq!(
            server.log_of(2).last().map(String::as_str),
            Some("basic.publish  q")
        );
    }

    /// Sends raw bytes and reads whatever comes back until the server closes.
    async fn raw(server: &FakeServer, bytes: &[u8]) -> Vec<u8> {
        use crate::transport::Transport;
        let mut t = server.connect().await.unwrap();
        t.send(bytes.to_vec()).unwrap();
        futures::future::poll_fn(|cx| t.poll_flush(cx))
            .await
            .unwrap();
        let mut got = Vec::new();
        loop {
            let read =
                futures::future::poll_fn(|cx| t.poll_read(cx, &mut |b| got.extend_from_slice(b)));
            match crate::rt::timeout(30_000, read).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return got,
                Err(_) => panic!("the server did not close"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn hostile_bytes_get_a_close_not_a_panic() {
        let server = FakeServer::new();
        assert_eq!(
            raw(&server, b"HTTP/1.1 GET /\r\n\r\n").await,
            PROTOCOL_HEADER
        );
        // A valid header, then a frame of unknown type: connection.start, then close 501.
        let mut bytes = PROTOCOL_HEADER.to_vec();
        bytes.extend_from_slice(&[9, 0, 0, 0, 0, 0, 1, 0, 0xCE]);
        let got = raw(&server, &bytes).await;
        let mut dec = FrameDecoder::new();
        dec.extend(&got);
        assert!(matches!(
            dec.next_frame(),
            Ok(Some(Frame::Method(0, Method::ConnectionStart(_))))
        ));
        match dec.next_frame() {
            Ok(Some(Frame::Method(0, Method::ConnectionClose(c)))) => assert_eq!(c.reply_code, 501),
            other => panic!("{other:?}"),
        }
        // A method on a channel before the handshake: 505.
        let mut bytes = PROTOCOL_HEADER.to_vec();
        encode_method(&mut bytes, 1, &Method::ChannelOpen(ChannelOpen::default())).unwrap();
        let mut dec = FrameDecoder::new();
        dec.extend(&raw(&server, &bytes).await);
        let _start = dec.next_frame();
        match dec.next_frame() {
            Ok(Some(Frame::Method(0, Method::ConnectionClose(c)))) => assert_eq!(c.reply_code, 505),
            other => panic!("{other:?}"),
        }
    }
}
