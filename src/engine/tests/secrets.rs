// Test-only: engine/mod.rs declares the tests module under #[cfg(test)].
//! The password never shows in Debug output or error texts.

use super::*;

const SECRET: &str = "hunter2-S3cr3t!";

#[test]
fn config_debug_redacts_the_password() {
    let cfg = Config {
        password: SECRET.into(),
        ..config()
    };
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains(SECRET), "{dbg}");
    assert!(dbg.contains(USER), "the rest is still useful: {dbg}");
    let eng = Engine::new(cfg, 0);
    assert!(!format!("{eng:?}").contains(SECRET));
}

#[test]
fn handshake_failures_never_show_the_password() {
    let mut texts = Vec::new();
    for scenario in 0..6 {
        let mech = if scenario % 2 == 0 {
            AuthMechanism::Plain
        } else {
            AuthMechanism::AmqPlain
        };
        let cfg = Config {
            password: SECRET.into(),
            auth_mechanism: mech,
            ..config()
        };
        let mut eng = Engine::new(cfg, 0);
        let mut b = FakeBroker::new();
        match scenario {
            0 | 1 => {
                b.mechanisms = "EXTERNAL";
                b.send_start(&mut eng);
            }
            2 | 3 => {
                b.start(&mut eng);
                let close = ConnectionClose {
                    reply_code: 403,
                    reply_text: "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.".into(),
                    class_id: 0,
                    method_id: 0,
                };
                b.send(&mut eng, 0, &Method::ConnectionClose(close));
            }
            _ => {
                b.start(&mut eng);
                // A secure challenge is answered, then the broker hangs up.
                b.send(
                    &mut eng,
                    0,
                    &Method::ConnectionSecure(ConnectionSecure::default()),
                );
                eng.handle_transport_closed(TransportError::Reset(
                    "connection reset by peer".into(),
                ));
            }
        }
        let events = drain_events(&mut eng);
        let err = closed_error(&events).expect("an error");
        texts.push(format!("{err}"));
        texts.push(format!("{err:?}"));
        texts.push(format!("{events:?}"));
        if let Some(info) = err.close_info() {
            texts.push(info.to_string());
        }
    }
    for t in &texts {
        assert!(!t.contains(SECRET), "password leaked: {t}");
    }
}
