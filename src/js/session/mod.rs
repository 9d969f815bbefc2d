//! The session-level classes (API of @cloudamqp/amqp-client 4.x's `AMQPSession`, `AMQPQueue`,
//! `AMQPExchange`, `AMQPSubscription`, `AMQPGeneratorSubscription`, `AMQPRPCClient`,
//! `AMQPRPCServer`) over the Rust [`Session`]. Only argument parsing, value conversion, calls
//! into the codec functions of session.js and callback dispatch live here: reconnecting,
//! recovery, the outbox, acking by handler outcome and RPC are `session/`.
//!
//! `mod.rs`: the session itself (options, callbacks, lifecycle listeners); `ops.rs`: the one
//! path every handle method takes (an `Op` run by one async fn); `queue.rs`: AMQPQueue and
//! AMQPExchange; `subscription.rs`: the two subscription classes; `rpc.rs`: the RPC client and
//! server.

mod ops;
mod queue;
mod rpc;
mod subscription;

use ops::{bind_op, op_promise, publish, rpc_op, Op};

use queue::{deliver, JsExchange, JsQueue};
use rpc::{JsRpcClient, JsRpcServer};
use subscription::{Generator, JsGeneratorSubscription, JsSubscription};

use super::channel::JsChannel;
use super::client::{callback_arg, JsClient};
use super::error::{to_js, type_error};
use super::message::JsMessage;
use super::values::{
    get_field, int_arg, js_bytes, js_to_properties, js_to_table, opt_bool, opt_num, opt_str,
};
use crate::client::{
    Channel, Connection, ConnectionUrl, ExchangeDeclareOptions, ExchangeDeleteOptions,
    PublishOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use crate::engine::{Error, TransportError};
use crate::protocol::{BasicProperties, EncodeError, FieldTable};
use crate::session::HandlerError;
use crate::session::{
    rpc_error, Backoff, BeforeConnect, HandledSubscription, Handler, HandlerResult, Notice,
    Outgoing, QueueRef, RpcClient, RpcHandler, RpcReply, RpcServer, Session, SessionEvent,
    SessionMessage, SessionOptions, Settle, SubscribeOptions, Subscription,
};
use crate::transport::Scheme;
use futures::channel::oneshot;
use futures::future::{select, Either};
use futures::StreamExt;
use js_sys::{Array, Function, Object, Promise, Reflect};
use std::cell::RefCell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// Bound on waits 4.1.1 leaves unbounded (rpcCall, consumeOne without a timeout): one day.
const FOREVER_MS: u64 = 86_400_000;

#[wasm_bindgen(typescript_custom_section)]
const TS_SESSION: &'static str = r#"
type AMQPSessionOptions = import("./session.js").AMQPSessionOptions<import("./session.js").ParserMap, import("./session.js").CoderMap, string, string>;
type QueueOptions = import("./session.js").QueueOptions;
type ExchangeOptions = import("./session.js").ExchangeOptions;
type QueuePublishOptions = import("./session.js").QueuePublishOptions;
type ExchangePublishOptions = import("./session.js").ExchangePublishOptions;
type QueueSubscribeParams = import("./session.js").QueueSubscribeParams;
type RPCCallOptions = import("./session.js").RPCCallOptions;
"#;

// ----- small helpers ---------------------------------------------------------------------------

/// A Promise of a future whose errors are already JS values (one future type per call site,
/// boxed once by wasm-bindgen-futures).
fn js_promise(fut: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    boxed_promise(Box::pin(fut))
}

/// The one instance of wasm-bindgen-futures' promise machinery for all session methods.
#[inline(never)]
fn boxed_promise(fut: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>) -> Promise {
    wasm_bindgen_futures::future_to_promise(fut)
}

fn opts(o: &Option<JsValue>) -> JsValue {
    o.clone().unwrap_or(JsValue::UNDEFINED)
}

fn invalid(msg: &str) -> JsValue {
    type_error(msg)
}

/// The text of a thrown value, for logs and error replies.
fn describe(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    crate::transport::websocket::thrown_text(e)
}

/// Whether a callback's result is something to wait for (a Promise or another thenable).
fn is_thenable(v: &JsValue) -> bool {
    v.is_object() && get_field(v, "then").is_function()
}

/// Waits for a value that may be a Promise (or any thenable).
async fn settle_value(v: JsValue) -> Result<JsValue, JsValue> {
    JsFuture::from(Promise::resolve(&v)).await
}

/// Bodies without codecs: string (UTF-8), Uint8Array, ArrayBuffer or view, null/undefined.
fn plain_body(data: &JsValue) -> Result<Vec<u8>, JsValue> {
    if data.is_null() || data.is_undefined() {
        return Ok(Vec::new());
    }
    if let Some(s) = data.as_string() {
        return Ok(s.into_bytes());
    }
    js_bytes(data).ok_or_else(|| {
        invalid("without parsers, body must be a string, Uint8Array, ArrayBuffer or null")
    })
}

fn table_opt(v: &JsValue, what: &str) -> Result<FieldTable, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(FieldTable::new());
    }
    let t = js_to_table(v, what).map_err(to_js)?;
    // Recorded topology is replayed after every reconnect: arguments that cannot fit in a
    // method frame (4096 bytes is the smallest frame_max) would fail every replay, so they are
    // refused here, before anything is recorded or sent.
    let mut buf = Vec::new();
    let too_long = |len| {
        to_js(Error::Encode(EncodeError::TooLong {
            field: "arguments",
            len,
        }))
    };
    t.encode(&mut buf).map_err(|_| too_long(usize::MAX))?;
    if buf.len() > MAX_ARGUMENTS {
        return Err(too_long(buf.len()));
    }
    Ok(t)
}

