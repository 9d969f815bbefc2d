//! Frames from the broker, routed: connection methods to the handshake and close logic, channel
//! methods to replies of pending calls, content assembly, confirms and the broker's own requests
//! (close, cancel, flow). Also how a connection or channel ends and fails what waited on it.

use super::channel::PendingKind;
use super::content::{Assembly, ContentStart};
use super::events::{Event, Response};
use super::state::{AfterPeerClose, ConnState, InvalidTransition};
use super::{CloseInfo, Engine, Error};
use crate::protocol::*;

impl Engine {
    pub(super) fn handle_frame(&mut self, frame: Frame) {
        match frame {
            Frame::Heartbeat => {}
            Frame::Method(0, m) => self.connection_method(m),
            Frame::Method(ch, m) => self.channel_method(ch, m),
            // handle_bytes takes headers raw (content_header); a decoded one is placed the same way.
            Frame::Header(ch, h) => {
                let awaiting = self.channels.get_mut(&ch).and_then(|c| c.content.as_mut());
                if let Some(a) = awaiting.filter(|a| a.size.is_none()) {
                    *a.properties_mut() = h.properties;
                }
                self.content_header(ch, h.body_size)
            }
            Frame::Body(ch, b) => self.content_body(ch, b),
        }
    }

    /// A frame the protocol does not allow here: connection.close with 505, then fail everything.
    pub(super) fn unexpected(&mut self, what: String) {
        let info = CloseInfo {
            code: ReplyCode::UNEXPECTED_FRAME,
            text: what,
            class_id: 0,
            method_id: 0,
        };
        self.protocol_violation(Error::ConnectionClosed(info));
    }

    /// A frame that breaks a limit or the framing rules: connection.close with 501, then fail.
    pub(super) fn frame_error(&mut self, what: String) {
        let info = CloseInfo {
            code: ReplyCode::FRAME_ERROR,
            text: what,
            class_id: 0,
            method_id: 0,
        };
        self.protocol_violation(Error::ConnectionClosed(info));
    }

    fn connection_method(&mut self, m: Method) {
        let step = match &m {
            Method::ConnectionStart(_) => self.state.recv_start(),
            Method::ConnectionSecure(_) => self.state.recv_secure(),
            Method::ConnectionTune(_) => self.state.recv_tune(),
            Method::ConnectionOpenOk(_) => self.state.recv_open_ok(),
            Method::ConnectionCloseOk => self.state.recv_close_ok(),
            Method::ConnectionUpdateSecretOk => self.state.recv_update_secret_ok(),
            // Allowed in every state.
            Method::ConnectionClose(_)
            | Method::ConnectionBlocked(_)
            | Method::ConnectionUnblocked => Ok(()),
            other => Err(InvalidTransition {
                state: "on channel 0",
                event: other.name(),
            }),
        };
        if step.is_err() {
            if self.state == ConnState::Closing {
                return; // everything else is moot once we said goodbye
            }
            return self.unexpected(format!("unexpected {} on channel 0", m.name()));
        }
        match m {
            Method::ConnectionStart(start) => self.on_start(start),
            Method::ConnectionSecure(_) => self.on_secure(),
            Method::ConnectionTune(tune) => self.on_tune(tune),
            Method::ConnectionOpenOk(_) => self.on_open_ok(),
            Method::ConnectionClose(c) => {
                let _ = encode_method(&mut self.out, 0, &Method::ConnectionCloseOk);
                self.fail(Error::ConnectionClosed(close_info(
                    c.reply_code,
                    c.reply_text,
                    c.class_id,
                    c.method_id,
                )));
            }
            Method::ConnectionCloseOk => self.finish_close(None),
            Method::ConnectionBlocked(b) => {
                self.blocked = true;
                let reason = b.reason.into();
                self.events.push_back(Event::Blocked { reason })
            }
            Method::ConnectionUnblocked => {
                self.blocked = false;
                self.events.push_back(Event::Unblocked)
            }
            m @ Method::ConnectionUpdateSecretOk => match self.conn_pending.pop_front() {
                Some(p) => self.events.push_back(Event::Reply {
                    req: p.req,
                    result: Ok(Response::Method(m)),
                }),
                None => self.unexpected("update-secret-ok without a request".into()),
            },
            _ => {} // every other method was answered by the state check above
        }
    }

    fn channel_method(&mut self, id: u16, m: Method) {
        if !self.state.is_open_or_closing() {
            return self.unexpected(format!(
                "{} on channel {id} before the connection opened",
                m.name()
            ));
        }
        let Some(ch) = self.channels.get_mut(&id) else {
            if self.state == ConnState::Closing {
                return;
            }
            let info = CloseInfo {
                code: ReplyCode::CHANNEL_ERROR,
                text: format!("{} on unknown channel {id}", m.name()),
                class_id: m.class_id(),
                method_id: m.method_id(),
            };
            return self.protocol_violation(Error::ConnectionClosed(info));
        };
        if ch.content.is_some() {
            return self.unexpected(format!(
                "{} on channel {id} while a message body was expected",
                m.name()
            ));
        }
        match m {
            Method::ChannelClose(c) => self.peer_channel_close(id, c),
            Method::ChannelCloseOk => match ch.state.recv_close_ok() {
                Ok(()) => {
                    let err = ch.peer_close.take();
                    self.drop_channel(id, err);
                }
                Err(_) => self.unexpected(format!(
                    "channel.close-ok on channel {id}, which we did not close"
                )),
            },
            _ if ch.state.is_closing() => {} // after channel.close only close-ok matters
            Method::BasicAck(a) => {
                for seq in ch.settle(a.delivery_tag, a.multiple) {
                    self.events.push_back(confirm(id, seq, true));
                }
            }
            Method::BasicNack(n) => {
                for seq in ch.settle(n.delivery_tag, n.multiple) {
                    self.events.push_back(confirm(id, seq, false));
                }
            }
            Method::BasicDeliver(d) => {
                let start = ContentStart::deliver(id, d);
                ch.content = Some(Assembly::new(start));
            }
            Method::BasicGetOk(g) => ch.content = Some(Assembly::new(ContentStart::get(id, g))),
            Method::BasicReturn(r) => {
                ch.content = Some(Assembly::new(ContentStart::returned(id, r)));
            }
            m => self.broker_request_or_reply(id, m),
        }
    }

