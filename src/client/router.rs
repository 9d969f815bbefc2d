//! Hands what the engine reports to whoever waits for it: replies to their callers, deliveries to
//! consumer queues, confirms to publishers, returns, channel and connection ends. Pure
//! bookkeeping over channels: no transport, no lock, no clock, so it is tested on its own.

use super::budget::ReadBudget;
use super::inbox;
use super::registry::ChannelRegistry;
use crate::engine::{Delivery, Error, Event, ReqId, Response, Returned};
use crate::protocol::{FieldTable, Method};
use futures::channel::{mpsc, oneshot};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// The router's maps are keyed by ids and sequence numbers warren hands out itself, so they use
/// the engine's multiplicative hasher instead of SipHash (less code in the wasm, a multiply per
/// lookup).
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<crate::engine::IdHasher>>;

/// What a consumer's queue carries: deliveries, then at most one error when its channel or
/// connection fails. Each delivery is charged to the read budget until the consumer takes it.
pub(crate) type ConsumerTx = mpsc::UnboundedSender<Result<Box<Delivery>, Error>>;
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
pub(crate) struct Consumers {
    live: Vec<(u16, String, ConsumerTx)>,
    /// Tags recently removed (cancelled, dropped, reader gone) and whether they were no-ack:
    /// deliveries already in flight for them still arrive. Bounded by [`GONE_REMEMBERED`].
    gone: std::collections::VecDeque<(u16, String, bool)>,
    /// no-ack flags of the live consumers, parallel to `live`.
    no_ack: Vec<bool>,
}

/// How many removed consumer tags are remembered for their in-flight deliveries.
const GONE_REMEMBERED: usize = 64;

impl Consumers {
    pub fn insert(&mut self, channel: u16, tag: String, no_ack: bool, tx: ConsumerTx) {
        self.remove(channel, &tag);
        self.gone.retain(|g| !(g.0 == channel && g.1 == tag));
        self.live.push((channel, tag, tx));
        self.no_ack.push(no_ack);
    }

    fn position(&self, channel: u16, tag: &str) -> Option<usize> {
        self.live.iter().position(|c| c.0 == channel && c.1 == tag)
    }

    pub fn remove(&mut self, channel: u16, tag: &str) -> Option<ConsumerTx> {
        let i = self.position(channel, tag)?;
        Some(self.remove_at(i))
    }

    fn remove_at(&mut self, i: usize) -> ConsumerTx {
        let (channel, tag, tx) = self.live.swap_remove(i);
        let no_ack = self.no_ack.swap_remove(i);
        if self.gone.len() == GONE_REMEMBERED {
            self.gone.pop_front();
        }
        self.gone.push_back((channel, tag, no_ack));
        tx
    }

    /// Remembers a tag we never had as gone (ack mode), so it is cancelled only once.
    fn forget(&mut self, channel: u16, tag: String) {
        if self.gone.len() == GONE_REMEMBERED {
            self.gone.pop_front();
        }
        self.gone.push_back((channel, tag, false));
    }

    /// Whether a removed consumer with this tag was no-ack (`None`: not known at all).
    fn gone_no_ack(&self, channel: u16, tag: &str) -> Option<bool> {
        self.gone
            .iter()
            .rev()
            .find(|g| g.0 == channel && g.1 == tag)
            .map(|g| g.2)
    }

    /// Removes and returns the consumers of one channel, or of all channels.
    fn take(&mut self, channel: Option<u16>) -> Vec<ConsumerTx> {
        let on = |ch: u16| channel.is_none_or(|c| c == ch);
        self.gone.retain(|g| !on(g.0));
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.live.len() {
            if on(self.live[i].0) {
                let (_, _, tx) = self.live.swap_remove(i);
                self.no_ack.swap_remove(i);
                out.push(tx);
            } else {
                i += 1;
            }
        }
        out
    }
}

