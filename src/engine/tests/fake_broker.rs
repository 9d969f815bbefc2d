//! A scripted in-memory broker for the engine tests, in the spirit of quinn-proto's
//! `src/tests/util.rs`: it decodes whatever the engine transmits and encodes what a broker would
//! answer, straight into `Engine::handle_bytes`. No sockets, no threads, no clock: time is a
//! virtual `Millis` ([`FakeBroker::now`]) that moves only to the engine's own deadlines, through
//! [`FakeBroker::advance_to_next_deadline`] and [`FakeBroker::drive`] (quinn-proto's
//! `Pair::step` / `Pair::drive`).
// Test-only: engine/mod.rs declares this module under #[cfg(test)].
#![cfg(test)]

use crate::engine::{Engine, Event, Millis};
use crate::protocol::*;
use bytes::Bytes;
use std::collections::VecDeque;

/// What the broker proposes in `connection.tune`.
#[derive(Debug, Clone, Copy)]
pub struct Tune {
    pub channel_max: u16,
    pub frame_max: u32,
    pub heartbeat: u16,
}

impl Default for Tune {
    /// RabbitMQ's defaults, with heartbeats off so tests that do not care see no timers.
    fn default() -> Self {
        Tune {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 0,
        }
    }
}

/// The client's side of the handshake as the broker saw it.
#[derive(Debug)]
pub struct Handshake {
    pub start_ok: ConnectionStartOk,
    pub tune_ok: ConnectionTuneOk,
    pub open: ConnectionOpen,
}

pub struct FakeBroker {
    decoder: FrameDecoder,
    header_seen: bool,
    /// Frames decoded from the engine's output and not yet looked at by the test.
    pending: VecDeque<Frame>,
    /// Non-empty `poll_transmit` buffers taken so far.
    pub transmits: usize,
    /// Sent in `connection.start` and expected back in `Event::Opened`.
    pub server_properties: FieldTable,
    /// The SASL mechanisms offered in `connection.start`.
    pub mechanisms: &'static str,
    /// The virtual clock.
    pub now: Millis,
    /// When set, [`FakeBroker::drive`] sends the engine a heartbeat this often (from when it starts).
    pub heartbeat_every: Option<Millis>,
    /// Every buffer [`FakeBroker::drive`] took from the engine, with the time it was taken.
    pub transmitted: Vec<(Millis, Vec<u8>)>,
}

impl Default for FakeBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeBroker {
    pub fn new() -> Self {
        let capabilities = FieldTable::new()
            .with("publisher_confirms", true)
            .with("consumer_cancel_notify", true)
            .with("connection.blocked", true);
        FakeBroker {
            decoder: FrameDecoder::new(),
            header_seen: false,
            pending: VecDeque::new(),
            transmits: 0,
            server_properties: FieldTable::new()
                .with("product", "RabbitMQ")
                .with("version", "3.13.7")
                .with("capabilities", capabilities)
                .with("cluster_name", "rabbit@fake"),
            mechanisms: "AMQPLAIN PLAIN",
            now: 0,
            heartbeat_every: None,
            transmitted: Vec::new(),
        }
    }

    // ----- engine → broker -----

    /// Takes one buffer from `poll_transmit` and decodes its frames into the pending queue.
    /// Returns the raw bytes (without the protocol header), or `None` if nothing was queued.
    pub fn recv(&mut self, eng: &mut Engine) -> Option<Vec<u8>> {
        let buf = eng.poll_transmit()?;
        assert!(!buf.is_empty(), "poll_transmit returned an empty buffer");
        self.transmits += 1;
        let data = if self.header_seen {
            buf
        } else {
            assert!(
                buf.len() >= 8,
                "first transmit shorter than the protocol header"
            );
            assert_eq!(&buf[..8], b"AMQP\x00\x00\x09\x01", "bad protocol header");
            self.header_seen = true;
            buf[8..].to_vec()
        };
        self.decoder.extend(&data);
        while let Some(frame) = self
            .decoder
            .next_frame()
            .expect("the engine sent a malformed frame")
        {
            self.pending.push_back(frame);
        }
        Some(data)
    }

    /// The next frame the engine sent (pulling a new buffer if none is pending).
    pub fn expect_frame(&mut self, eng: &mut Engine) -> Frame {
        if self.pending.is_empty() {
            self.recv(eng);
        }
        match self.pending.pop_front() {
            Some(f) => f,
            None => panic!("expected a frame from the engine, it sent nothing"),
        }
    }

    /// The next frame, which must be a method frame.
    pub fn expect_method(&mut self, eng: &mut Engine) -> (u16, Method) {
        match self.expect_frame(eng) {
            Frame::Method(ch, m) => (ch, m),
            other => panic!("expected a method frame, got {other:?}"),
        }
    }

