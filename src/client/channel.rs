//! A channel handle: every channel-level AMQP method. Synchronous methods return a [`Reply`]
//! future; the request is sent when the method is called. Cheap to clone.

use super::consumer::Consumer;
use super::inbox::Inbox;
use super::message::Message;
use super::options::*;
use super::registry::ChannelKey;
use super::reply::{Reply, ReplyRx};
use super::shared::{ConnectionState, Shared, WRITE_BUFFER_LIMIT};
use crate::engine::{Error, Response, Returned};
use crate::protocol::*;
use futures::channel::{mpsc, oneshot};

/// Bytes a publish adds besides its body and names (method and header frames, typical
/// properties): enough for the write limit's look-ahead, which needs no exact figure.
const FRAMING_ESTIMATE: usize = 256;

/// Resolves with the broker's ack (Ok) or nack (Err) for one confirmed publish.
pub type ConfirmRx = oneshot::Receiver<Result<(), Error>>;

/// What a publish started with [`Channel::publish_now`] waits for.
#[derive(Debug)]
pub enum PublishWait {
    Sent,
    /// The transport is congested: continue when it has room again.
    Drain(oneshot::Receiver<()>),
    /// Confirm mode: the sequence number and the broker's verdict.
    Confirm(u64, ConfirmRx),
}

/// The stream of [`Channel::returns`]. Unread returns count against the read budget like
/// unread deliveries.
pub struct Returns(Inbox<Returned>);

impl Returns {
    /// The next return if one is here now (`Empty`), or `Closed` once the channel ended.
    pub fn try_recv(&mut self) -> Result<Returned, mpsc::TryRecvError> {
        self.0.try_recv()
    }
}

impl futures::Stream for Returns {
    type Item = Returned;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Returned>> {
        self.0.poll_next(cx)
    }
}

#[derive(Clone)]
pub struct Channel {
    pub(crate) id: u16,
    pub(crate) key: ChannelKey,
    pub(crate) shared: Shared,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("id", &self.id).finish()
    }
}

fn unexpected(m: &Method) -> Error {
    Error::InvalidArgument(format!("unexpected reply {}", m.name()))
}

/// The `*-ok` method of a reply (every request but basic.get answers with one).
fn method(r: Response) -> Result<Method, Error> {
    match r {
        Response::Method(m) => Ok(m),
        Response::Get(_) => Err(Error::InvalidArgument("unexpected basic.get reply".into())),
    }
}

/// Lets other tasks (the driver) run once.
async fn yield_now() {
    let mut yielded = false;
    futures::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}

fn done(r: Response) -> Result<(), Error> {
    method(r).map(drop)
}

impl Channel {
    pub fn id(&self) -> u16 {
        self.id
    }

    pub fn is_open(&self) -> bool {
        let state = self.shared.lock();
        state.ensure_current(self.key).is_ok() && state.engine.channel_is_open(self.id)
    }

    /// Sends a synchronous method now; `then` runs under the same lock once it is queued.
    fn request_then(
        &self,
        m: Method,
        then: impl FnOnce(&mut ConnectionState, crate::engine::ReqId),
    ) -> Result<ReplyRx, Error> {
        let id = self.id;
        self.shared.request(Some(self.key), |e| e.call(id, m), then)
    }

    fn request<T>(
        &self,
        m: Method,
        convert: impl FnOnce(Response) -> Result<T, Error> + Send + 'static,
    ) -> Reply<T> {
        Reply::new(self.request_then(m, |_, _| {}), convert)
    }

    pub fn exchange_declare(
        &self,
        exchange: &str,
        kind: &str,
        o: ExchangeDeclareOptions,
        arguments: FieldTable,
    ) -> Reply<()> {
        let m = ExchangeDeclare {
            ticket: 0,
            exchange: exchange.into(),
            kind: kind.into(),
            passive: o.passive,
            durable: o.durable,
            auto_delete: o.auto_delete,
            internal: o.internal,
            nowait: o.nowait,
            arguments,
        };
        self.request(Method::ExchangeDeclare(m), done)
    }

    pub fn exchange_delete(&self, exchange: &str, o: ExchangeDeleteOptions) -> Reply<()> {
        let m = ExchangeDelete {
            ticket: 0,
            exchange: exchange.into(),
            if_unused: o.if_unused,
            nowait: o.nowait,
        };
        self.request(Method::ExchangeDelete(m), done)
    }