/// Removes and returns the items matching `f`.
fn extract<T>(v: &mut Vec<T>, f: impl Fn(&T) -> bool) -> Vec<T> {
    let (gone, kept) = std::mem::take(v).into_iter().partition(f);
    *v = kept;
    gone
}

/// Answers owed to the broker for deliveries nobody reads.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Owed {
    /// (channel, delivery tag) to reject with requeue, so the broker redelivers them.
    pub rejects: Vec<(u16, u64)>,
    /// (channel, consumer tag) to cancel (nowait), so the broker stops sending to them.
    pub cancels: Vec<(u16, String)>,
}

pub(crate) struct Router {
    pub waiters: IdMap<ReqId, ReplyTx>,
    /// (channel, no_ack, queue) of each consumer whose consume-ok has not arrived yet.
    /// A handful at most, so a vector: each hash map type inlines its own insert and rehash.
    pub pending_consumers: Vec<(ReqId, u16, bool, ConsumerTx)>,
    /// What is owed to the broker for deliveries nobody reads; the driver sends it.
    pub owed: Owed,
    pub consumers: Consumers,
    pub confirms: IdMap<(u16, u64), ConfirmTx>,
    /// The returns stream of each channel that asked for one (see `Channel::returns`).
    pub returns: Vec<(u16, mpsc::UnboundedSender<Returned>)>,
    /// The channels the broker has paused with channel.flow (the others are active).
    pub flow_paused: Vec<u16>,
    listeners: Vec<mpsc::Sender<ConnectionEvent>>,
    /// The handshake's waiter, until the connection opens or fails.
    pub opened: Option<oneshot::Sender<Result<(), Error>>>,
    end_waiters: Vec<oneshot::Sender<Option<Error>>>,
    pub ended: Option<Ended>,
    pub server_properties: FieldTable,
    pub channels: ChannelRegistry,
    /// Who waits for a channel to end (see `Channel::closed`), by channel id.
    pub channel_ends: Vec<(u16, oneshot::Sender<Option<Error>>)>,
}

impl Router {
    pub fn new(opened: oneshot::Sender<Result<(), Error>>) -> Router {
        Router {
            waiters: IdMap::default(),
            pending_consumers: Vec::new(),
            owed: Owed::default(),
            consumers: Consumers::default(),
            confirms: IdMap::default(),
            returns: Vec::new(),
            flow_paused: Vec::new(),
            listeners: Vec::new(),
            opened: Some(opened),
            end_waiters: Vec::new(),
            ended: None,
            server_properties: FieldTable::new(),
            channels: ChannelRegistry::default(),
            channel_ends: Vec::new(),
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
                if let Some(i) = self.pending_consumers.iter().position(|p| p.0 == req) {
                    let (_, ch, no_ack, tx) = self.pending_consumers.swap_remove(i);
                    if let Ok(Response::Method(Method::BasicConsumeOk(ok))) = &result {
                        self.consumers
                            .insert(ch, ok.consumer_tag.as_str().into(), no_ack, tx);
                    }
                }
                if let Some(tx) = self.waiters.remove(&req) {
                    let _ = tx.send(result);
                }
            }
            Event::Delivery(d) => self.deliver(d, budget),
            Event::Return(r) => {
                if let Some((_, tx)) = self.returns.iter().find(|t| t.0 == r.channel) {
                    inbox::send(tx, *r, budget);
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
                self.flow_paused.retain(|&c| c != channel);
                if !active {
                    self.flow_paused.push(channel);
                }
            }
            Event::Blocked { reason } => self.broadcast(ConnectionEvent::Blocked(reason)),
            Event::Unblocked => self.broadcast(ConnectionEvent::Unblocked),
            Event::Closed { error } => self.connection_closed(error),
        }
    }

