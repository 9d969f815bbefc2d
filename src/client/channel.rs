//! A channel handle: every channel-level AMQP method as an async fn. Cheap to clone.

use super::consumer::Consumer;
use super::message::Message;
use super::options::*;
use super::shared::{ChannelKey, Shared};
use crate::engine::{Error, Response, Returned};
use crate::protocol::*;
use futures::channel::{mpsc, oneshot};

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

fn unexpected(r: Response) -> Error {
    Error::InvalidArgument(format!("unexpected reply {r:?}"))
}

impl Channel {
    pub fn id(&self) -> u16 {
        self.id
    }

    pub fn is_open(&self) -> bool {
        let inner = self.shared.lock();
        inner.check(self.key).is_ok() && inner.engine.channel_is_open(self.id)
    }

    async fn call(&self, m: Method) -> Result<Response, Error> {
        let id = self.id;
        self.shared
            .call_then(Some(self.key), move |e| e.call(id, m), |_, _| {})
            .await
    }

    async fn call_ok(&self, m: Method) -> Result<Method, Error> {
        match self.call(m).await? {
            Response::Method(m) => Ok(m),
            r => Err(unexpected(r)),
        }
    }

    pub async fn exchange_declare(
        &self,
        exchange: &str,
        kind: &str,
        o: ExchangeDeclareOptions,
        arguments: FieldTable,
    ) -> Result<(), Error> {
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
        self.call_ok(Method::ExchangeDeclare(m)).await.map(drop)
    }

    pub async fn exchange_delete(
        &self,
        exchange: &str,
        o: ExchangeDeleteOptions,
    ) -> Result<(), Error> {
        let m = ExchangeDelete {
            ticket: 0,
            exchange: exchange.into(),
            if_unused: o.if_unused,
            nowait: o.nowait,
        };
        self.call_ok(Method::ExchangeDelete(m)).await.map(drop)
    }

