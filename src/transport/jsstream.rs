//! A byte stream handed in from JavaScript (wasm only): TCP or TLS opened by a few lines of
//! per-runtime glue (`pkg-template/tcp-deno.js`: `Deno.connect` + `Deno.startTls`, or
//! `Deno.connectTls` with a client certificate; `tcp-node.js`: `node:net` / `node:tls`), so the
//! same wasm engine speaks AMQP over TCP in Deno
//! and Node without a relay. The glue only moves bytes; framing, batching and every decision
//! stay here and above.
//!
//! The JS side is a duplex object:
//! ```text
//! read():  Promise<Uint8Array | null>  the next bytes (null at EOF); rejects when the socket fails.
//!                                      Asked only while the driver reads, so the glue reads
//!                                      no more than asked (Deno: one read per call; Node: the
//!                                      socket is paused while a chunk waits): while the engine's
//!                                      read budget is full, the peer's TCP window closes
//! write(bytes: Uint8Array): boolean    queues bytes (the glue owns them); false once the
//!                                      runtime's buffer is past its high-water mark
//! drain(): Promise<void>               resolves when writing may go on; rejects on failure
//! close(): void                        ends the socket (after what was written)
//! ```
//!
//! The glue registers its `open(endpoint)` once, when it is imported ([`set_dialer`]); from
//! then on [`super::dial`] opens `amqp[s]://` URLs with it, for every `Connection` (and so the
//! JS `AMQPClient` and anything built on connections, such as the session). `endpoint` is
//! `{ host, port, tls, serverName?, tlsOptions?, signal }`; it resolves to the duplex above.

use super::websocket::{js_error_text, Outbox};
use super::{BoxTransport, Endpoint, Scheme, Transport, TransportError};
use crate::engine::Error;
use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

thread_local! {
    /// The runtime glue's `open(endpoint)`, once it registered it.
    static DIALER: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Registers (or, with `None`, removes) the function that opens TCP/TLS sockets.
pub fn set_dialer(open: Option<Function>) {
    DIALER.with(|d| *d.borrow_mut() = open);
}

/// Whether `amqp[s]://` can be opened here (a runtime glue registered its dialer).
pub fn can_dial() -> bool {
    DIALER.with(|d| d.borrow().is_some())
}

/// amqp-client's `AMQPTlsOptions` object for one connection (or none), passed to the glue as it
/// is: the runtime reads the PEM text, not warren. Equal when it is the same object.
#[derive(Debug, Clone, Default)]
pub struct JsTlsOptions(pub Option<JsValue>);

impl PartialEq for JsTlsOptions {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Object::is(a, b),
            (a, b) => a.is_none() && b.is_none(),
        }
    }
}
impl Eq for JsTlsOptions {}

/// Aborts the glue's connect when dropped before it is disarmed (the connect deadline passed, or
/// the caller gave up), so a socket that opens late is destroyed instead of left behind.
struct AbortOnDrop(Option<web_sys::AbortController>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.abort();
        }
    }
}

/// Opens the socket for an `amqp[s]://` endpoint through the registered glue. Not bounded in
/// time itself: the caller's deadline covers it (and aborts the glue's connect when it passes).
pub async fn dial(to: Endpoint<'_>) -> Result<(BoxTransport, String), Error> {
    let lost = |cause| Error::ConnectionLost {
        cause,
        handshake: false,
    };
    let Some(open) = DIALER.with(|d| d.borrow().clone()) else {
        return Err(Error::InvalidArgument(
            "amqp:// needs Deno or Node (warren-amqp's deno / node entry)".into(),
        ));
    };
    let controller = web_sys::AbortController::new().map_err(|e| lost(js_stream_error(&e)))?;
    let ep = Object::new();
    let set = |k: &str, v: &JsValue| Reflect::set(&ep, &k.into(), v);
    let _ = set("host", &to.host.into());
    let _ = set("port", &to.port.into());
    let _ = set("tls", &(to.scheme == Scheme::Amqps).into());
    if let Some(name) = &to.tls.server_name {
        let _ = set("serverName", &name.as_str().into());
    }
    if let Some(tls) = &to.tls.js.0 {
        let _ = set("tlsOptions", tls);
    }
    if to.tls.ca_cert_file.is_some() || to.tls.cert_file.is_some() {
        return Err(Error::InvalidArgument(
            "in Deno and Node, certificates go in the tlsOptions argument ({ ca, cert, key }, PEM), not as files in the URL".into(),
        ));
    }
    let _ = set("signal", &controller.signal().into());
    let mut guard = AbortOnDrop(Some(controller));
    let opening = open
        .call1(&JsValue::NULL, &ep)
        .map_err(|e| lost(js_stream_error(&e)))?;
    let opening = opening
        .dyn_into::<Promise>()
        .unwrap_or_else(|v| Promise::resolve(&v));
    let duplex = JsFuture::from(opening)
        .await
        .map_err(|e| lost(js_stream_error(&e)))?;
    guard.0 = None;
    let transport = JsStreamTransport::new(duplex).map_err(lost)?;
    Ok((Box::new(transport), String::new()))
}

