//! PROXY protocol v2 (HAProxy's binary header), sent to the upstream before any client byte so
//! RabbitMQ (`proxy_protocol = true`) reports the browser's address instead of the relay's.
//! Only the PROXY command over TCP (IPv4 or IPv6) is ever produced; no TLVs.

use std::net::{IpAddr, SocketAddr};

/// The 12-byte signature every v2 header starts with.
pub const SIGNATURE: [u8; 12] = [
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
];

/// The header for a connection from `source` (the client) to `destination` (the address it
/// reached the relay on). Mixed families are both written as IPv6 (IPv4-mapped).
pub fn header(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + 36);
    out.extend_from_slice(&SIGNATURE);
    out.push(0x21); // version 2, command PROXY
    match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.push(0x11); // AF_INET, STREAM
            out.extend_from_slice(&12u16.to_be_bytes());
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (s, d) => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            out.push(0x21); // AF_INET6, STREAM
            out.extend_from_slice(&36u16.to_be_bytes());
            out.extend_from_slice(&v6(s).octets());
            out.extend_from_slice(&v6(d).octets());
        }
    }
    out.extend_from_slice(&source.port().to_be_bytes());
    out.extend_from_slice(&destination.port().to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_bytes() {
        let h = header(
            "203.0.113.7:51000".parse().unwrap(),
            "127.0.0.1:15673".parse().unwrap(),
        );
        let mut want = SIGNATURE.to_vec();
        want.extend_from_slice(&[0x21, 0x11, 0x00, 0x0c, 203, 0, 113, 7, 127, 0, 0, 1]);
        want.extend_from_slice(&51000u16.to_be_bytes());
        want.extend_from_slice(&15673u16.to_be_bytes());
        assert_eq!(h, want);
        assert_eq!(h.len(), 28);
    }

    #[test]
    fn ipv6_and_mixed_headers() {
        let h = header(
            "[2001:db8::1]:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        );
        assert_eq!(&h[12..16], &[0x21, 0x21, 0x00, 0x24]);
        assert_eq!(h.len(), 16 + 36);
        assert_eq!(
            &h[16..32],
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        );
        assert_eq!(
            &h[32..48],
            &"::ffff:127.0.0.1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        );
        assert_eq!(&h[48..], &[0, 1, 0, 2]);
    }
}
