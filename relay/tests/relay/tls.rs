//! wss:// from PEM files, and SIGHUP swapping the certificate without dropping the listener
//! (a broken replacement keeps the previous one serving). Certificates come from openssl.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::harness::*;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and two server certificates (CN first / second) for 127.0.0.1.
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=relay test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    for name in ["first", "second"] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext",
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }
}

fn der(path: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(path)
        .unwrap()
        .as_ref()
        .to_vec()
}

/// Opens wss:// to the relay, sends and reads one message; returns the served certificate.
async fn wss_round_trip(relay: &Relay, ca: &Path) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(relay.addr).await.unwrap();
    let tls = within(
        "TLS handshake",
        TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp),
    )
    .await
    .unwrap();
    let served = tls.get_ref().1.peer_certificates().unwrap()[0]
        .as_ref()
        .to_vec();
    let url = format!("wss://{}/", relay.addr);
    let req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
        .unwrap();
    let (mut ws, _) = within("ws handshake", tokio_tungstenite::client_async(req, tls))
        .await
        .unwrap();
    futures_util::SinkExt::send(
        &mut ws,
        tokio_tungstenite::tungstenite::Message::Binary(b"over tls".to_vec().into()),
    )
    .await
    .unwrap();
    match within("echo", futures_util::StreamExt::next(&mut ws)).await {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(b))) => {
            assert_eq!(&b[..], b"over tls")
        }
        other => panic!("expected the echo, got {other:?}"),
    }
    served
}

#[tokio::test]
async fn wss_with_certificate_reload_on_sighup() {
    let dir = TempDir::new("tls");
    make_certs(&dir.0);
    let d = dir.0.clone();
    std::fs::copy(d.join("first.pem"), d.join("cert.pem")).unwrap();
    std::fs::copy(d.join("first.key"), d.join("cert.key")).unwrap();
    let up = echo_upstream().await;
    let cfg = format!(
        "{}[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        upstreams(&[up]),
        d.join("cert.pem").display(),
        d.join("cert.key").display()
    );
    let relay = Relay::start_in(dir, &cfg, &[]).await;
    assert_eq!(
        wss_round_trip(&relay, &d.join("ca.pem")).await,
        der(&d.join("first.pem"))
    );

    std::fs::copy(d.join("second.pem"), d.join("cert.pem")).unwrap();
    std::fs::copy(d.join("second.key"), d.join("cert.key")).unwrap();
    relay.signal("HUP");
    relay.wait_log("TLS certificate reloaded").await;
    assert_eq!(
        wss_round_trip(&relay, &d.join("ca.pem")).await,
        der(&d.join("second.pem"))
    );

    // a key that does not match: the reload fails and the second certificate stays
    std::fs::copy(d.join("first.key"), d.join("cert.key")).unwrap();
    relay.signal("HUP");
    relay.wait_log("TLS reload failed").await;
    assert_eq!(
        wss_round_trip(&relay, &d.join("ca.pem")).await,
        der(&d.join("second.pem"))
    );
    assert_eq!(
        relay
            .metric("warren_relay_tls_reloads_total{result=\"failed\"}")
            .await,
        1
    );
}
