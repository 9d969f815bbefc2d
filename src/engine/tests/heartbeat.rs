// Test-only: engine/mod.rs declares the tests module under #[cfg(test)].
//! Heartbeats on the virtual clock: the broker harness drives time to each engine deadline.

use super::*;

const T0: Millis = 1_000_000;

fn heartbeat_config(hb: Option<u16>) -> Config {
    Config {
        heartbeat: hb,
        ..config()
    }
}

/// Connected with a 2 s heartbeat proposed by the broker (config `None` takes it); timers not armed yet.
fn heartbeat_connected() -> (Engine, FakeBroker) {
    let tune = Tune {
        heartbeat: 2,
        ..Tune::default()
    };
    let (eng, b, hs) = connected_with(heartbeat_config(None), tune);
    assert_eq!(hs.tune_ok.heartbeat, 2);
    assert_eq!(eng.heartbeat(), 2);
    (eng, b)
}

/// Fires the first deadline (due at once after the handshake) at `T0`: the virtual clock starts.
fn arm(eng: &mut Engine, b: &mut FakeBroker) {
    let first = eng
        .poll_timeout()
        .expect("a deadline once heartbeats are negotiated");
    assert!(first <= T0);
    b.now = T0;
    assert_eq!(b.advance_to_next_deadline(eng), Some(T0));
}

fn heartbeat_pair() -> (Engine, FakeBroker) {
    let (mut eng, mut b) = heartbeat_connected();
    arm(&mut eng, &mut b);
    (eng, b)
}

const HEARTBEAT_FRAME: [u8; 8] = [8, 0, 0, 0, 0, 0, 0, 0xCE];

/// The times of the buffers `drive` took, each asserted to be exactly one heartbeat frame.
fn heartbeat_times(b: &FakeBroker) -> Vec<Millis> {
    b.transmitted
        .iter()
        .map(|(at, raw)| {
            assert_eq!(raw, &HEARTBEAT_FRAME, "at {at}");
            *at
        })
        .collect()
}

#[test]
fn heartbeat_sent_after_half_an_idle_interval() {
    let (mut eng, mut b) = heartbeat_pair();
    b.expect_nothing(&mut eng);
    assert!(b.drive(&mut eng, T0 + 1000).is_empty());
    let sent = heartbeat_times(&b);
    let now = *sent.first().expect("no heartbeat within interval/2");
    assert!(now >= T0 + 500, "heartbeat too early, at +{} ms", now - T0);
    assert_eq!(b.expect_frame(&mut eng), Frame::Heartbeat);
    assert!(drain_events(&mut eng).is_empty());
}

#[test]
fn outgoing_traffic_postpones_the_heartbeat() {
    let (mut eng, mut b) = heartbeat_pair();
    let first = eng.poll_timeout().unwrap();
    assert!(first <= T0 + 1000);
    // Something goes out just before the deadline: no heartbeat is needed then.
    eng.open_channel(None).unwrap();
    b.expect_method(&mut eng);
    assert_eq!(b.advance_to_next_deadline(&mut eng), Some(first));
    b.expect_nothing(&mut eng);
    // And the next idle deadline does send one.
    assert!(b.drive(&mut eng, T0 + 2000).is_empty());
    let sent = heartbeat_times(&b);
    assert!(
        !sent.is_empty(),
        "no heartbeat after the postponed deadline"
    );
    assert!(sent[0] > first);
}

#[test]
fn silent_broker_is_declared_lost_after_two_intervals() {
    let (mut eng, mut b) = heartbeat_connected();
    let ch = open_channel(&mut eng, &mut b);
    let req = eng.call(ch, queue_declare("q")).unwrap();
    b.expect_method(&mut eng);
    // The last byte from the broker arrived just now, at T0.
    arm(&mut eng, &mut b);
    let events = b.drive(&mut eng, T0 + 10_000);
    assert!(!events.is_empty(), "silent broker never detected");
    let silent_for = b.now - T0;
    assert!(
        (4000..=5000).contains(&silent_for),
        "declared lost after {silent_for} ms, want about 2 intervals (4000 ms)"
    );
    assert!(
        !heartbeat_times(&b).is_empty(),
        "the engine kept sending heartbeats meanwhile"
    );
    match closed_error(&events) {
        Some(Error::ConnectionLost {
            cause: TransportError::Timeout(why),
            handshake: false,
        }) => assert!(why.contains("heartbeat"), "{why}"),
        other => panic!("expected ConnectionLost, got {other:?}"),
    }
    assert!(events.iter().any(
        |e| matches!(e, Event::Reply { req: r, result: Err(Error::ConnectionLost { .. }) } if *r == req)
    ));
    assert!(eng.is_closed());
    assert_eq!(eng.poll_timeout(), None);
}

#[test]
fn broker_heartbeats_keep_the_connection_alive() {
    let (mut eng, mut b) = heartbeat_pair();
    b.heartbeat_every = Some(2000);
    let events = b.drive(&mut eng, T0 + 60_000);
    assert!(events.is_empty(), "at +{} ms: {events:?}", b.now - T0);
    assert_eq!(b.now, T0 + 60_000);
    assert!(eng.is_open());
    assert!(eng.poll_timeout().is_some(), "timers stay armed while open");
    let mut sent_at = vec![T0];
    sent_at.extend(heartbeat_times(&b));
    let max_gap = sent_at.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        max_gap <= 2000,
        "the engine went {max_gap} ms without sending anything (interval 2000 ms)"
    );
    assert!(
        sent_at.len() >= 25,
        "only {} heartbeats in 60 s",
        sent_at.len() - 1
    );
}

#[test]
fn broker_going_silent_later_is_detected_two_intervals_after_its_last_heartbeat() {
    let (mut eng, mut b) = heartbeat_pair();
    b.heartbeat_every = Some(2000);
    assert!(b.drive(&mut eng, T0 + 10_000).is_empty());
    let last_heard = T0 + 10_000; // the broker's last heartbeat
    b.heartbeat_every = None;
    let events = b.drive(&mut eng, T0 + 30_000);
    let silent_for = b.now - last_heard;
    assert!(
        (4000..=5000).contains(&silent_for),
        "declared lost {silent_for} ms after the last heartbeat"
    );
    assert!(matches!(
        closed_error(&events),
        Some(Error::ConnectionLost {
            cause: TransportError::Timeout(_),
            handshake: false
        })
    ));
}

#[test]
fn heartbeat_some_zero_disables_timers() {
    let tune = Tune {
        heartbeat: 60,
        ..Tune::default()
    };
    let (mut eng, mut b, hs) = connected_with(heartbeat_config(Some(0)), tune);
    assert_eq!(hs.tune_ok.heartbeat, 0);
    assert_eq!(eng.poll_timeout(), None);
    eng.handle_timeout(T0 + 1_000_000);
    assert!(b.drive(&mut eng, T0 + 2_000_000).is_empty());
    b.expect_nothing(&mut eng);
    assert!(eng.is_open());
}
