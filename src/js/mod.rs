//! The JavaScript surface (wasm only): classes mirroring @cloudamqp/amqp-client 4.x. Only argument
//! parsing and value conversion live here; every protocol decision is made in `client/` and below.

mod channel;
mod client;
mod consumer;
mod error;
mod message;
mod session;
mod values;

use crate::client::Reply;
use crate::engine::{Error, Response};
use js_sys::Promise;
use std::future::Future;
use wasm_bindgen::prelude::*;

/// Runs a fallible future as a Promise that rejects with an `AMQPError`/`TypeError`.
fn promise<T: Into<JsValue>>(fut: impl Future<Output = Result<T, Error>> + 'static) -> Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        fut.await.map(Into::into).map_err(error::to_js)
    })
}

/// A Promise for a channel method's [`Reply`]: every method shares this one future type (one
/// state machine in the wasm instead of one per method); `to_js` shapes the result.
fn reply<T: 'static>(
    sent: Result<Reply<T>, Error>,
    to_js: impl FnOnce(T) -> JsValue + 'static,
) -> Promise {
    let (rx, convert) = match sent {
        Ok(r) => r.into_parts(),
        Err(e) => return Promise::reject(&error::to_js(e)),
    };
    let rx = match rx {
        Ok(rx) => rx,
        Err(e) => return Promise::reject(&error::to_js(e)),
    };
    let finish: Box<dyn FnOnce(Response) -> Result<JsValue, Error>> =
        Box::new(move |r| convert(r).map(to_js));
    promise(async move {
        rx.await
            .unwrap_or(Err(Error::NotOpen("connection")))
            .and_then(finish)
    })
}

/// An already-settled Promise for operations that complete synchronously (ack, nack, reject).
fn settled(r: Result<(), JsValue>) -> Promise {
    match r {
        Ok(()) => Promise::resolve(&JsValue::UNDEFINED),
        Err(e) => Promise::reject(&e),
    }
}

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
