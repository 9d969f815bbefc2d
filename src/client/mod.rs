//! The async API, written once for both targets: [`Connection`], [`Channel`], [`Consumer`],
//! [`Message`]. One driver future per connection owns the transport and pumps bytes and time
//! through the engine; the router hands what the engine reports to the waiting futures and
//! consumers. Handles share the engine behind a lock, encode commands directly into its output
//! buffer, and wake the driver to send.

mod budget;
mod channel;
mod connect;
mod connection;
mod consumer;
mod driver;
mod inbox;
mod message;
mod options;
mod registry;
mod reply;
mod router;
mod shared;
pub mod url;

pub use channel::{Channel, ConfirmRx, PublishWait, Returns};
pub use connection::Connection;
pub use consumer::Consumer;
pub use message::Message;
pub use options::*;
pub use reply::Reply;
pub use router::ConnectionEvent;
pub use url::ConnectionUrl;
