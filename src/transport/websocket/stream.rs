//! The pull-based path: a `WebSocketStream` (Chromium; Deno behind `--unstable-net`), whose
//! reads happen only when the driver asks for them.
//!
//! One `reader.read()` is outstanding at a time and it is only issued from
//! [`Transport::poll_read`], which the driver stops calling while the application is behind its
//! read budget. Unread messages then stay in the browser's network stack, whose flow control
//! stops reading the socket, so TCP pushes back on the relay and the broker: nothing here grows
//! with a slow consumer, and there is no read limit to overflow.
//!
//! Writes go through the same per-macrotask [`Outbox`] as the classic path, each batch as one
//! `writer.write()`. Every write promise is kept with its size until it settles: the bytes of
//! unsettled writes play the part of `bufferedAmount` for write backpressure (the oldest write's
//! promise is the wake-up, no timer needed), a rejected write is a [`TransportError::Reset`], and
//! no rejection goes unhandled. `writer.ready` is not used: the bytes in flight are counted here
//! whatever queuing strategy (and high-water mark) the runtime gives the writable.
//!
//! No closure is leaked: the only JS callbacks are those of [`JsFuture`], which free themselves
//! when their promise settles, and the outbox's, owned and detached in its `Drop`.

use super::{js_error_text, Outbox, HIGH_WATER};
use crate::transport::{Transport, TransportError};
use js_sys::{ArrayBuffer, Object, Promise, Reflect, Uint8Array};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

// Minimal bindings: web-sys 0.3 has none for WebSocketStream. Property reads are structural, so
// the plain objects it resolves (`opened`, `closed`, read results) need no classes of their own.
#[wasm_bindgen]
extern "C" {
    type WebSocketStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(url: &str, options: &JsValue) -> Result<WebSocketStream, JsValue>;
    #[wasm_bindgen(method, getter)]
    fn opened(this: &WebSocketStream) -> Promise;
    #[wasm_bindgen(method, getter)]
    fn closed(this: &WebSocketStream) -> Promise;
    #[wasm_bindgen(method, catch)]
    fn close(this: &WebSocketStream, info: &JsValue) -> Result<(), JsValue>;

    /// What `opened` resolves to.
    type Opened;
    #[wasm_bindgen(method, getter)]
    fn readable(this: &Opened) -> Stream;
    #[wasm_bindgen(method, getter)]
    fn writable(this: &Opened) -> Stream;

    /// A ReadableStream or a WritableStream.
    type Stream;
    #[wasm_bindgen(method, catch, js_name = getReader)]
    fn get_reader(this: &Stream) -> Result<Reader, JsValue>;
    #[wasm_bindgen(method, catch, js_name = getWriter)]
    fn get_writer(this: &Stream) -> Result<Writer, JsValue>;

    type Reader;
    #[wasm_bindgen(method)]
    fn read(this: &Reader) -> Promise;

    type Writer;
    #[wasm_bindgen(method)]
    fn write(this: &Writer, chunk: &Uint8Array) -> Promise;

    /// A read result (`{ value, done }`), or the close info (`{ closeCode, reason }`) that
    /// `closed` resolves to or a `WebSocketError` carries.
    type Fields;
    #[wasm_bindgen(method, getter)]
    fn done(this: &Fields) -> bool;
    #[wasm_bindgen(method, getter)]
    fn value(this: &Fields) -> JsValue;
    #[wasm_bindgen(method, getter, js_name = closeCode)]
    fn close_code(this: &Fields) -> Option<f64>;
    #[wasm_bindgen(method, getter)]
    fn reason(this: &Fields) -> Option<String>;
}

/// True when this runtime has `WebSocketStream` (`globalThis.WebSocketStream` is a function):
/// [`WebSocketStreamTransport::connect`] would fail with `Refused` otherwise.
pub fn supported() -> bool {
    Reflect::get(&js_sys::global(), &"WebSocketStream".into()).is_ok_and(|v| v.is_function())
}

