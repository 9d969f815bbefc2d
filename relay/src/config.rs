//! Settings: a TOML file (`--config relay.toml`) overlaid by command-line flags, then checked.
//!
//! Every field has a safe default (loopback listener, origins refused, bounded limits), so a
//! relay started with only `--upstream` cannot be reached from another host or a foreign page.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::forwarded::Cidr;
use crate::origin::OriginPolicy;

/// Command-line flags; each one overrides the matching `relay.toml` key.
#[derive(Parser, Debug, Default)]
#[command(
    name = "warren-relay",
    version,
    about = "WebSocket -> AMQP 0-9-1 relay for warren-amqp and RabbitMQ"
)]
pub struct Flags {
    /// TOML file with the settings (flags override its keys)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// address to accept WebSocket upgrades on (default 127.0.0.1:15673)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// URL path the upgrade must ask for (default /)
    #[arg(long)]
    pub path: Option<String>,
    /// upstream broker host:port; repeat for failover, tried in order
    #[arg(long = "upstream", value_name = "HOST:PORT")]
    pub upstreams: Vec<String>,
    /// allowed Origin: exact (https://app.example.com), pattern (https://*.example.com,
    /// http://127.0.0.1:*) or * for any; repeatable
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// accept upgrades that carry no Origin header (non-browser clients: Deno, native)
    #[arg(long)]
    pub allow_missing_origin: bool,
    /// address of the /healthz and /metrics endpoint (default 127.0.0.1:9673; "off" disables)
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// send a PROXY protocol v2 header to the upstream first
    #[arg(long)]
    pub proxy_protocol: bool,
    /// peer address (or CIDR) whose X-Forwarded-For / Forwarded headers are believed; repeatable
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxies: Vec<String>,
    /// certificate chain (PEM) for wss://; needs --tls-key
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// private key (PEM) for wss://
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    #[arg(long, value_name = "N")]
    pub max_connections_per_ip: Option<usize>,
    /// largest WebSocket message accepted from a client, in bytes
    #[arg(long, value_name = "BYTES")]
    pub max_message_size: Option<usize>,
    #[arg(long, value_name = "SECONDS")]
    pub handshake_timeout: Option<f64>,
    #[arg(long, value_name = "SECONDS")]
    pub idle_timeout: Option<f64>,
    /// how long SIGTERM waits for open connections before closing them
    #[arg(long, value_name = "SECONDS")]
    pub drain_timeout: Option<f64>,
    /// runtime threads: 1 = a single-threaded runtime (lowest latency), 0 = one per core
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// text or json
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// tracing filter for the relay's own events (error, warn, info, debug, trace)
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// The file format; every key optional.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<SocketAddr>,
    path: Option<String>,
    upstreams: Option<Vec<String>>,
    allowed_origins: Option<Vec<String>>,
    allow_missing_origin: Option<bool>,
    admin_listen: Option<String>,
    proxy_protocol: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    max_pending_handshakes: Option<usize>,
    max_message_size: Option<usize>,
    handshake_timeout: Option<f64>,
    idle_timeout: Option<f64>,
    upgrade_rate_per_ip: Option<f64>,
    upgrade_burst_per_ip: Option<f64>,
    upstream_connect_timeout: Option<f64>,
    drain_timeout: Option<f64>,
    threads: Option<usize>,
    log_format: Option<String>,
    log_level: Option<String>,
    tls: Option<TlsFile>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct TlsPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The checked settings the relay runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub path: String,
    pub upstreams: Vec<String>,
    pub origins: OriginPolicy,
    pub admin_listen: Option<SocketAddr>,
    pub proxy_protocol: bool,
    pub trusted_proxies: Vec<Cidr>,
    pub tls: Option<TlsPaths>,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// sockets still in their TLS/HTTP handshake; beyond this new sockets are dropped unread
    pub max_pending_handshakes: usize,
    pub max_message_size: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub upgrade_rate_per_ip: f64,
    pub upgrade_burst_per_ip: f64,
    pub upstream_connect_timeout: Duration,
    pub drain_timeout: Duration,
    /// 1: current-thread runtime; n > 1: n workers; 0: one worker per core
    pub threads: usize,
    pub log_format: LogFormat,
    pub log_level: String,
}

