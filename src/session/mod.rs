//! Sessions outlive connections: a [`Session`] keeps one connection alive for as long as it lives
//! (reconnecting with backoff, over several URLs), records what the application declared through
//! it and replays that after every reconnect, keeps subscriptions yielding across reconnects, and
//! publishes at least once (a confirmed publish is sent again until the broker confirms it).
//!
//! Written once for both targets over `client/`; `supervisor.rs` runs the connect → recover →
//! watch loop, `topology.rs` holds the recorded declarations, `subscription.rs` the consumers,
//! `outbox.rs` the bound on unconfirmed publishes.
//!
//! ```text
//!            ┌──────── backoff ◄──── attempt failed (retryable)
//!            ▼                              │
//!   ──► connecting ──► recovering ──► live ─┴─ connection lost ──► (backoff)
//!            │              │                       │
//!            └── fatal refusal / max attempts ──► failed        stop() ──► stopped
//! ```

mod backoff;
#[cfg(all(test, feature = "tokio"))]
mod chaos_tests;
mod options;
mod outbox;
mod rpc;
mod subscription;
mod supervisor;
#[cfg(test)]
mod tests;
mod topology;

pub use backoff::Backoff;
pub(crate) use options::Dialer;
pub use options::{
    BeforeConnect, Handler, HandlerError, HandlerResult, Notice, SessionEvent, SessionOptions,
    Settle, SubscribeOptions,
};
pub use rpc::{rpc_error, RpcClient, RpcHandler, RpcReply, RpcServer, RPC_ERROR_HEADER};
pub use subscription::{SessionMessage, Settler, Subscription};
pub use topology::{Declaration, QueueHandle, QueueRef, Topology};

use crate::client::{
    Channel, Connection, ConnectionUrl, ExchangeDeclareOptions, ExchangeDeleteOptions,
    PublishOptions, PublishWait, QueueDeclareOptions, QueueDeleteOptions,
};
use crate::engine::{Error, Millis, Response};
use crate::protocol::{BasicProperties, FieldTable};
use crate::rt;
use futures::channel::{mpsc, oneshot};
use futures::future::{select, Either};
use outbox::{Deadlines, Outbox};
use std::sync::{Arc, Mutex, MutexGuard};
use subscription::{is_connection_level, Record};

/// The receiver of a request's response (`Reply::into_parts`).
type ReplyRx = oneshot::Receiver<Result<Response, Error>>;

/// Locks a session mutex. A poisoned lock only means another task panicked while holding it;
/// the data is still consistent (every critical section is a few assignments).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Spawns a session task as one boxed future type, so the executor's spawn machinery is
/// compiled once for all of them (wasm size) instead of once per task.
pub(crate) fn spawn(fut: impl std::future::Future<Output = ()> + rt::MaybeSend + 'static) {
    let fut: rt::BoxFuture<()> = Box::pin(fut);
    rt::spawn(fut);
}

/// How many events a listener may leave unread; later ones are dropped for it.
const EVENT_BACKLOG: usize = 256;

/// The live connection and its session channels.
#[derive(Clone)]
pub(crate) struct Link {
    conn: Connection,
    /// Declarations and deletions.
    control: Channel,
    /// Publishing, in confirm mode when the session confirms.
    publish: Channel,
    /// Unconfirmed publishes of a confirming session, opened at the first one: on the confirm
    /// channel the broker would ack each of them and the client track every ack.
    plain: Option<Channel>,
    /// Counts connections; a handle from an older one is stale.
    generation: u64,
}

pub(crate) struct State {
    link: Option<Link>,
    topology: Topology,
    subscriptions: Vec<Arc<Record>>,
    outbox: Outbox,
    /// When the publishes waiting for a confirm give up (one timer for all of them).
    deadlines: Deadlines,
    /// Publishes on the slow path that have not gone out yet: while there are any, a new one
    /// does not overtake them on the fast path.
    queued: usize,
    /// Woken whenever the link, the blocked state or the session's end changes.
    waiters: Vec<oneshot::Sender<()>>,
    /// The broker blocked publishing (connection.blocked).
    blocked: bool,
    stopped: bool,
    failed: Option<Error>,
    listeners: Vec<mpsc::Sender<SessionEvent>>,
    notices: Vec<mpsc::Sender<Notice>>,
    /// Set while the supervisor waits out a backoff: sending on it ends the wait early.
    retry: Option<oneshot::Sender<()>>,
    next_id: u64,
}

