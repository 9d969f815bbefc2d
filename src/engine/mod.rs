//! The sans-IO connection state machine: every AMQP rule that is not encoding lives here.
//!
//! The engine never performs IO, never awaits and never reads a clock. Its methods fall into four
//! groups:
//!
//! - **getters**: [`Engine::is_open`], [`Engine::frame_max`], [`Engine::channel_max`], [`Engine::heartbeat`];
//! - **inputs** (`handle_*`): bytes from the transport ([`Engine::handle_bytes`]), the passing of time
//!   ([`Engine::handle_timeout`]) and the end of the transport ([`Engine::handle_transport_closed`]);
//! - **commands**: [`Engine::open_channel`], [`Engine::call`], [`Engine::send`], [`Engine::publish`],
//!   [`Engine::close_channel`], [`Engine::close`]. They encode into the outgoing buffer at once and fail
//!   fast (nothing is queued) when the channel or connection is not usable;
//! - **outputs** (`poll_*`): after any input or command the driver calls, in this order,
//!   [`Engine::poll_event`] until `None`, [`Engine::poll_transmit`] (all frames produced since the last
//!   call, coalesced into one buffer: one WebSocket message or one write), and [`Engine::poll_timeout`]
//!   (when to call `handle_timeout` next).
//!
//! Time is a [`Millis`] value from any monotonic clock the driver likes.

mod channel;
mod config;
mod error;
mod events;
mod incoming;
#[cfg(test)]
mod tests;
mod timer;

pub use config::{AuthMechanism, Config};
pub use error::{CloseInfo, Error, TransportError};
pub use events::{Delivery, Event, ReqId, Response, Returned};
pub use timer::Millis;

use crate::protocol::*;
use channel::{Channel, ChannelState, Pending, PendingKind};
use std::collections::{HashMap, VecDeque};
use timer::{Timer, TimerTable};

/// ```text
/// AwaitStart ─start─► AwaitTune ─tune─► AwaitOpenOk ─open-ok─► Open ─close()─► Closing ─close-ok─► Closed
///      └──────────────────┴──────────────────┴───────────────────┴── close from peer / transport end ─► Closed
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    AwaitStart,
    AwaitTune,
    AwaitOpenOk,
    Open,
    Closing,
    Closed,
}

