//! Proptest strategies for the codec tests: short and long strings, field values and tables,
//! basic properties, and (generated from the spec) every method.
//!
//! The strategies only produce values that survive an encode/decode round trip *exactly*: no
//! `FieldValue::U64` (it goes out as `l` and comes back as `I64`) and no NaN floats (NaN != NaN).
//! [`field_value_with_u64`] adds `U64` values that fit in an i64, for the test of that conversion;
//! [`normalized`] says what such a value decodes to.
//!
//! The public strategies are boxed: unboxed, their nested value trees make stack frames of hundreds
//! of KiB in debug builds and overflow the 2 MiB test-thread stack.
#![allow(dead_code)]

pub mod method_strategy;

use bytes::Bytes;
use proptest::prelude::*;
use warren::protocol::{BasicProperties, FieldTable, FieldValue, ShortStr};

/// One character, mostly ASCII, sometimes 2-, 3- and 4-byte UTF-8.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::range('a', 'z'),
        2 => proptest::char::range(' ', '~'),
        1 => prop_oneof![Just('é'), Just('ß'), Just('€'), Just('語'), Just('🐇'), Just('\u{0}')],
        1 => any::<char>(),
    ]
}

/// Keeps whole characters from the front of `chars` while the UTF-8 length stays within `max` bytes.
fn take_bytes(chars: Vec<char>, max: usize) -> String {
    let mut s = String::new();
    for c in chars {
        if s.len() + c.len_utf8() > max {
            break;
        }
        s.push(c);
    }
    s
}

/// A string of at most 255 UTF-8 *bytes* (not chars), including non-ASCII text and the 255-byte edge.
pub fn short_str() -> BoxedStrategy<String> {
    prop_oneof![
        8 => proptest::collection::vec(any_char(), 0..40).prop_map(|c| take_bytes(c, 255)),
        2 => proptest::collection::vec(any_char(), 0..=255).prop_map(|c| take_bytes(c, 255)),
        // Exactly at the limit: 255 one-byte chars, and 253 + a two-byte char.
        1 => Just("a".repeat(255)),
        1 => Just(format!("{}é", "b".repeat(253))),
        1 => Just(String::new()),
    ]
    .boxed()
}

/// Arbitrary bytes (not necessarily UTF-8), 0..300 long.
pub fn long_str() -> BoxedStrategy<Bytes> {
    proptest::collection::vec(any::<u8>(), 0..300)
        .prop_map(Bytes::from)
        .boxed()
}

/// Field-table keys: mostly short identifiers, sometimes any short string.
fn key() -> BoxedStrategy<String> {
    prop_oneof![4 => "[a-z_.-]{0,16}", 1 => short_str()].boxed()
}

/// Any f32 but NaN (infinities, zeros, subnormals included).
fn float32() -> impl Strategy<Value = f32> {
    any::<f32>().prop_filter("NaN is not equal to itself", |v| !v.is_nan())
}

fn float64() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("NaN is not equal to itself", |v| !v.is_nan())
}

/// Every scalar variant that round-trips exactly.
fn leaf() -> BoxedStrategy<FieldValue> {
    prop_oneof![
        any::<bool>().prop_map(FieldValue::Bool),
        any::<i8>().prop_map(FieldValue::I8),
        any::<u8>().prop_map(FieldValue::U8),
        any::<i16>().prop_map(FieldValue::I16),
        any::<u16>().prop_map(FieldValue::U16),
        any::<i32>().prop_map(FieldValue::I32),
        any::<u32>().prop_map(FieldValue::U32),
        any::<i64>().prop_map(FieldValue::I64),
        float32().prop_map(FieldValue::F32),
        float64().prop_map(FieldValue::F64),
        (any::<u8>(), any::<i32>()).prop_map(|(scale, value)| FieldValue::Decimal { scale, value }),
        long_str().prop_map(FieldValue::LongString),
        long_str().prop_map(FieldValue::ByteArray),
        any::<u64>().prop_map(FieldValue::Timestamp),
        Just(FieldValue::Void),
    ]
    .boxed()
}

/// A table with unique keys (first occurrence wins) whose values come from `value`.
fn table_of(
    value: impl Strategy<Value = FieldValue>,
    max_len: usize,
) -> impl Strategy<Value = FieldTable> {
    proptest::collection::vec((key(), value), 0..max_len).prop_map(|entries| {
        let mut t = FieldTable::new();
        for (k, v) in entries {
            if t.get(&k).is_none() {
                t.0.push((k, v));
            }
        }
        t
    })
}

fn nested(leaf: BoxedStrategy<FieldValue>) -> BoxedStrategy<FieldValue> {
    leaf.prop_recursive(3, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(FieldValue::Array),
            table_of(inner, 6).prop_map(FieldValue::Table),
        ]
    })
    .boxed()
}

/// Any field value, nested arrays and tables included, that decodes back to itself.
pub fn field_value() -> BoxedStrategy<FieldValue> {
    nested(leaf())
}

/// A field table with unique short-string keys and arbitrary (nested) values.
pub fn field_table() -> BoxedStrategy<FieldTable> {
    table_of(field_value(), 8).boxed()
}

/// Like [`field_value`] but with `U64` values ≤ i64::MAX mixed in; compare with [`normalized`].
pub fn field_value_with_u64() -> BoxedStrategy<FieldValue> {
    let leaf = prop_oneof![
        3 => leaf(),
        1 => (0..=i64::MAX as u64).prop_map(FieldValue::U64),
    ]
    .boxed();
    nested(leaf)
}

/// What `v` decodes to after encoding: `U64` comes back as `I64` (it is written with tag `l`).
pub fn normalized(v: &FieldValue) -> FieldValue {
    match v {
        FieldValue::U64(n) => FieldValue::I64(i64::try_from(*n).expect("U64 above i64::MAX")),
        FieldValue::Array(items) => FieldValue::Array(items.iter().map(normalized).collect()),
        FieldValue::Table(t) => FieldValue::Table(normalized_table(t)),
        other => other.clone(),
    }
}

pub fn normalized_table(t: &FieldTable) -> FieldTable {
    FieldTable(
        t.0.iter()
            .map(|(k, v)| (k.clone(), normalized(v)))
            .collect(),
    )
}

/// All 14 basic properties, each independently present or absent.
pub fn properties() -> BoxedStrategy<BasicProperties> {
    let short_str = || short_str().prop_map(ShortStr::from);
    let first = (
        proptest::option::of(short_str()),
        proptest::option::of(short_str()),
        proptest::option::of(table_of(field_value(), 4)),
        proptest::option::of(any::<u8>()),
        proptest::option::of(any::<u8>()),
        proptest::option::of(short_str()),
        proptest::option::of(short_str()),
    );
    let second = (
        proptest::option::of(short_str()),
        proptest::option::of(short_str()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(short_str()),
        proptest::option::of(short_str()),
        proptest::option::of(short_str()),
        proptest::option::of(short_str()),
    );
    (first, second)
        .prop_map(
            |(
                (
                    content_type,
                    content_encoding,
                    headers,
                    delivery_mode,
                    priority,
                    correlation_id,
                    reply_to,
                ),
                (expiration, message_id, timestamp, kind, user_id, app_id, cluster_id),
            )| BasicProperties {
                content_type,
                content_encoding,
                headers,
                delivery_mode,
                priority,
                correlation_id,
                reply_to,
                expiration,
                message_id,
                timestamp,
                kind,
                user_id,
                app_id,
                cluster_id,
            },
        )
        .boxed()
}
