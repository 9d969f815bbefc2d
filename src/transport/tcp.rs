//! Native transport: tokio TCP. `Connection::connect("amqp://...")` lives here.

use crate::client::transport::Transport;
use crate::client::url::{ConnectionUrl, Scheme};
use crate::client::Connection;
use crate::engine::Error;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub struct TcpTransport {
    stream: TcpStream,
    read_buf: Box<[u8]>,
    write_buf: Vec<u8>,
    written: usize,
}

impl TcpTransport {
    pub fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        TcpTransport {
            stream,
            read_buf: vec![0; 128 * 1024].into_boxed_slice(),
            write_buf: Vec::new(),
            written: 0,
        }
    }
}

impl Transport for TcpTransport {
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
        Poll::Ready(Ok(()))
    }

    fn close(&mut self) {
        let waker = futures::task::noop_waker();
        let _ = Pin::new(&mut self.stream).poll_shutdown(&mut Context::from_waker(&waker));
    }
}

impl Connection {
    /// Connects to `amqp://user:pass@host:port/vhost?heartbeat=..&frame_max=..&channel_max=..`.
    pub async fn connect(url: &str) -> Result<Connection, Error> {
        let url = ConnectionUrl::parse(url)?;
        if url.scheme != Scheme::Amqp {
            return Err(Error::InvalidArgument(
                "the tokio transport supports amqp:// URLs".into(),
            ));
        }
        Self::connect_with(&url).await
    }

    pub async fn connect_with(url: &ConnectionUrl) -> Result<Connection, Error> {
        let timeout = std::time::Duration::from_millis(url.connection_timeout_ms);
        let addr = (url.host.as_str(), url.port);
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(Error::ConnectionLost(format!(
                    "cannot connect to {}:{}: {e}",
                    url.host, url.port
                )))
            }
            Err(_) => return Err(Error::Timeout),
        };
        let mut config = url.config.clone();
        config.platform = format!("Rust {} (tokio)", std::env::consts::OS);
        Connection::open(TcpTransport::new(stream), config, url.connection_timeout_ms).await
    }
}
