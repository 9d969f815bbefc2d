//! Request/reply over a session. The client uses RabbitMQ's direct reply-to: one channel per
//! connection consumes `amq.rabbitmq.reply-to` (no acks) and publishes the requests, and replies
//! are matched to calls by correlation id. A call whose connection is lost before its reply came
//! is sent again on the next one, within its own deadline (at least once: a server may see it
//! twice). The server is a session subscription (recovered like any other) whose handler's result
//! is published to the caller's `reply-to`; a failing handler answers with an error reply.

use super::options::{Handler, HandlerError, HandlerResult, Settle, SubscribeOptions};
use super::subscription::is_connection_level;
use super::{lock, HandledSubscription, Link, SessionMessage};
use super::{QueueRef, Session};
use crate::client::{Channel, ConsumeOptions, Message, PublishOptions, QueueDeclareOptions};
use crate::engine::Error;
use crate::protocol::{BasicProperties, FieldTable};
use crate::rt;
use futures::channel::oneshot;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The pseudo-queue of direct reply-to.
const REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// Header of an error reply: the server's handler failed, its text is the value (and the body).
pub const RPC_ERROR_HEADER: &str = "x-rpc-error";

/// What a server handler answers: the reply body and properties, or why it failed.
pub type RpcReply = Result<(Vec<u8>, BasicProperties), String>;
/// Handles one request of an [`RpcServer`].
pub type RpcHandler = Handler<RpcReply>;

#[derive(Default)]
struct Calls {
    /// The reply channel on connection number `.0`.
    channel: Option<(u64, Channel)>,
    /// Correlation id → (connection it was sent on, where its reply goes).
    pending: HashMap<String, (u64, oneshot::Sender<SessionMessage>)>,
    next: u64,
    closed: bool,
}

/// Removes a call's entry however the call ends (reply, timeout, abort, error).
struct Pending<'a>(&'a Mutex<Calls>, &'a str);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        lock(self.0).pending.remove(self.1);
    }
}

/// A reusable RPC client over a session (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct RpcClient {
    session: Session,
    calls: Arc<Mutex<Calls>>,
    prefix: String,
}

impl RpcClient {
    pub fn new(session: &Session) -> RpcClient {
        let id = session.inner.lock().next_id();
        RpcClient {
            session: session.clone(),
            calls: Arc::default(),
            prefix: format!("warren-rpc-{id}-{}-", rt::now_ms()),
        }
    }

