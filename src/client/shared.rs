//! State shared between the user's handles and the driver: the engine plus the tables that route
//! engine events to waiting futures and consumers.

use super::message::Message;
use super::reply::ReplyRx;
use crate::engine::{Engine, Error, ReqId, Response, Returned};
use crate::protocol::FieldTable;
use futures::channel::{mpsc, oneshot};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

pub(crate) type ConsumerTx = mpsc::UnboundedSender<Result<Message, Error>>;

/// Connection-level notifications.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionEvent {
    Blocked(String),
    Unblocked,
}

pub(crate) struct Inner {
    pub engine: Engine,
    pub waiters: HashMap<ReqId, oneshot::Sender<Result<Response, Error>>>,
    /// Consumers whose consume-ok has not arrived yet, keyed by the consume request.
    pub pending_consumers: HashMap<ReqId, (u16, ConsumerTx)>,
    pub consumers: Consumers,
    pub confirms: HashMap<(u16, u64), oneshot::Sender<Result<(), Error>>>,
    pub returns: HashMap<u16, mpsc::UnboundedSender<Returned>>,
    /// Flow state per channel as last set by the broker (absent = active).
    pub flow_paused: HashMap<u16, bool>,
    pub listeners: Vec<mpsc::UnboundedSender<ConnectionEvent>>,
    pub opened: Option<oneshot::Sender<Result<(), Error>>>,
    pub closed_waiters: Vec<oneshot::Sender<Option<Error>>>,
    /// Set once the connection ended: `Some(None)` = closed by us.
    pub closed: Option<Option<Error>>,
    pub driver_waker: Option<Waker>,
    pub server_properties: FieldTable,
    /// Epoch of the channel currently holding each id (see [`ChannelKey`]).
    pub epochs: HashMap<u16, u64>,
    pub next_epoch: u64,
    /// Bound on the handshake and on waiting for close-ok, in ms.
    pub timeout_ms: u64,
    /// Why recently closed channels ended, by epoch.
    pub channel_errors: HashMap<u64, Error>,
    /// The transport could not take more data on the last flush; publishers wait for the drain.
    pub write_blocked: bool,
    pub drain_waiters: Vec<oneshot::Sender<()>>,
}

/// The live consumers of a connection. A handful at most, so a vector searched by (channel, tag)
/// beats a map: no key allocation per delivery, less code in the wasm.
#[derive(Default)]
pub(crate) struct Consumers(Vec<(u16, String, ConsumerTx)>);

impl Consumers {
    pub fn insert(&mut self, channel: u16, tag: String, tx: ConsumerTx) {
        self.remove(channel, &tag);
        self.0.push((channel, tag, tx));
    }

    pub fn get(&self, channel: u16, tag: &str) -> Option<&ConsumerTx> {
        self.0
            .iter()
            .find(|c| c.0 == channel && c.1 == tag)
            .map(|c| &c.2)
    }

    pub fn remove(&mut self, channel: u16, tag: &str) -> Option<ConsumerTx> {
        let i = self.0.iter().position(|c| c.0 == channel && c.1 == tag)?;
        Some(self.0.swap_remove(i).2)
    }

    /// Removes and returns the consumers of one channel, or of all channels.
    pub fn take(&mut self, channel: Option<u16>) -> Vec<ConsumerTx> {
        let (gone, kept) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|c| channel.is_none_or(|ch| c.0 == ch));
        self.0 = kept;
        gone.into_iter()
            .map(|c: (u16, String, ConsumerTx)| c.2)
            .collect()
    }
}

/// A channel id plus the epoch of the channel that had it when the handle was made: ids are
/// reused after a close, and a stale handle must not act on the channel that now has its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChannelKey {
    pub id: u16,
    pub epoch: u64,
}

impl Inner {
    /// Whether a handle's channel is still the live one; if not, why it ended.
    pub fn check(&self, key: ChannelKey) -> Result<(), Error> {
        match self.epochs.get(&key.id) {
            Some(&e) if e == key.epoch => Ok(()),
            _ => Err(match (&self.closed, self.channel_errors.get(&key.epoch)) {
                (_, Some(e)) | (Some(Some(e)), None) => e.clone(),
                _ => Error::NotOpen("channel"),
            }),
        }
    }

