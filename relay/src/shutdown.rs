//! Graceful shutdown. SIGTERM (or SIGINT) moves the relay to *draining*: the listener closes,
//! open connections carry on; at the drain deadline it moves to *closing*, and every connection
//! still open is sent a WebSocket close (1001) and ended. Connection tasks hold a [`TaskToken`];
//! the process exits once the last one is gone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Notify};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Running,
    Draining,
    Closing,
}

pub struct Shutdown {
    phase: watch::Sender<Phase>,
    tasks: AtomicUsize,
    idle: Notify,
}

/// Held by every connection task for its whole life.
pub struct TaskToken(Arc<Shutdown>);

impl Shutdown {
    pub fn new() -> Arc<Shutdown> {
        let (phase, _) = watch::channel(Phase::Running);
        Arc::new(Shutdown {
            phase,
            tasks: AtomicUsize::new(0),
            idle: Notify::new(),
        })
    }

    pub fn token(self: &Arc<Self>) -> TaskToken {
        self.tasks.fetch_add(1, Ordering::AcqRel);
        TaskToken(self.clone())
    }

    pub fn tasks(&self) -> usize {
        self.tasks.load(Ordering::Acquire)
    }

    pub fn draining(&self) -> bool {
        *self.phase.borrow() != Phase::Running
    }

    pub fn subscribe(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    pub fn set(&self, phase: Phase) {
        self.phase.send_if_modified(|p| {
            let later = phase > *p;
            if later {
                *p = phase;
            }
            later
        });
    }

    /// Resolves when no connection task is left.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.tasks() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for TaskToken {
    fn drop(&mut self) {
        if self.0.tasks.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Resolves once the phase is `phase` or later.
pub async fn reached(rx: &mut watch::Receiver<Phase>, phase: Phase) {
    // an error means the Shutdown is gone, which only happens as the process exits
    let _ = rx.wait_for(|p| *p >= phase).await;
}
