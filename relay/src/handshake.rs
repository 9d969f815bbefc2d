//! The decision on an upgrade request, made when its HTTP head has been read and before the
//! 101 is sent: path, Origin, client address, limits, subprotocol. A refused request gets a
//! plain HTTP error status and never reaches the upstream.

use std::net::SocketAddr;
use std::sync::Arc;

pub use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

use crate::forwarded;
use crate::limits::{ConnectionSlot, Refusal};
use crate::server::State;

/// The subprotocols the relay speaks; LavinMQ likewise echoes the `amqp*` token a client offers.
const PROTOCOLS: &[&str] = &["amqp", "amqp091"];

pub struct Admitted {
    pub slot: ConnectionSlot,
    pub protocol: Option<&'static str>,
}

/// What the callback decided: `Err` carries the refusal reason (metric label).
pub type Decision = Result<Admitted, &'static str>;

fn refuse(status: StatusCode, body: &str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(format!("{body}\n")));
    *r.status_mut() = status;
    r
}

/// The first subprotocol the client offered that the relay speaks.
pub fn pick_protocol(request: &Request) -> Option<&'static str> {
    request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|offered| PROTOCOLS.iter().copied().find(|p| *p == offered.trim()))
}

/// The tungstenite callback: records its decision in `out` and answers accordingly. (Its error
/// type is tungstenite's, large or not.)
#[allow(clippy::result_large_err)]
pub fn decide(
    state: &Arc<State>,
    peer: SocketAddr,
    request: &Request,
    mut response: Response,
    out: &mut Option<Decision>,
) -> Result<Response, ErrorResponse> {
    let c = &state.config;
    if state.shutdown.draining() {
        *out = Some(Err("shutting_down"));
        return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, "shutting down"));
    }
    if request.uri().path() != c.path {
        *out = Some(Err("path"));
        return Err(refuse(StatusCode::NOT_FOUND, "not found"));
    }
    let origin = request
        .headers()
        .get("origin")
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    if !c.origins.allows(origin) {
        *out = Some(Err("origin"));
        return Err(refuse(StatusCode::FORBIDDEN, "origin not allowed"));
    }
    let ip = forwarded::client_ip(peer.ip(), request.headers(), &c.trusted_proxies);
    let slot = match state.limits.admit(ip) {
        Ok(slot) => slot,
        Err(r) => {
            *out = Some(Err(r.reason()));
            let status = match r {
                Refusal::TotalConnections | Refusal::PendingHandshakes => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                Refusal::ConnectionsPerIp | Refusal::UpgradeRate => StatusCode::TOO_MANY_REQUESTS,
            };
            return Err(refuse(status, r.reason()));
        }
    };
    let protocol = pick_protocol(request);
    if let Some(p) = protocol {
        response
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static(p));
    }
    *out = Some(Ok(Admitted { slot, protocol }));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(protocols: &[&str]) -> Request {
        let mut b = Request::builder().uri("/");
        for p in protocols {
            b = b.header("sec-websocket-protocol", *p);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn subprotocol_is_echoed_only_for_amqp_tokens() {
        assert_eq!(pick_protocol(&request(&[])), None);
        assert_eq!(pick_protocol(&request(&["mqtt"])), None);
        assert_eq!(pick_protocol(&request(&["amqp"])), Some("amqp"));
        assert_eq!(pick_protocol(&request(&["amqp091"])), Some("amqp091"));
        assert_eq!(
            pick_protocol(&request(&["mqtt, amqp091, amqp"])),
            Some("amqp091")
        );
        assert_eq!(pick_protocol(&request(&["stomp", "amqp"])), Some("amqp"));
        assert_eq!(pick_protocol(&request(&["amqp1.0"])), None);
    }
}
