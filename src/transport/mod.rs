//! Byte pipes behind one trait: a tokio stream (TCP, or TLS over it) natively, a WebSocket in
//! browsers and Deno, or a TCP/TLS socket opened by JavaScript glue in Deno and Node (`jsstream`).
//! Everything target-specific below the session lives here, in `rt.rs`, in
//! `js/` or in `lib.rs`. [`dial`] opens the pipe a [`ConnectionUrl`] names.

pub use crate::engine::TransportError;
use std::path::PathBuf;
use std::task::{Context, Poll};

#[cfg(target_arch = "wasm32")]
pub mod jsstream;
#[cfg(all(not(target_arch = "wasm32"), feature = "tokio"))]
pub mod stream;
#[cfg(all(not(target_arch = "wasm32"), feature = "tls"))]
pub mod tls;
#[cfg(target_arch = "wasm32")]
pub mod websocket;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Amqp,
    Amqps,
    Ws,
    Wss,
}

/// TLS settings of an `amqps://` URL. Files are read when connecting, not while parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file of CA certificates to trust; `None` trusts the built-in web (Mozilla) roots.
    pub ca_cert_file: Option<PathBuf>,
    /// PEM client certificate chain (leaf first); always set together with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// The name sent as SNI and checked against the server certificate; `None` uses the host.
    pub server_name: Option<String>,
    /// In Deno and Node: amqp-client's `AMQPTlsOptions` object (`{ ca, cert, key, ... }`, PEM),
    /// handed to the runtime's TLS as it is (see [`jsstream`]).
    #[cfg(target_arch = "wasm32")]
    pub js: jsstream::JsTlsOptions,
}

impl TlsOptions {
    /// True when any option was given.
    /// Field by field, not `!= default()`: comparing paths links std's path component parser.
    pub fn is_set(&self) -> bool {
        #[cfg(target_arch = "wasm32")]
        if self.js.0.is_some() {
            return true;
        }
        self.ca_cert_file.is_some()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.server_name.is_some()
    }
}

/// Where to connect: the transport's part of a connection URL.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    pub scheme: Scheme,
    pub host: &'a str,
    pub port: u16,
    /// For WebSocket: the URL to open, without credentials or warren's own query options.
    pub ws_url: &'a str,
    pub ws_protocols: &'a [String],
    /// WebSocket: use `WebSocketStream` where the runtime has it (reads push back on the peer).
    pub ws_stream: bool,
    pub tls: &'a TlsOptions,
}

/// The contract between the connection driver and a byte transport.
pub trait Transport: Unpin {
    /// Hands every chunk that is available now to `sink`. `Pending` means nothing more for now
    /// (the waker is registered); an error (`ClosedByPeer` for EOF) ends the transport. The driver
    /// stops calling this while the application has too much undelivered data: a transport that
    /// reads only when asked pushes back on the peer; one that cannot must bound what it holds
    /// and fail with [`TransportError::ReadBufferFull`].
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Poll<Result<(), TransportError>>;

    /// Queues one buffer of whole frames; for WebSocket it becomes exactly one binary message.
    fn send(&mut self, data: Vec<u8>) -> Result<(), TransportError>;

    /// Drives queued data out. `Ready(Ok)` when nothing is left to write.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>>;

    /// Closes the underlying connection (WebSocket: code 1000).
    fn close(&mut self);
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Poll<Result<(), TransportError>> {
        (**self).poll_read(cx, sink)
    }

    fn send(&mut self, data: Vec<u8>) -> Result<(), TransportError> {
        (**self).send(data)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        (**self).poll_flush(cx)
    }

    fn close(&mut self) {
        (**self).close()
    }
}

/// A transport chosen at run time by the URL scheme.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxTransport = Box<dyn Transport + Send>;
#[cfg(target_arch = "wasm32")]
pub type BoxTransport = Box<dyn Transport>;

#[cfg(all(not(target_arch = "wasm32"), feature = "tokio"))]
pub use stream::dial;
/// Opens the pipe an endpoint names: a WebSocket for `ws[s]://`; for `amqp[s]://` a TCP/TLS
/// socket from the JavaScript runtime's glue (Deno, Node), where it registered one.
#[cfg(target_arch = "wasm32")]
pub async fn dial(to: Endpoint<'_>) -> Result<(BoxTransport, String), crate::engine::Error> {
    match to.scheme {
        Scheme::Amqp | Scheme::Amqps if jsstream::can_dial() => jsstream::dial(to).await,
        _ => websocket::dial(to).await,
    }
}
