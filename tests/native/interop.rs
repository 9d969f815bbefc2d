//! Interop with a third-party client: pika (PyPI) publishes every property and field type and
//! warren must read them exactly; warren publishes every field type and pika must see the exact
//! type tags and values. The venv is made by scripts/setup (`.state/venv`).

use bytes::Bytes;
use std::process::Command;
use std::time::Duration;
use warren::client::{PublishOptions, QueueDeclareOptions};
use warren::{BasicProperties, Connection, FieldTable, FieldValue};

fn amqp_url() -> String {
    std::env::var("WARREN_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5673/%2f".into())
}

fn pika(args: &[&str]) -> std::process::Output {
    let python = std::env::var("WARREN_PIKA_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.state/venv/bin/python").into());
    let tool = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/pika_tool.py");
    let out = Command::new(&python)
        .arg(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e} (run scripts/setup)"));
    assert!(
        out.status.success(),
        "pika_tool {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s(v: &str) -> FieldValue {
    FieldValue::from(v)
}

#[tokio::test]
async fn warren_reads_what_pika_publishes() {
    let queue = format!("interop.pika-to-rust.{}", std::process::id());
    pika(&["publish", &amqp_url(), &queue]);
    let msg = tokio::time::timeout(Duration::from_secs(20), async {
        let conn = Connection::connect(&amqp_url()).await.unwrap();
        let ch = conn.channel(None).await.unwrap();
        let msg = ch
            .basic_get(&queue, true)
            .await
            .unwrap()
            .expect("pika's message is in the queue");
        ch.queue_delete(&queue, Default::default()).await.unwrap();
        conn.close().await.unwrap();
        msg
    })
    .await
    .expect("bounded");
    assert_eq!(&msg.body[..], b"from pika \x00\xff");
    let p = &msg.properties;
    assert_eq!(p.content_type.as_deref(), Some("application/json"));
    assert_eq!(p.content_encoding.as_deref(), Some("identity"));
    assert_eq!(p.delivery_mode, Some(2));
    assert_eq!(p.priority, Some(0));
    assert_eq!(p.correlation_id.as_deref(), Some("corr-42"));
    assert_eq!(p.reply_to.as_deref(), Some("reply.queue"));
    assert_eq!(p.expiration.as_deref(), Some("60000"));
    assert_eq!(p.message_id.as_deref(), Some("msg-7"));
    assert_eq!(p.timestamp, Some(1_700_000_000));
    assert_eq!(p.kind.as_deref(), Some("interop.kind"));
    assert_eq!(p.user_id.as_deref(), Some("guest"));
    assert_eq!(p.app_id.as_deref(), Some("pika-interop"));
    assert_eq!(p.cluster_id.as_deref(), Some("cluster-9"));
    let h = p.headers.as_ref().expect("headers");
    let expect: Vec<(&str, FieldValue)> = vec![
        ("str", s("h\u{e9}llo \u{1f600}")),
        (
            "not_utf8",
            FieldValue::LongString(Bytes::from_static(b"\xff\xfe")),
        ),
        (
            "bytes",
            FieldValue::ByteArray(Bytes::from_static(b"\x00\x01\xfe")),
        ),
        ("yes", FieldValue::Bool(true)),
        ("no", FieldValue::Bool(false)),
        ("i8", FieldValue::I8(-5)),
        ("u8", FieldValue::U8(200)),
        ("i16", FieldValue::I16(-300)),
        ("u16", FieldValue::U16(60000)),
        ("i32", FieldValue::I32(-70000)),
        ("u32", FieldValue::U32(4_000_000_000)),
        ("i64", FieldValue::I64(1 << 40)),
        ("i64_big", FieldValue::I64(1 << 60)),
        ("i64_min", FieldValue::I64(i64::MIN)),
        ("f32", FieldValue::F32(1.5)),
        ("f64", FieldValue::F64(-2.25)),
        (
            "dec",
            FieldValue::Decimal {
                scale: 2,
                value: -12345,
            },
        ),
        ("ts", FieldValue::Timestamp(1_700_000_000)),
        ("void", FieldValue::Void),
        (
            "arr",
            FieldValue::Array(vec![
                FieldValue::I32(1),
                s("two"),
                FieldValue::Array(vec![FieldValue::Bool(true)]),
            ]),
        ),
        (
            "tbl",
            FieldValue::Table(FieldTable::new().with("k", "v").with(
                "inner",
                FieldTable::new().with("deep", FieldValue::I64(1 << 33)),
            )),
        ),
    ];
    assert_eq!(h.len(), expect.len(), "header count: {h:?}");
    for (k, v) in &expect {
        assert_eq!(h.get(k), Some(v), "header {k}");
    }
}

#[tokio::test]
async fn pika_reads_what_warren_publishes() {
    let queue = format!("interop.rust-to-pika.{}", std::process::id());
    tokio::time::timeout(Duration::from_secs(20), async {
        let conn = Connection::connect(&amqp_url()).await.unwrap();
        let ch = conn.channel(None).await.unwrap();
        ch.queue_declare(&queue, QueueDeclareOptions::default(), FieldTable::new())
            .await
            .unwrap();
        ch.confirm_select().await.unwrap();
        let headers = FieldTable::new()
            .with("i8", FieldValue::I8(-5))
            .with("u8", FieldValue::U8(200))
            .with("i16", FieldValue::I16(-300))
            .with("u16", FieldValue::U16(60000))
            .with("i32", FieldValue::I32(-70000))
            .with("u32", FieldValue::U32(4_000_000_000))
            .with("i64", FieldValue::I64(-(1 << 62)))
            .with("f32", FieldValue::F32(1.5))
            .with("f64", FieldValue::F64(-2.25))
            .with(
                "dec",
                FieldValue::Decimal {
                    scale: 2,
                    value: -12345,
                },
            )
            .with("str", "h\u{e9}llo")
            .with(
                "bytes",
                FieldValue::ByteArray(Bytes::from_static(b"\x00\xff")),
            )
            .with("yes", true)
            .with("ts", FieldValue::Timestamp(1_700_000_000))
            .with("void", FieldValue::Void)
            .with("arr", FieldValue::Array(vec![FieldValue::I32(1), s("two")]))
            .with("tbl", FieldTable::new().with("k", "v"));
        let props = BasicProperties {
            content_type: Some("text/plain".into()),
            delivery_mode: Some(2),
            priority: Some(0),
            correlation_id: Some("c-1".into()),
            reply_to: Some("r".into()),
            expiration: Some("600000".into()),
            message_id: Some("m-1".into()),
            timestamp: Some(1_700_000_000),
            kind: Some("t".into()),
            user_id: Some("guest".into()),
            app_id: Some("warren".into()),
            cluster_id: Some("cl".into()),
            headers: Some(headers),
            ..Default::default()
        };
        ch.basic_publish(
            "",
            &queue,
            b"from warren",
            &props,
            PublishOptions::default(),
        )
        .await
        .unwrap();
        conn.close().await.unwrap();
    })
    .await
    .expect("bounded");
    let out = pika(&["check", &amqp_url(), &queue, "rust"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"ok\": true"));
}