pub struct Engine {
    config: Config,
    state: ConnState,
    decoder: FrameDecoder,
    out: Vec<u8>,
    events: VecDeque<Event>,
    channels: HashMap<u16, Channel>,
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
        // non-AMQP peer cannot make us buffer gigabytes.
        let mut decoder = FrameDecoder::new();
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
            channels: HashMap::new(),
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
        }
    }

    // ----- getters -----

    pub fn is_open(&self) -> bool {
        self.state == ConnState::Open
    }

    pub fn is_closed(&self) -> bool {
        self.state == ConnState::Closed
    }

    pub fn frame_max(&self) -> u32 {
        self.frame_max
    }

    pub fn channel_max(&self) -> u16 {
        self.channel_max
    }

    /// Negotiated heartbeat interval in seconds (0 = off).
    pub fn heartbeat(&self) -> u16 {
        self.heartbeat
    }

    /// Whether a channel exists and is open.
    pub fn channel_is_open(&self, id: u16) -> bool {
        self.channels
            .get(&id)
            .is_some_and(|c| c.state == ChannelState::Open)
    }

    // ----- outputs -----

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Everything queued for the peer since the last call, as one buffer.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            return None;
        }
        self.sent_since_check = true;
        Some(std::mem::take(&mut self.out))
    }

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
            match self.decoder.next_frame() {
                Ok(Some(frame)) => {
                    self.handle_frame(frame);
                    if self.state == ConnState::Closed {
                        return;
                    }
                }
                Ok(None) => return,
                Err(DecodeError::ProtocolHeader(h)) => {
                    let text = format!(
                        "broker refused AMQP 0-9-1 and offered protocol {:?}",
                        &h[4..]
                    );
                    return self.fail(Error::ConnectionLost {
                        cause: TransportError::Refused(text),
                        handshake: true,
                    });
                }
                Err(e) => return self.protocol_violation(Error::decode(e)),
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
            }
        }
    }

    /// The transport ended (EOF or error) without an AMQP close.
    pub fn handle_transport_closed(&mut self, cause: TransportError) {
        match self.state {
            ConnState::Closed => {}
            ConnState::Closing => self.finish_close(None),
            ConnState::AwaitStart | ConnState::AwaitTune | ConnState::AwaitOpenOk => {
                self.fail(Error::ConnectionLost {
                    cause,
                    handshake: true,
                })
            }
            ConnState::Open => self.fail(Error::ConnectionLost {
                cause,
                handshake: false,
            }),
        }
    }

    // ----- commands -----

    /// Opens a channel with the given id, or the lowest free one. The reply is `channel.open-ok`.
    pub fn open_channel(&mut self, id: Option<u16>) -> Result<(u16, ReqId), Error> {
        self.check_open()?;
        let max = if self.channel_max == 0 {
            u16::MAX
        } else {
            self.channel_max
        };
        let id = match id {
            Some(0) => {
                return Err(Error::InvalidArgument(
                    "channel 0 is reserved for the connection".into(),
                ))
            }
            Some(id) if id > max => {
                return Err(Error::InvalidArgument(format!(
                    "channel {id} exceeds channel_max {max}"
                )))
            }
            Some(id) if self.channels.contains_key(&id) => {
                return Err(Error::InvalidArgument(format!(
                    "channel {id} is already open"
                )))
            }
            Some(id) => id,
            None => (1..=max)
                .find(|i| !self.channels.contains_key(i))
                .ok_or(Error::NoFreeChannel)?,
        };
        encode_method(
            &mut self.out,
            id,
            &Method::ChannelOpen(ChannelOpen::default()),
        )?;
        let mut ch = Channel::new();
        let req = self.alloc_req();
        ch.pending.push_back(Pending {
            req,
            kind: PendingKind::Plain,
            expect: (20, 11),
        });
        self.channels.insert(id, ch);
        Ok((id, req))
    }

    /// Sends a synchronous method and returns the id its reply will carry in [`Event::Reply`].
    /// Methods sent with `nowait` complete immediately with a `Reply` carrying the request itself.
    pub fn call(&mut self, channel: u16, method: Method) -> Result<ReqId, Error> {
        let expect = match reply_for(&method) {
            Some(e) => e,
            None => {
                return Err(Error::InvalidArgument(format!(
                    "{} expects no reply; use send",
                    method.name()
                )))
            }
        };
        if channel == 0 {
            self.check_open()?;
            encode_method(&mut self.out, 0, &method)?;
            let req = self.alloc_req();
            self.conn_pending.push_back(Pending {
                req,
                kind: PendingKind::Plain,
                expect,
            });
            return Ok(req);
        }
        let nowait = is_nowait(&method);
        let kind = match &method {
            Method::BasicGet(_) => PendingKind::Get,
            Method::ChannelClose(_) => PendingKind::Close,
            _ => PendingKind::Plain,
        };
        let confirm = matches!(method, Method::ConfirmSelect(_));
        self.usable_channel(channel)?;
        encode_method(&mut self.out, channel, &method)?;
        let req = self.alloc_req();
        let Some(ch) = self.channels.get_mut(&channel) else {
            return Err(Error::NotOpen("channel"));
        };
        if confirm && ch.confirm_next.is_none() {
            ch.confirm_next = Some(1);
        }
        if kind == PendingKind::Close {
            ch.state = ChannelState::Closing;
        }
        if nowait {
            self.events.push_back(Event::Reply {
                req,
                result: Ok(Response::Method(method)),
            });
        } else {
            ch.pending.push_back(Pending { req, kind, expect });
        }
        Ok(req)
    }

    /// Sends a method that has no reply (ack, nack, reject, recover-async, flow-ok...).
    pub fn send(&mut self, channel: u16, method: &Method) -> Result<(), Error> {
        if reply_for(method).is_some() && !is_nowait(method) {
            return Err(Error::InvalidArgument(format!(
                "{} expects a reply; use call",
                method.name()
            )));
        }
        self.usable_channel(channel)?;
        encode_method(&mut self.out, channel, method)?;
        Ok(())
    }

    /// Publishes a message; returns its confirm sequence number on a confirm-mode channel.
    #[allow(clippy::too_many_arguments)]
    pub fn publish(
        &mut self,
        channel: u16,
        exchange: &str,
        routing_key: &str,
        mandatory: bool,
        immediate: bool,
        properties: &BasicProperties,
        body: &[u8],
    ) -> Result<Option<u64>, Error> {
        self.usable_channel(channel)?;
        let out = &mut self.out;
        encode_publish(
            out,
            channel,
            exchange,
            routing_key,
            mandatory,
            immediate,
            properties,
            body,
            self.frame_max,
        )?;
        let Some(ch) = self.channels.get_mut(&channel) else {
            return Err(Error::NotOpen("channel"));
        };
        Ok(ch.confirm_next.as_mut().map(|next| {
            let seq = *next;
            *next += 1;
            ch.unconfirmed.push_back(seq);
            seq
        }))
    }

    /// Closes a channel normally (reply 200).
    pub fn close_channel(&mut self, channel: u16) -> Result<ReqId, Error> {
        let close = ChannelClose {
            reply_code: 200,
            reply_text: "bye".into(),
            class_id: 0,
            method_id: 0,
        };
        self.call(channel, Method::ChannelClose(close))
    }

    /// Closes the connection at time `now`; [`Event::Closed`] follows when the broker confirms,
    /// or with `Error::Timeout` when no close-ok arrives within `Config::close_timeout`.
    pub fn close(&mut self, code: ReplyCode, text: &str, now: Millis) -> Result<(), Error> {
        match self.state {
            ConnState::Closed | ConnState::Closing => return Ok(()),
            ConnState::Open => {}
            _ => {
                // Mid-handshake there is no one to say goodbye to: just end.
                self.finish_close(Some(Error::NotOpen("connection")));
                return Ok(());
            }
        }
        let close = ConnectionClose {
            reply_code: code.0,
            reply_text: text.to_owned(),
            class_id: 0,
            method_id: 0,
        };
        encode_method(&mut self.out, 0, &Method::ConnectionClose(close))?;
        self.state = ConnState::Closing;
        if self.config.close_timeout > 0 {
            self.timers.set(
                Timer::CloseOk,
                now.saturating_add(self.config.close_timeout),
            );
        }
        Ok(())
    }

    // ----- internals shared with incoming.rs -----

    /// [`Timer::SendHeartbeat`] fired: note what arrived, send a heartbeat if we were idle.
    fn heartbeat_check(&mut self, now: Millis) {
        let interval = self.heartbeat as Millis * 1000;
        if self.received_since_check {
            self.received_since_check = false;
            self.timers.set(Timer::PeerSilent, now + 2 * interval);
        }
        if self.sent_since_check || !self.out.is_empty() {
            self.sent_since_check = false;
        } else {
            encode_heartbeat(&mut self.out);
        }
        self.timers.set(Timer::SendHeartbeat, now + interval / 2);
    }

    /// [`Timer::PeerSilent`] fired: nothing arrived for two intervals, unless it just did.
    fn peer_silent(&mut self, now: Millis) {
        if self.received_since_check {
            self.received_since_check = false;
            let interval = self.heartbeat as Millis * 1000;
            self.timers.set(Timer::PeerSilent, now + 2 * interval);
            return;
        }
        let why = format!(
            "no data from the broker for {} s (heartbeat {} s)",
            2 * self.heartbeat,
            self.heartbeat
        );
        self.fail(Error::ConnectionLost {
            cause: TransportError::Timeout(why),
            handshake: false,
        });
    }

    fn alloc_req(&mut self) -> ReqId {
        let r = self.next_req;
        self.next_req += 1;
        r
    }

    fn check_open(&self) -> Result<(), Error> {
        match self.state {
            ConnState::Open => Ok(()),
            ConnState::Closed | ConnState::Closing => Err(self
                .closed_error
                .clone()
                .unwrap_or(Error::NotOpen("connection"))),
            _ => Err(Error::NotOpen("connection")),
        }
    }

    fn usable_channel(&mut self, id: u16) -> Result<&mut Channel, Error> {
        self.check_open()?;
        match self.channels.get_mut(&id) {
            Some(ch) if ch.state != ChannelState::Closing => Ok(ch),
            _ => Err(Error::NotOpen("channel")),
        }
    }

    /// The peer broke the protocol: tell it why with connection.close, then fail everything.
    fn protocol_violation(&mut self, err: Error) {
        if let Some(info) = err.close_info() {
            let close = ConnectionClose {
                reply_code: info.code.0,
                reply_text: info.text.chars().take(200).collect(),
                class_id: info.class_id,
                method_id: info.method_id,
            };
            let _ = encode_method(&mut self.out, 0, &Method::ConnectionClose(close));
        }
        self.fail(err);
    }

    /// Ends the connection with an error: every pending call and channel learns why.
    fn fail(&mut self, err: Error) {
        self.finish_close(Some(err));
    }

    fn finish_close(&mut self, err: Option<Error>) {
        if self.state == ConnState::Closed {
            return;
        }
        self.state = ConnState::Closed;
        self.timers.stop_all();
        let chan_err = err.clone().unwrap_or(Error::NotOpen("connection"));
        for p in std::mem::take(&mut self.conn_pending) {
            self.events.push_back(Event::Reply {
                req: p.req,
                result: Err(chan_err.clone()),
            });
        }
        let mut ids: Vec<u16> = self.channels.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.drop_channel(id, Some(chan_err.clone()));
        }
        self.closed_error = Some(chan_err);
        self.events.push_back(Event::Closed { error: err });
    }

    /// Removes a channel and fails whatever was waiting on it.
    fn drop_channel(&mut self, id: u16, err: Option<Error>) {
        let Some(ch) = self.channels.remove(&id) else {
            return;
        };
        let call_err = err.clone().unwrap_or(Error::NotOpen("channel"));
        for p in ch.pending {
            let result = if p.kind == PendingKind::Close && err.is_none() {
                Ok(Response::Method(Method::ChannelCloseOk))
            } else {
                Err(call_err.clone())
            };
            self.events.push_back(Event::Reply { req: p.req, result });
        }
        self.events.push_back(Event::ChannelClosed {
            channel: id,
            error: err,
        });
    }
}

