//! `AMQPConsumer`: callback style (messages pushed to a function) or, without a callback, an
//! async iterator (`for await (const msg of consumer)`).

use super::channel::JsChannel;
use super::message::JsMessage;
use super::promise;
use crate::client::Consumer;
use crate::engine::Error;
use crate::rt;
use futures::channel::oneshot;
use futures::StreamExt;
use js_sys::{Function, Object, Promise, Reflect};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// Whether the consumer is still running, and who waits for it to end.
#[derive(Default)]
struct EndState {
    ended: Option<Result<(), Error>>,
    waiters: Vec<oneshot::Sender<Result<(), Error>>>,
}

struct ConsumerState {
    channel: JsChannel,
    tag: String,
    /// Taken by the task or call currently reading; `None` in callback mode.
    stream: RefCell<Option<Consumer>>,
    end: RefCell<EndState>,
}

impl ConsumerState {
    fn finish(&self, result: Result<(), Error>) {
        let mut end = self.end.borrow_mut();
        if end.ended.is_none() {
            end.ended = Some(result.clone());
        }
        for tx in end.waiters.drain(..) {
            let _ = tx.send(result.clone());
        }
    }
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
        let inner = Rc::new(ConsumerState {
            channel,
            tag,
            stream: RefCell::new(None),
            end: RefCell::default(),
        });
        match callback {
            None => *inner.stream.borrow_mut() = Some(consumer),
            Some(cb) => {
                let inner = inner.clone();
                let mut consumer = consumer;
                rt::spawn(async move {
                    let result = loop {
                        match consumer.next().await {
                            Some(Ok(m)) => {
                                let msg = JsMessage::delivered(m, inner.channel.clone());
                                if let Err(e) = cb.call1(&JsValue::NULL, &msg.into()) {
                                    web_sys_console_error(&e);
                                }
                            }
                            Some(Err(e)) => break Err(e),
                            None => break Ok(()),
                        }
                    };
                    inner.finish(result);
                });
            }
        }
        JsConsumer { inner }
    }
}

fn web_sys_console_error(e: &JsValue) {
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
    let _ = Reflect::set(&o, &"value".into(), &value);
    let _ = Reflect::set(&o, &"done".into(), &done.into());
    o.into()
}

#[wasm_bindgen(js_class = AMQPConsumer)]
impl JsConsumer {
    #[wasm_bindgen(getter)]
    pub fn tag(&self) -> String {
        self.inner.tag.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn channel(&self) -> JsChannel {
        self.inner.channel.clone()
    }

    /// Cancels the consumer; the iteration ends after messages already received.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn cancel(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.channel.inner().basic_cancel(&inner.tag).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Resolves when the consumer ends (cancelled by us or the broker); rejects if its channel
    /// or connection failed, or with a timeout error after `timeout` ms.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn wait(&self, timeout: Option<f64>) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let rx = {
                let mut end = inner.end.borrow_mut();
                if let Some(r) = &end.ended {
                    return r.clone().map(|_| JsValue::UNDEFINED);
                }
                let (tx, rx) = oneshot::channel();
                end.waiters.push(tx);
                rx
            };
            let result = match timeout {
                None => rx.await.unwrap_or(Ok(())),
                Some(ms) => match rt::timeout(ms.max(0.0) as u64, rx).await {
                    Ok(r) => r.unwrap_or(Ok(())),
                    Err(_) => Err(Error::Timeout),
                },
            };
            result.map(|_| JsValue::UNDEFINED)
        })
    }

    /// Async-iterator protocol: the next message, or `done` when the consumer ended.
    #[wasm_bindgen(unchecked_return_type = "Promise<IteratorResult<AMQPMessage, undefined>>")]
    pub fn next(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let Some(mut consumer) = inner.stream.borrow_mut().take() else {
                if let Some(Err(e)) = &inner.end.borrow().ended {
                    return Err(e.clone());
                }
                if inner.end.borrow().ended.is_some() {
                    return Ok(iter_result(JsValue::UNDEFINED, true));
                }
                return Err(Error::InvalidArgument(
                    "this consumer delivers to its callback (or another next() is pending)".into(),
                ));
            };
            let item = consumer.next().await;
            *inner.stream.borrow_mut() = Some(consumer);
            match item {
                Some(Ok(m)) => Ok(iter_result(
                    JsMessage::delivered(m, inner.channel.clone()).into(),
                    false,
                )),
                Some(Err(e)) => {
                    inner.finish(Err(e.clone()));
                    Err(e)
                }
                None => {
                    inner.finish(Ok(()));
                    Ok(iter_result(JsValue::UNDEFINED, true))
                }
            }
        })
    }

    /// Called when a `for await` loop exits early: cancels the consumer.
    #[wasm_bindgen(
        js_name = "return",
        unchecked_return_type = "Promise<IteratorResult<AMQPMessage, undefined>>"
    )]
    pub fn return_(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            if inner.end.borrow().ended.is_none() {
                match inner.channel.inner().basic_cancel(&inner.tag).await {
                    Ok(()) | Err(Error::NotOpen(_)) => {}
                    Err(e) => return Err(e),
                }
                inner.finish(Ok(()));
            }
            Ok(iter_result(JsValue::UNDEFINED, true))
        })
    }

    /// The consumer as an async iterable (`for await (const msg of consumer.messages)`), as in amqp-client.
    #[wasm_bindgen(getter)]
    pub fn messages(&self) -> JsConsumer {
        self.clone()
    }

    #[wasm_bindgen(js_name = "[Symbol.asyncIterator]")]
    pub fn async_iterator(&self) -> JsConsumer {
        self.clone()
    }
}
