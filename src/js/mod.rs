//! The JavaScript surface (wasm only): classes mirroring @cloudamqp/amqp-client 4.x. Only argument
//! parsing and value conversion live here; every protocol decision is made in `client/` and below.
//!
//! Every call that waits on the broker takes an optional trailing `{ signal }` (an AbortSignal):
//! an abort rejects the call's promise with the signal's reason and drops the Rust future.

mod channel;
mod client;
mod consumer;
mod error;
mod keys;
mod message;
mod session;
mod tcp_client;
mod values;

use crate::client::Reply;
use crate::engine::{Error, Response};
use futures::channel::oneshot;
use futures::future::{Either, LocalBoxFuture};
use futures::FutureExt;
use js_sys::Promise;
use std::future::Future;
use wasm_bindgen::prelude::*;
use web_sys::AbortSignal;

/// What one JS call carries besides its arguments: the client its errors name
/// (`AMQPError.connection`) and an optional AbortSignal.
pub(crate) struct Ctx {
    conn: JsValue,
    signal: Option<AbortSignal>,
}

impl Ctx {
    /// `opts` is the call's trailing options argument (`{ signal }`), if any.
    fn new(conn: JsValue, opts: Option<JsValue>) -> Result<Ctx, JsValue> {
        let signal = match opts.map(|o| values::get_field(&o, "signal")) {
            Some(s) if !s.is_undefined() && !s.is_null() => Some(
                s.dyn_into::<AbortSignal>()
                    .map_err(|_| error::type_error("options.signal must be an AbortSignal"))?,
            ),
            _ => None,
        };
        Ok(Ctx { conn, signal })
    }

    /// For calls that take no signal.
    fn on(conn: JsValue) -> Ctx {
        Ctx { conn, signal: None }
    }

    /// A rejected Promise when the signal is aborted already: the call then sends nothing.
    fn pre_aborted(&self) -> Option<Promise> {
        let s = self.signal.as_ref().filter(|s| s.aborted())?;
        Some(Promise::reject(&s.reason()))
    }

    fn err(&self, e: Error) -> JsValue {
        error::to_js_on(e, &self.conn)
    }

    fn reject(&self, e: Error) -> Promise {
        Promise::reject(&self.err(e))
    }

    /// Runs a fallible future as a Promise that rejects with an `AMQPError`/`TypeError`.
    fn promise(self, fut: impl Future<Output = Result<JsValue, Error>> + 'static) -> Promise {
        self.promise_boxed(fut.boxed_local())
    }

    fn promise_boxed(self, fut: LocalBoxFuture<'static, Result<JsValue, Error>>) -> Promise {
        let conn = self.conn;
        let fut = async move { fut.await.map_err(|e| error::to_js_on(e, &conn)) };
        run(self.signal, fut.boxed_local())
    }

    /// A Promise for a future whose errors are JS values already.
    fn promise_js(self, fut: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
        run(self.signal, fut.boxed_local())
    }

    /// A Promise for a channel method's [`Reply`]: every method shares this one future type (one
    /// state machine in the wasm instead of one per method); `to_js` shapes the result. A short
    /// string over 255 bytes throws at once, as amqp-client's encoder does; other failures reject.
    fn reply<T: 'static>(
        self,
        sent: Result<Reply<T>, Error>,
        to_js: impl FnOnce(T) -> JsValue + 'static,
    ) -> Result<Promise, JsValue> {
        let parts = sent.and_then(|r| {
            let (rx, convert) = r.into_parts();
            let finish: Finish = Box::new(move |r| convert(r).map(to_js));
            rx.map(|rx| (rx, finish))
        });
        self.reply_parts(parts)
    }

    /// The part of [`Ctx::reply`] that does not depend on the result type (compiled once).
    fn reply_parts(self, parts: Result<(ReplyRx, Finish), Error>) -> Result<Promise, JsValue> {
        let (rx, finish) = match parts {
            Ok(p) => p,
            Err(e) if error::throws(&e) => return Err(self.err(e)),
            Err(e) => return Ok(self.reject(e)),
        };
        Ok(self.promise(async move {
            rx.await
                .unwrap_or(Err(Error::NotOpen("connection")))
                .and_then(finish)
        }))
    }
}

