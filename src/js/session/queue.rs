//! `AMQPQueue` and `AMQPExchange`: handles of what a session declared.

use super::*;

// ----- queues and exchanges --------------------------------------------------------------------

/// A queue declared through a session.
#[wasm_bindgen(js_name = AMQPQueue)]
#[derive(Clone)]
pub struct JsQueue {
    pub(super) st: Rc<SessionState>,
    pub(super) queue: QueueRef,
}

#[wasm_bindgen(js_class = AMQPQueue)]
impl JsQueue {
    /// The queue's name on the current connection (a server-named queue is renamed by each
    /// recovery).
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.queue.name()
    }

    /// Publishes to this queue through the default exchange; waits for the broker's confirm
    /// unless `confirm: false` (sent again after a reconnect until confirmed).
    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPQueue>")]
    pub fn publish(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] body: JsValue,
        #[wasm_bindgen(unchecked_param_type = "QueuePublishOptions | undefined")] options: JsValue,
        // session.js passes the handle itself, for the promise to resolve to
        #[wasm_bindgen(unchecked_param_type = "never")] handle: JsValue,
    ) -> Promise {
        publish(
            &self.st,
            String::new(),
            self.queue.name(),
            body,
            options,
            handle,
        )
    }

    /// `subscribe(callback)`, `subscribe(params, callback)`: deliveries go to the callback
    /// (acked when it returns, nacked when it throws, unless `manualAck` or `noAck`).
    /// `subscribe(params?)`: an async iterator. Both keep delivering across reconnects.
    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPSubscription | AMQPGeneratorSubscription>")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(
            unchecked_optional_param_type = "QueueSubscribeParams | ((msg: AMQPMessage) => unknown)"
        )]
        params: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "(msg: AMQPMessage) => unknown")]
        callback: Option<JsValue>,
    ) -> Promise {
        let (params, callback) = match (params, callback) {
            (Some(p), None) if p.is_function() => (JsValue::UNDEFINED, Some(p.unchecked_into())),
            (p, c) => match callback_arg(c.unwrap_or(JsValue::UNDEFINED), "callback") {
                Ok(c) => (opts(&p), c),
                Err(e) => return Promise::reject(&e),
            },
        };
        let op = (|| {
            let prefetch = int_arg(&get_field(&params, "prefetch"), "prefetch", 0, 65535)?;
            let mut o = SubscribeOptions {
                prefetch: prefetch.unwrap_or(0) as u16,
                ..SubscribeOptions::default()
            };
            o.consume.no_ack = opt_bool(&params, "noAck", false)?;
            o.consume.exclusive = opt_bool(&params, "exclusive", false)?;
            o.consume.no_local = opt_bool(&params, "noLocal", false)?;
            o.consume.tag = opt_str(&params, "tag")?.unwrap_or_default();
            let settle = if opt_bool(&params, "manualAck", false)? {
                Settle::Manual
            } else {
                Settle::Auto {
                    requeue_on_nack: opt_bool(&params, "requeueOnNack", true)?,
                }
            };
            Ok::<_, Error>((o, settle))
        })()
        .map_err(to_js)
        .and_then(|(options, settle)| {
            Ok(Op::Subscribe {
                queue: self.queue.clone(),
                options,
                args: table_opt(&get_field(&params, "args"), "args")?,
                settle,
                callback,
            })
        });
        op_promise(&self.st, op)
    }

    /// Waits for one message (at most `timeout` ms), acks it and cancels the consumer; rejects
    /// on timeout (or when `signal` aborts).
    #[wasm_bindgen(js_name = consumeOne, unchecked_return_type = "Promise<AMQPMessage>")]
    pub fn consume_one(
        &self,
        #[wasm_bindgen(
            unchecked_optional_param_type = "{ timeout?: number, signal?: AbortSignal }"
        )]
        options: Option<JsValue>,
    ) -> Promise {
        let o = opts(&options);
        let op = (|| {
            Ok(Op::ConsumeOne {
                queue: self.queue.clone(),
                timeout: ms_opt(&o, "timeout")?.unwrap_or(FOREVER_MS),
                abort: Abort::new(get_field(&o, "signal"))?,
            })
        })();
        op_promise(&self.st, op)
    }

    /// One message if there is one (`null` otherwise); `noAck` defaults to true.
    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPMessage | null>")]
    pub fn get(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ noAck?: boolean }")] params: Option<
            JsValue,
        >,
    ) -> Promise {
        let op = opt_bool(&opts(&params), "noAck", true)
            .map_err(to_js)
            .map(|no_ack| Op::Get {
                queue: self.queue.clone(),
                no_ack,
            });
        op_promise(&self.st, op)
    }

    /// Binds the queue to an exchange (recorded for recovery).
    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPQueue>")]
    pub fn bind(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | AMQPExchange")] exchange: JsValue,
        routing_key: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, FieldValue>")] args: Option<
            JsValue,
        >,
    ) -> Promise {
        let q = Some(self.queue.clone());
        let op = bind_op(true, q, String::new(), exchange, routing_key, args);
        op_promise(&self.st, op)
    }

    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPQueue>")]
    pub fn unbind(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | AMQPExchange")] exchange: JsValue,
        routing_key: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, FieldValue>")] args: Option<
            JsValue,
        >,
    ) -> Promise {
        let q = Some(self.queue.clone());
        let op = bind_op(false, q, String::new(), exchange, routing_key, args);
        op_promise(&self.st, op)
    }

    #[wasm_bindgen(unchecked_return_type = "Promise<{ messageCount: number }>")]
    pub fn purge(&self) -> Promise {
        op_promise(&self.st, Ok(Op::Purge(self.queue.clone())))
    }

    /// Deletes the queue and forgets it (no recovery declares it again).
    #[wasm_bindgen(unchecked_return_type = "Promise<{ messageCount: number }>")]
    pub fn delete(
        &self,
        #[wasm_bindgen(
            unchecked_optional_param_type = "{ ifUnused?: boolean, ifEmpty?: boolean }"
        )]
        params: Option<JsValue>,
    ) -> Promise {
        let o = opts(&params);
        let op = (|| {
            Ok::<_, Error>(QueueDeleteOptions {
                if_unused: opt_bool(&o, "ifUnused", false)?,
                if_empty: opt_bool(&o, "ifEmpty", false)?,
                nowait: false,
            })
        })()
        .map_err(to_js)
        .map(|d| Op::DeleteQueue(self.queue.clone(), d));
        op_promise(&self.st, op)
    }
}

