//! `Connection::connect(url)`: the transport the URL names, then the handshake, under one
//! deadline. Written once; `transport::dial` is the per-target part.

use super::connection::Connection;
use super::url::ConnectionUrl;
use crate::engine::Error;
use crate::{rt, transport};

impl Connection {
    /// Connects to `amqp[s]://user:pass@host:port/vhost?heartbeat=..&frame_max=..&channel_max=..`
    /// natively, or to a `ws[s]://` URL in the browser (options: [`crate::client::url`]).
    /// `amqps://` needs the cargo feature `tls`.
    pub async fn connect(url: &str) -> Result<Connection, Error> {
        Self::connect_with(&ConnectionUrl::parse(url)?).await
    }

    /// One deadline (`connection_timeout`) covers the TCP or WebSocket connect, TLS and the AMQP
    /// handshake; the same bound applies to waiting for close-ok. A `connection_timeout` of 0
    /// means no deadline (close-ok is then awaited for the engine's default close timeout).
    pub async fn connect_with(url: &ConnectionUrl) -> Result<Connection, Error> {
        let start = rt::now_ms();
        let dial = transport::dial(url.endpoint());
        let (transport, platform) = match url.connection_timeout_ms {
            0 => dial.await?,
            ms => rt::timeout(ms, dial).await.map_err(|_| Error::Timeout)??,
        };
        Self::open_url(transport, &platform, url, start).await
    }

    /// The handshake over a transport already opened for `url` at `start`, with the URL's
    /// settings: what is left of its deadline, its close bound and read budget.
    pub(crate) async fn open_url(
        transport: transport::BoxTransport,
        platform: &str,
        url: &ConnectionUrl,
        start: u64,
    ) -> Result<Connection, Error> {
        let limit = url.connection_timeout_ms;
        let mut config = url.config.clone();
        if !platform.is_empty() {
            config.platform = platform.to_owned();
        }
        if limit != 0 {
            let spent = rt::now_ms().saturating_sub(start);
            config.handshake_timeout = limit.saturating_sub(spent).max(1);
            config.close_timeout = limit;
        } else {
            config.handshake_timeout = 0; // no deadline; close keeps the config's bound
        }
        Connection::open_with(transport, config, url.read_budget).await
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn schemes_the_native_transport_cannot_serve() {
        match Connection::connect("ws://127.0.0.1:1/ws").await {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("amqps://"), "{m}"),
            other => panic!("{:?}", other.err()),
        }
        #[cfg(not(feature = "tls"))]
        match Connection::connect("amqps://127.0.0.1:1").await {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("`tls` cargo feature"), "{m}"),
            other => panic!("{:?}", other.err()),
        }
        // With TLS, bad certificate files fail before any connection attempt.
        #[cfg(feature = "tls")]
        match Connection::connect("amqps://127.0.0.1:1?cacertfile=/nonexistent.pem").await {
            Err(Error::ConnectionLost { cause, .. }) => {
                assert!(cause.to_string().contains("/nonexistent.pem"), "{cause}")
            }
            other => panic!("{:?}", other.err()),
        }
    }
}