/// Closes with code 1000, after the last write has been handed over (a close may otherwise
/// overtake chunks still queued in the writable).
fn close_after(wss: WebSocketStream, last_write: Option<Promise>) {
    let close = move || {
        let info = Object::new();
        let _ = Reflect::set(&info, &"closeCode".into(), &1000.into());
        let _ = wss.close(&info);
    };
    match last_write {
        None => close(),
        Some(p) => wasm_bindgen_futures::spawn_local(async move {
            let _ = JsFuture::from(p).await;
            close();
        }),
    }
}

/// Writes handed to the writer and not yet settled.
#[derive(Default)]
struct InFlight {
    bytes: usize,
    writes: VecDeque<(usize, JsFuture)>,
    last: Option<Promise>,
}

enum ReadState {
    Idle,
    Reading(JsFuture),
    /// The readable ended or failed: waiting for `closed` to say why.
    Closing,
    Ended,
}

pub struct WebSocketStreamTransport {
    wss: Option<WebSocketStream>,
    reader: Reader,
    outbox: Outbox,
    in_flight: Rc<RefCell<InFlight>>,
    read: ReadState,
    /// `closed`, awaited from the start so its rejection is always handled.
    closed: JsFuture,
    /// Reused for copying chunks out of JS.
    scratch: Vec<u8>,
}

/// Closes a stream whose opening was abandoned (a connect timeout dropped the future).
struct Opening(Option<WebSocketStream>);

impl Drop for Opening {
    fn drop(&mut self) {
        if let Some(wss) = self.0.take() {
            close_after(wss, None);
        }
    }
}

impl WebSocketStreamTransport {
    /// Opens the stream and waits until it is connected (or fails). Offers `protocols` only
    /// when given (websockify refuses a client that offers `amqp`).
    pub async fn connect(
        url: &str,
        protocols: &[String],
    ) -> Result<WebSocketStreamTransport, TransportError> {
        let refused = |what: &str, e: &JsValue| {
            TransportError::Refused(format!("{what} {url}: {}", js_error_text(e)))
        };
        let options = if protocols.is_empty() {
            JsValue::UNDEFINED
        } else {
            let arr = js_sys::Array::new();
            for p in protocols {
                arr.push(&p.into());
            }
            let o = Object::new();
            let _ = Reflect::set(&o, &"protocols".into(), &arr);
            o.into()
        };
        let wss = WebSocketStream::new(url, &options)
            .map_err(|e| refused("cannot open WebSocketStream", &e))?;
        let closed = JsFuture::from(wss.closed());
        let mut opening = Opening(Some(wss));
        let opened = match opening.0.as_ref() {
            Some(wss) => JsFuture::from(wss.opened()),
            None => return Err(TransportError::Refused("WebSocketStream vanished".into())),
        };
        let opened: Opened = opened
            .await
            .map_err(|e| refused("cannot connect to", &e))?
            .unchecked_into();
        let reader = opened
            .readable()
            .get_reader()
            .map_err(|e| refused("no reader for", &e))?;
        let writer = opened
            .writable()
            .get_writer()
            .map_err(|e| refused("no writer for", &e))?;

        let in_flight = Rc::new(RefCell::new(InFlight::default()));
        let tracked = in_flight.clone();
        let outbox = Outbox::new(Rc::new(move |buf: &[u8]| {
            // a copy: the writer keeps the chunk after this returns
            let p = writer.write(&Uint8Array::from(buf));
            let mut f = tracked.borrow_mut();
            f.bytes += buf.len();
            f.writes.push_back((buf.len(), JsFuture::from(p.clone())));
            f.last = Some(p);
            Ok(())
        }))?;
        Ok(WebSocketStreamTransport {
            wss: opening.0.take(),
            reader,
            outbox,
            in_flight,
            read: ReadState::Idle,
            closed,
            scratch: Vec::new(),
        })
    }

    fn close_now(&mut self) {
        self.outbox.flush_now();
        if let Some(wss) = self.wss.take() {
            let last = self.in_flight.borrow_mut().last.take();
            close_after(wss, last);
        }
    }
}

