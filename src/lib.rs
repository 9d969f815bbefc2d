//! warren: an AMQP 0-9-1 client written once in Rust, run in browsers and Deno (WebAssembly over
//! WebSocket) and natively (tokio TCP).
//!
//! Layers, inner to outer: [`protocol`] (pure codec) → [`engine`] (sans-IO state machine) →
//! [`client`] (async API, one driver per connection) → [`session`] (reconnect, recovery) over [`transport`] (WebSocket, or a tokio
//! stream) and [`rt`] (spawn/sleep/clock per target); `js` is the wasm-bindgen surface.
//! Target-specific code lives only in `transport`, `rt`, `js` and this file.

pub mod engine;
pub mod protocol;

#[cfg(any(target_arch = "wasm32", feature = "tokio"))]
pub mod client;
#[cfg(any(target_arch = "wasm32", feature = "tokio"))]
pub mod rt;
#[cfg(any(target_arch = "wasm32", feature = "tokio"))]
pub mod session;
#[cfg(any(target_arch = "wasm32", feature = "tokio"))]
pub mod transport;

#[cfg(target_arch = "wasm32")]
mod js;

/// talc instead of std's dlmalloc: about 5 KB less wasm, and faster (the module is single-threaded).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(all(test, feature = "tokio"))]
pub(crate) mod testing;

#[cfg(any(target_arch = "wasm32", feature = "tokio"))]
pub use client::{Channel, Connection, ConnectionEvent, Consumer, Message};
pub use engine::{CloseInfo, Config, Error, TransportError};
pub use protocol::{BasicProperties, FieldTable, FieldValue, ReplyCode};
#[cfg(any(target_arch = "wasm32", feature = "tokio"))]
pub use session::{Session, SessionEvent, SessionOptions};
