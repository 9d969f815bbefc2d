//! The sans-IO connection state machine: every AMQP rule that is not encoding lives here.
//!
//! The engine never performs IO, never awaits and never reads a clock: time comes in as a
//! [`Millis`] value from any monotonic clock the driver likes. Its methods fall into four groups:
//!
//! - **getters**: [`Engine::is_open`], [`Engine::is_closed`], [`Engine::frame_max`],
//!   [`Engine::channel_max`], [`Engine::heartbeat`], [`Engine::channel_is_open`],
//!   [`Engine::pending_output`];
//! - **inputs** (`handle_*`): bytes from the transport ([`Engine::handle_bytes`]), the passing of
//!   time ([`Engine::handle_timeout`]: heartbeats, the handshake deadline, the close-ok deadline,
//!   the operation deadline of calls awaiting replies)
//!   and the end of the transport ([`Engine::handle_transport_closed`]);
//! - **commands** (`commands.rs`): [`Engine::open_channel`], [`Engine::call`], [`Engine::send`],
//!   [`Engine::publish`], [`Engine::close_channel`], [`Engine::close`]. They encode into the
//!   outgoing buffer at once and fail fast (nothing is queued) when the channel or connection is
//!   not usable;
//! - **outputs** (`poll_*`): after [`Engine::new`] and after any input or command the driver calls,
//!   in this order, [`Engine::poll_event`] until `None`, [`Engine::poll_transmit`] (all frames
//!   produced since the last call, coalesced into one buffer: one WebSocket message or one
//!   write), and [`Engine::poll_timeout`] (when to call `handle_timeout` next).
//!
//! Files: `handshake.rs` (the opening exchange), `dispatch.rs` (incoming frames routed, and how a
//! connection or channel ends), `content.rs` (message assembly), `channel.rs` (per-channel
//! bookkeeping), `state.rs` (the connection and channel lifecycles as transition methods),
//! `timer.rs` (the deadline table and its handlers), `events.rs`, `error.rs`, `config.rs`.

mod channel;
mod commands;
mod config;
mod content;
mod dispatch;
mod error;
mod events;
mod handshake;
mod state;
#[cfg(test)]
mod tests;
mod timer;

/// The cheap hasher of the engine's channel table, for the client's small integer-keyed maps.
pub use channel::IdHasher;
pub use config::{
    AuthMechanism, Config, DEFAULT_HEARTBEAT, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_OPERATION_TIMEOUT,
};
pub use error::{CloseInfo, Error, TransportError};
pub use events::{Delivery, Event, ReqId, Response, Returned};
pub use timer::Millis;

use crate::protocol::*;
use channel::{Channels, Pending};
use state::ConnState;
use std::collections::VecDeque;
use timer::{Timer, TimerTable};

/// Cloneable so a test or fuzz target can set one up once and start every case from a copy.
#[derive(Clone)]
pub struct Engine {
    config: Config,
    state: ConnState,
    decoder: FrameDecoder,
    out: Vec<u8>,
    events: VecDeque<Event>,
    channels: Channels,
    /// Connection-level calls (update-secret, close) waiting for replies on channel 0.
    conn_pending: VecDeque<Pending>,
    next_req: ReqId,
    channel_max: u16,
    frame_max: u32,
    heartbeat: u16,
    timers: TimerTable,
    /// Whether any byte arrived from the peer since the last heartbeat check.
    received_since_check: bool,
    /// Whether any byte was handed to the transport since the last heartbeat check.
    sent_since_check: bool,
    /// Why the connection ended, for calls made afterwards.
    closed_error: Option<Error>,
    /// Held from connection.start until the connection is open.
    server_properties: FieldTable,
    /// The broker sent connection.blocked (and not yet unblocked): it stops reading from us,
    /// so operation deadlines do not run out meanwhile.
    blocked: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("state", &self.state)
            .field("channels", &self.channels.len())
            .finish()
    }
}

impl Engine {
    /// A new connection at time `now`; the protocol header is already queued for transmission
    /// and the handshake deadline (`Config::handshake_timeout`) is armed.
    pub fn new(config: Config, now: Millis) -> Engine {
        // Until tune, accept frames up to 1 MiB: enough for any connection.start, and a
        // non-AMQP peer cannot make us buffer gigabytes. Only the methods a server sends are
        // decoded (the others are DecodeError::UnexpectedMethod), in every build.
        let mut decoder = FrameDecoder::client();
        decoder.set_max_frame(1 << 20);
        let mut timers = TimerTable::default();
        if config.handshake_timeout > 0 {
            timers.set(
                Timer::Handshake,
                now.saturating_add(config.handshake_timeout),
            );
        }
        Engine {
            config,
            state: ConnState::AwaitStart,
            decoder,
            out: PROTOCOL_HEADER.to_vec(),
            events: VecDeque::new(),
            channels: Channels::default(),
            conn_pending: VecDeque::new(),
            next_req: 1,
            channel_max: 0,
            frame_max: FRAME_MIN_SIZE,
            heartbeat: 0,
            timers,
            received_since_check: false,
            sent_since_check: false,
            closed_error: None,
            server_properties: FieldTable::new(),
            blocked: false,
        }
    }