/// Hands one delivery to a subscription callback; `Err` (decode failure, a throw, a rejected
/// promise) makes the session nack it.
pub(super) async fn deliver(
    st: Rc<SessionState>,
    m: SessionMessage,
    cb: Function,
) -> HandlerResult {
    // without codecs `message` has nothing to wait for, so this does not suspend
    let msg = match st.message(m).await {
        Ok(msg) => msg,
        Err(e) => {
            st.log("warn", "could not decode a message; it is nacked", &e);
            return Err(HandlerError::Unusable(describe(&e)));
        }
    };
    // a callback that returns no promise is done: this finishes without waiting (the session
    // then settles the message at once, with no task of its own)
    let r = match cb.call1(&JsValue::NULL, &msg) {
        Ok(v) if !is_thenable(&v) => Ok(()),
        Ok(v) => settle_value(v).await.map(|_| ()),
        Err(e) => Err(e),
    };
    r.map_err(|e| {
        st.log("warn", "subscription callback failed", &e);
        HandlerError::Failed(describe(&e))
    })
}

/// An exchange declared through a session.
#[wasm_bindgen(js_name = AMQPExchange)]
#[derive(Clone)]
pub struct JsExchange {
    pub(super) st: Rc<SessionState>,
    pub(super) name: String,
}

#[wasm_bindgen(js_class = AMQPExchange)]
impl JsExchange {
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Publishes to this exchange (`routingKey` in the options); confirmed unless
    /// `confirm: false`.
    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPExchange>")]
    pub fn publish(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown")] body: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ExchangePublishOptions | undefined")]
        options: JsValue,
        // session.js passes the handle itself, for the promise to resolve to
        #[wasm_bindgen(unchecked_param_type = "never")] handle: JsValue,
    ) -> Promise {
        match opt_str(&options, "routingKey") {
            Ok(rk) => {
                let rk = rk.unwrap_or_default();
                publish(&self.st, self.name.clone(), rk, body, options, handle)
            }
            Err(e) => Promise::reject(&to_js(e)),
        }
    }

    /// Binds this exchange to a source exchange (recorded for recovery).
    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPExchange>")]
    pub fn bind(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | AMQPExchange")] source: JsValue,
        routing_key: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, FieldValue>")] args: Option<
            JsValue,
        >,
    ) -> Promise {
        let op = bind_op(true, None, self.name.clone(), source, routing_key, args);
        op_promise(&self.st, op)
    }

    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPExchange>")]
    pub fn unbind(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | AMQPExchange")] source: JsValue,
        routing_key: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "Record<string, FieldValue>")] args: Option<
            JsValue,
        >,
    ) -> Promise {
        let op = bind_op(false, None, self.name.clone(), source, routing_key, args);
        op_promise(&self.st, op)
    }

    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn delete(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ ifUnused?: boolean }")] params: Option<
            JsValue,
        >,
    ) -> Promise {
        let op = opt_bool(&opts(&params), "ifUnused", false)
            .map_err(to_js)
            .map(|if_unused| {
                let o = ExchangeDeleteOptions {
                    if_unused,
                    nowait: false,
                };
                Op::DeleteExchange(self.name.clone(), o)
            });
        op_promise(&self.st, op)
    }
}
