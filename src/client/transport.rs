//! The contract between the driver and a byte transport (TCP stream or WebSocket).

use std::task::{Context, Poll};

pub trait Transport: Unpin {
    /// Hands every chunk that is available now to `sink`. `Ready(Ok(false))` means the peer closed;
    /// `Pending` means nothing more for now (the waker is registered).
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Poll<Result<bool, String>>;

    /// Queues one buffer of whole frames; for WebSocket it becomes exactly one binary message.
    fn send(&mut self, data: Vec<u8>) -> Result<(), String>;

    /// Drives queued data out. `Ready(Ok)` when nothing is left to write.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>>;

    /// Closes the underlying connection (WebSocket: code 1000).
    fn close(&mut self);
}
