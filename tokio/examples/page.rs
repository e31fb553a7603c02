//! The teaching page (`web/`) over HTTPS with HTTP/2, and its live panel's `/inspect`
//! socket as an HTTP/2 extended CONNECT (RFC 8441) on the page's own connection.
//!
//! ```text
//! bash scripts/build-web.sh
//! cargo run -p wisp-tokio --features http2 --example page -- 127.0.0.1:9443 \
//!     --web web --cert cert.pem --key key.pem
//! ```
//! Prints `listening on https://ADDR` once bound (port 0 picks a free port). TLS offers
//! ALPN `h2` and `http/1.1`:
//!
//! - `h2`: the connection is served with the `h2` crate itself, not hyper, because the
//!   report names the stream that carried the socket and hyper's server does not expose
//!   a request's stream id (h2's `SendResponse::stream_id` does). The SETTINGS advertise
//!   `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441 §3), so a browser may open the page's
//!   socket as an extended CONNECT on a new stream of the same connection.
//! - `http/1.1` (or no ALPN): the page's files, and the socket as the RFC 6455 upgrade
//!   (101), from the request head as it came (read and parsed with the codec's
//!   `handshake::parse_request`).
//!
//! `/inspect` echoes every message and reports, as JSON text messages, the opening
//! handshake and then every frame in and out, as wisp-server's `/inspect` does (its
//! formats; `?deflate=off` declines permessage-deflate). Over HTTP/2 the handshake
//! report also says `"transport":"HTTP/2"`, the `"stream"` id, the requests this
//! connection carried before the socket (`"earlier"`), and shows the request and the
//! answer as the HTTP/2 fields the server decoded (`:method: CONNECT`, `:protocol:
//! websocket`, ..., `:status: 200`). It runs no scenarios (fragments, ping, close:
//! wisp-server's demo does) and has no watchers. Each socket is logged on stderr
//! (`page: socket /inspect over HTTP/2, stream 5`).

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use wisp_codec::{Direction, WireFrame};
use wisp_tokio::http2::{H2Stream, CONNECTION_WINDOW, MAX_STREAMS, STREAM_WINDOW};
use wisp_tokio::{Message, ServerOptions, Upgrade, WebSocketStream};

/// The most wire bytes one frame report shows in hex (as wisp-server's).
const MAX_HEX: usize = 64 * 1024;
/// The largest HTTP/1.1 request head.
const MAX_HEAD: usize = 16 * 1024;
/// The time allowed for an HTTP/1.1 request head, and for the TLS handshake.
const HEAD_TIME: Duration = Duration::from_secs(10);
/// The most earlier requests of an HTTP/2 connection a report lists (it counts them all).
const MAX_EARLIER: usize = 32;

/// What every connection shares.
struct Site {
    web: PathBuf,
}