type Finish = Box<dyn FnOnce(Response) -> Result<JsValue, Error>>;
type ReplyRx = oneshot::Receiver<Result<Response, Error>>;

/// The one Promise-making future: the call, raced against its AbortSignal when there is one.
fn run(
    signal: Option<AbortSignal>,
    fut: LocalBoxFuture<'static, Result<JsValue, JsValue>>,
) -> Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        match signal {
            None => fut.await,
            // the signal first: a future that acts when first polled never starts once aborted
            Some(s) => match futures::future::select(aborted(&s), fut).await {
                Either::Left((reason, _)) => Err(reason),
                Either::Right((r, _)) => r,
            },
        }
    })
}

/// Resolves with the signal's reason once it is aborted. The listener goes with the future.
fn aborted(s: &AbortSignal) -> LocalBoxFuture<'static, JsValue> {
    if s.aborted() {
        return futures::future::ready(s.reason()).boxed_local();
    }
    let (tx, rx) = oneshot::channel::<()>();
    let mut tx = Some(tx);
    let cb = Closure::<dyn FnMut()>::new(move || {
        if let Some(tx) = tx.take() {
            let _ = tx.send(());
        }
    });
    let _ = s.add_event_listener_with_callback("abort", cb.as_ref().unchecked_ref());
    let listener = Listener(s.clone(), cb);
    async move {
        let _ = rx.await;
        listener.0.reason()
    }
    .boxed_local()
}

/// An `abort` listener, removed when dropped (the call finished or was aborted).
struct Listener(AbortSignal, Closure<dyn FnMut()>);

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .0
            .remove_event_listener_with_callback("abort", self.1.as_ref().unchecked_ref());
    }
}

/// An already-settled Promise for operations that complete synchronously (ack, nack, reject).
fn settled(r: Result<(), JsValue>) -> Promise {
    match r {
        Ok(()) => Promise::resolve(&JsValue::UNDEFINED),
        Err(e) => Promise::reject(&e),
    }
}

/// Types the generated warren.d.ts refers to (the package root's index.d.ts is written by hand).
#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A value in headers or arguments. See the value mapping in the README. */
export type FieldValue =
  | string | number | bigint | boolean | null | undefined | Date | Uint8Array | ArrayBuffer
  | { scale: number, value: number } | FieldValue[] | { [key: string]: FieldValue };

export interface AMQPProperties {
  contentType?: string;
  contentEncoding?: string;
  headers?: Record<string, FieldValue>;
  /** 1 = transient, 2 = persistent */
  deliveryMode?: number;
  priority?: number;
  correlationId?: string;
  replyTo?: string;
  expiration?: string;
  messageId?: string;
  timestamp?: Date;
  type?: string;
  userId?: string;
  appId?: string;
  clusterId?: string;
}

export type Logger = Pick<Console, "debug" | "info" | "warn" | "error">;

/** Errors from the broker or the connection (the package root exports the class). */
export interface AMQPError extends Error {
  connection: AMQPWebSocketClient;
  code?: number;
  replyText?: string;
  classId?: number;
  methodId?: number;
  scope?: "channel" | "connection" | "publish" | "timeout";
}

export interface AMQPWebSocketOptions {
  url: string;
  vhost?: string;
  username?: string;
  password?: string;
  /** Connection name shown in the management UI. */
  name?: string;
  frameMax?: number;
  heartbeat?: number;
  channelMax?: number;
  logger?: Logger | null;
  /** SASL mechanism: "PLAIN" (default) or "AMQPLAIN". */
  authMechanism?: "PLAIN" | "AMQPLAIN";
  /** Bound on WebSocket open + AMQP handshake, in ms (default 30000). */
  connectionTimeout?: number;
  /** WebSocket subprotocols to offer (none by default). */
  protocols?: string | string[];
}

export interface ExchangeParams { passive?: boolean; durable?: boolean; autoDelete?: boolean; internal?: boolean; nowait?: boolean }
export interface QueueParams { passive?: boolean; durable?: boolean; autoDelete?: boolean; exclusive?: boolean }
export interface ConsumeParams { tag?: string; noAck?: boolean; noLocal?: boolean; exclusive?: boolean; args?: Record<string, FieldValue> }
export interface QueueOk { name: string; messageCount: number; consumerCount: number }
"#;
