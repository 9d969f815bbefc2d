//! `AMQPConsumer`: callback style (messages pushed to a function) or, without a callback, an
//! async iterator (`for await (const msg of consumer.messages)`).
//!
//! How it ends, as in amqp-client 4.1.1: cancelled by the application, or its channel or
//! connection closed by the application → `wait()` resolves; cancelled by the broker (e.g. the
//! queue was deleted), or the channel/connection failed → `wait()` rejects and iteration throws.

use super::channel::JsChannel;
use super::error::{amqp_error, to_js_on};
use super::message::JsMessage;
use crate::client::Consumer;
use crate::engine::Error;
use crate::rt;
use futures::channel::oneshot;
use futures::StreamExt;
use js_sys::{Function, Object, Promise, Reflect, WeakRef};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

type EndResult = Result<(), JsValue>;

/// Whether the consumer is still running, and who waits for it to end.
#[derive(Default)]
struct EndState {
    ended: Option<EndResult>,
    waiters: Vec<oneshot::Sender<EndResult>>,
}

struct ConsumerState {
    channel: JsChannel,
    tag: String,
    /// Taken by the task or call currently reading; `None` in callback mode.
    stream: RefCell<Option<Consumer>>,
    end: RefCell<EndState>,
    /// The application asked for the cancel (so the stream's end is not the broker's doing).
    cancelling: Cell<bool>,
    this: RefCell<Option<WeakRef>>,
}

#[wasm_bindgen(js_name = AMQPConsumer)]
#[derive(Clone)]
pub struct JsConsumer {
    inner: Rc<ConsumerState>,
}

impl JsConsumer {
    pub(crate) fn new(
        consumer: Consumer,
        channel: JsChannel,
        callback: Option<Function>,
    ) -> JsConsumer {
        let tag = consumer.tag().to_owned();
        let this = JsConsumer {
            inner: Rc::new(ConsumerState {
                channel,
                tag,
                stream: RefCell::new(None),
                end: RefCell::default(),
                cancelling: Cell::new(false),
                this: RefCell::new(None),
            }),
        };
        let js: JsValue = this.clone().into();
        *this.inner.this.borrow_mut() = js.dyn_ref::<Object>().map(WeakRef::new);
        match callback {
            None => *this.inner.stream.borrow_mut() = Some(consumer),
            Some(cb) => {
                let this = this.clone();
                let mut consumer = consumer;
                rt::spawn(async move {
                    let result = loop {
                        match consumer.next().await {
                            Some(Ok(m)) => this.call(&cb, m),
                            Some(Err(e)) => break Err(this.err(e)),
                            None => break this.stream_ended(),
                        }
                    };
                    this.finish(result);
                });
            }
        }
        this
    }

    pub(crate) fn js(&self) -> JsValue {
        match self.inner.this.borrow().as_ref().and_then(|w| w.deref()) {
            Some(o) => o.into(),
            None => self.clone().into(),
        }
    }

    fn err(&self, e: Error) -> JsValue {
        to_js_on(e, &self.inner.channel.client().js())
    }

    /// Runs the callback; a throw, or a rejection of the promise it returns, is logged.
    fn call(&self, cb: &Function, m: crate::client::Message) {
        let msg = JsMessage::delivered(m, self.inner.channel.clone());
        let failed = |e: JsValue, client: &super::client::JsClient, tag: &str| {
            if client.logger().is_undefined() {
                console_error(&e);
            } else {
                client.log(
                    "warn",
                    &["Consumer".into(), tag.into(), "callback failed:".into(), e],
                );
            }
        };
        match cb.call1(&JsValue::NULL, &msg.into()) {
            Err(e) => failed(e, self.inner.channel.client(), &self.inner.tag),
            Ok(r) if r.has_type::<Promise>() => {
                let this = self.clone();
                rt::spawn(async move {
                    if let Err(e) = wasm_bindgen_futures::JsFuture::from(Promise::from(r)).await {
                        failed(e, this.inner.channel.client(), &this.inner.tag);
                    }
                });
            }
            Ok(_) => {}
        }
    }

    /// How a stream that ended without an error ended: by us, or cancelled by the broker.
    fn stream_ended(&self) -> EndResult {
        if self.inner.cancelling.get() || !self.inner.channel.is_open() {
            Ok(())
        } else {
            Err(amqp_error(
                "Consumer cancelled by the server",
                &self.inner.channel.client().js(),
            ))
        }
    }

    pub(crate) fn cancel_requested(&self) {
        self.inner.cancelling.set(true);
    }

    /// Records the end (the first one counts), wakes `wait()`ers, leaves `ch.consumers`.
    pub(crate) fn finish(&self, result: EndResult) {
        let mut end = self.inner.end.borrow_mut();
        let result = end.ended.get_or_insert(result).clone();
        for tx in end.waiters.drain(..) {
            let _ = tx.send(result.clone());
        }
        drop(end);
        self.inner.channel.remove_consumer(&self.inner.tag);
    }

    fn ended(&self) -> Option<EndResult> {
        self.inner.end.borrow().ended.clone()
    }

    /// Cancels at the broker unless the consumer or its channel has ended already.
    async fn cancel_now(&self) -> Result<(), JsValue> {
        if self.ended().is_some() || !self.inner.channel.is_open() {
            return Ok(());
        }
        self.cancel_requested();
        match self
            .inner
            .channel
            .inner()
            .basic_cancel(&self.inner.tag)
            .await
        {
            Ok(()) | Err(Error::NotOpen(_)) => {}
            Err(e) => return Err(self.err(e)),
        }
        self.finish(Ok(()));
        Ok(())
    }
}

