// Test-only: engine/mod.rs declares the tests module under #[cfg(test)].
//! The operation deadline (`Config::operation_timeout`) on the virtual clock: a call without a
//! reply ends the connection with `Error::Timeout` exactly at its deadline, a reply in time
//! stops it, and a broker that blocked the connection is given the time back.

use super::*;

const T: Millis = 10_000;

fn with_timeout(ms: Millis) -> (Engine, FakeBroker, u16) {
    let cfg = Config {
        operation_timeout: ms,
        ..config()
    };
    let (mut eng, mut b, _) = connected_with(cfg, Tune::default());
    b.now = T;
    // channel.open is a call too: its check stamps it, the open-ok stops it.
    let (id, req) = eng.open_channel(None).unwrap();
    assert_eq!(
        b.advance_to_next_deadline(&mut eng),
        Some(T),
        "stamped at once"
    );
    b.expect_method(&mut eng);
    b.send(
        &mut eng,
        id,
        &Method::ChannelOpenOk(ChannelOpenOk::default()),
    );
    assert_eq!(
        drain_events(&mut eng),
        vec![ok_reply(
            req,
            Method::ChannelOpenOk(ChannelOpenOk::default())
        )]
    );
    (eng, b, id)
}

#[test]
fn a_call_without_a_reply_times_out_exactly_at_its_deadline_and_closes_the_connection() {
    let (mut eng, mut b, ch) = with_timeout(2_000);
    b.now = T + 500;
    let req = eng.call(ch, queue_declare("q")).unwrap();
    b.expect_method(&mut eng);
    assert_eq!(b.advance_to_next_deadline(&mut eng), Some(T + 500));
    assert_eq!(eng.poll_timeout(), Some(T + 2_500));
    eng.handle_timeout(T + 2_499);
    assert!(drain_events(&mut eng).is_empty(), "fired early");
    let events = b.drive(&mut eng, T + 60_000);
    assert_eq!(b.now, T + 2_500);
    assert!(events.contains(&Event::Reply {
        req,
        result: Err(Error::Timeout)
    }));
    assert!(events.contains(&Event::ChannelClosed {
        channel: ch,
        error: Some(Error::Timeout)
    }));
    assert_eq!(closed_error(&events), Some(Error::Timeout));
    // The broker is told why; no close-ok is awaited from a peer that stopped answering.
    let close = b.expect_connection_close(&mut eng);
    assert_eq!(close.reply_code, 200);
    assert!(
        close.reply_text.contains("queue.declare-ok"),
        "{}",
        close.reply_text
    );
    assert!(eng.is_closed());
    assert_eq!(eng.poll_timeout(), None);
}

#[test]
fn a_reply_in_time_stops_the_deadline() {
    let (mut eng, mut b, ch) = with_timeout(2_000);
    let req = eng.call(ch, queue_declare("q")).unwrap();
    b.expect_method(&mut eng);
    b.advance_to_next_deadline(&mut eng);
    b.now = T + 1_999;
    b.send(&mut eng, ch, &declare_ok("q", 0));
    assert_eq!(
        drain_events(&mut eng),
        vec![ok_reply(req, declare_ok("q", 0))]
    );
    // The timer may still run to its old deadline once; it finds nothing and stops.
    assert!(b.drive(&mut eng, T + 600_000).is_empty());
    assert!(eng.is_open());
    assert_eq!(eng.poll_timeout(), None);
}

#[test]
fn the_oldest_call_decides_and_later_calls_keep_their_own_deadline() {
    let (mut eng, mut b, ch) = with_timeout(2_000);
    eng.call(ch, queue_declare("a")).unwrap();
    b.advance_to_next_deadline(&mut eng);
    b.now = T + 1_000;
    eng.call(ch, queue_declare("b")).unwrap();
    b.advance_to_next_deadline(&mut eng);
    assert_eq!(
        eng.poll_timeout(),
        Some(T + 2_000),
        "the first call's deadline"
    );
    b.send(&mut eng, ch, &declare_ok("a", 0));
    drain_events(&mut eng);
    let events = b.drive(&mut eng, T + 60_000);
    assert_eq!(b.now, T + 3_000, "the second call's own deadline");
    assert_eq!(closed_error(&events), Some(Error::Timeout));
}

#[test]
fn a_blocked_connection_does_not_time_out_its_calls() {
    let (mut eng, mut b, ch) = with_timeout(2_000);
    eng.call(ch, queue_declare("q")).unwrap();
    b.advance_to_next_deadline(&mut eng);
    let blocked = ConnectionBlocked {
        reason: "low on memory".into(),
    };
    b.send(&mut eng, 0, &Method::ConnectionBlocked(blocked));
    drain_events(&mut eng);
    // Blocked for 10 s: the deadline keeps moving.
    assert!(b.drive(&mut eng, T + 10_000).is_empty());
    assert!(eng.is_open());
    b.send(&mut eng, 0, &Method::ConnectionUnblocked);
    drain_events(&mut eng);
    let unblocked_at = b.now;
    let events = b.drive(&mut eng, T + 60_000);
    assert_eq!(closed_error(&events), Some(Error::Timeout));
    assert!(
        b.now <= unblocked_at + 2_000,
        "at most one full timeout after unblocking"
    );
}

#[test]
fn connection_level_calls_and_channel_close_are_bounded_too() {
    let (mut eng, mut b, ch) = with_timeout(1_000);
    eng.close_channel(ch).unwrap();
    b.advance_to_next_deadline(&mut eng);
    let events = b.drive(&mut eng, T + 60_000);
    assert_eq!(b.now, T + 1_000);
    assert_eq!(closed_error(&events), Some(Error::Timeout));

    let (mut eng, mut b, _) = with_timeout(1_000);
    let m = Method::ConnectionUpdateSecret(ConnectionUpdateSecret {
        new_secret: Bytes::from_static(b"token"),
        reason: "refresh".into(),
    });
    let req = eng.call(0, m).unwrap();
    b.advance_to_next_deadline(&mut eng);
    let events = b.drive(&mut eng, T + 60_000);
    assert!(events.contains(&Event::Reply {
        req,
        result: Err(Error::Timeout)
    }));
}

#[test]
fn zero_disables_the_operation_deadline() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    eng.call(ch, queue_declare("q")).unwrap();
    assert_eq!(eng.poll_timeout(), None);
    assert!(b.drive(&mut eng, 10_000_000).is_empty());
    assert!(eng.is_open());
}

#[test]
fn the_default_is_a_minute() {
    assert_eq!(Config::default().operation_timeout, 60_000);
    assert_eq!(DEFAULT_OPERATION_TIMEOUT, 60_000);
}

#[test]
fn after_our_close_only_the_close_ok_deadline_counts() {
    let (mut eng, mut b, ch) = with_timeout(1_000);
    eng.call(ch, queue_declare("q")).unwrap();
    b.advance_to_next_deadline(&mut eng);
    b.expect_method(&mut eng);
    eng.close(ReplyCode::SUCCESS, "bye", b.now).unwrap();
    assert_eq!(b.expect_connection_close(&mut eng).reply_code, 200);
    // The pending call's deadline passes: no second connection.close, no early end.
    let events = b.drive(&mut eng, T + 60_000);
    assert_eq!(
        b.now,
        T + 30_000,
        "the close-ok deadline (close_timeout 30 s)"
    );
    assert_eq!(closed_error(&events), Some(Error::Timeout));
    b.expect_nothing(&mut eng);
}
