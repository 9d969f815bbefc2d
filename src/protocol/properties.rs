//! The content header and the 14 basic properties.

use super::codec::{
    all_or_nothing, put_shortstr, put_u16, put_u64, put_u8, DecodeError, EncodeError, Reader,
};
use super::shortstr::ShortStr;
use super::table::FieldTable;

/// Properties of a message (class basic). `None` fields are absent from the wire.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BasicProperties {
    pub content_type: Option<ShortStr>,
    pub content_encoding: Option<ShortStr>,
    pub headers: Option<FieldTable>,
    /// 1 = transient, 2 = persistent.
    pub delivery_mode: Option<u8>,
    pub priority: Option<u8>,
    pub correlation_id: Option<ShortStr>,
    pub reply_to: Option<ShortStr>,
    pub expiration: Option<ShortStr>,
    pub message_id: Option<ShortStr>,
    /// Seconds since the Unix epoch.
    pub timestamp: Option<u64>,
    pub kind: Option<ShortStr>,
    pub user_id: Option<ShortStr>,
    pub app_id: Option<ShortStr>,
    pub cluster_id: Option<ShortStr>,
}

/// Flag bits, most significant first, in wire order.
mod flag {
    pub const CONTENT_TYPE: u16 = 1 << 15;
    pub const CONTENT_ENCODING: u16 = 1 << 14;
    pub const HEADERS: u16 = 1 << 13;
    pub const DELIVERY_MODE: u16 = 1 << 12;
    pub const PRIORITY: u16 = 1 << 11;
    pub const CORRELATION_ID: u16 = 1 << 10;
    pub const REPLY_TO: u16 = 1 << 9;
    pub const EXPIRATION: u16 = 1 << 8;
    pub const MESSAGE_ID: u16 = 1 << 7;
    pub const TIMESTAMP: u16 = 1 << 6;
    pub const TYPE: u16 = 1 << 5;
    pub const USER_ID: u16 = 1 << 4;
    pub const APP_ID: u16 = 1 << 3;
    pub const CLUSTER_ID: u16 = 1 << 2;
    /// Bit 0 would announce a second flag word; basic has only 14 properties.
    pub const UNUSED: u16 = 0b11;
}

impl BasicProperties {
    pub fn with_content_type(mut self, v: impl Into<ShortStr>) -> Self {
        self.content_type = Some(v.into());
        self
    }
    pub fn with_headers(mut self, v: FieldTable) -> Self {
        self.headers = Some(v);
        self
    }
    pub fn with_delivery_mode(mut self, v: u8) -> Self {
        self.delivery_mode = Some(v);
        self
    }
    pub fn with_correlation_id(mut self, v: impl Into<ShortStr>) -> Self {
        self.correlation_id = Some(v.into());
        self
    }
    pub fn with_reply_to(mut self, v: impl Into<ShortStr>) -> Self {
        self.reply_to = Some(v.into());
        self
    }

    pub fn flags(&self) -> u16 {
        let bit = |present: bool, f: u16| if present { f } else { 0 };
        bit(self.content_type.is_some(), flag::CONTENT_TYPE)
            | bit(self.content_encoding.is_some(), flag::CONTENT_ENCODING)
            | bit(self.headers.is_some(), flag::HEADERS)
            | bit(self.delivery_mode.is_some(), flag::DELIVERY_MODE)
            | bit(self.priority.is_some(), flag::PRIORITY)
            | bit(self.correlation_id.is_some(), flag::CORRELATION_ID)
            | bit(self.reply_to.is_some(), flag::REPLY_TO)
            | bit(self.expiration.is_some(), flag::EXPIRATION)
            | bit(self.message_id.is_some(), flag::MESSAGE_ID)
            | bit(self.timestamp.is_some(), flag::TIMESTAMP)
            | bit(self.kind.is_some(), flag::TYPE)
            | bit(self.user_id.is_some(), flag::USER_ID)
            | bit(self.app_id.is_some(), flag::APP_ID)
            | bit(self.cluster_id.is_some(), flag::CLUSTER_ID)
    }

