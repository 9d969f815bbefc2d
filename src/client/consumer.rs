//! A consumer: a stream of messages that ends when it is cancelled (by us or the broker) and
//! yields one error first when its channel or connection fails.

use super::inbox::Inbox;
use super::message::Message;
use super::registry::ChannelKey;
use super::reply::Reply;
use super::shared::Shared;
use crate::engine::{Delivery, Error};
use crate::protocol::{BasicCancel, Method};
use crate::rt;
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::task::{Context, Poll};

pub struct Consumer {
    key: ChannelKey,
    tag: String,
    inbox: Inbox<Result<Box<Delivery>, Error>>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("channel", &self.key.id)
            .field("tag", &self.tag)
            .finish()
    }
}

impl Consumer {
    pub(crate) fn new(
        key: ChannelKey,
        tag: String,
        inbox: Inbox<Result<Box<Delivery>, Error>>,
    ) -> Self {
        Consumer { key, tag, inbox }
    }

    fn shared(&self) -> &Shared {
        &self.inbox.shared
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    pub fn channel_id(&self) -> u16 {
        self.key.id
    }

    /// Cancels the consumer; messages already delivered can still be read, then the stream ends.
    pub async fn cancel(&self) -> Result<(), Error> {
        let m = Method::BasicCancel(BasicCancel {
            consumer_tag: self.tag.as_str().into(),
            nowait: false,
        });
        let ch = self.key.id;
        let sent = self
            .shared()
            .request(Some(self.key), |e| e.call(ch, m), |_, _| {});
        Reply::new(sent, |_| Ok(())).await?;
        self.shared().lock().router.consumers.remove(ch, &self.tag);
        Ok(())
    }

    /// The next message, `Ok(None)` once the consumer ended, `Err(Timeout)` after `timeout_ms`.
    pub async fn wait(&mut self, timeout_ms: u64) -> Result<Option<Message>, Error> {
        match rt::timeout(timeout_ms, self.next()).await {
            Ok(item) => item.transpose(),
            Err(_) => Err(Error::Timeout),
        }
    }
}

impl Stream for Consumer {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let key = self.key;
        self.inbox
            .poll_next(cx)
            .map(|item| item.map(|r| r.map(|d| Message::new(*d, key, self.inbox.shared.clone()))))
    }
}

/// A consumer dropped while still active is cancelled, so the broker stops sending it messages
/// that nobody would read (and that would stay unacked until the channel closes).
impl Drop for Consumer {
    fn drop(&mut self) {
        let mut state = self.inbox.shared.lock();
        let tag = std::mem::take(&mut self.tag);
        if state.ensure_current(self.key).is_err()
            || state.router.consumers.remove(self.key.id, &tag).is_none()
        {
            return;
        }
        let m = Method::BasicCancel(BasicCancel {
            consumer_tag: tag.into(),
            nowait: true,
        });
        if state.engine.call(self.key.id, m).is_ok() {
            state.wake_driver();
        }
    }
}