    /// channel.close from the broker: answer close-ok and end the channel (or, when our own
    /// close crossed it, remember why until our close-ok arrives).
    fn peer_channel_close(&mut self, id: u16, c: ChannelClose) {
        let _ = encode_method(&mut self.out, id, &Method::ChannelCloseOk);
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        let info = close_info(c.reply_code, c.reply_text, c.class_id, c.method_id);
        let err = Error::ChannelClosed(info);
        match ch.state.recv_close() {
            // Our channel.close crossed the broker's: its close-ok for ours still
            // follows, so keep the id reserved until then.
            AfterPeerClose::AwaitCloseOk => ch.peer_close = Some(err),
            AfterPeerClose::Remove => self.drop_channel(id, Some(err)),
        }
    }

    /// A method on an open channel that is neither content nor a confirm: the broker's own
    /// requests (cancel, flow) or the reply to a pending call.
    fn broker_request_or_reply(&mut self, id: u16, m: Method) {
        match m {
            Method::BasicCancel(c) => {
                if !c.nowait {
                    let ok = Method::BasicCancelOk(BasicCancelOk {
                        consumer_tag: c.consumer_tag.clone(),
                    });
                    let _ = encode_method(&mut self.out, id, &ok);
                }
                self.events.push_back(Event::ConsumerCancelled {
                    channel: id,
                    consumer_tag: c.consumer_tag,
                });
            }
            Method::ChannelFlow(f) => {
                let ok = Method::ChannelFlowOk(ChannelFlowOk { active: f.active });
                let _ = encode_method(&mut self.out, id, &ok);
                self.events.push_back(Event::Flow {
                    channel: id,
                    active: f.active,
                });
            }
            Method::BasicGetEmpty(_) => {
                self.complete(id, MethodId::BASIC_GET_EMPTY, Ok(Response::Get(None)))
            }
            m => self.complete(id, m.id(), Ok(Response::Method(m))),
        }
    }

    /// Completes the oldest pending call on a channel with its reply.
    pub(super) fn complete(&mut self, id: u16, key: MethodId, result: Result<Response, Error>) {
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        match ch.pending.front() {
            Some(p) if p.expect.contains(&key) => {}
            _ => return self.unexpected(format!("reply {key} on channel {id} matches no request")),
        }
        let Some(p) = ch.pending.pop_front() else {
            return;
        };
        if key == MethodId::CHANNEL_OPEN_OK {
            if let Err(e) = ch.state.recv_open_ok() {
                return self.unexpected(format!("{e} on channel {id}"));
            }
        }
        if p.kind == PendingKind::Get && !matches!(result, Ok(Response::Get(_))) {
            return self.unexpected(format!("reply {key} to basic.get"));
        }
        self.events.push_back(Event::Reply { req: p.req, result });
    }

    // ----- endings -----

    /// The peer broke the protocol: tell it why with connection.close, then fail everything.
    pub(super) fn protocol_violation(&mut self, err: Error) {
        if let Some(info) = err.close_info() {
            let close = ConnectionClose {
                reply_code: info.code.0,
                reply_text: info.text.chars().take(200).collect::<String>().into(),
                class_id: info.class_id,
                method_id: info.method_id,
            };
            let _ = encode_method(&mut self.out, 0, &Method::ConnectionClose(close));
        }
        self.fail(err);
    }

    /// Ends the connection with an error: every pending call and channel learns why.
    pub(super) fn fail(&mut self, err: Error) {
        self.finish_close(Some(err));
    }

    /// Ends the connection (`None` = cleanly): stops every timer, fails pending calls and
    /// channels, and emits the one [`Event::Closed`].
    pub(super) fn finish_close(&mut self, err: Option<Error>) {
        if self.state == ConnState::Closed {
            return;
        }
        self.state.end();
        self.timers.stop_all();
        let chan_err = err.clone().unwrap_or(Error::NotOpen("connection"));
        for p in std::mem::take(&mut self.conn_pending) {
            self.events.push_back(Event::Reply {
                req: p.req,
                result: Err(chan_err.clone()),
            });
        }
        // lowest id first, so events come in a stable order; a min scan rather than a sort keeps
        // the wasm's only sort routine (3.5 KB) out, and a close ends few channels
        while let Some(&id) = self.channels.keys().min() {
            self.drop_channel(id, Some(chan_err.clone()));
        }
        self.closed_error = Some(chan_err);
        self.events.push_back(Event::Closed { error: err });
    }

    /// Removes a channel and fails whatever was waiting on it.
    pub(super) fn drop_channel(&mut self, id: u16, err: Option<Error>) {
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

fn confirm(channel: u16, seq: u64, acked: bool) -> Event {
    Event::Confirm {
        channel,
        seq,
        acked,
    }
}

fn close_info(code: u16, text: ShortStr, class_id: u16, method_id: u16) -> CloseInfo {
    CloseInfo {
        code: ReplyCode(code),
        text: text.into(),
        class_id,
        method_id,
    }
}
