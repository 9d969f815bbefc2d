//! [`ShortStr`]: an AMQP short string (at most 255 bytes of UTF-8 on the wire) that decodes
//! without allocating.
//!
//! Up to 31 bytes are stored inline: a delivery's consumer tag (RabbitMQ's `amq.ctag-…` are 31
//! bytes), exchange and routing key, a declare-ok's server-named queue, and most string
//! properties cost a copy into the value, no heap allocation and no reference count. Longer text
//! goes to a shared `Arc<str>` (one allocation; clones share it). The value is 32 bytes, like `Bytes` and a little more
//! than `String`'s 24, and `Option<ShortStr>` is 32 bytes too.
//!
//! Why not slices of the frame payload (`Bytes`): a slice is a reference count taken at decode
//! and dropped with the value, two atomic operations per field, and on the 2-core machines
//! warren is benchmarked on an atomic read-modify-write costs ~20 ns, more than a small
//! allocation: decoding a delivery got slower, not faster (see the commit message).

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// Immutable UTF-8 text, cheap to build from decoded bytes and to clone. Reads like a `&str`
/// (`Deref`, `as_str`, comparisons with `str` and `String`, `Display`); `String::from(s)` copies
/// it out.
///
/// The length is not limited here: encoding a short string over 255 bytes fails with
/// [`EncodeError::ShortStringTooLong`](super::EncodeError::ShortStringTooLong), as for any value.
#[derive(Clone)]
pub struct ShortStr(Repr);

#[derive(Clone)]
enum Repr {
    Inline(Inline),
    Heap(Arc<str>),
}

/// Up to [`INLINE`] bytes of text. `repr(C)` puts `len` first, where its unused values (32..=255)
/// hold the tag of the other variants: `Repr` stays 32 bytes.
#[derive(Clone, Copy)]
#[repr(C)]
struct Inline {
    len: Len,
    /// Always the UTF-8 of a whole `str` in `buf[..len]`; what follows is unspecified (zeros,
    /// or the tail of a longer text this value held before).
    buf: [u8; INLINE],
}

/// The most bytes stored inline.
const INLINE: usize = 31;

/// An inline length, 0..=31; the other 224 values of the byte are a niche for `Repr`'s tag.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[rustfmt::skip]
enum Len {
    L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15,
    L16, L17, L18, L19, L20, L21, L22, L23, L24, L25, L26, L27, L28, L29, L30, L31,
}

#[rustfmt::skip]
const LENS: [Len; INLINE + 1] = [
    Len::L0, Len::L1, Len::L2, Len::L3, Len::L4, Len::L5, Len::L6, Len::L7, Len::L8, Len::L9,
    Len::L10, Len::L11, Len::L12, Len::L13, Len::L14, Len::L15, Len::L16, Len::L17, Len::L18,
    Len::L19, Len::L20, Len::L21, Len::L22, Len::L23, Len::L24, Len::L25, Len::L26, Len::L27,
    Len::L28, Len::L29, Len::L30, Len::L31,
];

const _: () = assert!(std::mem::size_of::<ShortStr>() == 32);
const _: () = assert!(std::mem::size_of::<Option<ShortStr>>() == 32);

impl ShortStr {
    /// The empty string.
    pub const fn new() -> ShortStr {
        ShortStr(Repr::Inline(Inline {
            len: Len::L0,
            buf: [0; INLINE],
        }))
    }

    /// The text of `bytes` (copied), if they are UTF-8.
    pub fn from_utf8(bytes: &[u8]) -> Result<ShortStr, std::str::Utf8Error> {
        std::str::from_utf8(bytes).map(ShortStr::from)
    }

    /// The text of `bytes`, each invalid UTF-8 sequence replaced by U+FFFD (what the decoder
    /// does with a peer's invalid short strings).
    pub fn from_utf8_lossy(bytes: &[u8]) -> ShortStr {
        let mut s = ShortStr::new();
        s.set_utf8_lossy(bytes);
        s
    }

