//! A byte stream handed in from JavaScript (wasm only): TCP or TLS opened by a few lines of
//! per-runtime glue (`pkg-template/tcp-deno.js`: `Deno.connect` / `Deno.connectTls`;
//! `tcp-node.js`: `node:net` / `node:tls`), so the same wasm engine speaks AMQP over TCP in Deno
//! and Node without a relay. The glue only moves bytes; framing, batching and every decision
//! stay here and above.
//!
//! The JS side is a duplex object:
//! ```text
//! read():  Promise<Uint8Array | null>  the next bytes (null at EOF); rejects when the socket fails.
//!                                      Asked only while the driver reads: the glue pauses the
//!                                      socket while a chunk waits for the next read() (read
//!                                      backpressure on the peer while the engine's budget is full)
//! write(bytes: Uint8Array): boolean    queues bytes (the glue owns them); false once the
//!                                      runtime's buffer is past its high-water mark
//! drain(): Promise<void>               resolves when writing may go on; rejects on failure
//! close(): void                        ends the socket (after what was written)
//! ```

use super::websocket::{js_error_text, Outbox};
use super::{Transport, TransportError};
use js_sys::{Function, Promise, Uint8Array};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

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
