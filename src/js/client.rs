//! `AMQPWebSocketClient`: constructor arguments, connect/close, connection-level callbacks and
//! state (`channels`, `blocked`, `logger`).

use super::channel::JsChannel;
use super::error::{to_js, type_error};
use super::values::{get_field, opt_bool, opt_num, opt_str};
use super::Ctx;
use crate::client::{Connection, ConnectionEvent, ConnectionUrl};
use crate::engine::{Config, Error};
use crate::rt;
use futures::channel::oneshot;
use futures::StreamExt;
use js_sys::{Array, Function, Object, Promise, Reflect, WeakRef};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// amqp-client's WebSocket default and minimum for frameMax.
const MIN_FRAME_MAX: u32 = 8192;

#[derive(Default)]
struct Callbacks {
    onerror: Option<Function>,
    onblocked: Option<Function>,
    onunblocked: Option<Function>,
}

struct ClientState {
    url: ConnectionUrl,
    conn: RefCell<Option<Connection>>,
    callbacks: RefCell<Callbacks>,
    /// `{ debug, info, warn, error }`, or undefined for no logging.
    logger: RefCell<JsValue>,
    /// The JS object of this client (set by `connect`), so `ch.connection === client`.
    this: RefCell<Option<WeakRef>>,
    /// The JS objects of the open channels, index = channel id (channel 0 included); free ids
    /// hold `undefined`. An entry goes when its channel ends.
    channels: RefCell<Vec<JsValue>>,
    blocked: RefCell<Option<String>>,
}

/// An AMQP 0-9-1 connection over a WebSocket (API of @cloudamqp/amqp-client's class of the same name).
#[wasm_bindgen(js_name = AMQPWebSocketClient)]
#[derive(Clone)]
pub struct JsClient {
    inner: Rc<ClientState>,
}

fn is_deno() -> bool {
    js_sys::Reflect::has(&js_sys::global(), &"Deno".into()).unwrap_or(false)
}

/// The `platform` client property the broker shows: the runtime, as far as it can be told.
pub(crate) fn platform(tcp: bool) -> &'static str {
    match (is_deno(), tcp) {
        (true, _) => "Deno (warren wasm)",
        (false, false) => "browser (warren wasm)",
        (false, true) => "Node.js (warren wasm)",
    }
}

/// A callback property: a function, or `null`/`undefined` to remove it; anything else is a
/// TypeError (silently dropping e.g. a string would leave the user without the notification).
pub(crate) fn callback_arg(f: JsValue, what: &str) -> Result<Option<Function>, JsValue> {
    if f.is_undefined() || f.is_null() {
        return Ok(None);
    }
    f.dyn_into::<Function>()
        .map(Some)
        .map_err(|_| type_error(&format!("{what} must be a function, null or undefined")))
}

fn callback_js(f: &Option<Function>) -> JsValue {
    f.clone().map(JsValue::from).unwrap_or(JsValue::UNDEFINED)
}

fn u16_arg(v: &JsValue, what: &str) -> Result<Option<u16>, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.fract() == 0.0 && (0.0..=65535.0).contains(&n) => Ok(Some(n as u16)),
        _ => Err(type_error(&format!("{what} must be an integer 0-65535"))),
    }
}

fn logger_arg(v: JsValue) -> Result<JsValue, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(JsValue::UNDEFINED);
    }
    if !v.is_object() {
        return Err(type_error(
            "logger must be an object with debug, info, warn and error methods, or null",
        ));
    }
    Ok(v)
}

