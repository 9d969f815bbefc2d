//! Connecting: the handshake, negotiated limits, vhosts, authentication failures, URL errors.

use crate::common::*;
use std::time::{Duration, Instant};
use warren::client::{PublishOptions, QueueDeclareOptions};
use warren::{BasicProperties, Connection, Error, FieldTable, FieldValue, ReplyCode};

#[tokio::test]
async fn plain_handshake_reports_server_properties_and_broker_defaults() {
    bounded(async {
        let conn = connect().await;
        assert!(conn.is_open());
        let props = conn.server_properties();
        assert_eq!(
            props.get("product").and_then(FieldValue::as_str),
            Some("RabbitMQ")
        );
        assert!(props
            .get("version")
            .and_then(FieldValue::as_str)
            .is_some_and(|v| !v.is_empty()));
        match props.get("capabilities") {
            Some(FieldValue::Table(caps)) => {
                assert_eq!(
                    caps.get("publisher_confirms"),
                    Some(&FieldValue::Bool(true))
                );
                assert_eq!(
                    caps.get("consumer_cancel_notify"),
                    Some(&FieldValue::Bool(true))
                );
            }
            other => panic!("capabilities should be a table, got {other:?}"),
        }
        // Nothing requested: the broker's proposals (RabbitMQ defaults) win, except frame_max where
        // warren asks for 131072, which is also RabbitMQ's default.
        assert_eq!(conn.frame_max(), 131_072);
        assert_eq!(conn.channel_max(), 2047);
        assert_eq!(conn.heartbeat(), 60);
        conn.close().await.unwrap();
        assert!(!conn.is_open());
        assert_eq!(conn.closed().await, None, "a normal close reports no error");
    })
    .await
}

