//! Primitive wire types: a bounds-checked cursor for decoding and append helpers for encoding.
//!
//! Every read checks its length first and names what it reads, so truncated input becomes
//! [`DecodeError::Incomplete`] saying what was missing (inside a complete frame this is reported as
//! a malformed frame by the caller), never a panic.

use super::methods::MethodId;
use super::shortstr::ShortStr;
use super::table::FieldTable;
use bytes::Bytes;
use std::fmt;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The payload ended before the value did; names the value, e.g. `"basic.deliver: routing_key"`.
    Incomplete(&'static str),
    /// A frame did not end with the frame-end octet 0xCE.
    BadFrameEnd(u8),
    /// A frame type octet that AMQP 0-9-1 does not define.
    UnknownFrameType(u8),
    /// A (class id, method id) pair not in the spec.
    UnknownMethod(u16, u16),
    /// A method of the spec that the peer does not send: from a server, one only clients send
    /// (or the reverse for a server's decoder). See `MethodId::sent_by_client`.
    UnexpectedMethod(u16, u16),
    /// A content header for a class other than basic.
    UnknownContentClass(u16),
    /// A field-table value tag that is not known.
    UnknownFieldType(u8),
    /// Bytes left over after a method or header payload was fully decoded.
    TrailingBytes(usize),
    /// A frame larger than the negotiated frame_max.
    FrameTooLarge(u32),
    /// A protocol header (`AMQP....`) from the peer: it refused our protocol version.
    ProtocolHeader([u8; 8]),
    /// Property flags with reserved bits set.
    BadPropertyFlags(u16),
    /// Field tables and arrays nested deeper than [`MAX_NESTING`] levels.
    NestingTooDeep,
    /// A heartbeat frame on a channel other than 0 (the spec wants a 501 frame error).
    HeartbeatOnChannel(u16),
}

/// How deeply field tables and arrays may nest in decoded input. Real tables nest a few levels
/// (x-death headers: table → array → table); the limit keeps hostile input from exhausting the stack.
pub const MAX_NESTING: usize = 64;

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Incomplete(what) => write!(f, "{what} truncated"),
            DecodeError::BadFrameEnd(b) => write!(f, "bad frame end octet 0x{b:02x}"),
            DecodeError::UnknownFrameType(t) => write!(f, "unknown frame type {t}"),
            DecodeError::UnknownMethod(c, m) => write!(f, "unknown method {c}.{m}"),
            DecodeError::UnexpectedMethod(c, m) => {
                let id = MethodId {
                    class: *c,
                    method: *m,
                };
                let (name, senders) = match (id.name(), id.sent_by_client()) {
                    (Some(name), true) => (name, "clients"),
                    (Some(name), false) => (name, "servers"),
                    (None, _) => ("method", "no one"),
                };
                write!(f, "{name} ({c}.{m}) is sent only by {senders}")
            }
            DecodeError::UnknownContentClass(c) => {
                write!(f, "content header for unknown class {c}")
            }
            DecodeError::UnknownFieldType(t) => write!(f, "unknown field type 0x{t:02x}"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} trailing bytes after payload"),
            DecodeError::FrameTooLarge(n) => write!(f, "frame of {n} bytes exceeds frame_max"),
            DecodeError::ProtocolHeader(h) => {
                f.write_str("peer refused protocol version, sent ")?;
                f.write_str(&byte_list(h))
            }
            DecodeError::BadPropertyFlags(x) => write!(f, "invalid property flags 0x{x:04x}"),
            DecodeError::NestingTooDeep => {
                write!(f, "field tables nested deeper than {MAX_NESTING} levels")
            }
            DecodeError::HeartbeatOnChannel(ch) => {
                write!(
                    f,
                    "heartbeat frame on channel {ch} (heartbeats belong to channel 0)"
                )
            }
        }
    }
}

impl DecodeError {
    /// Names a truncation inside a compound value (a field table) after the field that holds it;
    /// other errors pass through.
    pub fn in_field(self, field: &'static str) -> DecodeError {
        match self {
            DecodeError::Incomplete(_) => DecodeError::Incomplete(field),
            e => e,
        }
    }
}

impl std::error::Error for DecodeError {}

/// Bytes as `{:?}` writes a byte array or slice (`[65, 77, 0]`), without the `Debug` machinery
/// (only the protocol header texts use it).
pub(crate) fn byte_list(bytes: &[u8]) -> String {
    let mut out = String::from("[");
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if *b >= 100 {
            out.push(char::from(b'0' + b / 100));
        }
        if *b >= 10 {
            out.push(char::from(b'0' + b / 10 % 10));
        }
        out.push(char::from(b'0' + b % 10));
    }
    out.push(']');
    out
}

