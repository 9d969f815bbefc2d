//! Frames from the broker: the handshake, replies to pending calls, content assembly and
//! everything the broker may send unasked (deliveries, returns, confirms, closes, flow, blocked).

use super::channel::{Assembly, ContentStart, PendingKind};
use super::events::{Delivery, Event, Response, Returned};
use super::timer::Timer;
use super::{AuthMechanism, CloseInfo, ConnState, Engine, Error};
use crate::protocol::*;
use bytes::Bytes;

impl Engine {
    pub(super) fn handle_frame(&mut self, frame: Frame) {
        match frame {
            Frame::Heartbeat => {}
            Frame::Method(0, m) => self.connection_method(m),
            Frame::Method(ch, m) => self.channel_method(ch, m),
            Frame::Header(ch, h) => self.content_header(ch, h),
            Frame::Body(ch, b) => self.content_body(ch, b),
        }
    }

    fn unexpected(&mut self, what: String) {
        let info = CloseInfo {
            code: ReplyCode::UNEXPECTED_FRAME,
            text: what,
            class_id: 0,
            method_id: 0,
        };
        self.protocol_violation(Error::ConnectionClosed(info));
    }

    fn connection_method(&mut self, m: Method) {
        match (self.state, m) {
            (ConnState::AwaitStart, Method::ConnectionStart(start)) => self.on_start(start),
            (ConnState::AwaitTune, Method::ConnectionSecure(_)) => {
                // PLAIN and AMQPLAIN never need a second round; answer with the same response.
                let response = self.auth_response();
                let _ = encode_method(
                    &mut self.out,
                    0,
                    &Method::ConnectionSecureOk(ConnectionSecureOk { response }),
                );
            }
            (ConnState::AwaitTune, Method::ConnectionTune(tune)) => self.on_tune(tune),
            (ConnState::AwaitOpenOk, Method::ConnectionOpenOk(_)) => {
                self.state = ConnState::Open;
                self.timers.stop(Timer::Handshake);
                let server_properties = std::mem::take(&mut self.server_properties);
                self.events.push_back(Event::Opened { server_properties });
            }
            (_, Method::ConnectionClose(c)) => {
                let _ = encode_method(&mut self.out, 0, &Method::ConnectionCloseOk);
                let info = CloseInfo {
                    code: ReplyCode(c.reply_code),
                    text: c.reply_text,
                    class_id: c.class_id,
                    method_id: c.method_id,
                };
                self.fail(Error::ConnectionClosed(info));
            }
            (ConnState::Closing, Method::ConnectionCloseOk) => self.finish_close(None),
            (_, Method::ConnectionBlocked(b)) => {
                self.events.push_back(Event::Blocked { reason: b.reason })
            }
            (_, Method::ConnectionUnblocked) => self.events.push_back(Event::Unblocked),
            (ConnState::Open | ConnState::Closing, m @ Method::ConnectionUpdateSecretOk) => {
                match self.conn_pending.pop_front() {
                    Some(p) => self.events.push_back(Event::Reply {
                        req: p.req,
                        result: Ok(Response::Method(m)),
                    }),
                    None => self.unexpected("update-secret-ok without a request".into()),
                }
            }
            (ConnState::Closing, _) => {} // everything else is moot once we said goodbye
            (_, m) => self.unexpected(format!("unexpected {} on channel 0", m.name())),
        }
    }

    fn on_start(&mut self, start: ConnectionStart) {
        let mechanism = self.config.auth_mechanism.name();
        let offered = String::from_utf8_lossy(&start.mechanisms).into_owned();
        if !offered.split(' ').any(|m| m == mechanism) {
            let text = format!("broker does not offer {mechanism} (offers {offered})");
            let info = CloseInfo {
                code: ReplyCode::ACCESS_REFUSED,
                text,
                class_id: 10,
                method_id: 11,
            };
            return self.fail(Error::ConnectionClosed(info));
        }
        self.server_properties = start.server_properties;
        let start_ok = ConnectionStartOk {
            client_properties: self.client_properties(),
            mechanism: mechanism.into(),
            response: self.auth_response(),
            locale: "en_US".into(),
        };
        match encode_method(&mut self.out, 0, &Method::ConnectionStartOk(start_ok)) {
            Ok(()) => self.state = ConnState::AwaitTune,
            Err(e) => self.fail(Error::Encode(e)),
        }
    }

    fn auth_response(&self) -> Bytes {
        let c = &self.config;
        match c.auth_mechanism {
            AuthMechanism::Plain => {
                let mut v = Vec::with_capacity(c.username.len() + c.password.len() + 2);
                v.push(0);
                v.extend_from_slice(c.username.as_bytes());
                v.push(0);
                v.extend_from_slice(c.password.as_bytes());
                Bytes::from(v)
            }
            AuthMechanism::AmqPlain => {
                // AMQPLAIN: a field table without its length prefix.
                let t = FieldTable::new()
                    .with("LOGIN", c.username.as_str())
                    .with("PASSWORD", c.password.as_str());
                let mut v = Vec::new();
                let _ = t.encode(&mut v);
                Bytes::from(v.split_off(4.min(v.len())))
            }
            AuthMechanism::External => Bytes::new(),
        }
    }

