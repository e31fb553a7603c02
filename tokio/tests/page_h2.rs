//! The teaching page over HTTPS from the page example (`examples/page.rs`) in Debian's
//! Chromium: with ALPN h2 the page and its live panel's socket come over HTTP/2, the
//! socket as an extended CONNECT (RFC 8441) on a stream of the page's own connection,
//! and the handshake panel says so (no 101, no key or accept, the stream's id); with
//! Chromium's HTTP/2 switched off, the same server upgrades the socket with a 101 and the
//! panel shows it as before. The server's log says which transport carried each socket.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::*;
use futures_util::{SinkExt, StreamExt};
use wisp_tokio::http2::{Http2, Http2Connection};
use wisp_tokio::{ClientOptions, Message};

/// What `tests/browser/page_h2.mjs` read from the page.
fn run_page(port: u16, cert: &std::path::Path, chromium: &str, http1: bool) -> Shown {
    let out = Command::new("node")
        .arg(root().join("tests/browser/page_h2.mjs"))
        .current_dir(root())
        .env("WISP_URL", format!("https://localhost:{port}/"))
        .env("WISP_CERT", cert)
        .env("WISP_HTTP1", if http1 { "1" } else { "0" })
        .env("CHROMIUM", chromium)
        .output()
        .expect("run node tests/browser/page_h2.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "page_h2.mjs (http1 {http1}): {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Shown(
        stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// The page's `key=value` lines.
#[derive(Debug)]
struct Shown(std::collections::BTreeMap<String, String>);

impl std::ops::Index<&str> for Shown {
    type Output = str;
    fn index(&self, key: &str) -> &str {
        self.0
            .get(key)
            .unwrap_or_else(|| panic!("the page printed no {key}: {self:?}"))
    }
}

/// The page example on a free port, with a throwaway CA's certificate for `localhost`
/// in a directory of its own (`name`), its stderr in `DIR/stderr`.
struct Page {
    server: Guard,
    port: u16,
    certs: TestCerts,
    dir: PathBuf,
}

impl Page {
    fn start(name: &str) -> Page {
        let certs = TestCerts::new();
        let dir = std::env::temp_dir().join(format!("wisp-tokio-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), &certs.cert_pem).unwrap();
        std::fs::write(dir.join("key.pem"), &certs.key_pem).unwrap();
        let stderr = std::fs::File::create(dir.join("stderr")).unwrap();
        let mut cmd = Command::new(example("page"));
        cmd.arg("127.0.0.1:0")
            .arg("--web")
            .arg(root().join("web"))
            .arg("--cert")
            .arg(dir.join("cert.pem"))
            .arg("--key")
            .arg(dir.join("key.pem"))
            .stderr(Stdio::from(stderr));
        let (server, port) = start_listening_keep_stderr(cmd);
        Page {
            server,
            port,
            certs,
            dir,
        }
    }

    /// Stops the server (by its PID) and returns what it wrote on stderr.
    fn stop(self) -> String {
        drop(self.server);
        let log = std::fs::read_to_string(self.dir.join("stderr")).unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
        log
    }
}

#[test]
fn the_page_over_h2_shows_the_extended_connect_and_over_http11_the_101() {
    let chromium = wisp_tests::browser_prerequisites();
    let page = Page::start("page-h2");
    let (port, cert) = (page.port, page.dir.join("cert.pem"));

    // HTTP/2: the page, then the socket on one of its connection's streams.
    let h2 = run_page(port, &cert, &chromium, false);
    println!("over h2, the page shows {h2:#?}");
    assert_eq!(&h2["pageProtocol"], "h2", "{h2:?}");
    assert_eq!(&h2["transport"], "HTTP/2", "{h2:?}");
    assert_eq!(&h2["status"], "200", "{h2:?}");
    let stream: u32 = h2["stream"].parse().unwrap();
    assert_eq!(stream % 2, 1, "a client's stream id is odd: {h2:?}");
    let summary = &h2["summary"];
    assert!(
        summary.contains(&format!("came over HTTP/2, on stream {stream}"))
            && summary.contains("There was no 101 Switching Protocols"),
        "{summary}"
    );
    assert!(
        h2["noKey"].starts_with("No Sec-WebSocket-Key in the request and no Sec-WebSocket-Accept"),
        "{h2:?}"
    );
    // The page's own requests came on the same connection before the socket.
    assert!(h2["shared"].parse::<u32>().unwrap() >= 1, "{h2:?}");
    let fields: Vec<&str> = h2["requestFields"].split(',').collect();
    for f in [
        ":method",
        ":protocol",
        ":scheme",
        ":authority",
        ":path",
        "sec-websocket-version",
    ] {
        assert!(fields.contains(&f), "{f} missing: {fields:?}");
    }
    assert!(!fields.contains(&"sec-websocket-key"), "{fields:?}");
    assert_eq!(
        h2["responseFields"].split(",").next(),
        Some(":status"),
        "{h2:?}"
    );
    assert!(
        h2["startLine"].is_empty() && h2["acceptCheck"].is_empty(),
        "{h2:?}"
    );
    assert_eq!(&h2["echoPayload"], "Hello over the page's socket");
    assert_eq!(&h2["receivedPayload"], "Hello over the page's socket");
    assert_eq!(&h2["badVerdicts"], "0", "{h2:?}");

    // HTTP/1.1 (Chromium's HTTP/2 off): the same server, the 101 as before.
    let h1 = run_page(port, &cert, &chromium, true);
    println!("over HTTP/1.1, the page shows {h1:#?}");
    assert_eq!(&h1["pageProtocol"], "http/1.1", "{h1:?}");
    assert!(h1["transport"].is_empty(), "{h1:?}");
    assert_eq!(
        &h1["startLine"], "HTTP/1.1 101 Switching Protocols",
        "{h1:?}"
    );
    assert_eq!(&h1["acceptCheck"], "ok", "{h1:?}");
    assert_eq!(&h1["echoPayload"], "Hello over the page's socket");
    assert_eq!(&h1["badVerdicts"], "0", "{h1:?}");

    // The server's side: which transport carried each socket.
    let log = page.stop();
    let sockets: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("page: socket"))
        .collect();
    assert_eq!(
        sockets,
        [
            format!("page: socket /inspect over HTTP/2, stream {stream}"),
            "page: socket /inspect over HTTP/1.1".to_string()
        ],
        "{log}"
    );
}

/// The first text message of a socket to `/inspect`: its handshake report.
async fn first_text<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    ws: &mut wisp_tokio::WebSocketStream<S>,
) -> String {
    match ws.next().await {
        Some(Ok(Message::Text(t))) => t,
        other => panic!("no handshake report: {other:?}"),
    }
}

/// Without a browser: wisp-tokio's own HTTP/2 client opens two sockets and a request on
/// one connection; each report names the stream the client used (`H2Stream::stream_id`
/// on the client's side) and the requests before it; a path that is no socket is a 404
/// and the connection goes on; a message comes back with its two frame reports.
#[test]
fn the_report_names_the_stream_the_client_opened() {
    let page = Page::start("page-h2-client");
    let url = format!("wss://localhost:{}/", page.port);
    let options = ClientOptions::default()
        .with_http2(Http2::Only)
        .with_tls(page.certs.client_config());
    runtime().block_on(async {
        let mut conn = Http2Connection::connect(&url, &options).await.unwrap();
        let mut a = conn.open("/inspect").await.unwrap();
        let report = first_text(&mut a).await;
        assert_eq!(a.get_ref().stream_id(), 1);
        assert!(
            report.starts_with(
                r#"{"type":"handshake","transport":"HTTP/2","stream":1,"earlier_count":0,"earlier":[],"request":":method: CONNECT\r\n:protocol: websocket\r\n:scheme: https\r\n"#
            ),
            "{report}"
        );
        assert!(report.contains(r#""response":":status: 200\r\n"#), "{report}");
        assert!(!report.to_ascii_lowercase().contains("sec-websocket-key"), "{report}");

        // A plain request on the same connection, then a second socket.
        let mut sender = conn.sender().ready().await.unwrap();
        let req = http::Request::get(format!("https://localhost:{}/", page.port))
            .body(())
            .unwrap();
        let (response, _) = sender.send_request(req, true).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
        let mut b = conn.open("/inspect?deflate=off").await.unwrap();
        let report = first_text(&mut b).await;
        let id = b.get_ref().stream_id();
        assert_eq!(id, 5, "streams 1 (a socket), 3 (GET /), 5");
        assert!(
            report.contains(&format!(
                r#""stream":{id},"earlier_count":1,"earlier":[{{"stream":3,"request":"GET /"}}]"#
            )),
            "{report}"
        );
        assert!(
            report.ends_with(r#""response":":status: 200\r\n"}"#),
            "deflate=off, the offer declined: {report}"
        );

        // No socket on another path: 404, and the sockets go on.
        match conn.open("/elsewhere").await {
            Err(wisp_tokio::ConnectError::Refused(404)) => {}
            other => panic!("{other:?}"),
        }
        b.send(Message::Text("over stream 5".into())).await.unwrap();
        assert_eq!(first_text(&mut b).await, "over stream 5");
        let frame_in = first_text(&mut b).await;
        let frame_out = first_text(&mut b).await;
        assert!(
            frame_in.starts_with(r#"{"type":"frame","dir":"in","fin":true,"rsv":0,"opcode":1,"masked":true,"len":13,"#),
            "{frame_in}"
        );
        assert!(
            frame_out.starts_with(r#"{"type":"frame","dir":"out","fin":true,"rsv":0,"opcode":1,"masked":false,"len":13,"wire_len":15,"hex":"81 0d 6f 76 65 72"#),
            "{frame_out}"
        );
        a.close().await.unwrap();
        b.close().await.unwrap();
    });
    let log = page.stop();
    let sockets: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("page: socket"))
        .collect();
    assert_eq!(
        sockets,
        [
            "page: socket /inspect over HTTP/2, stream 1",
            "page: socket /inspect?deflate=off over HTTP/2, stream 5"
        ],
        "{log}"
    );
}

/// Bad arguments and files are one line and exit status 2, before anything is bound.
#[test]
fn bad_arguments_are_one_line_and_status_2() {
    let dir = std::env::temp_dir().join(format!("wisp-tokio-page-args-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("empty.pem"), "").unwrap();
    let web = root().join("web");
    let web = web.to_str().unwrap();
    let missing = dir.join("missing.pem");
    let missing = missing.to_str().unwrap();
    let empty = dir.join("empty.pem");
    let empty = empty.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["127.0.0.1:0", "--web", web],
            "--cert and --key are required",
        ),
        (&["--bogus"], "unknown option --bogus"),
        (
            &["--web", web, "--cert", missing, "--key", missing],
            "missing.pem",
        ),
        (
            &["--web", web, "--cert", empty, "--key", empty],
            "empty.pem: no certificate in it",
        ),
        (
            &["--web", "/nonexistent", "--cert", empty, "--key", empty],
            "/nonexistent has no index.html",
        ),
    ];
    for (args, says) in cases {
        let out = Command::new(example("page")).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("page: ") && stderr.contains(says),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
