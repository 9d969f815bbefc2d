//! A message received from a consumer or `basic_get`, with the means to settle it.

use super::registry::ChannelKey;
use super::shared::Shared;
use crate::engine::{Delivery, Error};
use crate::protocol::{BasicAck, BasicNack, BasicProperties, BasicReject, Method, ShortStr};
use bytes::Bytes;

pub struct Message {
    pub channel: u16,
    pub consumer_tag: ShortStr,
    pub delivery_tag: u64,
    pub redelivered: bool,
    pub exchange: ShortStr,
    pub routing_key: ShortStr,
    /// Messages left in the queue (basic.get only).
    pub message_count: Option<u32>,
    pub properties: BasicProperties,
    pub body: Bytes,
    key: ChannelKey,
    shared: Shared,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("channel", &self.channel)
            .field("delivery_tag", &self.delivery_tag)
            .field("exchange", &self.exchange)
            .field("routing_key", &self.routing_key)
            .field("properties", &self.properties)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Message {
    pub(crate) fn new(d: Delivery, key: ChannelKey, shared: Shared) -> Message {
        Message {
            channel: d.channel,
            consumer_tag: d.consumer_tag,
            delivery_tag: d.delivery_tag,
            redelivered: d.redelivered,
            exchange: d.exchange,
            routing_key: d.routing_key,
            message_count: d.message_count,
            properties: d.properties,
            body: d.body,
            key,
            shared,
        }
    }

    /// The body as UTF-8 text (invalid sequences replaced).
    pub fn body_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    pub fn ack(&self) -> Result<(), Error> {
        self.settle(Method::BasicAck(BasicAck {
            delivery_tag: self.delivery_tag,
            multiple: false,
        }))
    }

    pub fn nack(&self, requeue: bool) -> Result<(), Error> {
        let m = BasicNack {
            delivery_tag: self.delivery_tag,
            multiple: false,
            requeue,
        };
        self.settle(Method::BasicNack(m))
    }

    pub fn reject(&self, requeue: bool) -> Result<(), Error> {
        let m = BasicReject {
            delivery_tag: self.delivery_tag,
            requeue,
        };
        self.settle(Method::BasicReject(m))
    }

    fn settle(&self, m: Method) -> Result<(), Error> {
        let ch = self.channel;
        self.shared.command(Some(self.key), |e| e.send(ch, &m))
    }
}
