//! What the user's handles and the driver share: the engine and the router behind one lock, plus
//! the read budget (atomic, so consumers take messages without the lock).

use super::budget::ReadBudget;
use super::registry::ChannelKey;
use super::reply::ReplyRx;
use super::router::Router;
use crate::engine::{Engine, Error, ReqId};
use futures::channel::oneshot;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

/// Whether the transport can take more data; publishers wait for the drain when it cannot.
#[derive(Default)]
pub(crate) struct WriteGate {
    blocked: bool,
    waiters: Vec<oneshot::Sender<()>>,
}

impl WriteGate {
    pub fn set_blocked(&mut self, blocked: bool) {
        self.blocked = blocked;
        if !blocked {
            for tx in self.waiters.drain(..) {
                let _ = tx.send(());
            }
        }
    }

    /// Resolves once the transport has room again; `None` if it has room now.
    pub fn drained(&mut self) -> Option<oneshot::Receiver<()>> {
        if !self.blocked {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.push(tx);
        Some(rx)
    }
}

/// Everything behind the connection's lock.
pub(crate) struct ConnectionState {
    pub engine: Engine,
    pub router: Router,
    pub write: WriteGate,
    /// The driver's waker, taken by the first command that needs something sent.
    driver: Option<Waker>,
}

impl ConnectionState {
    /// Whether a handle's channel is still the live one; if not, why it ended.
    pub fn ensure_current(&self, key: ChannelKey) -> Result<(), Error> {
        let connection_error = match &self.router.ended {
            Some(end) => end.error(),
            None => None,
        };
        self.router.channels.current(key, connection_error.as_ref())
    }

    /// Registers interest in the reply to `req` and wakes the driver to send the request.
    pub fn expect_reply(&mut self, req: ReqId) -> ReplyRx {
        let (tx, rx) = oneshot::channel();
        self.router.waiters.insert(req, tx);
        self.wake_driver();
        rx
    }

    /// The driver parks here; commands wake it so it transmits what they queued.
    pub fn park_driver(&mut self, waker: &Waker) {
        match &mut self.driver {
            Some(w) => w.clone_from(waker),
            None => self.driver = Some(waker.clone()),
        }
    }

    pub fn wake_driver(&mut self) {
        if let Some(w) = self.driver.take() {
            w.wake();
        }
    }
}

struct Core {
    state: Mutex<ConnectionState>,
    budget: ReadBudget,
    /// Bytes handed to the transport and not yet flushed (kept by the driver, read by
    /// publishers without the driver's lock step).
    unflushed: AtomicUsize,
}

/// How many bytes may wait to be written (queued in the engine plus handed to a congested
/// transport) before a publish is refused with `Error::WriteBufferFull` (`basic_publish` waits
/// instead). One message larger than this still goes when nothing else waits.
pub(crate) const WRITE_BUFFER_LIMIT: usize = 32 << 20;

#[derive(Clone)]
pub(crate) struct Shared(Arc<Core>);

impl Shared {
    pub fn same(&self, other: &Shared) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub fn new(engine: Engine, router: Router, read_budget: usize) -> Shared {
        Shared(Arc::new(Core {
            state: Mutex::new(ConnectionState {
                engine,
                router,
                write: WriteGate::default(),
                driver: None,
            }),
            budget: ReadBudget::new(read_budget),
            unflushed: AtomicUsize::new(0),
        }))
    }

    /// A poisoned lock only means another handle panicked; the state itself stays consistent.
    pub fn lock(&self) -> MutexGuard<'_, ConnectionState> {
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn budget(&self) -> &ReadBudget {
        &self.0.budget
    }

    pub fn unflushed(&self) -> usize {
        self.0.unflushed.load(Ordering::Acquire)
    }

    pub fn set_unflushed(&self, n: usize) {
        self.0.unflushed.store(n, Ordering::Release);
    }

    /// Queues a method that has a reply, on behalf of a channel handle when `on` is given (refused
    /// if that channel is gone); `then` runs under the same lock right after. Returns the
    /// receiver of the reply.
    pub fn request(
        &self,
        on: Option<ChannelKey>,
        f: impl FnOnce(&mut Engine) -> Result<ReqId, Error>,
        then: impl FnOnce(&mut ConnectionState, ReqId),
    ) -> Result<ReplyRx, Error> {
        let mut state = self.lock();
        if let Some(key) = on {
            state.ensure_current(key)?;
        }
        let req = f(&mut state.engine)?;
        then(&mut state, req);
        Ok(state.expect_reply(req))
    }

    /// Runs a command that has no reply, for a channel handle when `on` is given.
    pub fn command<T>(
        &self,
        on: Option<ChannelKey>,
        f: impl FnOnce(&mut Engine) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut state = self.lock();
        if let Some(key) = on {
            state.ensure_current(key)?;
        }
        let out = f(&mut state.engine)?;
        state.wake_driver();
        Ok(out)
    }
}
