//! Frames: the wire unit. A streaming decoder that accepts input split or coalesced anywhere,
//! and encoders that append to one output buffer so frames produced together go out together.

use super::codec::{put_short_str, put_u16, put_u32, DecodeError, EncodeError, Reader};
use super::methods::Method;
use super::properties::{BasicProperties, ContentHeader};
use bytes::{Buf, Bytes, BytesMut};

pub const FRAME_METHOD: u8 = 1;
pub const FRAME_HEADER: u8 = 2;
pub const FRAME_BODY: u8 = 3;
pub const FRAME_HEARTBEAT: u8 = 8;
pub const FRAME_END: u8 = 0xCE;
/// Type, channel and size before the payload, plus the frame-end octet after it.
pub const FRAME_OVERHEAD: usize = 8;
/// The smallest frame_max a peer may negotiate.
pub const FRAME_MIN_SIZE: u32 = 4096;
/// The most [`FrameDecoder`] reserves ahead for a frame it is still receiving: a peer's announced
/// size alone (7 bytes, up to 4 GiB before tuning) must not make us allocate.
const MAX_RESERVE: usize = 1 << 20;
/// What a client sends first to select AMQP 0-9-1.
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";

/// One decoded frame. The u16 is the channel. The content header is boxed: it is by far the
/// largest variant (14 properties), and a frame is moved a few times on its way out.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Method(u16, Method),
    Header(u16, Box<ContentHeader>),
    Body(u16, Bytes),
    Heartbeat,
}

/// A frame as [`FrameDecoder::next_raw`] gives it: decoded, except that a content header is
/// left as its payload (still in the decoder's buffer) for the caller to decode where the
/// message's properties live (the engine decodes it into the message it belongs to).
#[derive(Debug)]
pub enum RawFrame<'a> {
    Frame(Frame),
    Header(u16, &'a [u8]),
}

