//! amqps:// (rustls) and SASL mechanisms against the private test broker (`scripts/broker start`):
//! AMQPS on 127.0.0.1:$WARREN_BROKER_TLS_PORT (5674) with the CA, server and client (CN guest)
//! certificates the script generates into `.state/tls/` (override: `WARREN_TLS_DIR`), plain AMQP
//! from `WARREN_AMQP_URL` (5673). Every test is bounded by a 20 s timeout.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use warren::client::{ConsumeOptions, PublishOptions, QueueDeclareOptions};
use warren::{BasicProperties, Channel, Connection, Error, FieldTable, ReplyCode};

async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .expect("timed out after 20 s")
}

fn tls_dir() -> PathBuf {
    std::env::var_os("WARREN_TLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".state/tls"))
}

/// A path in the TLS dir, percent-encoded for a URL query (it is an absolute path: `/` → `%2F`).
fn file(name: &str) -> String {
    let p = tls_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/broker start",
        p.display()
    );
    p.to_str().unwrap().replace('%', "%25").replace('/', "%2F")
}

fn tls_port() -> u16 {
    std::env::var("WARREN_BROKER_TLS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5674)
}

/// `host:port` of the plain AMQP listener, from `WARREN_AMQP_URL`.
fn plain_host_port() -> String {
    let u = std::env::var("WARREN_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5673/%2f".into());
    let rest = u.split_once("://").map_or(u.as_str(), |(_, r)| r);
    let rest = rest.split(['/', '?']).next().unwrap_or(rest);
    rest.rsplit_once('@').map_or(rest, |(_, hp)| hp).to_string()
}

/// `amqps://{userinfo}{host}:{tls port}/%2f?{query}`.
fn amqps(userinfo: &str, host: &str, query: &str) -> String {
    format!("amqps://{userinfo}{host}:{}/%2f?{query}", tls_port())
}

fn ca() -> String {
    format!("cacertfile={}", file("ca.pem"))
}

fn client_cert() -> String {
    format!(
        "certfile={}&keyfile={}",
        file("client.pem"),
        file("client.key")
    )
}

fn unique(what: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "warren-test-tls-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn temp_queue(ch: &Channel) -> String {
    let q = unique("q");
    let o = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    ch.queue_declare(&q, o, FieldTable::new()).await.unwrap();
    q
}

/// The connect error, which must come within `ms` milliseconds.
async fn connect_err(url: &str, ms: u64) -> Error {
    let t0 = Instant::now();
    let r = Connection::connect(url).await;
    assert!(
        t0.elapsed() < Duration::from_millis(ms),
        "took {:?}",
        t0.elapsed()
    );
    match r {
        Ok(_) => panic!("{url} connected"),
        Err(e) => e,
    }
}

fn lost_message(e: Error) -> String {
    match e {
        // Every TLS failure is typed as such, so a session can tell it from a network loss.
        Error::ConnectionLost {
            cause: warren::TransportError::Tls(m),
            ..
        } => m,
        other => panic!("expected ConnectionLost with a TLS cause, got {other:?}"),
    }
}

#[tokio::test]
async fn amqps_with_ca_file_and_plain_login_publishes_and_consumes() {
    bounded(async {
        let conn = Connection::connect(&amqps("guest:guest@", "127.0.0.1", &ca()))
            .await
            .unwrap();
        let ch = conn.channel(None).await.unwrap();
        let q = temp_queue(&ch).await;
        let mut consumer = ch
            .basic_consume(&q, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        // Bigger than one TLS record (16 KiB) and than one frame, so both get split.
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for body in [&b"over tls"[..], &big] {
            ch.basic_publish(
                "",
                &q,
                body,
                &BasicProperties::default(),
                PublishOptions::default(),
            )
            .await
            .unwrap();
            let m = consumer.wait(10_000).await.unwrap().unwrap();
            assert_eq!(m.body.as_ref(), body);
            m.ack().unwrap();
        }
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn server_name_indication_overrides_the_verified_name() {
    bounded(async {
        // Connect by IP, verify as "localhost" (the certificate has both names).
        let url = amqps(
            "guest:guest@",
            "127.0.0.1",
            &format!("{}&server_name_indication=localhost", ca()),
        );
        let conn = Connection::connect(&url).await.unwrap();
        conn.channel(None).await.unwrap();
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn external_login_with_a_client_certificate_is_guest() {
    bounded(async {
        // No user name or password in the URL: the broker takes the certificate's CN.
        let url = amqps(
            "",
            "localhost",
            &format!("{}&{}&auth_mechanism=EXTERNAL", ca(), client_cert()),
        );
        let conn = Connection::connect(&url).await.unwrap();
        let ch = conn.channel(None).await.unwrap();
        ch.confirm_select().await.unwrap();
        let q = temp_queue(&ch).await;
        // RabbitMQ checks a published user_id against the connection's user.
        let as_guest = BasicProperties {
            user_id: Some("guest".into()),
            ..Default::default()
        };
        ch.basic_publish("", &q, b"from guest", &as_guest, PublishOptions::default())
            .await
            .unwrap();
        let m = ch.basic_get(&q, true).await.unwrap().expect("a message");
        assert_eq!(m.body.as_ref(), b"from guest");
        assert_eq!(m.properties.user_id.as_deref(), Some("guest"));

        let as_warren = BasicProperties {
            user_id: Some("warren".into()),
            ..Default::default()
        };
        let err = ch
            .basic_publish("", &q, b"spoofed", &as_warren, PublishOptions::default())
            .await
            .unwrap_err();
        assert_eq!(
            err.reply_code(),
            Some(ReplyCode::PRECONDITION_FAILED),
            "{err:?}"
        );
        assert!(conn.is_open());
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn external_without_a_client_certificate_is_refused() {
    bounded(async {
        let url = amqps(
            "",
            "127.0.0.1",
            &format!("{}&auth_mechanism=external", ca()),
        );
        let err = connect_err(&url, 10_000).await;
        // RabbitMQ offers EXTERNAL on every TLS connection, then refuses the login for lack of a
        // peer certificate with connection.close 403 (warren announces authentication_failure_close).
        assert_eq!(err.reply_code(), Some(ReplyCode::ACCESS_REFUSED), "{err:?}");
        let text = &err.close_info().unwrap().text;
        assert!(text.contains("EXTERNAL"), "{text}");
    })
    .await
}

#[tokio::test]
async fn an_untrusted_ca_fails_the_handshake_quickly() {
    bounded(async {
        // Without cacertfile only the web roots are trusted: the private CA is not among them.
        let m = lost_message(connect_err(&amqps("guest:guest@", "127.0.0.1", ""), 5_000).await);
        assert!(m.contains("certificate"), "{m}");
        assert!(m.contains("UnknownIssuer"), "{m}");
        assert!(m.contains("cacertfile"), "{m}");
        assert!(m.contains(&format!("127.0.0.1:{}", tls_port())), "{m}");
    })
    .await
}

#[tokio::test]
async fn a_wrong_server_name_fails_the_handshake() {
    bounded(async {
        let url = amqps(
            "guest:guest@",
            "127.0.0.1",
            &format!("{}&server_name_indication=broker.invalid", ca()),
        );
        let m = lost_message(connect_err(&url, 5_000).await);
        assert!(m.contains("certificate"), "{m}");
        assert!(m.contains("not valid for name \"broker.invalid\""), "{m}");
    })
    .await
}

#[tokio::test]
async fn unreadable_or_wrong_tls_files_are_clear_errors() {
    bounded(async {
        let missing = amqps("", "127.0.0.1", "cacertfile=%2Fnonexistent%2Fca.pem");
        let m = lost_message(connect_err(&missing, 2_000).await);
        assert!(m.contains("cacertfile /nonexistent/ca.pem"), "{m}");

        // A key where certificates belong, and a certificate where the key belongs.
        let key_as_ca = amqps("", "127.0.0.1", &format!("cacertfile={}", file("ca.key")));
        let m = lost_message(connect_err(&key_as_ca, 2_000).await);
        assert!(m.contains("no PEM CERTIFICATE"), "{m}");
        let swapped = amqps(
            "",
            "127.0.0.1",
            &format!(
                "{}&certfile={}&keyfile={}",
                ca(),
                file("client.pem"),
                file("client.pem")
            ),
        );
        let m = lost_message(connect_err(&swapped, 2_000).await);
        assert!(m.contains("private key"), "{m}");
        // The server's key does not belong to the client's certificate.
        let mismatched = amqps(
            "",
            "127.0.0.1",
            &format!(
                "{}&certfile={}&keyfile={}",
                ca(),
                file("client.pem"),
                file("server.key")
            ),
        );
        let m = lost_message(connect_err(&mismatched, 2_000).await);
        assert!(m.contains("client certificate"), "{m}");
    })
    .await
}

#[tokio::test]
async fn plain_tcp_is_not_tls() {
    bounded(async {
        // amqps:// against the plain AMQP port: the broker answers with an AMQP header, not TLS.
        let url = format!("amqps://guest:guest@{}/?{}", plain_host_port(), ca());
        let m = lost_message(connect_err(&url, 10_000).await);
        assert!(m.contains("TLS handshake"), "{m}");
    })
    .await
}

#[tokio::test]
async fn amqplain_over_plain_tcp() {
    bounded(async {
        let hp = plain_host_port();
        let conn = Connection::connect(&format!(
            "amqp://guest:guest@{hp}/%2f?auth_mechanism=amqplain"
        ))
        .await
        .unwrap();
        let ch = conn.channel(None).await.unwrap();
        temp_queue(&ch).await;
        conn.close().await.unwrap();

        let err = connect_err(
            &format!("amqp://guest:wrong-password@{hp}/%2f?authMechanism=AMQPLAIN"),
            10_000,
        )
        .await;
        assert_eq!(err.reply_code(), Some(ReplyCode::ACCESS_REFUSED), "{err:?}");
    })
    .await
}
