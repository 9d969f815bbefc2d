//! Hands what the engine reports to whoever waits for it: replies to their callers, deliveries to
//! consumer queues, confirms to publishers, returns, channel and connection ends. Pure
//! bookkeeping over channels: no transport, no lock, no clock, so it is tested on its own.

use super::budget::{cost, ReadBudget};
use super::registry::ChannelRegistry;
use crate::engine::{Delivery, Error, Event, ReqId, Response, Returned};
use crate::protocol::{FieldTable, Method};
use futures::channel::{mpsc, oneshot};
use std::collections::HashMap;

/// What a consumer's queue carries: deliveries, then at most one error when its channel or
/// connection fails. Each delivery is charged to the read budget until the consumer takes it.
pub(crate) type ConsumerTx = mpsc::UnboundedSender<Result<Box<Delivery>, Error>>;
pub(crate) type ConsumerRx = mpsc::UnboundedReceiver<Result<Box<Delivery>, Error>>;
pub(crate) type ReplyTx = oneshot::Sender<Result<Response, Error>>;
pub(crate) type ConfirmTx = oneshot::Sender<Result<(), Error>>;

/// Connection-level notifications.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionEvent {
    Blocked(String),
    Unblocked,
}

/// How many connection events a listener may leave unread; later ones are dropped for it.
const LISTENER_BACKLOG: usize = 64;

/// How the connection ended, once it has.
#[derive(Debug, Clone)]
pub(crate) enum Ended {
    /// Closed by the application (close-ok received, or the transport ended while closing).
    ByUs,
    Failed(Error),
}

impl Ended {
    pub fn error(&self) -> Option<Error> {
        match self {
            Ended::ByUs => None,
            Ended::Failed(e) => Some(e.clone()),
        }
    }
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

    fn position(&self, channel: u16, tag: &str) -> Option<usize> {
        self.0.iter().position(|c| c.0 == channel && c.1 == tag)
    }

    pub fn remove(&mut self, channel: u16, tag: &str) -> Option<ConsumerTx> {
        let i = self.position(channel, tag)?;
        Some(self.0.swap_remove(i).2)
    }

    /// Removes and returns the consumers of one channel, or of all channels.
    fn take(&mut self, channel: Option<u16>) -> Vec<ConsumerTx> {
        let (gone, kept) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|c| channel.is_none_or(|ch| c.0 == ch));
        self.0 = kept;
        gone.into_iter()
            .map(|c: (u16, String, ConsumerTx)| c.2)
            .collect()
    }
}

pub(crate) struct Router {
    pub waiters: HashMap<ReqId, ReplyTx>,
    /// Consumers whose consume-ok has not arrived yet, keyed by the consume request.
    pub pending_consumers: HashMap<ReqId, (u16, ConsumerTx)>,
    pub consumers: Consumers,
    pub confirms: HashMap<(u16, u64), ConfirmTx>,
    pub returns: HashMap<u16, mpsc::UnboundedSender<Returned>>,
    /// Flow state per channel as last set by the broker (absent = active).
    pub flow_paused: HashMap<u16, bool>,
    listeners: Vec<mpsc::Sender<ConnectionEvent>>,
    /// The handshake's waiter, until the connection opens or fails.
    pub opened: Option<oneshot::Sender<Result<(), Error>>>,
    end_waiters: Vec<oneshot::Sender<Option<Error>>>,
    pub ended: Option<Ended>,
    pub server_properties: FieldTable,
    pub channels: ChannelRegistry,
}

impl Router {
    pub fn new(opened: oneshot::Sender<Result<(), Error>>) -> Router {
        Router {
            waiters: HashMap::new(),
            pending_consumers: HashMap::new(),
            consumers: Consumers::default(),
            confirms: HashMap::new(),
            returns: HashMap::new(),
            flow_paused: HashMap::new(),
            listeners: Vec::new(),
            opened: Some(opened),
            end_waiters: Vec::new(),
            ended: None,
            server_properties: FieldTable::new(),
            channels: ChannelRegistry::default(),
        }
    }

    /// Whether somebody waits for an answer from the broker, which must not be starved by a
    /// paused read side (see [`ReadBudget`]).
    pub fn awaits_broker(&self) -> bool {
        self.opened.is_some() || !self.waiters.is_empty() || !self.confirms.is_empty()
    }

    /// Resolves with how the connection ended: `None` if by us (at once when it already has).
    pub fn on_end(&mut self) -> oneshot::Receiver<Option<Error>> {
        let (tx, rx) = oneshot::channel();
        match &self.ended {
            Some(end) => {
                let _ = tx.send(end.error());
            }
            None => self.end_waiters.push(tx),
        }
        rx
    }

