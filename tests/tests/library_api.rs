//! The three crates as a program that embeds them sees them (issue 18): a route that
//! reads the request and refuses or accepts it, a handler that pushes on its own, the
//! client's headers and timeouts, the codec's blocking accept, the route table.

use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wisp_client::{connect_with, CloseCode, Error, Message, Options};
use wisp_server::{
    demo::Demo, Accept, Config, Echo, Handler, Refusal, RouteError, SendError, Server, Session,
    ShutdownHandle,
};
use wisp_tests::*;

/// A running embedded server: its port and the handle that stops it.
struct Embedded {
    port: u16,
    handle: ShutdownHandle,
    runner: Option<thread::JoinHandle<std::io::Result<()>>>,
}

impl Embedded {
    fn start(server: Server) -> Embedded {
        let port = server.local_addr().port();
        let handle = server.shutdown_handle();
        let runner = Some(thread::spawn(move || server.run()));
        Embedded {
            port,
            handle,
            runner,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(r) = self.runner.take() {
            let _ = r.join();
        }
    }
}

fn bind(demo_routes: Demo) -> Server {
    let server = Server::bind(Config::default().listen("127.0.0.1:0").workers(2)).unwrap();
    let _ = demo_routes.web(None).install(&server).unwrap();
    server
}

/// Greets with what it was told at the upgrade, then echoes.
struct Greeter(String);

impl Handler for Greeter {
    fn on_open(&mut self, conn: &mut Session<'_>) {
        let _ = conn.send_text(&self.0);
    }

