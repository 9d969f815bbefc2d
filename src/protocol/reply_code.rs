//! AMQP reply codes as an open newtype: unknown codes from a peer are kept, not rejected.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(pub u16);

impl ReplyCode {
    pub const SUCCESS: ReplyCode = ReplyCode(200);
    pub const CONTENT_TOO_LARGE: ReplyCode = ReplyCode(311);
    pub const NO_ROUTE: ReplyCode = ReplyCode(312);
    pub const NO_CONSUMERS: ReplyCode = ReplyCode(313);
    pub const CONNECTION_FORCED: ReplyCode = ReplyCode(320);
    pub const INVALID_PATH: ReplyCode = ReplyCode(402);
    pub const ACCESS_REFUSED: ReplyCode = ReplyCode(403);
    pub const NOT_FOUND: ReplyCode = ReplyCode(404);
    pub const RESOURCE_LOCKED: ReplyCode = ReplyCode(405);
    pub const PRECONDITION_FAILED: ReplyCode = ReplyCode(406);
    pub const FRAME_ERROR: ReplyCode = ReplyCode(501);
    pub const SYNTAX_ERROR: ReplyCode = ReplyCode(502);
    pub const COMMAND_INVALID: ReplyCode = ReplyCode(503);
    pub const CHANNEL_ERROR: ReplyCode = ReplyCode(504);
    pub const UNEXPECTED_FRAME: ReplyCode = ReplyCode(505);
    pub const RESOURCE_ERROR: ReplyCode = ReplyCode(506);
    pub const NOT_ALLOWED: ReplyCode = ReplyCode(530);
    pub const NOT_IMPLEMENTED: ReplyCode = ReplyCode(540);
    pub const INTERNAL_ERROR: ReplyCode = ReplyCode(541);

    /// The spec's name for the code, if it has one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            200 => "REPLY_SUCCESS",
            311 => "CONTENT_TOO_LARGE",
            312 => "NO_ROUTE",
            313 => "NO_CONSUMERS",
            320 => "CONNECTION_FORCED",
            402 => "INVALID_PATH",
            403 => "ACCESS_REFUSED",
            404 => "NOT_FOUND",
            405 => "RESOURCE_LOCKED",
            406 => "PRECONDITION_FAILED",
            501 => "FRAME_ERROR",
            502 => "SYNTAX_ERROR",
            503 => "COMMAND_INVALID",
            504 => "CHANNEL_ERROR",
            505 => "UNEXPECTED_FRAME",
            506 => "RESOURCE_ERROR",
            530 => "NOT_ALLOWED",
            540 => "NOT_IMPLEMENTED",
            541 => "INTERNAL_ERROR",
            _ => return None,
        })
    }

    /// Hard errors close the whole connection; the others close one channel.
    pub fn is_hard_error(self) -> bool {
        matches!(self.0, 320 | 402 | 501..=506 | 530 | 540 | 541)
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} {}", self.0, n),
            None => write!(f, "{}", self.0),
        }
    }
}
