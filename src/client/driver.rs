//! The one future per connection that owns the transport: an IO pump of small named steps, in the
//! shape of quinn's `ConnectionDriver`. Each step takes the lock once and only while the engine
//! works, never across transport IO, so handles on other threads (a consumer acking, a publisher)
//! wait for microseconds, not for a socket. Where engine events go is the router's business.

use super::shared::Shared;
use crate::engine::{Engine, Millis};
use crate::protocol::{BasicCancel, BasicReject, Method};
use crate::rt::{self, Sleep};
use crate::transport::{Transport, TransportError};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Ticks per poll under sustained input before yielding, so tasks sharing the thread
/// (consumers) get to run.
const TICKS_PER_POLL: usize = 64;

pub(crate) struct Driver<T> {
    shared: Shared,
    transport: T,
    /// Sleeps until the engine's next deadline.
    timer: Option<(Millis, Pin<Box<Sleep>>)>,
    /// Last write-blocked state told to publishers (the driver is its only writer).
    write_blocked: bool,
    /// Bytes handed to the transport since it last flushed everything.
    unflushed: usize,
}

/// What one pass over the engine produced.
struct Tick {
    fired: bool,
    output: Option<Vec<u8>>,
    closed: bool,
}

impl<T: Transport> Driver<T> {
    pub fn new(shared: Shared, transport: T) -> Self {
        Driver {
            shared,
            transport,
            timer: None,
            write_blocked: false,
            unflushed: 0,
        }
    }

    /// Feeds what the transport has to the engine, unless the application is behind.
    fn drive_read(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.may_read(cx) {
            return false;
        }
        let shared = &self.shared;
        let read = self
            .transport
            .poll_read(cx, &mut |bytes| shared.lock().engine.handle_bytes(bytes));
        match read {
            Poll::Ready(Ok(())) => true,
            Poll::Ready(Err(cause)) => {
                self.lost(cause);
                true
            }
            Poll::Pending => false,
        }
    }

    /// Reading pauses while undelivered messages exceed the read budget (woken when a consumer
    /// takes one), except while somebody awaits a reply or confirm, or the connection is closing:
    /// what they wait for may sit behind the deliveries.
    fn may_read(&mut self, cx: &mut Context<'_>) -> bool {
        if self.shared.budget().poll_room(cx) {
            return true;
        }
        let mut state = self.shared.lock();
        // A close-ok (ours or the broker's) may also sit behind the deliveries.
        if state.router.awaits_broker() || !state.engine.is_open() {
            return true;
        }
        // The broker is not silent, we are not listening: keep the dead-peer timer quiet.
        state.engine.handle_bytes(&[]);
        false
    }

    /// One lock: fire due deadlines, route the engine's events, take what is to be sent.
    fn drive_engine(&mut self, cx: &mut Context<'_>) -> Tick {
        let mut guard = self.shared.lock();
        let state = &mut *guard;
        // Parked before the output is taken: a command queued after this wakes us again.
        state.park_driver(cx.waker());
        let fired = drive_timer(&mut self.timer, &mut state.engine);
        let budget = self.shared.budget();
        while let Some(ev) = state.engine.poll_event() {
            state.router.route(ev, budget);
        }
        // Deliveries for no live consumer go back to the broker (basic.reject, requeue), and
        // a consumer nobody reads is cancelled so the broker does not hand them straight back.
        let owed = state.router.take_owed();
        for (channel, delivery_tag) in owed.rejects {
            let reject = Method::BasicReject(BasicReject {
                delivery_tag,
                requeue: true,
            });
            let _ = state.engine.send(channel, &reject);
        }
        for (channel, consumer_tag) in owed.cancels {
            let cancel = Method::BasicCancel(BasicCancel {
                consumer_tag: consumer_tag.into(),
                nowait: true,
            });
            let _ = state.engine.call(channel, cancel);
        }
        Tick {
            fired,
            output: state.engine.poll_transmit(),
            closed: state.engine.is_closed(),
        }
    }

    /// Hands the output to the transport and pushes it out; tells publishers when the transport
    /// is congested. True when the transport failed (the engine then has news).
    fn drive_write(&mut self, cx: &mut Context<'_>, output: Option<Vec<u8>>) -> bool {
        let before = self.unflushed;
        if let Some(buf) = output {
            self.unflushed += buf.len();
            if let Err(cause) = self.transport.send(buf) {
                self.lost(cause);
                return true;
            }
        }
        match self.transport.poll_flush(cx) {
            Poll::Ready(Err(cause)) => {
                self.lost(cause);
                true
            }
            flushed => {
                let blocked = flushed.is_pending();
                if !blocked {
                    self.unflushed = 0;
                }
                if self.unflushed != before {
                    self.shared.set_unflushed(self.unflushed);
                }
                if blocked != self.write_blocked {
                    self.write_blocked = blocked;
                    self.shared.lock().write.set_blocked(blocked);
                }
                false
            }
        }
    }

    fn lost(&self, cause: TransportError) {
        self.shared.lock().engine.handle_transport_closed(cause);
    }

    /// The engine has closed: flush its last words (close-ok, or our close), close the
    /// transport and route the final events.
    fn finish(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.transport.poll_flush(cx).is_pending() {
            return Poll::Pending;
        }
        self.transport.close();
        let mut guard = self.shared.lock();
        let state = &mut *guard;
        while let Some(ev) = state.engine.poll_event() {
            state.router.route(ev, self.shared.budget());
        }
        Poll::Ready(())
    }
}

/// Fires the engine's deadline if it is due, else (re)arms the sleep for it.
fn drive_timer(timer: &mut Option<(Millis, Pin<Box<Sleep>>)>, engine: &mut Engine) -> bool {
    let Some(deadline) = engine.poll_timeout() else {
        *timer = None;
        return false;
    };
    let now = rt::now_ms();
    if now >= deadline {
        engine.handle_timeout(now);
        *timer = None;
        return true;
    }
    if timer.as_ref().is_none_or(|(at, _)| *at != deadline) {
        *timer = Some((deadline, rt::sleep_ms(deadline - now)));
    }
    false
}

impl<T: Transport> Future for Driver<T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        for _ in 0..TICKS_PER_POLL {
            let read = this.drive_read(cx);
            let tick = this.drive_engine(cx);
            let failed = this.drive_write(cx, tick.output);
            if tick.closed {
                return this.finish(cx);
            }
            if !(read || tick.fired || failed) {
                if let Some((at, sleep)) = this.timer.as_mut() {
                    if sleep.as_mut().poll(cx).is_ready() {
                        let now = rt::now_ms();
                        if now >= *at {
                            cx.waker().wake_by_ref();
                        } else {
                            // The sleep ended a fraction of a millisecond before the clock
                            // reads the deadline (the clock counts whole milliseconds from
                            // an origin the timer does not share): sleep for the rest rather
                            // than wake at once, which would spin (and, on a paused test
                            // clock, keep time from ever moving).
                            *sleep = rt::sleep_ms((*at - now).max(1));
                            let _ = sleep.as_mut().poll(cx);
                        }
                    }
                }
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
