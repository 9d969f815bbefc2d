//! Connection URLs: `amqp[s]://user:pass@host:port/vhost?options` and `ws[s]://user:pass@host:port/path?options`.
//!
//! Options (both spellings): heartbeat, frame_max/frameMax, channel_max/channelMax,
//! connection_timeout/connectionTimeout (ms; 0 = no deadline), operation_timeout/operationTimeout
//! (ms a call may wait for its reply, default 60000; 0 = none), max_message_size/maxMessageSize
//! (largest body accepted from the broker, bytes, default 128 MiB; 0 = no limit),
//! read_budget/readBudget, name/connection_name, auth_mechanism/authMechanism, and for WebSocket
//! URLs vhost and websocket=stream|classic (reads through WebSocketStream, which push back on the
//! broker, or the classic WebSocket, the default). Everything is validated here, before any IO.
//!
//! TLS options for `amqps://` (the names RabbitMQ's URI spec uses, plus camelCase):
//! cacertfile/caCertFile (PEM bundle of CAs to trust instead of the built-in web roots),
//! certfile/certFile + keyfile/keyFile (PEM client certificate chain and key, for mutual TLS and
//! `auth_mechanism=EXTERNAL`), server_name_indication/serverNameIndication (the name to send as
//! SNI and verify the certificate against, instead of the host). `verify=verify_peer` is accepted;
//! `verify=verify_none` is refused: there is no mode that skips certificate verification.

use crate::engine::{AuthMechanism, Config, Error};
pub use crate::transport::{Endpoint, Scheme, TlsOptions};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct ConnectionUrl {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// For WebSocket: the URL to open, without credentials or warren's own query options.
    pub ws_url: String,
    pub config: Config,
    /// Bound on TCP/WebSocket connect plus the AMQP handshake; 0 means no deadline.
    pub connection_timeout_ms: u64,
    /// TLS settings; only `amqps://` URLs may carry any.
    pub tls: TlsOptions,
    /// WebSocket subprotocols to offer (none by default: websockify refuses `amqp`).
    pub ws_protocols: Vec<String>,
    /// `websocket=stream`: read through `WebSocketStream` where the runtime has it, so a slow
    /// consumer pushes back on the broker instead of filling the page (see
    /// `transport::websocket::uses_stream`); `websocket=classic` (the default): `WebSocket`.
    pub ws_stream: bool,
    /// Bytes of delivered-but-unread messages at which the connection stops reading from the
    /// transport until the application catches up (`read_budget=` option).
    pub read_budget: usize,
}

/// Default [`ConnectionUrl::read_budget`]: enough to keep a fast consumer busy, small enough
/// that a stalled one holds a bounded amount.
pub const DEFAULT_READ_BUDGET: usize = 8 << 20;

fn bad(why: impl Into<String>) -> Error {
    Error::InvalidArgument(why.into())
}

/// Decodes %XX escapes (RFC 3986); `+` stays a plus.
pub fn percent_decode(s: &str) -> Result<String, Error> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .ok_or_else(|| bad("truncated percent escape in URL"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad("bad percent escape in URL"))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad("URL component is not UTF-8 after percent-decoding"))
}

/// Parses an option's number no greater than `max`. One `u64` parse for every field instead of a
/// generic parse per integer type: each `FromStr` instance costs its own code in the wasm.
fn num(key: &str, v: &str, max: u64) -> Result<u64, Error> {
    match v.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(bad(format!("URL option {key}={v} is not a valid number"))),
    }
}

fn num_u16(key: &str, v: &str) -> Result<u16, Error> {
    num(key, v, u16::MAX.into()).map(|n| n as u16)
}