/// How a decoder reads a method frame's payload: the methods its side accepts.
type MethodReader = fn(&mut Reader<'_>) -> Result<Method, DecodeError>;

/// Reassembles frames from a byte stream. Method and header frames are decoded in place from
/// the receive buffer (no copy, no reference count); a body frame's payload is handed out as a
/// shared slice of it.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: BytesMut,
    /// Largest accepted frame including overhead; 0 = no limit (before tuning).
    max_frame: u32,
    methods: MethodReader,
    /// Bytes at the front of `buf` that belong to a frame already returned (a header lent out
    /// by `next_raw`), dropped before anything else is read.
    consumed: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// Decodes every method this build has decoders for: both directions with the feature
    /// `server-codec`, otherwise those a server sends (as [`FrameDecoder::client`]).
    pub fn new() -> Self {
        #[cfg(feature = "server-codec")]
        return Self::with_methods(Method::read_any);
        #[cfg(not(feature = "server-codec"))]
        return Self::client();
    }

    /// A client's decoder: methods only clients send are [`DecodeError::UnexpectedMethod`].
    pub fn client() -> Self {
        Self::with_methods(Method::read_from_server)
    }

    /// A server's decoder: methods only servers send are [`DecodeError::UnexpectedMethod`].
    #[cfg(feature = "server-codec")]
    pub fn server() -> Self {
        Self::with_methods(Method::read_from_client)
    }

    fn with_methods(methods: MethodReader) -> Self {
        FrameDecoder {
            buf: BytesMut::new(),
            max_frame: 0,
            methods,
            consumed: 0,
        }
    }

    pub fn set_max_frame(&mut self, max: u32) {
        self.max_frame = max;
    }

    /// Appends received bytes; call [`FrameDecoder::next_frame`] until it returns `Ok(None)`.
    pub fn extend(&mut self, data: &[u8]) {
        self.settle();
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.consumed
    }

    fn settle(&mut self) {
        if self.consumed > 0 {
            self.buf.advance(self.consumed);
            self.consumed = 0;
        }
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed. After an error the stream is unusable.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        let Some((kind, channel, total)) = self.cut()? else {
            return Ok(None);
        };
        Ok(Some(match kind {
            FRAME_HEADER => {
                // Boxed first, decoded into the box: the header is never moved.
                let mut h = Box::new(ContentHeader {
                    class_id: 60,
                    body_size: 0,
                    properties: BasicProperties::default(),
                });
                let r = &mut Reader::new(&self.buf[7..total - 1]);
                let res = ContentHeader::decode_into(r, &mut h.properties);
                self.buf.advance(total);
                h.body_size = res?;
                Frame::Header(channel, h)
            }
            _ => self.other(kind, channel, total)?,
        }))
    }

    /// Like [`FrameDecoder::next_frame`], but a content header comes as its payload, borrowed
    /// from the buffer until the next call.
    pub fn next_raw(&mut self) -> Result<Option<RawFrame<'_>>, DecodeError> {
        let Some((kind, channel, total)) = self.cut()? else {
            return Ok(None);
        };
        Ok(Some(match kind {
            FRAME_HEADER => {
                self.consumed = total;
                RawFrame::Header(channel, &self.buf[7..total - 1])
            }
            _ => RawFrame::Frame(self.other(kind, channel, total)?),
        }))
    }

    /// A method, body or heartbeat frame of `total` bytes at the front of the buffer,
    /// consumed whatever the outcome.
    fn other(&mut self, kind: u8, channel: u16, total: usize) -> Result<Frame, DecodeError> {
        Ok(match kind {
            FRAME_BODY => {
                let mut whole = self.buf.split_to(total);
                whole.advance(7);
                whole.truncate(total - FRAME_OVERHEAD);
                Frame::Body(channel, whole.freeze())
            }
            FRAME_METHOD => {
                let m = (self.methods)(&mut Reader::new(&self.buf[7..total - 1]));
                self.buf.advance(total);
                Frame::Method(channel, m?)
            }
            _ => {
                self.buf.advance(total);
                if channel != 0 {
                    return Err(DecodeError::HeartbeatOnChannel(channel));
                }
                Frame::Heartbeat
            }
        })
    }

    /// Whether a whole, well-formed frame is at the front of the buffer: its type, channel
    /// and total length (overhead included).
    fn cut(&mut self) -> Result<Option<(u8, u16, usize)>, DecodeError> {
        self.settle();
        if self.buf.len() >= 4 && &self.buf[..4] == b"AMQP" {
            if self.buf.len() < 8 {
                return Ok(None);
            }
            let mut h = [0u8; 8];
            h.copy_from_slice(&self.buf[..8]);
            return Err(DecodeError::ProtocolHeader(h));
        }
        if self.buf.len() < 7 {
            return Ok(None);
        }
        let kind = self.buf[0];
        let channel = u16::from_be_bytes([self.buf[1], self.buf[2]]);
        let size = u32::from_be_bytes([self.buf[3], self.buf[4], self.buf[5], self.buf[6]]);
        if !matches!(
            kind,
            FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT
        ) {
            return Err(DecodeError::UnknownFrameType(kind));
        }
        let total = size as u64 + FRAME_OVERHEAD as u64;
        if self.max_frame != 0 && total > self.max_frame as u64 {
            return Err(DecodeError::FrameTooLarge(size));
        }
        // Above usize::MAX only on 32-bit targets (wasm32), where such a frame cannot be buffered.
        let total = usize::try_from(total).map_err(|_| DecodeError::FrameTooLarge(size))?;
        if self.buf.len() < total {
            self.buf.reserve((total - self.buf.len()).min(MAX_RESERVE));
            return Ok(None);
        }
        let end = self.buf[total - 1];
        if end != FRAME_END {
            return Err(DecodeError::BadFrameEnd(end));
        }
        Ok(Some((kind, channel, total)))
    }
}