/// A [`Transport`] over a JS duplex (see the module docs).
pub struct JsStreamTransport {
    duplex: JsValue,
    read: Function,
    drain: Function,
    close: Function,
    /// The pending `read()`.
    reading: Option<JsFuture>,
    /// The pending `drain()`, while a write reported a full buffer.
    draining: Option<JsFuture>,
    /// Set when `write` returned false (possibly from a batch sent at a macrotask boundary).
    full: Rc<Cell<bool>>,
    /// Outgoing batches per macrotask, as on the WebSocket path: one write per batch.
    outbox: Outbox,
    buf: Vec<u8>,
    closed: bool,
}

fn method(duplex: &JsValue, name: &str) -> Result<Function, TransportError> {
    js_sys::Reflect::get(duplex, &name.into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| TransportError::Refused(format!("the JS stream has no {name}() method")))
}

/// A rejection from the glue as a transport error (its `kind`: "tls", "refused", else a reset).
pub fn js_stream_error(e: &JsValue) -> TransportError {
    let kind = js_sys::Reflect::get(e, &"kind".into())
        .ok()
        .and_then(|k| k.as_string());
    let text = js_error_text(e);
    match kind.as_deref() {
        Some("tls") => TransportError::Tls(text),
        Some("refused") => TransportError::Refused(text),
        Some("timeout") => TransportError::Timeout(text),
        _ => TransportError::Reset(text),
    }
}

impl JsStreamTransport {
    /// Wraps an open duplex (the value a glue `dial` resolved to).
    pub fn new(duplex: JsValue) -> Result<JsStreamTransport, TransportError> {
        let read = method(&duplex, "read")?;
        let write = method(&duplex, "write")?;
        let drain = method(&duplex, "drain")?;
        let close = method(&duplex, "close")?;
        let full = Rc::new(Cell::new(false));
        let (target, is_full) = (duplex.clone(), full.clone());
        let outbox = Outbox::new(Rc::new(move |bytes: &[u8]| {
            let more = write.call1(&target, &Uint8Array::from(bytes))?;
            if more.as_bool() == Some(false) {
                is_full.set(true);
            }
            Ok(())
        }))?;
        Ok(JsStreamTransport {
            duplex,
            read,
            drain,
            close,
            reading: None,
            draining: None,
            full,
            outbox,
            buf: Vec::new(),
            closed: false,
        })
    }

    fn call_promise(&self, f: &Function) -> Result<JsFuture, TransportError> {
        let p = f.call0(&self.duplex).map_err(|e| js_stream_error(&e))?;
        Ok(JsFuture::from(
            p.dyn_into::<Promise>()
                .unwrap_or_else(|v| Promise::resolve(&v)),
        ))
    }
}

impl Transport for JsStreamTransport {
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Poll<Result<(), TransportError>> {
        if self.reading.is_none() {
            match self.call_promise(&self.read) {
                Ok(f) => self.reading = Some(f),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let Some(reading) = self.reading.as_mut() else {
            return Poll::Pending;
        };
        let got = match Pin::new(reading).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(got) => got,
        };
        self.reading = None;
        match got {
            Ok(v) if v.is_null() || v.is_undefined() => {
                Poll::Ready(Err(TransportError::ClosedByPeer))
            }
            Ok(v) => {
                let chunk: Uint8Array = v.unchecked_into();
                self.buf.resize(chunk.length() as usize, 0);
                chunk.copy_to(&mut self.buf);
                // an incoming chunk is a macrotask boundary: send what was batched
                self.outbox.at_boundary();
                sink(&self.buf);
                Poll::Ready(Ok(()))
            }
            Err(e) => Poll::Ready(Err(js_stream_error(&e))),
        }
    }

    fn send(&mut self, data: Vec<u8>) -> Result<(), TransportError> {
        self.outbox.push(data)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        if !self.full.get() {
            return Poll::Ready(Ok(()));
        }
        if self.draining.is_none() {
            match self.call_promise(&self.drain) {
                Ok(f) => self.draining = Some(f),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let Some(draining) = self.draining.as_mut() else {
            return Poll::Pending;
        };
        match Pin::new(draining).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(done) => {
                self.draining = None;
                self.full.set(false);
                Poll::Ready(done.map(|_| ()).map_err(|e| js_stream_error(&e)))
            }
        }
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.outbox.flush_now();
            let _ = self.close.call0(&self.duplex);
        }
    }
}

impl Drop for JsStreamTransport {
    fn drop(&mut self) {
        self.close();
    }
}