/// The (class, method) of the reply a synchronous client method expects, `None` for async methods.
fn reply_for(m: &Method) -> Option<(u16, u16)> {
    Some(match m {
        Method::ChannelOpen(_) => (20, 11),
        Method::ChannelFlow(_) => (20, 21),
        Method::ChannelClose(_) => (20, 41),
        Method::AccessRequest(_) => (30, 11),
        Method::ExchangeDeclare(_) => (40, 11),
        Method::ExchangeDelete(_) => (40, 21),
        Method::ExchangeBind(_) => (40, 31),
        Method::ExchangeUnbind(_) => (40, 51),
        Method::QueueDeclare(_) => (50, 11),
        Method::QueueBind(_) => (50, 21),
        Method::QueuePurge(_) => (50, 31),
        Method::QueueDelete(_) => (50, 41),
        Method::QueueUnbind(_) => (50, 51),
        Method::BasicQos(_) => (60, 11),
        Method::BasicConsume(_) => (60, 21),
        Method::BasicCancel(_) => (60, 31),
        Method::BasicGet(_) => (60, 71),
        Method::BasicRecover(_) => (60, 111),
        Method::TxSelect => (90, 11),
        Method::TxCommit => (90, 21),
        Method::TxRollback => (90, 31),
        Method::ConfirmSelect(_) => (85, 11),
        Method::ConnectionUpdateSecret(_) => (10, 71),
        _ => return None,
    })
}

fn is_nowait(m: &Method) -> bool {
    match m {
        Method::ExchangeDeclare(x) => x.nowait,
        Method::ExchangeDelete(x) => x.nowait,
        Method::ExchangeBind(x) => x.nowait,
        Method::ExchangeUnbind(x) => x.nowait,
        Method::QueueDeclare(x) => x.nowait,
        Method::QueueBind(x) => x.nowait,
        Method::QueuePurge(x) => x.nowait,
        Method::QueueDelete(x) => x.nowait,
        Method::BasicConsume(x) => x.nowait,
        Method::BasicCancel(x) => x.nowait,
        Method::ConfirmSelect(x) => x.nowait,
        _ => false,
    }
}
