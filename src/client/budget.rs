//! The read budget: how many bytes of delivered messages may wait for the application before the
//! driver stops reading the transport. Natively that stops the socket and TCP pushes back on the
//! broker; a transport that cannot push back bounds its own buffer (see `transport/`).

use futures::task::AtomicWaker;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Context;

pub(crate) struct ReadBudget {
    limit: usize,
    used: AtomicUsize,
    /// The driver, parked because the budget ran out.
    reader: AtomicWaker,
}

/// What one queued message counts against the budget: its body plus a fixed share for the
/// envelope (routing key, properties, queue slot), so floods of empty messages count too.
pub(crate) fn cost(body_len: usize) -> usize {
    body_len + 256
}

impl ReadBudget {
    pub fn new(limit: usize) -> Self {
        ReadBudget {
            limit: limit.max(1),
            used: AtomicUsize::new(0),
            reader: AtomicWaker::new(),
        }
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    pub fn charge(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
    }

    /// The application took a message: wake the driver if that made room.
    pub fn release(&self, bytes: usize) {
        let before = self.used.fetch_sub(bytes, Ordering::AcqRel);
        if before >= self.limit && before - bytes < self.limit {
            self.reader.wake();
        }
    }

    /// Whether the driver may read now; if not, it is woken when a release makes room.
    pub fn poll_room(&self, cx: &mut Context<'_>) -> bool {
        if self.used() < self.limit {
            return true;
        }
        self.reader.register(cx.waker());
        // A release between the check and the registration would have found no waker.
        self.used() < self.limit
    }
}
