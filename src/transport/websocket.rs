//! Browser/Deno transport: a WebSocket carrying raw AMQP frames in binary messages, in one of two
//! implementations chosen at connect time by the rule in [`uses_stream`]: the classic web-sys
//! `WebSocket` ([`WebSocketTransport`], described here; the default), or a `WebSocketStream`
//! ([`stream`]) whose reads are pulled by the driver and so push back on the peer.
//!
//! The event closures are owned by the transport and detached in `Drop` (never leaked). Incoming
//! messages are queued for the driver; the classic `WebSocket` cannot stop the peer, so that queue
//! is bounded by [`READ_LIMIT`] and overflowing it fails the connection with
//! [`TransportError::ReadBufferFull`] instead of growing without end. Outgoing frames are
//! collected in an [`Outbox`] and leave as one binary message per macrotask, however many driver
//! ticks produced them.

use super::{BoxTransport, Endpoint, Scheme, Transport, TransportError};
use crate::engine::Error;
use futures::channel::mpsc;
use futures::StreamExt;
use js_sys::{ArrayBuffer, Uint8Array};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

pub mod stream;
pub use stream::WebSocketStreamTransport;

enum WsEvent {
    Data(Vec<u8>),
    Closed(TransportError),
}

/// Bytes received and not yet read by the driver before the connection is failed. The driver
/// stops reading while the application has more than its read budget undelivered; past this, the
/// classic WebSocket (which has no way to pause the peer) gives up rather than buffer forever.
pub const READ_LIMIT: usize = 32 << 20;

/// Bytes the browser may hold unsent before publishers are asked to wait.
pub(crate) const HIGH_WATER: usize = 4 << 20;
const DRAIN_POLL_MS: u32 = 5;

/// A batch larger than this is sent at once instead of waiting for the macrotask.
const MAX_BATCH: usize = 512 << 10;

/// Sends one batch as one WebSocket message: `WebSocket.send` on the classic path, the stream
/// writer on the [`stream`] path. An error is the platform's exception.
pub(crate) type SendFn = Rc<dyn Fn(&[u8]) -> Result<(), JsValue>>;

/// Batches outgoing bytes per macrotask. The first send after a quiet spell goes out at once (no
/// added latency for a lone request); later sends are collected until a macrotask posted through a
/// `MessageChannel` runs. Code that awaits each publish or ack resumes in microtasks, before any
/// macrotask, so a loop of them leaves in one WebSocket message instead of one message each —
/// the per-message cost in the browser, the relay and the broker is what bounds throughput.
pub(crate) struct Outbox {
    pending: Rc<RefCell<Vec<u8>>>,
    scheduled: Rc<Cell<bool>>,
    send: SendFn,
    port: web_sys::MessagePort,
    channel: web_sys::MessageChannel,
    _on_flush: Closure<dyn FnMut(MessageEvent)>,
}

impl Outbox {
    pub(crate) fn new(send: SendFn) -> Result<Outbox, TransportError> {
        let channel = web_sys::MessageChannel::new()
            .map_err(|e| TransportError::Refused(js_error_text(&e)))?;
        let pending = Rc::new(RefCell::new(Vec::new()));
        let scheduled = Rc::new(Cell::new(false));
        let boundary = Self::boundary_of(&send, &pending, &scheduled);
        let on_flush = Closure::<dyn FnMut(MessageEvent)>::new(move |_ev: MessageEvent| boundary());
        channel
            .port1()
            .set_onmessage(Some(on_flush.as_ref().unchecked_ref()));
        let port = channel.port2();
        Ok(Outbox {
            pending,
            scheduled,
            send,
            port,
            channel,
            _on_flush: on_flush,
        })
    }

    /// What runs at a macrotask boundary (our posted message, or any incoming WebSocket message,
    /// which may come first: message ports can wait behind network tasks): send the batch and
    /// let the next send go out at once again.
    fn boundary(&self) -> impl Fn() + 'static {
        Self::boundary_of(&self.send, &self.pending, &self.scheduled)
    }

    /// [`Outbox::boundary`], run now (the stream path calls it for each chunk it reads).
    pub(crate) fn at_boundary(&self) {
        self.scheduled.set(false);
        self.flush_now();
    }

    fn boundary_of(
        send: &SendFn,
        pending: &Rc<RefCell<Vec<u8>>>,
        scheduled: &Rc<Cell<bool>>,
    ) -> impl Fn() + 'static {
        let (send, pending, scheduled) = (send.clone(), pending.clone(), scheduled.clone());
        move || {
            scheduled.set(false);
            let buf = std::mem::take(&mut *pending.borrow_mut());
            if !buf.is_empty() {
                // A failed send surfaces as the socket's close event.
                let _ = send(&buf);
            }
        }
    }

    pub(crate) fn push(&self, data: Vec<u8>) -> Result<(), TransportError> {
        let failed = |e: JsValue| {
            TransportError::Reset(format!("WebSocket send failed: {}", js_error_text(&e)))
        };
        let send = |buf: &[u8]| (self.send)(buf).map_err(failed);
        if !self.scheduled.replace(true) {
            // Quiet until now: send at once, and batch whatever follows until the next boundary.
            send(&data)?;
            return self.port.post_message(&JsValue::UNDEFINED).map_err(failed);
        }
        let mut pending = self.pending.borrow_mut();
        if pending.is_empty() {
            *pending = data;
        } else {
            pending.extend_from_slice(&data);
        }
        if pending.len() >= MAX_BATCH {
            let buf = std::mem::take(&mut *pending);
            return send(&buf);
        }
        Ok(())
    }

    /// Sends what is pending now (before a close).
    pub(crate) fn flush_now(&self) {
        let buf = std::mem::take(&mut *self.pending.borrow_mut());
        if !buf.is_empty() {
            let _ = (self.send)(&buf);
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.channel.port1().set_onmessage(None);
        self.channel.port1().close();
        self.port.close();
    }
}

