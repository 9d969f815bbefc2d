//! Field tables and arrays with every value type RabbitMQ uses.
//!
//! Tags follow RabbitMQ's dialect (which differs from the 0-9-1 PDF): `s` is a signed 16-bit integer,
//! `u` unsigned 16-bit, `i` unsigned 32-bit, `I` signed 32-bit, `l` signed 64-bit. `L` (unsigned
//! 64-bit) is decoded but never emitted: RabbitMQ rejects it, so [`FieldValue::U64`] is written as
//! `l` when it fits and refused otherwise.

use super::codec::{
    all_or_nothing, patch_len, put_long_str, put_short_str, put_u16, put_u32, put_u64, DecodeError,
    EncodeError, Reader, MAX_NESTING,
};
use bytes::Bytes;

/// One value in a field table or array.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Bool(bool),
    I8(i8),
    U8(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    /// Decoded from `L`; encoded as `l`.
    U64(u64),
    F32(f32),
    F64(f64),
    /// `value × 10^-scale`.
    Decimal {
        scale: u8,
        value: i32,
    },
    /// `S`: raw bytes, usually UTF-8 text.
    LongString(Bytes),
    /// `x`: opaque bytes.
    ByteArray(Bytes),
    Array(Vec<FieldValue>),
    /// `T`: seconds since the Unix epoch.
    Timestamp(u64),
    Table(FieldTable),
    Void,
}

impl From<&str> for FieldValue {
    fn from(s: &str) -> Self {
        FieldValue::LongString(Bytes::copy_from_slice(s.as_bytes()))
    }
}
impl From<String> for FieldValue {
    fn from(s: String) -> Self {
        FieldValue::LongString(Bytes::from(s.into_bytes()))
    }
}
impl From<bool> for FieldValue {
    fn from(v: bool) -> Self {
        FieldValue::Bool(v)
    }
}
impl From<i32> for FieldValue {
    fn from(v: i32) -> Self {
        FieldValue::I32(v)
    }
}
impl From<i64> for FieldValue {
    fn from(v: i64) -> Self {
        FieldValue::I64(v)
    }
}
impl From<f64> for FieldValue {
    fn from(v: f64) -> Self {
        FieldValue::F64(v)
    }
}
impl From<FieldTable> for FieldValue {
    fn from(v: FieldTable) -> Self {
        FieldValue::Table(v)
    }
}

impl FieldValue {
    /// The text of a `S` value, if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::LongString(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// Any integer variant widened to i64 (None for u64 above i64::MAX and for non-integers).
    pub fn as_i64(&self) -> Option<i64> {
        Some(match *self {
            FieldValue::I8(v) => v.into(),
            FieldValue::U8(v) => v.into(),
            FieldValue::I16(v) => v.into(),
            FieldValue::U16(v) => v.into(),
            FieldValue::I32(v) => v.into(),
            FieldValue::U32(v) => v.into(),
            FieldValue::I64(v) => v,
            FieldValue::U64(v) => i64::try_from(v).ok()?,
            _ => return None,
        })
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<FieldValue, DecodeError> {
        let v = FieldValue::read(r, 0);
        r.result(v)
    }

    /// Decodes with the reader's sticky reads (on failure: a placeholder, the error kept in
    /// `r`). `depth` counts the tables and arrays around this value.
    fn read(r: &mut Reader<'_>, depth: usize) -> FieldValue {
        const VALUE: &str = "field value";
        // A failed tag read gives 0, refused below as an unknown type, which keeps the first
        // failure (the truncation).
        match r.take_u8("field value: type tag") {
            b't' => FieldValue::Bool(r.take_u8(VALUE) != 0),
            b'b' => FieldValue::I8(r.take_u8(VALUE) as i8),
            b'B' => FieldValue::U8(r.take_u8(VALUE)),
            b's' => FieldValue::I16(r.take_u16(VALUE) as i16),
            b'u' => FieldValue::U16(r.take_u16(VALUE)),
            b'I' => FieldValue::I32(r.take_u32(VALUE) as i32),
            b'i' => FieldValue::U32(r.take_u32(VALUE)),
            b'l' => FieldValue::I64(r.take_u64(VALUE) as i64),
            b'L' => FieldValue::U64(r.take_u64(VALUE)),
            b'f' => FieldValue::F32(f32::from_bits(r.take_u32(VALUE))),
            b'd' => FieldValue::F64(f64::from_bits(r.take_u64(VALUE))),
            b'D' => {
                let scale = r.take_u8(VALUE);
                FieldValue::Decimal {
                    scale,
                    value: r.take_u32(VALUE) as i32,
                }
            }
            b'S' => FieldValue::LongString(r.take_long_str(VALUE)),
            b'x' => FieldValue::ByteArray(r.take_long_str(VALUE)),
            b'A' => {
                if depth >= MAX_NESTING {
                    r.fail(DecodeError::NestingTooDeep);
                    return FieldValue::Void;
                }
                let n = r.take_u32("field array: length") as usize;
                let mut inner = r.take_sub(n, "field array");
                let mut items = Vec::new();
                while inner.remaining() > 0 {
                    items.push(FieldValue::read(&mut inner, depth + 1));
                }
                r.absorb(inner);
                FieldValue::Array(items)
            }
            b'T' => FieldValue::Timestamp(r.take_u64(VALUE)),
            b'F' => FieldValue::Table(FieldTable::read(r, depth)),
            b'V' => FieldValue::Void,
            other => {
                r.fail(DecodeError::UnknownFieldType(other));
                FieldValue::Void
            }
        }
    }

    /// Appends tag and value; on error nothing is written.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        all_or_nothing(out, |out| self.encode_into(out))
    }

