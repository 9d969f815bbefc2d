//! The bound on publishes a session holds: every publish from call to confirm (waiting for a
//! connection, for the broker to unblock, or for its confirm) takes a slot, counted in messages
//! and bytes. A full outbox refuses at once; nothing is dropped silently.

use super::Inner;
use crate::engine::Error;
use std::sync::Arc;

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