pub struct WebSocketTransport {
    ws: WebSocket,
    outbox: Outbox,
    drain_timer: Option<gloo_timers::future::TimeoutFuture>,
    rx: mpsc::UnboundedReceiver<WsEvent>,
    /// Bytes in `rx` (see [`READ_LIMIT`]).
    queued: Rc<Cell<usize>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl WebSocketTransport {
    /// Opens the socket and waits until it is connected (or fails).
    pub async fn connect(
        url: &str,
        protocols: &[String],
    ) -> Result<WebSocketTransport, TransportError> {
        let ws = if protocols.is_empty() {
            WebSocket::new(url)
        } else {
            let arr = js_sys::Array::new();
            for p in protocols {
                arr.push(&p.into());
            }
            WebSocket::new_with_str_sequence(url, &arr)
        }
        .map_err(|e| {
            TransportError::Refused(format!(
                "cannot open WebSocket {url}: {}",
                js_error_text(&e)
            ))
        })?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let send_ws = ws.clone();
        let outbox = Outbox::new(Rc::new(move |buf: &[u8]| send_ws.send_with_u8_array(buf)))?;

        let (tx, rx) = mpsc::unbounded();
        let (open_tx, mut open_rx) = mpsc::unbounded::<Result<(), TransportError>>();
        let queued = Rc::new(Cell::new(0usize));

        let data_tx = tx.clone();
        let boundary = outbox.boundary();
        let (data_queued, data_ws) = (queued.clone(), ws.clone());
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            boundary();
            let Ok(buf) = ev.data().dyn_into::<ArrayBuffer>() else {
                return;
            };
            let total = data_queued.get() + buf.byte_length() as usize;
            if total > READ_LIMIT {
                // Once: the close that follows finds the channel closed.
                if !data_tx.is_closed() {
                    let full = TransportError::ReadBufferFull { limit: READ_LIMIT };
                    let _ = data_tx.unbounded_send(WsEvent::Closed(full));
                    data_tx.close_channel();
                    let _ = data_ws.close_with_code(1000);
                }
                return;
            }
            data_queued.set(total);
            let _ = data_tx.unbounded_send(WsEvent::Data(Uint8Array::new(&buf).to_vec()));
        });
        let close_tx = tx.clone();
        let open_close_tx = open_tx.clone();
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
            let why = TransportError::WebSocketClosed {
                code: ev.code(),
                reason: ev.reason(),
            };
            let _ = open_close_tx.unbounded_send(Err(why.clone()));
            let _ = close_tx.unbounded_send(WsEvent::Closed(why));
        });
        let err_open_tx = open_tx.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_ev: web_sys::Event| {
            let _ =
                err_open_tx.unbounded_send(Err(TransportError::Refused("WebSocket error".into())));
        });
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_ev: web_sys::Event| {
            let _ = open_tx.unbounded_send(Ok(()));
        });
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));

        let transport = WebSocketTransport {
            outbox,
            drain_timer: None,
            ws,
            rx,
            queued,
            _on_message: on_message,
            _on_close: on_close,
            _on_error: on_error,
        };
        let opened = open_rx
            .next()
            .await
            .unwrap_or_else(|| Err(TransportError::Refused("WebSocket failed to open".into())));
        transport.ws.set_onopen(None);
        drop(on_open);
        opened
            .map(|_| transport)
            .map_err(|e| TransportError::Refused(format!("cannot connect to {url}: {e}")))
    }
}

/// `WARREN_WEBSOCKET=stream` in the environment at build time makes every connection ask for
/// `WebSocketStream`, as the URL option `websocket=stream` does for one.
const STREAM_BUILD: bool = match option_env!("WARREN_WEBSOCKET") {
    Some(v) => is_stream(v.as_bytes()),
    None => false,
};

/// `v == b"stream"`, at compile time.
const fn is_stream(v: &[u8]) -> bool {
    matches!(v, b"stream")
}

