//! The edges that touch the outside world: byte transports and the per-target runtime shim.
//! Everything target-specific in the crate lives here, in `js/` or in `lib.rs`.

pub mod runtime;

#[cfg(all(not(target_arch = "wasm32"), feature = "tokio"))]
pub mod tcp;

#[cfg(all(not(target_arch = "wasm32"), feature = "tls"))]
pub mod tls;

#[cfg(target_arch = "wasm32")]
pub mod websocket;
