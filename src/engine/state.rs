//! The connection and channel lifecycles (h2 `proto/streams/state.rs` style): each diagram is on
//! its type, each transition is a method named after the frame that causes it, and an invalid
//! transition is answered in one place ([`InvalidTransition`]), which the engine reports to the
//! peer as an unexpected frame.

use std::fmt;

/// A frame arrived (or a command was given) that the current state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTransition {
    pub state: &'static str,
    pub event: &'static str,
}

impl fmt::Display for InvalidTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} while {}", self.event, self.state)
    }
}

/// ```text
///             recv_start           recv_tune              recv_open_ok           send_close
/// AwaitStart ───────────► AwaitTune ─────────► AwaitOpenOk ────────────► Open ────────────► Closing
///                          │    ▲                                          │                   │
///                          └────┘ recv_secure                              │ recv_update_      │ recv_close_ok
///                                                                          │ secret_ok         ▼
///  any state ─────────────── end(): connection.close from the peer, a protocol error, ──► Closed
///                            the transport ending, a deadline, or our close-ok arriving
/// ```
/// `Closed` is entered only through [`ConnState::end`], which the engine calls while it fails
/// everything still pending; `recv_close_ok` only checks that a close-ok is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    AwaitStart,
    AwaitTune,
    AwaitOpenOk,
    Open,
    Closing,
    Closed,
}

impl ConnState {
    pub fn recv_start(&mut self) -> Result<(), InvalidTransition> {
        self.step("connection.start", |s| {
            (s == ConnState::AwaitStart).then_some(ConnState::AwaitTune)
        })
    }

    pub fn recv_secure(&mut self) -> Result<(), InvalidTransition> {
        self.step("connection.secure", |s| {
            (s == ConnState::AwaitTune).then_some(s)
        })
    }

    pub fn recv_tune(&mut self) -> Result<(), InvalidTransition> {
        self.step("connection.tune", |s| {
            (s == ConnState::AwaitTune).then_some(ConnState::AwaitOpenOk)
        })
    }

    pub fn recv_open_ok(&mut self) -> Result<(), InvalidTransition> {
        self.step("connection.open-ok", |s| {
            (s == ConnState::AwaitOpenOk).then_some(ConnState::Open)
        })
    }

    pub fn recv_update_secret_ok(&mut self) -> Result<(), InvalidTransition> {
        self.step("connection.update-secret-ok", |s| {
            s.is_open_or_closing().then_some(s)
        })
    }

    pub fn recv_close_ok(&mut self) -> Result<(), InvalidTransition> {
        self.step("connection.close-ok", |s| {
            (s == ConnState::Closing).then_some(s)
        })
    }

    pub fn send_close(&mut self) -> Result<(), InvalidTransition> {
        self.step("close()", |s| {
            (s == ConnState::Open).then_some(ConnState::Closing)
        })
    }

    /// The connection is over, whatever the state was.
    pub fn end(&mut self) {
        *self = ConnState::Closed;
    }

    pub fn is_handshaking(self) -> bool {
        matches!(
            self,
            ConnState::AwaitStart | ConnState::AwaitTune | ConnState::AwaitOpenOk
        )
    }

    /// Channels exist and frames on them are expected.
    pub fn is_open_or_closing(self) -> bool {
        matches!(self, ConnState::Open | ConnState::Closing)
    }

    fn name(self) -> &'static str {
        match self {
            ConnState::AwaitStart => "awaiting connection.start",
            ConnState::AwaitTune => "awaiting connection.tune",
            ConnState::AwaitOpenOk => "awaiting connection.open-ok",
            ConnState::Open => "open",
            ConnState::Closing => "closing",
            ConnState::Closed => "closed",
        }
    }

    /// The one place transitions are checked: `next` says where `event` leads from here, if anywhere.
    fn step(
        &mut self,
        event: &'static str,
        next: impl FnOnce(ConnState) -> Option<ConnState>,
    ) -> Result<(), InvalidTransition> {
        match next(*self) {
            Some(s) => {
                *self = s;
                Ok(())
            }
            None => Err(InvalidTransition {
                state: self.name(),
                event,
            }),
        }
    }
}

/// ```text
///  open_channel    recv_open_ok        send_close           recv_close_ok
///  ──────────► Opening ──────────► Open ──────────► Closing ─────────────► (removed)
///                 │                  │                 │ ▲
///                 └──── recv_close ──┴──► (removed)    └─┘ recv_close: the broker's close crossed
///                    close-ok sent                         ours; kept until our close-ok arrives
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    Opening,
    Open,
    Closing,
}

/// What a `channel.close` from the broker does to a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPeerClose {
    /// Remove it now.
    Remove,
    /// Our own close is in flight: keep the id reserved until its close-ok.
    AwaitCloseOk,
}

impl ChannelState {
    pub fn recv_open_ok(&mut self) -> Result<(), InvalidTransition> {
        self.step("channel.open-ok", |s| {
            (s == ChannelState::Opening).then_some(ChannelState::Open)
        })
    }

    pub fn send_close(&mut self) -> Result<(), InvalidTransition> {
        self.step("channel.close", |s| {
            (s != ChannelState::Closing).then_some(ChannelState::Closing)
        })
    }

    pub fn recv_close_ok(&mut self) -> Result<(), InvalidTransition> {
        self.step("channel.close-ok", |s| {
            (s == ChannelState::Closing).then_some(s)
        })
    }

    pub fn recv_close(self) -> AfterPeerClose {
        match self {
            ChannelState::Closing => AfterPeerClose::AwaitCloseOk,
            ChannelState::Opening | ChannelState::Open => AfterPeerClose::Remove,
        }
    }

    pub fn is_open(self) -> bool {
        self == ChannelState::Open
    }

    /// After our channel.close only its close-ok matters; commands fail fast.
    pub fn is_closing(self) -> bool {
        self == ChannelState::Closing
    }

    fn name(self) -> &'static str {
        match self {
            ChannelState::Opening => "opening",
            ChannelState::Open => "open",
            ChannelState::Closing => "closing",
        }
    }

    /// The one place transitions are checked.
    fn step(
        &mut self,
        event: &'static str,
        next: impl FnOnce(ChannelState) -> Option<ChannelState>,
    ) -> Result<(), InvalidTransition> {
        match next(*self) {
            Some(s) => {
                *self = s;
                Ok(())
            }
            None => Err(InvalidTransition {
                state: self.name(),
                event,
            }),
        }
    }
}
