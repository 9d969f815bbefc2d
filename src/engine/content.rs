//! Content assembly: a content-bearing method (deliver, get-ok, return) is followed by a header
//! frame and body frames; the message is emitted when the body is complete.

use super::events::{Delivery, Event, Response, Returned};
use super::state::ConnState;
use super::Engine;
use crate::protocol::*;
use bytes::{Bytes, BytesMut};

/// A content-bearing method waiting for its header and body frames.
#[derive(Debug, Clone)]
pub enum ContentStart {
    Deliver(Delivery),
    Get(Delivery),
    Return(Returned),
}

#[derive(Debug, Clone)]
pub struct Assembly {
    pub start: ContentStart,
    pub header: Option<(u64, BasicProperties)>,
    /// The first body frame is kept as-is: a body in one frame is never copied.
    pub first: Option<Bytes>,
    pub rest: BytesMut,
    pub received: u64,
}

/// Largest up-front allocation for a body; larger bodies grow as frames arrive, so a lying
/// header cannot make us allocate gigabytes.
const MAX_PREALLOC: u64 = 1 << 20;

impl Assembly {
    pub fn new(start: ContentStart) -> Self {
        Assembly {
            start,
            header: None,
            first: None,
            rest: BytesMut::new(),
            received: 0,
        }
    }

    pub fn add_body(&mut self, chunk: Bytes) {
        self.received += chunk.len() as u64;
        match self.first.take() {
            None if self.rest.is_empty() => self.first = Some(chunk),
            None => self.rest.extend_from_slice(&chunk),
            Some(first) => {
                let size = self.header.as_ref().map_or(0, |h| h.0);
                self.rest.reserve(size.min(MAX_PREALLOC) as usize);
                self.rest.extend_from_slice(&first);
                self.rest.extend_from_slice(&chunk);
            }
        }
    }

    pub fn body(&mut self) -> Bytes {
        match self.first.take() {
            Some(b) => b,
            None => std::mem::take(&mut self.rest).freeze(),
        }
    }
}

impl ContentStart {
    /// The content-bearing methods a broker sends on channel `id`; `Err` gives the method back.
    pub fn from_method(id: u16, m: Method) -> Result<ContentStart, Method> {
        Ok(match m {
            Method::BasicDeliver(d) => ContentStart::Deliver(Delivery {
                channel: id,
                consumer_tag: d.consumer_tag,
                delivery_tag: d.delivery_tag,
                redelivered: d.redelivered,
                exchange: d.exchange,
                routing_key: d.routing_key,
                message_count: None,
                properties: BasicProperties::default(),
                body: Bytes::new(),
            }),
            Method::BasicGetOk(g) => ContentStart::Get(Delivery {
                channel: id,
                consumer_tag: String::new(),
                delivery_tag: g.delivery_tag,
                redelivered: g.redelivered,
                exchange: g.exchange,
                routing_key: g.routing_key,
                message_count: Some(g.message_count),
                properties: BasicProperties::default(),
                body: Bytes::new(),
            }),
            Method::BasicReturn(r) => ContentStart::Return(Returned {
                channel: id,
                reply_code: ReplyCode(r.reply_code),
                reply_text: r.reply_text,
                exchange: r.exchange,
                routing_key: r.routing_key,
                properties: BasicProperties::default(),
                body: Bytes::new(),
            }),
            other => return Err(other),
        })
    }
}

impl Engine {
    /// Content frames that finish a method discarded after we sent channel.close (or
    /// connection.close): deliveries the broker had in flight. Ignored, not a protocol error.
    fn discarding_content(&self, id: u16) -> bool {
        match self.channels.get(&id) {
            Some(ch) => ch.content.is_none() && ch.state.is_closing(),
            None => self.state == ConnState::Closing,
        }
    }

    pub(super) fn content_header(&mut self, id: u16, h: ContentHeader) {
        if self.discarding_content(id) {
            return;
        }
        let assembly = self.channels.get_mut(&id).and_then(|c| c.content.as_mut());
        match assembly {
            Some(a) if a.header.is_none() => {
                let size = h.body_size;
                let limit = self.config.max_message_size;
                if limit != 0 && size > limit {
                    // Refused from the header alone: nothing of the body is buffered.
                    return self.frame_error(format!(
                        "content header on channel {id} declares a body of {size} bytes, \
                         above max_message_size ({limit} bytes)"
                    ));
                }
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

    pub(super) fn content_body(&mut self, id: u16, body: Bytes) {
        if self.discarding_content(id) {
            return;
        }
        let assembly = self.channels.get_mut(&id).and_then(|c| c.content.as_mut());
        match assembly {
            Some(a) if a.header.is_some() => {
                let size = a.header.as_ref().map_or(0, |h| h.0);
                if a.received + body.len() as u64 > size {
                    // Checked before buffering: a peer that streams bodies past the size it
                    // declared cannot make us hold more than that size.
                    return self.unexpected(format!(
                        "message body on channel {id} longer than its header said ({size} bytes)"
                    ));
                }
                a.add_body(body);
                if a.received == size {
                    self.finish_content(id);
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
                let reply = Ok(Response::Get(Some(Box::new(d))));
                self.complete(id, MethodId::BASIC_GET_OK, reply);
            }
            ContentStart::Return(mut r) => {
                r.properties = properties;
                r.body = body;
                self.events.push_back(Event::Return(Box::new(r)));
            }
        }
    }
}
