#![cfg(all(not(target_arch = "wasm32"), feature = "tokio"))]
//! The native integration suite: one test binary (`cargo test --features tokio,tls --test native`)
//! against a real broker over tokio TCP (`scripts/broker start`). Without the `tokio` feature the
//! binary is empty; the TLS module needs the `tls` feature as well.

mod common;

mod backpressure;
mod channels;
mod confirms;
mod connect;
mod consume;
mod faults;
mod hostile;
mod hostile_corpus;
mod interop;
mod lifecycle;
mod publish;
mod session;
mod smoke;
#[cfg(feature = "tls")]
mod tls;
mod topology;