    fn deliver(&mut self, d: Box<Delivery>, budget: &ReadBudget) {
        let (channel, delivery_tag) = (d.channel, d.delivery_tag);
        let tag = match self.consumers.position(channel, &d.consumer_tag) {
            Some(i) => {
                if inbox::send(&self.consumers.live[i].2, Ok(d), budget) {
                    return;
                }
                // The consumer's reader is gone (its handle dropped before consume-ok was
                // routed, so nobody cancelled it): forget it, cancel it on the broker so it
                // stops sending, and give the message back.
                let tag = self.consumers.live[i].1.clone();
                drop(self.consumers.remove_at(i));
                self.owed.cancels.push((channel, tag.clone()));
                tag
            }
            None => d.consumer_tag.as_str().into(),
        };
        match self.consumers.gone_no_ack(channel, &tag) {
            // Settled by the broker on sending: nothing to give back.
            Some(true) => log::debug!(
                "warren: dropped delivery {delivery_tag} on channel {channel} for no-ack consumer \"{tag}\", which is gone"
            ),
            known => {
                log::warn!(
                    "warren: delivery {delivery_tag} on channel {channel} for {} consumer tag \"{tag}\": rejected with requeue",
                    if known.is_some() { "cancelled" } else { "unknown" }
                );
                self.owed.rejects.push((channel, delivery_tag));
                if known.is_none() {
                    // A consumer we never had: cancel it once, or the broker would hand the
                    // requeued message straight back to it, for ever.
                    self.consumers.forget(channel, tag.clone());
                    self.owed.cancels.push((channel, tag));
                }
            }
        }
    }

    /// The basic.reject (requeue) answers owed for deliveries nobody reads, and the
    /// basic.cancel (nowait) owed for consumers nobody reads.
    pub fn take_owed(&mut self) -> Owed {
        std::mem::take(&mut self.owed)
    }