/// The largest encoded arguments table a session records (a method frame must hold it).
const MAX_ARGUMENTS: usize = 3072;

fn count(n: u32) -> JsValue {
    let o = Object::new();
    super::keys::set(&o, "messageCount", &n.into());
    o.into()
}

fn ms_opt(o: &JsValue, key: &'static str) -> Result<Option<u64>, JsValue> {
    match opt_num(o, key).map_err(to_js)? {
        Some(v) if v.is_finite() && v >= 0.0 => Ok(Some(v as u64)),
        Some(_) => Err(invalid(&format!("{key} must be a non-negative number"))),
        None => Ok(None),
    }
}

/// A name from a string or from an object with a `name` (an AMQPQueue / AMQPExchange).
fn name_of(v: &JsValue, what: &str) -> Result<String, JsValue> {
    if let Some(s) = v.as_string() {
        return Ok(s);
    }
    get_field(v, "name")
        .as_string()
        .ok_or_else(|| invalid(&format!("{what} must be a name or an object with a name")))
}

/// Resolves when `signal` (an AbortSignal, or undefined) aborts, with its reason; never when
/// there is none. The listener is removed when this is dropped.
struct Abort {
    signal: JsValue,
    listener: Option<Closure<dyn FnMut()>>,
    rx: Option<oneshot::Receiver<()>>,
}

impl Abort {
    fn new(signal: JsValue) -> Result<Abort, JsValue> {
        if signal.is_undefined() || signal.is_null() {
            return Ok(Abort {
                signal,
                listener: None,
                rx: None,
            });
        }
        if get_field(&signal, "aborted").as_bool().is_none() {
            return Err(invalid("signal must be an AbortSignal"));
        }
        let (tx, rx) = oneshot::channel();
        let mut tx = Some(tx);
        let listener = Closure::<dyn FnMut()>::new(move || {
            if let Some(tx) = tx.take() {
                let _ = tx.send(());
            }
        });
        call_method(
            &signal,
            "addEventListener",
            &"abort".into(),
            listener.as_ref(),
        );
        Ok(Abort {
            signal,
            listener: Some(listener),
            rx: Some(rx),
        })
    }

    fn reason(&self) -> JsValue {
        let r = get_field(&self.signal, "reason");
        if r.is_undefined() {
            let e = js_sys::Error::new("The operation was aborted");
            e.set_name("AbortError");
            e.into()
        } else {
            r
        }
    }

