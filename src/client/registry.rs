//! Which channel holds each id right now. Ids are reused after a close, so every open channel gets
//! an epoch, and a handle made for an older epoch (a [`ChannelKey`]) cannot act on the channel
//! that has its id today; it learns why its own channel ended instead.

use crate::engine::Error;
use std::collections::HashMap;

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
    epochs: HashMap<u16, u64>,
    next_epoch: u64,
    /// Why recently closed channels ended, by epoch.
    reasons: HashMap<u64, Error>,
}

impl ChannelRegistry {
    /// Records a newly opened channel and returns its key.
    pub fn register(&mut self, id: u16) -> ChannelKey {
        self.next_epoch += 1;
        self.epochs.insert(id, self.next_epoch);
        ChannelKey {
            id,
            epoch: self.next_epoch,
        }
    }

    /// Whether a handle's channel is still the live one; if not, why it ended (or, failing that,
    /// why the connection did).
    pub fn current(&self, key: ChannelKey, connection_error: Option<&Error>) -> Result<(), Error> {
        match self.epochs.get(&key.id) {
            Some(&e) if e == key.epoch => Ok(()),
            _ => Err(match (self.reasons.get(&key.epoch), connection_error) {
                (Some(e), _) | (None, Some(e)) => e.clone(),
                _ => Error::NotOpen("channel"),
            }),
        }
    }

    /// Forgets a closed channel, keeping its error (if any) for calls on stale handles.
    pub fn ended(&mut self, id: u16, error: Option<&Error>) {
        let Some(epoch) = self.epochs.remove(&id) else {
            return;
        };
        if let Some(e) = error {
            if self.reasons.len() >= KEPT_REASONS {
                // Bounded memory under channel churn: the oldest reasons go first.
                if let Some(&oldest) = self.reasons.keys().min() {
                    self.reasons.remove(&oldest);
                }
            }
            self.reasons.insert(epoch, e.clone());
        }
    }
}
