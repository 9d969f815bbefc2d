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
    /// Heartbeat interval in seconds; `None` accepts the server's proposal, `Some(0)` disables.
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
}

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
            .finish()
    }
}
