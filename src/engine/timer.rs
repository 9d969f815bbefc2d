//! Every protocol deadline as a small table keyed by an enum (quinn-proto `connection/timer.rs`
//! style); the driver sleeps until the earliest and calls `Engine::handle_timeout`. The heartbeat
//! handlers live here too; the handshake and close-ok deadlines just end the connection.

use super::{Error, TransportError};
use crate::protocol::encode_heartbeat;

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
}

impl Timer {
    /// Every timer, in the order `handle_timeout` handles them when several expire at once
    /// (the heartbeat check first: it notes received data before the silence check looks).
    pub const VALUES: [Timer; 4] = [
        Timer::SendHeartbeat,
        Timer::PeerSilent,
        Timer::Handshake,
        Timer::CloseOk,
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