    /// Like [`FieldValue::encode`], but may leave a partial value behind on error.
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            FieldValue::Bool(v) => out.extend_from_slice(&[b't', *v as u8]),
            FieldValue::I8(v) => out.extend_from_slice(&[b'b', *v as u8]),
            FieldValue::U8(v) => out.extend_from_slice(&[b'B', *v]),
            FieldValue::I16(v) => {
                out.push(b's');
                put_u16(out, *v as u16)
            }
            FieldValue::U16(v) => {
                out.push(b'u');
                put_u16(out, *v)
            }
            FieldValue::I32(v) => {
                out.push(b'I');
                put_u32(out, *v as u32)
            }
            FieldValue::U32(v) => {
                out.push(b'i');
                put_u32(out, *v)
            }
            FieldValue::I64(v) => {
                out.push(b'l');
                put_u64(out, *v as u64)
            }
            FieldValue::U64(v) => {
                let v = i64::try_from(*v).map_err(|_| {
                    EncodeError::Unrepresentable("unsigned 64-bit integer above i64::MAX")
                })?;
                out.push(b'l');
                put_u64(out, v as u64)
            }
            FieldValue::F32(v) => {
                out.push(b'f');
                out.extend_from_slice(&v.to_be_bytes())
            }
            FieldValue::F64(v) => {
                out.push(b'd');
                out.extend_from_slice(&v.to_be_bytes())
            }
            FieldValue::Decimal { scale, value } => {
                out.extend_from_slice(&[b'D', *scale]);
                put_u32(out, *value as u32)
            }
            FieldValue::LongString(b) => {
                out.push(b'S');
                put_long_str(out, "field value", b)?
            }
            FieldValue::ByteArray(b) => {
                out.push(b'x');
                put_long_str(out, "field value", b)?
            }
            FieldValue::Array(items) => {
                out.push(b'A');
                let at = out.len();
                put_u32(out, 0);
                for item in items {
                    item.encode_into(out)?;
                }
                patch_len(out, at, "field array")?
            }
            FieldValue::Timestamp(v) => {
                out.push(b'T');
                put_u64(out, *v)
            }
            FieldValue::Table(t) => {
                out.push(b'F');
                t.encode_into(out)?
            }
            FieldValue::Void => out.push(b'V'),
        }
        Ok(())
    }
}

/// An ordered field table. Order is kept so that a decoded table re-encodes to the same bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldTable(pub Vec<(String, FieldValue)>);

impl FieldTable {
    pub fn new() -> Self {
        FieldTable(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn get(&self, key: &str) -> Option<&FieldValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key`, replacing an existing entry in place.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<FieldValue>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Builder form of [`FieldTable::insert`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<FieldValue>) -> Self {
        self.insert(key, value);
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<FieldTable, DecodeError> {
        let t = FieldTable::read(r, 0);
        r.result(t)
    }

    /// Decodes with the reader's sticky reads (see [`FieldValue::read`]). `depth` counts the
    /// tables and arrays around this table.
    pub(crate) fn read(r: &mut Reader<'_>, depth: usize) -> FieldTable {
        if depth >= MAX_NESTING {
            r.fail(DecodeError::NestingTooDeep);
            return FieldTable::new();
        }
        let n = r.take_u32("field table: length") as usize;
        let mut inner = r.take_sub(n, "field table");
        let mut entries = Vec::new();
        while inner.remaining() > 0 {
            let key = inner.take_short_string("field table: key");
            let value = FieldValue::read(&mut inner, depth + 1);
            entries.push((key, value));
        }
        r.absorb(inner);
        FieldTable(entries)
    }

    /// Appends the length-prefixed table; on error nothing is written.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        all_or_nothing(out, |out| self.encode_into(out))
    }

    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let at = out.len();
        put_u32(out, 0);
        for (k, v) in &self.0 {
            put_short_str(out, "field table key", k)?;
            v.encode_into(out)?;
        }
        patch_len(out, at, "field table")
    }
}

impl<K: Into<String>, V: Into<FieldValue>> FromIterator<(K, V)> for FieldTable {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let mut t = FieldTable::new();
        for (k, v) in iter {
            t.insert(k, v);
        }
        t
    }
}
