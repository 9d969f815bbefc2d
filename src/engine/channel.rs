//! Per-channel bookkeeping: its lifecycle state, pending synchronous calls, the message being
//! assembled, and the publisher-confirm sequence.

use super::content::Assembly;
use super::error::Error;
use super::events::ReqId;
use super::state::ChannelState;
use crate::protocol::MethodId;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// What a pending call does when its reply arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingKind {
    Plain,
    Get,
    Close,
}

#[derive(Debug, Clone)]
pub struct Pending {
    pub req: ReqId,
    pub kind: PendingKind,
    /// The reply methods that complete this call (generated from the spec).
    pub expect: &'static [MethodId],
    /// When the call times out (`Config::operation_timeout`); `None` until the next
    /// operation check stamps it with the time it runs at (commands are not given the time).
    pub deadline: Option<u64>,
}

impl Pending {
    pub fn new(req: ReqId, kind: PendingKind, expect: &'static [MethodId]) -> Self {
        Pending {
            req,
            kind,
            expect,
            deadline: None,
        }
    }
}

#[derive(Debug, Clone)]
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

/// The engine's channels by id. Looked up for every frame and publish, so not with SipHash:
/// ids are small numbers the engine hands out itself (a peer naming others only finds nothing),
/// so a multiplicative hash is enough and costs a multiply.
pub type Channels = HashMap<u16, Channel, BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of a `u16` channel id (the high bits, which hashbrown uses for its tags,
/// take every bit of the id).
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u16(&mut self, id: u16) {
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
