//! A hostile broker: a scripted AMQP server on an ephemeral loopback port that completes the
//! handshake (or refuses it in a chosen way), lets the client open a channel and start a
//! consumer, and then misbehaves. For each case the test asserts what warren sent back (the
//! `connection.close` and its reply code, read by the server), the typed error it surfaced,
//! and that it did so within a bound (no hang); a panic in the driver would leave the
//! connection's end unreported and fail the test too.
//!
//! With `WARREN_ROBUSTNESS_OUT=FILE` every case appends one tab-separated row (case, what the
//! broker did, what warren sent, the error, milliseconds to the end) that `scripts/robustness`
//! turns into the table in `docs/robustness.md`.

use crate::common::within;
use std::time::Instant;
use warren::client::ConsumeOptions;
use warren::protocol::*;
use warren::{Connection, Error, FieldTable, TransportError};

#[path = "../support/hostile_server.rs"]
mod hostile_server;
use hostile_server::*;

/// The outcome of one case, as the table in docs/robustness.md shows it.
struct Outcome {
    error: Option<Error>,
    seen: Seen,
    millis: u128,
}

impl Outcome {
    fn close_code(&self) -> Option<u16> {
        self.seen.close().map(|c| c.reply_code)
    }

    fn connection_closed(&self) -> &warren::CloseInfo {
        match &self.error {
            Some(Error::ConnectionClosed(info)) => info,
            other => panic!("expected ConnectionClosed, got {other:?}"),
        }
    }

    /// Appends the row for this case when WARREN_ROBUSTNESS_OUT is set.
    fn record(&self, case: &str, broker: &str) {
        self.record_with(case, broker, None)
    }

    /// [`Outcome::record`] with what warren sent described by the test.
    fn record_with(&self, case: &str, broker: &str, sent: Option<String>) {
        let Ok(path) = std::env::var("WARREN_ROBUSTNESS_OUT") else {
            return;
        };
        let sent = sent.unwrap_or_else(|| {
            let mut said: Vec<String> = self
                .seen
                .after
                .iter()
                .filter_map(|f| match f {
                    Frame::Method(_, Method::ConnectionClose(c)) => Some(format!(
                        "connection.close {} `{}`",
                        c.reply_code, c.reply_text
                    )),
                    Frame::Method(_, Method::BasicReject(r)) => Some(format!(
                        "basic.reject {} requeue={}",
                        r.delivery_tag, r.requeue
                    )),
                    Frame::Method(_, Method::BasicCancel(c)) => {
                        Some(format!("basic.cancel `{}`", c.consumer_tag))
                    }
                    Frame::Method(_, m) => Some(m.name().to_string()),
                    _ => None,
                })
                .collect();
            if self.seen.eof {
                said.push("socket closed".into());
            }
            if said.is_empty() {
                "nothing".into()
            } else {
                said.join(", ")
            }
        });
        let error = match &self.error {
            Some(e) => {
                let debug = format!("{e:?}");
                let variant = debug.split(['(', ' ']).next().unwrap_or("").to_string();
                format!("`Error::{variant}`: {e}").replace('|', "\\|")
            }
            None => "none".into(),
        };
        let row = format!("{case}\t{broker}\t{sent}\t{error}\t{}\n", self.millis);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        std::io::Write::write_all(&mut f, row.as_bytes()).unwrap();
    }
}

/// Connects to a server playing `script` with URL options `query`, starts a consumer if the
/// handshake succeeds, and waits (bounded) for the connection to end.
async fn run(script: Script, query: &str) -> Outcome {
    let server = serve(script).await;
    let url = format!("amqp://guest:guest@127.0.0.1:{}/%2f?{query}", server.port);
    let t0 = Instant::now();
    let error = within(15_000, async {
        let conn = match Connection::connect(&url).await {
            Ok(c) => c,
            Err(e) => return Some(e),
        };
        let ch = conn.channel(None).await.expect("channel opens");
        let consumer = ch
            .basic_consume("q", ConsumeOptions::default(), FieldTable::new())
            .await;
        let end = conn.closed().await;
        drop(consumer);
        end
    })
    .await;
    let millis = t0.elapsed().as_millis();
    let seen = within(15_000, server.seen).await.expect("server task");
    Outcome {
        error,
        seen,
        millis,
    }
}

