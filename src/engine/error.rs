//! The one error type of the engine and client. Cloneable, because one broker close fans out to
//! every pending call on the channel or connection it ends.

use crate::protocol::{DecodeError, EncodeError, ReplyCode};
use std::fmt;

/// Why a channel or connection was closed with an AMQP reply code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    pub code: ReplyCode,
    pub text: String,
    /// The class and method that caused the close, 0 when none.
    pub class_id: u16,
    pub method_id: u16,
}

impl fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code.0, self.text)?;
        if self.class_id != 0 {
            write!(f, " (caused by {}.{})", self.class_id, self.method_id)?;
        }
        Ok(())
    }
}

/// How a transport ended without an AMQP close; lets a session tell a retryable loss from a fatal one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// No connection could be made: refused, unreachable, DNS, a WebSocket that failed to open, or a peer that refused AMQP 0-9-1.
    Refused(String),
    /// The peer ended the stream (EOF) without an AMQP close.
    ClosedByPeer,
    /// The stream failed mid-way (reset, broken pipe, a failed send).
    Reset(String),
    /// TLS setup or handshake failed (unreadable CA/cert/key files, untrusted or mismatched certificate).
    Tls(String),
    /// The WebSocket closed with this code and reason.
    WebSocketClosed { code: u16, reason: String },
    /// A deadline passed: the connect timeout, or the peer went silent (missed heartbeats).
    Timeout(String),
    /// The transport buffered more unread data than its bound because the application consumed too slowly and the transport cannot push back.
    ReadBufferFull { limit: usize },
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Refused(why) => write!(f, "refused: {why}"),
            TransportError::ClosedByPeer => f.write_str("closed by the peer"),
            TransportError::Reset(why) => write!(f, "reset: {why}"),
            TransportError::Tls(why) => write!(f, "TLS: {why}"),
            TransportError::WebSocketClosed { code, reason } => {
                write!(f, "WebSocket closed (code {code}: {reason})")
            }
            TransportError::Timeout(why) => write!(f, "timed out: {why}"),
            TransportError::ReadBufferFull { limit } => write!(
                f,
                "read buffer full ({limit} bytes): the application consumes too slowly"
            ),
        }
    }
}

impl std::error::Error for TransportError {}

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The channel was closed with a reply code (a soft error, or our own close).
    ChannelClosed(CloseInfo),
    /// The connection was closed with a reply code (a hard error, an auth failure, a protocol violation).
    ConnectionClosed(CloseInfo),
    /// The transport ended without an AMQP close (socket error, missed heartbeats, EOF).
    /// `handshake` is true when it ended before the connection was open.
    ConnectionLost {
        cause: TransportError,
        handshake: bool,
    },
    /// The channel or connection had already been closed when the call was made.
    NotOpen(&'static str),
    /// A value could not be encoded; nothing was sent.
    Encode(EncodeError),
    /// A bad argument caught before anything was sent.
    InvalidArgument(String),
    /// The broker nacked a published message (publisher confirms).
    Nacked,
    /// All channel ids up to channel_max are in use.
    NoFreeChannel,
    /// A bounded wait elapsed.
    Timeout,
    /// A session's outbox of unconfirmed publishes is at its limit (messages or bytes); nothing
    /// was queued.
    OutboxFull,
    /// `limit` bytes or more already wait to be written to the transport (publishes that nobody
    /// awaited, on a congested link); nothing was queued. Await publishes to get backpressure.
    WriteBufferFull { limit: usize },
}

impl Error {
    /// The AMQP reply code when the error carries one.
    pub fn reply_code(&self) -> Option<ReplyCode> {
        match self {
            Error::ChannelClosed(c) | Error::ConnectionClosed(c) => Some(c.code),
            _ => None,
        }
    }

    pub fn close_info(&self) -> Option<&CloseInfo> {
        match self {
            Error::ChannelClosed(c) | Error::ConnectionClosed(c) => Some(c),
            _ => None,
        }
    }

    pub(crate) fn decode(e: DecodeError) -> Error {
        let code = match e {
            // RabbitMQ answers a method it does not take from a client the same way.
            DecodeError::UnknownMethod(..) | DecodeError::UnexpectedMethod(..) => {
                ReplyCode::COMMAND_INVALID
            }
            DecodeError::UnknownFrameType(_)
            | DecodeError::BadFrameEnd(_)
            | DecodeError::HeartbeatOnChannel(_)
            | DecodeError::FrameTooLarge(_) => ReplyCode::FRAME_ERROR,
            _ => ReplyCode::SYNTAX_ERROR,
        };
        Error::ConnectionClosed(CloseInfo {
            code,
            text: format!("malformed frame from peer: {e}"),
            class_id: 0,
            method_id: 0,
        })
    }
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ChannelClosed(c) => write!(f, "channel closed: {c}"),
            Error::ConnectionClosed(c) => write!(f, "connection closed: {c}"),
            Error::ConnectionLost {
                cause,
                handshake: true,
            } => write!(
                f,
                "connection lost during the handshake (wrong credentials or vhost, or not an AMQP 0-9-1 endpoint): {cause}"
            ),
            Error::ConnectionLost {
                cause,
                handshake: false,
            } => write!(f, "connection lost: {cause}"),
            Error::NotOpen(what) => write!(f, "{what} is not open"),
            Error::Encode(e) => write!(f, "{e}"),
            Error::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
            Error::Nacked => f.write_str("message was nacked by the broker"),
            Error::NoFreeChannel => f.write_str("no free channel id (channel_max reached)"),
            Error::Timeout => f.write_str("timed out"),
            Error::OutboxFull => f.write_str("the session's outbox is full; nothing was queued"),
            Error::WriteBufferFull { limit } => write!(
                f,
                "{limit} bytes or more wait to be sent; nothing was queued (await publishes for backpressure)"
            ),
        }
    }
}

impl std::error::Error for Error {}
