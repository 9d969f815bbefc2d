//! The byte pump between one WebSocket and one upstream TCP connection.
//!
//! Each direction moves one unit at a time and waits until it is written before taking the next:
//! a client message is written to the upstream whole (no re-framing), an upstream read becomes one
//! binary message at once (no waiting to coalesce). So a connection holds at most one message
//! (≤ max_message_size) plus one read chunk, and a slow side stops the other from reading —
//! backpressure reaches the TCP windows on both ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::metrics::Metrics;
use crate::shutdown::{self, Phase};

/// Largest upstream read turned into one message.
const READ_CHUNK: usize = 64 << 10;
/// How long a close handshake may take before the socket is dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How a relayed connection ended (the `reason` label of the close counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    ClientClosed,
    UpstreamClosed,
    UpstreamError,
    ClientError,
    MessageTooBig,
    UnsupportedData,
    Idle,
    Shutdown,
}

impl End {
    pub fn reason(self) -> &'static str {
        match self {
            End::ClientClosed => "client_closed",
            End::UpstreamClosed => "upstream_closed",
            End::UpstreamError => "upstream_error",
            End::ClientError => "client_error",
            End::MessageTooBig => "message_too_big",
            End::UnsupportedData => "unsupported_data",
            End::Idle => "idle",
            End::Shutdown => "shutdown",
        }
    }

    /// The close frame the relay sends for this ending (None: the client is gone or closed first).
    fn close_frame(self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            End::ClientClosed | End::ClientError => return None,
            End::UpstreamClosed => (CloseCode::Normal, "upstream closed the connection"),
            End::UpstreamError => (CloseCode::Error, "upstream connection failed"),
            End::MessageTooBig => (CloseCode::Size, "message too big"),
            End::UnsupportedData => (CloseCode::Unsupported, "binary messages only"),
            End::Idle => (CloseCode::Away, "idle timeout"),
            End::Shutdown => (CloseCode::Away, "relay shutting down"),
        };
        Some(CloseFrame {
            code,
            reason: reason.into(),
        })
    }
}

/// Milliseconds since `base` of the last byte in either direction.
struct Activity {
    base: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        self.last_ms
            .store(self.base.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// Sends `frame` and waits (bounded) for the client's answering close, then drops everything.
pub async fn close<S>(ws: &mut WebSocketStream<S>, frame: CloseFrame)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        if ws.close(Some(frame)).await.is_err() {
            return;
        }
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// Relays until one side ends; returns why.
pub async fn pump<S>(
    ws: WebSocketStream<S>,
    upstream: TcpStream,
    idle_timeout: Duration,
    mut phase: watch::Receiver<Phase>,
    metrics: Arc<Metrics>,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut ws_tx, mut ws_rx) = ws.split();
    let (up_rx, mut up_tx) = upstream.into_split();
    let activity = Activity {
        base: Instant::now(),
        last_ms: AtomicU64::new(0),
    };

    let to_upstream = async {
        loop {
            match ws_rx.next().await {
                Some(Ok(Message::Binary(data))) => {
                    activity.touch();
                    if up_tx.write_all(&data).await.is_err() {
                        return End::UpstreamError;
                    }
                    metrics.to_upstream(data.len());
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => activity.touch(),
                Some(Ok(Message::Text(_))) => return End::UnsupportedData,
                Some(Ok(Message::Close(_))) | None => {
                    // the client is done sending: pass its end on as a TCP FIN
                    let _ = up_tx.shutdown().await;
                    return End::ClientClosed;
                }
                Some(Ok(Message::Frame(_))) => {}
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                    return End::MessageTooBig
                }
                Some(Err(_)) => return End::ClientError,
            }
        }
    };

    let to_client = async {
        loop {
            if up_rx.readable().await.is_err() {
                return End::UpstreamError;
            }
            // allocated only once data is waiting, so idle connections hold no read buffer
            let mut buf = BytesMut::with_capacity(READ_CHUNK);
            match up_rx.try_read_buf(&mut buf) {
                Ok(0) => return End::UpstreamClosed,
                Ok(n) => {
                    activity.touch();
                    if ws_tx.send(Message::Binary(buf.freeze())).await.is_err() {
                        return End::ClientError;
                    }
                    metrics.to_client(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return End::UpstreamError,
            }
        }
    };

    let idle = async {
        loop {
            let last = Duration::from_millis(activity.last_ms.load(Ordering::Relaxed));
            let quiet = activity.base.elapsed().saturating_sub(last);
            if quiet >= idle_timeout {
                return End::Idle;
            }
            tokio::time::sleep(idle_timeout - quiet).await;
        }
    };

    let end = tokio::select! {
        e = to_upstream => e,
        e = to_client => e,
        e = idle => e,
        _ = shutdown::reached(&mut phase, Phase::Closing) => End::Shutdown,
    };

    match (end, ws_tx.reunite(ws_rx)) {
        (End::ClientClosed, Ok(mut ws)) => {
            // flush the close reply tungstenite queued when the client's close arrived
            let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(None)).await;
        }
        (e, Ok(mut ws)) => {
            if let Some(frame) = e.close_frame() {
                close(&mut ws, frame).await;
            }
        }
        (_, Err(_)) => {}
    }
    end
}
