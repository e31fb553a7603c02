//! TLS for the tests: a throwaway CA and a server certificate for `localhost` and
//! 127.0.0.1 made with rcgen at test time, a wisp-server with `--tls-cert --tls-key`, and
//! a raw `wss://` client (the codec's blocking adapter over a rustls stream).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use wisp_codec::blocking::WebSocket;
use wisp_codec::handshake::ClientRequest;

use crate::Server;

/// A CA and a server certificate signed by it, as PEM files in a directory of their own
/// (removed on drop).
pub struct Pki {
    /// The directory that holds the files.
    pub dir: PathBuf,
    /// The CA certificate (what a client trusts).
    pub ca: PathBuf,
    /// The server's certificate chain: its certificate, then the CA's.
    pub cert: PathBuf,
    /// The server's private key (PKCS#8).
    pub key: PathBuf,
    /// A second key, which does not match `cert`.
    pub other_key: PathBuf,
    /// base64 of the SHA-256 of the server key's SubjectPublicKeyInfo (Chromium's
    /// `--ignore-certificate-errors-spki-list`).
    pub spki_sha256: String,
    /// The CA certificate in DER (what a rustls client trusts).
    pub ca_der: CertificateDer<'static>,
}

impl Pki {
    /// A new CA ("Wisp test CA") and a certificate for `names` (DNS names or IP
    /// addresses) signed by it.
    pub fn new(names: &[&str]) -> Pki {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "wisp-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Wisp test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut leaf = CertificateParams::new(names).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "wisp test server");
        let key = KeyPair::generate().unwrap();
        let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
        let other = KeyPair::generate().unwrap();
        let spki = ring::digest::digest(&ring::digest::SHA256, &key.public_key_der());
        let pki = Pki {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            other_key: dir.join("other-key.pem"),
            spki_sha256: base64::engine::general_purpose::STANDARD.encode(spki.as_ref()),
            ca_der: ca_cert.der().clone(),
            dir,
        };
        std::fs::write(&pki.ca, ca_cert.pem()).unwrap();
        std::fs::write(&pki.cert, cert.pem() + &ca_cert.pem()).unwrap();
        std::fs::write(&pki.key, key.serialize_pem()).unwrap();
        std::fs::write(&pki.other_key, other.serialize_pem()).unwrap();
        pki
    }

    /// For localhost and 127.0.0.1.
    pub fn localhost() -> Pki {
        Pki::new(&["localhost", "127.0.0.1"])
    }

    /// A path as the `&str` a command line takes.
    pub fn path(p: &std::path::Path) -> &str {
        p.to_str().unwrap()
    }

    /// A rustls client configuration trusting only this CA.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    /// wisp-server with `--tls-cert --tls-key` from `pki`, and `args`.
    pub fn start_tls(pki: &Pki, args: &[&str]) -> Server {
        let mut all = vec![
            "--tls-cert",
            Pki::path(&pki.cert),
            "--tls-key",
            Pki::path(&pki.key),
        ];
        all.extend_from_slice(args);
        Server::start(&all)
    }

    /// `wss://127.0.0.1:PORT` followed by `path`.
    pub fn wss_url(&self, path: &str) -> String {
        format!("wss://127.0.0.1:{}{path}", self.port)
    }
}

/// A TLS stream to the server, handshake done.
pub type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A raw `wss://` client.
pub type RawTls = WebSocket<Tls>;

/// A TLS connection to 127.0.0.1:`port` trusting `pki`'s CA, its handshake done.
pub fn tls_stream(pki: &Pki, port: u16) -> Tls {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = ClientConnection::new(pki.client_config(), name).unwrap();
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).unwrap();
    }
    s
}

/// Connects over TLS to `path` and completes the opening handshake.
pub fn connect_tls(pki: &Pki, port: u16, path: &str) -> RawTls {
    let req = ClientRequest::new(&format!("127.0.0.1:{port}"), path, *b"wisp test nonce!");
    crate::upgrade_over(tls_stream(pki, port), port, &req).0
}

/// One HTTPS exchange: `request` out, everything until the server closes back.
pub fn https(pki: &Pki, port: u16, request: &[u8]) -> String {
    let mut s = tls_stream(pki, port);
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
