//! What the engine reports to its driver through `poll_event`.

use super::error::Error;
use crate::protocol::{BasicProperties, FieldTable, Method, ReplyCode, ShortStr};
use bytes::Bytes;

/// Identifies a synchronous request so its reply can be matched up.
pub type ReqId = u64;

/// A message delivered by `basic.deliver` or `basic.get-ok`.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub channel: u16,
    /// Empty for `basic.get`.
    pub consumer_tag: ShortStr,
    pub delivery_tag: u64,
    pub redelivered: bool,
    pub exchange: ShortStr,
    pub routing_key: ShortStr,
    /// Messages left in the queue; only `basic.get` reports it.
    pub message_count: Option<u32>,
    pub properties: BasicProperties,
    pub body: Bytes,
}

/// A mandatory message the broker could not route, sent back with `basic.return`.
#[derive(Debug, Clone, PartialEq)]
pub struct Returned {
    pub channel: u16,
    pub reply_code: ReplyCode,
    pub reply_text: ShortStr,
    pub exchange: ShortStr,
    pub routing_key: ShortStr,
    pub properties: BasicProperties,
    pub body: Bytes,
}

/// The successful outcome of a synchronous request.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// The `*-ok` method that answered the request.
    Method(Method),
    /// `basic.get`: a message, or `None` for `get-empty`.
    Get(Option<Box<Delivery>>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The handshake finished; the connection is usable.
    Opened {
        server_properties: FieldTable,
    },
    /// A synchronous request completed.
    Reply {
        req: ReqId,
        result: Result<Response, Error>,
    },
    Delivery(Box<Delivery>),
    Return(Box<Returned>),
    /// Publisher confirm for sequence number `seq` on a confirm-mode channel.
    Confirm {
        channel: u16,
        seq: u64,
        acked: bool,
    },
    /// The broker cancelled a consumer (e.g. its queue was deleted).
    ConsumerCancelled {
        channel: u16,
        consumer_tag: ShortStr,
    },
    /// A channel ended; every consumer, pending confirm and call on it is over. `None` = closed by us.
    ChannelClosed {
        channel: u16,
        error: Option<Error>,
    },
    /// The broker asked to pause (`false`) or resume (`true`) publishing on a channel.
    Flow {
        channel: u16,
        active: bool,
    },
    Blocked {
        reason: String,
    },
    Unblocked,
    /// The connection ended. After this the driver closes the transport; `None` = closed by us.
    Closed {
        error: Option<Error>,
    },
}