#[wasm_bindgen(js_class = AMQPWebSocketClient)]
impl JsClient {
    /// `new AMQPWebSocketClient(url, vhost?, username?, password?, name?, frameMax?, heartbeat?, logger?)`
    /// or `new AMQPWebSocketClient({ url, vhost, username, password, name, frameMax, heartbeat, channelMax, logger })`.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "string | AMQPWebSocketOptions")]
        url_or_options: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "string")] vhost: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "string")] username: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "string")] password: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "string")] name: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "number")] frame_max: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "number")] heartbeat: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "Logger | null")] logger: Option<JsValue>,
    ) -> Result<JsClient, JsValue> {
        let (opts, url) = if let Some(url) = url_or_options.as_string() {
            let o = js_sys::Object::new();
            let set = |k: &str, v: &Option<JsValue>| {
                if let Some(v) = v {
                    let _ = js_sys::Reflect::set(&o, &k.into(), v);
                }
            };
            set("vhost", &vhost);
            set("username", &username);
            set("password", &password);
            set("name", &name);
            set("frameMax", &frame_max);
            set("heartbeat", &heartbeat);
            set("logger", &logger);
            (JsValue::from(o), url)
        } else if url_or_options.is_object() {
            let url = opt_str(&url_or_options, "url").map_err(to_js)?;
            (
                url_or_options.clone(),
                url.ok_or_else(|| type_error("options.url is required"))?,
            )
        } else {
            return Err(type_error(
                "AMQPWebSocketClient needs a ws:// or wss:// URL or an options object",
            ));
        };
        Self::build(opts, url, None)
    }
}

impl JsClient {
    /// The constructor's work once its arguments are one options object. `tcp` is `Some` for
    /// `AMQPClient` (tcp_client.rs: an `amqp[s]://` URL, opened by the runtime's glue), holding
    /// its `tlsOptions` argument.
    pub(crate) fn build(
        opts: JsValue,
        url: String,
        tcp: Option<JsValue>,
    ) -> Result<JsClient, JsValue> {
        let mut parsed = ConnectionUrl::parse(&url).map_err(to_js)?;
        let ws = matches!(
            parsed.scheme,
            crate::client::url::Scheme::Ws | crate::client::url::Scheme::Wss
        );
        if ws == tcp.is_some() {
            return Err(type_error(if ws {
                "AMQPClient needs an amqp:// or amqps:// URL (AMQPWebSocketClient takes ws://)"
            } else {
                "AMQPWebSocketClient needs a ws:// or wss:// URL (AMQPClient takes amqp://)"
            }));
        }
        let c = &mut parsed.config;
        if c.frame_max == Config::default().frame_max {
            c.frame_max = MIN_FRAME_MAX; // amqp-client's WebSocket default
        }
        if let Some(v) = opt_str(&opts, "vhost").map_err(to_js)? {
            c.vhost = v;
        }
        if let Some(v) = opt_str(&opts, "username").map_err(to_js)? {
            c.username = v;
        }
        if let Some(v) = opt_str(&opts, "password").map_err(to_js)? {
            c.password = v;
        }
        if let Some(v) = opt_str(&opts, "name").map_err(to_js)? {
            c.connection_name = Some(v);
        }
        if let Some(v) = opt_num(&opts, "frameMax").map_err(to_js)? {
            if !(MIN_FRAME_MAX as f64..=4294967295.0).contains(&v) {
                return Err(type_error("frameMax must be 8192 or larger"));
            }
            c.frame_max = v as u32;
        }
        if let Some(v) = u16_arg(&get_field(&opts, "heartbeat"), "heartbeat")? {
            c.heartbeat = Some(v);
        }
        if let Some(v) = u16_arg(&get_field(&opts, "channelMax"), "channelMax")? {
            c.channel_max = v;
        }
        if let Some(v) = opt_str(&opts, "authMechanism").map_err(to_js)? {
            c.auth_mechanism = match v.to_ascii_uppercase().as_str() {
                "PLAIN" => crate::engine::AuthMechanism::Plain,
                "AMQPLAIN" => crate::engine::AuthMechanism::AmqPlain,
                _ => return Err(type_error("authMechanism must be PLAIN or AMQPLAIN")),
            };
        }
        if let Some(v) = opt_num(&opts, "connectionTimeout").map_err(to_js)? {
            parsed.connection_timeout_ms = v as u64;
        }
        // warren: deadline of every call awaiting the broker, and the largest message accepted
        // (0 = none for both; defaults 60 s and 128 MiB)
        for (key, slot) in [
            ("operationTimeout", &mut c.operation_timeout),
            ("maxMessageSize", &mut c.max_message_size),
        ] {
            if let Some(v) = opt_num(&opts, key).map_err(to_js)? {
                if !((0.0..=9007199254740991.0).contains(&v) && v.fract() == 0.0) {
                    return Err(type_error(&format!("{key} must be a non-negative integer")));
                }
                *slot = v as u64;
            }
        }
        c.platform = platform(tcp.is_some()).into();
        let protocols = get_field(&opts, "protocols");
        let protocols = match protocols.as_string() {
            Some(_) => js_sys::Array::of1(&protocols),
            None if protocols.is_undefined() || protocols.is_null() => js_sys::Array::new(),
            None if js_sys::Array::is_array(&protocols) => protocols.unchecked_into(),
            None => js_sys::Array::of1(&JsValue::UNDEFINED), // refused below
        };
        parsed.ws_protocols = protocols
            .iter()
            .map(|p| p.as_string())
            .collect::<Option<_>>()
            .ok_or_else(|| type_error("protocols must be a string or an array of strings"))?;
        // warren: reads through WebSocketStream where the runtime has it (backpressure on the
        // broker for a consumer slower than the stream); the URL option websocket=stream too
        if opt_bool(&opts, "webSocketStream", false).map_err(to_js)? {
            parsed.ws_stream = true;
        }
        if let Some(tls) = tcp.filter(|t| !t.is_undefined() && !t.is_null()) {
            parsed.tls.js = crate::transport::jsstream::JsTlsOptions(Some(tls));
        }
        let logger = logger_arg(get_field(&opts, "logger"))?;
        Ok(JsClient::with(parsed, None, logger))
    }