const QUERY: &str = "heartbeat=0&operation_timeout=5000&connection_timeout=5000";

#[tokio::test]
async fn hostile_frame_larger_than_frame_max() {
    let o = run(case("frame-larger-than-frame-max").unwrap(), QUERY).await;
    o.record(
        "frame larger than frame_max",
        "a 10 000-byte method frame after frame_max 4096",
    );
    assert_eq!(o.close_code(), Some(501));
    let info = o.connection_closed();
    assert_eq!(info.code.0, 501);
    assert!(info.text.contains("exceeds frame_max"), "{}", info.text);
}

#[tokio::test]
async fn hostile_bad_frame_end() {
    let o = run(case("bad-frame-end").unwrap(), QUERY).await;
    o.record(
        "bad frame-end octet",
        "connection.unblocked ending in 0x00 instead of 0xCE",
    );
    assert_eq!(o.close_code(), Some(501));
    assert!(o.connection_closed().text.contains("frame end"));
}

#[tokio::test]
async fn hostile_unknown_frame_type() {
    let o = run(case("unknown-frame-type").unwrap(), QUERY).await;
    o.record("unknown frame type", "a frame of type 9");
    assert_eq!(o.close_code(), Some(501));
    assert!(o.connection_closed().text.contains("unknown frame type 9"));
}

#[tokio::test]
async fn hostile_unknown_class_and_method() {
    let o = run(case("unknown-method").unwrap(), QUERY).await;
    o.record("unknown class/method", "method 99.7 on channel 1");
    assert_eq!(o.close_code(), Some(503));
    assert!(o.connection_closed().text.contains("unknown method 99.7"));
}

#[tokio::test]
async fn hostile_body_without_header() {
    let o = run(case("body-without-header").unwrap(), QUERY).await;
    o.record(
        "body frame without a header",
        "basic.deliver, then a body frame",
    );
    assert_eq!(o.close_code(), Some(505));
    assert!(o
        .connection_closed()
        .text
        .contains("without a content header"));
}

#[tokio::test]
async fn hostile_body_longer_than_its_header() {
    let o = run(case("body-longer-than-header").unwrap(), QUERY).await;
    o.record(
        "body longer than its header",
        "header says 10 bytes, body frame of 20",
    );
    assert_eq!(o.close_code(), Some(505));
    assert!(o
        .connection_closed()
        .text
        .contains("longer than its header"));
}

#[tokio::test]
async fn hostile_body_shorter_than_its_header() {
    let o = run(case("body-shorter-than-header").unwrap(), QUERY).await;
    o.record(
        "body shorter than its header",
        "header says 10 bytes, 5 arrive, then the next basic.deliver",
    );
    assert_eq!(o.close_code(), Some(505));
    assert!(o
        .connection_closed()
        .text
        .contains("while a message body was expected"));
}

#[tokio::test]
async fn hostile_endless_body() {
    let o = run(case("endless-body").unwrap(), QUERY).await;
    o.record(
        "endless body",
        "header declaring 2^62 bytes, then 4 KB body frames without end",
    );
    assert_eq!(o.close_code(), Some(501));
    assert!(o.connection_closed().text.contains("max_message_size"));
    // Refused from the header: what the writer got out is what the socket buffers held.
    assert!(
        o.seen.body_bytes < 64 << 20,
        "{} body bytes sent",
        o.seen.body_bytes
    );
}

#[tokio::test]
async fn hostile_endless_body_within_the_declared_size_limit() {
    // Declares 1 GiB, above a max_message_size of 1 MiB set in the URL.
    let o = run(
        Script::after_consume(vec![
            Act::Raw(deliver("ctag", 1)),
            Act::EndlessBody(1 << 30),
        ]),
        &format!("{QUERY}&max_message_size=1048576"),
    )
    .await;
    o.record(
        "body above max_message_size",
        "header declaring 1 GiB with max_message_size=1048576 in the URL",
    );
    assert_eq!(o.close_code(), Some(501));
    assert!(o.connection_closed().text.contains("1048576"));
}

