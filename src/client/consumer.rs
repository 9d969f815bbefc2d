//! A consumer: a stream of messages that ends when it is cancelled (by us or the broker) and
//! yields one error first when its channel or connection fails.

use super::message::Message;
use super::shared::{ChannelKey, Shared};
use crate::engine::Error;
use crate::protocol::{BasicCancel, Method};
use crate::transport::runtime;
use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::task::{Context, Poll};

pub struct Consumer {
    channel: u16,
    key: ChannelKey,
    tag: String,
    rx: mpsc::UnboundedReceiver<Result<Message, Error>>,
    shared: Shared,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("channel", &self.channel)
            .field("tag", &self.tag)
            .finish()
    }
}

impl Consumer {
    pub(crate) fn new(
        key: ChannelKey,
        tag: String,
        rx: mpsc::UnboundedReceiver<Result<Message, Error>>,
        shared: Shared,
    ) -> Self {
        Consumer {
            channel: key.id,
            key,
            tag,
            rx,
            shared,
        }
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    pub fn channel_id(&self) -> u16 {
        self.channel
    }

    /// Cancels the consumer; messages already delivered can still be read, then the stream ends.
    pub async fn cancel(&self) -> Result<(), Error> {
        let m = Method::BasicCancel(BasicCancel {
            consumer_tag: self.tag.clone(),
            nowait: false,
        });
        let ch = self.channel;
        self.shared.call(Some(self.key), |e| e.call(ch, m)).await?;
        self.shared.lock().consumers.remove(self.channel, &self.tag);
        Ok(())
    }

    /// The next message, `Ok(None)` once the consumer ended, `Err(Timeout)` after `timeout_ms`.
    pub async fn wait(&mut self, timeout_ms: u64) -> Result<Option<Message>, Error> {
        let next = self.rx.next();
        let sleep = runtime::sleep_ms(timeout_ms);
        match futures::future::select(next, sleep).await {
            futures::future::Either::Left((item, _)) => item.transpose(),
            futures::future::Either::Right(_) => Err(Error::Timeout),
        }
    }
}

impl Stream for Consumer {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_next_unpin(cx)
    }
}

/// A consumer dropped while still active is cancelled, so the broker stops sending it messages
/// that nobody would read (and that would stay unacked until the channel closes).
impl Drop for Consumer {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        let tag = std::mem::take(&mut self.tag);
        if inner.check(self.key).is_err() || inner.consumers.remove(self.channel, &tag).is_none() {
            return;
        }
        let m = Method::BasicCancel(BasicCancel {
            consumer_tag: tag,
            nowait: true,
        });
        if inner.engine.call(self.channel, m).is_ok() {
            inner.kick();
        }
    }
}
