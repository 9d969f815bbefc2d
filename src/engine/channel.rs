//! Per-channel state: pending synchronous calls, content assembly, publisher-confirm sequence.

use super::error::Error;
use super::events::{Delivery, ReqId, Returned};
use crate::protocol::BasicProperties;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// ```text
///  open_channel ──► Opening ──open-ok──► Open ──close()──► Closing ──close-ok──► (removed)
///                      │                   │
///                      └──── channel.close from broker: close-ok sent ──► (removed)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    Opening,
    Open,
    Closing,
}

/// What a pending call does when its reply arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingKind {
    Plain,
    Get,
    Close,
}

#[derive(Debug)]
pub struct Pending {
    pub req: ReqId,
    pub kind: PendingKind,
    /// The reply's (class, method) ids that complete this call.
    pub expect: (u16, u16),
}

/// A content-bearing method waiting for its header and body frames.
#[derive(Debug)]
pub enum ContentStart {
    Deliver(Delivery),
    Get(Delivery),
    Return(Returned),
}

#[derive(Debug)]
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

#[derive(Debug)]
pub struct Channel {
    pub state: ChannelState,
    pub pending: VecDeque<Pending>,
    pub content: Option<Assembly>,
    /// `Some(next sequence number)` once confirm.select was sent: the broker numbers publishes from then on.
    pub confirm_next: Option<u64>,
    /// Sequence numbers published and not yet acked or nacked, ascending.
    pub unconfirmed: VecDeque<u64>,
    /// The broker's channel.close that crossed ours; reported when its close-ok arrives.
    pub peer_close: Option<Error>,
}

impl Channel {
    pub fn new() -> Self {
        Channel {
            state: ChannelState::Opening,
            pending: VecDeque::new(),
            content: None,
            confirm_next: None,
            unconfirmed: VecDeque::new(),
            peer_close: None,
        }
    }

    /// Removes the sequence numbers covered by an ack/nack for `tag` and returns them.
    pub fn settle(&mut self, tag: u64, multiple: bool) -> Vec<u64> {
        if multiple {
            let n = self.unconfirmed.iter().take_while(|&&s| s <= tag).count();
            self.unconfirmed.drain(..n).collect()
        } else {
            match self.unconfirmed.iter().position(|&s| s == tag) {
                Some(i) => {
                    self.unconfirmed.remove(i);
                    vec![tag]
                }
                None => Vec::new(),
            }
        }
    }
}

impl Default for Channel {
    fn default() -> Self {
        Self::new()
    }
}
