//! Every protocol deadline as a small table keyed by an enum (quinn-proto `connection/timer.rs`
//! style); the driver sleeps until the earliest and calls `Engine::handle_timeout`. The heartbeat
//! handlers live here too; the handshake and close-ok deadlines just end the connection.

use super::{Error, TransportError};
use crate::protocol::{encode_heartbeat, encode_method, ConnectionClose, Method};

/// Milliseconds on a monotonic clock chosen by the driver.
pub type Millis = u64;

/// The engine's deadlines. `handle_timeout` visits expired ones in [`Timer::VALUES`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Checked every half heartbeat interval: if nothing was sent since the last check, send a
    /// heartbeat; if anything arrived, push [`Timer::PeerSilent`] back.
    SendHeartbeat = 0,
    /// Nothing received for two heartbeat intervals: the peer is dead.
    PeerSilent = 1,
    /// The handshake did not reach `connection.open-ok` in `Config::handshake_timeout`.
    Handshake = 2,
    /// Our `connection.close` got no `close-ok` in `Config::close_timeout`.
    CloseOk = 3,
    /// The earliest deadline of a call waiting for its reply (`Config::operation_timeout`);
    /// set to 0 when a call is made so the next check stamps it.
    Operation = 4,
}

impl Timer {
    /// Every timer, in the order `handle_timeout` handles them when several expire at once
    /// (the heartbeat check first: it notes received data before the silence check looks).
    pub const VALUES: [Timer; 5] = [
        Timer::SendHeartbeat,
        Timer::PeerSilent,
        Timer::Handshake,
        Timer::CloseOk,
        Timer::Operation,
    ];
}

#[derive(Debug, Default, Clone)]
pub struct TimerTable {
    deadlines: [Option<Millis>; Timer::VALUES.len()],
}

impl TimerTable {
    pub fn set(&mut self, t: Timer, at: Millis) {
        self.deadlines[t as usize] = Some(at);
    }

    pub fn get(&self, t: Timer) -> Option<Millis> {
        self.deadlines[t as usize]
    }

    pub fn stop(&mut self, t: Timer) {
        self.deadlines[t as usize] = None;
    }

    pub fn stop_all(&mut self) {
        self.deadlines = Default::default();
    }

    pub fn is_expired(&self, t: Timer, now: Millis) -> bool {
        self.get(t).is_some_and(|at| at <= now)
    }

    /// The earliest deadline, if any timer is running.
    pub fn next(&self) -> Option<Millis> {
        self.deadlines.iter().flatten().copied().min()
    }
}

/// What each timer does when it fires; `Engine::handle_timeout` picks the handler.
impl super::Engine {
    /// [`Timer::SendHeartbeat`] fired: note what arrived, send a heartbeat if we were idle.
    pub(super) fn heartbeat_check(&mut self, now: Millis) {
        let interval = self.heartbeat as Millis * 1000;
        if self.received_since_check {
            self.received_since_check = false;
            self.timers.set(Timer::PeerSilent, now + 2 * interval);
        }
        if self.sent_since_check || !self.out.is_empty() {
            self.sent_since_check = false;
        } else {
            encode_heartbeat(&mut self.out);
        }
        self.timers.set(Timer::SendHeartbeat, now + interval / 2);
    }

    /// [`Timer::PeerSilent`] fired: nothing arrived for two intervals, unless it just did.
    pub(super) fn peer_silent(&mut self, now: Millis) {
        if self.received_since_check {
            self.received_since_check = false;
            let interval = self.heartbeat as Millis * 1000;
            self.timers.set(Timer::PeerSilent, now + 2 * interval);
            return;
        }
        let why = format!(
            "no data from the broker for {} s (heartbeat {} s)",
            2 * self.heartbeat,
            self.heartbeat
        );
        self.fail(Error::ConnectionLost {
            cause: TransportError::Timeout(why),
            handshake: false,
        });
    }
}

/// The operation deadline (`Config::operation_timeout`).
impl super::Engine {
    /// [`Timer::Operation`] fired: stamp new calls, expire overdue ones (unless the broker has
    /// blocked the connection: then it is not reading, and the wait starts over), re-arm for
    /// the earliest deadline left.
    pub(super) fn operation_check(&mut self, now: Millis) {
        let limit = self.config.operation_timeout;
        // Once we sent connection.close, its own deadline (close-ok) bounds what is left.
        if limit == 0 || self.state == super::state::ConnState::Closing {
            return;
        }
        let blocked = self.blocked;
        let mut next: Option<Millis> = None;
        let mut overdue: Option<(u16, String)> = None;
        let channels = self
            .channels
            .iter_mut()
            .map(|(id, ch)| (*id, &mut ch.pending));
        let all = std::iter::once((0u16, &mut self.conn_pending)).chain(channels);
        for (id, pending) in all {
            for p in pending.iter_mut() {
                let due = *p.deadline.get_or_insert(now.saturating_add(limit));
                if due <= now {
                    if blocked {
                        p.deadline = Some(now.saturating_add(limit));
                    } else if overdue.is_none() {
                        let reply = p.expect.first().map_or("reply".into(), |m| {
                            m.name().map_or_else(|| m.to_string(), str::to_owned)
                        });
                        overdue = Some((id, reply));
                    }
                }
                if let Some(d) = p.deadline {
                    next = Some(next.map_or(d, |n| n.min(d)));
                }
            }
        }
        match overdue {
            Some((id, reply)) => self.operation_timed_out(id, &reply),
            None => {
                if let Some(at) = next {
                    self.timers.set(Timer::Operation, at);
                }
            }
        }
    }

    /// A call got no reply in time: the broker is taken for unresponsive. Tell it why with
    /// connection.close, and end the connection at once (no close-ok is awaited from a peer
    /// that stopped answering); every call and channel on it fails with `Error::Timeout`.
    fn operation_timed_out(&mut self, channel: u16, reply: &str) {
        let text = format!(
            "no {reply} on channel {channel} within operation_timeout ({} ms)",
            self.config.operation_timeout
        );
        let close = ConnectionClose {
            reply_code: 200,
            reply_text: text.into(),
            class_id: 0,
            method_id: 0,
        };
        let _ = encode_method(&mut self.out, 0, &Method::ConnectionClose(close));
        self.fail(Error::Timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_set_stop_next() {
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::CloseOk, 50);
        t.set(Timer::PeerSilent, 20);
        assert_eq!(t.next(), Some(20));
        assert!(!t.is_expired(Timer::PeerSilent, 19));
        assert!(t.is_expired(Timer::PeerSilent, 20));
        t.stop(Timer::PeerSilent);
        assert_eq!(t.get(Timer::PeerSilent), None);
        assert_eq!(t.next(), Some(50));
        t.stop_all();
        assert_eq!(t.next(), None);
    }
}