    fn with(url: ConnectionUrl, conn: Option<Connection>, logger: JsValue) -> JsClient {
        JsClient {
            inner: Rc::new(ClientState {
                url,
                conn: RefCell::new(conn),
                callbacks: RefCell::default(),
                logger: RefCell::new(logger),
                this: RefCell::new(None),
                channels: RefCell::default(),
                blocked: RefCell::new(None),
            }),
        }
    }
}

#[wasm_bindgen(js_class = AMQPWebSocketClient)]
impl JsClient {
    /// Opens the WebSocket and performs the AMQP handshake. Resolves to this client. `this_obj`
    /// is the client's own JS object (passed by api.js).
    #[wasm_bindgen(skip_typescript)]
    pub fn connect(
        &self,
        this_obj: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = Ctx::new(this_obj.clone(), opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        if let Some(o) = this_obj.dyn_ref::<Object>() {
            *self.inner.this.borrow_mut() = Some(WeakRef::new(o));
        }
        if self.open_connection().is_some() {
            return Ok(Promise::resolve(&this_obj));
        }
        // The handshake runs in a task of its own: when the call is aborted, a connection that
        // opens afterwards is closed instead of left running.
        let (tx, rx) = oneshot::channel::<Result<(), Error>>();
        let this = self.clone();
        rt::spawn(async move {
            match Connection::connect_with(&this.inner.url).await {
                Ok(conn) if tx.is_canceled() => {
                    let _ = conn.close().await;
                }
                Ok(conn) => {
                    this.install(conn);
                    let _ = tx.send(Ok(()));
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
        Ok(ctx.promise(async move {
            rx.await.unwrap_or(Err(Error::NotOpen("connection")))?;
            Ok(this_obj)
        }))
    }

    /// Opens a channel (the lowest free id unless one is given); an id that is open already
    /// resolves to that channel.
    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPChannel>")]
    pub fn channel(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "number")] id: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        let Some(conn) = self.open_connection() else {
            return Ok(ctx.reject(Error::NotOpen("connection")));
        };
        let id = match super::values::int_arg(
            &id.unwrap_or(JsValue::UNDEFINED),
            "channel id",
            0,
            u16::MAX as u64,
        ) {
            Err(e) => return Ok(ctx.reject(e)),
            Ok(Some(0)) | Ok(None) => None,
            Ok(Some(id)) => Some(id as u16),
        };
        if let Some(id) = id {
            if let Some(ch) = self.channel_js(id) {
                return Ok(Promise::resolve(&ch));
            }
            let max = conn.channel_max();
            if max > 0 && id > max {
                return Ok(ctx.reject(Error::NoFreeChannel));
            }
        }
        let this = self.clone();
        Ok(ctx.promise(async move {
            let ch = conn.channel(id).await?;
            let id = ch.id() as usize;
            let js = JsChannel::create(ch, this.clone()).js();
            let mut chans = this.inner.channels.borrow_mut();
            if chans.len() <= id {
                chans.resize(id + 1, JsValue::UNDEFINED);
            }
            chans[id] = js.clone();
            Ok(js)
        }))
    }

    /// Closes the connection gracefully; rejects when it is not open.
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
        let code = match super::channel::reply_code_arg(code) {
            Ok(c) => crate::protocol::ReplyCode(c),
            Err(e) => return Ok(ctx.reject(e)),
        };
        let Some(conn) = self.open_connection() else {
            return Ok(ctx.reject(Error::NotOpen("connection")));
        };
        Ok(ctx.promise(async move {
            conn.close_with(code, reason.as_deref().unwrap_or(""))
                .await?;
            Ok(JsValue::UNDEFINED)
        }))
    }

    /// `await using client = ...`: closes the connection if it is open.
    #[wasm_bindgen(
        js_name = "[Symbol.asyncDispose]",
        unchecked_return_type = "Promise<void>"
    )]
    pub fn async_dispose(&self) -> Result<Promise, JsValue> {
        match self.open_connection() {
            Some(_) => self.close(None, None, None),
            None => Ok(Promise::resolve(&JsValue::UNDEFINED)),
        }
    }