    /// Runs `fut` unless the signal aborts first (then rejects with the signal's reason).
    async fn run<T>(mut self, fut: impl Future<Output = Result<T, JsValue>>) -> Result<T, JsValue> {
        let Some(rx) = self.rx.take() else {
            return fut.await; // no signal
        };
        if get_field(&self.signal, "aborted").as_bool() == Some(true) {
            return Err(self.reason());
        }
        match select(pin!(fut), rx).await {
            Either::Left((out, _)) => out,
            Either::Right(_) => Err(self.reason()),
        }
    }
}

impl Drop for Abort {
    fn drop(&mut self) {
        if let Some(l) = &self.listener {
            call_method(
                &self.signal,
                "removeEventListener",
                &"abort".into(),
                l.as_ref(),
            );
        }
    }
}

fn call_method(target: &JsValue, name: &str, a: &JsValue, b: &JsValue) {
    if let Ok(f) = Reflect::get(target, &name.into()).and_then(|f| f.dyn_into::<Function>()) {
        let _ = f.call2(target, a, b);
    }
}

// ----- the session -----------------------------------------------------------------------------

#[derive(Default)]
struct Callbacks {
    onconnect: Option<Function>,
    ondisconnect: Option<Function>,
    onfailed: Option<Function>,
    onrecoverfailed: Option<Function>,
    onblocked: Option<Function>,
    onunblocked: Option<Function>,
    onreturn: Option<Function>,
    ononline: Option<Function>,
    onoffline: Option<Function>,
}

