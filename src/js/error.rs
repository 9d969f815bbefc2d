//! Errors as JS values: `AMQPError` (an Error named "AMQPError" carrying the reply code) or a
//! `TypeError` for invalid arguments, so callers can branch on `instanceof`.

use crate::engine::Error;
use js_sys::Reflect;
use wasm_bindgen::JsValue;

pub fn to_js(e: Error) -> JsValue {
    if let Error::InvalidArgument(why) = &e {
        return js_sys::TypeError::new(why).into();
    }
    let err = js_sys::Error::new(&e.to_string());
    err.set_name("AMQPError");
    let set = |k: &str, v: JsValue| {
        let _ = Reflect::set(&err, &JsValue::from_str(k), &v);
    };
    if let Some(info) = e.close_info() {
        set("code", info.code.0.into());
        set("replyText", JsValue::from_str(&info.text));
        set("classId", info.class_id.into());
        set("methodId", info.method_id.into());
    }
    let scope = match e {
        Error::ChannelClosed(_) => "channel",
        Error::Nacked => "publish",
        Error::Timeout => "timeout",
        _ => "connection",
    };
    set("scope", JsValue::from_str(scope));
    err.into()
}

pub fn type_error(msg: &str) -> JsValue {
    js_sys::TypeError::new(msg).into()
}