fn console_error(e: &JsValue) {
    let console = Reflect::get(&js_sys::global(), &"console".into()).ok();
    if let Some(f) = console
        .and_then(|c| Reflect::get(&c, &"error".into()).ok())
        .and_then(|f| f.dyn_into::<Function>().ok())
    {
        let _ = f.call2(&JsValue::NULL, &"warren: consumer callback threw".into(), e);
    }
}

fn iter_result(value: JsValue, done: bool) -> JsValue {
    let o = Object::new();
    super::keys::set(&o, "value", &value);
    super::keys::set(&o, "done", &done.into());
    o.into()
}

#[wasm_bindgen(js_class = AMQPConsumer)]
impl JsConsumer {
    #[wasm_bindgen(getter)]
    pub fn tag(&self) -> String {
        self.inner.tag.clone()
    }

    #[wasm_bindgen(getter, unchecked_return_type = "AMQPChannel")]
    pub fn channel(&self) -> JsValue {
        self.inner.channel.js()
    }

    /// Cancels the consumer (messages already received are still delivered); resolves to the
    /// channel, at once when the channel is closed.
    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPChannel>")]
    pub fn cancel(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.inner.channel.ctx(opts)?;
        let this = self.clone();
        Ok(ctx.promise_js(async move {
            this.cancel_now().await?;
            Ok(this.inner.channel.js())
        }))
    }

    /// Resolves when the consumer ends by the application's doing (cancel, channel or connection
    /// closed); rejects when the broker cancelled it or its channel or connection failed, or
    /// with a timeout error after `timeout` ms.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn wait(
        &self,
        timeout: Option<f64>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.inner.channel.ctx(opts)?;
        let this = self.clone();
        Ok(ctx.promise_js(async move {
            let rx = {
                let mut end = this.inner.end.borrow_mut();
                if let Some(r) = &end.ended {
                    return r.clone().map(|_| JsValue::UNDEFINED);
                }
                let (tx, rx) = oneshot::channel();
                end.waiters.push(tx);
                rx
            };
            let result = match timeout.filter(|t| *t > 0.0) {
                None => rx.await.unwrap_or(Ok(())),
                Some(ms) => match rt::timeout(ms as u64, rx).await {
                    Ok(r) => r.unwrap_or(Ok(())),
                    Err(_) => Err(this.err(Error::Timeout)),
                },
            };
            result.map(|_| JsValue::UNDEFINED)
        }))
    }

    /// Async-iterator protocol: the next message, or `done` when the consumer ended.
    #[wasm_bindgen(unchecked_return_type = "Promise<IteratorResult<AMQPMessage, undefined>>")]
    pub fn next(&self) -> Promise {
        let this = self.clone();
        let ctx = super::Ctx::on(this.inner.channel.client().js());
        ctx.promise_js(async move {
            let taken = this.inner.stream.borrow_mut().take();
            let Some(mut consumer) = taken else {
                return match this.ended() {
                    Some(Err(e)) => Err(e),
                    Some(Ok(())) => Ok(iter_result(JsValue::UNDEFINED, true)),
                    None => Err(super::error::type_error(
                        "this consumer delivers to its callback (or another next() is pending)",
                    )),
                };
            };
            let item = consumer.next().await;
            *this.inner.stream.borrow_mut() = Some(consumer);
            let result = match item {
                Some(Ok(m)) => {
                    let msg = JsMessage::delivered(m, this.inner.channel.clone());
                    return Ok(iter_result(msg.into(), false));
                }
                Some(Err(e)) => Err(this.err(e)),
                None => this.stream_ended(),
            };
            this.finish(result);
            match this.ended() {
                Some(Err(e)) => Err(e),
                _ => Ok(iter_result(JsValue::UNDEFINED, true)),
            }
        })
    }

    /// Called when a `for await` loop exits early: cancels the consumer.
    #[wasm_bindgen(
        js_name = "return",
        unchecked_return_type = "Promise<IteratorResult<AMQPMessage, undefined>>"
    )]
    pub fn return_(&self) -> Promise {
        let this = self.clone();
        let ctx = super::Ctx::on(this.inner.channel.client().js());
        ctx.promise_js(async move {
            this.cancel_now().await?;
            Ok(iter_result(JsValue::UNDEFINED, true))
        })
    }

    /// Generator protocol: cancels the consumer and rejects with `error`.
    #[wasm_bindgen(
        js_name = "throw",
        unchecked_return_type = "Promise<IteratorResult<AMQPMessage, undefined>>"
    )]
    pub fn throw_(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] error: JsValue,
    ) -> Promise {
        let this = self.clone();
        let ctx = super::Ctx::on(this.inner.channel.client().js());
        ctx.promise_js(async move {
            let _ = this.cancel_now().await;
            Err(error)
        })
    }

    /// The consumer as an async iterable (`for await (const msg of consumer.messages)`), as in amqp-client.
    #[wasm_bindgen(getter, unchecked_return_type = "AMQPConsumer")]
    pub fn messages(&self) -> JsValue {
        self.js()
    }

    #[wasm_bindgen(
        js_name = "[Symbol.asyncIterator]",
        unchecked_return_type = "AMQPConsumer"
    )]
    pub fn async_iterator(&self) -> JsValue {
        self.js()
    }

    /// `await using consumer = ...`: cancels the consumer.
    #[wasm_bindgen(
        js_name = "[Symbol.asyncDispose]",
        unchecked_return_type = "Promise<void>"
    )]
    pub fn async_dispose(&self) -> Promise {
        self.return_()
    }
}