/// Runs `f` to append one frame's payload after a header, then patches the size and adds the frame end.
/// On error `out` is restored to its previous length, so a failed encode writes nothing.
fn framed(
    out: &mut Vec<u8>,
    kind: u8,
    channel: u16,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.push(kind);
    put_u16(out, channel);
    put_u32(out, 0);
    if let Err(e) = f(out) {
        out.truncate(start);
        return Err(e);
    }
    let size = out.len() - start - 7;
    let size32 = u32::try_from(size).map_err(|_| EncodeError::TooLong {
        field: "frame",
        len: size,
    });
    match size32 {
        Ok(s) => out[start + 3..start + 7].copy_from_slice(&s.to_be_bytes()),
        Err(e) => {
            out.truncate(start);
            return Err(e);
        }
    }
    out.push(FRAME_END);
    Ok(())
}

pub fn encode_method(out: &mut Vec<u8>, channel: u16, method: &Method) -> Result<(), EncodeError> {
    framed(out, FRAME_METHOD, channel, |o| method.encode(o))
}

pub fn encode_heartbeat(out: &mut Vec<u8>) {
    out.extend_from_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
}

/// Encodes a content-carrying method (publish, deliver, return, get-ok), its header and the body
/// split into frames of at most `frame_max` bytes (at least [`FRAME_MIN_SIZE`]). All or nothing:
/// a header frame larger than that (huge `headers`) is [`EncodeError::TooLong`], as a broker would
/// close the connection over it.
pub fn encode_content(
    out: &mut Vec<u8>,
    channel: u16,
    method: &Method,
    properties: &BasicProperties,
    body: &[u8],
    frame_max: u32,
) -> Result<(), EncodeError> {
    content_with(
        out,
        channel,
        |o| method.encode(o),
        properties,
        body,
        frame_max,
    )
}

/// `basic.publish` + header + body, written from borrowed strings: publishing, the hottest path,
/// builds no `Method` and allocates nothing beyond the output buffer's growth.
#[allow(clippy::too_many_arguments)]
pub fn encode_publish(
    out: &mut Vec<u8>,
    channel: u16,
    exchange: &str,
    routing_key: &str,
    mandatory: bool,
    immediate: bool,
    properties: &BasicProperties,
    body: &[u8],
    frame_max: u32,
) -> Result<(), EncodeError> {
    let method = |o: &mut Vec<u8>| {
        put_u16(o, 60);
        put_u16(o, 40);
        put_u16(o, 0); // ticket
        put_short_str(o, "basic.publish exchange", exchange)?;
        put_short_str(o, "basic.publish routing_key", routing_key)?;
        o.push(mandatory as u8 | (immediate as u8) << 1);
        Ok(())
    };
    content_with(out, channel, method, properties, body, frame_max)
}

