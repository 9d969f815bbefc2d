//! `AMQPChannel`: argument parsing and result shaping around `client::Channel`.

use super::client::{callback_arg, JsClient};
use super::consumer::JsConsumer;
use super::error::to_js_on;
use super::message::JsMessage;
use super::values::{
    get_field, int_arg, js_bytes, js_to_properties, js_to_table, opt_bool, opt_str,
};
use super::{settled, Ctx};
use crate::client::{
    Channel, ConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, PublishOptions,
    PublishWait, QueueDeclareOptions, QueueDeleteOptions,
};
use crate::engine::Error;
use crate::protocol::FieldTable;
use crate::rt;
use futures::StreamExt;
use js_sys::{Function, Map, Object, Promise, Reflect, WeakRef};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

struct ChannelState {
    channel: Channel,
    client: JsClient,
    onreturn: RefCell<Option<Function>>,
    onerror: RefCell<Option<Function>>,
    /// Set once a task forwards `basic.return`s to `onReturn`.
    returns_started: std::cell::Cell<bool>,
    /// `ch.consumers`: the running consumers' JS objects by tag, and the same consumers for Rust.
    consumers: Map,
    running: RefCell<Vec<JsConsumer>>,
    /// This channel's JS object.
    this: RefCell<Option<WeakRef>>,
}

#[wasm_bindgen(js_name = AMQPChannel)]
#[derive(Clone)]
pub struct JsChannel {
    inner: Rc<ChannelState>,
}

