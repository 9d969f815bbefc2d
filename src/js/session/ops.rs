//! Every session-handle method becomes an [`Op`] (its JS arguments parsed) and runs through
//! [`run`]: one future type for the whole binding, each session future compiled into it once.

use super::*;
use std::task::{Context, Poll};

// ----- operations ------------------------------------------------------------------------------

/// Everything a session handle can ask of the session, parsed from its JS arguments. All of
/// them run through [`run`]: one future type for every method (wasm size), each session future
/// compiled into it once.
pub(super) enum Op {
    Queue {
        name: String,
        options: QueueDeclareOptions,
        args: FieldTable,
    },
    Exchange {
        name: String,
        kind: String,
        options: ExchangeDeclareOptions,
        args: FieldTable,
    },
    Publish {
        exchange: String,
        routing_key: String,
        body: JsValue,
        properties: JsValue,
        confirm: bool,
        options: PublishOptions,
        abort: Abort,
        /// What the promise resolves to: the handle itself, as in amqp-client.
        handle: JsValue,
    },
    Get {
        queue: QueueRef,
        no_ack: bool,
    },
    ConsumeOne {
        queue: QueueRef,
        timeout: u64,
        abort: Abort,
    },
    Purge(QueueRef),
    DeleteQueue(QueueRef, QueueDeleteOptions),
    DeleteExchange(String, ExchangeDeleteOptions),
    /// queue.bind / queue.unbind (`queue`: Some) or exchange.bind / unbind (`destination`).
    Bind {
        bind: bool,
        queue: Option<QueueRef>,
        destination: String,
        source: String,
        routing_key: String,
        args: FieldTable,
    },
    Subscribe {
        queue: QueueRef,
        options: SubscribeOptions,
        args: FieldTable,
        settle: Settle,
        callback: Option<Function>,
    },
    RpcCall {
        client: RpcClient,
        /// A client made for this call (rpcCall): closed afterwards.
        once: bool,
        queue: String,
        body: JsValue,
        properties: JsValue,
        timeout: u64,
        abort: Abort,
    },
    RpcServer {
        queue: String,
        handler: Function,
        prefetch: u16,
    },
    RpcClose(RpcClient),
    Stop,
}

/// The abortable part of an op, as one type: one copy of [`Abort::run`] for all of them.
type JsFut<'a> = Pin<&'a mut dyn Future<Output = Result<JsValue, JsValue>>>;

pub(super) fn op_promise(st: &Rc<SessionState>, op: Result<Op, JsValue>) -> Promise {
    match op {
        Ok(op) => js_promise(run(st.clone(), op)),
        Err(e) => Promise::reject(&e),
    }
}

async fn run(st: Rc<SessionState>, op: Op) -> Result<JsValue, JsValue> {
    let s = &st.session;
    match op {
        Op::Queue {
            name,
            options,
            args,
        } => {
            let handle = s.queue_declare(&name, options, args).await.map_err(to_js)?;
            let queue = QueueRef::from(&handle);
            Ok(JsQueue { st, queue }.into())
        }
        Op::Exchange {
            name,
            kind,
            options,
            args,
        } => {
            if !(name.is_empty() || name.starts_with("amq.")) {
                s.exchange_declare(&name, &kind, options, args)
                    .await
                    .map_err(to_js)?;
            }
            Ok(JsExchange { st, name }.into())
        }
        Op::Publish {
            exchange,
            routing_key,
            body,
            properties,
            confirm,
            options,
            abort,
            handle,
        } => {
            let publish: JsFut = pin!(async {
                let (bytes, mut props) = st.encode(body, properties).await?;
                props.delivery_mode.get_or_insert(2);
                let m = Outgoing {
                    exchange: &exchange,
                    routing_key: &routing_key,
                    body: &bytes,
                    properties: &props,
                    options,
                    confirm,
                };
                s.publish_message(&m).await.map_err(to_js)?;
                Ok(handle)
            });
            abort.run(publish).await
        }
        Op::Get { queue, no_ack } => match s.get(queue, no_ack).await.map_err(to_js)? {
            Some(m) => st.message(m).await,
            None => Ok(JsValue::NULL),
        },
        Op::ConsumeOne {
            queue,
            timeout,
            abort,
        } => {
            let one: JsFut = pin!(async {
                let m = s.consume_one(queue, timeout).await.map_err(to_js)?;
                st.message(m).await
            });
            abort.run(one).await
        }
        Op::Purge(queue) => Ok(count(s.queue_purge(queue).await.map_err(to_js)?)),
        Op::DeleteQueue(queue, o) => Ok(count(s.queue_delete(queue, o).await.map_err(to_js)?)),
        Op::DeleteExchange(name, o) => {
            s.exchange_delete(&name, o).await.map_err(to_js)?;
            Ok(JsValue::UNDEFINED)
        }
        Op::Bind {
            bind,
            queue,
            destination,
            source,
            routing_key: rk,
            args,
        } => {
            let r = match (queue, bind) {
                (Some(q), true) => s.queue_bind(q, &source, &rk, args).await,
                (Some(q), false) => s.queue_unbind(q, &source, &rk, args).await,
                (None, true) => s.exchange_bind(&destination, &source, &rk, args).await,
                (None, false) => s.exchange_unbind(&destination, &source, &rk, args).await,
            };
            r.map_err(to_js)?;
            Ok(JsValue::UNDEFINED) // session.js resolves to the handle itself
        }
        Op::Subscribe {
            queue,
            options,
            args,
            settle,
            callback: Some(cb),
        } => {
            let st2 = st.clone();
            // one thread on wasm: the handler's Arc needs no Send
            #[allow(clippy::arc_with_non_send_sync)]
            let handler: Handler<HandlerResult> =
                Arc::new(move |m: SessionMessage| Box::pin(deliver(st2.clone(), m, cb.clone())));
            let sub = s
                .subscribe_with(queue, options, args, settle, handler)
                .await
                .map_err(to_js)?;
            Ok(JsSubscription { st, sub }.into())
        }
        Op::Subscribe {
            queue,
            options,
            args,
            callback: None,
            ..
        } => {
            let sub = s.subscribe(queue, options, args).await.map_err(to_js)?;
            let inner = Rc::new(Generator {
                st,
                handle: sub.handle(),
                sub: RefCell::new(Some(sub)),
            });
            Ok(JsGeneratorSubscription { inner }.into())
        }
        Op::RpcCall {
            client,
            once,
            queue,
            body,
            properties,
            timeout,
            abort,
        } => {
            let call: JsFut =
                pin!(async {
                    let (bytes, props) = st.encode(body, properties).await?;
                    let reply = client.call(&queue, &bytes, &props, timeout).await.map_err(
                        |e| match e {
                            Error::Timeout => {
                                js_sys::Error::new(&format!("No response received in {timeout}ms"))
                                    .into()
                            }
                            e => to_js(e),
                        },
                    )?;
                    if let Some(why) = rpc_error(&reply) {
                        let e = js_sys::Error::new(&format!("RPC server error: {why}"));
                        e.set_name("RPCError");
                        return Err(e.into());
                    }
                    st.message(reply).await
                });
            let out = abort.run(call).await;
            if once {
                client.close().await; // the call's reply channel closes with it
            }
            out
        }
        Op::RpcServer {
            queue,
            handler,
            prefetch,
        } => {
            let st2 = st.clone();
            #[allow(clippy::arc_with_non_send_sync)]
            let handler: RpcHandler = Arc::new(move |m: SessionMessage| {
                Box::pin(answer(st2.clone(), m, handler.clone()))
            });
            let server = s
                .rpc_server(&queue, prefetch, handler)
                .await
                .map_err(to_js)?;
            Ok(JsRpcServer { server }.into())
        }
        Op::RpcClose(client) => {
            client.close().await;
            Ok(JsValue::UNDEFINED)
        }
        Op::Stop => {
            for (target, event, listener) in st.lifecycle.borrow_mut().drain(..) {
                call_method(
                    &target,
                    "removeEventListener",
                    &event.into(),
                    listener.as_ref(),
                );
            }
            s.stop().await;
            *st.this.borrow_mut() = JsValue::UNDEFINED;
            Ok(JsValue::UNDEFINED)
        }
    }
}