    /// Appends flags and the present properties; on error nothing is written.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        all_or_nothing(out, |out| self.encode_into(out))
    }

    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_u16(out, self.flags());
        let s = |out: &mut Vec<u8>, name, v: &Option<ShortStr>| match v {
            Some(v) => put_shortstr(out, name, v),
            None => Ok(()),
        };
        s(out, "content_type", &self.content_type)?;
        s(out, "content_encoding", &self.content_encoding)?;
        if let Some(h) = &self.headers {
            h.encode(out)?;
        }
        if let Some(v) = self.delivery_mode {
            put_u8(out, v);
        }
        if let Some(v) = self.priority {
            put_u8(out, v);
        }
        s(out, "correlation_id", &self.correlation_id)?;
        s(out, "reply_to", &self.reply_to)?;
        s(out, "expiration", &self.expiration)?;
        s(out, "message_id", &self.message_id)?;
        if let Some(v) = self.timestamp {
            put_u64(out, v);
        }
        s(out, "type", &self.kind)?;
        s(out, "user_id", &self.user_id)?;
        s(out, "app_id", &self.app_id)?;
        s(out, "cluster_id", &self.cluster_id)
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut p = BasicProperties::default();
        p.decode_into(r)?;
        Ok(p)
    }

    /// Decodes flags and properties into `self`, which must be `BasicProperties::default()`
    /// (absent properties are left as they are): a message's properties are decoded where they
    /// live, never moved. On error `self` holds part of the input.
    pub(crate) fn decode_into(&mut self, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        debug_assert!(*self == BasicProperties::default());
        let flags = r.u16("basic properties: flags")?;
        if flags & flag::UNUSED != 0 {
            return Err(DecodeError::BadPropertyFlags(flags));
        }
        // Field by field into place with the sticky reads (straight-line code, the first
        // failure reported at the end): no intermediate values (a string property is 32 bytes).
        let has = |f: u16| flags & f != 0;
        if has(flag::CONTENT_TYPE) {
            r.take_opt_short_str(&mut self.content_type, "basic properties: content_type");
        }
        if has(flag::CONTENT_ENCODING) {
            let what = "basic properties: content_encoding";
            r.take_opt_short_str(&mut self.content_encoding, what);
        }
        if has(flag::HEADERS) {
            self.headers = Some(r.take_table("basic properties: headers"));
        }
        if has(flag::DELIVERY_MODE) {
            self.delivery_mode = Some(r.take_u8("basic properties: delivery_mode"));
        }
        if has(flag::PRIORITY) {
            self.priority = Some(r.take_u8("basic properties: priority"));
        }
        if has(flag::CORRELATION_ID) {
            let what = "basic properties: correlation_id";
            r.take_opt_short_str(&mut self.correlation_id, what);
        }
        if has(flag::REPLY_TO) {
            r.take_opt_short_str(&mut self.reply_to, "basic properties: reply_to");
        }
        if has(flag::EXPIRATION) {
            r.take_opt_short_str(&mut self.expiration, "basic properties: expiration");
        }
        if has(flag::MESSAGE_ID) {
            r.take_opt_short_str(&mut self.message_id, "basic properties: message_id");
        }
        if has(flag::TIMESTAMP) {
            self.timestamp = Some(r.take_u64("basic properties: timestamp"));
        }
        if has(flag::TYPE) {
            r.take_opt_short_str(&mut self.kind, "basic properties: type");
        }
        if has(flag::USER_ID) {
            r.take_opt_short_str(&mut self.user_id, "basic properties: user_id");
        }
        if has(flag::APP_ID) {
            r.take_opt_short_str(&mut self.app_id, "basic properties: app_id");
        }
        if has(flag::CLUSTER_ID) {
            r.take_opt_short_str(&mut self.cluster_id, "basic properties: cluster_id");
        }
        match r.failed() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

/// A content header frame's payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContentHeader {
    pub class_id: u16,
    pub body_size: u64,
    pub properties: BasicProperties,
}

impl ContentHeader {
    /// Appends the header payload; on error nothing is written.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        all_or_nothing(out, |out| {
            put_u16(out, self.class_id);
            put_u16(out, 0); // weight, always 0
            put_u64(out, self.body_size);
            self.properties.encode_into(out)
        })
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut h = ContentHeader {
            class_id: 60,
            ..ContentHeader::default()
        };
        h.body_size = ContentHeader::decode_into(r, &mut h.properties)?;
        Ok(h)
    }

    /// Decodes a whole header payload (class basic, trailing bytes refused) with its properties
    /// decoded into `properties`, a default value ([`BasicProperties::decode_into`]); returns
    /// the body size.
    pub(crate) fn decode_into(
        r: &mut Reader<'_>,
        properties: &mut BasicProperties,
    ) -> Result<u64, DecodeError> {
        let class_id = r.u16("content header: class_id")?;
        if class_id != 60 {
            return Err(DecodeError::UnknownContentClass(class_id));
        }
        let _weight = r.u16("content header: weight")?;
        let body_size = r.u64("content header: body_size")?;
        properties.decode_into(r)?;
        r.finish()?;
        Ok(body_size)
    }
}