fn obj(pairs: &[(&'static str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        super::keys::set(&o, k, v);
    }
    o.into()
}

/// Publish bodies: string (UTF-8), Uint8Array, ArrayBuffer or view, null/undefined (empty).
fn body_bytes(data: &JsValue) -> Result<Vec<u8>, Error> {
    if data.is_null() || data.is_undefined() {
        return Ok(Vec::new());
    }
    if let Some(s) = data.as_string() {
        return Ok(s.into_bytes());
    }
    js_bytes(data).ok_or_else(|| {
        Error::InvalidArgument("body must be a string, Uint8Array, ArrayBuffer or null".into())
    })
}

fn table(v: &JsValue, what: &str) -> Result<FieldTable, Error> {
    js_to_table(v, what)
}

impl JsChannel {
    /// Wraps a channel the client has opened and watches for its end.
    pub(crate) fn create(channel: Channel, client: JsClient) -> JsChannel {
        let this = JsChannel {
            inner: Rc::new(ChannelState {
                channel,
                client,
                onreturn: RefCell::new(None),
                onerror: RefCell::new(None),
                returns_started: std::cell::Cell::new(false),
                consumers: Map::new(),
                running: RefCell::default(),
                this: RefCell::new(None),
            }),
        };
        let js: JsValue = this.clone().into();
        *this.inner.this.borrow_mut() = js.dyn_ref::<Object>().map(WeakRef::new);
        if this.id() != 0 {
            this.watch(js);
            if !this.inner.client.logger().is_undefined() {
                this.start_returns(); // amqp-client logs returned messages by default
            }
        }
        this
    }

    /// This channel's JS object (the same one every time while anything holds it).
    pub(crate) fn js(&self) -> JsValue {
        match self.inner.this.borrow().as_ref().and_then(|w| w.deref()) {
            Some(o) => o.into(),
            None => self.clone().into(),
        }
    }

    pub(crate) fn inner(&self) -> &Channel {
        &self.inner.channel
    }

    pub(crate) fn client(&self) -> &JsClient {
        &self.inner.client
    }

    pub(crate) fn ctx(&self, opts: Option<JsValue>) -> Result<Ctx, JsValue> {
        self.inner.client.ctx(opts)
    }

    pub(crate) fn is_open(&self) -> bool {
        self.id() != 0 && self.inner.channel.is_open()
    }

    /// A consumer started on this channel (for `ch.consumers`).
    pub(crate) fn add_consumer(&self, c: &JsConsumer, js: &JsValue) {
        self.inner.consumers.set(&c.tag().into(), js);
        self.inner.running.borrow_mut().push(c.clone());
    }

    /// A consumer that ended.
    pub(crate) fn remove_consumer(&self, tag: &str) {
        self.inner.consumers.delete(&tag.into());
        self.inner.running.borrow_mut().retain(|c| c.tag() != tag);
    }

    fn consumer(&self, tag: &str) -> Option<JsConsumer> {
        self.inner
            .running
            .borrow()
            .iter()
            .find(|c| c.tag() == tag)
            .cloned()
    }

    /// When the channel ends: its consumers end (with the error if the broker closed it), it
    /// leaves `client.channels`, and a broker close goes to `onerror`.
    fn watch(&self, js: JsValue) {
        let this = self.clone();
        rt::spawn(async move {
            let error = this.inner.channel.closed().await;
            let client = this.inner.client.clone();
            client.channel_ended(this.id(), &js);
            drop(js);
            let err_js = error.as_ref().map(|e| to_js_on(e.clone(), &client.js()));
            let running = std::mem::take(&mut *this.inner.running.borrow_mut());
            for c in running {
                c.finish(err_js.clone().map_or(Ok(()), Err));
            }
            this.inner.consumers.clear();
            let (Some(Error::ChannelClosed(info)), Some(err)) = (&error, &err_js) else {
                return;
            };
            let id = this.id();
            client.log(
                "debug",
                &[
                    "channel".into(),
                    id.into(),
                    "closed".into(),
                    info.code.0.into(),
                    info.text.as_str().into(),
                    info.class_id.into(),
                    info.method_id.into(),
                ],
            );
            let reason = Reflect::get(err, &"message".into()).unwrap_or_default();
            let f = this.inner.onerror.borrow().clone();
            match f {
                Some(f) => {
                    let _ = f.call1(&this.js(), &reason);
                }
                None => {
                    // amqp-client's default: log it and tell the connection's onerror
                    let reason = reason.as_string().unwrap_or_default();
                    client.log("error", &[format!("channel {id} closed: {reason}").into()]);
                    let text = format!("Channel {id} closed: {reason}");
                    client.report_error(&super::error::amqp_error(&text, &client.js()));
                }
            }
        });
    }

    fn start_returns(&self) {
        if self.inner.returns_started.replace(true) {
            return;
        }
        let mut returns = self.inner.channel.returns();
        let this = self.clone();
        rt::spawn(async move {
            while let Some(r) = returns.next().await {
                let msg: JsValue = JsMessage::returned(r, this.clone()).into();
                let cb = this.inner.onreturn.borrow().clone();
                match cb {
                    Some(cb) => {
                        let _ = cb.call1(&JsValue::NULL, &msg);
                    }
                    None => this
                        .inner
                        .client
                        .log("error", &["Message returned from server".into(), msg]),
                }
            }
        });
    }
}

#[wasm_bindgen(js_class = AMQPChannel)]
impl JsChannel {
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> u16 {
        self.inner.channel.id()
    }

    /// Whether the channel is closed (channel 0 is open as long as the connection is).
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        if self.id() == 0 {
            return self.inner.client.closed();
        }
        !self.inner.channel.is_open()
    }

    /// The client this channel belongs to.
    #[wasm_bindgen(getter, unchecked_return_type = "AMQPWebSocketClient")]
    pub fn connection(&self) -> JsValue {
        self.inner.client.js()
    }

    /// The running consumers by consumer tag.
    #[wasm_bindgen(getter, unchecked_return_type = "Map<string, AMQPConsumer>")]
    pub fn consumers(&self) -> Map {
        self.inner.consumers.clone()
    }

    /// Called with the reason when the broker closes the channel. Unset: the error is logged and
    /// passed to the connection's `onerror`, as amqp-client does.
    #[wasm_bindgen(
        getter,
        unchecked_return_type = "((reason: string) => void) | undefined"
    )]
    pub fn onerror(&self) -> JsValue {
        self.inner
            .onerror
            .borrow()
            .clone()
            .map(JsValue::from)
            .unwrap_or(JsValue::UNDEFINED)
    }
    #[wasm_bindgen(setter)]
    pub fn set_onerror(
        &self,
        #[wasm_bindgen(unchecked_param_type = "((reason: string) => void) | undefined")] f: JsValue,
    ) -> Result<(), JsValue> {
        *self.inner.onerror.borrow_mut() = callback_arg(f, "onerror")?;
        Ok(())
    }

    /// Called with each mandatory message the broker returns as unroutable.
    #[wasm_bindgen(getter, js_name = onReturn, unchecked_return_type = "((message: AMQPMessage) => void) | undefined")]
    pub fn onreturn(&self) -> JsValue {
        self.inner
            .onreturn
            .borrow()
            .clone()
            .map(JsValue::from)
            .unwrap_or(JsValue::UNDEFINED)
    }
    #[wasm_bindgen(setter, js_name = onReturn)]
    pub fn set_onreturn(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "((message: AMQPMessage) => void)")]
        f: Option<JsValue>,
    ) -> Result<(), JsValue> {
        let f = f.unwrap_or(JsValue::UNDEFINED);
        *self.inner.onreturn.borrow_mut() = callback_arg(f, "onReturn")?;
        self.start_returns();
        Ok(())
    }

    #[wasm_bindgen(js_name = exchangeDeclare, unchecked_return_type = "Promise<void>")]
    pub fn exchange_declare(
        &self,
        name: String,
        #[wasm_bindgen(unchecked_param_type = "string")] kind: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "ExchangeParams")] params: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, FieldValue>")] args: Option<
            JsValue,
        >,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        let (params, args) = (or_undefined(params), or_undefined(args));
        let sent = (|| {
            let kind = kind
                .as_string()
                .ok_or_else(|| Error::InvalidArgument("exchange type must be a string".into()))?;
            let o = ExchangeDeclareOptions {
                passive: opt_bool(&params, "passive", false)?,
                durable: opt_bool(&params, "durable", true)?,
                auto_delete: opt_bool(&params, "autoDelete", false)?,
                internal: opt_bool(&params, "internal", false)?,
                nowait: opt_bool(&params, "nowait", false)?,
            };
            Ok(self
                .inner()
                .exchange_declare(&name, &kind, o, table(&args, "arguments")?))
        })();
        ctx.reply(sent, undefined)
    }

    #[wasm_bindgen(js_name = exchangeDelete, unchecked_return_type = "Promise<void>")]
    pub fn exchange_delete(
        &self,
        name: String,
        #[wasm_bindgen(unchecked_optional_param_type = "{ ifUnused?: boolean }")] params: Option<
            JsValue,
        >,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        let params = or_undefined(params);
        let sent = (|| {
            let o = ExchangeDeleteOptions {
                if_unused: opt_bool(&params, "ifUnused", false)?,
                nowait: false,
            };
            Ok(self.inner().exchange_delete(&name, o))
        })();
        ctx.reply(sent, undefined)
    }

    #[wasm_bindgen(js_name = exchangeBind, unchecked_return_type = "Promise<void>")]
    pub fn exchange_bind(
        &self,
        destination: String,
        source: String,
        routing_key: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, FieldValue>")] args: Option<
            JsValue,
        >,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        let args = or_undefined(args);
        let key = routing_key.unwrap_or_default();
        let sent = table(&args, "arguments")
            .map(|t| self.inner().exchange_bind(&destination, &source, &key, t));
        ctx.reply(sent, undefined)
    }

    #[wasm_bindgen(js_name = exchangeUnbind, unchecked_return_type = "Promise<void>")]
    pub fn exchange_unbind(
        &self,
        destination: String,
        source: String,
        routing_key: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, FieldValue>")] args: Option<
            JsValue,
        >,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        let args = or_undefined(args);
        let key = routing_key.unwrap_or_default();
        let sent = table(&args, "arguments")
            .map(|t| self.inner().exchange_unbind(&destination, &source, &key, t));
        ctx.reply(sent, undefined)
    }

    /// Declares a queue. Defaults as in amqp-client: a named queue is durable; an unnamed
    /// (server-named) one is exclusive and auto-delete.
    #[wasm_bindgen(js_name = queueDeclare, unchecked_return_type = "Promise<QueueOk>")]
    pub fn queue_declare(
        &self,
        name: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "QueueParams")] params: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, FieldValue>")] args: Option<
            JsValue,
        >,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        let (params, args) = (or_undefined(params), or_undefined(args));
        let sent = (|| {
            let name = name.unwrap_or_default();
            let named = !name.is_empty();
            let o = QueueDeclareOptions {
                passive: opt_bool(&params, "passive", false)?,
                durable: opt_bool(&params, "durable", named)?,
                exclusive: opt_bool(&params, "exclusive", !named)?,
                auto_delete: opt_bool(&params, "autoDelete", !named)?,
                nowait: false,
            };
            Ok(self
                .inner()
                .queue_declare(&name, o, table(&args, "arguments")?))
        })();
        ctx.reply(sent, |q| {
            obj(&[
                ("name", q.name.into()),
                ("messageCount", q.message_count.into()),
                ("consumerCount", q.consumer_count.into()),
            ])
        })
    }

    #[wasm_bindgen(js_name = queueBind, unchecked_return_type = "Promise<void>")]
    pub fn queue_bind(
        &self,
        queue: String,
        exchange: String,
        routing_key: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, FieldValue>")] args: Option<
            JsValue,
        >,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        let args = or_undefined(args);
        let key = routing_key.unwrap_or_default();
        let sent =
            table(&args, "arguments").map(|t| self.inner().queue_bind(&queue, &exchange, &key, t));
        ctx.reply(sent, undefined)
    }

    #[wasm_bindgen(js_name = queueUnbind, unchecked_return_type = "Promise<void>")]
    pub fn queue_unbind(
        &self,
        queue: String,
        exchange: String,
        routing_key: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, FieldValue>")] args: Option<
            JsValue,
        >,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        let args = or_undefined(args);
        let key = routing_key.unwrap_or_default();
        let sent = table(&args, "arguments")
            .map(|t| self.inner().queue_unbind(&queue, &exchange, &key, t));
        ctx.reply(sent, undefined)
    }

    #[wasm_bindgen(js_name = queuePurge, unchecked_return_type = "Promise<{ messageCount: number }>")]
    pub fn queue_purge(
        &self,
        name: String,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        ctx.reply(Ok(self.inner().queue_purge(&name)), message_count)
    }

    #[wasm_bindgen(js_name = queueDelete, unchecked_return_type = "Promise<{ messageCount: number }>")]
    pub fn queue_delete(
        &self,
        name: Option<String>,
        #[wasm_bindgen(
            unchecked_optional_param_type = "{ ifUnused?: boolean, ifEmpty?: boolean }"
        )]
        params: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        let params = or_undefined(params);
        let sent = (|| {
            let o = QueueDeleteOptions {
                if_unused: opt_bool(&params, "ifUnused", false)?,
                if_empty: opt_bool(&params, "ifEmpty", false)?,
                nowait: false,
            };
            Ok(self.inner().queue_delete(&name.unwrap_or_default(), o))
        })();
        ctx.reply(sent, message_count)
    }

    #[wasm_bindgen(js_name = basicQos, unchecked_return_type = "Promise<void>")]
    pub fn basic_qos(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] prefetch_count: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number | undefined")] prefetch_size: Option<JsValue>,
        global: Option<bool>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        let sent = (|| {
            let count = int_arg(&prefetch_count, "prefetchCount", 0, u16::MAX as u64)?;
            let size = int_arg(
                &or_undefined(prefetch_size),
                "prefetchSize",
                0,
                u32::MAX as u64,
            )?;
            let (count, size) = (count.unwrap_or(0) as u16, size.unwrap_or(0) as u32);
            Ok(self.inner().basic_qos(count, size, global.unwrap_or(false)))
        })();
        ctx.reply(sent, undefined)
    }

    /// Shorthand for `basicQos(count)`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn prefetch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] prefetch_count: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        self.basic_qos(prefetch_count, None, None, opts)
    }

    /// Publishes a message. On a confirm channel the promise settles when the broker acks
    /// (rejects on nack); it resolves to the message's sequence number there, else 0.
    #[wasm_bindgen(js_name = basicPublish, unchecked_return_type = "Promise<number>")]
    #[allow(clippy::too_many_arguments)]
    pub fn basic_publish(
        &self,
        exchange: Option<String>,
        routing_key: Option<String>,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array | ArrayBuffer | null")]
        data: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "AMQPProperties")] properties: Option<
            JsValue,
        >,
        #[wasm_bindgen(unchecked_optional_param_type = "boolean")] mandatory: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "boolean")] immediate: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        // Encoding happens now, so a bad argument rejects before anything is sent and the
        // publish order matches call order even if the caller does not await.
        let sent = (|| {
            let body = body_bytes(&data)?;
            let props = js_to_properties(&or_undefined(properties))?;
            let o = PublishOptions {
                mandatory: mandatory.and_then(|m| m.as_bool()).unwrap_or(false),
                immediate: immediate.and_then(|m| m.as_bool()).unwrap_or(false),
            };
            let (exchange, routing_key) = (
                exchange.unwrap_or_default(),
                routing_key.unwrap_or_default(),
            );
            self.inner()
                .publish_now(&exchange, &routing_key, &body, &props, o)
        })();
        Ok(match sent {
            Err(e) => ctx.reject(e),
            Ok(PublishWait::Sent) => Promise::resolve(&JsValue::from(0)),
            Ok(PublishWait::Drain(rx)) => ctx.promise(async move {
                let _ = rx.await;
                Ok(JsValue::from(0))
            }),
            Ok(PublishWait::Confirm(seq, rx)) => ctx.promise(async move {
                rx.await.unwrap_or(Err(Error::NotOpen("channel")))?;
                Ok(JsValue::from(seq as f64))
            }),
        })
    }

    /// Starts a consumer. With a callback, messages are pushed to it; without, iterate the
    /// returned consumer with `for await`. Defaults as amqp-client: `noAck: true`.
    #[wasm_bindgen(js_name = basicConsume, unchecked_return_type = "Promise<AMQPConsumer>")]
    pub fn basic_consume(
        &self,
        queue: String,
        #[wasm_bindgen(unchecked_optional_param_type = "ConsumeParams")] params: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "(message: AMQPMessage) => void")] callback: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        let params = or_undefined(params);
        let sent = (|| {
            let callback = match callback {
                Some(c) if !c.is_undefined() && !c.is_null() => {
                    Some(c.dyn_into::<Function>().map_err(|_| {
                        Error::InvalidArgument("callback must be a function".into())
                    })?)
                }
                _ => None,
            };
            let o = ConsumeOptions {
                tag: opt_str(&params, "tag")?.unwrap_or_default(),
                no_local: opt_bool(&params, "noLocal", false)?,
                no_ack: opt_bool(&params, "noAck", true)?,
                exclusive: opt_bool(&params, "exclusive", false)?,
            };
            let args = if params.is_object() {
                get_field(&params, "args")
            } else {
                JsValue::UNDEFINED
            };
            Ok((
                self.inner().basic_consume(&queue, o, table(&args, "args")?),
                callback,
            ))
        })();
        let this = self.clone();

        match sent {
            Err(e) => Ok(ctx.reject(e)),
            Ok((r, callback)) => ctx.reply(Ok(r), move |c| {
                let consumer = JsConsumer::new(c, this.clone(), callback);
                let js = consumer.js();
                this.add_consumer(&consumer, &js);
                js
            }),
        }
    }

    /// Fetches one message; resolves to `null` when the queue is empty. Default `noAck: true`.
    #[wasm_bindgen(js_name = basicGet, unchecked_return_type = "Promise<AMQPMessage | null>")]
    pub fn basic_get(
        &self,
        queue: String,
        #[wasm_bindgen(unchecked_optional_param_type = "{ noAck?: boolean }")] params: Option<
            JsValue,
        >,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        let params = or_undefined(params);
        let sent =
            opt_bool(&params, "noAck", true).map(|no_ack| self.inner().basic_get(&queue, no_ack));
        let this = self.clone();
        ctx.reply(sent, move |m| {
            m.map_or(JsValue::NULL, |m| JsMessage::delivered(m, this).into())
        })
    }

    #[wasm_bindgen(js_name = basicAck, unchecked_return_type = "Promise<void>")]
    pub fn basic_ack(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] delivery_tag: JsValue,
        multiple: Option<bool>,
    ) -> Promise {
        let r = delivery_tag_arg(&delivery_tag)
            .and_then(|t| self.inner().basic_ack(t, multiple.unwrap_or(false)));
        settled(r.map_err(|e| self.err(e)))
    }

    #[wasm_bindgen(js_name = basicNack, unchecked_return_type = "Promise<void>")]
    pub fn basic_nack(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] delivery_tag: JsValue,
        requeue: Option<bool>,
        multiple: Option<bool>,
    ) -> Promise {
        let r = delivery_tag_arg(&delivery_tag).and_then(|t| {
            self.inner()
                .basic_nack(t, multiple.unwrap_or(false), requeue.unwrap_or(false))
        });
        settled(r.map_err(|e| self.err(e)))
    }

    #[wasm_bindgen(js_name = basicReject, unchecked_return_type = "Promise<void>")]
    pub fn basic_reject(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] delivery_tag: JsValue,
        requeue: Option<bool>,
    ) -> Promise {
        let r = delivery_tag_arg(&delivery_tag)
            .and_then(|t| self.inner().basic_reject(t, requeue.unwrap_or(false)));
        settled(r.map_err(|e| self.err(e)))
    }

    /// Cancels a consumer by tag; resolves to this channel.
    #[wasm_bindgen(js_name = basicCancel, unchecked_return_type = "Promise<AMQPChannel>")]
    pub fn basic_cancel(
        &self,
        tag: String,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        if !self.is_open() {
            return Ok(ctx.reject(Error::NotOpen("channel")));
        }
        let consumer = self.consumer(&tag);
        if let Some(c) = &consumer {
            c.cancel_requested();
        }
        let this = self.clone();
        ctx.reply(Ok(self.inner().basic_cancel(&tag)), move |()| {
            if let Some(c) = consumer {
                c.finish(Ok(()));
            }
            this.js()
        })
    }

    #[wasm_bindgen(js_name = basicRecover, unchecked_return_type = "Promise<void>")]
    pub fn basic_recover(
        &self,
        requeue: Option<bool>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        ctx.reply(
            Ok(self.inner().basic_recover(requeue.unwrap_or(false))),
            undefined,
        )
    }

    /// Pauses (`false`) or resumes (`true`) deliveries; resolves to the broker's answer.
    #[wasm_bindgen(js_name = basicFlow, unchecked_return_type = "Promise<boolean>")]
    pub fn basic_flow(
        &self,
        active: Option<bool>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        ctx.reply(
            Ok(self.inner().basic_flow(active.unwrap_or(true))),
            JsValue::from_bool,
        )
    }

    #[wasm_bindgen(js_name = confirmSelect, unchecked_return_type = "Promise<void>")]
    pub fn confirm_select(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        ctx.reply(Ok(self.inner().confirm_select()), undefined)
    }

    #[wasm_bindgen(js_name = txSelect, unchecked_return_type = "Promise<void>")]
    pub fn tx_select(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        ctx.reply(Ok(self.inner().tx_select()), undefined)
    }

    #[wasm_bindgen(js_name = txCommit, unchecked_return_type = "Promise<void>")]
    pub fn tx_commit(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        ctx.reply(Ok(self.inner().tx_commit()), undefined)
    }

    #[wasm_bindgen(js_name = txRollback, unchecked_return_type = "Promise<void>")]
    pub fn tx_rollback(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        ctx.reply(Ok(self.inner().tx_rollback()), undefined)
    }

    /// Closes the channel; rejects when it is closed already.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(
        &self,
        reason: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "number")] code: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        let code = match reply_code_arg(code) {
            Ok(c) => c,
            Err(e) => return Ok(ctx.reject(e)),
        };
        if !self.is_open() {
            return Ok(ctx.reject(Error::NotOpen("channel")));
        }
        let sent = self
            .inner()
            .close_with(code, reason.as_deref().unwrap_or(""));
        ctx.reply(Ok(sent), undefined)
    }

    /// `await using ch = ...`: closes the channel if it is open.
    #[wasm_bindgen(
        js_name = "[Symbol.asyncDispose]",
        unchecked_return_type = "Promise<void>"
    )]
    pub fn async_dispose(&self) -> Result<Promise, JsValue> {
        match self.is_open() {
            true => self.close(None, None, None),
            false => Ok(Promise::resolve(&JsValue::UNDEFINED)),
        }
    }
}

impl JsChannel {
    fn err(&self, e: Error) -> JsValue {
        to_js_on(e, &self.inner.client.js())
    }
}

fn or_undefined(v: Option<JsValue>) -> JsValue {
    v.unwrap_or(JsValue::UNDEFINED)
}

/// A delivery tag: an integer 1..2^53-1 (0 and anything else are refused before sending).
fn delivery_tag_arg(v: &JsValue) -> Result<u64, Error> {
    int_arg(v, "deliveryTag", 1, (1 << 53) - 1)?
        .ok_or_else(|| Error::InvalidArgument("deliveryTag is required".into()))
}

/// A close's reply code (default 200).
pub(crate) fn reply_code_arg(v: Option<JsValue>) -> Result<u16, Error> {
    Ok(int_arg(&or_undefined(v), "code", 0, u16::MAX as u64)?.map_or(200, |c| c as u16))
}

fn undefined(_: ()) -> JsValue {
    JsValue::UNDEFINED
}

fn message_count(n: u32) -> JsValue {
    obj(&[("messageCount", n.into())])
}
