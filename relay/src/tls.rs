//! wss://: a rustls acceptor built from PEM files, swapped in place on SIGHUP so certificate
//! renewals need no restart. A reload that fails (unreadable file, key not matching) keeps the
//! previous certificate serving and is logged.

use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsPaths;

pub struct Tls {
    paths: TlsPaths,
    current: RwLock<TlsAcceptor>,
}

fn load(paths: &TlsPaths) -> Result<TlsAcceptor, String> {
    let certs = CertificateDer::pem_file_iter(&paths.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", paths.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate in the file",
            paths.cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&paths.key)
        .map_err(|e| format!("{}: {e}", paths.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("{} / {}: {e}", paths.cert.display(), paths.key.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl Tls {
    pub fn new(paths: TlsPaths) -> Result<Tls, String> {
        let acceptor = load(&paths)?;
        Ok(Tls {
            paths,
            current: RwLock::new(acceptor),
        })
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-reads the PEM files; connections already open keep their session.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = load(&self.paths)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }
}
