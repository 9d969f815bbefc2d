//! Which address a connection comes from. The TCP peer, unless the peer is a configured trusted
//! proxy: only then are `Forwarded` (RFC 7239) and `X-Forwarded-For` believed, read from the
//! right (the entry the trusted proxy itself appended) past further trusted hops. Headers from
//! anyone else are ignored, so a client cannot pick the address its limits are counted under.

use std::net::IpAddr;

use tokio_tungstenite::tungstenite::http::HeaderMap;

/// An address block (`10.0.0.0/8`, `::1/128`; a bare address is a single-address block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let bad = || format!("trusted proxy {s:?} is not an address or CIDR block");
        let (addr, bits) = match s.trim().split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(Cidr { net, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = (bits / 8) as usize;
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[full] & mask == b[full] & mask
    }
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, as a dual-stack listener reports) as plain IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// One `for=` value or X-Forwarded-For element: `1.2.3.4`, `1.2.3.4:5678`, `"[2001:db8::1]:80"`,
/// `2001:db8::1`. Obfuscated identifiers (`_hidden`, `unknown`) yield None.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let s = raw.trim().trim_matches('"');
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    let (host, port) = s.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The hop list, client first, from `Forwarded` when present, else `X-Forwarded-For`.
/// None when the headers are absent or any element is unusable (then the peer counts).
fn hops(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let mut out = Vec::new();
    if !forwarded.is_empty() {
        for element in forwarded.iter().flat_map(|v| v.split(',')) {
            let node = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then_some(v)
            })?;
            out.push(parse_node(node)?);
        }
    } else {
        for v in headers.get_all("x-forwarded-for").iter() {
            for element in v.to_str().ok()?.split(',') {
                out.push(parse_node(element)?);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The address a connection from `peer` is accounted to.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(list) = hops(headers) else {
        return peer;
    };
    // the rightmost hop that is not one of our proxies; if all are, the leftmost
    list.iter()
        .rev()
        .map(|ip| canonical(*ip))
        .find(|ip| !is_trusted(*ip))
        .unwrap_or_else(|| canonical(list[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.200.1.2")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.1.1.1")));
        assert!(Cidr::parse("192.168.1.128/25")
            .unwrap()
            .contains(ip("192.168.1.200")));
        assert!(!Cidr::parse("192.168.1.128/25")
            .unwrap()
            .contains(ip("192.168.1.100")));
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope").is_err());
    }

    #[test]
    fn untrusted_peers_cannot_spoof() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &[]), ip("127.0.0.1"));
        assert_eq!(
            client_ip(ip("127.0.0.1"), &h, &[Cidr::parse("10.0.0.0/8").unwrap()]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn trusted_proxies_are_believed_from_the_right() {
        let trusted = [
            Cidr::parse("127.0.0.1").unwrap(),
            Cidr::parse("10.0.0.0/8").unwrap(),
        ];
        let peer = ip("127.0.0.1");
        let h = headers(&[("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.0.0.5")]);
        // 198.51.100.1 was written by the client itself; 203.0.113.9 is what our proxy saw
        assert_eq!(client_ip(peer, &h, &trusted), ip("203.0.113.9"));
        let h = headers(&[(
            "forwarded",
            "for=198.51.100.1, for=\"[2001:db8::7]:4711\";proto=https",
        )]);
        assert_eq!(client_ip(peer, &h, &trusted), ip("2001:db8::7"));
        let h = headers(&[("forwarded", "For=203.0.113.9:1234")]);
        assert_eq!(client_ip(peer, &h, &trusted), ip("203.0.113.9"));
        let h = headers(&[("x-forwarded-for", "10.0.0.7")]);
        assert_eq!(client_ip(peer, &h, &trusted), ip("10.0.0.7"));
        // unusable headers: the peer counts
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(client_ip(peer, &h, &trusted), peer);
        assert_eq!(client_ip(peer, &headers(&[]), &trusted), peer);
    }
}