    fn client_properties(&self) -> FieldTable {
        let caps = [
            "publisher_confirms",
            "exchange_exchange_bindings",
            "basic.nack",
            "consumer_cancel_notify",
            "connection.blocked",
            "consumer_priorities",
            "authentication_failure_close",
            "per_consumer_qos",
            "direct_reply_to",
        ];
        let capabilities: FieldTable = caps.iter().map(|c| (*c, true)).collect();
        let mut t = FieldTable::new()
            .with("product", "warren")
            .with("version", env!("CARGO_PKG_VERSION"))
            .with("platform", self.config.platform.as_str())
            .with("information", "https://www.npmjs.com/package/warren-amqp")
            .with("capabilities", capabilities);
        if let Some(name) = &self.config.connection_name {
            t.insert("connection_name", name.as_str());
        }
        for (k, v) in self.config.client_properties.iter() {
            t.insert(k, v.clone());
        }
        t
    }

    fn on_tune(&mut self, tune: ConnectionTune) {
        // Limits: the smaller non-zero value wins (0 means "no limit" on either side).
        let pick = |ours: u32, theirs: u32| match (ours, theirs) {
            (0, t) => t,
            (o, 0) => o,
            (o, t) => o.min(t),
        };
        self.channel_max = match pick(self.config.channel_max.into(), tune.channel_max.into()) {
            0 => u16::MAX,
            n => n as u16,
        };
        // Both sides "unlimited": pick a size that keeps frames cheap to buffer.
        self.frame_max = match pick(self.config.frame_max, tune.frame_max) {
            0 => 131_072,
            n => n.max(FRAME_MIN_SIZE),
        };
        self.heartbeat = self.config.heartbeat.unwrap_or(tune.heartbeat);
        self.decoder.set_max_frame(self.frame_max);
        let tune_ok = ConnectionTuneOk {
            channel_max: self.channel_max,
            frame_max: self.frame_max,
            heartbeat: self.heartbeat,
        };
        let open = ConnectionOpen {
            virtual_host: self.config.vhost.clone(),
            capabilities: String::new(),
            insist: false,
        };
        let res = encode_method(&mut self.out, 0, &Method::ConnectionTuneOk(tune_ok))
            .and_then(|_| encode_method(&mut self.out, 0, &Method::ConnectionOpen(open)));
        match res {
            Ok(()) => {
                self.state = ConnState::AwaitOpenOk;
                if self.heartbeat > 0 {
                    // Armed on the next handle_timeout, which knows the time.
                    self.received_since_check = true;
                    self.sent_since_check = true;
                    self.timers.set(Timer::SendHeartbeat, 0);
                }
            }
            Err(e) => self.fail(Error::Encode(e)),
        }
    }

    fn channel_method(&mut self, id: u16, m: Method) {
        if !matches!(self.state, ConnState::Open | ConnState::Closing) {
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
        let closing = ch.state == super::channel::ChannelState::Closing;
        match m {
            Method::ChannelClose(c) => {
                let _ = encode_method(&mut self.out, id, &Method::ChannelCloseOk);
                let info = CloseInfo {
                    code: ReplyCode(c.reply_code),
                    text: c.reply_text,
                    class_id: c.class_id,
                    method_id: c.method_id,
                };
                let err = Error::ChannelClosed(info);
                if closing {
                    // Our channel.close crossed the broker's: its close-ok for ours still
                    // follows, so keep the id reserved until then.
                    ch.peer_close = Some(err);
                } else {
                    self.drop_channel(id, Some(err));
                }
            }
            Method::ChannelCloseOk if closing => {
                let err = ch.peer_close.take();
                self.drop_channel(id, err);
            }
            Method::ChannelCloseOk => self.unexpected(format!(
                "channel.close-ok on channel {id}, which we did not close"
            )),
            _ if closing => {} // after channel.close only close-ok matters
            Method::BasicDeliver(d) => {
                ch.content = Some(Assembly::new(ContentStart::Deliver(Delivery {
                    channel: id,
                    consumer_tag: d.consumer_tag,
                    delivery_tag: d.delivery_tag,
                    redelivered: d.redelivered,
                    exchange: d.exchange,
                    routing_key: d.routing_key,
                    message_count: None,
                    properties: BasicProperties::default(),
                    body: Bytes::new(),
                })))
            }
            Method::BasicGetOk(g) => {
                ch.content = Some(Assembly::new(ContentStart::Get(Delivery {
                    channel: id,
                    consumer_tag: String::new(),
                    delivery_tag: g.delivery_tag,
                    redelivered: g.redelivered,
                    exchange: g.exchange,
                    routing_key: g.routing_key,
                    message_count: Some(g.message_count),
                    properties: BasicProperties::default(),
                    body: Bytes::new(),
                })))
            }
            Method::BasicReturn(r) => {
                ch.content = Some(Assembly::new(ContentStart::Return(Returned {
                    channel: id,
                    reply_code: ReplyCode(r.reply_code),
                    reply_text: r.reply_text,
                    exchange: r.exchange,
                    routing_key: r.routing_key,
                    properties: BasicProperties::default(),
                    body: Bytes::new(),
                })))
            }
            Method::BasicAck(a) => {
                for seq in ch.settle(a.delivery_tag, a.multiple) {
                    self.events.push_back(Event::Confirm {
                        channel: id,
                        seq,
                        acked: true,
                    });
                }
            }
            Method::BasicNack(n) => {
                for seq in ch.settle(n.delivery_tag, n.multiple) {
                    self.events.push_back(Event::Confirm {
                        channel: id,
                        seq,
                        acked: false,
                    });
                }
            }
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
                let _ = encode_method(
                    &mut self.out,
                    id,
                    &Method::ChannelFlowOk(ChannelFlowOk { active: f.active }),
                );
                self.events.push_back(Event::Flow {
                    channel: id,
                    active: f.active,
                });
            }
            Method::BasicGetEmpty(_) => self.complete(id, (60, 71), Ok(Response::Get(None))),
            m => {
                let key = (m.class_id(), m.method_id());
                self.complete(id, key, Ok(Response::Method(m)));
            }
        }
    }

