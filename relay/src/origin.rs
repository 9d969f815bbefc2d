//! The Origin allowlist: the relay's defence against a foreign web page opening a broker
//! connection from a visitor's browser (cross-site WebSocket hijacking).
//!
//! Entries: `*` (any origin), an exact origin `https://app.example.com[:port]`, or a pattern
//! whose host starts with `*.` (`https://*.example.com`: any subdomain, not the apex) and/or
//! whose port is `*` (`http://127.0.0.1:*`). An entry without a scheme matches http and https.
//!
//! A missing Origin header is refused unless `allow_missing_origin` is set. Browsers always
//! send Origin on WebSocket upgrades, so a request without one comes from a non-browser client
//! (Deno, native code, curl). Such clients can write any Origin they like, so the allowlist
//! cannot keep them out anyway (credentials do); the switch exists so deployments that serve
//! only browsers can refuse everything else outright.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Exact(String),
    /// `*.example.com` stored as `.example.com`
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Port {
    /// no port written: the scheme's default
    Default,
    Exact(u16),
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    scheme: Option<String>,
    host: Host,
    port: Port,
}

#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    any: bool,
    patterns: Vec<Pattern>,
    allow_missing: bool,
}

/// An origin split into its parts, lower-cased; `None` when it is not `scheme://host[:port]`.
fn split(origin: &str, allow_wildcards: bool) -> Option<(Option<String>, String, Option<String>)> {
    let origin = origin.to_ascii_lowercase();
    let (scheme, rest) = match origin.split_once("://") {
        Some((s, r)) => (Some(s.to_string()), r.to_string()),
        None => (None, origin),
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    // [v6]:port, host:port, host
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.to_string()),
        };
        (format!("[{h}]"), port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.to_string())),
            None => (rest, None),
        }
    };
    if host.is_empty() || (!allow_wildcards && host.contains('*')) {
        return None;
    }
    Some((scheme, host, port))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

impl Pattern {
    fn parse(entry: &str) -> Result<Pattern, String> {
        let bad = || {
            format!("allowed origin {entry:?} is not [scheme://]host[:port] (host may start with *., port may be *)")
        };
        let (scheme, host, port) = split(entry, true).ok_or_else(bad)?;
        let host = match host.strip_prefix("*.") {
            Some(suffix) if !suffix.is_empty() && !suffix.contains('*') => {
                Host::Suffix(format!(".{suffix}"))
            }
            Some(_) => return Err(bad()),
            None if host.contains('*') => return Err(bad()),
            None => Host::Exact(host),
        };
        let port = match port.as_deref() {
            None => Port::Default,
            Some("*") => Port::Any,
            Some(p) => Port::Exact(p.parse().map_err(|_| bad())?),
        };
        Ok(Pattern { scheme, host, port })
    }

    fn matches(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme_ok = match &self.scheme {
            Some(s) => s == scheme,
            None => scheme == "http" || scheme == "https",
        };
        let host_ok = match &self.host {
            Host::Exact(h) => h == host,
            Host::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
        };
        let effective = port.or_else(|| default_port(scheme));
        let port_ok = match self.port {
            Port::Any => true,
            Port::Exact(p) => effective == Some(p),
            Port::Default => effective == default_port(scheme),
        };
        scheme_ok && host_ok && port_ok
    }
}

impl OriginPolicy {
    pub fn new(entries: &[String], allow_missing: bool) -> Result<OriginPolicy, String> {
        let mut policy = OriginPolicy {
            allow_missing,
            ..OriginPolicy::default()
        };
        for e in entries {
            if e.trim() == "*" {
                policy.any = true;
            } else {
                policy.patterns.push(Pattern::parse(e.trim())?);
            }
        }
        Ok(policy)
    }

    /// Whether an upgrade with this Origin header value (None: no header) may proceed.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return self.allow_missing;
        };
        if self.any {
            return true;
        }
        // "null" (sandboxed frames, file: pages) and anything malformed match no pattern
        let Some((Some(scheme), host, port)) = split(origin, false) else {
            return false;
        };
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(p) => Some(p),
                Err(_) => return false,
            },
        };
        self.patterns
            .iter()
            .any(|p| p.matches(&scheme, &host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> OriginPolicy {
        OriginPolicy::new(
            &entries.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            false,
        )
        .unwrap()
    }

    #[test]
    fn exact_origins() {
        let p = policy(&["https://app.example.com"]);
        assert!(p.allows(Some("https://app.example.com")));
        assert!(p.allows(Some("https://APP.example.com")));
        assert!(p.allows(Some("https://app.example.com:443")));
        assert!(!p.allows(Some("http://app.example.com")));
        assert!(!p.allows(Some("https://app.example.com:8443")));
        assert!(!p.allows(Some("https://app.example.com.evil.net")));
        assert!(!p.allows(Some("https://evilapp.example.com")));
        assert!(!p.allows(Some("null")));
        assert!(!p.allows(None));
    }

    #[test]
    fn subdomain_patterns() {
        let p = policy(&["https://*.example.com"]);
        assert!(p.allows(Some("https://a.example.com")));
        assert!(p.allows(Some("https://a.b.example.com")));
        assert!(!p.allows(Some("https://example.com")));
        assert!(!p.allows(Some("https://aexample.com")));
        assert!(!p.allows(Some("https://a.example.com.evil.net")));
        assert!(!p.allows(Some("http://a.example.com")));
        let any_scheme = policy(&["*.example.com"]);
        assert!(any_scheme.allows(Some("http://a.example.com")));
        assert!(any_scheme.allows(Some("https://a.example.com")));
        assert!(!any_scheme.allows(Some("ftp://a.example.com")));
    }

    #[test]
    fn ports() {
        let p = policy(&["http://127.0.0.1:*", "http://localhost:8080"]);
        assert!(p.allows(Some("http://127.0.0.1:41234")));
        assert!(p.allows(Some("http://127.0.0.1")));
        assert!(p.allows(Some("http://localhost:8080")));
        assert!(!p.allows(Some("http://localhost:8081")));
        assert!(!p.allows(Some("http://localhost")));
        assert!(!p.allows(Some("http://127.0.0.1:99999")));
        let v6 = policy(&["http://[::1]:*"]);
        assert!(v6.allows(Some("http://[::1]:8000")));
    }

    #[test]
    fn star_missing_and_malformed() {
        assert!(policy(&["*"]).allows(Some("https://anything.test")));
        assert!(!policy(&["*"]).allows(None));
        assert!(OriginPolicy::new(&[], true).unwrap().allows(None));
        for bad in [
            "https://a.*.com",
            "https://*",
            "https://x/y",
            "",
            "https://a:b",
        ] {
            assert!(
                OriginPolicy::new(&[bad.to_string()], false).is_err(),
                "{bad}"
            );
        }
        assert!(!policy(&["https://a.example"]).allows(Some("https://a.example/path")));
    }
}