    fn on_message(&mut self, conn: &mut Session<'_>, message: Message) {
        Echo.on_message(conn, message);
    }
}

#[test]
fn a_route_reads_the_request_refuses_a_missing_token_with_401_and_adds_response_headers() {
    let server = bind(Demo::default());
    server
        .route("/private", |up| {
            if up.header("authorization") != Some("Bearer t0k3n") {
                let r = Refusal::new(401, "a bearer token is needed")
                    .header("WWW-Authenticate", "Bearer")
                    .unwrap();
                return Err(r);
            }
            let seen = format!(
                "path={} query={:?} room={:?} trace={:?} protocol={:?} peer_ip={:?}",
                up.path(),
                up.query(),
                up.query_param("room"),
                up.header("x-trace"),
                up.protocol(),
                up.peer().map(|p| p.ip()),
            );
            Ok(Accept::new(Greeter(seen))
                .header("X-Served-By", "library_api")
                .unwrap())
        })
        .unwrap();
    let s = Embedded::start(server);

    // No token: 401, the reason in the body.
    match connect_with(&s.url("/private"), &Options::default()) {
        Err(Error::Refused { status, body }) => {
            assert_eq!(status, 401);
            assert_eq!(body, "a bearer token is needed");
        }
        other => panic!("expected a 401, got {other:?}"),
    }
    // The refusal's own header, on the wire.
    let head = http_head(s.port, &upgrade_request(s.port, "/private", ""));
    assert_eq!(status(&head), 401, "{head}");
    assert!(head.contains("\r\nWWW-Authenticate: Bearer\r\n"), "{head}");

    // With the token: the handler saw the path, the query, the headers and the peer.
    let options = Options {
        headers: vec![
            ("Authorization".into(), "Bearer t0k3n".into()),
            ("X-Trace".into(), "abc-123".into()),
        ],
        ..Options::default()
    };
    let mut c = connect_with(&s.url("/private?room=blue&x=1"), &options).unwrap();
    assert_eq!(
        c.receive().unwrap(),
        Message::Text(
            "path=/private query=Some(\"room=blue&x=1\") room=Some(\"blue\") \
             trace=Some(\"abc-123\") protocol=None peer_ip=Some(127.0.0.1)"
                .into()
        )
    );
    c.send_text("echo me").unwrap();
    assert_eq!(c.receive().unwrap(), Message::Text("echo me".into()));
    c.close(CloseCode::NORMAL, "").unwrap();

    // The route's header is in the 101.
    let head = http_head(
        s.port,
        &upgrade_request(s.port, "/private", "Authorization: Bearer t0k3n\r\n"),
    );
    assert_eq!(status(&head), 101, "{head}");
    assert!(head.contains("\r\nX-Served-By: library_api\r\n"), "{head}");

    // A header the handshake owns is refused before anything connects.
    let bad = Options {
        headers: vec![("Sec-WebSocket-Key".into(), "x".into())],
        ..Options::default()
    };
    assert!(matches!(
        connect_with(&s.url("/private"), &bad),
        Err(Error::InvalidHeader(_))
    ));
}

#[test]
fn wisp_client_dash_h_headers_reach_the_server() {
    let s = wisp_tests::Server::start(&[]);
    let out = Command::new(binary("wisp-client"))
        .args([
            "-H",
            "X-Trace: abc-123",
            "--header",
            "Authorization:Bearer t0k3n",
            "--send",
            "hi",
            &s.url("/inspect"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The first message on /inspect is the handshake report: the request head as it
    // crossed the socket.
    let first = stdout.lines().next().expect("a message");
    let report: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(report["type"], "handshake");
    let request = report["request"].as_str().unwrap();
    assert!(request.contains("\r\nX-Trace: abc-123\r\n"), "{request}");
    assert!(
        request.contains("\r\nAuthorization: Bearer t0k3n\r\n"),
        "{request}"
    );

    // A malformed header is a bad argument (exit 2), before anything connects.
    for bad in ["no colon", "Bad Name: x", "Host: other"] {
        let out = Command::new(binary("wisp-client"))
            .args(["-H", bad, &s.url("/echo")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{bad:?}: {stderr}");
    }
}

/// Reads nothing and sends nothing itself: what it sends comes through its Sender.
struct Silent;

impl Handler for Silent {
    fn on_message(&mut self, _: &mut Session<'_>, _: Message) {}
}

#[test]
fn a_handler_pushes_ten_messages_at_100_ms_intervals_while_the_client_sends_nothing() {
    let server = bind(Demo::default());
    let (done_tx, done_rx) = mpsc::channel::<Result<(), SendError>>();
    server
        .route("/ticks", move |up| {
            let sender = up.sender();
            let done = done_tx.clone();
            thread::spawn(move || {
                for i in 0..10 {
                    thread::sleep(Duration::from_millis(100));
                    if let Err(e) = sender.send_text(format!("tick {i}")) {
                        let _ = done.send(Err(e));
                        return;
                    }
                }
                // After the client closed, the sender says so.
                let r = loop {
                    match sender.send_text("after the end") {
                        Err(SendError::Full) | Ok(()) => thread::sleep(Duration::from_millis(20)),
                        Err(e) => break e,
                    }
                };
                let _ = done.send(Err(r));
            });
            Ok(Accept::new(Silent))
        })
        .unwrap();
    let s = Embedded::start(server);
    let options = Options {
        read_timeout: Some(Duration::from_secs(3)),
        ..Options::default()
    };
    let mut c = connect_with(&s.url("/ticks"), &options).unwrap();
    let start = Instant::now();
    let mut at = Vec::new();
    while at.len() < 10 && start.elapsed() < Duration::from_secs(3) {
        match c.receive() {
            Ok(Message::Text(t)) => {
                assert_eq!(t, format!("tick {}", at.len()));
                at.push(start.elapsed());
            }
            Ok(_) => {}
            Err(e) => panic!("after {} ticks: {e}", at.len()),
        }
    }
    let gaps: Vec<u128> = at.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    eprintln!(
        "ticks arrived at {:?} ms; gaps {gaps:?} ms",
        at.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );
    assert_eq!(at.len(), 10, "at least 10 ticks within 3 s");
    c.close(CloseCode::NORMAL, "").unwrap();
    let after = done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(after, Err(SendError::Closed));
}

#[test]
fn a_read_timeout_is_a_timeout_and_the_client_keeps_working() {
    let s = wisp_tests::Server::start(&[]);
    let options = Options {
        read_timeout: Some(Duration::from_millis(200)),
        write_timeout: Some(Duration::from_secs(5)),
        ..Options::default()
    };
    let mut c = connect_with(&s.url("/echo"), &options).unwrap();
    for round in 0..3 {
        let e = c.receive().unwrap_err();
        assert!(e.is_timeout(), "round {round}: {e:?}");
        assert!(matches!(e, Error::Timeout), "{e:?}");
        c.send_text(&format!("still here {round}")).unwrap();
        assert_eq!(
            c.receive().unwrap(),
            Message::Text(format!("still here {round}"))
        );
    }
    c.set_close_timeout(Some(Duration::from_secs(2)));
    let f = c.close(CloseCode::NORMAL, "done").unwrap().unwrap();
    assert_eq!(f.code, CloseCode::NORMAL);
}

#[test]
fn route_on_a_taken_path_is_an_error_and_the_404_lists_the_routes() {
    let server = bind(Demo::all());
    let e = server
        .route("/echo", |_| Ok(Accept::new(Echo)))
        .unwrap_err();
    assert_eq!(e, RouteError::Taken("/echo".into()));
    assert!(e.to_string().contains("/echo"), "{e}");
    server.route("/mine", |_| Ok(Accept::new(Echo))).unwrap();
    let e = server
        .route("/mine", |_| Ok(Accept::new(Echo)))
        .unwrap_err();
    assert!(matches!(e, RouteError::Taken(_)));
    let bad = server.route("no-slash", |_| Ok(Accept::new(Echo)));
    assert!(matches!(bad, Err(RouteError::InvalidPath(_))));
    assert_eq!(server.routes(), ["/chat", "/echo", "/inspect", "/mine"]);
    let s = Embedded::start(server);
    let r = http(s.port, &upgrade_request(s.port, "/nope", ""));
    assert_eq!(status(&r), 404, "{r}");
    assert!(
        r.ends_with("no WebSocket endpoint here (try /chat, /echo, /inspect, /mine)\n"),
        "{r}"
    );
    // The demo's GET /routes lists the same routes, the user's own included, for any
    // origin (the page opened from file:// reads it after a failed handshake).
    let r = http(
        s.port,
        b"GET /routes HTTP/1.1\r\nHost: x\r\nOrigin: null\r\n\r\n",
    );
    assert_eq!(status(&r), 200, "{r}");
    assert!(r.contains("\r\nAccess-Control-Allow-Origin: *\r\n"), "{r}");
    assert!(
        r.ends_with(r#"{"routes":["/chat","/echo","/inspect","/mine"]}"#),
        "{r}"
    );
}

#[test]
fn library_defaults_serve_no_builtin_route_and_no_files() {
    let server = bind(Demo::default());
    // Free paths on a bare server, /echo included.
    server.route("/echo", |_| Ok(Accept::new(Echo))).unwrap();
    let only_chat = bind(Demo::default().chat(true));
    assert_eq!(only_chat.routes(), ["/chat"]);
    let s = Embedded::start(server);
    for path in ["/chat", "/inspect"] {
        let r = http(s.port, &upgrade_request(s.port, path, ""));
        assert_eq!(status(&r), 404, "{path}: {r}");
        assert!(r.ends_with("(try /echo)\n"), "{r}");
    }
    // No static files unless Config::web says where: nothing is read from the cwd.
    let r = http(s.port, b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&r), 404, "{r}");
    let r = http(s.port, b"GET /Cargo.toml HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&r), 404, "{r}");
}

#[test]
fn the_codec_accepts_over_a_blocking_stream_with_a_callback_that_sees_the_headers() {
    use wisp_codec::blocking::{accept_with, AcceptError};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let mut results = Vec::new();
        for _ in 0..2 {
            let (stream, _) = listener.accept().unwrap();
            let r = accept_with(
                stream,
                wisp_codec::Config::default(),
                |req, offer, resp| match req.header("authorization") {
                    Some("Bearer t0k3n") => {
                        let resp = resp.header("X-Seen-Path", &req.target).unwrap();
                        Ok(match offer.protocols.first() {
                            Some(p) => resp.protocol(p),
                            None => resp,
                        })
                    }
                    _ => Err(Refusal::new(403, "no entry")),
                },
            );
            match r {
                Ok(mut ws) => {
                    // Echo until the close handshake is over.
                    loop {
                        match ws.read_message() {
                            Ok(m @ (Message::Text(_) | Message::Binary(_))) => ws.send(m).unwrap(),
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                    results.push("served".to_string());
                }
                Err(AcceptError::Refused(status)) => results.push(format!("refused {status}")),
                Err(e) => results.push(format!("error {e}")),
            }
        }
        results
    });
    let url = format!("ws://127.0.0.1:{port}/codec?x=1");
    match connect_with(&url, &Options::default()) {
        Err(Error::Refused { status, body }) => {
            assert_eq!((status, body.as_str()), (403, "no entry"))
        }
        other => panic!("expected a 403, got {other:?}"),
    }
    let options = Options {
        headers: vec![("Authorization".into(), "Bearer t0k3n".into())],
        protocols: vec!["v1".into()],
        ..Options::default()
    };
    let mut c = connect_with(&url, &options).unwrap();
    assert_eq!(c.protocol(), Some("v1"));
    c.send_text("round trip").unwrap();
    assert_eq!(c.receive().unwrap(), Message::Text("round trip".into()));
    c.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(server.join().unwrap(), ["refused 403", "served"]);
}

/// Remembers what its session showed: the opening handshake in `on_open`, the frames
/// it recorded, and how the connection ended.
struct Recorder(mpsc::Sender<String>);

impl Handler for Recorder {
    fn on_open(&mut self, session: &mut Session<'_>) {
        let h = session.handshake().expect("the handshake in on_open");
        let request = String::from_utf8_lossy(h.request).into_owned();
        let response = String::from_utf8_lossy(h.response).into_owned();
        let _ = self
            .0
            .send(format!("request {}", request.lines().next().unwrap_or("")));
        let _ = self.0.send(format!(
            "response {}",
            response.lines().next().unwrap_or("")
        ));
    }

    fn on_message(&mut self, session: &mut Session<'_>, message: Message) {
        assert!(
            session.handshake().is_none(),
            "the handshake is shown in on_open only"
        );
        Echo.on_message(session, message);
    }

    fn before_flush(&mut self, session: &mut Session<'_>) {
        while let Some(f) = session.poll_wire_frame() {
            let _ = self.0.send(format!(
                "{:?} opcode {} len {} wire {}",
                f.direction,
                f.header.opcode.as_u8(),
                f.header.payload_len,
                f.bytes.len()
            ));
        }
    }

    fn on_end(&mut self, session: &mut Session<'_>) {
        let _ = self.0.send(format!("end {:?}", session.end_reason()));
    }
}

#[test]
fn a_users_route_records_frames_sees_the_handshake_and_serves_plain_http() {
    let server = bind(Demo::default());
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    server
        .route("/recorded", move |_| {
            let tx = tx.lock().unwrap().clone();
            Ok(Accept::new(Recorder(tx)).record_frames(true))
        })
        .unwrap();
    // And one that does not record: poll_wire_frame is None there.
    let (quiet_tx, quiet_rx) = mpsc::channel();
    let quiet_tx = std::sync::Mutex::new(quiet_tx);
    server
        .route("/quiet", move |_| {
            Ok(Accept::new(Recorder(quiet_tx.lock().unwrap().clone())))
        })
        .unwrap();
    server.serve_http(|req| {
        (req.path() == "/hello").then(|| wisp_server::HttpResponse::text(200, "hi there\n"))
    });
    let stats = server.stats();
    let s = Embedded::start(server);

    let mut c = connect_with(&s.url("/recorded"), &Options::default()).unwrap();
    c.send_text("abc").unwrap();
    assert_eq!(c.receive().unwrap(), Message::Text("abc".into()));
    c.close(CloseCode::NORMAL, "").unwrap();
    let seen: Vec<String> = (0..5)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    assert_eq!(seen[0], "request GET /recorded HTTP/1.1");
    assert_eq!(seen[1], "response HTTP/1.1 101 Switching Protocols");
    // The client's masked text frame (2 + 4 + 3 bytes), then the echo (2 + 3).
    assert_eq!(seen[2], "Received opcode 1 len 3 wire 9");
    assert_eq!(seen[3], "Sent opcode 1 len 3 wire 5");
    let rest: Vec<String> = rx.iter().take_while(|l| !l.starts_with("end")).collect();
    assert!(
        rest.iter().all(|l| l.contains("opcode 8")),
        "only the close frames are left: {rest:?}"
    );

    let mut q = connect_with(&s.url("/quiet"), &Options::default()).unwrap();
    q.send_text("x").unwrap();
    assert_eq!(q.receive().unwrap(), Message::Text("x".into()));
    q.close(CloseCode::NORMAL, "").unwrap();
    let quiet: Vec<String> = (0..3)
        .map(|_| quiet_rx.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    assert_eq!(
        quiet[2], "end Some(\"closing handshake done\")",
        "{quiet:?}"
    );

    // Plain HTTP: the application's handler, and 404 for what no handler answers.
    let r = http(s.port, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&r), 200, "{r}");
    assert!(r.ends_with("hi there\n"), "{r}");
    let r = http(s.port, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&r), 404, "{r}");
    let report: serde_json::Value = serde_json::from_str(&stats.to_json()).unwrap();
    assert!(
        report["connections"]["total"].as_u64().is_some(),
        "{report}"
    );
}
