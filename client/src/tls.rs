//! `wss://`: rustls on the client, used sans-IO.
//!
//! [`TlsLayer`] holds the rustls session and turns raw bytes from the server into
//! plaintext ([`TlsLayer::decrypt`]) and plaintext into raw bytes for the socket
//! ([`TlsLayer::encrypt`]); it never touches the socket. [`Stream`] is what the
//! blocking WebSocket runs over: the plain socket, or the socket plus that layer. So a
//! reader may read raw bytes from a `try_clone` of the socket on its own and hand them
//! to a shared layer, while a writer encrypts through the same layer.
//!
//! Trust: Mozilla's roots (`webpki-roots`) by default, or only the CA certificates of
//! [`Options::ca`](crate::Options::ca), or a `ClientConfig` of the user's own
//! ([`Options::tls`](crate::Options::tls)). The ring crypto provider is chosen here,
//! so no process-wide default is needed.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// Raw bytes read from the socket at once.
const RAW_READ: usize = 32 * 1024;

/// What went wrong with TLS ([`Error::Tls`](crate::Error::Tls)); each reads as a
/// sentence, with the rustls or PEM error as its [`source`](std::error::Error::source).
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// The TLS handshake with `host` failed: the certificate is not trusted or not
    /// for the host, or the server sent an alert.
    Handshake {
        /// The host the certificate was checked for.
        host: String,
        /// rustls's error.
        error: rustls::Error,
    },
    /// A PEM file (`what`: "CA file", "pinned certificate", "client certificate",
    /// "client key") could not be read or parsed.
    File {
        /// Which file it was.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The PEM reader's error.
        error: rustls::pki_types::pem::Error,
    },
    /// A PEM file holds nothing of what it should (`BEGIN CERTIFICATE`, a key).
    Empty {
        /// Which file it was.
        what: &'static str,
        /// Its path.
        path: PathBuf,
    },
    /// A certificate or key that rustls refuses (a bad CA certificate, a key that
    /// does not match the client certificate).
    Rejected {
        /// Which file it was.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// rustls's error.
        error: rustls::Error,
    },
    /// The host cannot be checked against a certificate (not a DNS name or an IP).
    ServerName {
        /// The host.
        host: String,
        /// Why.
        error: rustls::pki_types::InvalidDnsNameError,
    },
    /// rustls refused the configuration.
    Config(rustls::Error),
}

/// A handshake error in words, with what to do when there is something to do.
fn describe(host: &str, e: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, CertificateError as C};
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => format!(
                "the certificate of {host} is not signed by a CA this client trusts \
                 (--ca FILE trusts a private CA; --pin-cert FILE exactly one certificate)"
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                format!("the certificate of {host} is not for the name {host:?}")
            }
            C::Expired | C::ExpiredContext { .. } => {
                format!("the certificate of {host} has expired")
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                format!("the certificate of {host} is not valid yet (or this clock is wrong)")
            }
            C::Revoked => format!("the certificate of {host} is revoked"),
            C::BadSignature => format!("the certificate of {host} has a bad signature"),
            C::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => format!(
                "the certificate of {host} is a CA certificate (basicConstraints CA:TRUE, \
                 as `openssl req -x509` makes by default) used as the server's own: \
                 make one with -addext basicConstraints=critical,CA:FALSE (see the \
                 README), or trust exactly this certificate with --pin-cert FILE"
            ),
            other => format!("the certificate of {host} is not acceptable: {other:?}"),
        },
        rustls::Error::AlertReceived(A::CertificateRequired) => {
            format!("{host} wants a client certificate (--cert FILE --key FILE)")
        }
        rustls::Error::AlertReceived(A::UnknownCA | A::BadCertificate) => {
            format!("{host} does not accept our client certificate")
        }
        rustls::Error::AlertReceived(a) => {
            format!("{host} ended the TLS handshake with the alert {a:?}")
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            format!("{host} does not speak TLS on this port (is it ws:// rather than wss://?)")
        }
        other => format!("the TLS handshake with {host} failed: {other}"),
    }
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::Handshake { host, error } => f.write_str(&describe(host, error)),
            TlsError::File { what, path, error } => {
                write!(f, "cannot read the {what} {}: {error}", path.display())
            }
            TlsError::Empty { what, path } => {
                let kind = if *what == "client key" {
                    "PEM private key"
                } else {
                    "PEM certificate (BEGIN CERTIFICATE)"
                };
                write!(f, "no {kind} in the {what} {}", path.display())
            }
            TlsError::Rejected { what, path, error } => {
                write!(f, "the {what} {} is not usable: {error}", path.display())
            }
            TlsError::ServerName { host, error } => {
                write!(
                    f,
                    "{host:?} cannot be checked against a certificate: {error}"
                )
            }
            TlsError::Config(e) => write!(f, "the TLS configuration is not usable: {e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Handshake { error, .. }
            | TlsError::Rejected { error, .. }
            | TlsError::Config(error) => Some(error),
            TlsError::File { error, .. } => Some(error),
            TlsError::ServerName { error, .. } => Some(error),
            TlsError::Empty { .. } => None,
        }
    }
}