    /// Negotiated heartbeat interval in seconds (0 = off, or not connected).
    #[wasm_bindgen(getter)]
    pub fn heartbeat(&self) -> u16 {
        self.conn().map_or(0, |c| c.heartbeat())
    }

    /// Negotiated largest frame in bytes (0 when not connected).
    #[wasm_bindgen(getter, js_name = frameMax)]
    pub fn frame_max(&self) -> u32 {
        self.conn().map_or(0, |c| c.frame_max())
    }

    /// Negotiated highest channel id (0 when not connected).
    #[wasm_bindgen(getter, js_name = channelMax)]
    pub fn channel_max(&self) -> u16 {
        self.conn().map_or(0, |c| c.channel_max())
    }

    /// Whether the connection is closed (or was never opened).
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.open_connection().is_none()
    }

    #[wasm_bindgen(getter)]
    pub fn vhost(&self) -> String {
        self.inner.url.config.vhost.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn username(&self) -> String {
        self.inner.url.config.username.clone()
    }

    /// The connection name given to the constructor, if any.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> Option<String> {
        self.inner.url.config.connection_name.clone()
    }

    /// The open channels, index = channel id (channel 0, the connection's, included); closed ids
    /// are empty. A new array on every read.
    #[wasm_bindgen(getter, unchecked_return_type = "AMQPChannel[]")]
    pub fn channels(&self) -> Array {
        let a = Array::new();
        for (i, ch) in self.inner.channels.borrow().iter().enumerate() {
            if !ch.is_undefined() {
                a.set(i as u32, ch.clone());
            }
        }
        a
    }

    /// The broker's reason while it blocks publishing (connection.blocked), else undefined.
    #[wasm_bindgen(getter)]
    pub fn blocked(&self) -> Option<String> {
        self.inner.blocked.borrow().clone()
    }

    #[wasm_bindgen(getter, unchecked_return_type = "Logger | undefined")]
    pub fn logger(&self) -> JsValue {
        self.inner.logger.borrow().clone()
    }
    #[wasm_bindgen(setter)]
    pub fn set_logger(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Logger | null | undefined")] logger: JsValue,
    ) -> Result<(), JsValue> {
        *self.inner.logger.borrow_mut() = logger_arg(logger)?;
        Ok(())
    }

    /// Replaces the password of a live connection (e.g. a refreshed token).
    #[wasm_bindgen(js_name = updateSecret, unchecked_return_type = "Promise<void>")]
    pub fn update_secret(
        &self,
        new_secret: String,
        reason: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ signal?: AbortSignal }")] opts: Option<
            JsValue,
        >,
    ) -> Result<Promise, JsValue> {
        let ctx = self.ctx(opts)?;
        if let Some(p) = ctx.pre_aborted() {
            return Ok(p);
        }
        let Some(conn) = self.open_connection() else {
            return Ok(ctx.reject(Error::NotOpen("connection")));
        };
        let this = self.clone();
        Ok(ctx.promise(async move {
            conn.update_secret(&new_secret, reason.as_deref().unwrap_or(""))
                .await?;
            this.log("info", &["AMQP connection update secret ok".into()]);
            Ok(JsValue::UNDEFINED)
        }))
    }

    /// Called with an AMQPError when the connection ends abnormally.
    #[wasm_bindgen(
        getter,
        unchecked_return_type = "((error: AMQPError) => void) | undefined"
    )]
    pub fn onerror(&self) -> JsValue {
        callback_js(&self.inner.callbacks.borrow().onerror)
    }
    #[wasm_bindgen(setter)]
    pub fn set_onerror(
        &self,
        #[wasm_bindgen(unchecked_param_type = "((error: AMQPError) => void) | undefined")]
        f: JsValue,
    ) -> Result<(), JsValue> {
        self.inner.callbacks.borrow_mut().onerror = callback_arg(f, "onerror")?;
        Ok(())
    }

    /// Called with the broker's reason when it blocks publishing (resource alarm).
    #[wasm_bindgen(
        getter,
        unchecked_return_type = "((reason: string) => void) | undefined"
    )]
    pub fn onblocked(&self) -> JsValue {
        callback_js(&self.inner.callbacks.borrow().onblocked)
    }
    #[wasm_bindgen(setter)]
    pub fn set_onblocked(
        &self,
        #[wasm_bindgen(unchecked_param_type = "((reason: string) => void) | undefined")] f: JsValue,
    ) -> Result<(), JsValue> {
        self.inner.callbacks.borrow_mut().onblocked = callback_arg(f, "onblocked")?;
        Ok(())
    }

    #[wasm_bindgen(getter, unchecked_return_type = "(() => void) | undefined")]
    pub fn onunblocked(&self) -> JsValue {
        callback_js(&self.inner.callbacks.borrow().onunblocked)
    }
    #[wasm_bindgen(setter)]
    pub fn set_onunblocked(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(() => void) | undefined")] f: JsValue,
    ) -> Result<(), JsValue> {
        self.inner.callbacks.borrow_mut().onunblocked = callback_arg(f, "onunblocked")?;
        Ok(())
    }
}

