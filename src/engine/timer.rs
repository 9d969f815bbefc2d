//! Heartbeat deadlines as a small table keyed by an enum; the driver sleeps until the earliest.

/// Milliseconds on a monotonic clock chosen by the driver.
pub type Millis = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Checked every half interval: if nothing was sent since the last check, send a heartbeat.
    SendHeartbeat = 0,
    /// Nothing received for two intervals: the peer is dead.
    PeerSilent = 1,
}

#[derive(Debug, Default)]
pub struct TimerTable {
    deadlines: [Option<Millis>; 2],
}

impl TimerTable {
    pub fn set(&mut self, t: Timer, at: Millis) {
        self.deadlines[t as usize] = Some(at);
    }

    pub fn get(&self, t: Timer) -> Option<Millis> {
        self.deadlines[t as usize]
    }

    pub fn clear_all(&mut self) {
        self.deadlines = [None; 2];
    }

    pub fn is_expired(&self, t: Timer, now: Millis) -> bool {
        self.get(t).is_some_and(|at| at <= now)
    }

    pub fn next(&self) -> Option<Millis> {
        self.deadlines.iter().flatten().copied().min()
    }
}