    /// Asserts that the engine has nothing (more) to send.
    pub fn expect_nothing(&mut self, eng: &mut Engine) {
        self.recv(eng);
        assert!(
            self.pending.is_empty(),
            "expected no frames, the engine sent {:?}",
            self.pending
        );
    }

    /// Expects `connection.close` from the engine and returns it.
    pub fn expect_connection_close(&mut self, eng: &mut Engine) -> ConnectionClose {
        match self.expect_method(eng) {
            (0, Method::ConnectionClose(c)) => c,
            other => panic!("expected connection.close, got {other:?}"),
        }
    }

    // ----- broker → engine -----

    pub fn send(&mut self, eng: &mut Engine, channel: u16, method: &Method) {
        eng.handle_bytes(&method_bytes(channel, method));
    }

    pub fn send_raw(&mut self, eng: &mut Engine, bytes: &[u8]) {
        eng.handle_bytes(bytes);
    }

    /// Feeds `bytes` in pieces of `chunk` bytes, as a TCP stream might.
    pub fn send_chunked(&mut self, eng: &mut Engine, bytes: &[u8], chunk: usize) {
        for piece in bytes.chunks(chunk) {
            eng.handle_bytes(piece);
        }
    }

    pub fn heartbeat(&mut self, eng: &mut Engine) {
        let mut buf = Vec::new();
        encode_heartbeat(&mut buf);
        eng.handle_bytes(&buf);
    }

    /// A content-bearing method with its header and body frames, in one write.
    pub fn content(
        &mut self,
        eng: &mut Engine,
        channel: u16,
        method: &Method,
        props: &BasicProperties,
        body: &[u8],
        frame_max: u32,
    ) {
        eng.handle_bytes(&content_bytes(channel, method, props, body, frame_max));
    }

    /// `basic.deliver` for consumer tag "ctag" on exchange "ex" with routing key "rk".
    pub fn deliver(
        &mut self,
        eng: &mut Engine,
        channel: u16,
        tag: u64,
        body: &[u8],
        props: &BasicProperties,
        frame_max: u32,
    ) {
        self.content(eng, channel, &deliver_method(tag), props, body, frame_max);
    }

    // ----- the virtual clock -----

    /// Moves the clock to the engine's next deadline (or keeps it, if that is already due) and
    /// fires it. Returns the time fired, `None` when no timer runs. Asserts the engine does not
    /// ask to be woken at a time it already handled (it would spin).
    pub fn advance_to_next_deadline(&mut self, eng: &mut Engine) -> Option<Millis> {
        let at = eng.poll_timeout()?;
        self.now = self.now.max(at);
        eng.handle_timeout(self.now);
        if let Some(next) = eng.poll_timeout() {
            assert!(
                next > self.now,
                "deadline {next} not after now {}: the engine would spin",
                self.now
            );
        }
        Some(self.now)
    }

    /// Runs the virtual clock until `until`: step by step to the next engine deadline or broker
    /// heartbeat ([`FakeBroker::heartbeat_every`]), taking every buffer the engine sends (kept in
    /// [`FakeBroker::transmitted`] and decoded for `expect_*`). Stops early, returning them, as
    /// soon as the engine has events; stops at `until` (clock set to it) or when nothing is
    /// scheduled. Returns the events (empty when it ran to the end).
    pub fn drive(&mut self, eng: &mut Engine, until: Millis) -> Vec<Event> {
        let mut next_beat = self.heartbeat_every.map(|every| self.now + every);
        loop {
            let deadline = eng.poll_timeout();
            let next = [deadline, next_beat].into_iter().flatten().min();
            let Some(at) = next.filter(|&at| at <= until) else {
                self.now = self.now.max(until);
                return Vec::new();
            };
            self.now = self.now.max(at);
            if next_beat == Some(at) {
                self.heartbeat(eng);
                next_beat = self.heartbeat_every.map(|every| at + every);
            }
            if deadline.is_some_and(|d| d <= self.now) {
                self.advance_to_next_deadline(eng);
            }
            while let Some(raw) = self.recv(eng) {
                self.transmitted.push((self.now, raw));
            }
            let events = drain_events(eng);
            if !events.is_empty() || eng.is_closed() {
                return events;
            }
        }
    }

    // ----- the handshake, step by step -----

