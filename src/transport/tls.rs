//! Native TLS (feature `tls`): rustls with the ring provider over tokio TCP, for `amqps://`.
//!
//! The broker's certificate is always verified, against the CAs in `cacertfile` or else the
//! built-in web (Mozilla) roots, for the URL host or `server_name_indication`. A client
//! certificate (`certfile` + `keyfile`) is offered when configured; with
//! `auth_mechanism=EXTERNAL` the broker then takes the user name from it. Every failure here
//! (unreadable or malformed files, an untrusted or mismatched certificate, a refused handshake) is
//! a [`TransportError::Tls`] naming what went wrong.

use super::{Endpoint, TlsOptions, TransportError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

fn lost(why: String) -> TransportError {
    TransportError::Tls(why)
}

/// A ready client configuration and the name to verify, built (files read) before connecting.
pub(crate) struct Tls {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    peer: String,
}

impl Tls {
    pub(crate) fn new(url: Endpoint<'_>) -> Result<Tls, TransportError> {
        let name = url.tls.server_name.as_deref().unwrap_or(url.host);
        let server_name = ServerName::try_from(name.to_string()).map_err(|_| {
            lost(format!(
                "{name:?} is not a valid server name for certificate verification"
            ))
        })?;
        Ok(Tls {
            config: client_config(url.tls)?,
            server_name,
            peer: format!("{}:{}", url.host, url.port),
        })
    }

    pub(crate) async fn handshake(
        self,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, TransportError> {
        TlsConnector::from(self.config)
            .connect(self.server_name, tcp)
            .await
            .map_err(|e| {
                let hint = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                        " (a broker with a private CA needs cacertfile=)"
                    }
                    _ => "",
                };
                lost(format!(
                    "TLS handshake with {} failed: {e}{hint}",
                    self.peer
                ))
            })
    }
}

/// The rustls client configuration for these options.
pub fn client_config(tls: &TlsOptions) -> Result<Arc<ClientConfig>, TransportError> {
    let mut roots = RootCertStore::empty();
    match &tls.ca_cert_file {
        Some(path) => {
            for cert in load_certs(path, "cacertfile")? {
                roots.add(cert).map_err(|e| {
                    lost(format!(
                        "cacertfile {}: unusable CA certificate: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| lost(format!("{e}")))?
            .with_root_certificates(roots);
    let config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = load_certs(cert, "certfile")?;
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                lost(format!(
                    "cannot read a private key from keyfile {}: {e}",
                    key.display()
                ))
            })?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                lost(format!(
                    "client certificate {} with key {} is unusable: {e}",
                    cert.display(),
                    key.display()
                ))
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn load_certs(path: &Path, option: &str) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let why = |e: String| {
        lost(format!(
            "cannot read certificates from {option} {}: {e}",
            path.display()
        ))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| why(e.to_string()))?;
    if certs.is_empty() {
        return Err(why("no PEM CERTIFICATE block in it".into()));
    }
    Ok(certs)
}