    // ----- getters -----

    /// The handshake finished and no close has begun.
    pub fn is_open(&self) -> bool {
        self.state == ConnState::Open
    }

    /// The connection is over ([`Event::Closed`] was emitted).
    pub fn is_closed(&self) -> bool {
        self.state == ConnState::Closed
    }

    /// Negotiated largest frame size in bytes (the minimum, 4096, until tune).
    pub fn frame_max(&self) -> u32 {
        self.frame_max
    }

    /// Negotiated highest channel id (0 until tune).
    pub fn channel_max(&self) -> u16 {
        self.channel_max
    }

    /// Negotiated heartbeat interval in seconds (0 = off).
    pub fn heartbeat(&self) -> u16 {
        self.heartbeat
    }

    /// Whether a channel exists and is open.
    pub fn channel_is_open(&self, id: u16) -> bool {
        self.channels.get(&id).is_some_and(|c| c.state.is_open())
    }

    /// Bytes queued for the peer and not yet taken by [`Engine::poll_transmit`].
    pub fn pending_output(&self) -> usize {
        self.out.len()
    }

    /// Bytes the output buffer holds allocated (up to twice what is queued, as a `Vec` grows).
    pub fn output_allocated(&self) -> usize {
        self.out.capacity()
    }

    // ----- outputs -----

    /// The next thing to tell the application, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Everything queued for the peer since the last call, as one buffer.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            return None;
        }
        self.sent_since_check = true;
        // The next buffer starts with room for a small publish: grown from empty, one would
        // reallocate it four times on the way to ~100 bytes. Not more: the transport may queue
        // many buffers, and their capacity is memory too (tests/memory.rs).
        Some(std::mem::replace(&mut self.out, Vec::with_capacity(128)))
    }

    /// When to call [`Engine::handle_timeout`] next (the earliest running timer), `None` when no
    /// deadline is running.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.timers.next()
    }

    // ----- inputs -----

    /// Bytes received from the transport, split or coalesced in any way.
    pub fn handle_bytes(&mut self, data: &[u8]) {
        if self.state == ConnState::Closed {
            return;
        }
        self.received_since_check = true;
        self.decoder.extend(data);
        loop {
            match self.decoder.next_raw() {
                Ok(Some(RawFrame::Frame(frame))) => self.handle_frame(frame),
                Ok(Some(RawFrame::Header(ch, payload))) => {
                    // `payload` borrows the decoder: decoded here, where the fields are apart.
                    match content::decode_header(&mut self.channels, ch, payload) {
                        Ok(size) => self.content_header(ch, size),
                        Err(e) => return self.protocol_violation(Error::decode(e)),
                    }
                }
                Ok(None) => return,
                Err(DecodeError::ProtocolHeader(h)) => {
                    let offered = crate::protocol::codec::byte_list(&h[4..]);
                    let text = format!("broker refused AMQP 0-9-1 and offered protocol {offered}");
                    return self.fail(Error::ConnectionLost {
                        cause: TransportError::Refused(text),
                        handshake: true,
                    });
                }
                Err(e) => return self.protocol_violation(Error::decode(e)),
            }
            if self.state == ConnState::Closed {
                return;
            }
        }
    }

    /// Time has passed: handles every timer that is due at `now`, in [`Timer::VALUES`] order.
    pub fn handle_timeout(&mut self, now: Millis) {
        for timer in Timer::VALUES {
            if self.state == ConnState::Closed {
                return;
            }
            if !self.timers.is_expired(timer, now) {
                continue;
            }
            self.timers.stop(timer);
            match timer {
                Timer::SendHeartbeat => self.heartbeat_check(now),
                Timer::PeerSilent => self.peer_silent(now),
                Timer::Handshake => self.fail(Error::Timeout),
                Timer::CloseOk => self.finish_close(Some(Error::Timeout)),
                Timer::Operation => self.operation_check(now),
            }
        }
    }

    /// The transport ended (EOF or error) without an AMQP close. While closing that finishes
    /// the close cleanly; otherwise the connection is lost, `handshake` saying whether it was
    /// open yet.
    pub fn handle_transport_closed(&mut self, cause: TransportError) {
        match self.state {
            ConnState::Closed => {}
            ConnState::Closing => self.finish_close(None),
            state => self.fail(Error::ConnectionLost {
                cause,
                handshake: state.is_handshaking(),
            }),
        }
    }
}
