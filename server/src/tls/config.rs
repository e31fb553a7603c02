//! The certificate chain and key a server serves `https://` and `wss://` with, read from
//! PEM files, and why a file could not be used (a leaf of `tls/`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate chain and its private key for serving `https://` and `wss://`
/// ([`Config::tls`](crate::Config::tls)): a rustls `ServerConfig` with the ring crypto
/// provider and rustls' default protocol versions (TLS 1.3 and 1.2) and cipher suites.
///
/// ```no_run
/// let tls = wisp_server::TlsConfig::from_pem_files("cert.pem".as_ref(), "key.pem".as_ref())?;
/// let config = wisp_server::Config::default().tls(Some(tls));
/// # Ok::<(), wisp_server::TlsFileError>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    pub(super) config: Arc<rustls::ServerConfig>,
}

impl TlsConfig {
    /// Loads a PEM certificate chain (the server's certificate first, then its
    /// intermediates) and a PEM private key (PKCS#8, PKCS#1 or SEC1), and checks that
    /// the key belongs to the certificate. The error is one line that names the file
    /// and says what is wrong.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsConfig, TlsFileError> {
        let chain = read_chain(cert)?;
        let key = read_key(key)?;
        Self::from_der(chain, key).map_err(|source| TlsFileError::Mismatch {
            cert: cert.to_path_buf(),
            source,
        })
    }

    /// Builds the configuration from DER: the chain (the server's certificate first)
    /// and its private key. Fails when the key is unusable or does not match.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<TlsConfig, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        // WebSocket over HTTP/1.1 only (RFC 6455; no RFC 8441 over h2).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig::new(Arc::new(config)))
    }

    /// Uses a rustls configuration of your own (its crypto provider, versions, client
    /// authentication, certificate resolver). Set its `alpn_protocols` to `http/1.1` or
    /// leave them empty: the server speaks HTTP/1.1 only.
    pub fn new(config: Arc<rustls::ServerConfig>) -> TlsConfig {
        TlsConfig { config }
    }

    /// The rustls configuration.
    pub fn rustls(&self) -> &Arc<rustls::ServerConfig> {
        &self.config
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

/// The same configuration (the same `Arc`).
impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for TlsConfig {}

/// Why [`TlsConfig::from_pem_files`] failed: which file, and what is wrong with it. Its
/// `Display` is one line that names the file.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsFileError {
    /// A file could not be read.
    Read {
        /// "certificate" or "key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no PEM item of the kind wanted.
    Missing {
        /// "certificate" or "key".
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// The file's PEM is malformed.
    BadPem {
        /// "certificate" or "key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// The key does not go with the certificate, or rustls refuses them.
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// Why.
        source: rustls::Error,
    },
}

impl fmt::Display for TlsFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFileError::Read { what, path, source } => {
                write!(f, "cannot read the TLS {what} {}: {source}", path.display())
            }
            TlsFileError::Missing {
                what: "certificate",
                path,
            } => write!(
                f,
                "no PEM certificate (BEGIN CERTIFICATE) in {}",
                path.display()
            ),
            TlsFileError::Missing { what, path } => write!(
                f,
                "no PEM private {what} (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) in {}",
                path.display()
            ),
            TlsFileError::BadPem { what, path, source } => {
                write!(f, "bad PEM in the TLS {what} {}: {source}", path.display())
            }
            TlsFileError::Mismatch { cert, source } => write!(
                f,
                "TLS certificate {} and key do not go together: {source}",
                cert.display()
            ),
        }
    }
}

impl std::error::Error for TlsFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsFileError::Read { source, .. } => Some(source),
            TlsFileError::BadPem { source, .. } => Some(source),
            TlsFileError::Mismatch { source, .. } => Some(source),
            TlsFileError::Missing { .. } => None,
        }
    }
}

fn pem_error(what: &'static str, path: &Path, e: rustls::pki_types::pem::Error) -> TlsFileError {
    use rustls::pki_types::pem::Error as E;
    let path = path.to_path_buf();
    match e {
        E::Io(source) => TlsFileError::Read { what, path, source },
        E::NoItemsFound => TlsFileError::Missing { what, path },
        source => TlsFileError::BadPem { what, path, source },
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error("certificate", path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("certificate", path, e))?;
    if chain.is_empty() {
        return Err(TlsFileError::Missing {
            what: "certificate",
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error("key", path, e))
}