/// 16 MiB. warren-amqp sends a publish's frames (method, header, every body frame) as one
/// message and batches small ones up to 512 KiB, so this caps the largest body a browser can
/// publish through the relay (RabbitMQ's own default cap is 128 MiB); it is also the most a
/// connection holds while a message is in transit.
/// One thread: a relay only moves bytes and one core moves far more than a broker takes in; with
/// no second worker to wake or steal from, no hop costs a cross-thread wake-up. (On the shared
/// 2-core bench machine, 1 and one-per-core were within the run-to-run noise for RPC latency.)
/// Raise it for thousands of busy wss:// connections, where TLS is the CPU-heavy part.
pub const DEFAULT_THREADS: usize = 1;

pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;

impl Config {
    pub fn load(flags: Flags) -> Result<Config, String> {
        let file = match &flags.config {
            Some(p) => read_file(p)?,
            None => File::default(),
        };
        let tls_file = file.tls.unwrap_or_default();
        let secs = |name: &str,
                    flag: Option<f64>,
                    file: Option<f64>,
                    default: f64|
         -> Result<Duration, String> {
            let v = flag.or(file).unwrap_or(default);
            if v.is_finite() && v > 0.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(format!(
                    "{name} must be a positive number of seconds, got {v}"
                ))
            }
        };
        let upstreams = if flags.upstreams.is_empty() {
            file.upstreams.unwrap_or_default()
        } else {
            flags.upstreams
        };
        if upstreams.is_empty() {
            return Err(
                "no upstream: give --upstream HOST:PORT or upstreams = [...] in the config".into(),
            );
        }
        for u in &upstreams {
            if u.rsplit_once(':')
                .and_then(|(h, p)| (!h.is_empty()).then_some(p))
                .and_then(|p| p.parse::<u16>().ok())
                .is_none()
            {
                return Err(format!("upstream {u:?} is not host:port"));
            }
        }
        let origin_list = if flags.allowed_origins.is_empty() {
            file.allowed_origins.unwrap_or_default()
        } else {
            flags.allowed_origins
        };
        let origins = OriginPolicy::new(
            &origin_list,
            flags.allow_missing_origin || file.allow_missing_origin.unwrap_or(false),
        )?;
        let admin = flags
            .admin_listen
            .or(file.admin_listen)
            .unwrap_or_else(|| "127.0.0.1:9673".into());
        let admin_listen = match admin.as_str() {
            "off" | "" => None,
            a => Some(
                a.parse::<SocketAddr>()
                    .map_err(|e| format!("admin_listen {a:?}: {e}"))?,
            ),
        };
        let trusted = if flags.trusted_proxies.is_empty() {
            file.trusted_proxies.unwrap_or_default()
        } else {
            flags.trusted_proxies
        };
        let trusted_proxies = trusted
            .iter()
            .map(|s| Cidr::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        let tls = match (
            flags.tls_cert.or(tls_file.cert),
            flags.tls_key.or(tls_file.key),
        ) {
            (Some(cert), Some(key)) => Some(TlsPaths { cert, key }),
            (None, None) => None,
            _ => return Err("TLS needs both a certificate (tls.cert) and a key (tls.key)".into()),
        };
        let path = flags.path.or(file.path).unwrap_or_else(|| "/".into());
        if !path.starts_with('/') {
            return Err(format!("path {path:?} must start with /"));
        }
        let log_format = match flags
            .log_format
            .or(file.log_format)
            .as_deref()
            .unwrap_or("text")
        {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(format!("log_format {other:?}: expected text or json")),
        };
        let positive = |name: &str, v: usize| {
            if v == 0 {
                Err(format!("{name} must be at least 1"))
            } else {
                Ok(v)
            }
        };
        let rate = file.upgrade_rate_per_ip.unwrap_or(10.0);
        let burst = file.upgrade_burst_per_ip.unwrap_or(20.0);
        if !(rate.is_finite() && rate > 0.0 && burst.is_finite() && burst >= 1.0) {
            return Err("upgrade_rate_per_ip must be > 0 and upgrade_burst_per_ip >= 1".into());
        }
        Ok(Config {
            listen: flags
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 15673))),
            path,
            upstreams,
            origins,
            admin_listen,
            proxy_protocol: flags.proxy_protocol || file.proxy_protocol.unwrap_or(false),
            trusted_proxies,
            tls,
            max_connections: positive(
                "max_connections",
                flags
                    .max_connections
                    .or(file.max_connections)
                    .unwrap_or(1000),
            )?,
            max_connections_per_ip: positive(
                "max_connections_per_ip",
                flags
                    .max_connections_per_ip
                    .or(file.max_connections_per_ip)
                    .unwrap_or(100),
            )?,
            max_pending_handshakes: positive(
                "max_pending_handshakes",
                file.max_pending_handshakes.unwrap_or(256),
            )?,
            max_message_size: positive(
                "max_message_size",
                flags
                    .max_message_size
                    .or(file.max_message_size)
                    .unwrap_or(DEFAULT_MAX_MESSAGE),
            )?,
            handshake_timeout: secs(
                "handshake_timeout",
                flags.handshake_timeout,
                file.handshake_timeout,
                10.0,
            )?,
            idle_timeout: secs("idle_timeout", flags.idle_timeout, file.idle_timeout, 300.0)?,
            upgrade_rate_per_ip: rate,
            upgrade_burst_per_ip: burst,
            upstream_connect_timeout: secs(
                "upstream_connect_timeout",
                None,
                file.upstream_connect_timeout,
                5.0,
            )?,
            drain_timeout: secs(
                "drain_timeout",
                flags.drain_timeout,
                file.drain_timeout,
                30.0,
            )?,
            threads: flags.threads.or(file.threads).unwrap_or(DEFAULT_THREADS),
            log_format,
            log_level: flags
                .log_level
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
        })
    }
}