/// Every certificate in a PEM file.
fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|error| TlsError::File {
            what,
            path: path.to_path_buf(),
            error,
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// Accepts exactly one certificate as the server's (`--pin-cert`); the handshake's
/// signatures are still checked with it.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The rustls configuration for `wss://`: Mozilla's roots, or those of the PEM file
/// `ca` (one or more `BEGIN CERTIFICATE` blocks) instead, or exactly the certificate
/// `pin`; with `client` (certificate chain, key), a client certificate.
pub(crate) fn client_config(
    ca: Option<&Path>,
    pin: Option<&Path>,
    client: Option<&(PathBuf, PathBuf)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    let builder = if let Some(path) = pin {
        let cert = certificates("pinned certificate", path)?.swap_remove(0);
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                cert,
                algorithms: provider.signature_verification_algorithms,
            }))
    } else {
        let mut roots = RootCertStore::empty();
        match ca {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(path) => {
                for c in certificates("CA file", path)? {
                    roots.add(c).map_err(|error| TlsError::Rejected {
                        what: "CA file",
                        path: path.to_path_buf(),
                        error,
                    })?;
                }
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = certificates("client certificate", cert)?;
            let der = PrivateKeyDer::from_pem_file(key).map_err(|error| match error {
                rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
                    what: "client key",
                    path: key.clone(),
                },
                error => TlsError::File {
                    what: "client key",
                    path: key.clone(),
                    error,
                },
            })?;
            builder
                .with_client_auth_cert(chain, der)
                .map_err(|error| TlsError::Rejected {
                    what: "client key",
                    path: key.clone(),
                    error,
                })?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TLS error as an `io::Error` that keeps it (for [`crate::Error::Tls`]).
fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The rustls client session, without a socket: raw bytes in and out.
pub(crate) struct TlsLayer {
    conn: ClientConnection,
}

impl TlsLayer {
    /// A session for `host` (a DNS name or an IP address, checked against the
    /// server's certificate).
    pub(crate) fn new(config: Arc<ClientConfig>, host: &str) -> Result<TlsLayer, TlsError> {
        let name =
            ServerName::try_from(host.to_string()).map_err(|error| TlsError::ServerName {
                host: host.to_string(),
                error,
            })?;
        let mut conn = ClientConnection::new(config, name).map_err(TlsError::Config)?;
        // Plaintext queued before the handshake is done is not bounded by rustls.
        conn.set_buffer_limit(None);
        Ok(TlsLayer { conn })
    }

    /// Decrypts `raw` bytes from the server, appending the plaintext to `out`. A TLS
    /// error (its alert for the server is then in [`take_output`](Self::take_output)).
    pub(crate) fn decrypt(&mut self, mut raw: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        while !raw.is_empty() {
            // After the server's close_notify nothing more is taken: the rest is dropped.
            if self.conn.read_tls(&mut raw)? == 0 {
                break;
            }
            self.conn.process_new_packets().map_err(tls_error)?;
            let _ = self.conn.reader().read_to_end(out);
        }
        Ok(())
    }

    /// The server ended TCP.
    pub(crate) fn end(&mut self) {
        let _ = self.conn.read_tls(&mut &[][..]);
        let _ = self.conn.process_new_packets();
    }

    /// Encrypts `bufs`, appending the records to `out`.
    pub(crate) fn encrypt(&mut self, bufs: &[IoSlice<'_>], out: &mut Vec<u8>) -> io::Result<usize> {
        let n = self.conn.writer().write_vectored(bufs)?;
        self.take_output(out);
        Ok(n)
    }

    /// Moves what rustls has to send (handshake messages, alerts, records) to `out`.
    pub(crate) fn take_output(&mut self, out: &mut Vec<u8>) {
        while self.conn.wants_write() {
            if self.conn.write_tls(out).is_err() {
                break;
            }
        }
    }

    /// The handshake is not done yet.
    pub(crate) fn handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Queues our close_notify.
    pub(crate) fn close(&mut self) {
        self.conn.send_close_notify();
    }
}

/// What a client runs over: the socket, or TLS over it.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
    /// A loopback socket to the thread that runs an HTTP/2 stream (feature `http2`).
    #[cfg(feature = "http2")]
    Http2(crate::http2::Bridged),
}

/// The socket with its TLS layer and the plaintext not yet read.
pub(crate) struct TlsStream {
    tcp: TcpStream,
    layer: TlsLayer,
    plain: Vec<u8>,
    pos: usize,
    raw: Vec<u8>,
    eof: bool,
}

impl Stream {
    /// TLS over `tcp`, the handshake done (under the socket's timeouts, which the
    /// caller sets). A certificate the configuration does not trust is an
    /// `InvalidData` error holding the `rustls::Error`.
    /// `early`: raw bytes already read from the socket (after a proxy's answer).
    pub(crate) fn tls(tcp: TcpStream, layer: TlsLayer, early: Vec<u8>) -> io::Result<Stream> {
        let mut t = TlsStream {
            tcp,
            layer,
            plain: Vec::new(),
            pos: 0,
            raw: vec![0; RAW_READ],
            eof: false,
        };
        if !early.is_empty() {
            let r = t.layer.decrypt(&early, &mut t.plain);
            let w = t.write_out();
            r.and(w)?;
        }
        t.handshake()?;
        Ok(Stream::Tls(Box::new(t)))
    }

    /// The socket, the TLS layer, and the plaintext decrypted but not read yet (for
    /// [`Client::split`](crate::Client::split)).
    pub(crate) fn into_parts(self) -> (TcpStream, Option<TlsLayer>, Vec<u8>) {
        match self {
            Stream::Plain(s) => (s, None, Vec::new()),
            #[cfg(feature = "http2")]
            Stream::Http2(b) => (b.into_tcp(), None, Vec::new()),
            Stream::Tls(t) => {
                let t = *t;
                let rest = t.plain[t.pos..].to_vec();
                (t.tcp, Some(t.layer), rest)
            }
        }
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.tcp,
            #[cfg(feature = "http2")]
            Stream::Http2(b) => b.tcp(),
        }
    }

    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(t)
    }

    pub(crate) fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(t)
    }

    /// Closes TCP; TLS sends its close_notify first (best effort).
    pub(crate) fn shutdown(&mut self) {
        if let Stream::Tls(t) = self {
            t.layer.close();
            let _ = t.write_out();
        }
        let _ = self.tcp().shutdown(Shutdown::Both);
    }
}