/// A string as a JSON string literal.
fn json(s: &str) -> String {
    // Serializing a `str` cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

/// The report of one recorded frame, in wisp-server's `/inspect` format.
fn frame_report(frame: &WireFrame) -> String {
    let dir = match frame.direction {
        Direction::Received => "in",
        Direction::Sent => "out",
    };
    let shown = &frame.bytes[..frame.bytes.len().min(MAX_HEX)];
    let hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
    let h = &frame.header;
    format!(
        r#"{{"type":"frame","dir":"{dir}","fin":{},"rsv":{},"opcode":{},"masked":{},"len":{},"wire_len":{},"hex":"{}","truncated":{}}}"#,
        h.fin,
        h.rsv,
        h.opcode.as_u8(),
        h.mask.is_some(),
        h.payload_len,
        frame.bytes.len(),
        hex.join(" "),
        shown.len() < frame.bytes.len()
    )
}

/// How the socket's opening handshake went, for its report.
enum Opening {
    /// The RFC 6455 upgrade: the request head as it came, the 101 as it went.
    Http1 { request: String, response: String },
    /// An extended CONNECT on an HTTP/2 stream: the fields as decoded, the stream's id,
    /// and the requests the connection carried before it (their count, and the first
    /// [`MAX_EARLIER`] as `(stream, "GET /path")`).
    Http2 {
        request: String,
        response: String,
        stream: u32,
        earlier: Earlier,
    },
}

impl Opening {
    fn report(&self) -> String {
        match self {
            Opening::Http1 { request, response } => format!(
                r#"{{"type":"handshake","transport":"HTTP/1.1","request":{},"response":{}}}"#,
                json(request),
                json(response)
            ),
            Opening::Http2 {
                request,
                response,
                stream,
                earlier,
            } => {
                let listed: Vec<String> = earlier
                    .listed
                    .iter()
                    .map(|(id, what)| format!(r#"{{"stream":{id},"request":{}}}"#, json(what)))
                    .collect();
                format!(
                    r#"{{"type":"handshake","transport":"HTTP/2","stream":{stream},"earlier_count":{},"earlier":[{}],"request":{},"response":{}}}"#,
                    earlier.count,
                    listed.join(","),
                    json(request),
                    json(response)
                )
            }
        }
    }
}

/// The requests an HTTP/2 connection carried so far: how many, and the first few.
#[derive(Clone, Default)]
struct Earlier {
    count: usize,
    listed: Vec<(u32, String)>,
}

/// The options of a socket to `target`: frames recorded, deflate declined on
/// `?deflate=off`.
fn socket_options(target: &str) -> ServerOptions {
    let mut options = ServerOptions::default();
    options.config.record_frames = true;
    let query = target.split_once('?').map_or("", |(_, q)| q);
    if query.split('&').any(|kv| kv == "deflate=off") {
        options = options.with_deflate(None);
    }
    options
}

/// The path of a request target, without its query.
fn path_of(target: &str) -> &str {
    target.split(['?', '#']).next().unwrap_or("")
}

/// `/inspect`: the handshake report, then the echo with a report of every frame.
async fn inspect<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocketStream<S>, opening: Opening) {
    if ws.feed(Message::Text(opening.report())).await.is_err() {
        return;
    }
    while ws.connection_mut().poll_wire_frame().is_some() {}
    if ws.flush().await.is_err() {
        return;
    }
    while let Some(next) = ws.next().await {
        let reply = match next {
            Ok(Message::Text(t)) if t.starts_with("{\"command\"") => Message::Text(format!(
                r#"{{"type":"error","error":{}}}"#,
                json("this server (wisp-tokio's page example) runs no scenarios: wisp-server's /inspect does")
            )),
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => m,
            Ok(_) => continue,
            // Its close frame goes out as the stream is polled on, then it ends.
            Err(wisp_tokio::Error::Protocol(_)) => continue,
            Err(_) => break,
        };
        if ws.feed(reply).await.is_err() {
            break;
        }
        let mut reports = Vec::new();
        while let Some(f) = ws.connection_mut().poll_wire_frame() {
            reports.push(frame_report(&f));
        }
        for r in reports {
            if ws.feed(Message::Text(r)).await.is_err() {
                return;
            }
        }
        // The reports' own frames are not reported.
        while ws.connection_mut().poll_wire_frame().is_some() {}
        if ws.flush().await.is_err() {
            break;
        }
    }
}

/// The Content-Type for a file name.
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript",
        "css" => "text/css",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// A file under the web directory for a request path: its status, type and body (404
/// for a path that is not a plain relative one, or no file).
async fn file(site: &Site, target: &str) -> (u16, &'static str, Vec<u8>) {
    let rel = path_of(target).trim_start_matches('/');
    let mut path = site.web.clone();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) if !rel.contains(['%', '\\']) => path.push(p),
            Component::CurDir => {}
            _ => return (404, "text/plain", b"not found\n".to_vec()),
        }
    }
    if rel.is_empty() || rel.ends_with('/') {
        path.push("index.html");
    }
    match tokio::fs::read(&path).await {
        Ok(body) => (200, content_type(&path), body),
        Err(_) => (404, "text/plain", b"not found\n".to_vec()),
    }
}

// ---- HTTP/2, with the h2 crate --------------------------------------------------------

/// Serves one HTTP/2 connection: files, and `/inspect` as an extended CONNECT.
async fn serve_h2<I>(io: I, site: Arc<Site>) -> Result<(), h2::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut conn = h2::server::Builder::new()
        .enable_connect_protocol()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_concurrent_streams(MAX_STREAMS)
        .handshake(io)
        .await?;
    // Only this loop sees the connection's requests, in order; a socket gets a copy.
    let mut earlier = Earlier::default();
    while let Some(accepted) = conn.accept().await {
        let (req, respond) = accepted?;
        let stream = respond.stream_id().as_u32();
        let site = Arc::clone(&site);
        if req.method() == http::Method::CONNECT {
            tokio::spawn(h2_socket(req, respond, stream, earlier.clone()));
        } else {
            let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
            earlier.count += 1;
            if earlier.listed.len() < MAX_EARLIER {
                let what = format!("{} {target}", req.method());
                earlier.listed.push((stream, what));
            }
            tokio::spawn(h2_file(req, respond, site));
        }
    }
    Ok(())
}

