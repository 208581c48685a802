//! TLS through rustls: the certificate and key from PEM files, ALPN offering h2 and
//! http/1.1, and a certificate that SIGHUP replaces without touching open connections.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

/// A certificate or key that cannot be used, naming its file.
#[derive(Debug)]
pub(crate) struct TlsError {
    path: PathBuf,
    problem: String,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot use {} for TLS: {}", self.path.display(), self.problem)
    }
}

/// The server's TLS: an acceptor whose certificate can be replaced.
pub(crate) struct Tls {
    current: Arc<Current>,
    acceptor: TlsAcceptor,
}

/// The certificate every new handshake gets.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner())))
    }
}

impl Tls {
    /// Loads the certificate chain at `cert` and the private key at `key` (PEM).
    pub(crate) fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let certified = certified_key(cert, key)?;
        let current = Arc::new(Current(RwLock::new(certified)));
        let provider = Arc::new(ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| TlsError { path: cert.to_owned(), problem: err.to_string() })?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls { current, acceptor: TlsAcceptor::from(Arc::new(config)) })
    }

    /// Replaces the certificate for the handshakes to come; open connections keep theirs.
    pub(crate) fn reload(&self, cert: &Path, key: &Path) -> Result<(), TlsError> {
        let certified = certified_key(cert, key)?;
        *self.current.0.write().unwrap_or_else(|e| e.into_inner()) = certified;
        Ok(())
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

/// The chain and the key, checked to belong together.
fn certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let problem = |path: &Path, problem: String| TlsError { path: path.to_owned(), problem };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|err| problem(cert, err.to_string()))?;
    if chain.is_empty() {
        return Err(problem(cert, "no PEM certificate in the file".into()));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|err| problem(key, err.to_string()))?;
    let provider = CryptoProvider::get_default().cloned().unwrap_or_else(|| Arc::new(ring::default_provider()));
    let signing = provider.key_provider.load_private_key(der).map_err(|err| problem(key, err.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(_)) => {
            Err(problem(key, format!("the key does not belong to the certificate in {}", cert.display())))
        }
        Err(err) => Err(problem(cert, err.to_string())),
    }
}
