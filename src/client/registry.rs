//! Which channel holds each id right now. Ids are reused after a close, so every open channel gets
//! an epoch, and a handle made for an older epoch (a [`ChannelKey`]) cannot act on the channel
//! that has its id today; it learns why its own channel ended instead.

use crate::engine::Error;
use std::collections::VecDeque;

/// A channel id plus the epoch of the channel that had it when the handle was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChannelKey {
    pub id: u16,
    pub epoch: u64,
}

/// Why recently ended channels ended are kept for stale handles, up to this many.
const KEPT_REASONS: usize = 256;

#[derive(Default)]
pub(crate) struct ChannelRegistry {
    /// (id, epoch) of the open channels: a scan per call, which for the few channels a
    /// connection holds costs less than a hash map type costs the wasm in code.
    epochs: Vec<(u16, u64)>,
    next_epoch: u64,
    /// Why recently closed channels ended, by epoch, the latest last: read only by calls on
    /// stale handles, so a bounded queue searched from the back is enough (and less code than a map).
    reasons: VecDeque<(u64, Error)>,
}

impl ChannelRegistry {
    /// Records a newly opened channel and returns its key.
    pub fn register(&mut self, id: u16) -> ChannelKey {
        self.next_epoch += 1;
        self.epochs.retain(|e| e.0 != id);
        self.epochs.push((id, self.next_epoch));
        ChannelKey {
            id,
            epoch: self.next_epoch,
        }
    }

    /// Whether a handle's channel is still the live one; if not, why it ended (or, failing that,
    /// why the connection did).
    pub fn current(&self, key: ChannelKey, connection_error: Option<&Error>) -> Result<(), Error> {
        match self.epochs.iter().find(|e| e.0 == key.id) {
            Some(&(_, e)) if e == key.epoch => Ok(()),
            _ => Err(match (self.reason(key.epoch), connection_error) {
                (Some(e), _) | (None, Some(e)) => e.clone(),
                _ => Error::NotOpen("channel"),
            }),
        }
    }

    /// Forgets a closed channel, keeping its error (if any) for calls on stale handles.
    pub fn ended(&mut self, id: u16, error: Option<&Error>) {
        let Some(i) = self.epochs.iter().position(|e| e.0 == id) else {
            return;
        };
        let (_, epoch) = self.epochs.swap_remove(i);
        if let Some(e) = error {
            if self.reasons.len() >= KEPT_REASONS {
                // Bounded memory under channel churn: the oldest reasons go first.
                self.reasons.pop_front();
            }
            self.reasons.push_back((epoch, e.clone()));
        }
    }

    fn reason(&self, epoch: u64) -> Option<&Error> {
        self.reasons
            .iter()
            .rev()
            .find(|r| r.0 == epoch)
            .map(|r| &r.1)
    }
}
