//! `AMQPClient` (amqp-client 4.1.1's TCP client) for Deno and Node: the same client and channel
//! bindings as `AMQPWebSocketClient` (client.rs), over a TCP or TLS socket that the runtime glue
//! (`pkg-template/tcp-deno.js`, `tcp-node.js`) opens and hands in as a JS duplex
//! ([`JsStreamTransport`]). Nothing here is in the browser build's JS: the glue, which holds the
//! `AMQPClient` class, is only imported where `Deno` or `node:net` exists.

use super::client::JsClient;
use super::error::{to_js, type_error};
use super::values::opt_str;
use crate::client::url::Scheme;
use crate::client::{Connection, ConnectionUrl};
use crate::engine::Error;
use crate::rt;
use crate::transport::jsstream::{js_stream_error, JsStreamTransport};
use crate::transport::BoxTransport;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// Makes the client behind `new AMQPClient(url, tlsOptions?, logger?)` (the class is the glue's),
/// or `new AMQPClient({ url, vhost, username, ... })` with AMQPWebSocketClient's options.
/// `dial(endpoint)` opens the socket: `endpoint` is `{ host, port, tls, serverName?, signal }`
/// and the promise resolves to the duplex of [`JsStreamTransport`]. The glue keeps the TLS
/// options (CA bundle, client certificate) in `dial`: the runtime reads them, not warren.
#[wasm_bindgen(js_name = "__tcpClient", skip_typescript)]
pub fn tcp_client(
    url_or_options: JsValue,
    logger: JsValue,
    dial: Function,
) -> Result<JsClient, JsValue> {
    if let Some(url) = url_or_options.as_string() {
        let opts = Object::new();
        if !logger.is_undefined() {
            let _ = Reflect::set(&opts, &"logger".into(), &logger);
        }
        return JsClient::build(&opts, &url, Some(dial));
    }
    if !url_or_options.is_object() {
        return Err(type_error(
            "AMQPClient needs an amqp:// or amqps:// URL or an options object",
        ));
    }
    let url = opt_str(&url_or_options, "url")
        .map_err(to_js)?
        .ok_or_else(|| type_error("options.url is required"))?;
    JsClient::build(&url_or_options, &url, Some(dial))
}

/// Aborts the glue's connect when dropped before it is disarmed (the connect timed out, or the
/// caller gave up), so a socket that opens late is destroyed instead of left behind.
struct AbortOnDrop(Option<web_sys::AbortController>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.abort();
        }
    }
}

async fn dial(dial: &Function, url: &ConnectionUrl) -> Result<BoxTransport, Error> {
    let lost = |cause| Error::ConnectionLost {
        cause,
        handshake: false,
    };
    let controller = web_sys::AbortController::new().map_err(|e| lost(js_stream_error(&e)))?;
    let ep = Object::new();
    let set = |k: &str, v: JsValue| Reflect::set(&ep, &k.into(), &v);
    let _ = set("host", url.host.as_str().into());
    let _ = set("port", url.port.into());
    let _ = set("tls", (url.scheme == Scheme::Amqps).into());
    if let Some(name) = &url.tls.server_name {
        let _ = set("serverName", name.as_str().into());
    }
    let _ = set("signal", controller.signal().into());
    let mut guard = AbortOnDrop(Some(controller));
    let opening = dial
        .call1(&JsValue::NULL, &ep)
        .map_err(|e| lost(js_stream_error(&e)))?;
    let opening = opening
        .dyn_into::<Promise>()
        .unwrap_or_else(|v| Promise::resolve(&v));
    let duplex = JsFuture::from(opening)
        .await
        .map_err(|e| lost(js_stream_error(&e)))?;
    guard.0 = None;
    let transport = JsStreamTransport::new(duplex).map_err(lost)?;
    Ok(Box::new(transport))
}

/// `Connection::connect_with` for a socket from the glue: one deadline covers the TCP connect,
/// TLS and the AMQP handshake.
pub(crate) async fn connect(dial_fn: &Function, url: &ConnectionUrl) -> Result<Connection, Error> {
    if url.tls.is_set() && (url.tls.ca_cert_file.is_some() || url.tls.cert_file.is_some()) {
        return Err(Error::InvalidArgument(
            "AMQPClient takes certificates in its tlsOptions argument ({ ca, cert, key }), not as files in the URL".into(),
        ));
    }
    let start = rt::now_ms();
    let transport = rt::timeout(url.connection_timeout_ms, dial(dial_fn, url))
        .await
        .map_err(|_| Error::Timeout)??;
    Connection::open_url(transport, "", url, start).await
}
