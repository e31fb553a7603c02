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
    Accept, BuiltinRoutes, Config, Connection, Echo, Handler, Refusal, RouteError, SendError,
    Server, ShutdownHandle,
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

fn bind(builtin_routes: BuiltinRoutes) -> Server {
    Server::bind(Config {
        listen: "127.0.0.1:0".into(),
        workers: 2,
        builtin_routes,
        ..Config::default()
    })
    .unwrap()
}

/// Greets with what it was told at the upgrade, then echoes.
struct Greeter(String);

impl Handler for Greeter {
    fn on_open(&mut self, conn: &mut Connection) {
        let _ = conn.send_text(&self.0);
    }

    fn on_message(&mut self, conn: &mut Connection, message: Message) {
        Echo.on_message(conn, message);
    }
}

#[test]
fn a_route_reads_the_request_refuses_a_missing_token_with_401_and_adds_response_headers() {
    let server = bind(BuiltinRoutes::NONE);
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
    fn on_message(&mut self, _: &mut Connection, _: Message) {}
}

#[test]
fn a_handler_pushes_ten_messages_at_100_ms_intervals_while_the_client_sends_nothing() {
    let server = bind(BuiltinRoutes::NONE);
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
    let server = bind(BuiltinRoutes::ALL);
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
}

#[test]
fn library_defaults_serve_no_builtin_route_and_no_files() {
    let server = bind(BuiltinRoutes::NONE);
    // Free paths on a bare server, /echo included.
    server.route("/echo", |_| Ok(Accept::new(Echo))).unwrap();
    let only_chat = Server::bind(Config {
        listen: "127.0.0.1:0".into(),
        workers: 1,
        builtin_routes: BuiltinRoutes {
            chat: true,
            ..BuiltinRoutes::NONE
        },
        ..Config::default()
    })
    .unwrap();
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
