//! The async API, written once for both targets: [`Connection`], [`Channel`], [`Consumer`],
//! [`Message`]. One driver future per connection owns the engine and the transport; handles
//! share the engine behind a lock, encode commands directly into its output buffer, and wake
//! the driver to send.

mod channel;
mod connection;
mod consumer;
mod driver;
mod message;
mod options;
mod reply;
mod shared;
pub mod transport;
pub mod url;

pub use channel::{Channel, ConfirmRx, PublishWait};
pub use connection::Connection;
pub use consumer::Consumer;
pub use message::Message;
pub use options::*;
pub use reply::Reply;
pub use shared::ConnectionEvent;
pub use url::ConnectionUrl;
