//! `AMQPWebSocketClient`: constructor arguments, connect/close, and connection-level callbacks.

use super::channel::JsChannel;
use super::error::{to_js, type_error};
use super::promise;
use super::values::{get_field, opt_num, opt_str};
use crate::client::{Connection, ConnectionEvent, ConnectionUrl};
use crate::engine::Error;
use crate::rt;
use futures::StreamExt;
use js_sys::{Function, Promise};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

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

fn u16_arg(v: &JsValue, what: &str) -> Result<Option<u16>, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.fract() == 0.0 && (0.0..=65535.0).contains(&n) => Ok(Some(n as u16)),
        _ => Err(type_error(&format!("{what} must be an integer 0-65535"))),
    }
}

#[wasm_bindgen(js_class = AMQPWebSocketClient)]
impl JsClient {
    /// `new AMQPWebSocketClient(url, vhost?, username?, password?, name?, frameMax?, heartbeat?, channelMax?)`
    /// or `new AMQPWebSocketClient({ url, vhost, username, password, name, frameMax, heartbeat, channelMax })`.
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
        #[wasm_bindgen(unchecked_optional_param_type = "number")] channel_max: Option<JsValue>,
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
            set("channelMax", &channel_max);
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
        let mut parsed = ConnectionUrl::parse(&url).map_err(to_js)?;
        if !matches!(
            parsed.scheme,
            crate::client::url::Scheme::Ws | crate::client::url::Scheme::Wss
        ) {
            return Err(type_error(
                "AMQPWebSocketClient needs a ws:// or wss:// URL",
            ));
        }
        let c = &mut parsed.config;
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
            if v != 0.0 && !(4096.0..=4294967295.0).contains(&v) {
                return Err(type_error("frameMax must be 0 or at least 4096"));
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
        c.platform = if is_deno() {
            "Deno (warren wasm)".into()
        } else {
            "browser (warren wasm)".into()
        };
        parsed.ws_protocols = match get_field(&opts, "protocols") {
            p if p.is_undefined() || p.is_null() => Vec::new(),
            p if js_sys::Array::is_array(&p) => js_sys::Array::from(&p)
                .iter()
                .filter_map(|v| v.as_string())
                .collect(),
            p => p.as_string().into_iter().collect(),
        };
        Ok(JsClient {
            inner: Rc::new(ClientState {
                url: parsed,
                conn: RefCell::new(None),
                callbacks: RefCell::default(),
            }),
        })
    }

    /// Opens the WebSocket and performs the AMQP handshake. Resolves to this client.
    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPWebSocketClient>")]
    pub fn connect(&self) -> Promise {
        let this = self.clone();
        promise(async move {
            let conn = Connection::connect_with(&this.inner.url).await?;
            *this.inner.conn.borrow_mut() = Some(conn.clone());
            this.watch(conn);
            Ok(this)
        })
    }

    /// Opens a channel (the lowest free id unless one is given).
    #[wasm_bindgen(unchecked_return_type = "Promise<AMQPChannel>")]
    pub fn channel(&self, id: Option<f64>) -> Promise {
        let conn = self.inner.conn.borrow().clone();
        promise(async move {
            let id = id
                .map(|id| {
                    super::values::int_arg(id, "channel id", u16::MAX as u32).map(|id| id as u16)
                })
                .transpose()?;
            let conn = conn.ok_or(Error::NotOpen("connection"))?;
            let ch = conn.channel(id).await?;
            Ok(JsChannel::new(ch, conn))
        })
    }

    /// Closes the connection gracefully.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self, reason: Option<String>, code: Option<u16>) -> Promise {
        let conn = self.inner.conn.borrow().clone();
        promise(async move {
            if let Some(conn) = conn {
                let code = crate::protocol::ReplyCode(code.unwrap_or(200));
                conn.close_with(code, reason.as_deref().unwrap_or(""))
                    .await?;
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Negotiated heartbeat interval in seconds (0 = off, or not connected).
    #[wasm_bindgen(getter)]
    pub fn heartbeat(&self) -> u16 {
        self.inner
            .conn
            .borrow()
            .as_ref()
            .map_or(0, |c| c.heartbeat())
    }

    /// Negotiated largest frame in bytes (0 when not connected).
    #[wasm_bindgen(getter, js_name = frameMax)]
    pub fn frame_max(&self) -> u32 {
        self.inner
            .conn
            .borrow()
            .as_ref()
            .map_or(0, |c| c.frame_max())
    }

    /// Negotiated highest channel id (0 when not connected).
    #[wasm_bindgen(getter, js_name = channelMax)]
    pub fn channel_max(&self) -> u16 {
        self.inner
            .conn
            .borrow()
            .as_ref()
            .map_or(0, |c| c.channel_max())
    }

    /// Whether the connection is closed (or was never opened).
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.inner
            .conn
            .borrow()
            .as_ref()
            .is_none_or(|c| !c.is_open())
    }

    /// Replaces the password of a live connection (e.g. a refreshed token).
    #[wasm_bindgen(js_name = updateSecret, unchecked_return_type = "Promise<void>")]
    pub fn update_secret(&self, new_secret: String, reason: Option<String>) -> Promise {
        let conn = self.inner.conn.borrow().clone();
        promise(async move {
            let conn = conn.ok_or(Error::NotOpen("connection"))?;
            conn.update_secret(&new_secret, reason.as_deref().unwrap_or(""))
                .await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Called with an AMQPError when the connection ends abnormally.
    #[wasm_bindgen(getter, unchecked_return_type = "((error: Error) => void) | undefined")]
    pub fn onerror(&self) -> JsValue {
        self.inner
            .callbacks
            .borrow()
            .onerror
            .clone()
            .map(JsValue::from)
            .unwrap_or(JsValue::UNDEFINED)
    }
    #[wasm_bindgen(setter)]
    pub fn set_onerror(
        &self,
        #[wasm_bindgen(unchecked_param_type = "((error: Error) => void) | undefined")] f: JsValue,
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
        self.inner
            .callbacks
            .borrow()
            .onblocked
            .clone()
            .map(JsValue::from)
            .unwrap_or(JsValue::UNDEFINED)
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
        self.inner
            .callbacks
            .borrow()
            .onunblocked
            .clone()
            .map(JsValue::from)
            .unwrap_or(JsValue::UNDEFINED)
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
    /// Forwards connection-level events and an abnormal end to the user's callbacks.
    fn watch(&self, conn: Connection) {
        let inner = self.inner.clone();
        let mut events = conn.events();
        rt::spawn(async move {
            let ended = conn.closed();
            let forward = async {
                while let Some(ev) = events.next().await {
                    let cbs = inner.callbacks.borrow();
                    let _ = match ev {
                        ConnectionEvent::Blocked(reason) => cbs
                            .onblocked
                            .as_ref()
                            .map(|f| f.call1(&JsValue::NULL, &reason.into())),
                        ConnectionEvent::Unblocked => {
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
            if let Some(e) = error {
                if let Some(f) = inner.callbacks.borrow().onerror.clone() {
                    let _ = f.call1(&JsValue::NULL, &to_js(e));
                }
            }
        });
    }
}
