//! JS property names, each made once. A JS string built from wasm memory goes through
//! `TextDecoder`, about a microsecond for a short name; a publish reads some fifteen property
//! names and a delivery writes as many, so the names cost more than the message. Each literal name
//! is made at its first use and kept for the module's life (a few dozen strings).

use js_sys::Reflect;
use std::cell::RefCell;
use wasm_bindgen::JsValue;

thread_local! {
    /// (address, length) of the literal, and its JS string. Looked up by a linear scan: there are
    /// a few dozen names, and comparing two words each beats hashing the text.
    static KEYS: RefCell<Vec<(usize, usize, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// The JS string for the literal `name`.
pub fn key(name: &'static str) -> JsValue {
    let id = (name.as_ptr() as usize, name.len());
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if let Some((_, _, v)) = keys.iter().find(|(p, l, _)| (*p, *l) == id) {
            return v.clone();
        }
        let v = JsValue::from_str(name);
        keys.push((id.0, id.1, v.clone()));
        v
    })
}

/// `o[name]`, undefined when reading throws (a getter, a revoked Proxy) and for undefined and
/// null, whose read would throw: a thrown and caught TypeError costs some 15 µs.
pub fn get(o: &JsValue, name: &'static str) -> JsValue {
    if o.is_undefined() || o.is_null() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(o, &key(name)).unwrap_or(JsValue::UNDEFINED)
}

/// `o[name] = v`, ignoring a refusal (a frozen object).
pub fn set(o: &JsValue, name: &'static str, v: &JsValue) {
    let _ = Reflect::set(o, &key(name), v);
}
