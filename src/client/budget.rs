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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_reader_pauses_at_the_limit_and_is_woken_when_room_returns() {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let b = ReadBudget::new(1000);
        b.charge(600);
        assert!(b.poll_room(&mut cx));
        b.charge(600);
        assert!(!b.poll_room(&mut cx), "1200 of 1000 used");
        b.release(100);
        assert!(
            !flag.0.load(Ordering::SeqCst),
            "still over the limit: no wake"
        );
        b.release(200);
        assert!(flag.0.load(Ordering::SeqCst), "back under the limit: woken");
        assert!(b.poll_room(&mut cx));
        assert_eq!(b.used(), 900);
    }
}