    /// Reads the protocol header and sends `connection.start`.
    pub fn send_start(&mut self, eng: &mut Engine) {
        let before = self.transmits;
        self.recv(eng);
        assert_eq!(
            self.transmits,
            before + 1,
            "engine did not send the protocol header"
        );
        assert!(
            self.pending.is_empty(),
            "frames before connection.start: {:?}",
            self.pending
        );
        let start = ConnectionStart {
            version_major: 0,
            version_minor: 9,
            server_properties: self.server_properties.clone(),
            mechanisms: Bytes::from_static(self.mechanisms.as_bytes()),
            locales: Bytes::from_static(b"en_US"),
        };
        self.send(eng, 0, &Method::ConnectionStart(start));
    }

    /// Header, start, and the engine's start-ok.
    pub fn start(&mut self, eng: &mut Engine) -> ConnectionStartOk {
        self.send_start(eng);
        match self.expect_method(eng) {
            (0, Method::ConnectionStartOk(s)) => s,
            other => panic!("expected connection.start-ok, got {other:?}"),
        }
    }

    /// Sends `connection.tune`; expects tune-ok and open, pipelined in ONE transmit buffer.
    pub fn tune(&mut self, eng: &mut Engine, tune: Tune) -> (ConnectionTuneOk, ConnectionOpen) {
        let t = ConnectionTune {
            channel_max: tune.channel_max,
            frame_max: tune.frame_max,
            heartbeat: tune.heartbeat,
        };
        self.send(eng, 0, &Method::ConnectionTune(t));
        assert!(self.pending.is_empty());
        let before = self.transmits;
        self.recv(eng);
        assert_eq!(
            self.transmits,
            before + 1,
            "nothing sent after connection.tune"
        );
        assert_eq!(
            self.pending.len(),
            2,
            "tune-ok and open must go out together in one buffer, got {:?}",
            self.pending
        );
        let tune_ok = match self.expect_method(eng) {
            (0, Method::ConnectionTuneOk(t)) => t,
            other => panic!("expected connection.tune-ok, got {other:?}"),
        };
        let open = match self.expect_method(eng) {
            (0, Method::ConnectionOpen(o)) => o,
            other => panic!("expected connection.open, got {other:?}"),
        };
        assert!(eng.poll_transmit().is_none(), "a second buffer after tune");
        (tune_ok, open)
    }

    /// Sends `connection.open-ok` and checks the single `Event::Opened`.
    pub fn open_ok(&mut self, eng: &mut Engine) {
        assert!(!eng.is_open(), "open before open-ok");
        self.send(
            eng,
            0,
            &Method::ConnectionOpenOk(ConnectionOpenOk::default()),
        );
        assert!(eng.is_open(), "not open after open-ok");
        let events = drain_events(eng);
        assert_eq!(
            events,
            vec![Event::Opened {
                server_properties: self.server_properties.clone()
            }]
        );
    }

    pub fn handshake_with(&mut self, eng: &mut Engine, tune: Tune) -> Handshake {
        let start_ok = self.start(eng);
        let (tune_ok, open) = self.tune(eng, tune);
        self.open_ok(eng);
        self.expect_nothing(eng);
        Handshake {
            start_ok,
            tune_ok,
            open,
        }
    }

    pub fn handshake(&mut self, eng: &mut Engine) -> Handshake {
        self.handshake_with(eng, Tune::default())
    }
}

pub fn drain_events(eng: &mut Engine) -> Vec<Event> {
    std::iter::from_fn(|| eng.poll_event()).collect()
}

pub fn method_bytes(channel: u16, method: &Method) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_method(&mut buf, channel, method).expect("encode method");
    buf
}

pub fn content_bytes(
    channel: u16,
    method: &Method,
    props: &BasicProperties,
    body: &[u8],
    frame_max: u32,
) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_content(&mut buf, channel, method, props, body, frame_max).expect("encode content");
    buf
}

pub fn deliver_method(tag: u64) -> Method {
    Method::BasicDeliver(BasicDeliver {
        consumer_tag: "ctag".into(),
        delivery_tag: tag,
        redelivered: false,
        exchange: "ex".into(),
        routing_key: "rk".into(),
    })
}

/// Splits a buffer of encoded frames into `(frame type, channel, whole frame bytes)`, checking
/// the frame structure by hand (independently of `FrameDecoder`).
pub fn split_frames(mut buf: &[u8]) -> Vec<(u8, u16, Vec<u8>)> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        assert!(buf.len() >= 8, "truncated frame: {buf:?}");
        let kind = buf[0];
        let channel = u16::from_be_bytes([buf[1], buf[2]]);
        let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]) as usize;
        let total = size + 8;
        assert!(buf.len() >= total, "frame longer than the buffer");
        assert_eq!(buf[total - 1], 0xCE, "bad frame end");
        out.push((kind, channel, buf[..total].to_vec()));
        buf = &buf[total..];
    }
    out
}