#[tokio::test]
async fn url_limits_are_negotiated_and_honoured() {
    bounded(async {
        let name = unique("limits");
        let conn = Connection::connect(&url_with(&format!(
            "frame_max=8192&channel_max=10&heartbeat=7&name={name}"
        )))
        .await
        .unwrap();
        assert_eq!(
            (conn.frame_max(), conn.channel_max(), conn.heartbeat()),
            (8192, 10, 7)
        );

        // The channel limit is enforced client-side.
        assert!(matches!(
            conn.channel(Some(11)).await,
            Err(Error::InvalidArgument(_))
        ));
        let ch = conn.channel(Some(10)).await.unwrap();
        assert_eq!(ch.id(), 10);

        // Bodies are split at the negotiated frame size: a client that used a bigger frame would
        // have the connection closed with 501 FRAME_ERROR by the broker.
        let q = temp_queue(&ch).await;
        let body: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        ch.confirm_select().await.unwrap();
        ch.basic_publish(
            "",
            &q,
            &body,
            &BasicProperties::default(),
            PublishOptions::default(),
        )
        .await
        .unwrap();
        let m = ch.basic_get(&q, true).await.unwrap().expect("message");
        assert_eq!(&m.body[..], &body[..]);

        // The broker's own view of this connection (skipped when rabbitmqctl is unavailable).
        if let Some(out) = broker_ctl(&[
            "list_connections",
            "client_properties",
            "frame_max",
            "channel_max",
            "timeout",
        ])
        .await
        {
            let line = out
                .lines()
                .find(|l| l.contains(&name))
                .unwrap_or_else(|| panic!("connection {name} not listed:\n{out}"));
            let cols: Vec<&str> = line.rsplitn(4, '\t').collect();
            // rsplitn: timeout, channel_max, frame_max, client_properties
            assert_eq!(&cols[..3], &["7", "10", "8192"], "{line}");
            assert!(
                line.contains("warren"),
                "product in client properties: {line}"
            );
        }
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn other_vhost_is_isolated() {
    bounded(async {
        let conn = Connection::connect(&url_for("warren", "warren-secret", "warren-test", ""))
            .await
            .unwrap();
        let ch = conn.channel(None).await.unwrap();
        let q = unique("vhost");
        ch.queue_declare(&q, exclusive(), FieldTable::new())
            .await
            .unwrap();

        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        // Seen from the default vhost the queue does not exist...
        let (root, root_ch) = open().await;
        let e = root_ch
            .queue_declare(&q, passive, FieldTable::new())
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::NOT_FOUND);
        // ...while in warren-test it exists and belongs to the other connection.
        let other = Connection::connect(&url_for("guest", "guest", "warren-test", ""))
            .await
            .unwrap();
        let other_ch = other.channel(None).await.unwrap();
        let e = other_ch
            .queue_declare(&q, passive, FieldTable::new())
            .await
            .unwrap_err();
        assert_channel_closed(&e, ReplyCode::RESOURCE_LOCKED);

        for c in [conn, root, other] {
            c.close().await.unwrap();
        }
    })
    .await
}

#[tokio::test]
async fn wrong_password_is_access_refused_and_never_printed() {
    bounded(async {
        let secret = "Wr0ng-S3cret-Pw";
        let e = Connection::connect(&url_for("guest", secret, "%2f", ""))
            .await
            .unwrap_err();
        assert_connection_closed(&e, ReplyCode::ACCESS_REFUSED);
        assert!(!format!("{e}").contains(secret), "{e}");
        assert!(!format!("{e:?}").contains(secret), "{e:?}");
        // Also for a user that exists with another password, and for AMQPLAIN.
        let e = Connection::connect(&url_for("warren", secret, "%2f", "auth_mechanism=AMQPLAIN"))
            .await
            .unwrap_err();
        assert_connection_closed(&e, ReplyCode::ACCESS_REFUSED);
        assert!(!format!("{e} {e:?}").contains(secret));
    })
    .await
}

#[tokio::test]
async fn amqplain_login_works() {
    bounded(async {
        let conn = Connection::connect(&url_for(
            "warren",
            "warren-secret",
            "%2f",
            "auth_mechanism=AMQPLAIN",
        ))
        .await
        .unwrap();
        let ch = conn.channel(None).await.unwrap();
        temp_queue(&ch).await;
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn unknown_vhost_is_not_allowed() {
    bounded(async {
        let vhost = unique("no-such-vhost");
        let e = Connection::connect(&url_for("guest", "guest", &vhost, ""))
            .await
            .unwrap_err();
        assert_connection_closed(&e, ReplyCode::NOT_ALLOWED);
    })
    .await
}

#[tokio::test]
async fn vhost_without_permission_is_not_allowed() {
    bounded(async {
        // `limited` may use "/" but has no permissions on warren-test.
        let ok = Connection::connect(&url_for("limited", "limited-pass", "%2f", ""))
            .await
            .unwrap();
        ok.close().await.unwrap();
        let e = Connection::connect(&url_for("limited", "limited-pass", "warren-test", ""))
            .await
            .unwrap_err();
        assert_connection_closed(&e, ReplyCode::NOT_ALLOWED);
    })
    .await
}

#[tokio::test]
async fn closed_port_fails_fast_with_connection_lost() {
    bounded(async {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        }; // listener dropped: nothing accepts on that port now
        let t0 = Instant::now();
        let e = Connection::connect(&format!("amqp://guest:guest@127.0.0.1:{port}/"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::ConnectionLost { .. }), "{e:?}");
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "took {:?}",
            t0.elapsed()
        );
    })
    .await
}

#[tokio::test]
async fn peer_that_accepts_but_never_speaks_times_out() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accept = tokio::spawn(async move { listener.accept().await.map(|(s, _)| s) });
        let t0 = Instant::now();
        let e = Connection::connect(&format!(
            "amqp://guest:guest@127.0.0.1:{port}/?connection_timeout=300"
        ))
        .await
        .unwrap_err();
        assert_eq!(e, Error::Timeout);
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "took {:?}",
            t0.elapsed()
        );
        drop(accept.await);
    })
    .await
}

#[tokio::test]
async fn invalid_urls_fail_before_any_io() {
    // 10.255.255.1 is not routable: an attempt to connect would hang or fail with ConnectionLost,
    // never with InvalidArgument, and not within the bound below.
    let bad = [
        "",
        "localhost",
        "http://10.255.255.1/",
        "amqp://",
        "amqp://10.255.255.1:notaport/",
        "amqp://10.255.255.1:70000/",
        "amqp://10.255.255.1/?heartbeat=x",
        "amqp://10.255.255.1/?heartbeat=-1",
        "amqp://10.255.255.1/?frame_max=100",
        "amqp://10.255.255.1/?channel_max=70000",
        "amqp://10.255.255.1/?auth_mechanism=KERBEROS",
        "amqp://10.255.255.1/%zz",
        "amqp://us%er:pw@10.255.255.1/",
        "ws://10.255.255.1/ws",
    ];
    for u in bad {
        let r = within(1_000, Connection::connect(u)).await;
        assert!(
            matches!(r, Err(Error::InvalidArgument(_))),
            "{u:?} gave {r:?}"
        );
    }
}

