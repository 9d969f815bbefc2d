//! A subscription outlives connections: the same stream keeps yielding after a reconnect. Each
//! connection gets a forwarder task that moves deliveries from that connection's consumer into
//! the subscription's bounded queue, so a slow reader still pushes back on the broker.

use super::lock;
use super::options::SubscribeOptions;
use super::topology::QueueRef;
use crate::client::{Channel, Connection, Consumer, Message};
use crate::engine::Error;
use crate::protocol::{FieldTable, FieldValue};
use crate::rt;
use futures::channel::{mpsc, oneshot};
use futures::future::{select, Either};
use futures::{SinkExt, Stream, StreamExt};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Messages a subscription holds for its reader before the forwarder waits.
const QUEUE: usize = 64;

pub(crate) type Item = Result<SessionMessage, Error>;

/// What the session remembers of a subscription to consume again after a reconnect.
pub(crate) struct Record {
    pub id: u64,
    pub queue: QueueRef,
    pub options: SubscribeOptions,
    pub arguments: FieldTable,
    /// Taken when the subscription ends (its stream then ends).
    tx: Mutex<Option<mpsc::Sender<Item>>>,
    /// For stream queues: the offset of the last message handed over.
    last_offset: Mutex<Option<i64>>,
    /// The newest connection generation it consumes on (each consumes once).
    consumed_on: Mutex<u64>,
    /// Dropped by [`Record::end`]: tells the running forwarder to cancel its consumer now.
    cancel: Mutex<Vec<oneshot::Sender<()>>>,
    /// The broker's consumer tag on the newest connection, and its channel.
    tag: Mutex<String>,
    current: Mutex<Option<(Channel, Connection)>>,
}

impl Record {
    pub fn new(
        id: u64,
        queue: QueueRef,
        options: SubscribeOptions,
        arguments: FieldTable,
    ) -> (Arc<Record>, mpsc::Receiver<Item>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let record = Record {
            id,
            queue,
            options,
            arguments,
            tx: Mutex::new(Some(tx)),
            last_offset: Mutex::new(None),
            consumed_on: Mutex::new(0),
            cancel: Mutex::new(Vec::new()),
            tag: Mutex::new(String::new()),
            current: Mutex::new(None),
        };
        (Arc::new(record), rx)
    }

    pub fn is_live(&self) -> bool {
        lock(&self.tx).as_ref().is_some_and(|tx| !tx.is_closed())
    }

    pub fn consumer_tag(&self) -> String {
        lock(&self.tag).clone()
    }

    /// The channel it consumes on now (and its connection), once it has consumed.
    pub fn current(&self) -> Option<(Channel, Connection)> {
        lock(&self.current).clone()
    }

    pub fn end(&self) {
        lock(&self.tx).take();
        lock(&self.cancel).clear();
    }

    /// The consume arguments for the next connection: a stream consumer resumes after the last
    /// offset it handed over.
    fn arguments_now(&self) -> FieldTable {
        let mut args = self.arguments.clone();
        if let Some(last) = *lock(&self.last_offset) {
            args.insert("x-stream-offset", FieldValue::I64(last + 1));
        }
        args
    }

    /// Consumes on a fresh channel of `conn` (connection number `generation`) and forwards
    /// until that connection ends. Once per connection: a second call for it does nothing.
    pub async fn consume(
        self: &Arc<Self>,
        conn: &Connection,
        generation: u64,
    ) -> Result<(), Error> {
        {
            let mut on = lock(&self.consumed_on);
            if *on >= generation || !self.is_live() {
                return Ok(());
            }
            *on = generation;
        }
        let ch = conn.channel(None).await?;
        if self.options.prefetch > 0 {
            ch.basic_qos(self.options.prefetch, 0, false).await?;
        }
        let consumer = ch
            .basic_consume(
                &self.queue.name(),
                self.options.consume.clone(),
                self.arguments_now(),
            )
            .await?;
        *lock(&self.tag) = consumer.tag().to_owned();
        *lock(&self.current) = Some((ch.clone(), conn.clone()));
        let Some(tx) = lock(&self.tx).clone() else {
            return Ok(());
        };
        let (cancel_tx, cancel_rx) = oneshot::channel();
        {
            let mut cancel = lock(&self.cancel);
            cancel.retain(|c| !c.is_canceled()); // forwarders of earlier connections are gone
            cancel.push(cancel_tx);
        }
        super::spawn(forward(
            self.clone(),
            consumer,
            ch,
            conn.clone(),
            tx,
            cancel_rx,
        ));
        Ok(())
    }
}

/// Errors after which the session reconnects (rather than ending what saw them).
pub(crate) fn is_connection_level(e: &Error) -> bool {
    matches!(
        e,
        Error::ConnectionLost { .. } | Error::ConnectionClosed(_) | Error::NotOpen("connection")
    )
}