/// Answers a plain request on its stream.
async fn h2_file(
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    site: Arc<Site>,
) {
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let (status, kind, body) = if req.method() == http::Method::GET {
        file(&site, target).await
    } else {
        (405, "text/plain", b"GET only\n".to_vec())
    };
    let mut response = http::Response::new(());
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    response
        .headers_mut()
        .insert("content-type", http::HeaderValue::from_static(kind));
    if let Ok(mut send) = respond.send_response(response, false) {
        // h2 queues what the peer's window does not take yet.
        let _ = send.send_data(Bytes::from(body), true);
    }
}

/// The fields of an HTTP/2 request as the server decoded them: the pseudo-headers
/// (RFC 9113 §8.3.1; `:protocol`, RFC 8441 §4), then the other fields.
fn h2_request_fields<B>(req: &http::Request<B>) -> String {
    let mut out = format!(":method: {}\r\n", req.method());
    if let Some(p) = req.extensions().get::<h2::ext::Protocol>() {
        out += &format!(":protocol: {}\r\n", p.as_str());
    }
    if let Some(s) = req.uri().scheme_str() {
        out += &format!(":scheme: {s}\r\n");
    }
    if let Some(a) = req.uri().authority() {
        out += &format!(":authority: {a}\r\n");
    }
    if let Some(p) = req.uri().path_and_query() {
        out += &format!(":path: {p}\r\n");
    }
    for (name, value) in req.headers() {
        out += &format!("{name}: {}\r\n", String::from_utf8_lossy(value.as_bytes()));
    }
    out
}

/// An extended CONNECT: checked as RFC 8441 §5 says, answered 200 on its stream, and
/// the stream given to `/inspect` (a refusal: its status and reason).
async fn h2_socket(
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    stream: u32,
    earlier: Earlier,
) {
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let checked = if path_of(&target) == "/inspect" {
        Upgrade::from_request(&req, &socket_options(&target)).map_err(|e| {
            let r: http::Response<String> = Upgrade::refusal(&e);
            (r.status(), r.into_body())
        })
    } else {
        Err((
            http::StatusCode::NOT_FOUND,
            "no WebSocket here: this server has /inspect only\n".to_string(),
        ))
    };
    let up = match checked {
        Ok(up) => up,
        Err((status, why)) => {
            let mut response = http::Response::new(());
            *response.status_mut() = status;
            if let Ok(mut send) = respond.send_response(response, false) {
                let _ = send.send_data(Bytes::from(why), true);
            }
            return;
        }
    };
    let request = h2_request_fields(&req);
    let response = up.response::<()>();
    let mut answer = format!(":status: {}\r\n", response.status().as_u16());
    for (name, value) in response.headers() {
        answer += &format!("{name}: {}\r\n", String::from_utf8_lossy(value.as_bytes()));
    }
    let Ok(send) = respond.send_response(response, false) else {
        return;
    };
    eprintln!("page: socket {target} over HTTP/2, stream {stream}");
    let ws = up.into_stream(H2Stream::new(send, req.into_body()));
    let opening = Opening::Http2 {
        request,
        response: answer,
        stream,
        earlier,
    };
    inspect(ws, opening).await;
}

// ---- HTTP/1.1, heads read and parsed with the codec ---------------------------------------