fn content_with(
    out: &mut Vec<u8>,
    channel: u16,
    method: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    properties: &BasicProperties,
    body: &[u8],
    frame_max: u32,
) -> Result<(), EncodeError> {
    let start = out.len();
    let limit = frame_max.max(FRAME_MIN_SIZE) as usize;
    let header = |o: &mut Vec<u8>| {
        // Borrowing the properties avoids cloning headers for every publish.
        put_u16(o, 60);
        put_u16(o, 0);
        super::codec::put_u64(o, body.len() as u64);
        properties.encode(o)
    };
    let res = framed(out, FRAME_METHOD, channel, method).and_then(|_| {
        let at = out.len();
        framed(out, FRAME_HEADER, channel, header)?;
        match out.len() - at {
            len if len > limit => Err(EncodeError::TooLong {
                field: "content header frame",
                len,
            }),
            _ => Ok(()),
        }
    });
    if let Err(e) = res {
        out.truncate(start);
        return Err(e);
    }
    let chunk = limit - FRAME_OVERHEAD;
    out.reserve(body.len() + (body.len() / chunk + 1) * FRAME_OVERHEAD);
    for piece in body.chunks(chunk) {
        out.push(FRAME_BODY);
        put_u16(out, channel);
        put_u32(out, piece.len() as u32);
        out.extend_from_slice(piece);
        out.push(FRAME_END);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::methods::*;

    fn method_frame(m: &Method) -> Vec<u8> {
        let mut out = Vec::new();
        encode_method(&mut out, 1, m).unwrap();
        out
    }

    fn first(mut dec: FrameDecoder, bytes: &[u8]) -> Result<Option<Frame>, DecodeError> {
        dec.extend(bytes);
        dec.next_frame()
    }

    /// A client's decoder takes what servers send, a server's what clients send, `new()` both
    /// (in this build, which has `server-codec`); the other direction is UnexpectedMethod.
    #[test]
    fn decoders_take_one_direction() {
        let publish = Method::BasicPublish(BasicPublish::default());
        let deliver = Method::BasicDeliver(BasicDeliver::default());
        let close_ok = Method::ChannelCloseOk; // sent by both
        for m in [&publish, &deliver, &close_ok] {
            let bytes = method_frame(m);
            let id = m.id();
            let expect = |ok: bool| match ok {
                true => Ok(Some(Frame::Method(1, m.clone()))),
                false => Err(DecodeError::UnexpectedMethod(id.class, id.method)),
            };
            assert_eq!(
                first(FrameDecoder::client(), &bytes),
                expect(id.sent_by_server())
            );
            assert_eq!(
                first(FrameDecoder::server(), &bytes),
                expect(id.sent_by_client())
            );
            assert_eq!(first(FrameDecoder::new(), &bytes), expect(true));
        }
        // Ids the spec does not define stay UnknownMethod for every decoder.
        let unknown = [1, 0, 1, 0, 0, 0, 4, 0, 60, 0, 99, FRAME_END];
        for dec in [
            FrameDecoder::client(),
            FrameDecoder::server(),
            FrameDecoder::new(),
        ] {
            assert_eq!(
                first(dec, &unknown),
                Err(DecodeError::UnknownMethod(60, 99))
            );
        }
        assert_eq!(
            DecodeError::UnexpectedMethod(60, 40).to_string(),
            "basic.publish (60.40) is sent only by clients"
        );
        assert_eq!(
            DecodeError::UnexpectedMethod(60, 60).to_string(),
            "basic.deliver (60.60) is sent only by servers"
        );
    }

    /// The generated directions agree with the rest of the spec: every method has a sender, a
    /// reply goes the other way to its request, and content comes from where it is published
    /// (publish) or delivered (deliver, get-ok, return).
    #[test]
    fn directions_agree_with_replies_and_content() {
        let mut n = 0;
        for class in [10u16, 20, 30, 40, 50, 60, 85, 90] {
            for method in 0..200 {
                let id = MethodId { class, method };
                let Some(name) = id.name() else {
                    assert!(!id.sent_by_client() && !id.sent_by_server());
                    continue;
                };
                n += 1;
                assert!(
                    id.sent_by_client() || id.sent_by_server(),
                    "{name}: no sender"
                );
                let mut payload = Vec::new();
                put_u16(&mut payload, class);
                put_u16(&mut payload, method);
                // Arguments do not matter for the metadata: find the variant by its ids.
                let m = (0..64)
                    .find_map(|len| {
                        let mut p = payload.clone();
                        p.resize(4 + len, 0);
                        Method::decode(Bytes::from(p)).ok()
                    })
                    .unwrap_or_else(|| panic!("{name}: no payload decodes"));
                for r in m.replies() {
                    if id.sent_by_client() {
                        assert!(r.sent_by_server(), "{name}: reply {r} not sent by servers");
                    }
                    if id.sent_by_server() {
                        assert!(r.sent_by_client(), "{name}: reply {r} not sent by clients");
                    }
                }
                if m.has_content() {
                    assert_eq!(id.sent_by_client(), id == MethodId::BASIC_PUBLISH, "{name}");
                }
            }
        }
        assert_eq!(n, 66);
    }

    /// Seven bytes announcing a 4 GiB frame, before any frame_max is set, must not reserve 4 GiB.
    #[test]
    fn announced_size_does_not_allocate() {
        let mut dec = FrameDecoder::new();
        dec.extend(&[FRAME_BODY, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(dec.next_frame(), Ok(None));
        assert!(
            dec.buf.capacity() <= 2 * MAX_RESERVE,
            "{}",
            dec.buf.capacity()
        );
    }
}
