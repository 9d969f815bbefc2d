//! Browser/Deno transport: a web-sys WebSocket carrying raw AMQP frames in binary messages.
//!
//! The event closures are owned by the transport and detached in `Drop` (never leaked). Incoming
//! messages are queued for the driver; each `send` is one binary message, so frames produced in
//! one driver tick travel together.

use crate::client::transport::Transport;
use futures::channel::mpsc;
use futures::StreamExt;
use js_sys::{ArrayBuffer, Uint8Array};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

enum WsEvent {
    Data(Vec<u8>),
    Closed(String),
}

/// Bytes the browser may hold unsent before publishers are asked to wait.
const HIGH_WATER: u32 = 4 << 20;
const DRAIN_POLL_MS: u32 = 5;

pub struct WebSocketTransport {
    ws: WebSocket,
    drain_timer: Option<gloo_timers::future::TimeoutFuture>,
    rx: mpsc::UnboundedReceiver<WsEvent>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl WebSocketTransport {
    /// Opens the socket and waits until it is connected (or fails).
    pub async fn connect(url: &str, protocols: &[String]) -> Result<WebSocketTransport, String> {
        let ws = if protocols.is_empty() {
            WebSocket::new(url)
        } else {
            let arr = js_sys::Array::new();
            for p in protocols {
                arr.push(&p.into());
            }
            WebSocket::new_with_str_sequence(url, &arr)
        }
        .map_err(|e| format!("cannot open WebSocket {url}: {}", js_error_text(&e)))?;
        ws.set_binary_type(BinaryType::Arraybuffer);

        let (tx, rx) = mpsc::unbounded();
        let (open_tx, mut open_rx) = mpsc::unbounded::<Result<(), String>>();

        let data_tx = tx.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            if let Ok(buf) = ev.data().dyn_into::<ArrayBuffer>() {
                let _ = data_tx.unbounded_send(WsEvent::Data(Uint8Array::new(&buf).to_vec()));
            }
        });
        let close_tx = tx.clone();
        let open_close_tx = open_tx.clone();
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
            let why = format!(
                "WebSocket closed (code {}{}{})",
                ev.code(),
                if ev.reason().is_empty() { "" } else { ": " },
                ev.reason()
            );
            let _ = open_close_tx.unbounded_send(Err(why.clone()));
            let _ = close_tx.unbounded_send(WsEvent::Closed(why));
        });
        let err_open_tx = open_tx.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_ev: web_sys::Event| {
            let _ = err_open_tx.unbounded_send(Err("WebSocket error".into()));
        });
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_ev: web_sys::Event| {
            let _ = open_tx.unbounded_send(Ok(()));
        });
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));

        let transport = WebSocketTransport {
            drain_timer: None,
            ws,
            rx,
            _on_message: on_message,
            _on_close: on_close,
            _on_error: on_error,
        };
        let opened = open_rx
            .next()
            .await
            .unwrap_or_else(|| Err("WebSocket failed to open".into()));
        transport.ws.set_onopen(None);
        drop(on_open);
        opened
            .map(|_| transport)
            .map_err(|e| format!("cannot connect to {url}: {e}"))
    }
}

fn js_error_text(v: &wasm_bindgen::JsValue) -> String {
    js_sys::Reflect::get(v, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{v:?}"))
}

impl Transport for WebSocketTransport {
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Poll<Result<bool, String>> {
        match self.rx.poll_next_unpin(cx) {
            Poll::Ready(Some(WsEvent::Data(d))) => {
                sink(&d);
                Poll::Ready(Ok(true))
            }
            Poll::Ready(Some(WsEvent::Closed(why))) => Poll::Ready(Err(why)),
            Poll::Ready(None) => Poll::Ready(Ok(false)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn send(&mut self, data: Vec<u8>) -> Result<(), String> {
        self.ws
            .send_with_u8_array(&data)
            .map_err(|e| format!("WebSocket send failed: {}", js_error_text(&e)))
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        // The browser buffers sends itself and only exposes bufferedAmount, with no event when it
        // falls: above the high-water mark, look again after a short timer.
        if self.ws.buffered_amount() <= HIGH_WATER {
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
            let _ = self.ws.close_with_code(1000);
        }
    }
}
