//! The connection handle: opens channels, closes, reports blocked/unblocked and the end.

use super::channel::Channel;
use super::driver;
use super::shared::{ConnectionEvent, Shared};
use super::transport::Transport;
use crate::engine::{Config, Engine, Error, Response};
use crate::protocol::{ConnectionUpdateSecret, FieldTable, Method, ReplyCode};
use crate::transport::runtime::{self, MaybeSend};
use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::future::{select, Either};

#[derive(Clone)]
pub struct Connection {
    pub(crate) shared: Shared,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("engine", &self.shared.lock().engine)
            .finish()
    }
}

impl Connection {
    /// Runs the AMQP handshake over an established transport, bounded by `timeout_ms`.
    pub async fn open<T: Transport + MaybeSend + 'static>(
        transport: T,
        config: Config,
        timeout_ms: u64,
    ) -> Result<Connection, Error> {
        let (tx, rx) = oneshot::channel();
        let shared = Shared::new(Engine::new(config), tx);
        shared.lock().timeout_ms = timeout_ms;
        runtime::spawn(driver::run(shared.clone(), transport));
        match select(rx, runtime::sleep_ms(timeout_ms)).await {
            Either::Left((Ok(Ok(())), _)) => Ok(Connection { shared }),
            Either::Left((Ok(Err(e)), _)) => Err(e),
            Either::Left((Err(_), _)) => Err(Error::ConnectionLost(
                "driver stopped during the handshake".into(),
            )),
            Either::Right(_) => {
                let mut inner = shared.lock();
                inner.engine.handle_transport_closed("handshake timed out");
                inner.kick();
                Err(Error::Timeout)
            }
        }
    }

    /// Opens a channel with the given id, or the lowest free one.
    pub async fn channel(&self, id: Option<u16>) -> Result<Channel, Error> {
        let (key, rx) = {
            let mut inner = self.shared.lock();
            let (ch, req) = inner.engine.open_channel(id)?;
            let key = inner.register_channel(ch);
            (key, inner.wait_for(req))
        };
        rx.await.unwrap_or(Err(Error::NotOpen("connection")))?;
        Ok(Channel {
            id: key.id,
            key,
            shared: self.shared.clone(),
        })
    }

    /// Closes the connection normally and waits until the broker confirmed.
    pub async fn close(&self) -> Result<(), Error> {
        self.close_with(ReplyCode::SUCCESS, "goodbye").await
    }

    /// Closes with a reply code. Bounded by the connection timeout: a broker that never answers
    /// (dead network, heartbeats off) gets the transport closed under it and `Error::Timeout`.
    pub async fn close_with(&self, code: ReplyCode, text: &str) -> Result<(), Error> {
        let timeout_ms = {
            let mut inner = self.shared.lock();
            inner.engine.close(code, text)?;
            inner.kick();
            inner.timeout_ms
        };
        match select(Box::pin(self.closed()), runtime::sleep_ms(timeout_ms)).await {
            Either::Left((None, _)) => Ok(()),
            Either::Left((Some(e), _)) => Err(e),
            Either::Right(_) => {
                let mut inner = self.shared.lock();
                inner
                    .engine
                    .handle_transport_closed("no close-ok from the broker in time");
                inner.kick();
                Err(Error::Timeout)
            }
        }
    }

    /// Resolves when the connection has ended: `None` if we closed it, else why it ended.
    pub async fn closed(&self) -> Option<Error> {
        let rx = {
            let mut inner = self.shared.lock();
            if let Some(c) = &inner.closed {
                return c.clone();
            }
            let (tx, rx) = oneshot::channel();
            inner.closed_waiters.push(tx);
            rx
        };
        rx.await.unwrap_or(None)
    }

    pub fn is_open(&self) -> bool {
        self.shared.lock().engine.is_open()
    }

    /// Connection-level notifications (blocked/unblocked), from now on.
    pub fn events(&self) -> mpsc::UnboundedReceiver<ConnectionEvent> {
        let (tx, rx) = mpsc::unbounded();
        self.shared.lock().listeners.push(tx);
        rx
    }

    /// Replaces the credentials of a live connection (e.g. a refreshed OAuth token).
    pub async fn update_secret(&self, new_secret: &str, reason: &str) -> Result<(), Error> {
        let m = ConnectionUpdateSecret {
            new_secret: Bytes::copy_from_slice(new_secret.as_bytes()),
            reason: reason.into(),
        };
        match self
            .shared
            .call(None, |e| e.call(0, Method::ConnectionUpdateSecret(m)))
            .await?
        {
            Response::Method(_) => Ok(()),
            _ => Err(Error::InvalidArgument(
                "unexpected reply to update-secret".into(),
            )),
        }
    }

    pub fn server_properties(&self) -> FieldTable {
        self.shared.lock().server_properties.clone()
    }

    pub fn frame_max(&self) -> u32 {
        self.shared.lock().engine.frame_max()
    }

    pub fn channel_max(&self) -> u16 {
        self.shared.lock().engine.channel_max()
    }

    /// Negotiated heartbeat interval in seconds.
    pub fn heartbeat(&self) -> u16 {
        self.shared.lock().engine.heartbeat()
    }
}