fn read_file(path: &Path) -> Result<File, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::parse_from(std::iter::once("warren-relay").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_are_loopback_and_strict() {
        let c = Config::load(flags(&["--upstream", "127.0.0.1:5672"])).unwrap();
        assert!(c.listen.ip().is_loopback());
        assert!(c.admin_listen.unwrap().ip().is_loopback());
        assert!(!c.origins.allows(None));
        assert!(!c.origins.allows(Some("https://evil.example")));
        assert!(!c.proxy_protocol);
    }

    #[test]
    fn needs_an_upstream_in_host_port_form() {
        assert!(Config::load(flags(&[])).is_err());
        assert!(Config::load(flags(&["--upstream", "localhost"])).is_err());
        assert!(Config::load(flags(&["--upstream", ":5672"])).is_err());
        assert!(Config::load(flags(&["--upstream", "broker.internal:5672"])).is_ok());
    }

    #[test]
    fn the_example_config_is_valid() {
        let text = include_str!("../relay.example.toml");
        let file: File = toml::from_str(text).unwrap();
        assert!(file.upstreams.is_some());
        let p =
            std::env::temp_dir().join(format!("warren-relay-example-{}.toml", std::process::id()));
        std::fs::write(&p, text).unwrap();
        let c = Config::load(flags(&["--config", p.to_str().unwrap()])).unwrap();
        std::fs::remove_file(&p).ok();
        assert!(c.listen.ip().is_loopback());
        assert!(c.origins.allows(Some("https://x.dashboards.example.com")));
        assert!(!c.origins.allows(None));
        let dev = include_str!("../../scripts/relay.toml");
        let _: File = toml::from_str(dev).unwrap();
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("warren-relay-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("relay.toml");
        std::fs::write(
            &p,
            "listen = \"127.0.0.1:1\"\nupstreams = [\"a:1\", \"b:2\"]\nmax_connections = 5\nallowed_origins = [\"https://a.example\"]\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
        )
        .unwrap();
        let c = Config::load(flags(&[
            "--config",
            p.to_str().unwrap(),
            "--max-connections",
            "7",
        ]))
        .unwrap();
        assert_eq!(c.upstreams, vec!["a:1", "b:2"]);
        assert_eq!(c.max_connections, 7);
        assert_eq!(c.listen.port(), 1);
        assert!(c.tls.is_some());
        assert!(c.origins.allows(Some("https://a.example")));
        std::fs::write(&p, "upstreams = [\"a:1\"]\nunknown_key = 1\n").unwrap();
        assert!(Config::load(flags(&["--config", p.to_str().unwrap()])).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