    pub fn exchange_bind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Reply<()> {
        let m = ExchangeBind {
            ticket: 0,
            destination: destination.into(),
            source: source.into(),
            routing_key: routing_key.into(),
            nowait: false,
            arguments,
        };
        self.request(Method::ExchangeBind(m), done)
    }

    pub fn exchange_unbind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Reply<()> {
        let m = ExchangeUnbind {
            ticket: 0,
            destination: destination.into(),
            source: source.into(),
            routing_key: routing_key.into(),
            nowait: false,
            arguments,
        };
        self.request(Method::ExchangeUnbind(m), done)
    }

    /// Declares a queue; an empty name asks the broker to generate one (returned in `QueueInfo::name`).
    pub fn queue_declare(
        &self,
        queue: &str,
        o: QueueDeclareOptions,
        arguments: FieldTable,
    ) -> Reply<QueueInfo> {
        let m = QueueDeclare {
            ticket: 0,
            queue: queue.into(),
            passive: o.passive,
            durable: o.durable,
            exclusive: o.exclusive,
            auto_delete: o.auto_delete,
            nowait: o.nowait,
            arguments,
        };
        self.request(Method::QueueDeclare(m), |r| match method(r)? {
            Method::QueueDeclareOk(ok) => Ok(QueueInfo {
                name: ok.queue.into(),
                message_count: ok.message_count,
                consumer_count: ok.consumer_count,
            }),
            // nowait: no reply, so the broker's counts are unknown
            Method::QueueDeclare(d) => Ok(QueueInfo {
                name: d.queue.into(),
                message_count: 0,
                consumer_count: 0,
            }),
            m => Err(unexpected(&m)),
        })
    }

    pub fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Reply<()> {
        let m = QueueBind {
            ticket: 0,
            queue: queue.into(),
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            nowait: false,
            arguments,
        };
        self.request(Method::QueueBind(m), done)
    }

    pub fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Reply<()> {
        let m = QueueUnbind {
            ticket: 0,
            queue: queue.into(),
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            arguments,
        };
        self.request(Method::QueueUnbind(m), done)
    }

    /// Removes all ready messages; returns how many.
    pub fn queue_purge(&self, queue: &str) -> Reply<u32> {
        let m = QueuePurge {
            ticket: 0,
            queue: queue.into(),
            nowait: false,
        };
        self.request(Method::QueuePurge(m), |r| match method(r)? {
            Method::QueuePurgeOk(ok) => Ok(ok.message_count),
            m => Err(unexpected(&m)),
        })
    }

    /// Deletes a queue; returns how many messages it held.
    pub fn queue_delete(&self, queue: &str, o: QueueDeleteOptions) -> Reply<u32> {
        let m = QueueDelete {
            ticket: 0,
            queue: queue.into(),
            if_unused: o.if_unused,
            if_empty: o.if_empty,
            nowait: o.nowait,
        };
        self.request(Method::QueueDelete(m), |r| match method(r)? {
            Method::QueueDeleteOk(ok) => Ok(ok.message_count),
            Method::QueueDelete(_) => Ok(0),
            m => Err(unexpected(&m)),
        })
    }

    pub fn basic_qos(&self, prefetch_count: u16, prefetch_size: u32, global: bool) -> Reply<()> {
        self.request(
            Method::BasicQos(BasicQos {
                prefetch_size,
                prefetch_count,
                global,
            }),
            done,
        )
    }

