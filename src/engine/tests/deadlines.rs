// Test-only: engine/mod.rs declares the tests module under #[cfg(test)].
//! The handshake and close-ok deadlines on the virtual clock: each fires exactly at its deadline,
//! never before, and stops once it no longer applies.

use super::*;

const START: Millis = 5_000;

/// A fresh engine created at `START`, the handshake taken to `stage` (0: header sent, 1: start-ok
/// sent, 2: tune-ok and open sent).
fn handshake_until(stage: u8, cfg: Config) -> (Engine, FakeBroker) {
    let mut eng = Engine::new(cfg, START);
    let mut b = FakeBroker::new();
    b.now = START;
    match stage {
        0 => {
            b.recv(&mut eng);
        }
        1 => {
            b.start(&mut eng);
        }
        _ => {
            b.start(&mut eng);
            b.tune(&mut eng, Tune::default());
        }
    }
    (eng, b)
}

#[test]
fn handshake_deadline_fires_exactly_at_the_deadline() {
    for stage in 0..3 {
        let (mut eng, mut b) = handshake_until(stage, config());
        let deadline = START + 30_000; // the default handshake_timeout
        assert_eq!(eng.poll_timeout(), Some(deadline), "stage {stage}");
        eng.handle_timeout(deadline - 1);
        assert!(
            drain_events(&mut eng).is_empty(),
            "stage {stage}: fired early"
        );
        assert!(!eng.is_closed());
        let events = b.drive(&mut eng, deadline + 60_000);
        assert_eq!(b.now, deadline, "stage {stage}");
        assert_eq!(closed_error(&events), Some(Error::Timeout), "stage {stage}");
        assert!(eng.is_closed());
        assert_eq!(eng.poll_timeout(), None);
        b.expect_nothing(&mut eng);
    }
}

#[test]
fn handshake_timeout_is_configurable_and_zero_disables_it() {
    let cfg = Config {
        handshake_timeout: 1_500,
        ..config()
    };
    let (mut eng, mut b) = handshake_until(1, cfg);
    let events = b.drive(&mut eng, START + 60_000);
    assert_eq!(b.now, START + 1_500);
    assert_eq!(closed_error(&events), Some(Error::Timeout));

    let cfg = Config {
        handshake_timeout: 0,
        ..config()
    };
    let (mut eng, mut b) = handshake_until(1, cfg);
    assert_eq!(eng.poll_timeout(), None);
    assert!(b.drive(&mut eng, START + 1_000_000).is_empty());
    assert!(!eng.is_closed());
}

#[test]
fn handshake_deadline_stops_once_open() {
    let (mut eng, mut b) = handshake_until(2, config());
    assert_eq!(eng.poll_timeout(), Some(START + 30_000));
    b.open_ok(&mut eng);
    assert_eq!(
        eng.poll_timeout(),
        None,
        "heartbeats are off: nothing to wake for"
    );
    assert!(b.drive(&mut eng, START + 120_000).is_empty());
    assert!(eng.is_open());
}

#[test]
fn handshake_deadline_stops_once_open_with_heartbeats_running() {
    let mut eng = Engine::new(config(), START);
    let mut b = FakeBroker::new();
    b.now = START;
    let tune = Tune {
        heartbeat: 10,
        ..Tune::default()
    };
    b.handshake_with(&mut eng, tune);
    b.heartbeat_every = Some(10_000);
    assert!(b.drive(&mut eng, START + 120_000).is_empty());
    assert!(eng.is_open());
}

#[test]
fn close_ok_deadline_fires_exactly_at_the_deadline() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    b.now = 10_000;
    eng.close(ReplyCode::SUCCESS, "bye", b.now).unwrap();
    b.expect_connection_close(&mut eng);
    let deadline = 10_000 + 30_000; // the default close_timeout
    assert_eq!(eng.poll_timeout(), Some(deadline));
    eng.handle_timeout(deadline - 1);
    assert!(drain_events(&mut eng).is_empty(), "fired early");
    assert!(!eng.is_closed());
    let events = b.drive(&mut eng, deadline + 60_000);
    assert_eq!(b.now, deadline);
    assert_eq!(closed_error(&events), Some(Error::Timeout));
    assert!(events.contains(&Event::ChannelClosed {
        channel: ch,
        error: Some(Error::Timeout)
    }));
    assert!(eng.is_closed());
    assert_eq!(eng.poll_timeout(), None);
}

#[test]
fn close_ok_deadline_stops_when_close_ok_arrives() {
    let cfg = Config {
        close_timeout: 2_000,
        ..config()
    };
    let (mut eng, mut b, _) = connected_with(cfg, Tune::default());
    eng.close(ReplyCode::SUCCESS, "bye", 0).unwrap();
    b.expect_connection_close(&mut eng);
    assert_eq!(eng.poll_timeout(), Some(2_000));
    b.send(&mut eng, 0, &Method::ConnectionCloseOk);
    assert_eq!(closed_error(&drain_events(&mut eng)), None);
    assert_eq!(eng.poll_timeout(), None);
    assert!(b.drive(&mut eng, 100_000).is_empty());
}
