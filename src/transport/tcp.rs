//! Native transports: tokio TCP, and TLS over it (feature `tls`, see `tls.rs`). Both are a
//! [`StreamTransport`] over a different byte stream. `Connection::connect("amqp[s]://...")` lives here.

use crate::client::transport::Transport;
use crate::client::url::{ConnectionUrl, Scheme};
use crate::client::Connection;
use crate::engine::Error;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A [`Transport`] over any tokio byte stream (plain TCP, TLS over TCP, an in-memory duplex).
pub struct StreamTransport<S> {
    stream: S,
    read_buf: Box<[u8]>,
    write_buf: Vec<u8>,
    written: usize,
}

/// The `amqp://` transport.
pub type TcpTransport = StreamTransport<TcpStream>;

impl<S: AsyncRead + AsyncWrite + Unpin> StreamTransport<S> {
    pub fn new(stream: S) -> Self {
        StreamTransport {
            stream,
            read_buf: vec![0; 128 * 1024].into_boxed_slice(),
            write_buf: Vec::new(),
            written: 0,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Transport for StreamTransport<S> {
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Poll<Result<bool, String>> {
        let mut buf = ReadBuf::new(&mut self.read_buf);
        match Pin::new(&mut self.stream).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => Poll::Ready(Ok(false)),
            Poll::Ready(Ok(())) => {
                sink(buf.filled());
                Poll::Ready(Ok(true))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e.to_string())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn send(&mut self, data: Vec<u8>) -> Result<(), String> {
        if self.write_buf.is_empty() {
            self.write_buf = data;
            self.written = 0;
        } else {
            self.write_buf.extend_from_slice(&data);
        }
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        while self.written < self.write_buf.len() {
            match Pin::new(&mut self.stream).poll_write(cx, &self.write_buf[self.written..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err("socket closed while writing".into()))
                }
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.to_string())),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.write_buf.clear();
        self.written = 0;
        // A TLS stream may accept plaintext while its ciphertext still waits for the socket: it
        // is only out once the stream's own flush says so (a no-op for plain TCP).
        match Pin::new(&mut self.stream).poll_flush(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e.to_string())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn close(&mut self) {
        let waker = futures::task::noop_waker();
        let _ = Pin::new(&mut self.stream).poll_shutdown(&mut Context::from_waker(&waker));
    }
}

impl Connection {
    /// Connects to `amqp[s]://user:pass@host:port/vhost?heartbeat=..&frame_max=..&channel_max=..`
    /// (options: [`crate::client::url`]). `amqps://` needs the cargo feature `tls`.
    pub async fn connect(url: &str) -> Result<Connection, Error> {
        Self::connect_with(&ConnectionUrl::parse(url)?).await
    }

    pub async fn connect_with(url: &ConnectionUrl) -> Result<Connection, Error> {
        match url.scheme {
            Scheme::Amqp => {}
            #[cfg(feature = "tls")]
            Scheme::Amqps => {}
            #[cfg(not(feature = "tls"))]
            Scheme::Amqps => {
                return Err(Error::InvalidArgument(
                    "amqps:// needs warren's `tls` cargo feature".into(),
                ))
            }
            Scheme::Ws | Scheme::Wss => {
                return Err(Error::InvalidArgument(
                    "the native transport supports amqp:// and amqps:// URLs".into(),
                ))
            }
        }
        // Read certificate files before any IO, so a bad file fails fast.
        #[cfg(feature = "tls")]
        let tls = match url.scheme {
            Scheme::Amqps => Some(super::tls::Tls::new(url)?),
            _ => None,
        };
        // One deadline covers TCP connect, TLS and the AMQP handshake.
        let deadline = Instant::now() + Duration::from_millis(url.connection_timeout_ms);
        let addr = (url.host.as_str(), url.port);
        let stream = match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(Error::ConnectionLost(format!(
                    "cannot connect to {}:{}: {e}",
                    url.host, url.port
                )))
            }
            Err(_) => return Err(Error::Timeout),
        };
        let _ = stream.set_nodelay(true);
        let mut config = url.config.clone();
        #[cfg(feature = "tls")]
        if let Some(tls) = tls {
            let stream = match tokio::time::timeout_at(deadline, tls.handshake(stream)).await {
                Ok(r) => r?,
                Err(_) => return Err(Error::Timeout),
            };
            config.platform = format!("Rust {} (tokio, rustls)", std::env::consts::OS);
            let left = remaining_ms(deadline);
            return Connection::open(StreamTransport::new(stream), config, left).await;
        }
        config.platform = format!("Rust {} (tokio)", std::env::consts::OS);
        let left = remaining_ms(deadline);
        Connection::open(StreamTransport::new(stream), config, left).await
    }
}

fn remaining_ms(deadline: Instant) -> u64 {
    deadline
        .saturating_duration_since(Instant::now())
        .as_millis()
        .max(1) as u64
}

#[cfg(test)]
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
            Err(Error::ConnectionLost(m)) => assert!(m.contains("/nonexistent.pem"), "{m}"),
            other => panic!("{:?}", other.err()),
        }
    }
}