    /// [`ShortStr::from_utf8_lossy`] over `self`, in place: how the decoder fills a field.
    /// Short text that is ASCII (checked on the source, a word at a time) or valid UTF-8 is
    /// copied straight into the inline buffer when `self` is inline already (a default value
    /// is): no temporary value, no allocation.
    pub fn set_utf8_lossy(&mut self, bytes: &[u8]) {
        if let (Some(&len), Repr::Inline(i)) = (LENS.get(bytes.len()), &mut self.0) {
            if bytes.is_ascii() || std::str::from_utf8(bytes).is_ok() {
                i.buf[..bytes.len()].copy_from_slice(bytes);
                i.len = len;
                return;
            }
        }
        *self = match std::str::from_utf8(bytes) {
            Ok(s) => ShortStr::from(s),
            Err(_) => ShortStr::from(String::from_utf8_lossy(bytes).into_owned()),
        };
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline(i) => {
                let bytes = &i.buf[..i.len as usize];
                debug_assert!(std::str::from_utf8(bytes).is_ok());
                // SAFETY: `Inline` is private; `ShortStr::from(&str)` and `set_utf8_lossy` are
                // the only writers, and both copy a whole `str` (or bytes they checked are
                // UTF-8) into `buf[..len]`, setting `len` with it.
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            Repr::Heap(s) => s,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl Default for ShortStr {
    fn default() -> Self {
        ShortStr::new()
    }
}

impl Deref for ShortStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ShortStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for ShortStr {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<str> for ShortStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for ShortStr {
    fn eq(&self, other: &ShortStr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ShortStr {}

impl PartialOrd for ShortStr {
    fn partial_cmp(&self, other: &ShortStr) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ShortStr {
    fn cmp(&self, other: &ShortStr) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// Hashes as the `str` it holds (so `Borrow<str>` lookups in maps work).
impl Hash for ShortStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl std::fmt::Debug for ShortStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for ShortStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ShortStr {
    fn from(s: &str) -> Self {
        match LENS.get(s.len()) {
            Some(&len) => ShortStr(Repr::Inline(Inline {
                len,
                buf: inline_copy(s.as_bytes()),
            })),
            None => ShortStr(Repr::Heap(Arc::from(s))),
        }
    }
}

/// `src` (at most [`INLINE`] bytes) at the start of a zeroed buffer.
#[inline]
fn inline_copy(src: &[u8]) -> [u8; INLINE] {
    let mut buf = [0u8; INLINE];
    buf[..src.len()].copy_from_slice(src);
    buf
}

impl From<&String> for ShortStr {
    fn from(s: &String) -> Self {
        ShortStr::from(s.as_str())
    }
}

impl From<String> for ShortStr {
    fn from(s: String) -> Self {
        ShortStr::from(s.as_str())
    }
}

impl From<Box<str>> for ShortStr {
    fn from(s: Box<str>) -> Self {
        ShortStr::from(&*s)
    }
}

impl From<std::borrow::Cow<'_, str>> for ShortStr {
    fn from(s: std::borrow::Cow<'_, str>) -> Self {
        ShortStr::from(&*s)
    }
}

impl From<&ShortStr> for ShortStr {
    fn from(s: &ShortStr) -> Self {
        s.clone()
    }
}

impl From<ShortStr> for String {
    fn from(s: ShortStr) -> Self {
        s.as_str().to_owned()
    }
}

impl From<&ShortStr> for String {
    fn from(s: &ShortStr) -> Self {
        s.as_str().to_owned()
    }
}

impl PartialEq<str> for ShortStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ShortStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for ShortStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<ShortStr> for str {
    fn eq(&self, other: &ShortStr) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<ShortStr> for &str {
    fn eq(&self, other: &ShortStr) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<ShortStr> for String {
    fn eq(&self, other: &ShortStr) -> bool {
        self.as_str() == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn reads_like_a_str() {
        let s = ShortStr::from("amq.ctag-1");
        assert_eq!(s, "amq.ctag-1");
        assert_eq!("amq.ctag-1", s);
        assert_eq!(s, String::from("amq.ctag-1"));
        assert!(s.starts_with("amq."));
        assert_eq!(s.len(), 10);
        assert_eq!(format!("{s} {s:?}"), "amq.ctag-1 \"amq.ctag-1\"");
        assert_eq!(String::from(s.clone()), "amq.ctag-1");
        let mut m = HashMap::new();
        m.insert(s, 1);
        assert_eq!(m.get("amq.ctag-1"), Some(&1));
        assert_eq!(ShortStr::new(), ShortStr::from(""));
        assert!(ShortStr::default().is_empty());
    }

    /// Inline up to 31 bytes, shared beyond; equal text is equal whatever holds it.
    #[test]
    fn every_length_and_representation() {
        let text: String = "aé€🐇".chars().cycle().take(200).collect();
        for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            let t = &text[..end];
            let s = ShortStr::from(t);
            assert_eq!(s.as_str(), t);
            assert_eq!(
                matches!(s.0, Repr::Inline(_)),
                t.len() <= INLINE,
                "{}",
                t.len()
            );
            assert_eq!(s.clone(), s);
            assert_eq!(ShortStr::from(t.to_owned()), s);
            assert_eq!(ShortStr::from_utf8(t.as_bytes()).unwrap(), s);
        }
        let tag = "amq.ctag-0KbdKxZ1n4yDFqPo7pHCpg";
        assert!(matches!(ShortStr::from(tag).0, Repr::Inline(_)));
        let (a, b) = (ShortStr::from("a"), ShortStr::from("b".to_owned()));
        assert!(b > a);
    }

    #[test]
    fn invalid_utf8_is_checked() {
        assert!(ShortStr::from_utf8(b"a\xFFb").is_err());
        assert_eq!(ShortStr::from_utf8_lossy(b"a\xFFb"), "a\u{FFFD}b");
    }
}
