//! How a session behaves, and what it reports.

use super::backoff::Backoff;
use crate::client::{Channel, Connection, ConnectionUrl, ConsumeOptions};
use crate::engine::{Error, Returned};
use crate::rt::BoxFuture;
use crate::transport::BoxTransport;
use std::sync::Arc;

/// Runs before every connection attempt with the URL about to be used and returns the URL to use
/// (e.g. with a freshly fetched OAuth token as the password).
#[cfg(not(target_arch = "wasm32"))]
pub type BeforeConnect =
    Arc<dyn Fn(ConnectionUrl) -> BoxFuture<Result<ConnectionUrl, Error>> + Send + Sync>;
#[cfg(target_arch = "wasm32")]
pub type BeforeConnect = Arc<dyn Fn(ConnectionUrl) -> BoxFuture<Result<ConnectionUrl, Error>>>;

/// Opens the byte pipe for a URL instead of `transport::dial` (tests: an in-memory broker).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type Dialer =
    Arc<dyn Fn(&ConnectionUrl) -> BoxFuture<Result<BoxTransport, Error>> + Send + Sync>;
#[cfg(target_arch = "wasm32")]
pub(crate) type Dialer = Arc<dyn Fn(&ConnectionUrl) -> BoxFuture<Result<BoxTransport, Error>>>;

#[derive(Clone)]
pub struct SessionOptions {
    /// Delays between attempts (amqp-client's defaults: 1 s, ×2, at most 30 s, unlimited).
    pub backoff: Backoff,
    /// Bound on one attempt (connect, TLS, handshake, recovery); `None` uses each URL's
    /// `connection_timeout`.
    pub connect_timeout_ms: Option<u64>,
    /// Retry refusals that will not go away by themselves (403 access refused, 530 bad vhost, an
    /// unsupported mechanism). Off: they end the session at once.
    pub retry_fatal: bool,
    /// Publishes wait for the broker's confirm, and are sent again after a reconnect until
    /// confirmed (at-least-once). Off: a publish resolves once it is handed to the connection.
    pub confirm: bool,
    /// Bounds on publishes not yet confirmed (waiting for a connection, or in flight); past
    /// either, `publish` fails at once with [`Error::OutboxFull`].
    pub outbox_max_messages: usize,
    pub outbox_max_bytes: usize,
    /// Bound on one publish (or declaration) from call to confirm, across reconnects.
    pub operation_timeout_ms: u64,
    pub before_connect: Option<BeforeConnect>,
    /// Bound on the attempts of the first connect (`Session::connect` fails after them);
    /// `None`: the first connect retries like any reconnect (bounded by the backoff's
    /// `max_attempts`). amqp-client's session makes one attempt.
    pub first_connect_attempts: Option<u32>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            backoff: Backoff::default(),
            connect_timeout_ms: None,
            retry_fatal: false,
            confirm: true,
            outbox_max_messages: 10_000,
            outbox_max_bytes: 16 << 20,
            operation_timeout_ms: 30_000,
            before_connect: None,
            first_connect_attempts: None,
        }
    }
}

impl std::fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOptions")
            .field("backoff", &self.backoff)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("retry_fatal", &self.retry_fatal)
            .field("confirm", &self.confirm)
            .field("outbox_max_messages", &self.outbox_max_messages)
            .field("outbox_max_bytes", &self.outbox_max_bytes)
            .field("operation_timeout_ms", &self.operation_timeout_ms)
            .field("before_connect", &self.before_connect.is_some())
            .field("first_connect_attempts", &self.first_connect_attempts)
            .finish()
    }
}

/// What a subscription asks of the broker.
#[derive(Debug, Clone, Default)]
pub struct SubscribeOptions {
    pub consume: ConsumeOptions,
    /// basic.qos prefetch count on the subscription's own channel (0 = unlimited).
    pub prefetch: u16,
}

/// What a session reports as the network comes and goes. URLs never carry credentials.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// A connection is open (before recovery).
    Connected { url: String },
    /// The connection ended; a reconnect follows unless the session stops or gives up.
    Disconnected { error: Error },
    /// The next attempt starts in `delay_ms`.
    Reconnecting { attempt: u32, delay_ms: u64 },
    /// The topology and subscriptions are back; publishing resumes.
    Recovered,
    /// One recorded object could not be restored; the rest were.
    RecoveryFailed { object: String, error: Error },
    /// The session gave up (a fatal refusal, or max attempts).
    Failed { error: Error },
}

/// What a session reports besides its connection's life: the broker's flow control, returned
/// messages, and the network as the platform sees it. A separate stream from [`SessionEvent`]
/// (one listener each, bounded like it).
#[derive(Debug)]
pub enum Notice {
    /// The broker blocked publishing (a resource alarm); publishes wait in the outbox.
    Blocked(String),
    Unblocked,
    /// A `mandatory` publish the broker could not route, and the channel it came back on.
    Returned {
        message: Box<Returned>,
        channel: Channel,
        connection: Connection,
    },
    /// The platform reported the network gone (`false`) or back (`true`, the session retries
    /// at once, see [`super::Session::network_changed`]).
    Network(bool),
}

/// What a delivery handler of [`super::Session::subscribe_with`] decided; `Err` says why it
/// failed (logged, and the message nacked).
pub type HandlerResult = Result<(), HandlerError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerError {
    /// The handler failed: nacked, requeued as the subscription says.
    Failed(String),
    /// The message itself is unusable (e.g. it cannot be decoded): nacked, never requeued (it
    /// would only fail again).
    Unusable(String),
}

/// Handles one delivery of a subscription (see [`super::Session::subscribe_with`]).
#[cfg(not(target_arch = "wasm32"))]
pub type Handler<T> = Arc<dyn Fn(super::SessionMessage) -> BoxFuture<T> + Send + Sync>;
#[cfg(target_arch = "wasm32")]
pub type Handler<T> = Arc<dyn Fn(super::SessionMessage) -> BoxFuture<T>>;

/// How [`super::Session::subscribe_with`] settles what its handler returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Ack when the handler succeeds, nack (requeue as given) when it fails.
    Auto { requeue_on_nack: bool },
    /// The handler settles (or `no_ack` consumes without acks).
    Manual,
}
