//! The native transport: any tokio byte stream — plain TCP for `amqp://`, TLS over TCP for
//! `amqps://` (feature `tls`; `tls.rs` only wraps the stream), an in-memory duplex in tests.

use super::{BoxTransport, Endpoint, Scheme, Transport, TransportError};
use crate::engine::Error;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Largest write buffer kept once everything is out; a larger one is freed.
const RETAINED_WRITE_CAPACITY: usize = 1 << 20;

/// A [`Transport`] over any tokio byte stream.
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

/// An IO error in the middle of a connection.
fn reset(e: io::Error) -> TransportError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => TransportError::ClosedByPeer,
        _ => TransportError::Reset(e.to_string()),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Transport for StreamTransport<S> {
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Poll<Result<(), TransportError>> {
        let mut buf = ReadBuf::new(&mut self.read_buf);
        match Pin::new(&mut self.stream).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                Poll::Ready(Err(TransportError::ClosedByPeer))
            }
            Poll::Ready(Ok(())) => {
                sink(buf.filled());
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(reset(e))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn send(&mut self, data: Vec<u8>) -> Result<(), TransportError> {
        if self.write_buf.is_empty() {
            self.write_buf = data;
            self.written = 0;
            return Ok(());
        }
        // Behind a slow peer this buffer holds up to the client's write limit: drop what is
        // written once it is half of it, and grow by exactly what comes, so the allocation
        // stays near the unsent bytes (doubling took it to twice the limit).
        if self.written >= self.write_buf.len() / 2 {
            self.write_buf.drain(..self.written);
            self.written = 0;
        }
        self.write_buf.reserve_exact(data.len());
        self.write_buf.extend_from_slice(&data);
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        while self.written < self.write_buf.len() {
            match Pin::new(&mut self.stream).poll_write(cx, &self.write_buf[self.written..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(TransportError::Reset(
                        "socket closed while writing".into(),
                    )))
                }
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(reset(e))),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.write_buf.capacity() > RETAINED_WRITE_CAPACITY {
            self.write_buf = Vec::new(); // a burst's buffer is not kept for the connection's life
        } else {
            self.write_buf.clear();
        }
        self.written = 0;
        // A TLS stream may accept plaintext while its ciphertext still waits for the socket: it
        // is only out once the stream's own flush says so (a no-op for plain TCP).
        Pin::new(&mut self.stream).poll_flush(cx).map_err(reset)
    }

    fn close(&mut self) {
        let waker = futures::task::noop_waker();
        let _ = Pin::new(&mut self.stream).poll_shutdown(&mut Context::from_waker(&waker));
    }
}

/// Opens the byte stream for an `amqp://` or `amqps://` endpoint (TCP_NODELAY, then TLS when
/// asked) and names the platform for the `platform` client property. Not bounded in time: the
/// caller's deadline covers it.
pub async fn dial(to: Endpoint<'_>) -> Result<(BoxTransport, String), Error> {
    let lost = |cause| Error::ConnectionLost {
        cause,
        handshake: false,
    };
    match to.scheme {
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
    let tls = match to.scheme {
        Scheme::Amqps => Some(super::tls::Tls::new(to).map_err(lost)?),
        _ => None,
    };
    let tcp = TcpStream::connect((to.host, to.port)).await.map_err(|e| {
        lost(TransportError::Refused(format!(
            "cannot connect to {}:{}: {e}",
            to.host, to.port
        )))
    })?;
    let _ = tcp.set_nodelay(true);
    #[cfg(feature = "tls")]
    if let Some(tls) = tls {
        let stream = tls.handshake(tcp).await.map_err(lost)?;
        let platform = format!("Rust {} (tokio, rustls)", std::env::consts::OS);
        return Ok((Box::new(StreamTransport::new(stream)), platform));
    }
    let platform = format!("Rust {} (tokio)", std::env::consts::OS);
    Ok((Box::new(StreamTransport::new(tcp)), platform))
}
