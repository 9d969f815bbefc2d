//! The one future per connection that owns the transport and moves bytes, time and events
//! between it and the engine.

use super::message::Message;
use super::shared::{ConnectionEvent, Inner, Shared};
use super::transport::Transport;
use crate::engine::{Error, Event, Response};
use crate::protocol::Method;
use crate::transport::runtime::{self, Sleep};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

/// The lock on the shared state is held only while the engine works (digesting input, firing
/// timers, routing events, handing over output), never across transport IO, so handles on other
/// threads (a consumer acking, a publisher) wait for microseconds, not for a socket.
pub(crate) async fn run<T: Transport>(shared: Shared, mut transport: T) {
    let mut sleep: Option<(u64, Pin<Box<Sleep>>)> = None;
    let mut done = false;
    poll_fn(|cx| {
        // Yield now and then under sustained input so tasks sharing the thread (consumers) can run.
        let mut budget = 64;
        loop {
            budget -= 1;
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let mut progressed = false;
            if !done && !shared.lock().engine.is_closed() {
                let read =
                    transport.poll_read(cx, &mut |bytes| shared.lock().engine.handle_bytes(bytes));
                match read {
                    Poll::Ready(Ok(true)) => progressed = true,
                    Poll::Ready(Ok(false)) => shared
                        .lock()
                        .engine
                        .handle_transport_closed("the broker closed the connection"),
                    Poll::Ready(Err(e)) => shared.lock().engine.handle_transport_closed(&e),
                    Poll::Pending => {}
                }
            }
            let (out, closed) = {
                let mut inner = shared.lock();
                // Registered before the output is taken: a command queued after this wakes us again.
                inner.driver_waker = Some(cx.waker().clone());
                if let Some(deadline) = inner.engine.poll_timeout() {
                    let now = runtime::now_ms();
                    if now >= deadline {
                        inner.engine.handle_timeout(now);
                        sleep = None;
                        progressed = true;
                    } else if sleep.as_ref().is_none_or(|(at, _)| *at != deadline) {
                        sleep = Some((deadline, runtime::sleep_ms(deadline - now)));
                    }
                } else {
                    sleep = None;
                }
                while let Some(ev) = inner.engine.poll_event() {
                    dispatch(&shared, &mut inner, ev);
                }
                (inner.engine.poll_transmit(), inner.engine.is_closed())
            };
            if let Some(buf) = out {
                if let Err(e) = transport.send(buf) {
                    shared.lock().engine.handle_transport_closed(&e);
                    continue;
                }
            }
            let flushed = transport.poll_flush(cx);
            if let Poll::Ready(Err(e)) = flushed {
                shared.lock().engine.handle_transport_closed(&e);
                continue;
            }
            if flushed.is_pending() != shared.lock().write_blocked {
                shared.lock().set_write_blocked(flushed.is_pending());
            }
            if closed && !done {
                // Flush the close-ok (or our close) before dropping the transport.
                if transport.poll_flush(cx).is_pending() {
                    return Poll::Pending;
                }
                transport.close();
                done = true;
            }
            if done {
                let mut inner = shared.lock();
                while let Some(ev) = inner.engine.poll_event() {
                    dispatch(&shared, &mut inner, ev);
                }
                return Poll::Ready(());
            }
            if !progressed {
                break;
            }
        }
        if let Some((_, s)) = sleep.as_mut() {
            if s.as_mut().poll(cx).is_ready() {
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    })
    .await
}

fn dispatch(shared: &Shared, inner: &mut Inner, ev: Event) {
    match ev {
        Event::Opened { server_properties } => {
            inner.server_properties = server_properties;
            if let Some(tx) = inner.opened.take() {
                let _ = tx.send(Ok(()));
            }
        }
        Event::Reply { req, result } => {
            if let Some((ch, tx)) = inner.pending_consumers.remove(&req) {
                if let Ok(Response::Method(Method::BasicConsumeOk(ok))) = &result {
                    inner.consumers.insert(ch, ok.consumer_tag.clone(), tx);
                }
            }
            if let Some(tx) = inner.waiters.remove(&req) {
                let _ = tx.send(result);
            }
        }
        Event::Delivery(d) => {
            let channel = d.channel;
            let msg = Message::new(*d, inner.key_of(channel), shared.clone());
            let Some(tx) = inner.consumers.get(channel, &msg.consumer_tag) else {
                return;
            };
            if let Err(e) = tx.unbounded_send(Ok(msg)) {
                // The consumer's reader is gone (dropped mid-dispatch): forget it.
                if let Ok(m) = e.into_inner() {
                    inner.consumers.remove(channel, &m.consumer_tag);
                }
            }
        }
        Event::Return(r) => {
            if let Some(tx) = inner.returns.get(&r.channel) {
                let _ = tx.unbounded_send(*r);
            }
        }
        Event::Confirm {
            channel,
            seq,
            acked,
        } => {
            if let Some(tx) = inner.confirms.remove(&(channel, seq)) {
                let _ = tx.send(if acked { Ok(()) } else { Err(Error::Nacked) });
            }
        }
        Event::ConsumerCancelled {
            channel,
            consumer_tag,
        } => {
            inner.consumers.remove(channel, &consumer_tag);
        }
        Event::ChannelClosed { channel, error } => {
            inner.channel_ended(channel, error.as_ref());
            let err = error.unwrap_or(Error::NotOpen("channel"));
            for tx in inner.consumers.take(Some(channel)) {
                if !matches!(err, Error::NotOpen(_)) {
                    let _ = tx.unbounded_send(Err(err.clone()));
                }
            }
            let seqs: Vec<_> = inner
                .confirms
                .keys()
                .filter(|k| k.0 == channel)
                .copied()
                .collect();
            for k in seqs {
                if let Some(tx) = inner.confirms.remove(&k) {
                    let _ = tx.send(Err(err.clone()));
                }
            }
            inner.returns.remove(&channel);
            inner.flow_paused.remove(&channel);
        }
        Event::Flow { channel, active } => {
            inner.flow_paused.insert(channel, !active);
        }
        Event::Blocked { reason } => broadcast(inner, ConnectionEvent::Blocked(reason)),
        Event::Unblocked => broadcast(inner, ConnectionEvent::Unblocked),
        Event::Closed { error } => {
            let err = error.clone().unwrap_or(Error::NotOpen("connection"));
            if let Some(tx) = inner.opened.take() {
                let _ = tx.send(Err(err.clone()));
            }
            for (_, tx) in inner.waiters.drain() {
                let _ = tx.send(Err(err.clone()));
            }
            for (_, tx) in inner.confirms.drain() {
                let _ = tx.send(Err(err.clone()));
            }
            for tx in inner.consumers.take(None) {
                if error.is_some() {
                    let _ = tx.unbounded_send(Err(err.clone()));
                }
            }
            inner.pending_consumers.clear();
            inner.returns.clear();
            inner.listeners.clear();
            for tx in inner.closed_waiters.drain(..) {
                let _ = tx.send(error.clone());
            }
            inner.closed = Some(error);
        }
    }
}

fn broadcast(inner: &mut Inner, ev: ConnectionEvent) {
    inner
        .listeners
        .retain(|tx| tx.unbounded_send(ev.clone()).is_ok());
}
