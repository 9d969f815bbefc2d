//! `AMQPSubscription` (callback) and `AMQPGeneratorSubscription` (`for await`).

use super::*;

// ----- subscriptions ---------------------------------------------------------------------------

fn current_channel(st: &SessionState, h: &HandledSubscription) -> JsValue {
    h.channel()
        .map(|(ch, conn)| st.js_channel(ch, conn).into())
        .unwrap_or(JsValue::UNDEFINED)
}

/// A subscription delivering to a callback; valid across reconnects.
#[wasm_bindgen(js_name = AMQPSubscription)]
pub struct JsSubscription {
    pub(super) st: Rc<SessionState>,
    pub(super) sub: HandledSubscription,
}

#[wasm_bindgen(js_class = AMQPSubscription)]
impl JsSubscription {
    /// The consumer tag on the current connection.
    #[wasm_bindgen(getter, js_name = consumerTag)]
    pub fn consumer_tag(&self) -> String {
        self.sub.consumer_tag()
    }

    /// The channel it consumes on now.
    #[wasm_bindgen(getter, unchecked_return_type = "AMQPChannel | undefined")]
    pub fn channel(&self) -> JsValue {
        current_channel(&self.st, &self.sub)
    }

    /// Cancels it (never throws): no more deliveries, not consumed again after a reconnect.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn cancel(&self) -> Promise {
        self.sub.cancel();
        Promise::resolve(&JsValue::UNDEFINED)
    }
}

pub(super) struct Generator {
    pub(super) st: Rc<SessionState>,
    pub(super) handle: HandledSubscription,
    /// Taken by the pending `next()`.
    pub(super) sub: RefCell<Option<Subscription>>,
}

/// A subscription read with `for await`; keeps yielding across reconnects.
#[wasm_bindgen(js_name = AMQPGeneratorSubscription)]
#[derive(Clone)]
pub struct JsGeneratorSubscription {
    pub(super) inner: Rc<Generator>,
}

fn iter_result(value: JsValue, done: bool) -> JsValue {
    let o = Object::new();
    crate::js::keys::set(&o, "value", &value);
    crate::js::keys::set(&o, "done", &done.into());
    o.into()
}

#[wasm_bindgen(js_class = AMQPGeneratorSubscription)]
impl JsGeneratorSubscription {
    #[wasm_bindgen(getter, js_name = consumerTag)]
    pub fn consumer_tag(&self) -> String {
        self.inner.handle.consumer_tag()
    }

    #[wasm_bindgen(getter, unchecked_return_type = "AMQPChannel | undefined")]
    pub fn channel(&self) -> JsValue {
        current_channel(&self.inner.st, &self.inner.handle)
    }

    /// Ends the iteration (after messages already received) and the consumer.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn cancel(&self) -> Promise {
        self.inner.handle.cancel();
        Promise::resolve(&JsValue::UNDEFINED)
    }

    /// Async-iterator protocol. A message that cannot be decoded is logged and nacked (not
    /// requeued: it would fail again) and the next one is read.
    #[wasm_bindgen(unchecked_return_type = "Promise<IteratorResult<AMQPMessage, undefined>>")]
    pub fn next(&self) -> Promise {
        let g = self.inner.clone();
        js_promise(async move {
            let Some(mut sub) = g.sub.borrow_mut().take() else {
                return Err(invalid("another next() of this subscription is pending"));
            };
            let out = loop {
                match sub.next().await {
                    Some(Ok(m)) => {
                        let settler = m.settler();
                        match g.st.message(m).await {
                            Ok(msg) => break Ok(iter_result(msg, false)),
                            Err(e) => {
                                g.st.log("warn", "could not decode a message; it is nacked", &e);
                                let _ = settler.nack(false);
                            }
                        }
                    }
                    Some(Err(e)) => break Err(to_js(e)),
                    None => break Ok(iter_result(JsValue::UNDEFINED, true)),
                }
            };
            *g.sub.borrow_mut() = Some(sub);
            out
        })
    }

    /// Called when a `for await` loop exits early: cancels the subscription.
    #[wasm_bindgen(
        js_name = "return",
        unchecked_return_type = "Promise<IteratorResult<AMQPMessage, undefined>>"
    )]
    pub fn return_(&self) -> Promise {
        self.inner.handle.cancel();
        Promise::resolve(&iter_result(JsValue::UNDEFINED, true))
    }

    #[wasm_bindgen(js_name = "[Symbol.asyncIterator]")]
    pub fn async_iterator(&self) -> JsGeneratorSubscription {
        self.clone()
    }
}
