//! The content header and the 14 basic properties.

use super::codec::{
    all_or_nothing, put_short_str, put_u16, put_u64, put_u8, DecodeError, EncodeError, Reader,
};
use super::table::FieldTable;

/// Properties of a message (class basic). `None` fields are absent from the wire.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BasicProperties {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub headers: Option<FieldTable>,
    /// 1 = transient, 2 = persistent.
    pub delivery_mode: Option<u8>,
    pub priority: Option<u8>,
    pub correlation_id: Option<String>,
    pub reply_to: Option<String>,
    pub expiration: Option<String>,
    pub message_id: Option<String>,
    /// Seconds since the Unix epoch.
    pub timestamp: Option<u64>,
    pub kind: Option<String>,
    pub user_id: Option<String>,
    pub app_id: Option<String>,
    pub cluster_id: Option<String>,
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
    pub fn with_content_type(mut self, v: impl Into<String>) -> Self {
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
    pub fn with_correlation_id(mut self, v: impl Into<String>) -> Self {
        self.correlation_id = Some(v.into());
        self
    }
    pub fn with_reply_to(mut self, v: impl Into<String>) -> Self {
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
        let s = |out: &mut Vec<u8>, name, v: &Option<String>| match v {
            Some(v) => put_short_str(out, name, v),
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

    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let flags = r.u16("basic properties: flags")?;
        if flags & flag::UNUSED != 0 {
            return Err(DecodeError::BadPropertyFlags(flags));
        }
        let has = |f: u16| flags & f != 0;
        let mut p = BasicProperties::default();
        let s = |r: &mut Reader, f: u16, what| -> Result<Option<String>, DecodeError> {
            if has(f) {
                r.short_str(what).map(Some)
            } else {
                Ok(None)
            }
        };
        p.content_type = s(r, flag::CONTENT_TYPE, "basic properties: content_type")?;
        p.content_encoding = s(
            r,
            flag::CONTENT_ENCODING,
            "basic properties: content_encoding",
        )?;
        if has(flag::HEADERS) {
            p.headers =
                Some(FieldTable::decode(r).map_err(|e| e.in_field("basic properties: headers"))?);
        }
        if has(flag::DELIVERY_MODE) {
            p.delivery_mode = Some(r.u8("basic properties: delivery_mode")?);
        }
        if has(flag::PRIORITY) {
            p.priority = Some(r.u8("basic properties: priority")?);
        }
        p.correlation_id = s(r, flag::CORRELATION_ID, "basic properties: correlation_id")?;
        p.reply_to = s(r, flag::REPLY_TO, "basic properties: reply_to")?;
        p.expiration = s(r, flag::EXPIRATION, "basic properties: expiration")?;
        p.message_id = s(r, flag::MESSAGE_ID, "basic properties: message_id")?;
        if has(flag::TIMESTAMP) {
            p.timestamp = Some(r.u64("basic properties: timestamp")?);
        }
        p.kind = s(r, flag::TYPE, "basic properties: type")?;
        p.user_id = s(r, flag::USER_ID, "basic properties: user_id")?;
        p.app_id = s(r, flag::APP_ID, "basic properties: app_id")?;
        p.cluster_id = s(r, flag::CLUSTER_ID, "basic properties: cluster_id")?;
        Ok(p)
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

    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let class_id = r.u16("content header: class_id")?;
        if class_id != 60 {
            return Err(DecodeError::UnknownContentClass(class_id));
        }
        let _weight = r.u16("content header: weight")?;
        let body_size = r.u64("content header: body_size")?;
        let properties = BasicProperties::decode(r)?;
        r.finish()?;
        Ok(ContentHeader {
            class_id,
            body_size,
            properties,
        })
    }
}
