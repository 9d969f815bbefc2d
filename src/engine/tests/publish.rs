// Test-only: engine/mod.rs declares the tests module under #[cfg(test)].
//! Publishing: bodies split at frame_max, frames coalesced.

use super::*;

#[test]
fn publish_splits_large_bodies_at_frame_max() {
    let tune = Tune {
        frame_max: 4096,
        ..Tune::default()
    };
    let (mut eng, mut b, _) = connected_with(config(), tune);
    let ch = open_channel(&mut eng, &mut b);
    let body = patterned(10_000);
    let props = rich_properties();
    let seq = eng
        .publish(ch, "ex", "rk", true, false, &props, &body)
        .unwrap();
    assert_eq!(seq, None, "no confirm sequence outside confirm mode");
    let raw = b.recv(&mut eng).unwrap();
    let frames = split_frames(&raw);
    for (kind, channel, f) in &frames {
        assert!(
            f.len() <= 4096,
            "frame of {} bytes exceeds frame_max",
            f.len()
        );
        assert_eq!(*channel, ch);
        assert!(matches!(kind, 1..=3));
    }
    let bodies: Vec<_> = frames.iter().filter(|f| f.0 == 3).collect();
    assert_eq!(bodies.len(), 3, "10000 bytes in 4088-byte pieces");
    assert_eq!(
        b.expect_method(&mut eng),
        (
            ch,
            Method::BasicPublish(BasicPublish {
                ticket: 0,
                exchange: "ex".into(),
                routing_key: "rk".into(),
                mandatory: true,
                immediate: false,
            })
        )
    );
    match b.expect_frame(&mut eng) {
        Frame::Header(c, h) => {
            assert_eq!(c, ch);
            assert_eq!(h.body_size, 10_000);
            assert_eq!(h.properties, props);
        }
        other => panic!("expected a content header, got {other:?}"),
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        match b.expect_frame(&mut eng) {
            Frame::Body(c, chunk) => {
                assert_eq!(c, ch);
                got.extend_from_slice(&chunk);
            }
            other => panic!("expected a body frame, got {other:?}"),
        }
    }
    assert_eq!(got, body);
    b.expect_nothing(&mut eng);
}

#[test]
fn publish_fits_one_body_frame_under_a_large_frame_max() {
    let (mut eng, mut b) = connected();
    let ch = open_channel(&mut eng, &mut b);
    eng.publish(
        ch,
        "",
        "q",
        false,
        false,
        &BasicProperties::default(),
        &patterned(100_000),
    )
    .unwrap();
    let raw = b.recv(&mut eng).unwrap();
    let kinds: Vec<u8> = split_frames(&raw).iter().map(|f| f.0).collect();
    assert_eq!(kinds, vec![1, 2, 3]);
}