impl JsClient {
    fn conn(&self) -> Option<Connection> {
        self.inner.conn.borrow().clone()
    }

    fn open_connection(&self) -> Option<Connection> {
        self.conn().filter(|c| c.is_open())
    }

    /// A client for a connection something else opened (a session's current connection), so
    /// its channels and messages have the usual `connection`; `url` gives vhost/username.
    pub(crate) fn adopt(conn: Connection, url: ConnectionUrl, logger: JsValue) -> JsClient {
        JsClient::with(url, Some(conn), logger)
    }

    pub(crate) fn connection(&self) -> Option<Connection> {
        self.inner.conn.borrow().clone()
    }

    /// This client's JS object (a new wrapper if the original is gone or was never seen).
    pub(crate) fn js(&self) -> JsValue {
        match self.inner.this.borrow().as_ref().and_then(|w| w.deref()) {
            Some(o) => o.into(),
            None => self.clone().into(),
        }
    }

    pub(crate) fn ctx(&self, opts: Option<JsValue>) -> Result<Ctx, JsValue> {
        Ctx::new(self.js(), opts)
    }

    /// The JS object of the open channel with this id.
    pub(crate) fn channel_js(&self, id: u16) -> Option<JsValue> {
        self.inner
            .channels
            .borrow()
            .get(id as usize)
            .filter(|c| !c.is_undefined())
            .cloned()
    }

