//! The listener and the life of one connection: admission, (TLS,) WebSocket handshake under one
//! deadline, upstream connect with failover, then the pump. Logs carry addresses, reasons and
//! counts, never payloads or request headers (a PLAIN login passes through as payload).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::forward;
use crate::handshake::{self, Decision};
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::shutdown::{self, Phase, Shutdown};
use crate::tls::Tls;
use crate::upstream;

pub struct State {
    pub config: Config,
    pub limits: Arc<Limits>,
    pub metrics: Arc<Metrics>,
    pub shutdown: Arc<Shutdown>,
    pub tls: Option<Tls>,
}

fn ws_config(c: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(c.max_message_size))
        .max_frame_size(Some(c.max_message_size))
        // small per-connection buffers: memory per idle connection matters at thousands of them
        // (a frame larger than this is read into a buffer of its own size, so throughput holds)
        .read_buffer_size(8 << 10)
        // every message goes out as soon as it is written (no coalescing delay)
        .write_buffer_size(0)
        .max_write_buffer_size(c.max_message_size + (64 << 10))
}

/// Accepts until draining starts; then the listener is dropped (new connections are refused).
pub async fn serve(listener: TcpListener, state: Arc<State>) {
    let mut phase = state.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown::reached(&mut phase, Phase::Draining) => break,
        };
        match accepted {
            Ok((socket, peer)) => {
                let state = state.clone();
                let token = state.shutdown.token();
                tokio::spawn(async move {
                    connection(socket, peer, state).await;
                    drop(token);
                });
            }
            // EMFILE and friends: the listener stays usable; don't spin on it
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    info!("listener closed; draining open connections");
}

async fn connection(socket: TcpStream, peer: SocketAddr, state: Arc<State>) {
    let pending = match state.limits.begin_handshake() {
        Ok(p) => p,
        Err(r) => {
            state.metrics.refused(r.reason());
            debug!(%peer, reason = r.reason(), "refused");
            return;
        }
    };
    let _ = socket.set_nodelay(true);
    let local = match socket.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    match &state.tls {
        None => websocket(socket, peer, local, pending, state).await,
        Some(tls) => {
            let acceptor = tls.acceptor();
            match timeout(state.config.handshake_timeout, acceptor.accept(socket)).await {
                Ok(Ok(stream)) => websocket(stream, peer, local, pending, state).await,
                Ok(Err(e)) => {
                    state.metrics.refused("bad_handshake");
                    debug!(%peer, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    state.metrics.refused("handshake_timeout");
                    info!(%peer, reason = "handshake_timeout", "refused");
                }
            }
        }
    }
}

async fn websocket<S>(
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    pending: crate::limits::PendingSlot,
    state: Arc<State>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let c = &state.config;
    let mut decision: Option<Decision> = None;
    #[allow(clippy::result_large_err)] // the signature tungstenite asks for
    let callback =
        |req: &handshake::Request, resp| handshake::decide(&state, peer, req, resp, &mut decision);
    let accepted = timeout(
        c.handshake_timeout,
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config(c))),
    )
    .await;
    drop(pending);
    let ws = match (accepted, decision) {
        (Ok(Ok(ws)), Some(Ok(admitted))) => (ws, admitted),
        (Err(_), d) => {
            // a request decided but not answered in time still frees its slot here
            drop(d);
            state.metrics.refused("handshake_timeout");
            info!(%peer, reason = "handshake_timeout", "refused");
            return;
        }
        (Ok(_), Some(Err(reason))) => {
            state.metrics.refused(reason);
            info!(%peer, reason, "refused");
            return;
        }
        (Ok(r), _) => {
            state.metrics.refused("bad_handshake");
            debug!(%peer, error = %r.err().map(|e| e.to_string()).unwrap_or_default(), "not a WebSocket upgrade");
            return;
        }
    };
    let (mut ws, admitted) = ws;
    let client = SocketAddr::new(
        admitted.slot.ip(),
        if admitted.slot.ip() == peer.ip() {
            peer.port()
        } else {
            0
        },
    );
    state.metrics.accepted();
    let proxy = c.proxy_protocol.then_some((client, local));
    let metrics = state.metrics.clone();
    let up = upstream::connect(
        &c.upstreams,
        c.upstream_connect_timeout,
        proxy,
        |name, error| {
            metrics.upstream_connect_failed();
            warn!(%peer, upstream = name, error, "upstream connect failed");
        },
    )
    .await;
    let Some(up) = up else {
        state.metrics.closed("upstream_unreachable");
        warn!(%peer, client = %client.ip(), "no upstream reachable; closing with 1011");
        let frame = CloseFrame {
            code: CloseCode::Error,
            reason: "upstream unreachable".into(),
        };
        forward::close(&mut ws, frame).await;
        return;
    };
    info!(%peer, client = %client.ip(), upstream = %up.name, protocol = admitted.protocol.unwrap_or("-"), "connection open");
    let end = forward::pump(
        ws,
        up.stream,
        c.idle_timeout,
        state.shutdown.subscribe(),
        state.metrics.clone(),
    )
    .await;
    state.metrics.closed(end.reason());
    info!(%peer, client = %client.ip(), reason = end.reason(), "connection closed");
    drop(admitted);
}