impl ConnectionUrl {
    pub fn parse(url: &str) -> Result<ConnectionUrl, Error> {
        // a char split then a prefix: searching for the string "://" links core's substring
        // searcher, whose slicing panic brings the `Debug` printers of `char` and ranges along
        let (scheme_str, rest) = url
            .split_once(':')
            .and_then(|(scheme, rest)| Some((scheme, rest.strip_prefix("//")?)))
            .ok_or_else(|| bad("URL needs a scheme (amqp://, amqps://, ws://, wss://)"))?;
        let scheme = match scheme_str.to_ascii_lowercase().as_str() {
            "amqp" => Scheme::Amqp,
            "amqps" => Scheme::Amqps,
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            other => return Err(bad(format!("unsupported URL scheme {other}:"))),
        };
        let (before_query, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let before_query = before_query.split('#').next().unwrap_or("");
        // split_at_checked, not indexing: a slice that may panic links core's char-boundary
        // panic message and the `Debug` printers it formats with into the wasm
        let (authority, path) = before_query
            .find('/')
            .and_then(|i| before_query.split_at_checked(i))
            .unwrap_or((before_query, ""));
        let (userinfo, hostport) = match rsplit_at(authority, b'@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let mut config = Config::default();
        if let Some(u) = userinfo {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            config.username = percent_decode(user)?;
            config.password = percent_decode(pass)?;
        }
        let (host, port) = split_host_port(hostport)?;
        let default_port = match scheme {
            Scheme::Amqp => 5672,
            Scheme::Amqps => 5671,
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        };
        let port = port.unwrap_or(default_port);
        if host.is_empty() {
            return Err(bad("URL has no host"));
        }
        let is_ws = matches!(scheme, Scheme::Ws | Scheme::Wss);
        if !is_ws && path.len() > 1 {
            config.vhost = percent_decode(path.strip_prefix('/').unwrap_or(path))?;
        }
        let mut connection_timeout_ms = 30_000;
        let mut read_budget = DEFAULT_READ_BUDGET;
        let mut tls = TlsOptions::default();
        let mut kept_query = Vec::new();
        let mut ws_stream = false;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v)?;
            match k {
                "heartbeat" => config.heartbeat = Some(num_u16(k, &v)?),
                "frame_max" | "frameMax" => {
                    let f = num(k, &v, u32::MAX.into())? as u32;
                    if f != 0 && f < 4096 {
                        return Err(bad(format!("{k}={f} is below the AMQP minimum of 4096")));
                    }
                    config.frame_max = f;
                }
                "channel_max" | "channelMax" => config.channel_max = num_u16(k, &v)?,
                "connection_timeout" | "connectionTimeout" => {
                    connection_timeout_ms = num(k, &v, u64::MAX)?
                }
                "operation_timeout" | "operationTimeout" => {
                    config.operation_timeout = num(k, &v, u64::MAX)?
                }
                "max_message_size" | "maxMessageSize" => {
                    config.max_message_size = num(k, &v, u64::MAX)?
                }
                "read_budget" | "readBudget" => {
                    read_budget = num(k, &v, usize::MAX as u64)? as usize;
                    if read_budget == 0 {
                        return Err(bad(format!("{k}=0: the read budget must be at least 1 byte")));
                    }
                }
                "name" | "connection_name" | "connectionName" => config.connection_name = Some(v),
                "auth_mechanism" | "authMechanism" => {
                    config.auth_mechanism = match v.to_ascii_uppercase().as_str() {
                        "PLAIN" => AuthMechanism::Plain,
                        "AMQPLAIN" => AuthMechanism::AmqPlain,
                        "EXTERNAL" => AuthMechanism::External,
                        _ => return Err(bad(format!("unknown auth_mechanism {v}"))),
                    }
                }
                "vhost" if is_ws => config.vhost = v,
                "websocket" if is_ws => {
                    ws_stream = match v.as_str() {
                        "stream" => true,
                        "classic" => false,
                        _ => return Err(bad(format!("unknown websocket={v} (stream or classic)"))),
                    }
                }
                _ if is_ws => kept_query.push(pair),
                "cacertfile" | "caCertFile" => tls.ca_cert_file = Some(file_path(k, v)?),
                "certfile" | "certFile" => tls.cert_file = Some(file_path(k, v)?),
                "keyfile" | "keyFile" => tls.key_file = Some(file_path(k, v)?),
                "server_name_indication" | "serverNameIndication" => {
                    if v.is_empty() || v.contains(['/', ' ']) {
                        return Err(bad(format!("{k}={v} is not a host name")));
                    }
                    tls.server_name = Some(v)
                }
                "verify" => match v.as_str() {
                    "verify_peer" => {}
                    "verify_none" => {
                        return Err(bad(
                            "verify=verify_none is not supported: warren always verifies the broker's certificate (trust a private CA with cacertfile=)",
                        ))
                    }
                    _ => return Err(bad(format!("unknown verify={v} (only verify_peer)"))),
                },
                // Options other clients know (e.g. locale) are accepted and ignored.
                _ => {}
            }
        }
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return Err(bad("certfile and keyfile must be given together"));
        }
        if tls.is_set() && scheme != Scheme::Amqps {
            return Err(bad(
                "TLS options (cacertfile, certfile, keyfile, server_name_indication) need an amqps:// URL",
            ));
        }
        let mut ws_url = format!(
            "{}://{}{}",
            scheme_str.to_ascii_lowercase(),
            hostport,
            if path.is_empty() { "/" } else { path }
        );
        if !kept_query.is_empty() {
            ws_url.push('?');
            ws_url.push_str(&kept_query.join("&"));
        }
        Ok(ConnectionUrl {
            scheme,
            host,
            port,
            ws_url,
            config,
            connection_timeout_ms,
            tls,
            ws_protocols: Vec::new(),
            ws_stream,
            read_budget,
        })
    }

    /// The URL without credentials or options, for logs and events.
    pub fn redacted(&self) -> String {
        match self.scheme {
            Scheme::Ws | Scheme::Wss => self.ws_url.split('?').next().unwrap_or("").to_owned(),
            Scheme::Amqp | Scheme::Amqps => {
                let scheme = if self.scheme == Scheme::Amqp {
                    "amqp"
                } else {
                    "amqps"
                };
                let vhost = self.config.vhost.replace('%', "%25").replace('/', "%2F");
                format!("{scheme}://{}:{}/{vhost}", self.host, self.port)
            }
        }
    }

    /// Where the transport connects to.
    pub fn endpoint(&self) -> Endpoint<'_> {
        Endpoint {
            scheme: self.scheme,
            host: &self.host,
            port: self.port,
            ws_url: &self.ws_url,
            ws_protocols: &self.ws_protocols,
            ws_stream: self.ws_stream,
            tls: &self.tls,
        }
    }
}