#[tokio::test]
async fn hostile_huge_table_length() {
    let o = run(case("huge-table-length").unwrap(), QUERY).await;
    o.record(
        "huge declared table length",
        "message headers table declaring 4 GiB in a 40-byte frame",
    );
    assert_eq!(o.close_code(), Some(502));
    assert!(o.connection_closed().text.contains("truncated"));
}

#[tokio::test]
async fn hostile_huge_table_length_in_the_handshake() {
    let o = run(case("huge-table-in-handshake").unwrap(), QUERY).await;
    o.record(
        "huge table length in connection.start",
        "server-properties table declaring 4 GiB",
    );
    assert_eq!(o.close_code(), Some(502));
    assert_eq!(o.connection_closed().code.0, 502);
}

#[tokio::test]
async fn hostile_truncated_frame_then_silence_with_heartbeats() {
    let half = deliver("ctag", 1)[..9].to_vec();
    let script = Script {
        heartbeat: 1,
        ..Script::after_consume(vec![Act::Raw(half), Act::Silence])
    };
    let o = run(script, "operation_timeout=5000&connection_timeout=5000").await;
    o.record(
        "truncated frame, then silence (heartbeat 1 s)",
        "9 bytes of a basic.deliver frame, then nothing; socket open",
    );
    match &o.error {
        Some(Error::ConnectionLost {
            cause: TransportError::Timeout(why),
            handshake: false,
        }) => assert!(why.contains("no data from the broker"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(o.millis < 5_000, "noticed after {} ms", o.millis);
}

#[tokio::test]
async fn hostile_truncated_frame_then_silence_without_heartbeats() {
    // Heartbeats explicitly off: the operation deadline of a pending call ends it.
    let server = serve(Script::after_consume(vec![
        Act::Raw(deliver("ctag", 1)[..9].to_vec()),
        Act::Silence,
    ]))
    .await;
    let url = format!(
        "amqp://guest:guest@127.0.0.1:{}/%2f?heartbeat=0&operation_timeout=1000",
        server.port
    );
    let t0 = Instant::now();
    let err = within(10_000, async {
        let conn = Connection::connect(&url).await.unwrap();
        let ch = conn.channel(None).await.unwrap();
        let _consumer = ch
            .basic_consume("q", ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let declared = ch
            .queue_declare("never-answered", Default::default(), FieldTable::new())
            .await;
        assert_eq!(declared.unwrap_err(), Error::Timeout);
        conn.closed().await
    })
    .await;
    let o = Outcome {
        error: err,
        seen: within(15_000, server.seen).await.unwrap(),
        millis: t0.elapsed().as_millis(),
    };
    o.record(
        "truncated frame, then silence (heartbeat 0, a call pending)",
        "9 bytes of a frame, then nothing; queue.declare never answered; operation_timeout=1000",
    );
    assert_eq!(o.error, Some(Error::Timeout));
    assert_eq!(o.close_code(), Some(200));
    assert!(o
        .seen
        .close()
        .unwrap()
        .reply_text
        .contains("operation_timeout"));
}

#[tokio::test]
async fn hostile_heartbeat_on_a_channel() {
    let o = run(case("heartbeat-on-a-channel").unwrap(), QUERY).await;
    o.record(
        "heartbeat on a non-zero channel",
        "a heartbeat frame on channel 1",
    );
    assert_eq!(o.close_code(), Some(501));
    assert!(o.connection_closed().text.contains("heartbeat"));
}

#[tokio::test]
async fn hostile_close_with_an_unknown_reply_code() {
    let o = run(case("close-with-unknown-code").unwrap(), QUERY).await;
    o.record("close with an unknown reply code", "connection.close 999");
    // warren answers close-ok and reports the code as it came (ReplyCode is an open newtype).
    assert!(o
        .seen
        .after
        .iter()
        .any(|f| matches!(f, Frame::Method(0, Method::ConnectionCloseOk))));
    let info = o.connection_closed();
    assert_eq!((info.code.0, info.text.as_str()), (999, "WHAT_IS_THIS"));
}

#[tokio::test]
async fn hostile_protocol_header_sent_back() {
    let o = run(case("protocol-header-sent-back").unwrap(), QUERY).await;
    o.record(
        "protocol header sent back",
        "AMQP 1.0's header in answer to ours",
    );
    match &o.error {
        Some(Error::ConnectionLost {
            cause: TransportError::Refused(why),
            handshake: true,
        }) => assert!(why.contains("refused AMQP 0-9-1"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(o.seen.eof, "the socket is closed");
    assert!(o.seen.close().is_none());
}

#[tokio::test]
async fn hostile_no_supported_mechanism() {
    let o = run(case("no-supported-mechanism").unwrap(), QUERY).await;
    o.record(
        "connection.start offering no mechanism we support",
        "mechanisms `SCRAM-SHA-256 GSSAPI`",
    );
    let info = o.connection_closed();
    assert_eq!(info.code.0, 403);
    assert!(info.text.contains("does not offer PLAIN"), "{}", info.text);
    assert!(o.seen.eof);
}

#[tokio::test]
async fn hostile_delivery_for_an_unknown_consumer_tag_is_rejected_for_redelivery() {
    let mut b = Vec::new();
    encode_content(
        &mut b,
        1,
        &Method::BasicDeliver(BasicDeliver {
            consumer_tag: "nobody".into(),
            delivery_tag: 7,
            redelivered: false,
            exchange: ShortStr::new(),
            routing_key: "q".into(),
        }),
        &BasicProperties::default(),
        b"lost?",
        4096,
    )
    .unwrap();
    // The server closes the connection once the reject arrives (see read_loop).
    let o = run(Script::after_consume(vec![Act::Raw(b)]), QUERY).await;
    o.record(
        "delivery for an unknown consumer tag",
        "basic.deliver for tag `nobody` (delivery tag 7); warren also sends basic.cancel `nobody` (nowait)",
    );
    let reject = o.seen.after.iter().find_map(|f| match f {
        Frame::Method(1, Method::BasicReject(r)) => Some(r.clone()),
        _ => None,
    });
    let reject = reject.expect("basic.reject sent");
    assert_eq!((reject.delivery_tag, reject.requeue), (7, true));
    // And the consumer nobody has is cancelled, or the broker would hand the message back.
    assert!(o.seen.after.iter().any(|f| matches!(
        f,
        Frame::Method(1, Method::BasicCancel(c)) if c.consumer_tag == "nobody"
    )));
}

#[tokio::test]
async fn hostile_broker_proposing_no_heartbeat_gets_one() {
    let o = run(
        Script::after_consume(vec![Act::Raw(frame(
            0,
            &Method::ConnectionClose(ConnectionClose {
                reply_code: 320,
                reply_text: "bye".into(),
                class_id: 0,
                method_id: 0,
            }),
        ))]),
        "connection_timeout=5000",
    )
    .await;
    assert_eq!(o.seen.tune_ok.as_ref().unwrap().heartbeat, 60);
    o.record_with(
        "broker proposes heartbeat 0",
        "connection.tune heartbeat=0; the URL sets none (then again with heartbeat=0)",
        Some("connection.tune-ok heartbeat=60 (and 0 when the URL says heartbeat=0)".into()),
    );
    // And an explicit heartbeat=0 is honoured.
    let o = run(
        Script::after_consume(vec![Act::Raw(frame(
            0,
            &Method::ConnectionClose(ConnectionClose {
                reply_code: 320,
                reply_text: "bye".into(),
                class_id: 0,
                method_id: 0,
            }),
        ))]),
        "heartbeat=0",
    )
    .await;
    assert_eq!(o.seen.tune_ok.as_ref().unwrap().heartbeat, 0);
}

#[tokio::test]
async fn hostile_connection_timeout_zero_means_no_deadline() {
    // A handshake slower than nothing: connection_timeout=0 must not time out at once.
    let o = run(
        Script::after_consume(vec![Act::Raw(frame(
            0,
            &Method::ConnectionClose(ConnectionClose {
                reply_code: 320,
                reply_text: "bye".into(),
                class_id: 0,
                method_id: 0,
            }),
        ))]),
        "connection_timeout=0",
    )
    .await;
    o.record(
        "connection_timeout=0",
        "a normal handshake; the client sets no connect deadline",
    );
    assert_eq!(o.connection_closed().code.0, 320);
}