fn stream_offset(m: &Message) -> Option<i64> {
    match m.properties.headers.as_ref()?.get("x-stream-offset")? {
        FieldValue::I64(v) => Some(*v),
        FieldValue::U64(v) => i64::try_from(*v).ok(),
        FieldValue::I32(v) => Some((*v).into()),
        _ => None,
    }
}

async fn forward(
    record: Arc<Record>,
    mut consumer: Consumer,
    ch: Channel,
    conn: Connection,
    mut tx: mpsc::Sender<Item>,
    mut cancelled: oneshot::Receiver<()>,
) {
    loop {
        let next = match select(consumer.next(), &mut cancelled).await {
            Either::Left((next, _)) => next,
            Either::Right(_) => break, // the subscription ended: cancel below
        };
        match next {
            Some(Ok(message)) => {
                let offset = stream_offset(&message);
                let m = SessionMessage {
                    message,
                    channel: ch.clone(),
                    connection: conn.clone(),
                };
                if tx.send(Ok(m)).await.is_err() {
                    break; // the subscription was dropped: cancel below
                }
                if offset.is_some() {
                    *lock(&record.last_offset) = offset;
                }
            }
            // The session reconnects and consumes again; nothing ends here.
            Some(Err(e)) if is_connection_level(&e) => return,
            Some(Err(e)) => {
                let _ = tx.send(Err(e)).await;
                record.end();
                break;
            }
            None if !ch.is_open() => return, // the connection closed under the consumer
            None => {
                // Cancelled by the broker (e.g. its queue was deleted): the subscription ends.
                record.end();
                break;
            }
        }
    }
    drop(consumer); // cancels an active consumer
    drop(ch.close()); // the request is sent at call time; nobody waits for the reply
}

/// A message from a subscription. Settling one that came over a connection which has since
/// been replaced does nothing (the broker redelivers it): it can never act on the new connection.
#[derive(Debug)]
pub struct SessionMessage {
    pub message: Message,
    /// The channel it came on (a session channel, or the subscription's own).
    pub(crate) channel: Channel,
    pub(crate) connection: Connection,
}

impl std::ops::Deref for SessionMessage {
    type Target = Message;
    fn deref(&self) -> &Message {
        &self.message
    }
}

fn stale_is_ok(r: Result<(), Error>) -> Result<(), Error> {
    match r {
        Err(e) if is_connection_level(&e) || matches!(e, Error::NotOpen(_)) => Ok(()),
        r => r,
    }
}

impl SessionMessage {
    pub fn ack(&self) -> Result<(), Error> {
        stale_is_ok(self.message.ack())
    }

    pub fn nack(&self, requeue: bool) -> Result<(), Error> {
        stale_is_ok(self.message.nack(requeue))
    }

    pub fn reject(&self, requeue: bool) -> Result<(), Error> {
        stale_is_ok(self.message.reject(requeue))
    }

    /// The channel the message came on (acks for it go there).
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// What settles the message later, so the message itself can be handed on (e.g. to an
    /// application callback) and still be acked or nacked here afterwards.
    pub fn settler(&self) -> Settler {
        Settler {
            channel: self.channel.clone(),
            delivery_tag: self.message.delivery_tag,
        }
    }
}

/// Settles one message after it was handed on; like [`SessionMessage`]'s own methods, settling
/// a message of a connection that has since been replaced does nothing.
#[derive(Debug, Clone)]
pub struct Settler {
    channel: Channel,
    delivery_tag: u64,
}

impl Settler {
    pub fn ack(&self) -> Result<(), Error> {
        stale_is_ok(self.channel.basic_ack(self.delivery_tag, false))
    }

    pub fn nack(&self, requeue: bool) -> Result<(), Error> {
        stale_is_ok(self.channel.basic_nack(self.delivery_tag, false, requeue))
    }
}

/// The messages of one subscription, across reconnects. Ends when cancelled (by the
/// application, the broker, or `Session::stop`); yields an error first if the broker refused it.
pub struct Subscription {
    pub(crate) record: Arc<Record>,
    pub(crate) rx: mpsc::Receiver<Item>,
}

impl Subscription {
    /// The next message, `Ok(None)` once the subscription ended, `Err(Timeout)` after
    /// `timeout_ms`.
    pub async fn wait(&mut self, timeout_ms: u64) -> Result<Option<SessionMessage>, Error> {
        match rt::timeout(timeout_ms, self.rx.next()).await {
            Ok(item) => item.transpose(),
            Err(_) => Err(Error::Timeout),
        }
    }

    /// Stops the subscription; its consumer is cancelled on the live connection.
    pub fn cancel(&mut self) {
        self.record.end();
        self.rx.close();
    }
}

impl Stream for Subscription {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        self.rx.poll_next_unpin(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel();
    }
}
