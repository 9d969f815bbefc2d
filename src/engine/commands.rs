//! Commands: what the driver asks of the engine. Each encodes into the outgoing buffer at once
//! and fails fast (nothing is queued) when the channel or connection is not usable.

use super::channel::{Channel, Pending, PendingKind};
use super::events::{Event, ReqId, Response};
use super::state::ConnState;
use super::timer::{Millis, Timer};
use super::{Engine, Error};
use crate::protocol::*;

impl Engine {
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
        ch.pending.push_back(Pending::new(
            req,
            PendingKind::Plain,
            &[MethodId::CHANNEL_OPEN_OK],
        ));
        self.channels.insert(id, ch);
        self.arm_operation_check();
        Ok((id, req))
    }

    /// Sends a synchronous method and returns the id its reply will carry in [`Event::Reply`].
    /// Methods sent with `nowait` complete immediately with a `Reply` carrying the request itself.
    pub fn call(&mut self, channel: u16, method: Method) -> Result<ReqId, Error> {
        let expect = match request_replies(&method) {
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
            self.conn_pending
                .push_back(Pending::new(req, PendingKind::Plain, expect));
            self.arm_operation_check();
            return Ok(req);
        }
        let nowait = method.nowait().unwrap_or(false);
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
            // usable_channel checked the channel is not closing, so this cannot fail.
            let _ = ch.state.send_close();
        }
        if nowait {
            self.events.push_back(Event::Reply {
                req,
                result: Ok(Response::Method(method)),
            });
        } else {
            ch.pending.push_back(Pending::new(req, kind, expect));
            self.arm_operation_check();
        }
        Ok(req)
    }

    /// Sends a method that has no reply (ack, nack, reject, recover-async, flow-ok...).
    pub fn send(&mut self, channel: u16, method: &Method) -> Result<(), Error> {
        if !method.id().sent_by_client() {
            return Err(Error::InvalidArgument(format!(
                "{} is sent only by servers",
                method.name()
            )));
        }
        if request_replies(method).is_some() && !method.nowait().unwrap_or(false) {
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
            reply_text: ShortStr::from("bye"),
            class_id: 0,
            method_id: 0,
        };
        self.call(channel, Method::ChannelClose(close))
    }

    /// Closes the connection at time `now`; [`Event::Closed`] follows when the broker confirms,
    /// or with `Error::Timeout` when no close-ok arrives within `Config::close_timeout`.
    pub fn close(&mut self, code: ReplyCode, text: &str, now: Millis) -> Result<(), Error> {
        if self.state.is_handshaking() {
            // Mid-handshake there is no one to say goodbye to: just end.
            self.finish_close(Some(Error::NotOpen("connection")));
            return Ok(());
        }
        if self.state != ConnState::Open {
            return Ok(()); // closed or closing already
        }
        let close = ConnectionClose {
            reply_code: code.0,
            reply_text: text.into(),
            class_id: 0,
            method_id: 0,
        };
        encode_method(&mut self.out, 0, &Method::ConnectionClose(close))?;
        let _ = self.state.send_close(); // Open, checked above
        if self.config.close_timeout > 0 {
            self.timers.set(
                Timer::CloseOk,
                now.saturating_add(self.config.close_timeout),
            );
        }
        Ok(())
    }

    // ----- helpers -----

    /// A call now waits for its reply: have the next `handle_timeout` (due at once) stamp its
    /// deadline, since commands are not given the time.
    pub(super) fn arm_operation_check(&mut self) {
        if self.config.operation_timeout > 0 {
            self.timers.set(Timer::Operation, 0);
        }
    }

    pub(super) fn alloc_req(&mut self) -> ReqId {
        let r = self.next_req;
        self.next_req += 1;
        r
    }

    pub(super) fn check_open(&self) -> Result<(), Error> {
        match self.state {
            ConnState::Open => Ok(()),
            ConnState::Closed | ConnState::Closing => Err(self
                .closed_error
                .clone()
                .unwrap_or(Error::NotOpen("connection"))),
            _ => Err(Error::NotOpen("connection")),
        }
    }

    pub(super) fn usable_channel(&mut self, id: u16) -> Result<&mut Channel, Error> {
        self.check_open()?;
        match self.channels.get_mut(&id) {
            Some(ch) if !ch.state.is_closing() => Ok(ch),
            _ => Err(Error::NotOpen("channel")),
        }
    }
}

/// The replies a request sent by [`Engine::call`] waits for (generated from the spec), `None` for
/// methods that are not client requests: asynchronous methods, and the connection methods the
/// engine sends itself (the handshake and connection.close); connection.update-secret is the
/// one connection request left to callers.
fn request_replies(m: &Method) -> Option<&'static [MethodId]> {
    let id = m.id();
    if id.class == MethodId::CONNECTION_START.class && id != MethodId::CONNECTION_UPDATE_SECRET {
        return None;
    }
    Some(m.replies()).filter(|r| !r.is_empty())
}