/// An event listener the session added: target, event name, the closure.
type Listener = (JsValue, &'static str, Closure<dyn FnMut()>);

struct SessionState {
    session: Session,
    callbacks: Callbacks,
    /// `{ encode(body, properties), decode(message) }` from session.js when parsers or coders
    /// are configured; without it bodies are bytes.
    encode: Option<Function>,
    decode: Option<Function>,
    /// `undefined`: console; `null`: silent; else an object with debug/info/warn/error.
    logger: JsValue,
    /// The JS object of this session (what callbacks get); cleared by stop().
    this: RefCell<JsValue>,
    /// online/offline/visibility listeners on the global scope, removed by stop().
    lifecycle: RefCell<Vec<Listener>>,
    /// The first URL (vhost and username of the clients below).
    url: ConnectionUrl,
    /// The JS client of the current connection and its channels, so `msg.channel` and
    /// `msg.channel.connection` are one object each.
    client: RefCell<Option<(JsClient, Vec<JsChannel>)>>,
}

impl SessionState {
    /// An `AMQPChannel` for a channel of the session's connection `conn`: one JS object per
    /// channel (messages of one subscription share it, and only one end-watcher runs).
    pub(super) fn js_channel(&self, ch: Channel, conn: Connection) -> JsChannel {
        let mut cur = self.client.borrow_mut();
        if !matches!(&*cur, Some((c, _)) if c.connection().is_some_and(|k| k.same(&conn))) {
            *cur = None;
        }
        let (client, chans) = cur.get_or_insert_with(|| {
            let c = JsClient::adopt(conn, self.url.clone(), self.logger.clone());
            (c, Vec::new())
        });
        // the common case, every delivery of a subscription: its channel is known and open
        let known = |c: &&JsChannel| c.id() == ch.id() && c.inner().is_open();
        if let Some(c) = chans.iter().find(known) {
            return c.clone();
        }
        chans.retain(|c| c.inner().is_open());
        let c = JsChannel::create(ch, client.clone());
        chans.push(c.clone());
        c
    }

    fn log(&self, level: &str, text: &str, detail: &JsValue) {
        // no logger given: warnings and errors (a message that cannot be decoded, a callback
        // that threw) still reach the console; `null` silences everything
        let logger = if self.logger.is_undefined() && (level == "warn" || level == "error") {
            get_field(&js_sys::global(), "console")
        } else {
            self.logger.clone()
        };
        if logger.is_null() || logger.is_undefined() {
            return;
        }
        call_method(
            &logger,
            level,
            &format!("warren session: {text}").into(),
            detail,
        );
    }

    fn call(&self, f: &Option<Function>, args: &[JsValue]) {
        let Some(f) = f else { return };
        let r = match args {
            [] => f.call0(&JsValue::NULL),
            [a] => f.call1(&JsValue::NULL, a),
            [a, b] => f.call2(&JsValue::NULL, a, b),
            [a, b, c, ..] => f.call3(&JsValue::NULL, a, b, c),
        };
        if let Err(e) = r {
            self.log("error", "a session callback threw", &e);
        }
    }

    /// Body and properties of a publish: through the codec functions when configured.
    async fn encode(
        &self,
        body: JsValue,
        properties: JsValue,
    ) -> Result<(Vec<u8>, BasicProperties), JsValue> {
        let Some(encode) = &self.encode else {
            return Ok((
                plain_body(&body)?,
                js_to_properties(&properties).map_err(to_js)?,
            ));
        };
        let props = if properties.is_undefined() || properties.is_null() {
            Object::new().into()
        } else {
            properties
        };
        let out = settle_value(encode.call2(&JsValue::NULL, &body, &props)?).await?;
        let bytes = plain_body(&get_field(&out, "body"))?;
        let props = js_to_properties(&get_field(&out, "properties")).map_err(to_js)?;
        Ok((bytes, props))
    }

    /// A message for JS, decoded in place (its `body` becomes the parsed value) when codecs are
    /// configured.
    async fn message(&self, m: SessionMessage) -> Result<JsValue, JsValue> {
        let (ch, conn) = (m.channel().clone(), m.connection().clone());
        let msg: JsValue = JsMessage::delivered(m.message, self.js_channel(ch, conn)).into();
        if let Some(decode) = &self.decode {
            settle_value(decode.call1(&JsValue::NULL, &msg)?).await?;
        }
        Ok(msg)
    }

    fn this(&self) -> JsValue {
        self.this.borrow().clone()
    }
}

/// A reconnecting AMQP session: declarations made through it are replayed after every
/// reconnect, subscriptions keep delivering, and confirmed publishes wait in a bounded outbox
/// while the connection is down.
#[wasm_bindgen(js_name = AMQPSession)]
#[derive(Clone)]
pub struct JsSession {
    st: Rc<SessionState>,
}

fn fun(o: &JsValue, key: &'static str) -> Result<Option<Function>, JsValue> {
    callback_arg(get_field(o, key), key)
}

fn session_options(o: &JsValue) -> Result<SessionOptions, JsValue> {
    let mut s = SessionOptions::default();
    let d = Backoff::default();
    s.backoff = Backoff {
        initial_ms: ms_opt(o, "reconnectInterval")?.unwrap_or(d.initial_ms),
        max_ms: ms_opt(o, "maxReconnectInterval")?.unwrap_or(d.max_ms),
        multiplier: opt_num(o, "backoffMultiplier")
            .map_err(to_js)?
            .unwrap_or(d.multiplier),
        max_attempts: match ms_opt(o, "maxRetries")? {
            None | Some(0) => None,
            Some(n) => Some(n.min(u32::MAX as u64) as u32),
        },
    };
    if let Some(v) = ms_opt(o, "outboxMaxMessages")? {
        s.outbox_max_messages = v as usize;
    }
    if let Some(v) = ms_opt(o, "outboxMaxBytes")? {
        s.outbox_max_bytes = v as usize;
    }
    if let Some(v) = ms_opt(o, "operationTimeout")? {
        s.operation_timeout_ms = v.max(1);
    }
    s.connect_timeout_ms = ms_opt(o, "connectionTimeout")?;
    if let Some(f) = fun(o, "beforeConnect")? {
        let hook: BeforeConnect = Arc::new(move |url: ConnectionUrl| {
            let f = f.clone();
            Box::pin(async move {
                let r = match f.call0(&JsValue::NULL) {
                    Ok(v) => settle_value(v).await,
                    Err(e) => Err(e),
                };
                // A throw is a failed attempt: the backoff loop tries again.
                r.map(|_| url).map_err(|e| Error::ConnectionLost {
                    cause: TransportError::Refused(format!("beforeConnect: {}", describe(&e))),
                    handshake: true,
                })
            })
        });
        s.before_connect = Some(hook);
    }
    Ok(s)
}

fn urls(url: &JsValue, o: &JsValue) -> Result<Vec<ConnectionUrl>, JsValue> {
    let list: Vec<String> = if let Some(u) = url.as_string() {
        vec![u]
    } else if Array::is_array(url) {
        Array::from(url)
            .iter()
            .filter_map(|v| v.as_string())
            .collect()
    } else {
        return Err(invalid(
            "url must be an AMQP URL (ws://, wss://, or amqp://, amqps:// in Deno and Node) or a list of them",
        ));
    };
    if list.is_empty() {
        return Err(invalid("a session needs at least one URL"));
    }
    let tls = get_field(o, "tlsOptions");
    let vhost = opt_str(o, "vhost").map_err(to_js)?;
    let name = opt_str(o, "name").map_err(to_js)?;
    let u16_opt = |k: &'static str| int_arg(&get_field(o, k), k, 0, u16::MAX as u64).map_err(to_js);
    let heartbeat = u16_opt("heartbeat")?;
    let frame_max = opt_num(o, "frameMax").map_err(to_js)?;
    let channel_max = u16_opt("channelMax")?;
    let ws_stream = opt_bool(o, "webSocketStream", false).map_err(to_js)?;
    let mut out = Vec::with_capacity(list.len());
    for u in list {
        let mut parsed = ConnectionUrl::parse(&u).map_err(to_js)?;
        let c = &mut parsed.config;
        if let Some(v) = &vhost {
            c.vhost = v.clone();
        }
        if let Some(v) = &name {
            c.connection_name = Some(v.clone());
        }
        if let Some(v) = heartbeat {
            c.heartbeat = Some(v as u16);
        }
        if let Some(v) = frame_max {
            if v != 0.0 && !(4096.0..=4294967295.0).contains(&v) {
                return Err(invalid("frameMax must be 0 or at least 4096"));
            }
            c.frame_max = v as u32;
        }
        if let Some(v) = channel_max {
            c.channel_max = v as u16;
        }
        parsed.ws_stream |= ws_stream;
        let tcp = matches!(parsed.scheme, Scheme::Amqp | Scheme::Amqps);
        c.platform = super::client::platform(tcp).into();
        if tcp && !tls.is_undefined() && !tls.is_null() {
            parsed.tls.js = crate::transport::jsstream::JsTlsOptions(Some(tls.clone()));
        }
        out.push(parsed);
    }
    Ok(out)
}

#[wasm_bindgen(js_class = AMQPSession)]
impl JsSession {
    /// Connects (trying the URLs in order, then round-robin) and resolves once the session is
    /// live. `url` may be a list of URLs for failover.
    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPSession>")]
    pub fn connect(
        #[wasm_bindgen(unchecked_param_type = "string | string[]")] url: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "AMQPSessionOptions")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        let o = opts(&options);
        let prepared = (|| {
            let urls = urls(&url, &o)?;
            let Some(first_url) = urls.first().cloned() else {
                return Err(invalid("at least one URL is required"));
            };
            let mut session_opts = session_options(&o)?;
            // as amqp-client: the first connect tries (each URL) once and rejects, unless
            // `retryFirstConnect` (warren) makes it retry like a reconnect
            if !opt_bool(&o, "retryFirstConnect", false).map_err(to_js)? {
                session_opts.first_connect_attempts = Some(urls.len() as u32);
            }
            let codec = get_field(&o, "__codec");
            let callbacks = Callbacks {
                onconnect: fun(&o, "onconnect")?,
                ondisconnect: fun(&o, "ondisconnect")?,
                onfailed: fun(&o, "onfailed")?,
                onrecoverfailed: fun(&o, "onrecoverfailed")?,
                onblocked: fun(&o, "onblocked")?,
                onunblocked: fun(&o, "onunblocked")?,
                onreturn: fun(&o, "onreturn")?,
                ononline: fun(&o, "ononline")?,
                onoffline: fun(&o, "onoffline")?,
            };
            let abort = Abort::new(get_field(&o, "signal"))?;
            let lifecycle = opt_bool(&o, "pageLifecycle", true).map_err(to_js)?;
            let codec_fn = |k| fun(&codec, k);
            let (encode, decode) = (codec_fn("encode")?, codec_fn("decode")?);
            Ok::<_, JsValue>((
                urls,
                first_url,
                session_opts,
                callbacks,
                abort,
                lifecycle,
                encode,
                decode,
            ))
        })();
        let (urls, first_url, session_opts, callbacks, abort, lifecycle, encode, decode) =
            match prepared {
                Ok(p) => p,
                Err(e) => return Promise::reject(&e),
            };
        let logger = get_field(&o, "logger");
        js_promise(async move {
            let onfailed = callbacks.onfailed.clone();
            let connecting = async {
                Session::connect_with(urls, session_opts)
                    .await
                    .map_err(|e| {
                        let e = to_js(e);
                        if let Some(f) = &onfailed {
                            let _ = f.call1(&JsValue::NULL, &e);
                        }
                        e
                    })
            };
            let session = abort.run(connecting).await?;
            let st = Rc::new(SessionState {
                session,
                callbacks,
                encode,
                decode,
                logger,
                this: RefCell::new(JsValue::UNDEFINED),
                lifecycle: RefCell::new(Vec::new()),
                url: first_url,
                client: RefCell::new(None),
            });
            let this: JsValue = JsSession { st: st.clone() }.into();
            *st.this.borrow_mut() = this.clone();
            watch(&st);
            if lifecycle {
                listen_lifecycle(&st);
            }
            // the first connect's onconnect, before connect() resolves (later ones: `watch`)
            st.call(&st.callbacks.onconnect, std::slice::from_ref(&this));
            Ok(this)
        })
    }

    /// `true` while the session has no live connection.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        !self.st.session.is_connected()
    }

    /// warren: publishes waiting in the outbox or for their confirm.
    #[wasm_bindgen(getter, js_name = pendingPublishes)]
    pub fn pending_publishes(&self) -> f64 {
        self.st.session.pending_publishes().0 as f64
    }

    /// warren: ends a backoff wait now (the next attempt starts at once); `true` if one was.
    #[wasm_bindgen(js_name = retryNow)]
    pub fn retry_now(&self) -> bool {
        self.st.session.retry_now()
    }

    /// Declares a queue (recorded: it is declared again after every reconnect, a server-named
    /// one under its new name, which the handle follows).
    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPQueue>")]
    pub fn queue(
        &self,
        name: String,
        #[wasm_bindgen(unchecked_optional_param_type = "QueueOptions")] options: Option<JsValue>,
    ) -> Promise {
        let o = opts(&options);
        let anon = name.is_empty();
        let op = (|| {
            let options = QueueDeclareOptions {
                passive: opt_bool(&o, "passive", false).map_err(to_js)?,
                durable: opt_bool(&o, "durable", !anon).map_err(to_js)?,
                auto_delete: opt_bool(&o, "autoDelete", anon).map_err(to_js)?,
                exclusive: opt_bool(&o, "exclusive", anon).map_err(to_js)?,
                nowait: false,
            };
            let args = table_opt(&get_field(&o, "arguments"), "arguments")?;
            Ok(Op::Queue {
                name,
                options,
                args,
            })
        })();
        op_promise(&self.st, op)
    }

    /// Declares an exchange (recorded for recovery). The predeclared `amq.*` exchanges and the
    /// default exchange `""` are not declared (the broker refuses to).
    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPExchange>")]
    pub fn exchange(
        &self,
        name: String,
        kind: String,
        #[wasm_bindgen(unchecked_optional_param_type = "ExchangeOptions")] options: Option<JsValue>,
    ) -> Promise {
        let o = opts(&options);
        let op = (|| {
            let options = ExchangeDeclareOptions {
                passive: opt_bool(&o, "passive", false).map_err(to_js)?,
                durable: opt_bool(&o, "durable", true).map_err(to_js)?,
                auto_delete: opt_bool(&o, "autoDelete", false).map_err(to_js)?,
                internal: opt_bool(&o, "internal", false).map_err(to_js)?,
                nowait: false,
            };
            let args = table_opt(&get_field(&o, "arguments"), "arguments")?;
            Ok(Op::Exchange {
                name,
                kind,
                options,
                args,
            })
        })();
        op_promise(&self.st, op)
    }

    #[wasm_bindgen(js_name = directExchange, unchecked_return_type = "Promise<AMQPExchange>")]
    pub fn direct_exchange(
        &self,
        name: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "ExchangeOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.exchange(
            name.unwrap_or_else(|| "amq.direct".into()),
            "direct".into(),
            options,
        )
    }

    #[wasm_bindgen(js_name = fanoutExchange, unchecked_return_type = "Promise<AMQPExchange>")]
    pub fn fanout_exchange(
        &self,
        name: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "ExchangeOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.exchange(
            name.unwrap_or_else(|| "amq.fanout".into()),
            "fanout".into(),
            options,
        )
    }

    #[wasm_bindgen(js_name = topicExchange, unchecked_return_type = "Promise<AMQPExchange>")]
    pub fn topic_exchange(
        &self,
        name: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "ExchangeOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.exchange(
            name.unwrap_or_else(|| "amq.topic".into()),
            "topic".into(),
            options,
        )
    }

    #[wasm_bindgen(js_name = headersExchange, unchecked_return_type = "Promise<AMQPExchange>")]
    pub fn headers_exchange(
        &self,
        name: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "ExchangeOptions")] options: Option<JsValue>,
    ) -> Promise {
        self.exchange(
            name.unwrap_or_else(|| "amq.headers".into()),
            "headers".into(),
            options,
        )
    }

    /// One request/reply through a client made for the call.
    #[wasm_bindgen(js_name = rpcCall, unchecked_return_type = "Promise<AMQPMessage>")]
    pub fn rpc_call(
        &self,
        queue: String,
        #[wasm_bindgen(unchecked_param_type = "unknown")] body: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RPCCallOptions")] options: Option<JsValue>,
    ) -> Promise {
        let client = self.st.session.rpc_client();
        op_promise(&self.st, rpc_op(client, true, queue, body, opts(&options)))
    }

    /// A reusable RPC client (direct reply-to).
    #[wasm_bindgen(js_name = rpcClient, unchecked_return_type = "Promise<AMQPRPCClient>")]
    pub fn rpc_client(&self) -> Promise {
        let c: JsValue = JsRpcClient {
            st: self.st.clone(),
            client: self.st.session.rpc_client(),
        }
        .into();
        Promise::resolve(&c)
    }

    /// Answers requests on `queue` with what `handler` returns (its errors become error
    /// replies); the queue and its consumer are recovered after reconnects.
    #[wasm_bindgen(js_name = rpcServer, unchecked_return_type = "Promise<AMQPRPCServer>")]
    pub fn rpc_server(
        &self,
        queue: String,
        #[wasm_bindgen(unchecked_param_type = "(msg: AMQPMessage) => unknown")] handler: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "number")] prefetch: Option<JsValue>,
    ) -> Promise {
        let op = (|| {
            let prefetch = int_arg(&opts(&prefetch), "prefetch", 0, 65535).map_err(to_js)?;
            Ok(Op::RpcServer {
                queue,
                handler: callback_arg(handler, "handler")?
                    .ok_or_else(|| invalid("handler must be a function"))?,
                prefetch: prefetch.map_or(1, |n| n as u16),
            })
        })();
        op_promise(&self.st, op)
    }

    /// Stops the session: no more reconnects, subscriptions end, the connection closes.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn stop(&self, _reason: Option<String>) -> Promise {
        op_promise(&self.st, Ok(Op::Stop))
    }
}

