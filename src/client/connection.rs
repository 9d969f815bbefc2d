//! The connection handle: opens channels, closes, reports blocked/unblocked and the end.

use super::channel::Channel;
use super::driver::Driver;
use super::reply::Reply;
use super::router::{ConnectionEvent, Router};
use super::shared::Shared;
use super::url::DEFAULT_READ_BUDGET;
use crate::engine::{Config, Engine, Error, Response};
use crate::protocol::{ConnectionUpdateSecret, FieldTable, Method, ReplyCode};
use crate::rt::{self, MaybeSend};
use crate::transport::Transport;
use bytes::Bytes;
use futures::channel::{mpsc, oneshot};

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
    /// Runs the AMQP handshake over an established transport, bounded by
    /// `config.handshake_timeout`.
    pub async fn open<T: Transport + MaybeSend + 'static>(
        transport: T,
        config: Config,
    ) -> Result<Connection, Error> {
        Self::open_with(transport, config, DEFAULT_READ_BUDGET).await
    }

    /// [`Connection::open`] with a read budget: the bytes of delivered-but-unread messages at
    /// which the connection stops reading until consumers catch up.
    pub async fn open_with<T: Transport + MaybeSend + 'static>(
        transport: T,
        config: Config,
        read_budget: usize,
    ) -> Result<Connection, Error> {
        let (tx, rx) = oneshot::channel();
        let engine = Engine::new(config, rt::now_ms());
        let shared = Shared::new(engine, Router::new(tx), read_budget);
        rt::spawn(Driver::new(shared.clone(), transport));
        match rx.await {
            Ok(Ok(())) => Ok(Connection { shared }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::NotOpen("connection")),
        }
    }

    /// Opens a channel with the given id, or the lowest free one.
    pub async fn channel(&self, id: Option<u16>) -> Result<Channel, Error> {
        let (key, rx) = {
            let mut state = self.shared.lock();
            let (ch, req) = state.engine.open_channel(id)?;
            let key = state.router.channels.register(ch);
            (key, state.expect_reply(req))
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

    /// Closes with a reply code. Bounded by the connection's close timeout: a broker that never
    /// answers (dead network, heartbeats off) gets the transport closed under it and
    /// `Error::Timeout`.
    pub async fn close_with(&self, code: ReplyCode, text: &str) -> Result<(), Error> {
        let ended = {
            let mut state = self.shared.lock();
            state.engine.close(code, text, rt::now_ms())?;
            state.wake_driver();
            state.router.on_end()
        };
        match ended.await.unwrap_or(None) {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// Resolves when the connection has ended: `None` if we closed it, else why it ended.
    pub async fn closed(&self) -> Option<Error> {
        let ended = self.shared.lock().router.on_end();
        ended.await.unwrap_or(None)
    }

    pub fn is_open(&self) -> bool {
        self.shared.lock().engine.is_open()
    }

    /// Connection-level notifications (blocked/unblocked), from now on. A listener that leaves
    /// more than 64 unread misses the newer ones.
    pub fn events(&self) -> mpsc::Receiver<ConnectionEvent> {
        self.shared.lock().router.listen()
    }

    /// Replaces the credentials of a live connection (e.g. a refreshed OAuth token).
    pub async fn update_secret(&self, new_secret: &str, reason: &str) -> Result<(), Error> {
        let m = ConnectionUpdateSecret {
            new_secret: Bytes::copy_from_slice(new_secret.as_bytes()),
            reason: reason.into(),
        };
        let sent = self.shared.request(
            None,
            |e| e.call(0, Method::ConnectionUpdateSecret(m)),
            |_, _| {},
        );
        Reply::new(sent, |r| match r {
            Response::Method(_) => Ok(()),
            _ => Err(Error::InvalidArgument(
                "unexpected reply to update-secret".into(),
            )),
        })
        .await
    }

    pub fn server_properties(&self) -> FieldTable {
        self.shared.lock().router.server_properties.clone()
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

    /// Bytes of delivered messages waiting for the application to take them (bounded by the
    /// read budget, plus what arrives while a reply is awaited).
    pub fn unread_bytes(&self) -> usize {
        self.shared.budget().used()
    }
}

impl Connection {
    /// A handle for channel 0, the connection's own: it is never open for channel methods (the
    /// JS bindings list it in `client.channels` as amqp-client does).
    pub fn channel_zero(&self) -> Channel {
        Channel {
            id: 0,
            key: super::registry::ChannelKey { id: 0, epoch: 0 },
            shared: self.shared.clone(),
        }
    }
}