/// Why a value could not be encoded. Nothing is written when encoding fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A short string longer than 255 bytes; the field name says which one.
    ShortStringTooLong { field: &'static str, len: usize },
    /// A long string or table larger than 4 GiB, or a content header frame larger than frame_max.
    TooLong { field: &'static str, len: usize },
    /// A value RabbitMQ would reject (e.g. an unsigned 64-bit integer above i64::MAX).
    Unrepresentable(&'static str),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::ShortStringTooLong { field, len } => {
                write!(f, "{field} is {len} bytes; short strings hold at most 255")
            }
            EncodeError::TooLong { field, len } => write!(f, "{field} is {len} bytes; too long"),
            EncodeError::Unrepresentable(what) => write!(f, "cannot encode {what}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// A cursor over one complete payload, borrowed: every value is copied out of it. Short strings
/// go into a [`ShortStr`] (inline up to 31 bytes, no allocation), long strings and byte arrays
/// into new `Bytes`. (A message body is the one payload worth sharing, and bodies are not read
/// through a `Reader`: see `FrameDecoder`.)
#[derive(Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The first failure of a `take_*` read.
    failed: Option<DecodeError>,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            failed: None,
        }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The first failed `take_*` read if there was one, else an error unless the whole payload
    /// was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }

    // ----- sticky reads -----
    //
    // `take_*` reads return the value, or on failure a default: the first error is kept for
    // `finish` and the rest of the payload is skipped (so every later read fails too, without
    // replacing it). A decoder of many fields is then straight-line code with one error check at
    // its end (the generated method decoders are), and reports what a read-and-return-on-error
    // decoder would: the first field that failed.

    /// Records `e` (unless a failure is recorded already) and skips the rest of the payload.
    pub fn fail(&mut self, e: DecodeError) {
        if self.failed.is_none() {
            self.failed = Some(e);
        }
        self.pos = self.buf.len();
    }

    fn taken<T: Default>(&mut self, r: Result<T, DecodeError>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => {
                self.fail(e);
                T::default()
            }
        }
    }

    pub fn take_u8(&mut self, what: &'static str) -> u8 {
        let r = self.u8(what);
        self.taken(r)
    }
    pub fn take_u16(&mut self, what: &'static str) -> u16 {
        let r = self.u16(what);
        self.taken(r)
    }
    pub fn take_u32(&mut self, what: &'static str) -> u32 {
        let r = self.u32(what);
        self.taken(r)
    }
    pub fn take_u64(&mut self, what: &'static str) -> u64 {
        let r = self.u64(what);
        self.taken(r)
    }
    pub fn take_long_str(&mut self, what: &'static str) -> Bytes {
        let r = self.long_str(what);
        self.taken(r)
    }

    /// A field table; a truncation inside it is named after the field (`what`).
    pub fn take_table(&mut self, what: &'static str) -> FieldTable {
        if self.failed.is_some() {
            return FieldTable::new();
        }
        let t = FieldTable::read(self, 0);
        if let Some(e) = self.failed.take() {
            self.failed = Some(e.in_field(what));
        }
        t
    }

    /// A present optional short string (a basic property) into `out` (left as it is on failure).
    pub fn take_opt_short_str(&mut self, out: &mut Option<ShortStr>, what: &'static str) {
        let s = out.insert(ShortStr::new());
        self.take_short_str(s, what);
    }

    /// A reader over the next `n` bytes (empty on failure); [`Reader::absorb`] it afterwards.
    pub fn take_sub(&mut self, n: usize, what: &'static str) -> Reader<'a> {
        match self.sub(n, what) {
            Ok(r) => r,
            Err(e) => {
                self.fail(e);
                Reader::new(&[])
            }
        }
    }

    /// Takes over the failure of a reader made by [`Reader::take_sub`].
    pub fn absorb(&mut self, inner: Reader<'_>) {
        if let Some(e) = inner.failed {
            self.fail(e);
        }
    }

    /// A short string as a `String` (field-table keys), empty on failure.
    pub fn take_short_string(&mut self, what: &'static str) -> String {
        let r = self.short_string(what);
        self.taken(r)
    }

    /// `v`, or the failure of a `take_*` read.
    pub fn result<T>(&self, v: T) -> Result<T, DecodeError> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(v),
        }
    }

    /// The failure of a `take_*` read, if one failed.
    pub fn failed(&self) -> Option<&DecodeError> {
        self.failed.as_ref()
    }

    /// A short string into `out` (left as it is on failure).
    pub fn take_short_str(&mut self, out: &mut ShortStr, what: &'static str) {
        if let Err(e) = self.short_str_into(out, what) {
            self.fail(e)
        }
    }

    /// The next `n` bytes, borrowed; `what` names them in the error when fewer remain.
    pub fn slice(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Incomplete(what));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// `n` bytes, copied.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<Bytes, DecodeError> {
        Ok(Bytes::copy_from_slice(self.slice(n, what)?))
    }

    /// A reader over the next `n` bytes (a field table's or array's contents).
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, DecodeError> {
        Ok(Reader::new(self.slice(n, what)?))
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let end = self.pos + N;
        let slice = self
            .buf
            .get(self.pos..end)
            .ok_or(DecodeError::Incomplete(what))?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        self.pos = end;
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }
    pub fn f32(&mut self, what: &'static str) -> Result<f32, DecodeError> {
        Ok(f32::from_be_bytes(self.array(what)?))
    }
    pub fn f64(&mut self, what: &'static str) -> Result<f64, DecodeError> {
        Ok(f64::from_be_bytes(self.array(what)?))
    }

    /// A short string. Invalid UTF-8 is replaced (U+FFFD) rather than failing the whole frame;
    /// field-table strings keep their raw bytes instead (see `table`).
    pub fn short_str(&mut self, what: &'static str) -> Result<ShortStr, DecodeError> {
        let n = self.u8(what)? as usize;
        Ok(ShortStr::from_utf8_lossy(self.slice(n, what)?))
    }

    /// [`Reader::short_str`] written to `out` (the generated decoders fill their structs so).
    pub fn short_str_into(
        &mut self,
        out: &mut ShortStr,
        what: &'static str,
    ) -> Result<(), DecodeError> {
        let n = self.u8(what)? as usize;
        out.set_utf8_lossy(self.slice(n, what)?);
        Ok(())
    }

    /// A short string as a `String` (field-table keys), invalid UTF-8 replaced the same way.
    pub fn short_string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let n = self.u8(what)? as usize;
        Ok(String::from_utf8_lossy(self.slice(n, what)?).into_owned())
    }

    pub fn long_str(&mut self, what: &'static str) -> Result<Bytes, DecodeError> {
        let n = self.u32(what)? as usize;
        self.bytes(n, what)
    }
}

