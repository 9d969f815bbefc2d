//! Codec micro-benchmarks: warren's `protocol` module vs amq-protocol (lapin's codec) on the same
//! inputs.
//!
//! - `publish/encode`: one basic.publish + content header + 16 B body, from (exchange, routing
//!   key, properties, body) to wire bytes appended to a reused buffer (building the method value
//!   is part of the cost: a client does it for every publish).
//! - `publish/decode`: those wire bytes back into three typed frames.
//! - `deliver/encode`, `deliver/decode`: the same for a stream of 1,000 basic.deliver messages
//!   (increasing delivery tags, a broker-style consumer tag), encoded into one buffer and decoded
//!   from one buffer, as a consumer receives them. Reported per message (Throughput::Elements).
//!
//! Both libraries must produce byte-identical output for these inputs; the setup asserts it.

use amq_protocol::frame::{gen_frame, parse_frame, AMQPContentHeader, AMQPFrame, WriteContext};
use amq_protocol::protocol::{basic as aq_basic, AMQPClass};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use warren::protocol::{
    encode_content, BasicDeliver, BasicProperties, BasicPublish, Frame, FrameDecoder, Method,
};

const BODY: &[u8; 16] = b"0123456789abcdef";
const EXCHANGE: &str = "";
const ROUTING_KEY: &str = "warren-bench";
const CONSUMER_TAG: &str = "amq.ctag-0KbdKxZ1n4yDFqPo7pHCpg";
const STREAM: u64 = 1000;
const FRAME_MAX: u32 = 131_072;
const CHANNEL: u16 = 1;

// --- warren -----------------------------------------------------------------------------------

fn warren_publish(out: &mut Vec<u8>, props: &BasicProperties) {
    let m = Method::BasicPublish(BasicPublish {
        ticket: 0,
        exchange: EXCHANGE.into(),
        routing_key: ROUTING_KEY.into(),
        mandatory: false,
        immediate: false,
    });
    encode_content(out, CHANNEL, &m, props, BODY, FRAME_MAX).unwrap();
}

fn warren_deliver(out: &mut Vec<u8>, props: &BasicProperties, tag: u64) {
    let m = Method::BasicDeliver(BasicDeliver {
        consumer_tag: CONSUMER_TAG.into(),
        delivery_tag: tag,
        redelivered: false,
        exchange: EXCHANGE.into(),
        routing_key: ROUTING_KEY.into(),
    });
    encode_content(out, CHANNEL, &m, props, BODY, FRAME_MAX).unwrap();
}

/// Feeds `input` to a long-lived decoder and drains every frame; returns how many. Written as
/// the engine consumes frames (a `match` on the result, no `unwrap`), as is `aq_decode` below:
/// `unwrap` on a 144-byte `Result<Option<Frame>>` costs two extra copies of it per frame.
fn warren_decode(dec: &mut FrameDecoder, input: &[u8]) -> usize {
    dec.extend(input);
    let mut n = 0;
    loop {
        match dec.next_frame() {
            Ok(Some(f)) => {
                black_box(&f);
                n += 1;
            }
            Ok(None) => return n,
            Err(e) => panic!("{e}"),
        }
    }
}

// --- amq-protocol -----------------------------------------------------------------------------

fn aq_write(out: Vec<u8>, f: &AMQPFrame) -> Vec<u8> {
    gen_frame(f)(WriteContext::from(out))
        .unwrap()
        .into_inner()
        .0
}

fn aq_content(out: Vec<u8>, method: aq_basic::AMQPMethod) -> Vec<u8> {
    let frames = [
        AMQPFrame::Method(CHANNEL, AMQPClass::Basic(method)),
        AMQPFrame::Header(
            CHANNEL,
            AMQPContentHeader {
                class_id: 60,
                body_size: BODY.len() as u64,
                properties: aq_basic::AMQPProperties::default(),
            },
        ),
        AMQPFrame::Body(CHANNEL, BODY.to_vec()),
    ];
    frames.iter().fold(out, aq_write)
}

fn aq_publish(out: Vec<u8>) -> Vec<u8> {
    aq_content(
        out,
        aq_basic::AMQPMethod::Publish(aq_basic::Publish {
            exchange: EXCHANGE.into(),
            routing_key: ROUTING_KEY.into(),
            mandatory: false,
            immediate: false,
        }),
    )
}

