// Test-only: engine/mod.rs declares the tests module under #[cfg(test)].
//! Channel ids: allocation, reuse, limits.

use super::*;

#[test]
fn channel_ids_are_lowest_free_and_reused_after_close() {
    let (mut eng, mut b) = connected();
    assert_eq!(open_channel(&mut eng, &mut b), 1);
    assert_eq!(open_channel(&mut eng, &mut b), 2);
    assert_eq!(open_channel(&mut eng, &mut b), 3);

    let req = eng.close_channel(2).unwrap();
    match b.expect_method(&mut eng) {
        (2, Method::ChannelClose(c)) => assert_eq!(c.reply_code, 200),
        other => panic!("expected channel.close on 2, got {other:?}"),
    }
    // Still reserved while closing.
    let (id, _) = eng.open_channel(None).unwrap();
    assert_eq!(id, 4);
    b.expect_method(&mut eng);
    b.send(&mut eng, 2, &Method::ChannelCloseOk);
    assert_eq!(
        drain_events(&mut eng),
        vec![
            ok_reply(req, Method::ChannelCloseOk),
            Event::ChannelClosed {
                channel: 2,
                error: None
            }
        ]
    );
    assert_eq!(eng.open_channel(None).unwrap().0, 2);
}

#[test]
fn explicit_channel_ids_and_invalid_ones() {
    let tune = Tune {
        channel_max: 100,
        ..Tune::default()
    };
    let (mut eng, mut b, _) = connected_with(config(), tune);
    let (id, _) = eng.open_channel(Some(7)).unwrap();
    assert_eq!(id, 7);
    assert_eq!(b.expect_method(&mut eng).0, 7);
    let (id, _) = eng.open_channel(Some(100)).unwrap();
    assert_eq!(id, 100);
    assert_eq!(b.expect_method(&mut eng).0, 100);

    for bad in [0, 101, u16::MAX, 7, 100] {
        match eng.open_channel(Some(bad)) {
            Err(Error::InvalidArgument(_)) => {}
            other => panic!("channel {bad}: expected InvalidArgument, got {other:?}"),
        }
    }
    b.expect_nothing(&mut eng);
    // Lowest free skips the explicit ones.
    assert_eq!(eng.open_channel(None).unwrap().0, 1);
}

#[test]
fn no_free_channel_when_exhausted() {
    let tune = Tune {
        channel_max: 2,
        ..Tune::default()
    };
    let (mut eng, mut b, _) = connected_with(config(), tune);
    assert_eq!(open_channel(&mut eng, &mut b), 1);
    assert_eq!(open_channel(&mut eng, &mut b), 2);
    assert_eq!(eng.open_channel(None), Err(Error::NoFreeChannel));
    b.expect_nothing(&mut eng);
}

#[test]
fn commands_before_open_fail_fast() {
    let mut eng = Engine::new(config(), 0);
    assert_eq!(eng.open_channel(None), Err(Error::NotOpen("connection")));
    let mut b = FakeBroker::new();
    b.start(&mut eng);
    assert_eq!(eng.open_channel(None), Err(Error::NotOpen("connection")));
    assert!(eng.call(1, queue_declare("q")).is_err());
    b.expect_nothing(&mut eng);
}