    pub async fn exchange_bind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        let m = ExchangeBind {
            ticket: 0,
            destination: destination.into(),
            source: source.into(),
            routing_key: routing_key.into(),
            nowait: false,
            arguments,
        };
        self.call_ok(Method::ExchangeBind(m)).await.map(drop)
    }

    pub async fn exchange_unbind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        let m = ExchangeUnbind {
            ticket: 0,
            destination: destination.into(),
            source: source.into(),
            routing_key: routing_key.into(),
            nowait: false,
            arguments,
        };
        self.call_ok(Method::ExchangeUnbind(m)).await.map(drop)
    }

    /// Declares a queue; an empty name asks the broker to generate one (returned in `QueueInfo::name`).
    pub async fn queue_declare(
        &self,
        queue: &str,
        o: QueueDeclareOptions,
        arguments: FieldTable,
    ) -> Result<QueueInfo, Error> {
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
        match self.call_ok(Method::QueueDeclare(m)).await? {
            Method::QueueDeclareOk(ok) => Ok(QueueInfo {
                name: ok.queue,
                message_count: ok.message_count,
                consumer_count: ok.consumer_count,
            }),
            // nowait: no reply, so the broker's counts are unknown
            Method::QueueDeclare(d) => Ok(QueueInfo {
                name: d.queue,
                message_count: 0,
                consumer_count: 0,
            }),
            m => Err(unexpected(Response::Method(m))),
        }
    }

    pub async fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        let m = QueueBind {
            ticket: 0,
            queue: queue.into(),
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            nowait: false,
            arguments,
        };
        self.call_ok(Method::QueueBind(m)).await.map(drop)
    }

    pub async fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        let m = QueueUnbind {
            ticket: 0,
            queue: queue.into(),
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            arguments,
        };
        self.call_ok(Method::QueueUnbind(m)).await.map(drop)
    }

    /// Removes all ready messages; returns how many.
    pub async fn queue_purge(&self, queue: &str) -> Result<u32, Error> {
        match self
            .call_ok(Method::QueuePurge(QueuePurge {
                ticket: 0,
                queue: queue.into(),
                nowait: false,
            }))
            .await?
        {
            Method::QueuePurgeOk(ok) => Ok(ok.message_count),
            m => Err(unexpected(Response::Method(m))),
        }
    }

    /// Deletes a queue; returns how many messages it held.
    pub async fn queue_delete(&self, queue: &str, o: QueueDeleteOptions) -> Result<u32, Error> {
        let m = QueueDelete {
            ticket: 0,
            queue: queue.into(),
            if_unused: o.if_unused,
            if_empty: o.if_empty,
            nowait: o.nowait,
        };
        match self.call_ok(Method::QueueDelete(m)).await? {
            Method::QueueDeleteOk(ok) => Ok(ok.message_count),
            Method::QueueDelete(_) => Ok(0),
            m => Err(unexpected(Response::Method(m))),
        }
    }

    pub async fn basic_qos(
        &self,
        prefetch_count: u16,
        prefetch_size: u32,
        global: bool,
    ) -> Result<(), Error> {
        let m = BasicQos {
            prefetch_size,
            prefetch_count,
            global,
        };
        self.call_ok(Method::BasicQos(m)).await.map(drop)
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
        match self.publish_now(exchange, routing_key, body, properties, o)? {
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
        let mut inner = self.shared.lock();
        inner.check(self.key)?;
        let seq = inner.engine.publish(
            self.id,
            exchange,
            routing_key,
            o.mandatory,
            o.immediate,
            properties,
            body,
        )?;
        inner.kick();
        Ok(match seq {
            Some(seq) => {
                let (tx, rx) = oneshot::channel();
                inner.confirms.insert((self.id, seq), tx);
                PublishWait::Confirm(seq, rx)
            }
            None => inner
                .drained()
                .map_or(PublishWait::Sent, PublishWait::Drain),
        })
    }

    /// Starts a consumer. Its messages arrive through the returned [`Consumer`] stream.
    pub async fn basic_consume(
        &self,
        queue: &str,
        o: ConsumeOptions,
        arguments: FieldTable,
    ) -> Result<Consumer, Error> {
        let (tx, rx) = mpsc::unbounded();
        let m = BasicConsume {
            ticket: 0,
            queue: queue.into(),
            consumer_tag: o.tag,
            no_local: o.no_local,
            no_ack: o.no_ack,
            exclusive: o.exclusive,
            nowait: false,
            arguments,
        };
        let id = self.id;
        // The driver routes the consumer when it dispatches consume-ok, before any delivery behind it.
        let reply = self.shared.call_then(
            Some(self.key),
            |e| e.call(id, Method::BasicConsume(m)),
            |inner, req| {
                inner.pending_consumers.insert(req, (id, tx));
            },
        );
        match reply.await? {
            Response::Method(Method::BasicConsumeOk(ok)) => Ok(Consumer::new(
                self.key,
                ok.consumer_tag,
                rx,
                self.shared.clone(),
            )),
            r => Err(unexpected(r)),
        }
    }

    /// Cancels a consumer by tag (see also [`Consumer::cancel`]).
    pub async fn basic_cancel(&self, consumer_tag: &str) -> Result<(), Error> {
        let m = BasicCancel {
            consumer_tag: consumer_tag.into(),
            nowait: false,
        };
        self.call_ok(Method::BasicCancel(m)).await?;
        self.shared
            .lock()
            .consumers
            .remove(&(self.id, consumer_tag.to_owned()));
        Ok(())
    }

    /// Fetches one message, `None` when the queue is empty.
    pub async fn basic_get(&self, queue: &str, no_ack: bool) -> Result<Option<Message>, Error> {
        match self
            .call(Method::BasicGet(BasicGet {
                ticket: 0,
                queue: queue.into(),
                no_ack,
            }))
            .await?
        {
            Response::Get(d) => Ok(d.map(|d| Message::new(*d, self.key, self.shared.clone()))),
            r => Err(unexpected(r)),
        }
    }

    fn send(&self, m: Method) -> Result<(), Error> {
        let id = self.id;
        self.shared.run(Some(self.key), |e| e.send(id, &m))
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
    pub async fn basic_recover(&self, requeue: bool) -> Result<(), Error> {
        self.call_ok(Method::BasicRecover(BasicRecover { requeue }))
            .await
            .map(drop)
    }

    /// Pauses (`false`) or resumes (`true`) deliveries to this channel; returns the broker's answer.
    pub async fn basic_flow(&self, active: bool) -> Result<bool, Error> {
        match self
            .call_ok(Method::ChannelFlow(ChannelFlow { active }))
            .await?
        {
            Method::ChannelFlowOk(ok) => Ok(ok.active),
            m => Err(unexpected(Response::Method(m))),
        }
    }

    /// Whether the broker has paused publishing on this channel with channel.flow.
    pub fn is_flow_paused(&self) -> bool {
        self.shared
            .lock()
            .flow_paused
            .get(&self.id)
            .copied()
            .unwrap_or(false)
    }

    /// Puts the channel in publisher-confirm mode: `basic_publish` then waits for the broker's ack.
    pub async fn confirm_select(&self) -> Result<(), Error> {
        self.call_ok(Method::ConfirmSelect(ConfirmSelect { nowait: false }))
            .await
            .map(drop)
    }

    pub async fn tx_select(&self) -> Result<(), Error> {
        self.call_ok(Method::TxSelect).await.map(drop)
    }

    pub async fn tx_commit(&self) -> Result<(), Error> {
        self.call_ok(Method::TxCommit).await.map(drop)
    }

    pub async fn tx_rollback(&self) -> Result<(), Error> {
        self.call_ok(Method::TxRollback).await.map(drop)
    }

    /// Messages published with `mandatory` that the broker could not route. One stream per channel:
    /// a second call replaces the first.
    pub fn returns(&self) -> mpsc::UnboundedReceiver<Returned> {
        let (tx, rx) = mpsc::unbounded();
        let mut inner = self.shared.lock();
        if inner.check(self.key).is_ok() {
            inner.returns.insert(self.id, tx);
        }
        rx
    }

    /// Closes the channel; consumers on it end. Closing a channel that already ended succeeds.
    pub async fn close(&self) -> Result<(), Error> {
        if self.shared.lock().check(self.key).is_err() {
            return Ok(());
        }
        let id = self.id;
        match self
            .shared
            .call_then(Some(self.key), |e| e.close_channel(id), |_, _| {})
            .await
        {
            Ok(_) | Err(Error::NotOpen(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