    /// Publishes a message. On a confirm-mode channel this resolves when the broker acks it
    /// (and fails with [`Error::Nacked`] on a nack); otherwise once it is queued for sending.
    pub async fn basic_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &BasicProperties,
        o: PublishOptions,
    ) -> Result<(), Error> {
        let wait = loop {
            match self.publish_now(exchange, routing_key, body, properties, o) {
                // Too much unsent: wait for the transport to drain (or the driver to run), then
                // try again, instead of failing an awaited publish.
                Err(Error::WriteBufferFull { .. }) => {
                    let drained = self.shared.lock().write.drained();
                    match drained {
                        Some(rx) => drop(rx.await),
                        None => yield_now().await,
                    }
                }
                other => break other?,
            }
        };
        match wait {
            PublishWait::Sent => Ok(()),
            // A closed connection drops the sender: the publish itself was handed over.
            PublishWait::Drain(rx) => {
                let _ = rx.await;
                Ok(())
            }
            PublishWait::Confirm(_, rx) => rx.await.unwrap_or(Err(Error::NotOpen("channel"))),
        }
    }

    /// Encodes the publish immediately (so call order is wire order) and says what to wait for:
    /// nothing, the transport draining (backpressure), or the broker's confirm.
    pub fn publish_now(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: &BasicProperties,
        o: PublishOptions,
    ) -> Result<PublishWait, Error> {
        let mut state = self.shared.lock();
        state.ensure_current(self.key)?;
        // What the unsent bytes hold allocated (the output buffer's capacity, not its length:
        // a Vec doubles) counts against the limit, and a publish is refused before it would
        // cross it, not once past it; a lone message larger than the limit still goes.
        let waiting = state.engine.pending_output() + self.shared.unflushed();
        let held = state.engine.output_allocated() + self.shared.unflushed();
        let adds = body.len() + exchange.len() + routing_key.len() + FRAMING_ESTIMATE;
        if waiting > 0 && held.max(waiting + adds) > WRITE_BUFFER_LIMIT {
            state.wake_driver();
            return Err(Error::WriteBufferFull {
                limit: WRITE_BUFFER_LIMIT,
            });
        }
        let seq = state.engine.publish(
            self.id,
            exchange,
            routing_key,
            o.mandatory,
            o.immediate,
            properties,
            body,
        )?;
        state.wake_driver();
        Ok(match seq {
            Some(seq) => {
                let (tx, rx) = oneshot::channel();
                state.router.confirms.insert((self.id, seq), tx);
                PublishWait::Confirm(seq, rx)
            }
            None => state
                .write
                .drained()
                .map_or(PublishWait::Sent, PublishWait::Drain),
        })
    }

    /// Starts a consumer. Its messages arrive through the returned [`Consumer`] stream.
    pub fn basic_consume(
        &self,
        queue: &str,
        o: ConsumeOptions,
        arguments: FieldTable,
    ) -> Reply<Consumer> {
        let (tx, rx) = mpsc::unbounded();
        let no_ack = o.no_ack;
        let m = BasicConsume {
            ticket: 0,
            queue: queue.into(),
            consumer_tag: o.tag.into(),
            no_local: o.no_local,
            no_ack: o.no_ack,
            exclusive: o.exclusive,
            nowait: false,
            arguments,
        };
        let (key, shared) = (self.key, self.shared.clone());
        // The driver routes the consumer when it dispatches consume-ok, before any delivery behind it.
        // Unread deliveries are released from the read budget even if this reply is dropped.
        let inbox = Inbox::new(rx, shared);
        let sent = self.request_then(Method::BasicConsume(m), |state, req| {
            state
                .router
                .pending_consumers
                .push((req, key.id, no_ack, tx));
        });
        Reply::new(sent, move |r| match method(r)? {
            Method::BasicConsumeOk(ok) => Ok(Consumer::new(key, ok.consumer_tag.into(), inbox)),
            m => Err(unexpected(&m)),
        })
    }

    /// Cancels a consumer by tag (see also [`Consumer::cancel`]).
    pub fn basic_cancel(&self, consumer_tag: &str) -> Reply<()> {
        let m = BasicCancel {
            consumer_tag: consumer_tag.into(),
            nowait: false,
        };
        let (shared, id, tag) = (self.shared.clone(), self.id, consumer_tag.to_owned());
        self.request(Method::BasicCancel(m), move |r| {
            done(r)?;
            shared.lock().router.consumers.remove(id, &tag);
            Ok(())
        })
    }

    /// Fetches one message, `None` when the queue is empty.
    pub fn basic_get(&self, queue: &str, no_ack: bool) -> Reply<Option<Message>> {
        let (key, shared) = (self.key, self.shared.clone());
        self.request(
            Method::BasicGet(BasicGet {
                ticket: 0,
                queue: queue.into(),
                no_ack,
            }),
            move |r| match r {
                Response::Get(d) => Ok(d.map(|d| Message::new(*d, key, shared))),
                Response::Method(m) => Err(unexpected(&m)),
            },
        )
    }

    fn send(&self, m: Method) -> Result<(), Error> {
        let id = self.id;
        self.shared.command(Some(self.key), |e| e.send(id, &m))
    }

    pub fn basic_ack(&self, delivery_tag: u64, multiple: bool) -> Result<(), Error> {
        self.send(Method::BasicAck(BasicAck {
            delivery_tag,
            multiple,
        }))
    }

    pub fn basic_nack(
        &self,
        delivery_tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> Result<(), Error> {
        self.send(Method::BasicNack(BasicNack {
            delivery_tag,
            multiple,
            requeue,
        }))
    }

    pub fn basic_reject(&self, delivery_tag: u64, requeue: bool) -> Result<(), Error> {
        self.send(Method::BasicReject(BasicReject {
            delivery_tag,
            requeue,
        }))
    }

    /// Asks the broker to redeliver unacknowledged messages.
    pub fn basic_recover(&self, requeue: bool) -> Reply<()> {
        self.request(Method::BasicRecover(BasicRecover { requeue }), done)
    }

    /// Pauses (`false`) or resumes (`true`) deliveries to this channel; returns the broker's answer.
    pub fn basic_flow(&self, active: bool) -> Reply<bool> {
        self.request(
            Method::ChannelFlow(ChannelFlow { active }),
            |r| match method(r)? {
                Method::ChannelFlowOk(ok) => Ok(ok.active),
                m => Err(unexpected(&m)),
            },
        )
    }

    /// Whether the broker has paused publishing on this channel with channel.flow.
    pub fn is_flow_paused(&self) -> bool {
        self.shared.lock().router.flow_paused.contains(&self.id)
    }

    /// Puts the channel in publisher-confirm mode: `basic_publish` then waits for the broker's ack.
    pub fn confirm_select(&self) -> Reply<()> {
        self.request(Method::ConfirmSelect(ConfirmSelect { nowait: false }), done)
    }

    pub fn tx_select(&self) -> Reply<()> {
        self.request(Method::TxSelect, done)
    }

    pub fn tx_commit(&self) -> Reply<()> {
        self.request(Method::TxCommit, done)
    }

    pub fn tx_rollback(&self) -> Reply<()> {
        self.request(Method::TxRollback, done)
    }

    /// Messages published with `mandatory` that the broker could not route. One stream per channel:
    /// a second call replaces the first.
    pub fn returns(&self) -> Returns {
        let (tx, rx) = mpsc::unbounded();
        let mut state = self.shared.lock();
        if state.ensure_current(self.key).is_ok() {
            let returns = &mut state.router.returns;
            returns.retain(|t| t.0 != self.id);
            returns.push((self.id, tx));
        }
        Returns(Inbox::new(rx, self.shared.clone()))
    }

    /// Resolves when this channel has ended: `None` when it was closed by us (itself or with
    /// the connection), else why it ended. At once if it already has.
    pub fn closed(&self) -> impl std::future::Future<Output = Option<Error>> + 'static {
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.shared.lock();
            match state.ensure_current(self.key) {
                Ok(()) if state.router.ended.is_none() => {
                    state.router.channel_ends.push((self.id, tx))
                }
                Ok(()) | Err(Error::NotOpen(_)) => {
                    let _ = tx.send(None);
                }
                Err(e) => {
                    let _ = tx.send(Some(e));
                }
            }
        }
        async move { rx.await.unwrap_or(None) }
    }

    /// Closes the channel; consumers on it end. Closing a channel that already ended succeeds.
    pub fn close(&self) -> Reply<()> {
        if self.shared.lock().ensure_current(self.key).is_err() {
            return Reply::ready(Ok(()));
        }
        let id = self.id;
        let sent = match self
            .shared
            .request(Some(self.key), |e| e.close_channel(id), |_, _| {})
        {
            Err(Error::NotOpen(_)) => return Reply::ready(Ok(())),
            other => other,
        };
        Reply::new(sent, |_| Ok(()))
    }

    /// [`Channel::close`] with a reply code and text of our own (the broker may log them).
    pub fn close_with(&self, code: u16, text: &str) -> Reply<()> {
        let m = Method::ChannelClose(ChannelClose {
            reply_code: code,
            reply_text: text.into(),
            class_id: 0,
            method_id: 0,
        });
        let id = self.id;
        let sent = match self
            .shared
            .request(Some(self.key), |e| e.call(id, m), |_, _| {})
        {
            Err(Error::NotOpen(_)) => return Reply::ready(Ok(())),
            other => other,
        };
        Reply::new(sent, |_| Ok(()))
    }
}
