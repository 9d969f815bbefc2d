//! warren: an AMQP 0-9-1 client written once in Rust, run in browsers and Deno (WebAssembly over
//! WebSocket) and natively (tokio TCP).
//!
//! Layers, inner to outer: [`protocol`] (pure codec) → [`engine`] (sans-IO state machine) →
//! [`client`] (async API, one driver per connection) → `transport` (WebSocket or TCP) and `js`
//! (wasm-bindgen surface). Target-specific code lives only in `transport`, `js` and this file.

pub mod engine;
pub mod protocol;

#[cfg(any(target_arch = "wasm32", feature = "tokio"))]
pub mod client;
#[cfg(any(target_arch = "wasm32", feature = "tokio"))]
pub mod transport;

#[cfg(target_arch = "wasm32")]
mod js;

#[cfg(any(target_arch = "wasm32", feature = "tokio"))]
pub use client::{Channel, Connection, ConnectionEvent, Consumer, Message};
pub use engine::{CloseInfo, Config, Error};
pub use protocol::{BasicProperties, FieldTable, FieldValue, ReplyCode};