async fn answer(st: Rc<SessionState>, m: SessionMessage, handler: Function) -> RpcReply {
    let run = async {
        let msg = st.message(m).await?;
        let out = settle_value(handler.call1(&JsValue::NULL, &msg)?).await?;
        st.encode(out, JsValue::UNDEFINED).await
    };
    run.await.map_err(|e| {
        st.log(
            "warn",
            "RPC handler failed; answering with an error reply",
            &e,
        );
        describe(&e)
    })
}

/// Forwards session events and notices to the callbacks.
fn watch(st: &Rc<SessionState>) {
    let mut events = st.session.events();
    let weak = Rc::downgrade(st);
    crate::session::spawn(async move {
        while let Some(ev) = events.next().await {
            let Some(st) = weak.upgrade() else { return };
            let c = &st.callbacks;
            match ev {
                SessionEvent::Recovered => st.call(&c.onconnect, &[st.this()]),
                SessionEvent::Disconnected { error } => {
                    st.log("info", "connection lost", &error.to_string().into());
                    st.call(&c.ondisconnect, &[to_js(error)]);
                }
                SessionEvent::Failed { error } => st.call(&c.onfailed, &[to_js(error)]),
                // onrecoverfailed: from the notice, which names the queue
                SessionEvent::RecoveryFailed { .. }
                | SessionEvent::Connected { .. }
                | SessionEvent::Reconnecting { .. } => {}
            }
        }
    });
    let mut notices = st.session.notices();
    let weak = Rc::downgrade(st);
    crate::session::spawn(async move {
        while let Some(n) = notices.next().await {
            let Some(st) = weak.upgrade() else { return };
            let c = &st.callbacks;
            match n {
                Notice::Blocked(reason) => st.call(&c.onblocked, &[reason.into()]),
                Notice::Unblocked => st.call(&c.onunblocked, &[]),
                Notice::RecoveryFailed {
                    queue,
                    object,
                    error,
                } => {
                    st.log(
                        "info",
                        &format!("could not restore {object}"),
                        &error.to_string().into(),
                    );
                    // amqp-client passes the queue's name; warren also says which object
                    let name = queue.unwrap_or_else(|| object.clone());
                    st.call(
                        &c.onrecoverfailed,
                        &[name.into(), to_js(error), object.into()],
                    );
                }
                Notice::Network(true) => st.call(&c.ononline, &[]),
                Notice::Network(false) => st.call(&c.onoffline, &[]),
                Notice::Returned {
                    message,
                    channel,
                    connection,
                } => {
                    let msg: JsValue =
                        JsMessage::returned(*message, st.js_channel(channel, connection)).into();
                    if let Some(decode) = &st.decode {
                        if let Ok(p) = decode.call1(&JsValue::NULL, &msg) {
                            let _ = settle_value(p).await;
                        }
                    }
                    if c.onreturn.is_some() {
                        st.call(&c.onreturn, &[msg]);
                    } else {
                        st.log("warn", "a mandatory message was returned", &msg);
                    }
                }
            }
        }
    });
}

/// online/offline → the session (retry at once when back); a page shown again → retry now.
fn listen_lifecycle(st: &Rc<SessionState>) {
    let global: JsValue = js_sys::global().into();
    if !get_field(&global, "addEventListener").is_function() {
        return;
    }
    let document = get_field(&global, "document");
    let add = |target: &JsValue, event: &'static str, f: Box<dyn FnMut()>| {
        let listener = Closure::wrap(f);
        call_method(target, "addEventListener", &event.into(), listener.as_ref());
        st.lifecycle
            .borrow_mut()
            .push((target.clone(), event, listener));
    };
    let s = st.session.clone();
    add(&global, "online", Box::new(move || s.network_changed(true)));
    let s = st.session.clone();
    add(
        &global,
        "offline",
        Box::new(move || s.network_changed(false)),
    );
    if document.is_object() {
        let s = st.session.clone();
        let doc = document.clone();
        add(
            &document,
            "visibilitychange",
            Box::new(move || {
                if get_field(&doc, "visibilityState").as_string().as_deref() == Some("visible") {
                    s.retry_now();
                }
            }),
        );
        let s = st.session.clone();
        add(
            &document,
            "resume",
            Box::new(move || {
                s.retry_now();
            }),
        );
    }
}
