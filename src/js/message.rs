//! `AMQPMessage`: a delivered, fetched or returned message. Body and properties are turned into
//! JS values only when read, and only once.

use super::channel::JsChannel;
use super::error::to_js_on;
use super::settled;
use super::values::properties_to_js;
use crate::client::Message;
use crate::engine::Returned;
use crate::protocol::BasicProperties;
use bytes::Bytes;
use js_sys::{Object, Uint8Array};
use std::cell::{Cell, OnceCell};
use wasm_bindgen::prelude::*;

#[allow(clippy::large_enum_variant)] // deliveries are the common case; returns are boxed
enum Source {
    Delivery(Message),
    Return(Box<Returned>),
}

#[wasm_bindgen(js_name = AMQPMessage)]
pub struct JsMessage {
    source: Source,
    channel: JsChannel,
    body_js: OnceCell<JsValue>,
    props_js: OnceCell<Object>,
    /// Acked, nacked or rejected already: a second settle is a no-op.
    acked: Cell<bool>,
}

impl JsMessage {
    pub(crate) fn delivered(m: Message, channel: JsChannel) -> JsMessage {
        JsMessage {
            source: Source::Delivery(m),
            channel,
            body_js: OnceCell::new(),
            props_js: OnceCell::new(),
            acked: Cell::new(false),
        }
    }

    pub(crate) fn returned(r: Returned, channel: JsChannel) -> JsMessage {
        JsMessage {
            source: Source::Return(Box::new(r)),
            channel,
            body_js: OnceCell::new(),
            props_js: OnceCell::new(),
            acked: Cell::new(false),
        }
    }

    fn raw_body(&self) -> &Bytes {
        match &self.source {
            Source::Delivery(m) => &m.body,
            Source::Return(r) => &r.body,
        }
    }

    fn props(&self) -> &BasicProperties {
        match &self.source {
            Source::Delivery(m) => &m.properties,
            Source::Return(r) => &r.properties,
        }
    }

    fn delivery(&self) -> Option<&Message> {
        match &self.source {
            Source::Delivery(m) => Some(m),
            Source::Return(_) => None,
        }
    }

    fn settle(
        &self,
        f: impl FnOnce(&Message) -> Result<(), crate::engine::Error>,
    ) -> Result<(), JsValue> {
        match self.delivery() {
            Some(_) if self.acked.get() => Ok(()),
            Some(m) => {
                self.acked.set(true);
                f(m).map_err(|e| to_js_on(e, &self.channel.client().js()))
            }
            None => Err(super::error::type_error(
                "a returned message cannot be acknowledged",
            )),
        }
    }
}

#[wasm_bindgen(js_class = AMQPMessage)]
impl JsMessage {
    /// The body bytes (`null` for an empty body, as amqp-client does).
    #[wasm_bindgen(getter, unchecked_return_type = "Uint8Array | null")]
    pub fn body(&self) -> JsValue {
        self.body_js
            .get_or_init(|| {
                let b = self.raw_body();
                if b.is_empty() {
                    JsValue::NULL
                } else {
                    Uint8Array::from(&b[..]).into()
                }
            })
            .clone()
    }

    /// The body decoded as UTF-8 (`null` for an empty body, as amqp-client does).
    #[wasm_bindgen(js_name = bodyToString, unchecked_return_type = "string | null")]
    pub fn body_to_string(&self) -> JsValue {
        match self.raw_body() {
            b if b.is_empty() => JsValue::NULL,
            b => String::from_utf8_lossy(b).as_ref().into(),
        }
    }

    /// Alias of `bodyToString()`.
    #[wasm_bindgen(js_name = bodyString, unchecked_return_type = "string | null")]
    pub fn body_string(&self) -> JsValue {
        self.body_to_string()
    }

    /// Whether the message was acked, nacked or rejected already.
    #[wasm_bindgen(getter, js_name = isAcked)]
    pub fn is_acked(&self) -> bool {
        self.acked.get()
    }

    /// Cancels the consumer the message was delivered to; resolves to the channel.
    #[wasm_bindgen(js_name = cancelConsumer, unchecked_return_type = "Promise<AMQPChannel>")]
    pub fn cancel_consumer(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<js_sys::Promise, JsValue> {
        self.channel.basic_cancel(self.consumer_tag(), opts)
    }

    /// Size of the body in bytes.
    #[wasm_bindgen(getter, js_name = bodySize)]
    pub fn body_size(&self) -> f64 {
        self.raw_body().len() as f64
    }

    #[wasm_bindgen(getter, unchecked_return_type = "AMQPProperties")]
    pub fn properties(&self) -> Object {
        self.props_js
            .get_or_init(|| properties_to_js(self.props()))
            .clone()
    }

    #[wasm_bindgen(getter)]
    pub fn exchange(&self) -> String {
        match &self.source {
            Source::Delivery(m) => String::from(&m.exchange),
            Source::Return(r) => String::from(&r.exchange),
        }
    }

    #[wasm_bindgen(getter, js_name = routingKey)]
    pub fn routing_key(&self) -> String {
        match &self.source {
            Source::Delivery(m) => String::from(&m.routing_key),
            Source::Return(r) => String::from(&r.routing_key),
        }
    }

    /// 0 for returned messages.
    #[wasm_bindgen(getter, js_name = deliveryTag)]
    pub fn delivery_tag(&self) -> f64 {
        self.delivery().map_or(0.0, |m| m.delivery_tag as f64)
    }

    #[wasm_bindgen(getter)]
    pub fn redelivered(&self) -> bool {
        self.delivery().is_some_and(|m| m.redelivered)
    }

    #[wasm_bindgen(getter, js_name = consumerTag)]
    pub fn consumer_tag(&self) -> String {
        self.delivery()
            .map(|m| String::from(&m.consumer_tag))
            .unwrap_or_default()
    }

    /// Messages left in the queue (basicGet only).
    #[wasm_bindgen(getter, js_name = messageCount)]
    pub fn message_count(&self) -> Option<u32> {
        self.delivery().and_then(|m| m.message_count)
    }

    /// Reply code of a returned message (312 NO_ROUTE...).
    #[wasm_bindgen(getter, js_name = replyCode)]
    pub fn reply_code(&self) -> Option<u16> {
        match &self.source {
            Source::Return(r) => Some(r.reply_code.0),
            Source::Delivery(_) => None,
        }
    }

    #[wasm_bindgen(getter, js_name = replyText)]
    pub fn reply_text(&self) -> Option<String> {
        match &self.source {
            Source::Return(r) => Some(String::from(&r.reply_text)),
            Source::Delivery(_) => None,
        }
    }

    #[wasm_bindgen(getter, unchecked_return_type = "AMQPChannel")]
    pub fn channel(&self) -> JsValue {
        self.channel.js()
    }

    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn ack(&self, multiple: Option<bool>) -> js_sys::Promise {
        let multiple = multiple.unwrap_or(false);
        settled(self.settle(|m| {
            if multiple {
                self.channel.inner().basic_ack(m.delivery_tag, true)
            } else {
                m.ack()
            }
        }))
    }

    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn nack(&self, requeue: Option<bool>, multiple: Option<bool>) -> js_sys::Promise {
        let (requeue, multiple) = (requeue.unwrap_or(false), multiple.unwrap_or(false));
        settled(self.settle(|m| {
            self.channel
                .inner()
                .basic_nack(m.delivery_tag, multiple, requeue)
        }))
    }

    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn reject(&self, requeue: Option<bool>) -> js_sys::Promise {
        let requeue = requeue.unwrap_or(false);
        settled(self.settle(|m| m.reject(requeue)))
    }
}