pub fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}
pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub fn put_short_str(out: &mut Vec<u8>, field: &'static str, s: &str) -> Result<(), EncodeError> {
    let len = s.len();
    if len > 255 {
        return Err(EncodeError::ShortStringTooLong { field, len });
    }
    out.push(len as u8);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// [`put_short_str`] of a [`ShortStr`] (one copy of the code that reads one, not one per field).
pub fn put_shortstr(
    out: &mut Vec<u8>,
    field: &'static str,
    s: &ShortStr,
) -> Result<(), EncodeError> {
    put_short_str(out, field, s.as_str())
}

pub fn put_long_str(out: &mut Vec<u8>, field: &'static str, s: &[u8]) -> Result<(), EncodeError> {
    let len = u32::try_from(s.len()).map_err(|_| EncodeError::TooLong {
        field,
        len: s.len(),
    })?;
    put_u32(out, len);
    out.extend_from_slice(s);
    Ok(())
}

/// Appends strings and tables, keeping the first failure for [`Puts::finish`] (what follows a
/// failure is written anyway; callers truncate). The generated method encoders use it: one
/// error check per method instead of one per field.
pub struct Puts<'a> {
    pub out: &'a mut Vec<u8>,
    failed: Option<EncodeError>,
}

impl<'a> Puts<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Puts { out, failed: None }
    }

    fn keep(&mut self, r: Result<(), EncodeError>) {
        if let (Err(e), None) = (r, &self.failed) {
            self.failed = Some(e);
        }
    }

    pub fn short_str(&mut self, field: &'static str, s: &ShortStr) {
        let r = put_shortstr(self.out, field, s);
        self.keep(r)
    }

    pub fn long_str(&mut self, field: &'static str, s: &[u8]) {
        let r = put_long_str(self.out, field, s);
        self.keep(r)
    }

    pub fn table(&mut self, t: &FieldTable) {
        let r = t.encode(self.out);
        self.keep(r)
    }

    pub fn finish(self) -> Result<(), EncodeError> {
        match self.failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Runs `f`, then truncates `out` back to its previous length if `f` failed, so a failed encode
/// writes nothing.
pub fn all_or_nothing(
    out: &mut Vec<u8>,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let res = f(out);
    if res.is_err() {
        out.truncate(start);
    }
    res
}

/// Overwrites a big-endian u32 placeholder written earlier at `at` with the length of what followed it.
pub fn patch_len(out: &mut [u8], at: usize, field: &'static str) -> Result<(), EncodeError> {
    let len = out.len() - at - 4;
    let len32 = u32::try_from(len).map_err(|_| EncodeError::TooLong { field, len })?;
    out[at..at + 4].copy_from_slice(&len32.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn byte_list_is_debug() {
        let h = *b"AMQP\x00\x00\x09\x01";
        assert_eq!(super::byte_list(&h), format!("{h:?}"));
        assert_eq!(super::byte_list(&h[4..]), format!("{:?}", &h[4..]));
        assert_eq!(super::byte_list(&[]), "[]");
        assert_eq!(
            super::byte_list(&[255, 100, 99, 10, 9]),
            "[255, 100, 99, 10, 9]"
        );
    }
}
