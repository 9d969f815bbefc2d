//! Counters for the Prometheus endpoint: plain atomics indexed by fixed label sets, so
//! recording is one relaxed add on the hot path and nothing allocates per event.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::limits::Limits;

/// Upgrades refused before a WebSocket connection existed.
pub const REFUSALS: &[&str] = &[
    "origin",
    "path",
    "pending_handshakes",
    "total_connections",
    "connections_per_ip",
    "upgrade_rate",
    "handshake_timeout",
    "bad_handshake",
    "shutting_down",
];

/// How open connections ended.
pub const CLOSES: &[&str] = &[
    "client_closed",
    "upstream_closed",
    "upstream_error",
    "upstream_unreachable",
    "client_error",
    "message_too_big",
    "unsupported_data",
    "idle",
    "shutdown",
];

#[derive(Default)]
pub struct Metrics {
    accepted: AtomicU64,
    to_upstream: AtomicU64,
    to_client: AtomicU64,
    upstream_connect_failures: AtomicU64,
    tls_reloads_ok: AtomicU64,
    tls_reloads_failed: AtomicU64,
    refusals: [AtomicU64; 9],
    closes: [AtomicU64; 9],
}

fn index(names: &[&str], name: &str) -> usize {
    names
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("unknown metric label {name}"))
}

impl Metrics {
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }
    pub fn refused(&self, reason: &str) {
        self.refusals[index(REFUSALS, reason)].fetch_add(1, Ordering::Relaxed);
    }
    pub fn closed(&self, reason: &str) {
        self.closes[index(CLOSES, reason)].fetch_add(1, Ordering::Relaxed);
    }
    pub fn to_upstream(&self, n: usize) {
        self.to_upstream.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn to_client(&self, n: usize) {
        self.to_client.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn upstream_connect_failed(&self) {
        self.upstream_connect_failures
            .fetch_add(1, Ordering::Relaxed);
    }
    pub fn tls_reloaded(&self, ok: bool) {
        if ok {
            &self.tls_reloads_ok
        } else {
            &self.tls_reloads_failed
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self, limits: &Limits) -> String {
        let mut s = String::with_capacity(2048);
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut metric = |name: &str, kind: &str, help: &str, rows: &[(String, u64)]| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in rows {
                let _ = writeln!(s, "{name}{labels} {v}");
            }
        };
        metric(
            "warren_relay_connections_open",
            "gauge",
            "WebSocket connections being relayed",
            &[(String::new(), limits.open_connections() as u64)],
        );
        metric(
            "warren_relay_handshakes_pending",
            "gauge",
            "sockets in their TLS or WebSocket handshake",
            &[(String::new(), limits.pending_handshakes() as u64)],
        );
        metric(
            "warren_relay_connections_total",
            "counter",
            "WebSocket connections accepted",
            &[(String::new(), get(&self.accepted))],
        );
        metric(
            "warren_relay_bytes_total",
            "counter",
            "payload bytes relayed",
            &[
                ("{direction=\"to_upstream\"}".into(), get(&self.to_upstream)),
                ("{direction=\"to_client\"}".into(), get(&self.to_client)),
            ],
        );
        let rows: Vec<_> = REFUSALS
            .iter()
            .zip(&self.refusals)
            .map(|(r, v)| (format!("{{reason=\"{r}\"}}"), get(v)))
            .collect();
        metric(
            "warren_relay_refusals_total",
            "counter",
            "upgrades refused, by reason",
            &rows,
        );
        let rows: Vec<_> = CLOSES
            .iter()
            .zip(&self.closes)
            .map(|(r, v)| (format!("{{reason=\"{r}\"}}"), get(v)))
            .collect();
        metric(
            "warren_relay_closes_total",
            "counter",
            "relayed connections ended, by reason",
            &rows,
        );
        metric(
            "warren_relay_upstream_connect_failures_total",
            "counter",
            "failed connection attempts to an upstream",
            &[(String::new(), get(&self.upstream_connect_failures))],
        );
        metric(
            "warren_relay_tls_reloads_total",
            "counter",
            "certificate reloads (SIGHUP), by result",
            &[
                ("{result=\"ok\"}".into(), get(&self.tls_reloads_ok)),
                ("{result=\"failed\"}".into(), get(&self.tls_reloads_failed)),
            ],
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_match_the_arrays() {
        let m = Metrics::default();
        assert_eq!(m.refusals.len(), REFUSALS.len());
        assert_eq!(m.closes.len(), CLOSES.len());
        for r in REFUSALS {
            m.refused(r);
        }
        for c in CLOSES {
            m.closed(c);
        }
    }
}