/// Whether [`connect`] uses `WebSocketStream` for a connection that asks for it (`websocket=stream`
/// in its URL, `webSocketStream: true` in the JS options, or every connection of a
/// `WARREN_WEBSOCKET=stream` build): where `globalThis.WebSocketStream` is a function (Chromium;
/// Deno with `--unstable-net`), checked at every connect; otherwise the classic `WebSocket`.
///
/// Why the classic transport is the default: in Chromium 156 through websockify, the stream path
/// measured slower (no-ack consume about a third slower, confirmed publish about an eighth, RPC
/// p50 +0.2 ms; publish and consume + ack within noise), and throughput is what the default is
/// for. The stream path's gain is memory: reads are pulled, so a slow consumer leaves the backlog
/// outside the page instead of in a buffer that fails at [`READ_LIMIT`]: what a page that
/// consumes without acks, slower than the broker sends, asks for.
pub fn uses_stream(asked: bool) -> bool {
    (asked || STREAM_BUILD) && stream::supported()
}

/// Opens `url` with the implementation [`uses_stream`] picks: the classic `WebSocket` with its
/// bounded read buffer ([`READ_LIMIT`]), or pull-based reads (read backpressure on the peer)
/// through `WebSocketStream`. Both behave alike otherwise: binary messages, no subprotocol unless
/// asked, close code 1000, the same errors and the same write batching.
pub async fn connect(
    url: &str,
    protocols: &[String],
    stream: bool,
) -> Result<BoxTransport, TransportError> {
    // Boxed futures, not two branches of one state machine (one state the size of both).
    type Opening<'a> = Pin<Box<dyn Future<Output = Result<BoxTransport, TransportError>> + 'a>>;
    let opening: Opening<'_> = if uses_stream(stream) {
        Box::pin(async move {
            let t = WebSocketStreamTransport::connect(url, protocols).await?;
            Ok(Box::new(t) as BoxTransport)
        })
    } else {
        Box::pin(async move {
            let t = WebSocketTransport::connect(url, protocols).await?;
            Ok(Box::new(t) as BoxTransport)
        })
    };
    opening.await
}

/// Opens the WebSocket for a `ws://` or `wss://` endpoint (see [`connect`]). The platform
/// property is the caller's (browser or Deno). Not bounded in time: the caller's deadline covers it.
pub async fn dial(to: Endpoint<'_>) -> Result<(BoxTransport, String), Error> {
    if !matches!(to.scheme, Scheme::Ws | Scheme::Wss) {
        return Err(Error::InvalidArgument(
            "in the browser warren connects with ws:// or wss:// URLs (amqp:// needs Deno or Node: AMQPClient)".into(),
        ));
    }
    let ws = connect(to.ws_url, to.ws_protocols, to.ws_stream)
        .await
        .map_err(|cause| Error::ConnectionLost {
            cause,
            handshake: false,
        })?;
    Ok((ws, String::new()))
}

pub(crate) fn js_error_text(v: &wasm_bindgen::JsValue) -> String {
    js_sys::Reflect::get(v, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| thrown_text(v))
}

/// A thrown value that is not an `Error`, as text: a string as it is, anything else as JSON
/// (not `{:?}`, whose JsValue formatting brings a debug printer into the glue).
pub(crate) fn thrown_text(v: &wasm_bindgen::JsValue) -> String {
    v.as_string().unwrap_or_else(|| {
        js_sys::JSON::stringify(v)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_else(|| "a value that is not an Error".to_owned())
    })
}

impl Transport for WebSocketTransport {
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Poll<Result<(), TransportError>> {
        match self.rx.poll_next_unpin(cx) {
            Poll::Ready(Some(WsEvent::Data(d))) => {
                self.queued.set(self.queued.get().saturating_sub(d.len()));
                sink(&d);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Some(WsEvent::Closed(why))) => Poll::Ready(Err(why)),
            Poll::Ready(None) => Poll::Ready(Err(TransportError::ClosedByPeer)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn send(&mut self, data: Vec<u8>) -> Result<(), TransportError> {
        self.outbox.push(data)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        // The browser buffers sends itself and only exposes bufferedAmount, with no event when it
        // falls: above the high-water mark, look again after a short timer.
        if self.ws.buffered_amount() as usize <= HIGH_WATER {
            self.drain_timer = None;
            return Poll::Ready(Ok(()));
        }
        let timer = self
            .drain_timer
            .get_or_insert_with(|| gloo_timers::future::TimeoutFuture::new(DRAIN_POLL_MS));
        if Pin::new(timer).poll(cx).is_ready() {
            self.drain_timer = None;
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    fn close(&mut self) {
        self.outbox.flush_now();
        let _ = self.ws.close_with_code(1000);
    }
}

impl Drop for WebSocketTransport {
    fn drop(&mut self) {
        // onopen too: if the connect future is dropped while the socket is still connecting (a
        // connect timeout), its closure is gone and must not be called afterwards
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        if self.ws.ready_state() <= WebSocket::OPEN {
            self.outbox.flush_now();
            let _ = self.ws.close_with_code(1000);
        }
    }
}
