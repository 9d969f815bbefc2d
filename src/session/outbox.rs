//! The bound on publishes a session holds: every publish from call to confirm (waiting for a
//! connection, for the broker to unblock, or for its confirm) takes a slot, counted in messages
//! and bytes. A full outbox refuses at once; nothing is dropped silently. Also the deadlines of
//! the publishes that went out and wait (one timer for all of them).

use super::Inner;
use crate::engine::{Error, Millis};
use crate::rt;
use futures::channel::oneshot;
use std::sync::{Arc, Weak};

#[derive(Debug)]
pub(crate) struct Outbox {
    max_messages: usize,
    max_bytes: usize,
    messages: usize,
    bytes: usize,
}

impl Outbox {
    pub fn new(max_messages: usize, max_bytes: usize) -> Outbox {
        Outbox {
            max_messages,
            max_bytes,
            messages: 0,
            bytes: 0,
        }
    }

    /// Room for one more publish of `bytes`? A single message larger than the byte bound is
    /// admitted into an empty outbox, so it is not refused forever.
    fn admit(&mut self, bytes: usize) -> Result<(), Error> {
        let fits_bytes = self.bytes + bytes <= self.max_bytes || self.messages == 0;
        if self.messages >= self.max_messages || !fits_bytes {
            return Err(Error::OutboxFull);
        }
        self.messages += 1;
        self.bytes += bytes;
        Ok(())
    }

    fn release(&mut self, bytes: usize) {
        self.messages = self.messages.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(bytes);
    }

    pub fn len(&self) -> (usize, usize) {
        (self.messages, self.bytes)
    }
}

/// One publish's place in the outbox, given back when the publish ends (however it ends).
pub(crate) struct Slot {
    inner: Arc<Inner>,
    bytes: usize,
}

impl Slot {
    pub fn take(inner: &Arc<Inner>, bytes: usize) -> Result<Slot, Error> {
        inner.lock().outbox.admit(bytes)?;
        Ok(Slot {
            inner: inner.clone(),
            bytes,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.inner.lock().outbox.release(self.bytes);
    }
}

/// The deadlines of publishes waiting for their confirm: one
/// task sleeps until the earliest and expires what is due, instead of a timer per publish (on
/// wasm each would be a setTimeout and a closure).
#[derive(Default)]
pub(crate) struct Deadlines {
    /// Dropping a sender expires its publish; one whose receiver is gone (the publish ended) is
    /// pruned.
    waiting: Vec<(Millis, oneshot::Sender<()>)>,
    /// Whether the task runs.
    watching: bool,
}

/// The longest the task sleeps, so a deadline earlier than the one it sleeps for (a resend
/// after a reconnect keeps its first deadline) is not missed by more than this.
const RECHECK_MS: u64 = 1_000;

impl Inner {
    /// Resolves (with `Canceled`) when `deadline` has passed.
    pub(crate) fn expiry(self: &Arc<Self>, deadline: Millis) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut st = self.lock();
            let pending = st.outbox.len().0;
            let d = &mut st.deadlines;
            // ended publishes: pruned before they outnumber the waiting ones
            if d.waiting.len() > 2 * pending + 64 {
                d.waiting.retain(|(_, tx)| !tx.is_canceled());
            }
            d.waiting.push((deadline, tx));
            !std::mem::replace(&mut d.watching, true)
        };
        if start {
            super::spawn(expire(Arc::downgrade(self)));
        }
        rx
    }
}

/// The deadline task: runs while any publish waits.
async fn expire(inner: Weak<Inner>) {
    loop {
        let sleep = {
            let Some(inner) = inner.upgrade() else { return };
            let mut st = inner.lock();
            let now = rt::now_ms();
            let d = &mut st.deadlines;
            let mut next = Millis::MAX;
            d.waiting.retain(|(at, tx)| {
                let keep = *at > now && !tx.is_canceled();
                if keep {
                    next = next.min(*at);
                }
                keep
            });
            if d.waiting.is_empty() {
                d.watching = false;
                return;
            }
            (next - now).min(RECHECK_MS)
        };
        rt::sleep_ms(sleep).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_in_messages_and_bytes() {
        let mut o = Outbox::new(3, 100);
        o.admit(40).unwrap();
        o.admit(40).unwrap();
        assert_eq!(o.admit(40), Err(Error::OutboxFull), "140 bytes > 100");
        o.admit(20).unwrap();
        assert_eq!(o.admit(0), Err(Error::OutboxFull), "3 messages");
        o.release(40);
        o.admit(0).unwrap();
        assert_eq!(o.len(), (3, 60));
    }

    #[test]
    fn a_message_larger_than_the_byte_bound_fits_an_empty_outbox() {
        let mut o = Outbox::new(10, 100);
        o.admit(500).unwrap();
        assert_eq!(o.admit(1), Err(Error::OutboxFull));
        o.release(500);
        assert_eq!(o.len(), (0, 0));
    }
}
