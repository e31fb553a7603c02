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
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

/// Raw bytes read from the socket at once.
const RAW_READ: usize = 32 * 1024;

/// The rustls configuration for `wss://`: Mozilla's roots, or those of the PEM file
/// `ca` (one or more `BEGIN CERTIFICATE` blocks) instead. The error says why not.
pub(crate) fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match ca {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "no PEM certificate (BEGIN CERTIFICATE) in the CA file {}",
                    path.display()
                ));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("bad CA certificate in {}: {e}", path.display()))?;
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
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
    pub(crate) fn new(config: Arc<ClientConfig>, host: &str) -> Result<TlsLayer, String> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| format!("{host:?} cannot be checked against a certificate: {e}"))?;
        let mut conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
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
    pub(crate) fn tls(tcp: TcpStream, layer: TlsLayer) -> io::Result<Stream> {
        let mut t = TlsStream {
            tcp,
            layer,
            plain: Vec::new(),
            pos: 0,
            raw: vec![0; RAW_READ],
            eof: false,
        };
        t.handshake()?;
        Ok(Stream::Tls(Box::new(t)))
    }

    /// The socket, the TLS layer, and the plaintext decrypted but not read yet (for
    /// [`Client::split`](crate::Client::split)).
    pub(crate) fn into_parts(self) -> (TcpStream, Option<TlsLayer>, Vec<u8>) {
        match self {
            Stream::Plain(s) => (s, None, Vec::new()),
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
            Stream::Tls(t) => t.write_out(),
        }
    }
}