    /// Forgets a closed channel, keeping its error (if any) for calls on stale handles.
    pub fn channel_ended(&mut self, id: u16, error: Option<&Error>) {
        let Some(epoch) = self.epochs.remove(&id) else {
            return;
        };
        if let Some(e) = error {
            if self.channel_errors.len() >= 256 {
                // Bounded memory under channel churn: the oldest reasons go first.
                if let Some(&oldest) = self.channel_errors.keys().min() {
                    self.channel_errors.remove(&oldest);
                }
            }
            self.channel_errors.insert(epoch, e.clone());
        }
    }

    pub fn set_write_blocked(&mut self, blocked: bool) {
        self.write_blocked = blocked;
        if !blocked {
            for tx in self.drain_waiters.drain(..) {
                let _ = tx.send(());
            }
        }
    }

    /// Resolves once the transport has room again (at once if it has now).
    pub fn drained(&mut self) -> Option<oneshot::Receiver<()>> {
        if !self.write_blocked {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        self.drain_waiters.push(tx);
        Some(rx)
    }

    /// Registers interest in the reply to `req` and wakes the driver to send the request.
    pub fn wait_for(&mut self, req: ReqId) -> oneshot::Receiver<Result<Response, Error>> {
        let (tx, rx) = oneshot::channel();
        self.waiters.insert(req, tx);
        self.kick();
        rx
    }

    /// Records a newly opened channel and returns its key.
    pub fn register_channel(&mut self, id: u16) -> ChannelKey {
        self.next_epoch += 1;
        self.epochs.insert(id, self.next_epoch);
        ChannelKey {
            id,
            epoch: self.next_epoch,
        }
    }

    /// The key of the channel that has `id` now, for handles made by the driver (deliveries).
    pub fn key_of(&self, id: u16) -> ChannelKey {
        ChannelKey {
            id,
            epoch: self.epochs.get(&id).copied().unwrap_or(0),
        }
    }

    /// Wakes the driver so it transmits what a command queued.
    pub fn kick(&mut self) {
        if let Some(w) = self.driver_waker.take() {
            w.wake();
        }
    }
}

#[derive(Clone)]
pub(crate) struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    pub fn new(engine: Engine, opened: oneshot::Sender<Result<(), Error>>) -> Shared {
        Shared(Arc::new(Mutex::new(Inner {
            engine,
            waiters: HashMap::new(),
            pending_consumers: HashMap::new(),
            consumers: Consumers::default(),
            confirms: HashMap::new(),
            returns: HashMap::new(),
            flow_paused: HashMap::new(),
            listeners: Vec::new(),
            opened: Some(opened),
            closed_waiters: Vec::new(),
            closed: None,
            driver_waker: None,
            server_properties: FieldTable::new(),
            epochs: HashMap::new(),
            next_epoch: 0,
            timeout_ms: 30_000,
            channel_errors: HashMap::new(),
            write_blocked: false,
            drain_waiters: Vec::new(),
        })))
    }

    /// A poisoned lock only means another handle panicked; the state itself stays consistent.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a command that returns a request id, on behalf of a channel handle when `on` is given
    /// (refused if that channel is gone); `then` runs under the same lock right after. Returns the
    /// receiver of the reply.
    pub fn request(
        &self,
        on: Option<ChannelKey>,
        f: impl FnOnce(&mut Engine) -> Result<ReqId, Error>,
        then: impl FnOnce(&mut Inner, ReqId),
    ) -> Result<ReplyRx, Error> {
        let mut inner = self.lock();
        if let Some(key) = on {
            inner.check(key)?;
        }
        let req = f(&mut inner.engine)?;
        then(&mut inner, req);
        Ok(inner.wait_for(req))
    }

    /// [`Shared::request`] without a hook, awaiting the reply.
    pub async fn call(
        &self,
        on: Option<ChannelKey>,
        f: impl FnOnce(&mut Engine) -> Result<ReqId, Error>,
    ) -> Result<Response, Error> {
        let rx = self.request(on, f, |_, _| {})?;
        rx.await.unwrap_or(Err(Error::NotOpen("connection")))
    }

    /// Runs a command that needs no reply, for a channel handle when `on` is given.
    pub fn run<T>(
        &self,
        on: Option<ChannelKey>,
        f: impl FnOnce(&mut Engine) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut inner = self.lock();
        if let Some(key) = on {
            inner.check(key)?;
        }
        let out = f(&mut inner.engine)?;
        inner.kick();
        Ok(out)
    }
}