    /// Forgets a channel that ended (if `js` is still the one with its id).
    pub(crate) fn channel_ended(&self, id: u16, js: &JsValue) {
        let mut chans = self.inner.channels.borrow_mut();
        if let Some(slot) = chans.get_mut(id as usize) {
            if slot == js {
                *slot = JsValue::UNDEFINED;
            }
        }
    }

    /// Calls `logger[level](...args)` when a logger is set.
    pub(crate) fn log(&self, level: &str, args: &[JsValue]) {
        let logger = self.inner.logger.borrow().clone();
        if logger.is_undefined() {
            return;
        }
        if let Some(f) = Reflect::get(&logger, &level.into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
        {
            let _ = f.apply(&logger, &args.iter().collect::<Array>());
        }
    }

    /// The connection-level `onerror`, or amqp-client's default (log it).
    pub(crate) fn report_error(&self, err: &JsValue) {
        let f = self.inner.callbacks.borrow().onerror.clone();
        match f {
            Some(f) => {
                let _ = f.call1(&JsValue::NULL, err);
            }
            None => {
                let msg = Reflect::get(err, &"message".into()).unwrap_or_default();
                self.log("error", &["amqp-client connection closed".into(), msg]);
            }
        }
    }

    fn install(&self, conn: Connection) {
        *self.inner.conn.borrow_mut() = Some(conn.clone());
        *self.inner.blocked.borrow_mut() = None;
        let zero = JsChannel::create(conn.channel_zero(), self.clone()).js();
        *self.inner.channels.borrow_mut() = vec![zero];
        self.watch(conn);
    }

    /// Forwards connection-level events and an abnormal end to the user's callbacks.
    fn watch(&self, conn: Connection) {
        let this = self.clone();
        let mut events = conn.events();
        rt::spawn(async move {
            let ended = conn.closed();
            let forward = async {
                while let Some(ev) = events.next().await {
                    let cbs = this.inner.callbacks.borrow();
                    let _ = match ev {
                        ConnectionEvent::Blocked(reason) => {
                            this.log(
                                "warn",
                                &["AMQP connection blocked:".into(), reason.as_str().into()],
                            );
                            *this.inner.blocked.borrow_mut() = Some(reason.clone());
                            cbs.onblocked
                                .as_ref()
                                .map(|f| f.call1(&JsValue::NULL, &reason.into()))
                        }
                        ConnectionEvent::Unblocked => {
                            this.log("info", &["AMQP connection unblocked".into()]);
                            *this.inner.blocked.borrow_mut() = None;
                            cbs.onunblocked.as_ref().map(|f| f.call0(&JsValue::NULL))
                        }
                    };
                }
                futures::future::pending::<()>().await
            };
            let error = match futures::future::select(Box::pin(ended), Box::pin(forward)).await {
                futures::future::Either::Left((e, _)) => e,
                futures::future::Either::Right(_) => None,
            };
            this.inner.channels.borrow_mut().clear();
            if let Some(e) = error {
                if let Some(info) = e.close_info() {
                    this.log(
                        "debug",
                        &[
                            "connection closed by server".into(),
                            info.code.0.into(),
                            info.text.as_str().into(),
                            info.class_id.into(),
                            info.method_id.into(),
                        ],
                    );
                }
                this.report_error(&super::error::to_js_on(e, &this.js()));
            }
        });
    }
}