    fn channel_closed(&mut self, channel: u16, error: Option<Error>) {
        self.channels.ended(channel, error.as_ref());
        for (_, tx) in extract(&mut self.channel_ends, |w| w.0 == channel) {
            let _ = tx.send(error.clone());
        }
        let err = error.unwrap_or(Error::NotOpen("channel"));
        for tx in self.consumers.take(Some(channel)) {
            if !matches!(err, Error::NotOpen(_)) {
                let _ = tx.unbounded_send(Err(err.clone()));
            }
        }
        let seqs: Vec<_> = self
            .confirms
            .keys()
            .filter(|k| k.0 == channel)
            .copied()
            .collect();
        for k in seqs {
            if let Some(tx) = self.confirms.remove(&k) {
                let _ = tx.send(Err(err.clone()));
            }
        }
        self.returns.retain(|t| t.0 != channel);
        self.flow_paused.retain(|&c| c != channel);
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
        for (_, tx) in self.channel_ends.drain(..) {
            let _ = tx.send(error.clone());
        }
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
        self.listeners
            .retain_mut(|tx| match tx.try_send(ev.clone()) {
                Ok(()) => true,
                Err(e) => !e.is_disconnected(),
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::CloseInfo;
    use crate::protocol::{BasicConsumeOk, BasicProperties, ReplyCode};
    use bytes::Bytes;

    fn router() -> (Router, oneshot::Receiver<Result<(), Error>>) {
        let (tx, rx) = oneshot::channel();
        (Router::new(tx), rx)
    }

    fn delivery(channel: u16, tag: &str, body: &'static [u8]) -> Event {
        Event::Delivery(Box::new(Delivery {
            channel,
            consumer_tag: tag.into(),
            delivery_tag: 1,
            redelivered: false,
            exchange: crate::protocol::ShortStr::new(),
            routing_key: "k".into(),
            message_count: None,
            properties: BasicProperties::default(),
            body: Bytes::from_static(body),
        }))
    }

    fn consume_ok(req: ReqId, tag: &str) -> Event {
        Event::Reply {
            req,
            result: Ok(Response::Method(Method::BasicConsumeOk(BasicConsumeOk {
                consumer_tag: tag.into(),
            }))),
        }
    }

    fn channel_error() -> Error {
        Error::ChannelClosed(CloseInfo {
            code: ReplyCode::NOT_FOUND,
            text: "NOT_FOUND".into(),
            class_id: 50,
            method_id: 10,
        })
    }

    #[test]
    fn deliveries_reach_their_consumer_once_consume_ok_is_routed_and_are_charged() {
        let (mut r, _) = router();
        let budget = ReadBudget::new(1 << 20);
        let (tx, mut rx) = mpsc::unbounded();
        r.pending_consumers.push((7, 1, false, tx));
        // Before consume-ok the tag is unknown: nothing is queued or charged.
        r.route(delivery(1, "c1", b"early"), &budget);
        assert_eq!(budget.used(), 0);
        r.route(consume_ok(7, "c1"), &budget);
        r.route(delivery(1, "c1", b"hello"), &budget);
        r.route(delivery(2, "c1", b"other channel"), &budget);
        let got = rx.try_recv().expect("queued").expect("a delivery");
        assert_eq!(&got.body[..], b"hello");
        assert!(rx.try_recv().is_err(), "only the matching (channel, tag)");
        assert_eq!(budget.used(), crate::client::budget::cost(5));
    }

    fn owed(rejects: Vec<(u16, u64)>, cancels: Vec<(u16, String)>) -> Owed {
        Owed { rejects, cancels }
    }

    #[test]
    fn deliveries_nobody_reads_are_rejected_for_redelivery_unless_no_ack() {
        let (mut r, _) = router();
        let budget = ReadBudget::new(1 << 20);
        // A tag the broker never gave us (a hostile or confused peer): rejected, requeued.
        r.route(delivery(1, "never-seen", b"x"), &budget);
        let first = owed(vec![(1, 1)], vec![(1, "never-seen".into())]);
        assert_eq!(r.take_owed(), first);
        // ... and cancelled once, not at every redelivery.
        r.route(delivery(1, "never-seen", b"x"), &budget);
        assert_eq!(r.take_owed(), owed(vec![(1, 1)], vec![]));
        // A cancelled ack-mode consumer: its in-flight deliveries go back too.
        let (tx, _rx) = mpsc::unbounded();
        r.consumers.insert(1, "acked".into(), false, tx);
        r.consumers.remove(1, "acked");
        r.route(delivery(1, "acked", b"x"), &budget);
        let again = owed(vec![(1, 1)], vec![]);
        assert_eq!(r.take_owed(), again, "cancelled already");
        // A cancelled no-ack consumer: the broker settled them on sending; nothing to reject.
        let (tx, _rx) = mpsc::unbounded();
        r.consumers.insert(2, "noack".into(), true, tx);
        r.consumers.remove(2, "noack");
        r.route(delivery(2, "noack", b"x"), &budget);
        assert_eq!(r.take_owed(), Owed::default());
        assert_eq!(budget.used(), 0, "nothing charged for any of them");
        // What is remembered stays bounded.
        for i in 0..1000 {
            let (tx, _rx) = mpsc::unbounded();
            r.consumers.insert(3, format!("c{i}"), true, tx);
            r.consumers.remove(3, &format!("c{i}"));
        }
        assert!(r.consumers.gone.len() <= GONE_REMEMBERED);
    }

    #[test]
    fn a_consumer_whose_reader_is_gone_is_forgotten_and_not_charged() {
        let (mut r, _) = router();
        let budget = ReadBudget::new(1 << 20);
        let (tx, rx) = mpsc::unbounded();
        r.consumers.insert(1, "c".into(), false, tx);
        drop(rx);
        r.route(delivery(1, "c", b"x"), &budget);
        assert_eq!(budget.used(), 0);
        assert!(r.consumers.remove(1, "c").is_none());
    }

    #[test]
    fn a_channel_error_reaches_its_consumers_and_confirms_but_not_others() {
        let (mut r, _) = router();
        let budget = ReadBudget::new(1 << 20);
        let (tx1, mut rx1) = mpsc::unbounded();
        let (tx2, mut rx2) = mpsc::unbounded();
        r.consumers.insert(1, "a".into(), false, tx1);
        r.consumers.insert(2, "b".into(), false, tx2);
        let (ctx1, mut crx1) = oneshot::channel();
        let (ctx2, mut crx2) = oneshot::channel();
        r.confirms.insert((1, 1), ctx1);
        r.confirms.insert((2, 1), ctx2);
        let key = r.channels.register(1);
        r.route(
            Event::ChannelClosed {
                channel: 1,
                error: Some(channel_error()),
            },
            &budget,
        );
        assert_eq!(rx1.try_recv().unwrap().unwrap_err(), channel_error());
        assert!(rx2.try_recv().is_err(), "channel 2 is untouched");
        assert_eq!(crx1.try_recv().unwrap(), Some(Err(channel_error())));
        assert_eq!(crx2.try_recv().unwrap(), None);
        assert_eq!(r.channels.current(key, None), Err(channel_error()));
    }

    #[test]
    fn confirms_resolve_acked_or_nacked_by_sequence_number() {
        let (mut r, _) = router();
        let budget = ReadBudget::new(1 << 20);
        let (a, mut ra) = oneshot::channel();
        let (b, mut rb) = oneshot::channel();
        r.confirms.insert((1, 1), a);
        r.confirms.insert((1, 2), b);
        for (seq, acked) in [(2, false), (1, true)] {
            let ev = Event::Confirm {
                channel: 1,
                seq,
                acked,
            };
            r.route(ev, &budget);
        }
        assert_eq!(ra.try_recv().unwrap(), Some(Ok(())));
        assert_eq!(rb.try_recv().unwrap(), Some(Err(Error::Nacked)));
        assert!(r.confirms.is_empty());
    }

    #[test]
    fn the_end_reaches_every_waiter_and_later_askers() {
        let (mut r, mut opened) = router();
        let budget = ReadBudget::new(1 << 20);
        let (tx, mut reply) = oneshot::channel();
        r.waiters.insert(3, tx);
        let mut early = r.on_end();
        let lost = Error::ConnectionLost {
            cause: crate::engine::TransportError::ClosedByPeer,
            handshake: false,
        };
        r.route(
            Event::Closed {
                error: Some(lost.clone()),
            },
            &budget,
        );
        assert_eq!(opened.try_recv().unwrap(), Some(Err(lost.clone())));
        assert_eq!(reply.try_recv().unwrap(), Some(Err(lost.clone())));
        assert_eq!(early.try_recv().unwrap(), Some(Some(lost.clone())));
        assert_eq!(r.on_end().try_recv().unwrap(), Some(Some(lost)));
        assert!(!r.awaits_broker());
    }

    #[test]
    fn blocked_and_unblocked_reach_listeners_and_a_lagging_one_loses_only_the_overflow() {
        let (mut r, _) = router();
        let budget = ReadBudget::new(1 << 20);
        let mut fast = r.listen();
        let mut slow = r.listen();
        for i in 0..(LISTENER_BACKLOG + 10) {
            let ev = if i % 2 == 0 {
                Event::Blocked {
                    reason: "low on memory".into(),
                }
            } else {
                Event::Unblocked
            };
            r.route(ev, &budget);
            if let Ok(ev) = fast.try_recv() {
                assert_eq!(
                    ev,
                    if i % 2 == 0 {
                        ConnectionEvent::Blocked("low on memory".into())
                    } else {
                        ConnectionEvent::Unblocked
                    }
                );
            } else {
                panic!("fast listener missed event {i}");
            }
        }
        let mut n = 0;
        while slow.try_recv().is_ok() {
            n += 1;
        }
        assert!(
            (LISTENER_BACKLOG..LISTENER_BACKLOG + 10).contains(&n),
            "{n}"
        );
    }
}