#[tokio::test]
async fn connection_name_is_visible_to_the_broker() {
    bounded(async {
        let name = unique("named");
        let conn = Connection::connect(&url_with(&format!("name={name}")))
            .await
            .unwrap();
        if let Some(out) =
            broker_ctl(&["list_connections", "user", "vhost", "client_properties"]).await
        {
            let line = out
                .lines()
                .find(|l| l.contains(&name))
                .unwrap_or_else(|| panic!("{name} not in\n{out}"));
            assert!(line.starts_with("guest\t/\t"), "{line}");
            assert!(
                line.contains(&format!("{{\"connection_name\",\"{name}\"}}")),
                "{line}"
            );
        }
        conn.close().await.unwrap();
    })
    .await
}

/// A one-shot fake server: accepts one connection, reads the client's protocol header, answers
/// with `reply` and closes. Returns its port.
async fn fake_server(reply: &'static [u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut header = [0u8; 8];
        s.read_exact(&mut header).await.unwrap();
        assert_eq!(
            &header, b"AMQP\x00\x00\x09\x01",
            "the client opens with the 0-9-1 header"
        );
        s.write_all(reply).await.unwrap();
        let _ = s.shutdown().await;
    });
    port
}

#[tokio::test]
async fn peer_speaking_another_protocol_is_refused_quickly() {
    bounded(async {
        // A broker that does not speak 0-9-1 answers with the header of the version it does.
        let port = fake_server(b"AMQP\x00\x01\x00\x00").await;
        let e = within(
            2_000,
            Connection::connect(&format!("amqp://127.0.0.1:{port}/")),
        )
        .await
        .unwrap_err();
        match &e {
            Error::ConnectionLost { cause, .. } => {
                let why = cause.to_string();
                assert!(why.contains("refused"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        // Not AMQP at all.
        let port = fake_server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").await;
        let e = within(
            2_000,
            Connection::connect(&format!("amqp://127.0.0.1:{port}/")),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e, Error::ConnectionClosed(_) | Error::ConnectionLost { .. }),
            "{e:?}"
        );
        // Accepts, then hangs up.
        let port = fake_server(b"").await;
        let e = within(
            2_000,
            Connection::connect(&format!("amqp://127.0.0.1:{port}/")),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::ConnectionLost { .. }), "{e:?}");
    })
    .await
}

#[tokio::test]
async fn url_without_vhost_uses_the_default_vhost() {
    bounded(async {
        let conn = Connection::connect(&format!("amqp://guest:guest@{}", host_port()))
            .await
            .unwrap();
        let ch = conn.channel(None).await.unwrap();
        // A queue declared here is visible from a connection that names "/" explicitly.
        let q = unique("default-vhost");
        ch.queue_declare(
            &q,
            QueueDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::new(),
        )
        .await
        .unwrap();
        let (other, other_ch) = open().await;
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        other_ch
            .queue_declare(&q, passive, FieldTable::new())
            .await
            .unwrap();
        ch.queue_delete(&q, Default::default()).await.unwrap();
        other.close().await.unwrap();
        conn.close().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn limits_above_the_brokers_are_capped_by_it() {
    bounded(async {
        let conn =
            Connection::connect(&url_with("frame_max=1048576&channel_max=65535&heartbeat=0"))
                .await
                .unwrap();
        // The smaller of the two sides wins; heartbeat 0 switches heartbeats off.
        assert_eq!(
            (conn.frame_max(), conn.channel_max(), conn.heartbeat()),
            (131_072, 2047, 0)
        );
        assert!(matches!(
            conn.channel(Some(2048)).await,
            Err(Error::InvalidArgument(_))
        ));
        // A client that framed by its own 1 MiB wish would be closed with 501 FRAME_ERROR here.
        let ch = conn.channel(None).await.unwrap();
        ch.confirm_select().await.unwrap();
        let q = temp_queue(&ch).await;
        let body = vec![0x5a; 300_000];
        ch.basic_publish(
            "",
            &q,
            &body,
            &BasicProperties::default(),
            PublishOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(
            ch.basic_get(&q, true).await.unwrap().unwrap().body.len(),
            300_000
        );
        conn.close().await.unwrap();
    })
    .await
}