    /// Sends `body` to `queue` (through the default exchange) and waits at most `timeout_ms` for
    /// the reply (fails with [`Error::Timeout`]). An error reply is a reply too: [`rpc_error`]
    /// tells it apart.
    pub async fn call(
        &self,
        queue: &str,
        body: &[u8],
        properties: &BasicProperties,
        timeout_ms: u64,
    ) -> Result<SessionMessage, Error> {
        let id = {
            let mut c = lock(&self.calls);
            if c.closed {
                return Err(Error::NotOpen("RPC client"));
            }
            c.next += 1;
            format!("{}{}", self.prefix, c.next)
        };
        let _pending = Pending(&self.calls, &id);
        let mut properties = properties.clone();
        properties.reply_to = Some(REPLY_TO.into());
        properties.correlation_id = Some(id.as_str().into());
        let deadline = rt::now_ms() + timeout_ms;
        let mut dead = None;
        loop {
            let link = self.session.link(deadline, true, dead).await?;
            let generation = link.generation;
            let ch = match self.channel_for(&link).await {
                Ok(ch) => ch,
                Err(e) if is_connection_level(&e) => {
                    dead = Some(generation);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (tx, rx) = oneshot::channel();
            {
                let mut c = lock(&self.calls);
                if c.closed {
                    return Err(Error::NotOpen("RPC client"));
                }
                c.pending.insert(id.clone(), (generation, tx));
            }
            match ch.publish_now("", queue, body, &properties, PublishOptions::default()) {
                Ok(_) => {}
                Err(e) if is_connection_level(&e) || matches!(e, Error::NotOpen(_)) => {
                    dead = Some(generation);
                    continue;
                }
                Err(e) => return Err(e),
            }
            let left = deadline.saturating_sub(rt::now_ms()).max(1);
            match rt::timeout(left, rx).await {
                Ok(Ok(reply)) => return Ok(reply),
                // The reply channel ended (the connection was lost): ask again on the next one.
                Ok(Err(_)) if !lock(&self.calls).closed => dead = Some(generation),
                Ok(Err(_)) => return Err(Error::NotOpen("RPC client")),
                Err(_) => return Err(Error::Timeout),
            }
        }
    }

    /// The reply channel of `link`'s connection, opened (and consuming) on first use.
    async fn channel_for(&self, link: &Link) -> Result<Channel, Error> {
        let generation = link.generation;
        {
            let c = lock(&self.calls);
            if let Some((g, ch)) = &c.channel {
                if *g == generation && ch.is_open() {
                    return Ok(ch.clone());
                }
            }
        }
        let ch = link.conn.channel(None).await?;
        let options = ConsumeOptions {
            no_ack: true,
            ..ConsumeOptions::default()
        };
        let mut replies = ch
            .basic_consume(REPLY_TO, options, FieldTable::new())
            .await?;
        {
            let mut c = lock(&self.calls);
            match &c.channel {
                // another call opened one meanwhile: use it
                Some((g, other)) if *g == generation && other.is_open() => {
                    let other = other.clone();
                    drop(c);
                    drop(ch.close());
                    return Ok(other);
                }
                _ => c.channel = Some((generation, ch.clone())),
            }
        }
        let calls = Arc::downgrade(&self.calls);
        let (channel, connection) = (ch.clone(), link.conn.clone());
        super::spawn(async move {
            while let Some(Ok(m)) = replies.next().await {
                let Some(calls) = calls.upgrade() else { return };
                let Some(cid) = m.properties.correlation_id.clone() else {
                    continue;
                };
                let waiting = lock(&calls).pending.remove(cid.as_str());
                match waiting {
                    Some((_, tx)) => drop(tx.send(SessionMessage {
                        message: m,
                        channel: channel.clone(),
                        connection: connection.clone(),
                    })),
                    None => log::debug!("warren rpc: a reply nobody waits for ({cid})"),
                }
            }
            // The channel ended: calls sent on it will not get their reply through it.
            if let Some(calls) = calls.upgrade() {
                lock(&calls).pending.retain(|_, (g, _)| *g != generation);
            }
        });
        Ok(ch)
    }

    /// Ends the client: pending calls fail, its reply channel closes.
    pub async fn close(&self) {
        let ch = {
            let mut c = lock(&self.calls);
            c.closed = true;
            c.pending.clear();
            c.channel.take()
        };
        if let Some((_, ch)) = ch {
            let _ = ch.close().await;
        }
    }
}

/// The failure an error reply carries (its handler failed), `None` for an ordinary reply.
pub fn rpc_error(reply: &Message) -> Option<String> {
    reply.properties.headers.as_ref()?.get(RPC_ERROR_HEADER)?;
    Some(String::from_utf8_lossy(&reply.body).into_owned())
}

/// Answers requests on a queue until closed ([`Session::rpc_server`]).
#[derive(Clone)]
pub struct RpcServer {
    subscription: HandledSubscription,
    queue: String,
}

impl RpcServer {
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Stops answering; the queue stays.
    pub fn close(&self) {
        self.subscription.cancel();
    }
}

impl Session {
    /// A reusable RPC client (see [`RpcClient`]).
    pub fn rpc_client(&self) -> RpcClient {
        RpcClient::new(self)
    }

    /// Declares `queue` (recorded, so recovered) and answers each request on it with what
    /// `handler` returns, published to the request's `reply-to` with its correlation id. A
    /// handler that fails answers with an error reply ([`RPC_ERROR_HEADER`]); a request without
    /// `reply-to` is rejected. `prefetch` bounds the requests in progress.
    pub async fn rpc_server(
        &self,
        queue: &str,
        prefetch: u16,
        handler: RpcHandler,
    ) -> Result<RpcServer, Error> {
        // as amqp-client's session.queue(name): a named queue is durable, a server-named one
        // exclusive and auto-delete
        let anonymous = queue.is_empty();
        let options = QueueDeclareOptions {
            durable: !anonymous,
            exclusive: anonymous,
            auto_delete: anonymous,
            ..QueueDeclareOptions::default()
        };
        let q = self
            .queue_declare(queue, options, FieldTable::new())
            .await?;
        // on wasm the handler is not Send (one thread); natively it is
        #[allow(clippy::arc_with_non_send_sync)]
        let answer: Handler<HandlerResult> = Arc::new(move |m: SessionMessage| {
            let handler = handler.clone();
            Box::pin(async move {
                let Some(reply_to) = m.properties.reply_to.clone() else {
                    return Err(HandlerError::Unusable(
                        "an RPC request without reply-to".to_owned(),
                    ));
                };
                let correlation_id = m.properties.correlation_id.clone();
                let ch = m.channel().clone();
                let (body, mut properties) = match handler(m).await {
                    Ok(reply) => reply,
                    Err(why) => {
                        log::warn!("warren rpc: handler failed: {why}");
                        error_reply(why)
                    }
                };
                properties.correlation_id = correlation_id;
                ch.publish_now("", &reply_to, &body, &properties, PublishOptions::default())
                    .map(|_| ())
                    .map_err(|e| HandlerError::Failed(format!("could not send the reply: {e}")))
            })
        });
        let options = SubscribeOptions {
            prefetch,
            ..SubscribeOptions::default()
        };
        let subscription = self
            .subscribe_with(
                QueueRef::from(&q),
                options,
                FieldTable::new(),
                Settle::Auto {
                    requeue_on_nack: false,
                },
                answer,
            )
            .await?;
        Ok(RpcServer {
            subscription,
            queue: q.name(),
        })
    }
}

fn error_reply(why: String) -> (Vec<u8>, BasicProperties) {
    let mut headers = FieldTable::new();
    headers.insert(RPC_ERROR_HEADER, why.clone());
    let properties = BasicProperties {
        content_type: Some("text/plain".into()),
        headers: Some(headers),
        ..BasicProperties::default()
    };
    (why.into_bytes(), properties)
}