fn file_path(key: &str, v: String) -> Result<PathBuf, Error> {
    if v.is_empty() {
        return Err(bad(format!("URL option {key} needs a file path")));
    }
    Ok(PathBuf::from(v))
}

/// `s.rsplit_once(c)` for an ASCII `c`, by a byte scan: core's generic reverse char search costs
/// more code in the wasm than this whole function (the two calls here were its only users).
fn rsplit_at(s: &str, c: u8) -> Option<(&str, &str)> {
    let i = s.bytes().rposition(|b| b == c)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

fn split_host_port(hp: &str) -> Result<(String, Option<u16>), Error> {
    if let Some(rest) = hp.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("unclosed [ in IPv6 host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(num_u16("port", p)?),
            None if after.is_empty() => None,
            None => return Err(bad("garbage after IPv6 host")),
        };
        return Ok((h.to_string(), port));
    }
    match rsplit_at(hp, b':') {
        Some((h, p)) => Ok((h.to_string(), Some(num_u16("port", p)?))),
        None => Ok((hp.to_string(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amqp_url_with_everything() {
        let u = ConnectionUrl::parse("amqp://us%40r:p%3Ass@broker:5673/my%2Fvhost?heartbeat=5&frameMax=8192&channel_max=7&name=x&connection_timeout=100&auth_mechanism=amqplain").unwrap();
        assert_eq!(u.scheme, Scheme::Amqp);
        assert_eq!((u.host.as_str(), u.port), ("broker", 5673));
        assert_eq!(u.config.username, "us@r");
        assert_eq!(u.config.password, "p:ss");
        assert_eq!(u.config.vhost, "my/vhost");
        assert_eq!(u.config.heartbeat, Some(5));
        assert_eq!(u.config.frame_max, 8192);
        assert_eq!(u.config.channel_max, 7);
        assert_eq!(u.config.connection_name.as_deref(), Some("x"));
        assert_eq!(u.config.auth_mechanism, AuthMechanism::AmqPlain);
        assert_eq!(u.connection_timeout_ms, 100);
    }

    #[test]
    fn limits_and_deadlines() {
        let u = ConnectionUrl::parse("amqp://h").unwrap();
        assert_eq!(u.config.max_message_size, 128 << 20);
        assert_eq!(u.config.operation_timeout, 60_000);
        assert_eq!(u.connection_timeout_ms, 30_000);
        let u = ConnectionUrl::parse(
            "amqp://h?max_message_size=1000&operation_timeout=250&connection_timeout=0",
        )
        .unwrap();
        assert_eq!(u.config.max_message_size, 1000);
        assert_eq!(u.config.operation_timeout, 250);
        assert_eq!(u.connection_timeout_ms, 0, "0 = no deadline");
        let u = ConnectionUrl::parse("ws://h/ws?maxMessageSize=0&operationTimeout=0&x=1").unwrap();
        assert_eq!(
            (u.config.max_message_size, u.config.operation_timeout),
            (0, 0)
        );
        assert_eq!(
            u.ws_url, "ws://h/ws?x=1",
            "warren's own options are not passed on"
        );
        assert!(ConnectionUrl::parse("amqp://h?max_message_size=-1").is_err());
    }

    #[test]
    fn defaults_and_root_vhost() {
        let u = ConnectionUrl::parse("amqp://localhost").unwrap();
        assert_eq!(u.port, 5672);
        assert_eq!(u.config.vhost, "/");
        assert_eq!(
            ConnectionUrl::parse("amqp://h/%2f").unwrap().config.vhost,
            "/"
        );
        assert_eq!(ConnectionUrl::parse("amqps://h").unwrap().port, 5671);
    }

    #[test]
    fn ws_url_strips_credentials_and_own_options() {
        let u = ConnectionUrl::parse("ws://a:b@127.0.0.1:15673/ws?vhost=v1&heartbeat=3&token=t")
            .unwrap();
        assert_eq!(u.ws_url, "ws://127.0.0.1:15673/ws?token=t");
        assert_eq!(u.config.vhost, "v1");
        assert_eq!(u.config.username, "a");
        assert_eq!(u.config.heartbeat, Some(3));
        assert!(!u.ws_stream, "the classic WebSocket unless asked");
    }

    #[test]
    fn websocket_option_picks_the_stream_transport() {
        let u = ConnectionUrl::parse("wss://h/ws?websocket=stream&token=t").unwrap();
        assert!(u.ws_stream && u.endpoint().ws_stream);
        assert_eq!(
            u.ws_url, "wss://h/ws?token=t",
            "warren's option is not sent to the relay"
        );
        assert!(
            !ConnectionUrl::parse("ws://h/?websocket=classic")
                .unwrap()
                .ws_stream
        );
        let e = ConnectionUrl::parse("ws://h/?websocket=fast")
            .unwrap_err()
            .to_string();
        assert!(e.contains("websocket=fast"), "{e}");
    }

    #[test]
    fn invalid_urls_are_typed_errors() {
        for bad in [
            "localhost",
            "http://x",
            "amqp://",
            "amqp://h:notaport",
            "amqp://h?heartbeat=x",
            "amqp://h?heartbeat=65536",
            "amqp://h:65536",
            "amqp://h?frame_max=4294967296",
            "amqp:h",
            "amqp://h?frame_max=100",
            "amqp://h/%zz",
        ] {
            assert!(
                matches!(ConnectionUrl::parse(bad), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn amqps_tls_options_both_spellings() {
        let u = ConnectionUrl::parse(
            "amqps://localhost/?cacertfile=%2Ftmp%2Fca.pem&certfile=/tmp/c.pem&keyfile=/tmp/k.pem&server_name_indication=broker.example&verify=verify_peer&auth_mechanism=external",
        )
        .unwrap();
        assert_eq!((u.scheme, u.port), (Scheme::Amqps, 5671));
        assert_eq!(u.config.auth_mechanism, AuthMechanism::External);
        assert_eq!(
            u.tls,
            TlsOptions {
                ca_cert_file: Some("/tmp/ca.pem".into()),
                cert_file: Some("/tmp/c.pem".into()),
                key_file: Some("/tmp/k.pem".into()),
                server_name: Some("broker.example".into()),
            }
        );
        let camel = ConnectionUrl::parse(
            "amqps://h:5674?caCertFile=a.pem&certFile=c.pem&keyFile=k.pem&serverNameIndication=x",
        )
        .unwrap();
        assert_eq!(camel.port, 5674);
        assert_eq!(camel.tls.ca_cert_file, Some("a.pem".into()));
        assert_eq!(camel.tls.cert_file, Some("c.pem".into()));
        assert_eq!(camel.tls.key_file, Some("k.pem".into()));
        assert_eq!(camel.tls.server_name.as_deref(), Some("x"));
        let plain = ConnectionUrl::parse("amqps://h").unwrap();
        assert!(!plain.tls.is_set());
        assert_eq!(plain.tls, TlsOptions::default());
    }

    #[test]
    fn bad_tls_options_are_rejected() {
        for (url, why) in [
            ("amqps://h?verify=verify_none", "verify_none"),
            ("amqps://h?verify=sometimes", "verify"),
            ("amqps://h?certfile=c.pem", "together"),
            ("amqps://h?keyfile=k.pem", "together"),
            ("amqps://h?cacertfile=", "file path"),
            ("amqps://h?server_name_indication=", "host name"),
            ("amqp://h?cacertfile=ca.pem", "amqps://"),
            ("amqp://h?server_name_indication=x", "amqps://"),
        ] {
            match ConnectionUrl::parse(url) {
                Err(Error::InvalidArgument(m)) => assert!(m.contains(why), "{url}: {m}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        // WebSocket URLs pass unknown options through to the server untouched.
        let ws = ConnectionUrl::parse("wss://h/ws?cacertfile=x").unwrap();
        assert_eq!(ws.ws_url, "wss://h/ws?cacertfile=x");
        assert!(!ws.tls.is_set());
    }

    #[test]
    fn password_not_in_debug() {
        let u = ConnectionUrl::parse("amqp://user:hunter2secret@h").unwrap();
        assert!(!format!("{u:?}").contains("hunter2secret"));
    }
}
