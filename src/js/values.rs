//! JS values ↔ field tables and message properties, following the mapping in DESIGN.md.

use crate::engine::Error;
use crate::protocol::{BasicProperties, FieldTable, FieldValue, ShortStr};
use bytes::Bytes;
use js_sys::{Array, ArrayBuffer, BigInt, Date, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

const MAX_SAFE: f64 = 9007199254740991.0;

fn type_error(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

// ----- decode: wire → JS -----

pub fn field_value_to_js(v: &FieldValue) -> JsValue {
    match v {
        FieldValue::Bool(b) => JsValue::from_bool(*b),
        FieldValue::I8(n) => (*n).into(),
        FieldValue::U8(n) => (*n).into(),
        FieldValue::I16(n) => (*n).into(),
        FieldValue::U16(n) => (*n).into(),
        FieldValue::I32(n) => (*n).into(),
        FieldValue::U32(n) => (*n).into(),
        FieldValue::I64(n) if (n.unsigned_abs() as f64) <= MAX_SAFE => (*n as f64).into(),
        FieldValue::I64(n) => BigInt::from(*n).into(),
        FieldValue::U64(n) if (*n as f64) <= MAX_SAFE => (*n as f64).into(),
        FieldValue::U64(n) => BigInt::from(*n).into(),
        FieldValue::F32(f) => (*f as f64).into(),
        FieldValue::F64(f) => (*f).into(),
        FieldValue::Decimal { scale, value } => {
            let o = Object::new();
            set(&o, "scale", &(*scale).into());
            set(&o, "value", &(*value).into());
            o.into()
        }
        FieldValue::LongString(b) => match std::str::from_utf8(b) {
            Ok(s) => JsValue::from_str(s),
            Err(_) => Uint8Array::from(&b[..]).into(),
        },
        FieldValue::ByteArray(b) => Uint8Array::from(&b[..]).into(),
        FieldValue::Array(items) => items
            .iter()
            .map(field_value_to_js)
            .collect::<Array>()
            .into(),
        FieldValue::Timestamp(t) => Date::new(&JsValue::from_f64(*t as f64 * 1000.0)).into(),
        FieldValue::Table(t) => table_to_js(t).into(),
        FieldValue::Void => JsValue::NULL,
    }
}

pub fn table_to_js(t: &FieldTable) -> Object {
    let o = Object::new();
    for (k, v) in t.iter() {
        let _ = Reflect::set(&o, &JsValue::from_str(k), &field_value_to_js(v));
    }
    o
}

pub fn properties_to_js(p: &BasicProperties) -> Object {
    let o = Object::new();
    let set = |k: &'static str, v: JsValue| set(&o, k, &v);
    let s = |k: &'static str, v: &Option<ShortStr>| {
        if let Some(v) = v {
            super::keys::set(&o, k, &JsValue::from_str(v));
        }
    };
    s("contentType", &p.content_type);
    s("contentEncoding", &p.content_encoding);
    if let Some(h) = &p.headers {
        set("headers", table_to_js(h).into());
    }
    if let Some(v) = p.delivery_mode {
        set("deliveryMode", v.into());
    }
    if let Some(v) = p.priority {
        set("priority", v.into());
    }
    s("correlationId", &p.correlation_id);
    s("replyTo", &p.reply_to);
    s("expiration", &p.expiration);
    s("messageId", &p.message_id);
    if let Some(t) = p.timestamp {
        set(
            "timestamp",
            Date::new(&JsValue::from_f64(t as f64 * 1000.0)).into(),
        );
    }
    s("type", &p.kind);
    s("userId", &p.user_id);
    s("appId", &p.app_id);
    s("clusterId", &p.cluster_id);
    o
}

// ----- encode: JS → wire -----

/// Whether `buf` is a detached ArrayBuffer (transferred): `new Uint8Array(buf)` would throw
/// through the wasm, and a view on it reads as empty.
fn detached(buf: &JsValue) -> bool {
    get(buf, "detached").is_truthy()
}

/// Bytes of a Uint8Array, ArrayBuffer or other ArrayBuffer view; `None` for anything else,
/// detached buffers and views on them included.
pub fn js_bytes(v: &JsValue) -> Option<Vec<u8>> {
    if let Some(b) = v.dyn_ref::<ArrayBuffer>() {
        return (!detached(b)).then(|| Uint8Array::new(b).to_vec());
    }
    if !ArrayBuffer::is_view(v) {
        return None;
    }
    let buf = get(v, "buffer");
    if detached(&buf) {
        return None;
    }
    if let Some(u) = v.dyn_ref::<Uint8Array>() {
        return Some(u.to_vec());
    }
    let off = get(v, "byteOffset").as_f64()? as u32;
    let len = get(v, "byteLength").as_f64()? as u32;
    Some(Uint8Array::new_with_byte_offset_and_length(&buf, off, len).to_vec())
}

fn is_plain_object(v: &JsValue) -> bool {
    if !v.is_object() || v.is_function() || Array::is_array(v) {
        return false;
    }
    let proto = Object::get_prototype_of(v);
    proto.is_null() || proto == Object::get_prototype_of(&Object::new())
}

/// How deep arrays and tables may nest in headers and arguments: deeper (or cyclic) values are
/// a TypeError, before the recursion exhausts the wasm stack.
const MAX_DEPTH: usize = 32;

fn js_to_field_value(v: &JsValue, path: &str, depth: usize) -> Result<FieldValue, Error> {
    if depth > MAX_DEPTH {
        return Err(type_error(format!(
            "{path}: nested more than {MAX_DEPTH} levels deep (a cyclic value?)"
        )));
    }
    if v.is_null() || v.is_undefined() {
        return Ok(FieldValue::Void);
    }
    if let Some(s) = v.as_string() {
        return Ok(FieldValue::LongString(Bytes::from(s.into_bytes())));
    }
    if let Some(b) = v.as_bool() {
        return Ok(FieldValue::Bool(b));
    }
    if let Some(n) = v.as_f64() {
        if !n.is_finite() {
            return Err(type_error(format!(
                "{path}: NaN and Infinity cannot be sent (RabbitMQ rejects them)"
            )));
        }
        if n.fract() == 0.0 && n.abs() <= MAX_SAFE {
            if n >= i32::MIN as f64 && n <= i32::MAX as f64 {
                return Ok(FieldValue::I32(n as i32));
            }
            return Ok(FieldValue::I64(n as i64));
        }
        return Ok(FieldValue::F64(n));
    }
    if v.is_bigint() {
        let b: BigInt = v.clone().unchecked_into();
        return i64::try_from(b)
            .map(FieldValue::I64)
            .map_err(|_| type_error(format!("{path}: BigInt outside the signed 64-bit range")));
    }
    if let Some(d) = v.dyn_ref::<Date>() {
        let ms = d.get_time();
        if !ms.is_finite() || ms < 0.0 {
            return Err(type_error(format!("{path}: invalid or pre-1970 Date")));
        }
        return Ok(FieldValue::Timestamp((ms / 1000.0).floor() as u64));
    }
    if let Some(bytes) = js_bytes(v) {
        return Ok(FieldValue::ByteArray(Bytes::from(bytes)));
    }
    if Array::is_array(v) {
        let arr: &Array = v.unchecked_ref();
        let mut items = Vec::with_capacity(arr.length() as usize);
        for (i, item) in arr.iter().enumerate() {
            items.push(js_to_field_value(
                &item,
                &format!("{path}[{i}]"),
                depth + 1,
            )?);
        }
        return Ok(FieldValue::Array(items));
    }
    if is_plain_object(v) {
        return table_at(v, path, depth + 1).map(FieldValue::Table);
    }
    Err(type_error(format!(
        "{path}: unsupported value type {}",
        v.js_typeof().as_string().unwrap_or_default()
    )))
}

pub fn js_to_table(v: &JsValue, path: &str) -> Result<FieldTable, Error> {
    table_at(v, path, 0)
}

fn table_at(v: &JsValue, path: &str, depth: usize) -> Result<FieldTable, Error> {
    if v.is_null() || v.is_undefined() {
        return Ok(FieldTable::new());
    }
    if !is_plain_object(v) {
        return Err(type_error(format!("{path} must be a plain object")));
    }
    let mut t = FieldTable::new();
    for entry in Object::entries(v.unchecked_ref()).iter() {
        let pair: Array = entry.unchecked_into();
        let key = pair.get(0).as_string().unwrap_or_default();
        if key.len() > 255 {
            return Err(type_error(format!("{path}: key longer than 255 bytes")));
        }
        let value = js_to_field_value(&pair.get(1), &format!("{path}.{key}"), depth)?;
        t.0.push((key, value));
    }
    Ok(t)
}

use super::keys::{get, set};

/// `key` of an options object: undefined when there are no options; a TypeError when the
/// options are not an object (a string or number where `{ ... }` belongs).
fn option(o: &JsValue, key: &'static str) -> Result<JsValue, Error> {
    if o.is_undefined() || o.is_null() {
        Ok(JsValue::UNDEFINED)
    } else if o.is_object() {
        Ok(get(o, key))
    } else {
        Err(type_error(format!(
            "options must be an object (reading {key})"
        )))
    }
}

fn opt_string(o: &JsValue, key: &'static str) -> Result<Option<String>, Error> {
    let v = get(o, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    if let Some(s) = v.as_string() {
        if s.len() > 255 {
            return Err(type_error(format!(
                "properties.{key} is longer than 255 bytes"
            )));
        }
        return Ok(Some(s));
    }
    // amqp-client users sometimes pass numbers for expiration or ids; keep them as text.
    // JS formats the number, so the text matches String(n) and no float formatter is linked in.
    if v.as_f64().is_some() {
        return Ok(js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string()));
    }
    Err(type_error(format!("properties.{key} must be a string")))
}

fn opt_octet(o: &JsValue, key: &'static str) -> Result<Option<u8>, Error> {
    let v = get(o, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.fract() == 0.0 && (0.0..=255.0).contains(&n) => Ok(Some(n as u8)),
        _ => Err(type_error(format!(
            "properties.{key} must be an integer 0-255"
        ))),
    }
}

pub fn js_to_properties(o: &JsValue) -> Result<BasicProperties, Error> {
    if o.is_undefined() || o.is_null() {
        return Ok(BasicProperties::default());
    }
    if !o.is_object() {
        return Err(type_error("properties must be an object".into()));
    }
    let headers = get(o, "headers");
    let timestamp = get(o, "timestamp");
    let timestamp = if timestamp.is_undefined() || timestamp.is_null() {
        None
    } else if let Some(d) = timestamp.dyn_ref::<Date>() {
        let ms = d.get_time();
        if !ms.is_finite() || ms < 0.0 {
            return Err(type_error("properties.timestamp is an invalid Date".into()));
        }
        Some((ms / 1000.0).floor() as u64)
    } else if let Some(n) = timestamp.as_f64().filter(|n| n.is_finite() && *n >= 0.0) {
        Some(n as u64)
    } else {
        return Err(type_error("properties.timestamp must be a Date".into()));
    };
    Ok(BasicProperties {
        content_type: opt_string(o, "contentType")?.map(ShortStr::from),
        content_encoding: opt_string(o, "contentEncoding")?.map(ShortStr::from),
        headers: if headers.is_undefined() || headers.is_null() {
            None
        } else {
            Some(js_to_table(&headers, "headers")?)
        },
        delivery_mode: opt_octet(o, "deliveryMode")?,
        priority: opt_octet(o, "priority")?,
        correlation_id: opt_string(o, "correlationId")?.map(ShortStr::from),
        reply_to: opt_string(o, "replyTo")?.map(ShortStr::from),
        expiration: opt_string(o, "expiration")?.map(ShortStr::from),
        message_id: opt_string(o, "messageId")?.map(ShortStr::from),
        timestamp,
        kind: opt_string(o, "type")?.map(ShortStr::from),
        user_id: opt_string(o, "userId")?.map(ShortStr::from),
        app_id: opt_string(o, "appId")?.map(ShortStr::from),
        cluster_id: opt_string(o, "clusterId")?.map(ShortStr::from),
    })
}

/// Reads an option from an options object, with a default; rejects wrong types.
pub fn opt_bool(o: &JsValue, key: &'static str, default: bool) -> Result<bool, Error> {
    let v = option(o, key)?;
    if v.is_undefined() {
        return Ok(default);
    }
    v.as_bool()
        .ok_or_else(|| type_error(format!("option {key} must be a boolean")))
}

pub fn opt_str(o: &JsValue, key: &'static str) -> Result<Option<String>, Error> {
    let v = option(o, key)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| type_error(format!("option {key} must be a string")))
}

pub fn opt_num(o: &JsValue, key: &'static str) -> Result<Option<f64>, Error> {
    let v = option(o, key)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_f64()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(Some)
        .ok_or_else(|| type_error(format!("option {key} must be a non-negative number")))
}

/// `o[key]`, undefined when `o` is undefined or null (an options argument left out).
pub fn get_field(o: &JsValue, key: &'static str) -> JsValue {
    if o.is_undefined() || o.is_null() {
        return JsValue::UNDEFINED;
    }
    get(o, key)
}

/// An optional integer argument in `min..=max` (`None` for undefined/null). Anything else (a
/// string, a BigInt, NaN, a fraction, out of range) is a TypeError, never a wrap or a coercion.
/// The one validator of every integer the JS API takes.
pub fn int_arg(v: &JsValue, what: &str, min: u64, max: u64) -> Result<Option<u64>, Error> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.fract() == 0.0 && n >= min as f64 && n <= max as f64 => Ok(Some(n as u64)),
        _ => Err(type_error(format!("{what} must be an integer {min}-{max}"))),
    }
}