    /// Connection-level notifications from now on.
    pub fn listen(&mut self) -> mpsc::Receiver<ConnectionEvent> {
        let (tx, rx) = mpsc::channel(LISTENER_BACKLOG);
        self.listeners.push(tx);
        rx
    }

    pub fn route(&mut self, ev: Event, budget: &ReadBudget) {
        match ev {
            Event::Opened { server_properties } => {
                self.server_properties = server_properties;
                if let Some(tx) = self.opened.take() {
                    let _ = tx.send(Ok(()));
                }
            }
            Event::Reply { req, result } => {
                if let Some((ch, tx)) = self.pending_consumers.remove(&req) {
                    if let Ok(Response::Method(Method::BasicConsumeOk(ok))) = &result {
                        self.consumers.insert(ch, ok.consumer_tag.clone(), tx);
                    }
                }
                if let Some(tx) = self.waiters.remove(&req) {
                    let _ = tx.send(result);
                }
            }
            Event::Delivery(d) => self.deliver(d, budget),
            Event::Return(r) => {
                if let Some(tx) = self.returns.get(&r.channel) {
                    let _ = tx.unbounded_send(*r);
                }
            }
            Event::Confirm {
                channel,
                seq,
                acked,
            } => {
                if let Some(tx) = self.confirms.remove(&(channel, seq)) {
                    let _ = tx.send(if acked { Ok(()) } else { Err(Error::Nacked) });
                }
            }
            Event::ConsumerCancelled {
                channel,
                consumer_tag,
            } => {
                self.consumers.remove(channel, &consumer_tag);
            }
            Event::ChannelClosed { channel, error } => self.channel_closed(channel, error),
            Event::Flow { channel, active } => {
                self.flow_paused.insert(channel, !active);
            }
            Event::Blocked { reason } => self.broadcast(ConnectionEvent::Blocked(reason)),
            Event::Unblocked => self.broadcast(ConnectionEvent::Unblocked),
            Event::Closed { error } => self.connection_closed(error),
        }
    }

    fn deliver(&mut self, d: Box<Delivery>, budget: &ReadBudget) {
        let (channel, size) = (d.channel, cost(d.body.len()));
        let Some(i) = self.consumers.position(channel, &d.consumer_tag) else {
            return;
        };
        match self.consumers.0[i].2.unbounded_send(Ok(d)) {
            Ok(()) => budget.charge(size),
            // The consumer's reader is gone (dropped mid-dispatch): forget it.
            Err(_) => drop(self.consumers.0.swap_remove(i)),
        }
    }

    fn channel_closed(&mut self, channel: u16, error: Option<Error>) {
        self.channels.ended(channel, error.as_ref());
        let err = error.unwrap_or(Error::NotOpen("channel"));
        for tx in self.consumers.take(Some(channel)) {
            if !matches!(err, Error::NotOpen(_)) {
                let _ = tx.unbounded_send(Err(err.clone()));
            }
        }
        let seqs: Vec<_> = self.confirms.keys().filter(|k| k.0 == channel).copied().collect();
        for k in seqs {
            if let Some(tx) = self.confirms.remove(&k) {
                let _ = tx.send(Err(err.clone()));
            }
        }
        self.returns.remove(&channel);
        self.flow_paused.remove(&channel);
    }

    fn connection_closed(&mut self, error: Option<Error>) {
        let err = error.clone().unwrap_or(Error::NotOpen("connection"));
        if let Some(tx) = self.opened.take() {
            let _ = tx.send(Err(err.clone()));
        }
        for (_, tx) in self.waiters.drain() {
            let _ = tx.send(Err(err.clone()));
        }
        for (_, tx) in self.confirms.drain() {
            let _ = tx.send(Err(err.clone()));
        }
        for tx in self.consumers.take(None) {
            if error.is_some() {
                let _ = tx.unbounded_send(Err(err.clone()));
            }
        }
        self.pending_consumers.clear();
        self.returns.clear();
        self.listeners.clear();
        let end = match error {
            None => Ended::ByUs,
            Some(e) => Ended::Failed(e),
        };
        for tx in self.end_waiters.drain(..) {
            let _ = tx.send(end.error());
        }
        self.ended = Some(end);
    }

    fn broadcast(&mut self, ev: ConnectionEvent) {
        self.listeners.retain_mut(|tx| match tx.try_send(ev.clone()) {
            Ok(()) => true,
            Err(e) => !e.is_disconnected(),
        });
    }
}
