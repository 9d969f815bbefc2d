//! State shared between the user's handles and the driver: the engine plus the tables that route
//! engine events to waiting futures and consumers.

use super::message::Message;
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
    pub consumers: HashMap<(u16, String), ConsumerTx>,
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
}

impl Inner {
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
            consumers: HashMap::new(),
            confirms: HashMap::new(),
            returns: HashMap::new(),
            flow_paused: HashMap::new(),
            listeners: Vec::new(),
            opened: Some(opened),
            closed_waiters: Vec::new(),
            closed: None,
            driver_waker: None,
            server_properties: FieldTable::new(),
        })))
    }

    /// A poisoned lock only means another handle panicked; the state itself stays consistent.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a command that returns a request id and waits for its reply.
    pub async fn call(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<ReqId, Error>,
    ) -> Result<Response, Error> {
        self.call_then(f, |_, _| {}).await
    }

    /// Like [`Shared::call`], running `then` under the same lock right after the command was queued.
    pub async fn call_then(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<ReqId, Error>,
        then: impl FnOnce(&mut Inner, ReqId),
    ) -> Result<Response, Error> {
        let rx = {
            let mut inner = self.lock();
            let req = f(&mut inner.engine)?;
            let (tx, rx) = oneshot::channel();
            inner.waiters.insert(req, tx);
            then(&mut inner, req);
            inner.kick();
            rx
        };
        rx.await.unwrap_or(Err(Error::NotOpen("connection")))
    }

    /// Runs a command that needs no reply.
    pub fn run<T>(&self, f: impl FnOnce(&mut Engine) -> Result<T, Error>) -> Result<T, Error> {
        let mut inner = self.lock();
        let out = f(&mut inner.engine)?;
        inner.kick();
        Ok(out)
    }
}
