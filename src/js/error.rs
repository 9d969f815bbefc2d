//! Errors as JS values, with the classes and texts of amqp-client 4.1.1 where a ported program
//! may test for them: `AMQPError` (an Error named "AMQPError" carrying the reply code and the
//! client as `connection`), `TypeError` for invalid arguments, `RangeError` for a content header
//! larger than frameMax, a plain `Error` for a short string over 255 bytes.

use crate::engine::Error;
use crate::protocol::EncodeError;
use js_sys::Reflect;
use wasm_bindgen::JsValue;

use super::keys::set;

/// Errors amqp-client throws synchronously (from its frame encoder) instead of rejecting.
pub fn throws(e: &Error) -> bool {
    matches!(e, Error::Encode(EncodeError::ShortStringTooLong { .. }))
}

pub fn to_js(e: Error) -> JsValue {
    match &e {
        Error::InvalidArgument(why) => return js_sys::TypeError::new(why).into(),
        Error::Encode(EncodeError::ShortStringTooLong { field, len }) => {
            return js_sys::Error::new(&format!("Short string too long, {len} bytes: {field}"))
                .into()
        }
        Error::Encode(EncodeError::TooLong { .. }) => {
            return js_sys::RangeError::new(&e.to_string()).into()
        }
        _ => {}
    }
    let text = match &e {
        Error::NotOpen("connection") => "Connection closed".into(),
        Error::NotOpen("channel") => "Channel is closed".into(),
        Error::NoFreeChannel => "Max number of channels reached".into(),
        Error::Nacked => "Message rejected".into(),
        e => e.to_string(),
    };
    let err = amqp_error(&text, &JsValue::UNDEFINED);
    if let Some(info) = e.close_info() {
        set(&err, "code", &info.code.0.into());
        set(&err, "replyText", &JsValue::from_str(&info.text));
        set(&err, "classId", &info.class_id.into());
        set(&err, "methodId", &info.method_id.into());
    }
    let scope = match e {
        Error::ChannelClosed(_) => "channel",
        Error::Nacked => "publish",
        Error::Timeout => "timeout",
        _ => "connection",
    };
    set(&err, "scope", &JsValue::from_str(scope));
    err
}

/// [`to_js`], naming the client the error was raised on (`AMQPError.connection`).
pub fn to_js_on(e: Error, conn: &JsValue) -> JsValue {
    let err = to_js(e);
    if !conn.is_undefined() && Reflect::get(&err, &"name".into()).ok() == Some("AMQPError".into()) {
        set(&err, "connection", conn);
    }
    err
}

/// An `AMQPError` with a message of its own (`conn` may be undefined).
pub fn amqp_error(msg: &str, conn: &JsValue) -> JsValue {
    let err = js_sys::Error::new(msg);
    err.set_name("AMQPError");
    if !conn.is_undefined() {
        set(&err, "connection", conn);
    }
    err.into()
}

pub fn type_error(msg: &str) -> JsValue {
    js_sys::TypeError::new(msg).into()
}
