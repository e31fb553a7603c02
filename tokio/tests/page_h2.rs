//! The teaching page over HTTPS from the page example (`examples/page.rs`) in Debian's
//! Chromium: with ALPN h2 the page and its live panel's socket come over HTTP/2, the
//! socket as an extended CONNECT (RFC 8441) on a stream of the page's own connection,
//! and the handshake panel says so (no 101, no key or accept, the stream's id); with
//! Chromium's HTTP/2 switched off, the same server upgrades the socket with a 101 and the
//! panel shows it as before. The server's log says which transport carried each socket.

mod common;

use std::process::{Command, Stdio};

use common::*;

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

#[test]
fn the_page_over_h2_shows_the_extended_connect_and_over_http11_the_101() {
    let chromium = wisp_tests::browser_prerequisites();
    let certs = TestCerts::new();
    let dir = std::env::temp_dir().join(format!("wisp-tokio-page-h2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key, log) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("stderr"),
    );
    std::fs::write(&cert, &certs.cert_pem).unwrap();
    std::fs::write(&key, &certs.key_pem).unwrap();
    let mut cmd = Command::new(example("page"));
    cmd.arg("127.0.0.1:0")
        .arg("--web")
        .arg(root().join("web"))
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
    let (server, port) = start_listening_keep_stderr(cmd);

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

    drop(server);
    // The server's side: which transport carried each socket.
    let log = std::fs::read_to_string(&log).unwrap();
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
    let _ = std::fs::remove_dir_all(&dir);
}