impl State {
    fn wake(&mut self) {
        for tx in self.waiters.drain(..) {
            let _ = tx.send(());
        }
    }

    fn emit(&mut self, ev: SessionEvent) {
        self.listeners
            .retain_mut(|tx| match tx.try_send(ev.clone()) {
                Ok(()) => true,
                Err(e) => !e.is_disconnected(),
            });
    }

    fn notify(&mut self, n: impl Fn() -> Notice) {
        self.notices.retain_mut(|tx| match tx.try_send(n()) {
            Ok(()) => true,
            Err(e) => !e.is_disconnected(),
        });
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

pub(crate) struct Inner {
    urls: Vec<ConnectionUrl>,
    options: SessionOptions,
    /// Opens transports instead of `transport::dial` (tests).
    dialer: Option<Dialer>,
    state: Mutex<State>,
    /// Dropped by `stop()`: the supervisor's signal to end whatever it is doing.
    stop: Mutex<Option<oneshot::Sender<()>>>,
    /// Resolves when the supervisor has exited.
    finished: Mutex<Option<oneshot::Receiver<()>>>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn emit(&self, ev: SessionEvent) {
        self.lock().emit(ev);
    }
}

impl Inner {
    /// Marks the session stopped, ends subscriptions, wakes waiters and signals the supervisor;
    /// returns the live link for the caller to close.
    fn shut_down(&self) -> Option<Link> {
        let link = {
            let mut st = self.lock();
            st.stopped = true;
            for r in st.subscriptions.drain(..) {
                r.end();
            }
            // nothing more to report: the event and notice streams end (their readers finish)
            st.listeners.clear();
            st.notices.clear();
            st.wake();
            st.link.take()
        };
        drop(lock(&self.stop).take());
        link
    }
}

/// Held by every clone of a [`Session`]: when the last one goes, the session stops.
struct Owner(Arc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(link) = self.0.shut_down() {
            spawn(async move {
                let _ = link.conn.close().await;
            });
        }
    }
}

/// A reconnecting, self-recovering AMQP session. Cheap to clone; dropping the last clone stops
/// it like [`Session::stop`] (without waiting).
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
    _owner: Arc<Owner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self.inner.urls.iter().map(|u| u.redacted()).collect();
        f.debug_struct("Session")
            .field("urls", &urls)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Session {
    /// Connects to the first URL that answers (in order, then round-robin on later attempts)
    /// and resolves once the session is live; fails when the session gives up (a fatal refusal,
    /// or `max_attempts`).
    pub async fn connect<S: AsRef<str>>(
        urls: impl IntoIterator<Item = S>,
        options: SessionOptions,
    ) -> Result<Session, Error> {
        let urls = urls
            .into_iter()
            .map(|u| ConnectionUrl::parse(u.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::connect_with(urls, options).await
    }

    pub async fn connect_with(
        urls: Vec<ConnectionUrl>,
        options: SessionOptions,
    ) -> Result<Session, Error> {
        Self::connect_dialed(urls, options, None).await
    }

    /// [`Session::connect_with`] over transports `dialer` opens.
    // On wasm the hooks in `Inner` are not `Send` (one thread); natively they are and `Inner` is.
    #[allow(clippy::arc_with_non_send_sync)]
    pub(crate) async fn connect_dialed(
        urls: Vec<ConnectionUrl>,
        options: SessionOptions,
        dialer: Option<Dialer>,
    ) -> Result<Session, Error> {
        if urls.is_empty() {
            return Err(Error::InvalidArgument(
                "a session needs at least one URL".into(),
            ));
        }
        let outbox = Outbox::new(options.outbox_max_messages, options.outbox_max_bytes);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let inner = Arc::new(Inner {
            urls,
            options,
            dialer,
            state: Mutex::new(State {
                link: None,
                topology: Topology::default(),
                subscriptions: Vec::new(),
                outbox,
                deadlines: Deadlines::default(),
                queued: 0,
                waiters: Vec::new(),
                blocked: false,
                stopped: false,
                failed: None,
                listeners: Vec::new(),
                notices: Vec::new(),
                retry: None,
                next_id: 0,
            }),
            stop: Mutex::new(Some(stop_tx)),
            finished: Mutex::new(Some(done_rx)),
        });
        let (first_tx, first_rx) = oneshot::channel();
        spawn(supervisor::run(inner.clone(), stop_rx, first_tx, done_tx));
        let session = Session {
            _owner: Arc::new(Owner(inner.clone())),
            inner,
        };
        match first_rx.await {
            Ok(Ok(())) => Ok(session),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::NotOpen("session")),
        }
    }

    /// What happens to the session from now on (connects, drops, retries, recovery).
    pub fn events(&self) -> mpsc::Receiver<SessionEvent> {
        let (tx, rx) = mpsc::channel(EVENT_BACKLOG);
        self.inner.lock().listeners.push(tx);
        rx
    }

    /// Flow control, returned messages and network changes (see [`Notice`]).
    pub fn notices(&self) -> mpsc::Receiver<Notice> {
        let (tx, rx) = mpsc::channel(EVENT_BACKLOG);
        self.inner.lock().notices.push(tx);
        rx
    }

    /// Ends a backoff wait now: the next connection attempt starts at once. Does nothing while
    /// connected or attempting. Returns whether a wait was cut short.
    pub fn retry_now(&self) -> bool {
        let tx = self.inner.lock().retry.take();
        tx.is_some_and(|tx| tx.send(()).is_ok())
    }

    /// The platform says the network went away (`false`) or came back (`true`): reported as a
    /// [`Notice::Network`]; coming back retries at once instead of waiting out the backoff.
    pub fn network_changed(&self, online: bool) {
        self.inner.lock().notify(|| Notice::Network(online));
        log::info!(
            "warren session: network {}",
            if online { "online" } else { "offline" }
        );
        if online {
            self.retry_now();
        }
    }

    /// Whether a recovered connection is live now.
    pub fn is_connected(&self) -> bool {
        self.inner.lock().link.is_some()
    }

    /// The live connection, if any (for what the session does not cover).
    pub fn connection(&self) -> Option<Connection> {
        self.inner.lock().link.as_ref().map(|l| l.conn.clone())
    }

    /// Publishes in the outbox now (waiting or unconfirmed): messages and bytes.
    pub fn pending_publishes(&self) -> (usize, usize) {
        self.inner.lock().outbox.len()
    }

    /// The recorded topology, as plain data (what the next recovery replays).
    pub fn topology(&self) -> Topology {
        self.inner.lock().topology.clone()
    }

    fn deadline(&self) -> Millis {
        rt::now_ms() + self.inner.options.operation_timeout_ms
    }

    /// Waits (until `deadline`) for a live link newer than `dead`; `unblocked` also waits while
    /// the broker blocks publishing.
    async fn link(
        &self,
        deadline: Millis,
        unblocked: bool,
        dead: Option<u64>,
    ) -> Result<Link, Error> {
        loop {
            let rx = {
                let mut st = self.inner.lock();
                if st.stopped {
                    return Err(Error::NotOpen("session"));
                }
                if let Some(e) = &st.failed {
                    return Err(e.clone());
                }
                match &st.link {
                    Some(l)
                        if dead.is_none_or(|d| l.generation > d) && !(unblocked && st.blocked) =>
                    {
                        return Ok(l.clone())
                    }
                    _ => {}
                }
                let (tx, rx) = oneshot::channel();
                st.waiters.push(tx);
                rx
            };
            let left = deadline.saturating_sub(rt::now_ms());
            if left == 0 {
                return Err(Error::Timeout);
            }
            let _ = rt::timeout(left, rx).await;
        }
    }

    /// Runs a declaration now and records it for every later recovery.
    async fn declare(&self, d: Declaration) -> Result<(), Error> {
        let deadline = self.deadline();
        let mut dead = None;
        loop {
            let link = self.link(deadline, false, dead).await?;
            match d.apply(&link.control).await {
                Ok(()) => {
                    let mut st = self.inner.lock();
                    let same = st
                        .link
                        .as_ref()
                        .is_some_and(|l| l.generation == link.generation);
                    st.topology.record(d.clone());
                    if same {
                        return Ok(());
                    }
                    // A reconnect replayed the topology before this was recorded: declare again.
                    dead = Some(link.generation);
                }
                Err(e @ Error::ChannelClosed(_)) => {
                    let _ = self.renew(&link, Which::Control).await;
                    return Err(e);
                }
                // The broker closed the connection because of this request (e.g. an unknown
                // exchange type): doing it again would only close the next one too.
                Err(e) if closed_because_of_a_request(&e) => return Err(e),
                Err(e) if is_connection_level(&e) => dead = Some(link.generation),
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs an undo (delete, unbind) on the live connection; the record is gone either way.
    async fn undo<T>(
        &self,
        forget: impl FnOnce(&mut Topology),
        run: impl Fn(&Channel) -> crate::client::Reply<T> + Send,
    ) -> Result<T, Error> {
        forget(&mut self.inner.lock().topology);
        let mut convert = None;
        let slot = &mut convert;
        let response = self
            .request(&mut move |ch| {
                let (rx, c) = run(ch).into_parts();
                *slot = Some(c);
                rx
            })
            .await?;
        match convert {
            Some(convert) => convert(response),
            None => Err(Error::NotOpen("reply")),
        }
    }

    /// The retry loop of [`Session::undo`], not generic so that it is compiled once for every
    /// method: sends a request on the control channel of the live connection (waiting for one)
    /// and again on the next after a connection loss; the broker's response.
    async fn request(
        &self,
        send: &mut (dyn FnMut(&Channel) -> Result<ReplyRx, Error> + Send),
    ) -> Result<Response, Error> {
        let deadline = self.deadline();
        let mut dead = None;
        loop {
            let link = self.link(deadline, false, dead).await?;
            let outcome = match send(&link.control) {
                Ok(rx) => rx.await.unwrap_or(Err(Error::NotOpen("connection"))),
                Err(e) => Err(e),
            };
            match outcome {
                Err(e @ Error::ChannelClosed(_)) => {
                    let _ = self.renew(&link, Which::Control).await;
                    return Err(e);
                }
                Err(e) if closed_because_of_a_request(&e) => return Err(e),
                Err(e) if is_connection_level(&e) => dead = Some(link.generation),
                r => return r,
            }
        }
    }

    /// Runs a one-off method (purge, get) on the session's control channel of the live
    /// connection, waiting for one and retrying on the next after a connection loss.
    async fn on_control<T>(
        &self,
        run: impl Fn(&Channel) -> crate::client::Reply<T> + Send,
    ) -> Result<T, Error> {
        self.undo(|_| {}, run).await
    }

    /// Removes every ready message of a queue; returns how many there were.
    pub async fn queue_purge(&self, queue: impl Into<QueueRef>) -> Result<u32, Error> {
        let queue = queue.into();
        self.on_control(|ch| ch.queue_purge(&queue.name())).await
    }

    /// Fetches one message (`None` when the queue is empty). Without `no_ack` it must be settled
    /// on its channel (the session's control channel).
    pub async fn get(
        &self,
        queue: impl Into<QueueRef>,
        no_ack: bool,
    ) -> Result<Option<SessionMessage>, Error> {
        let queue = queue.into();
        let link = self.link(self.deadline(), false, None).await?;
        let (channel, connection) = (link.control.clone(), link.conn.clone());
        let got = self
            .on_control(|ch| ch.basic_get(&queue.name(), no_ack))
            .await?;
        Ok(got.map(|message| SessionMessage {
            message,
            channel,
            connection,
        }))
    }

    /// Waits (at most `timeout_ms`) for one message of a queue, acks it and cancels the consumer:
    /// a consumer with prefetch 1, so the broker holds back everything but the one returned.
    pub async fn consume_one(
        &self,
        queue: impl Into<QueueRef>,
        timeout_ms: u64,
    ) -> Result<SessionMessage, Error> {
        let options = SubscribeOptions {
            prefetch: 1,
            ..SubscribeOptions::default()
        };
        let mut sub = self.subscribe(queue, options, FieldTable::new()).await?;
        let got = sub.wait(timeout_ms).await;
        let result = match got {
            Ok(Some(m)) => m.ack().map(|()| m),
            Ok(None) => Err(Error::NotOpen("subscription")),
            Err(e) => Err(e),
        };
        sub.cancel();
        result
    }

    /// Replaces a session channel the broker closed (after an error on it), or opens the
    /// unconfirmed publish channel the first time it is needed. `Err` when no usable channel
    /// could be had on this link (the caller gives up instead of retrying).
    async fn renew(&self, link: &Link, which: Which) -> Result<(), Error> {
        let current = {
            let st = self.inner.lock();
            match &st.link {
                Some(l) if l.generation == link.generation => which.of(l).cloned(),
                _ => return Ok(()), // a newer link replaced this one
            }
        };
        if current.is_some_and(|c| c.is_open()) {
            return Ok(()); // somebody renewed it already
        }
        let ch = link.conn.channel(None).await?;
        if which == Which::Publish && self.inner.options.confirm {
            ch.confirm_select().await?;
        }
        if which != Which::Control {
            supervisor::forward_returns(&self.inner, &ch, &link.conn);
        }
        let mut st = self.inner.lock();
        match st.link.as_mut() {
            Some(l)
                if l.generation == link.generation && !which.of(l).is_some_and(|c| c.is_open()) =>
            {
                which.set(l, ch)
            }
            _ => drop(ch.close()),
        }
        Ok(())
    }

    pub async fn exchange_declare(
        &self,
        name: &str,
        kind: &str,
        options: ExchangeDeclareOptions,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        self.declare(Declaration::Exchange {
            name: name.into(),
            kind: kind.into(),
            options: ExchangeDeclareOptions {
                nowait: false,
                ..options
            },
            arguments,
        })
        .await
    }

    /// Deletes an exchange and forgets it (and the bindings that mention it).
    pub async fn exchange_delete(
        &self,
        name: &str,
        options: ExchangeDeleteOptions,
    ) -> Result<(), Error> {
        self.undo(
            |t| t.forget_exchange(name),
            |ch| ch.exchange_delete(name, options),
        )
        .await
    }

    /// Declares a queue; an empty name asks the broker for one, renewed by every recovery (the
    /// handle follows it).
    pub async fn queue_declare(
        &self,
        name: &str,
        options: QueueDeclareOptions,
        arguments: FieldTable,
    ) -> Result<QueueHandle, Error> {
        let handle = {
            let mut st = self.inner.lock();
            match st.topology.queue_named(name) {
                Some(h) => h,
                None => QueueHandle {
                    id: st.next_id(),
                    name: Arc::new(Mutex::new(name.to_owned())),
                },
            }
        };
        self.declare(Declaration::Queue {
            handle: handle.clone(),
            requested: name.into(),
            options: QueueDeclareOptions {
                nowait: false,
                ..options
            },
            arguments,
        })
        .await?;
        Ok(handle)
    }

    /// Deletes a queue and forgets it (and its bindings); returns how many messages it held.
    pub async fn queue_delete(
        &self,
        queue: impl Into<QueueRef>,
        options: QueueDeleteOptions,
    ) -> Result<u32, Error> {
        let queue = queue.into();
        self.undo(
            |t| t.forget_queue(&queue),
            |ch| ch.queue_delete(&queue.name(), options),
        )
        .await
    }

    pub async fn queue_bind(
        &self,
        queue: impl Into<QueueRef>,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        self.declare(Declaration::QueueBinding {
            queue: queue.into(),
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            arguments,
        })
        .await
    }

    pub async fn queue_unbind(
        &self,
        queue: impl Into<QueueRef>,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        let queue = queue.into();
        self.undo(
            |t| t.forget_queue_binding(&queue, exchange, routing_key),
            |ch| ch.queue_unbind(&queue.name(), exchange, routing_key, arguments.clone()),
        )
        .await
    }

    pub async fn exchange_bind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        self.declare(Declaration::ExchangeBinding {
            destination: destination.into(),
            source: source.into(),
            routing_key: routing_key.into(),
            arguments,
        })
        .await
    }

    pub async fn exchange_unbind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        self.undo(
            |t| t.forget_exchange_binding(destination, source, routing_key),
            |ch| ch.exchange_unbind(destination, source, routing_key, arguments.clone()),
        )
        .await
    }

    /// Publishes a message. With `confirm` (the default) this resolves when the broker confirms
    /// it, sending it again after a reconnect if the confirm was lost with the connection
    /// (at-least-once; a reader may see it twice). Publishes made while disconnected or blocked
    /// wait in the bounded outbox until they can go; each is bounded by `operation_timeout_ms`.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &BasicProperties,
        options: PublishOptions,
    ) -> Result<(), Error> {
        self.publish_with(exchange, routing_key, body, properties, options, true)
            .await
    }

    /// [`Session::publish`]; `confirm: false` resolves once the message is handed to the live
    /// connection (it may still wait in the outbox for one) and never sends it again.
    pub async fn publish_with(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &BasicProperties,
        options: PublishOptions,
        confirm: bool,
    ) -> Result<(), Error> {
        let m = Outgoing {
            exchange,
            routing_key,
            body,
            properties,
            options,
            confirm,
        };
        self.publish_message(&m).await
    }

    /// A publish: it waits (in the outbox, until its deadline) for a live, unblocked link and
    /// a publish channel, and is sent again after a connection loss until confirmed. When the
    /// session is live and nothing waits before it, it goes out on the first poll with no wait
    /// for a link (a caller that polls it at once, as the JS binding does, needs no task for a
    /// publish that is done then).
    pub(crate) async fn publish_message(&self, m: &Outgoing<'_>) -> Result<(), Error> {
        let _slot = outbox::Slot::take(&self.inner, m.body.len())?;
        let deadline = self.deadline();
        let confirm = m.confirm && self.inner.options.confirm;
        let which = if m.confirm || !self.inner.options.confirm {
            Which::Publish
        } else {
            Which::Plain
        };
        let mut ready = self.ready_channel(which);
        let (mut dead, mut channel_errors) = (None, 0);
        // counted as queued until it went out once, so later publishes do not overtake it
        let mut queued = ready.is_none().then(|| Queued::new(&self.inner));
        loop {
            let (ch, generation) = match ready.take() {
                Some(r) => r,
                None => {
                    let link = self.link(deadline, true, dead).await?;
                    let Some(ch) = which.of(&link).cloned() else {
                        // the unconfirmed channel opens at the first unconfirmed publish
                        match self.renew(&link, which).await {
                            Ok(()) => {}
                            Err(e) if is_connection_level(&e) => dead = Some(link.generation),
                            Err(e) => return Err(e),
                        }
                        continue;
                    };
                    (ch, link.generation)
                }
            };
            let (x, rk, body, props) = (m.exchange, m.routing_key, m.body, m.properties);
            let wait = match ch.publish_now(x, rk, body, props, m.options) {
                Ok(w) => {
                    queued.take();
                    w
                }
                Err(e) if is_connection_level(&e) => {
                    dead = Some(generation);
                    continue;
                }
                Err(e @ Error::NotOpen(_)) => {
                    // The publish channel is gone: retry on a fresh one, or give up if none
                    // opens (no spinning until the deadline).
                    if let Some(link) = self.link_of(generation) {
                        self.renew(&link, which).await.map_err(|_| e)?;
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let outcome = match wait {
                PublishWait::Confirm(_, rx) if confirm => {
                    match select(rx, self.inner.expiry(deadline)).await {
                        Either::Left((r, _)) => r.unwrap_or(Err(Error::NotOpen("connection"))),
                        Either::Right(_) => Err(Error::Timeout),
                    }
                }
                // as on the raw channel: the sender goes with the connection at the latest
                PublishWait::Drain(rx) => {
                    let _ = rx.await;
                    return Ok(());
                }
                _ => return Ok(()),
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(e) if is_connection_level(&e) => dead = Some(generation),
                // The broker closed the publish channel: because of this message or of another
                // one in flight with it. Once more on a fresh channel tells which.
                Err(e @ Error::ChannelClosed(_)) => {
                    if let Some(link) = self.link_of(generation) {
                        let _ = self.renew(&link, which).await;
                    }
                    channel_errors += 1;
                    if channel_errors > 1 {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The channel a publish can go out on right now (live, unblocked, none queued before it)
    /// and its connection's generation; `None` sends it the slow way.
    fn ready_channel(&self, which: Which) -> Option<(Channel, u64)> {
        let st = self.inner.lock();
        if st.blocked || st.queued > 0 || st.stopped {
            return None;
        }
        let link = st.link.as_ref()?;
        Some((which.of(link)?.clone(), link.generation))
    }

    /// The link of connection `generation`, if it is still the live one.
    fn link_of(&self, generation: u64) -> Option<Link> {
        let st = self.inner.lock();
        st.link
            .as_ref()
            .filter(|l| l.generation == generation)
            .cloned()
    }

    /// Consumes from a queue for as long as the session lives: after a reconnect the same
    /// subscription consumes again (a stream queue from after the last offset it yielded).
    pub async fn subscribe(
        &self,
        queue: impl Into<QueueRef>,
        options: SubscribeOptions,
        arguments: FieldTable,
    ) -> Result<Subscription, Error> {
        let id = self.inner.lock().next_id();
        let (record, rx) = Record::new(id, queue.into(), options, arguments);
        // Recorded first: a recovery from now on consumes it too (once per connection).
        self.inner.lock().subscriptions.push(record.clone());
        let deadline = self.deadline();
        let mut dead = None;
        let result = loop {
            let link = match self.link(deadline, false, dead).await {
                Ok(l) => l,
                Err(e) => break Err(e),
            };
            match record.consume(&link.conn, link.generation).await {
                Ok(()) => break Ok(()),
                Err(e) if is_connection_level(&e) => dead = Some(link.generation),
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(()) => Ok(Subscription { record, rx }),
            Err(e) => {
                record.end();
                self.inner.lock().subscriptions.retain(|r| r.id != id);
                Err(e)
            }
        }
    }

    /// Subscribes and hands every delivery to `handler`, in delivery order; a handler that
    /// does not finish at once goes on on a task of its own (as many at once as the broker
    /// delivers: `prefetch` bounds them). With
    /// [`Settle::Auto`] a delivery is acked when its handler succeeds and nacked when it fails
    /// (an unusable message is never requeued). Runs until the subscription is cancelled
    /// ([`HandledSubscription::cancel`], the broker, or `stop`).
    pub async fn subscribe_with(
        &self,
        queue: impl Into<QueueRef>,
        options: SubscribeOptions,
        arguments: FieldTable,
        settle: Settle,
        handler: Handler<HandlerResult>,
    ) -> Result<HandledSubscription, Error> {
        let no_ack = options.consume.no_ack;
        let mut sub = self.subscribe(queue, options, arguments).await?;
        let handle = HandledSubscription {
            record: sub.record.clone(),
        };
        spawn(async move {
            use futures::StreamExt;
            while let Some(item) = sub.next().await {
                let Ok(m) = item else {
                    break; // the broker refused or cancelled it: the subscription ended
                };
                let settler = m.settler();
                let mut handled = handler(m);
                // A handler that is done at once (most are) is settled here; only one that
                // waits gets a task of its own.
                let waker = futures::task::noop_waker_ref();
                let polled = handled
                    .as_mut()
                    .poll(&mut std::task::Context::from_waker(waker));
                let settled = move |outcome| {
                    if let Err(e) = settle_outcome(settle, no_ack, &settler, outcome) {
                        log::warn!("warren session: could not settle a delivery: {e}");
                    }
                };
                match polled {
                    std::task::Poll::Ready(outcome) => settled(outcome),
                    std::task::Poll::Pending => spawn(async move { settled(handled.await) }),
                }
            }
        });
        Ok(handle)
    }

    /// Ends the session: closes the connection, ends subscriptions, fails waiting publishes.
    /// No connection attempt starts after this resolves.
    pub async fn stop(&self) {
        if let Some(link) = self.inner.shut_down() {
            let _ = link.conn.close().await;
        }
        let finished = lock(&self.inner.finished).take();
        if let Some(rx) = finished {
            let _ = rx.await;
        }
        log::info!("warren session: stopped");
    }
}

/// A subscription whose deliveries go to a handler ([`Session::subscribe_with`]).
#[derive(Clone)]
pub struct HandledSubscription {
    record: Arc<Record>,
}

impl HandledSubscription {
    /// Stops it: the consumer is cancelled on the live connection, no recovery consumes again.
    pub fn cancel(&self) {
        self.record.end();
    }

    pub fn is_active(&self) -> bool {
        self.record.is_live()
    }

    /// The broker's consumer tag on the current connection ("" before the first consume-ok).
    pub fn consumer_tag(&self) -> String {
        self.record.consumer_tag()
    }

    /// The channel it consumes on now, and its connection.
    pub fn channel(&self) -> Option<(Channel, Connection)> {
        self.record.current()
    }
}

impl Subscription {
    /// A handle that cancels it and tells its tag and channel (while a reader holds the stream).
    pub fn handle(&self) -> HandledSubscription {
        HandledSubscription {
            record: self.record.clone(),
        }
    }

    /// The broker's consumer tag on the current connection.
    pub fn consumer_tag(&self) -> String {
        self.record.consumer_tag()
    }

    /// The channel it consumes on now, and its connection.
    pub fn channel(&self) -> Option<(Channel, Connection)> {
        self.record.current()
    }
}

/// Acks or nacks a delivery by what its handler returned (see [`Session::subscribe_with`]).
fn settle_outcome(
    settle: Settle,
    no_ack: bool,
    settler: &Settler,
    outcome: HandlerResult,
) -> Result<(), Error> {
    match (settle, outcome) {
        (_, Ok(())) if no_ack => Ok(()),
        (Settle::Auto { .. }, Ok(())) => settler.ack(),
        (Settle::Manual, Ok(())) => Ok(()),
        (_, Err(HandlerError::Failed(why) | HandlerError::Unusable(why))) if no_ack => {
            log::warn!("warren session: message handler failed: {why}");
            Ok(())
        }
        (_, Err(HandlerError::Unusable(why))) => {
            log::warn!("warren session: unusable message, nacked: {why}");
            settler.nack(false)
        }
        (Settle::Auto { requeue_on_nack }, Err(HandlerError::Failed(why))) => {
            log::warn!("warren session: message handler failed: {why}");
            settler.nack(requeue_on_nack)
        }
        (Settle::Manual, Err(HandlerError::Failed(why))) => {
            log::warn!("warren session: message handler failed: {why}");
            Ok(())
        }
    }
}

/// A connection close the broker sent in answer to a method (it names the class and method),
/// as opposed to one of its own (restart, forced close) or a lost transport.
fn closed_because_of_a_request(e: &Error) -> bool {
    matches!(e, Error::ConnectionClosed(c) if c.class_id != 0)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Control,
    Publish,
    /// The unconfirmed publish channel of a confirming session.
    Plain,
}

impl Which {
    fn of(self, l: &Link) -> Option<&Channel> {
        match self {
            Which::Control => Some(&l.control),
            Which::Publish => Some(&l.publish),
            Which::Plain => l.plain.as_ref(),
        }
    }

    fn set(self, l: &mut Link, ch: Channel) {
        match self {
            Which::Control => l.control = ch,
            Which::Publish => l.publish = ch,
            Which::Plain => l.plain = Some(ch),
        }
    }
}

/// One publish's message and options, borrowed for as long as it takes.
pub(crate) struct Outgoing<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub body: &'a [u8],
    pub properties: &'a BasicProperties,
    pub options: PublishOptions,
    pub confirm: bool,
}

/// Counts a publish on the slow path in [`State::queued`] until dropped.
struct Queued<'a>(&'a Inner);

impl<'a> Queued<'a> {
    fn new(inner: &'a Inner) -> Self {
        inner.lock().queued += 1;
        Queued(inner)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.queued = st.queued.saturating_sub(1);
    }
}