fn aq_deliver(out: Vec<u8>, tag: u64) -> Vec<u8> {
    aq_content(
        out,
        aq_basic::AMQPMethod::Deliver(aq_basic::Deliver {
            consumer_tag: CONSUMER_TAG.into(),
            delivery_tag: tag,
            redelivered: false,
            exchange: EXCHANGE.into(),
            routing_key: ROUTING_KEY.into(),
        }),
    )
}

fn aq_decode(mut input: &[u8]) -> usize {
    let mut n = 0;
    while !input.is_empty() {
        match parse_frame(input) {
            Ok((rest, f)) => {
                black_box(&f);
                input = rest;
                n += 1;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    n
}

// --- inputs, checked to be identical ----------------------------------------------------------

struct Inputs {
    publish: Vec<u8>,
    deliveries: Vec<u8>,
}

fn inputs() -> Inputs {
    let props = BasicProperties::default();
    let mut publish = Vec::new();
    warren_publish(&mut publish, &props);
    assert_eq!(publish, aq_publish(Vec::new()), "publish encodings differ");

    let mut deliveries = Vec::new();
    let mut aq = Vec::new();
    for tag in 1..=STREAM {
        warren_deliver(&mut deliveries, &props, tag);
        aq = aq_deliver(aq, tag);
    }
    assert_eq!(deliveries, aq, "deliver encodings differ");

    // Both decoders see the same frames.
    assert_eq!(warren_decode(&mut FrameDecoder::new(), &publish), 3);
    assert_eq!(aq_decode(&publish), 3);
    assert_eq!(
        warren_decode(&mut FrameDecoder::new(), &deliveries),
        3 * STREAM as usize
    );
    assert_eq!(aq_decode(&deliveries), 3 * STREAM as usize);
    let mut dec = FrameDecoder::new();
    dec.extend(&deliveries[..publish.len() + 64]);
    assert!(matches!(
        dec.next_frame(),
        Ok(Some(Frame::Method(CHANNEL, Method::BasicDeliver(_))))
    ));
    Inputs {
        publish,
        deliveries,
    }
}

// --- benchmarks -------------------------------------------------------------------------------

fn publish(c: &mut Criterion) {
    let inp = inputs();
    let props = BasicProperties::default();
    let mut g = c.benchmark_group("publish");
    g.throughput(Throughput::Elements(1));

    let mut out = Vec::with_capacity(4096);
    g.bench_function("encode/warren", |b| {
        b.iter(|| {
            out.clear();
            warren_publish(&mut out, black_box(&props));
            black_box(out.len())
        })
    });
    let mut out = Some(Vec::with_capacity(4096));
    g.bench_function("encode/amq-protocol", |b| {
        b.iter(|| {
            let mut o = out.take().unwrap();
            o.clear();
            let o = aq_publish(o);
            black_box(o.len());
            out = Some(o);
        })
    });
    let mut dec = FrameDecoder::new();
    g.bench_function("decode/warren", |b| {
        b.iter(|| warren_decode(&mut dec, black_box(&inp.publish)))
    });
    g.bench_function("decode/amq-protocol", |b| {
        b.iter(|| aq_decode(black_box(&inp.publish)))
    });
    g.finish();
}

fn deliver(c: &mut Criterion) {
    let inp = inputs();
    let props = BasicProperties::default();
    let mut g = c.benchmark_group("deliver");
    g.throughput(Throughput::Elements(STREAM));

    let mut out = Vec::with_capacity(inp.deliveries.len());
    g.bench_function("encode/warren", |b| {
        b.iter(|| {
            out.clear();
            for tag in 1..=STREAM {
                warren_deliver(&mut out, black_box(&props), tag);
            }
            black_box(out.len())
        })
    });
    let mut out = Some(Vec::with_capacity(inp.deliveries.len()));
    g.bench_function("encode/amq-protocol", |b| {
        b.iter(|| {
            let mut o = out.take().unwrap();
            o.clear();
            for tag in 1..=STREAM {
                o = aq_deliver(o, tag);
            }
            black_box(o.len());
            out = Some(o);
        })
    });
    let mut dec = FrameDecoder::new();
    g.bench_function("decode/warren", |b| {
        b.iter(|| warren_decode(&mut dec, black_box(&inp.deliveries)))
    });
    g.bench_function("decode/amq-protocol", |b| {
        b.iter(|| aq_decode(black_box(&inp.deliveries)))
    });
    g.finish();
}

criterion_group!(benches, publish, deliver);
criterion_main!(benches);
