//! The opening handshake, client side: start → start-ok, (secure → secure-ok), tune → tune-ok +
//! open, open-ok. The state moves are [`ConnState`](super::state::ConnState) transitions made by
//! the dispatcher; this file builds the answers.

use super::events::Event;
use super::timer::Timer;
use super::{AuthMechanism, CloseInfo, Engine, Error};
use crate::protocol::*;
use bytes::Bytes;

impl Engine {
    /// connection.secure: PLAIN and AMQPLAIN never need a second round; answer with the same response.
    pub(super) fn on_secure(&mut self) {
        let response = self.auth_response();
        let _ = encode_method(
            &mut self.out,
            0,
            &Method::ConnectionSecureOk(ConnectionSecureOk { response }),
        );
    }

    /// connection.open-ok: the connection is usable; the handshake deadline no longer applies.
    pub(super) fn on_open_ok(&mut self) {
        self.timers.stop(Timer::Handshake);
        let server_properties = std::mem::take(&mut self.server_properties);
        self.events.push_back(Event::Opened { server_properties });
    }

    pub(super) fn on_start(&mut self, start: ConnectionStart) {
        let mechanism = self.config.auth_mechanism.name();
        let offered = String::from_utf8_lossy(&start.mechanisms).into_owned();
        if !offered.split(' ').any(|m| m == mechanism) {
            let text = format!("broker does not offer {mechanism} (offers {offered})");
            let info = CloseInfo {
                code: ReplyCode::ACCESS_REFUSED,
                text,
                class_id: MethodId::CONNECTION_START_OK.class,
                method_id: MethodId::CONNECTION_START_OK.method,
            };
            return self.fail(Error::ConnectionClosed(info));
        }
        self.server_properties = start.server_properties;
        let start_ok = ConnectionStartOk {
            client_properties: self.client_properties(),
            mechanism: ShortStr::from(mechanism),
            response: self.auth_response(),
            locale: ShortStr::from("en_US"),
        };
        if let Err(e) = encode_method(&mut self.out, 0, &Method::ConnectionStartOk(start_ok)) {
            self.fail(Error::Encode(e));
        }
    }

    pub(super) fn auth_response(&self) -> Bytes {
        let c = &self.config;
        match c.auth_mechanism {
            AuthMechanism::Plain => {
                let mut v = Vec::with_capacity(c.username.len() + c.password.len() + 2);
                v.push(0);
                v.extend_from_slice(c.username.as_bytes());
                v.push(0);
                v.extend_from_slice(c.password.as_bytes());
                Bytes::from(v)
            }
            AuthMechanism::AmqPlain => {
                // AMQPLAIN: a field table without its length prefix.
                let t = FieldTable::new()
                    .with("LOGIN", c.username.as_str())
                    .with("PASSWORD", c.password.as_str());
                let mut v = Vec::new();
                let _ = t.encode(&mut v);
                Bytes::from(v.split_off(4.min(v.len())))
            }
            AuthMechanism::External => Bytes::new(),
        }
    }

    fn client_properties(&self) -> FieldTable {
        let caps = [
            "publisher_confirms",
            "exchange_exchange_bindings",
            "basic.nack",
            "consumer_cancel_notify",
            "connection.blocked",
            "consumer_priorities",
            "authentication_failure_close",
            "per_consumer_qos",
            "direct_reply_to",
        ];
        let capabilities: FieldTable = caps.iter().map(|c| (*c, true)).collect();
        let mut t = FieldTable::new()
            .with("product", "warren")
            .with("version", env!("CARGO_PKG_VERSION"))
            .with("platform", self.config.platform.as_str())
            .with("information", "https://www.npmjs.com/package/warren-amqp")
            .with("capabilities", capabilities);
        if let Some(name) = &self.config.connection_name {
            t.insert("connection_name", name.as_str());
        }
        for (k, v) in self.config.client_properties.iter() {
            t.insert(k, v.clone());
        }
        t
    }

    pub(super) fn on_tune(&mut self, tune: ConnectionTune) {
        // Limits: the smaller non-zero value wins (0 means "no limit" on either side).
        let pick = |ours: u32, theirs: u32| match (ours, theirs) {
            (0, t) => t,
            (o, 0) => o,
            (o, t) => o.min(t),
        };
        self.channel_max = match pick(self.config.channel_max.into(), tune.channel_max.into()) {
            0 => u16::MAX,
            n => n as u16,
        };
        // Both sides "unlimited": pick a size that keeps frames cheap to buffer.
        self.frame_max = match pick(self.config.frame_max, tune.frame_max) {
            0 => 131_072,
            n => n.max(FRAME_MIN_SIZE),
        };
        // The server's proposal unless the application chose; a server that proposes none
        // gets DEFAULT_HEARTBEAT back (RabbitMQ takes the client's value from tune-ok), so a
        // dead peer is noticed. Only an explicit `heartbeat: Some(0)` turns heartbeats off.
        self.heartbeat = match (self.config.heartbeat, tune.heartbeat) {
            (Some(h), _) => h,
            (None, 0) => super::DEFAULT_HEARTBEAT,
            (None, h) => h,
        };
        self.decoder.set_max_frame(self.frame_max);
        let tune_ok = ConnectionTuneOk {
            channel_max: self.channel_max,
            frame_max: self.frame_max,
            heartbeat: self.heartbeat,
        };
        let open = ConnectionOpen {
            virtual_host: self.config.vhost.as_str().into(),
            capabilities: ShortStr::new(),
            insist: false,
        };
        let res = encode_method(&mut self.out, 0, &Method::ConnectionTuneOk(tune_ok))
            .and_then(|_| encode_method(&mut self.out, 0, &Method::ConnectionOpen(open)));
        match res {
            Ok(()) => {
                if self.heartbeat > 0 {
                    // Armed on the next handle_timeout, which knows the time.
                    self.received_since_check = true;
                    self.sent_since_check = true;
                    self.timers.set(Timer::SendHeartbeat, 0);
                }
            }
            Err(e) => self.fail(Error::Encode(e)),
        }
    }
}
