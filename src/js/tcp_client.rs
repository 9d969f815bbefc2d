//! `AMQPClient` (amqp-client 4.1.1's TCP client) for Deno and Node: the same client and channel
//! bindings as `AMQPWebSocketClient` (client.rs) with an `amqp[s]://` URL. The socket is opened
//! by the runtime's glue (`pkg-template/tcp-deno.js`, `tcp-node.js`), which registers its
//! `open` here when it is imported ([`set_tcp_dial`]); `transport::dial` then uses it for every
//! `amqp[s]://` connection. Browsers never import that glue, so there `amqp://` stays refused.

use super::client::JsClient;
use super::error::{to_js, type_error};
use super::values::opt_str;
use crate::transport::jsstream;
use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::*;

/// Registers the runtime's `open(endpoint)` (see `transport/jsstream.rs`).
#[wasm_bindgen(js_name = "__setTcpDial", skip_typescript)]
pub fn set_tcp_dial(open: Function) {
    jsstream::set_dialer(Some(open));
}

/// Makes the client behind `new AMQPClient(url, tlsOptions?, logger?)` (the class is the glue's),
/// or `new AMQPClient({ url, vhost, username, ..., tlsOptions })` with AMQPWebSocketClient's
/// options. `tls_options` (amqp-client's `AMQPTlsOptions`) goes to the runtime's TLS as it is.
#[wasm_bindgen(js_name = "__tcpClient", skip_typescript)]
pub fn tcp_client(
    url_or_options: JsValue,
    tls_options: JsValue,
    logger: JsValue,
) -> Result<JsClient, JsValue> {
    if let Some(url) = url_or_options.as_string() {
        let opts = Object::new();
        if !logger.is_undefined() {
            let _ = Reflect::set(&opts, &"logger".into(), &logger);
        }
        return JsClient::build(opts.into(), url, Some(tls_options));
    }
    if !url_or_options.is_object() {
        return Err(type_error(
            "AMQPClient needs an amqp:// or amqps:// URL or an options object",
        ));
    }
    let url = opt_str(&url_or_options, "url")
        .map_err(to_js)?
        .ok_or_else(|| type_error("options.url is required"))?;
    JsClient::build(url_or_options, url, Some(tls_options))
}
