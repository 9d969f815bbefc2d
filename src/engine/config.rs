//! What the engine needs to open a connection. Parsing URLs into this lives in `client::url`.

use super::timer::Millis;
use crate::protocol::FieldTable;
use std::fmt;

/// SASL mechanism used in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMechanism {
    #[default]
    Plain,
    AmqPlain,
    External,
}

impl AuthMechanism {
    pub fn name(self) -> &'static str {
        match self {
            AuthMechanism::Plain => "PLAIN",
            AuthMechanism::AmqPlain => "AMQPLAIN",
            AuthMechanism::External => "EXTERNAL",
        }
    }
}

#[derive(Clone)]
pub struct Config {
    pub username: String,
    /// Never printed: `Debug` redacts it.
    pub password: String,
    pub vhost: String,
    /// Requested limits; 0 means "no preference" and takes the server's value.
    pub channel_max: u16,
    pub frame_max: u32,
    /// Heartbeat interval in seconds; `None` accepts the server's proposal (or, when the server
    /// proposes 0, uses [`DEFAULT_HEARTBEAT`] so a dead peer is still noticed); `Some(0)` disables.
    pub heartbeat: Option<u16>,
    /// Shown in the management UI.
    pub connection_name: Option<String>,
    pub auth_mechanism: AuthMechanism,
    /// Extra client properties merged over the defaults.
    pub client_properties: FieldTable,
    /// Reported as the `platform` client property.
    pub platform: String,
    /// How long the handshake (protocol header to `connection.open-ok`) may take, counted from
    /// [`Engine::new`](super::Engine::new); past it the connection fails with `Error::Timeout`.
    /// 0 disables the deadline.
    pub handshake_timeout: Millis,
    /// How long [`Engine::close`](super::Engine::close) waits for `connection.close-ok`; past it
    /// the connection ends with `Error::Timeout`. 0 disables the deadline.
    pub close_timeout: Millis,
    /// How long a synchronous call (declare, bind, consume, get, channel open and close, qos,
    /// update-secret...) may wait for its reply. Past it the broker is taken for unresponsive:
    /// the call fails with `Error::Timeout` and the connection is closed (every other call and
    /// channel on it fails with `Error::Timeout` too), which a session answers by reconnecting.
    /// Not counted while the broker has blocked the connection. 0 disables the deadline.
    pub operation_timeout: Millis,
    /// The largest message body accepted from the broker, in bytes. A content header declaring
    /// more closes the connection with 501 (frame error) before a byte of the body is buffered.
    /// 0 means no limit. Default [`DEFAULT_MAX_MESSAGE_SIZE`], RabbitMQ 3.x's own `max_message_size`.
    pub max_message_size: u64,
}

/// Default [`Config::max_message_size`]: 128 MiB, the default `max_message_size` of RabbitMQ 3.8
/// to 3.13 (RabbitMQ 4.0 lowered its own default to 16 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 128 << 20;

/// Heartbeat interval (seconds) used when the server proposes 0 and the application did not
/// ask for anything: a silent peer must not leave calls, confirms and consumers pending forever.
pub const DEFAULT_HEARTBEAT: u16 = 60;

/// Default [`Config::operation_timeout`]: 60 s.
pub const DEFAULT_OPERATION_TIMEOUT: Millis = 60_000;

impl Default for Config {
    fn default() -> Self {
        Config {
            username: "guest".into(),
            password: "guest".into(),
            vhost: "/".into(),
            channel_max: 0,
            frame_max: 131072,
            heartbeat: None,
            connection_name: None,
            auth_mechanism: AuthMechanism::Plain,
            client_properties: FieldTable::new(),
            platform: "Rust".into(),
            handshake_timeout: 30_000,
            close_timeout: 30_000,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("vhost", &self.vhost)
            .field("channel_max", &self.channel_max)
            .field("frame_max", &self.frame_max)
            .field("heartbeat", &self.heartbeat)
            .field("connection_name", &self.connection_name)
            .field("auth_mechanism", &self.auth_mechanism)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("close_timeout", &self.close_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("max_message_size", &self.max_message_size)
            .finish()
    }
}
