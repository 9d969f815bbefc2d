//! `Reply<T>`: the future returned by channel methods. The request is encoded when the method is
//! called, not when the future is first polled, so call order is wire order even for callers
//! that await later (or, in JS, never).

use crate::engine::{Error, Response};
use futures::channel::oneshot;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub type ReplyRx = oneshot::Receiver<Result<Response, Error>>;
pub type Convert<T> = Box<dyn FnOnce(Response) -> Result<T, Error> + Send>;

/// Resolves with the outcome of one synchronous AMQP method.
#[must_use = "the request is already sent; await the reply to learn whether it succeeded"]
pub struct Reply<T> {
    state: Option<(Result<ReplyRx, Error>, Convert<T>)>,
}

impl<T> Reply<T> {
    pub(crate) fn new(
        rx: Result<ReplyRx, Error>,
        convert: impl FnOnce(Response) -> Result<T, Error> + Send + 'static,
    ) -> Self {
        Reply {
            state: Some((rx, Box::new(convert))),
        }
    }

    /// A reply known without asking the broker.
    pub(crate) fn ready(result: Result<T, Error>) -> Self
    where
        T: Send + 'static,
    {
        match result {
            Ok(v) => {
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(Ok(Response::Get(None)));
                Reply::new(Ok(rx), move |_| Ok(v))
            }
            Err(e) => Reply::new(Err(e), |_| Err(Error::NotOpen("channel"))),
        }
    }

    /// The receiver and converter, for the JS bindings (one Promise future type for every method).
    #[doc(hidden)]
    pub fn into_parts(mut self) -> (Result<ReplyRx, Error>, Convert<T>) {
        match self.state.take() {
            Some(s) => s,
            None => (
                Err(Error::NotOpen("reply")),
                Box::new(|_| Err(Error::NotOpen("reply"))),
            ),
        }
    }
}

impl<T> Future for Reply<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = match self.state.as_mut() {
            None => return Poll::Ready(Err(Error::NotOpen("reply"))),
            Some((Err(_), _)) => None,
            Some((Ok(rx), _)) => match Pin::new(rx).poll(cx) {
                Poll::Pending => return Poll::Pending,
                // The driver dropped the sender: the connection is gone.
                Poll::Ready(r) => Some(r.unwrap_or(Err(Error::NotOpen("connection")))),
            },
        };
        let Some((rx, convert)) = self.state.take() else {
            return Poll::Ready(Err(Error::NotOpen("reply")));
        };
        Poll::Ready(match (rx, result) {
            (Err(e), _) => Err(e),
            (Ok(_), Some(r)) => r.and_then(convert),
            (Ok(_), None) => Err(Error::NotOpen("reply")),
        })
    }
}