impl TlsStream {
    /// Writes what the layer has to send.
    fn write_out(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        self.layer.take_output(&mut out);
        if out.is_empty() {
            return Ok(());
        }
        self.tcp.write_all(&out)
    }

    /// Reads raw bytes and decrypts them; false at the end of the stream.
    fn read_more(&mut self) -> io::Result<bool> {
        let n = loop {
            match self.tcp.read(&mut self.raw) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r?,
            }
        };
        if n == 0 {
            self.layer.end();
            self.eof = true;
            return Ok(false);
        }
        if self.pos == self.plain.len() {
            self.plain.clear();
            self.pos = 0;
        }
        let r = self.layer.decrypt(&self.raw[..n], &mut self.plain);
        // Handshake answers, a key update's, or the alert for a TLS error.
        let w = self.write_out();
        r.and(w).map(|()| true)
    }

    fn handshake(&mut self) -> io::Result<()> {
        while self.layer.handshaking() {
            self.write_out()?;
            if !self.layer.handshaking() {
                break;
            }
            if !self.read_more()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection during the TLS handshake",
                ));
            }
        }
        // Our Finished.
        self.write_out()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let t = match self {
            Stream::Plain(s) => return s.read(buf),
            #[cfg(feature = "http2")]
            Stream::Http2(b) => return b.read(buf),
            Stream::Tls(t) => t,
        };
        while t.pos == t.plain.len() {
            if t.eof || buf.is_empty() || !t.read_more()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(t.plain.len() - t.pos);
        buf[..n].copy_from_slice(&t.plain[t.pos..t.pos + n]);
        t.pos += n;
        Ok(n)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let t = match self {
            Stream::Plain(s) => return s.write_vectored(bufs),
            #[cfg(feature = "http2")]
            Stream::Http2(b) => return b.write_vectored(bufs),
            Stream::Tls(t) => t,
        };
        let mut out = Vec::new();
        let n = t.layer.encrypt(bufs, &mut out)?;
        t.tcp.write_all(&out)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            #[cfg(feature = "http2")]
            Stream::Http2(b) => b.flush(),
            Stream::Tls(t) => t.write_out(),
        }
    }
}