/// A transport whose first bytes were already read: those, then the rest.
struct Rewind<S> {
    first: Vec<u8>,
    io: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        if !self.first.is_empty() {
            let n = self.first.len().min(buf.remaining());
            buf.put_slice(&self.first[..n]);
            self.first.drain(..n);
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A refused request's answer: its status, the reason as one line, and the
/// connection closed.
fn refusal(status: u16, reason: &dyn std::fmt::Display) -> Vec<u8> {
    h1_response(status, "text/plain", format!("{reason}\n").as_bytes(), true)
}

/// A plain HTTP/1.1 response head and body (a 426 names the version this server
/// speaks, RFC 6455 §4.4).
fn h1_response(status: u16, kind: &str, body: &[u8], close: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n{}{}\r\n",
        body.len(),
        if status == 426 {
            "sec-websocket-version: 13\r\n"
        } else {
            ""
        },
        if close { "connection: close\r\n" } else { "" }
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Serves one HTTP/1.1 connection: files (keep-alive), or the upgrade of `/inspect`.
async fn serve_h1<I>(mut io: I, site: Arc<Site>) -> io::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut buf = Vec::new();
    loop {
        // One request head, within HEAD_TIME.
        let deadline = tokio::time::Instant::now() + HEAD_TIME;
        let parsed = loop {
            match wisp_codec::handshake::parse_request(&buf, MAX_HEAD) {
                Ok(Some(done)) => break done,
                Ok(None) => {}
                Err(e) => {
                    io.write_all(&refusal(e.status(), &e)).await?;
                    return Ok(());
                }
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, io.read(&mut chunk))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let (req, len) = parsed;
        let head = String::from_utf8_lossy(&buf[..len]).into_owned();
        buf.drain(..len);
        let upgrade = req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("upgrade"));
        if !upgrade {
            if req.method != "GET" {
                // A body may follow, which this server does not read: the connection ends.
                io.write_all(&h1_response(405, "text/plain", b"GET only\n", true))
                    .await?;
                return Ok(());
            }
            let (status, kind, body) = file(&site, &req.target).await;
            io.write_all(&h1_response(status, kind, &body, false))
                .await?;
            continue;
        }
        if path_of(&req.target) != "/inspect" {
            let body = b"no WebSocket here: this server has /inspect only\n";
            io.write_all(&h1_response(404, "text/plain", body, true))
                .await?;
            return Ok(());
        }
        let headers = req.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
        let up = match Upgrade::new(
            &req.method,
            &req.target,
            headers,
            &socket_options(&req.target),
        ) {
            Ok(up) => up,
            Err(e) => {
                io.write_all(&refusal(e.status(), &e)).await?;
                return Ok(());
            }
        };
        let mut response = "HTTP/1.1 101 Switching Protocols\r\n".to_string();
        for (name, value) in up.response_headers() {
            response += &format!("{name}: {value}\r\n");
        }
        response += "\r\n";
        io.write_all(response.as_bytes()).await?;
        eprintln!("page: socket {} over HTTP/1.1", req.target);
        let ws = up.into_stream(Rewind {
            first: std::mem::take(&mut buf),
            io,
        });
        let opening = Opening::Http1 {
            request: head,
            response,
        };
        inspect(ws, opening).await;
        return Ok(());
    }
}

// ---- TLS and the listener ---------------------------------------------------------------

/// The TLS configuration from PEM files, with ALPN `h2` and `http/1.1`.
fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("the certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// One connection: TLS, then HTTP/2 or HTTP/1.1 as ALPN agreed.
async fn connection(tcp: tokio::net::TcpStream, tls: tokio_rustls::TlsAcceptor, site: Arc<Site>) {
    let _ = tcp.set_nodelay(true);
    let Ok(Ok(tls)) = tokio::time::timeout(HEAD_TIME, tls.accept(tcp)).await else {
        return;
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let result = if h2 {
        serve_h2(tls, site).await.map_err(|e| e.to_string())
    } else {
        serve_h1(tls, site).await.map_err(|e| e.to_string())
    };
    if let Err(e) = result {
        eprintln!("page: a connection ended with an error: {e}");
    }
}

struct Args {
    addr: String,
    web: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

const USAGE: &str = "usage: page ADDR --web DIR --cert CERT.pem --key KEY.pem";

fn args() -> Result<Args, String> {
    let mut addr = "127.0.0.1:9443".to_string();
    let (mut web, mut cert, mut key) = (PathBuf::from("web"), None, None);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value; {USAGE}"));
        match a.as_str() {
            "--web" => web = value("--web")?.into(),
            "--cert" => cert = Some(PathBuf::from(value("--cert")?)),
            "--key" => key = Some(PathBuf::from(value("--key")?)),
            a if !a.starts_with("--") => addr = a.to_string(),
            other => return Err(format!("unknown option {other}; {USAGE}")),
        }
    }
    let (Some(cert), Some(key)) = (cert, key) else {
        return Err(format!(
            "--cert and --key are required (HTTPS: browsers speak HTTP/2 over TLS only); {USAGE}"
        ));
    };
    if !web.join("index.html").is_file() {
        return Err(format!("{} has no index.html; {USAGE}", web.display()));
    }
    Ok(Args {
        addr,
        web,
        cert,
        key,
    })
}

async fn serve(args: Args, tls: rustls::ServerConfig) -> io::Result<()> {
    let listener = TcpListener::bind(&args.addr).await?;
    println!("listening on https://{}", listener.local_addr()?);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let site = Arc::new(Site { web: args.web });
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    tokio::spawn(connection(tcp, acceptor.clone(), Arc::clone(&site)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

fn main() {
    let run = || -> Result<(), String> {
        let args = args()?;
        let tls = tls_config(&args.cert, &args.key)?;
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .and_then(|rt| rt.block_on(serve(args, tls)))
            .map_err(|e| e.to_string())
    };
    if let Err(e) = run() {
        eprintln!("page: {e}");
        std::process::exit(2);
    }
}
