//! Admission limits: sockets in their handshake, open connections in total and per client
//! address, and a token bucket of upgrades per client address. Each admitted slot is a guard
//! that gives itself back on drop, so no exit path can leak a count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::config::Config;

/// Why an upgrade was refused (also the `reason` label of the refusal counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    PendingHandshakes,
    TotalConnections,
    ConnectionsPerIp,
    UpgradeRate,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::PendingHandshakes => "pending_handshakes",
            Refusal::TotalConnections => "total_connections",
            Refusal::ConnectionsPerIp => "connections_per_ip",
            Refusal::UpgradeRate => "upgrade_rate",
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Default)]
struct PerIp {
    open: HashMap<IpAddr, usize>,
    buckets: HashMap<IpAddr, Bucket>,
}

pub struct Limits {
    max_pending: usize,
    max_total: usize,
    max_per_ip: usize,
    rate: f64,
    burst: f64,
    pending: AtomicUsize,
    total: AtomicUsize,
    per_ip: Mutex<PerIp>,
}

/// A socket in its handshake.
pub struct PendingSlot(Arc<Limits>);

/// An admitted connection, counted in the total and under its client address.
pub struct ConnectionSlot {
    limits: Arc<Limits>,
    ip: IpAddr,
}

/// Buckets are dropped once this many addresses are tracked and they have refilled.
const BUCKET_PRUNE_AT: usize = 4096;

impl Limits {
    pub fn new(c: &Config) -> Arc<Limits> {
        Arc::new(Limits {
            max_pending: c.max_pending_handshakes,
            max_total: c.max_connections,
            max_per_ip: c.max_connections_per_ip,
            rate: c.upgrade_rate_per_ip,
            burst: c.upgrade_burst_per_ip,
            pending: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
            per_ip: Mutex::new(PerIp::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, PerIp> {
        // the maps stay consistent even if a holder panicked: every update is a single insert
        self.per_ip.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn open_connections(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    pub fn pending_handshakes(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// At accept, before reading a byte: bounds the sockets whose handshake is in progress.
    pub fn begin_handshake(self: &Arc<Self>) -> Result<PendingSlot, Refusal> {
        let prev = self.pending.fetch_add(1, Ordering::AcqRel);
        if prev >= self.max_pending {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::PendingHandshakes);
        }
        Ok(PendingSlot(self.clone()))
    }

    /// Once the client address is known (after the HTTP request): rate, per-address and total.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        let mut m = self.lock();
        let now = Instant::now();
        if m.buckets.len() >= BUCKET_PRUNE_AT {
            let (rate, burst) = (self.rate, self.burst);
            m.buckets
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = m.buckets.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * self.rate)
            .min(self.burst);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return Err(Refusal::UpgradeRate);
        }
        bucket.tokens -= 1.0;
        let open = m.open.get(&ip).copied().unwrap_or(0);
        if open >= self.max_per_ip {
            return Err(Refusal::ConnectionsPerIp);
        }
        if self.total.load(Ordering::Acquire) >= self.max_total {
            return Err(Refusal::TotalConnections);
        }
        // total is only changed under this lock, so the check above stays true here
        self.total.fetch_add(1, Ordering::AcqRel);
        m.open.insert(ip, open + 1);
        Ok(ConnectionSlot {
            limits: self.clone(),
            ip,
        })
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnectionSlot {
    pub fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut m = self.limits.lock();
        if let Some(n) = m.open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.open.remove(&self.ip);
            }
        }
        self.limits.total.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Flags};
    use clap::Parser;

    fn limits(extra: &[&str]) -> Arc<Limits> {
        let mut args = vec!["warren-relay", "--upstream", "127.0.0.1:1"];
        args.extend_from_slice(extra);
        Limits::new(&Config::load(Flags::parse_from(args)).unwrap())
    }

    #[test]
    fn per_ip_and_total_counts_come_back_on_drop() {
        let l = limits(&["--max-connections", "3", "--max-connections-per-ip", "2"]);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = l.admit(a).unwrap();
        let _s2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).err(), Some(Refusal::ConnectionsPerIp));
        let _s3 = l.admit(b).unwrap();
        assert_eq!(l.admit(b).err(), Some(Refusal::TotalConnections));
        drop(s1);
        assert_eq!(l.open_connections(), 2);
        assert!(l.admit(b).is_ok());
    }

    #[test]
    fn upgrade_rate_is_a_token_bucket() {
        let mut l = limits(&[]);
        Arc::get_mut(&mut l).unwrap().burst = 3.0;
        Arc::get_mut(&mut l).unwrap().rate = 0.001;
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            drop(l.admit(a).unwrap());
        }
        assert_eq!(l.admit(a).err(), Some(Refusal::UpgradeRate));
        assert!(l.admit("10.0.0.9".parse().unwrap()).is_ok());
    }

    #[test]
    fn pending_handshakes_are_bounded() {
        let mut l = limits(&[]);
        Arc::get_mut(&mut l).unwrap().max_pending = 1;
        let p = l.begin_handshake().unwrap();
        assert_eq!(l.begin_handshake().err(), Some(Refusal::PendingHandshakes));
        drop(p);
        assert!(l.begin_handshake().is_ok());
    }
}
