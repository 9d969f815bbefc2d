//! JS property names, each made once. A JS string built from wasm memory goes through
//! `TextDecoder`, about a microsecond for a short name; a publish reads some fifteen property
//! names and a delivery writes as many, so the names cost more than the message. Each literal name
//! is made at its first use and kept for the module's life (a few dozen strings).

use js_sys::Reflect;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsValue;

thread_local! {
    /// (address, length) of the literal, and its JS string. Looked up by a linear scan: there are
    /// a few dozen names, and comparing two words each beats hashing the text. `Rc`, so a lookup
    /// hands the string out without an externref slot of its own, and without holding the borrow
    /// while JS runs (a getter may call back into warren).
    static KEYS: RefCell<Vec<(usize, usize, Rc<JsValue>)>> = const { RefCell::new(Vec::new()) };
}

/// The JS string for the literal `name`.
fn key(name: &'static str) -> Rc<JsValue> {
    let id = (name.as_ptr() as usize, name.len());
    KEYS.with(|keys| {
        if let Some((_, _, v)) = keys.borrow().iter().find(|(p, l, _)| (*p, *l) == id) {
            return v.clone();
        }
        let v = Rc::new(JsValue::from_str(name));
        keys.borrow_mut().push((id.0, id.1, v.clone()));
        v
    })
}

/// `o[name]` of an object, undefined when reading throws (a getter, a revoked Proxy). `o` must
/// not be undefined or null (the read would throw, and a thrown and caught TypeError costs some
/// 15 µs): callers check once for the whole object.
pub fn get(o: &JsValue, name: &'static str) -> JsValue {
    Reflect::get(o, &key(name)).unwrap_or(JsValue::UNDEFINED)
}

/// `o[name] = v`, ignoring a refusal (a frozen object).
pub fn set(o: &JsValue, name: &'static str, v: &JsValue) {
    let _ = Reflect::set(o, &key(name), v);
}