    /// Completes the oldest pending call on a channel with its reply.
    fn complete(&mut self, id: u16, key: (u16, u16), result: Result<Response, Error>) {
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        match ch.pending.front() {
            Some(p) if p.expect == key => {}
            _ => {
                return self.unexpected(format!(
                    "reply {}.{} on channel {id} matches no request",
                    key.0, key.1
                ))
            }
        }
        let Some(p) = ch.pending.pop_front() else {
            return;
        };
        if p.expect == (20, 11) {
            ch.state = super::channel::ChannelState::Open;
        }
        if p.kind == PendingKind::Get && !matches!(result, Ok(Response::Get(_))) {
            return self.unexpected(format!("reply {}.{} to basic.get", key.0, key.1));
        }
        self.events.push_back(Event::Reply { req: p.req, result });
    }

    /// Content frames that finish a method discarded after we sent channel.close (or
    /// connection.close): deliveries the broker had in flight. Ignored, not a protocol error.
    fn discarding_content(&self, id: u16) -> bool {
        match self.channels.get(&id) {
            Some(ch) => ch.content.is_none() && ch.state == super::channel::ChannelState::Closing,
            None => self.state == ConnState::Closing,
        }
    }

    fn content_header(&mut self, id: u16, h: ContentHeader) {
        if self.discarding_content(id) {
            return;
        }
        let assembly = self.channels.get_mut(&id).and_then(|c| c.content.as_mut());
        match assembly {
            Some(a) if a.header.is_none() => {
                let size = h.body_size;
                a.header = Some((size, h.properties));
                if size == 0 {
                    self.finish_content(id);
                }
            }
            _ => self.unexpected(format!(
                "content header on channel {id} without a preceding method"
            )),
        }
    }

    fn content_body(&mut self, id: u16, body: Bytes) {
        if self.discarding_content(id) {
            return;
        }
        let assembly = self.channels.get_mut(&id).and_then(|c| c.content.as_mut());
        match assembly {
            Some(a) if a.header.is_some() => {
                a.add_body(body);
                let size = a.header.as_ref().map_or(0, |h| h.0);
                if a.received == size {
                    self.finish_content(id);
                } else if a.received > size {
                    self.unexpected(format!(
                        "message body on channel {id} longer than its header said"
                    ));
                }
            }
            _ => self.unexpected(format!(
                "body frame on channel {id} without a content header"
            )),
        }
    }

    fn finish_content(&mut self, id: u16) {
        let Some(mut a) = self.channels.get_mut(&id).and_then(|c| c.content.take()) else {
            return;
        };
        let body = a.body();
        let properties = a.header.take().map(|h| h.1).unwrap_or_default();
        match a.start {
            ContentStart::Deliver(mut d) => {
                d.properties = properties;
                d.body = body;
                self.events.push_back(Event::Delivery(Box::new(d)));
            }
            ContentStart::Get(mut d) => {
                d.properties = properties;
                d.body = body;
                self.complete(id, (60, 71), Ok(Response::Get(Some(Box::new(d)))));
            }
            ContentStart::Return(mut r) => {
                r.properties = properties;
                r.body = body;
                self.events.push_back(Event::Return(Box::new(r)));
            }
        }
    }
}