/// A publish from a handle: properties (deliveryMode 2 unless given), `confirm`, `mandatory`,
/// `signal`; it resolves to `handle`. Runs as an [`Op`] like every other method, but without
/// codecs its future is polled once here: a publish done then (an unconfirmed one on a live
/// session with room) resolves with no task, and one that waits for its confirm was sent
/// already.
#[inline(never)]
pub(super) fn publish(
    st: &Rc<SessionState>,
    exchange: String,
    routing_key: String,
    body: JsValue,
    o: JsValue,
    handle: JsValue,
) -> Promise {
    let op = (|| {
        Ok(Op::Publish {
            exchange,
            routing_key,
            body,
            confirm: opt_bool(&o, "confirm", true).map_err(to_js)?,
            options: PublishOptions {
                mandatory: opt_bool(&o, "mandatory", false).map_err(to_js)?,
                immediate: false,
            },
            abort: Abort::new(get_field(&o, "signal"))?,
            properties: o,
            handle,
        })
    })();
    let op = match op {
        Ok(op) => op,
        Err(e) => return Promise::reject(&e),
    };
    let mut fut: Pin<Box<dyn Future<Output = _>>> = Box::pin(run(st.clone(), op));
    if st.encode.is_none() {
        // a future may be polled first with any waker: the next poll brings the real one
        let waker = futures::task::noop_waker_ref();
        match fut.as_mut().poll(&mut Context::from_waker(waker)) {
            Poll::Ready(Ok(v)) => return Promise::resolve(&v),
            Poll::Ready(Err(e)) => return Promise::reject(&e),
            Poll::Pending => {}
        }
    }
    boxed_promise(fut)
}

/// An RPC call: the request's properties plus `timeout` and `signal`.
pub(super) fn rpc_op(
    client: RpcClient,
    once: bool,
    queue: String,
    body: JsValue,
    o: JsValue,
) -> Result<Op, JsValue> {
    if queue.len() > 255 {
        let len = queue.len();
        let e = EncodeError::ShortStringTooLong {
            field: "routing key",
            len,
        };
        return Err(super::to_js(Error::Encode(e)));
    }
    Ok(Op::RpcCall {
        client,
        once,
        queue,
        body,
        timeout: ms_opt(&o, "timeout")?.unwrap_or(FOREVER_MS),
        abort: Abort::new(get_field(&o, "signal"))?,
        properties: o,
    })
}

pub(super) fn bind_op(
    bind: bool,
    queue: Option<QueueRef>,
    destination: String,
    source: JsValue,
    routing_key: Option<String>,
    args: Option<JsValue>,
) -> Result<Op, JsValue> {
    Ok(Op::Bind {
        bind,
        queue,
        destination,
        source: name_of(&source, "exchange")?,
        routing_key: routing_key.unwrap_or_default(),
        args: table_opt(&opts(&args), "args")?,
    })
}