/// Why the stream closed, from what `closed` settled with.
fn close_error(settled: Result<JsValue, JsValue>) -> TransportError {
    let info: &Fields = match &settled {
        Ok(v) | Err(v) => v.unchecked_ref(),
    };
    let code = info.close_code().filter(|c| (0.0..=65535.0).contains(c));
    match (code, settled.is_ok()) {
        (Some(code), _) => TransportError::WebSocketClosed {
            code: code as u16,
            reason: info.reason().unwrap_or_default(),
        },
        (None, true) => TransportError::ClosedByPeer,
        (None, false) => TransportError::WebSocketClosed {
            code: 1006,
            reason: settled.err().map(|e| js_error_text(&e)).unwrap_or_default(),
        },
    }
}

impl Transport for WebSocketStreamTransport {
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Poll<Result<(), TransportError>> {
        loop {
            match &mut self.read {
                ReadState::Idle => self.read = ReadState::Reading(self.reader.read().into()),
                ReadState::Reading(fut) => {
                    let result = match Pin::new(fut).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(r)) => r.unchecked_into::<Fields>(),
                        Poll::Ready(Err(_)) => {
                            self.read = ReadState::Closing;
                            continue;
                        }
                    };
                    if result.done() {
                        self.read = ReadState::Closing;
                        continue;
                    }
                    self.read = ReadState::Idle;
                    // a new task delivered this: a macrotask boundary for the outbox, as an
                    // incoming message is on the classic path
                    self.outbox.at_boundary();
                    let value = result.value();
                    let bytes = if let Some(buf) = value.dyn_ref::<ArrayBuffer>() {
                        Uint8Array::new(buf)
                    } else if let Some(view) = value.dyn_ref::<Uint8Array>() {
                        view.clone()
                    } else {
                        continue; // a text message: not AMQP
                    };
                    let len = bytes.length() as usize;
                    if self.scratch.capacity() > (1 << 20) && len < (64 << 10) {
                        self.scratch = Vec::new(); // a large chunk passed: don't keep its buffer
                    }
                    self.scratch.resize(len, 0);
                    bytes.copy_to(&mut self.scratch);
                    sink(&self.scratch);
                    return Poll::Ready(Ok(()));
                }
                ReadState::Closing => {
                    let settled = match Pin::new(&mut self.closed).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(r) => r,
                    };
                    self.read = ReadState::Ended;
                    return Poll::Ready(Err(close_error(settled)));
                }
                ReadState::Ended => return Poll::Ready(Err(TransportError::ClosedByPeer)),
            }
        }
    }

    fn send(&mut self, data: Vec<u8>) -> Result<(), TransportError> {
        if self.wss.is_none() {
            return Err(TransportError::Reset("WebSocketStream closed".into()));
        }
        self.outbox.push(data)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        let mut f = self.in_flight.borrow_mut();
        // Settled writes are reaped without registering for them; only a congested transport
        // waits for its oldest write.
        let mut idle = Context::from_waker(Waker::noop());
        loop {
            let blocked = f.bytes > HIGH_WATER;
            let Some((len, fut)) = f.writes.front_mut() else {
                break;
            };
            let len = *len;
            let polled = Pin::new(fut).poll(if blocked { &mut *cx } else { &mut idle });
            match polled {
                Poll::Pending => break,
                Poll::Ready(Ok(_)) => {
                    f.writes.pop_front();
                    f.bytes -= len;
                }
                Poll::Ready(Err(e)) => {
                    f.writes.pop_front();
                    f.bytes -= len;
                    return Poll::Ready(Err(TransportError::Reset(format!(
                        "WebSocketStream write failed: {}",
                        js_error_text(&e)
                    ))));
                }
            }
        }
        if f.writes.is_empty() {
            f.last = None;
        }
        if f.bytes > HIGH_WATER {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }

    fn close(&mut self) {
        self.close_now();
    }
}

impl Drop for WebSocketStreamTransport {
    fn drop(&mut self) {
        self.close_now();
    }
}
