//! wisp-client through real proxies: tinyproxy (HTTP CONNECT, with and without Basic
//! auth) and pproxy (SOCKS5 with username/password), started here on free loopback
//! ports, to a real wisp-server over ws:// and wss://; the proxies' refusals; where DNS
//! happens (socks5 vs socks5h, read from pproxy's own log); the environment as curl
//! reads it, NO_PROXY and --no-proxy.

use std::process::{Command, Output};

use wisp_client::{connect_with, CloseCode, Error, Message, Options, Proxy, ProxyError, ProxyUrl};
use wisp_codec::proxy::Stage;
use wisp_tests::proxies::Proxy as RealProxy;
use wisp_tests::redis::free_port;
use wisp_tests::tls::Pki;
use wisp_tests::*;

const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// The CLI with none of the caller's proxy variables.
fn client() -> Command {
    let mut c = Command::new(binary("wisp-client"));
    for v in PROXY_VARS {
        c.env_remove(v);
    }
    c
}

fn via(url: &str) -> Options {
    Options {
        proxy: Proxy::Url(ProxyUrl::parse(url).unwrap()),
        ..Options::default()
    }
}

fn with_ca(mut o: Options, pki: &Pki) -> Options {
    o.ca = Some(pki.ca.clone());
    o
}

/// Connects, echoes one message, closes cleanly.
fn echo(url: &str, options: &Options) {
    let mut c = connect_with(url, options).unwrap_or_else(|e| panic!("{url}: {e}"));
    c.send_text("through the tunnel").unwrap();
    assert_eq!(
        c.receive().unwrap(),
        Message::Text("through the tunnel".into())
    );
    c.close(CloseCode::NORMAL, "").unwrap();
}

fn one_line_stderr(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
    err
}

#[test]
fn http_connect_ws_and_wss_through_tinyproxy() {
    let proxy = RealProxy::tinyproxy(None);
    let plain = Server::start(&[]);
    let pki = Pki::localhost();
    let tls = Server::start_tls(&pki, &[]);
    let p = format!("http://127.0.0.1:{}", proxy.port);
    echo(&plain.url("/echo"), &via(&p));
    // TLS inside the tunnel: the certificate is checked for the server's name.
    echo(
        &format!("wss://localhost:{}/echo", tls.port),
        &with_ca(via(&p), &pki),
    );
    let log = proxy.wait_log(&format!("CONNECT localhost:{}", tls.port));
    assert!(
        log.contains(&format!("CONNECT 127.0.0.1:{}", plain.port)),
        "{log}"
    );
    // The CLI, ws:// and wss://.
    let out = client()
        .args([&plain.url("/echo"), "--proxy", &p, "--send", "cli"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "cli\n");
    let out = client()
        .arg(tls.wss_url("/echo"))
        .args(["--proxy", &p, "--ca", Pki::path(&pki.ca), "--send", "tls"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tls\n");
}

#[test]
fn http_connect_basic_auth_and_refusals() {
    let proxy = RealProxy::tinyproxy(Some(("wisp", "s3cret")));
    let s = Server::start(&[]);
    let good = format!("http://wisp:s3cret@127.0.0.1:{}", proxy.port);
    echo(&s.url("/echo"), &via(&good));
    // No credentials: 407; wrong ones: tinyproxy answers 401. Each with its page.
    for (p, want) in [
        (format!("http://127.0.0.1:{}", proxy.port), 407),
        (format!("http://wisp:wrong@127.0.0.1:{}", proxy.port), 401),
    ] {
        match connect_with(&s.url("/echo"), &via(&p)) {
            Err(Error::Proxy(ProxyError::Refused { status, body, .. })) => {
                assert_eq!(status, want);
                assert!(!body.is_empty(), "tinyproxy says why in its body");
            }
            other => panic!("{other:?}"),
        }
    }
    // The proxy cannot reach the destination (nothing listens on the port): its own
    // error status, with its body.
    let dead = free_port();
    let e = connect_with(&format!("ws://127.0.0.1:{dead}/"), &via(&good)).unwrap_err();
    match &e {
        Error::Proxy(ProxyError::Refused { status, body, .. }) => {
            assert!(*status >= 500, "{e}");
            assert!(!body.is_empty(), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // The CLI: one line with the status, exit 1.
    let out = client()
        .args([&s.url("/echo"), "--send", "x", "--proxy"])
        .arg(format!("http://127.0.0.1:{}", proxy.port))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = one_line_stderr(&out);
    assert!(
        err.contains("the proxy refused the tunnel: HTTP 407 Proxy Authentication Required: "),
        "{err}"
    );
    assert!(err.contains("This proxy requires authentication."), "{err}");
}

#[test]
fn socks5_ws_and_wss_through_pproxy_with_username_password() {
    let proxy = RealProxy::pproxy_socks5("wisp", "s3cret");
    let plain = Server::start(&[]);
    let pki = Pki::localhost();
    let tls = Server::start_tls(&pki, &[]);
    for scheme in ["socks5", "socks5h"] {
        let p = format!("{scheme}://wisp:s3cret@127.0.0.1:{}", proxy.port);
        echo(&plain.url("/echo"), &via(&p));
        echo(
            &format!("wss://localhost:{}/echo", tls.port),
            &with_ca(via(&p), &pki),
        );
    }
    // The CLI, wss:// through socks5h.
    let out = client()
        .arg(format!("wss://localhost:{}/echo", tls.port))
        .arg("--proxy")
        .arg(format!("socks5h://wisp:s3cret@127.0.0.1:{}", proxy.port))
        .args(["--ca", Pki::path(&pki.ca), "--send", "socks"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "socks\n");
}

#[test]
fn socks5_refusals() {
    let proxy = RealProxy::pproxy_socks5("wisp", "s3cret");
    let s = Server::start(&[]);
    // A wrong password: pproxy closes the connection without RFC 1929's status byte.
    let wrong = format!("socks5://wisp:nope@127.0.0.1:{}", proxy.port);
    let e = connect_with(&s.url("/echo"), &via(&wrong)).unwrap_err();
    assert!(
        matches!(e, Error::Proxy(ProxyError::Closed(Stage::Socks5Auth))),
        "{e:?}"
    );
    proxy.wait_log("Unauthorized SOCKS");
    // No credentials at all: it refuses too.
    let none = format!("socks5://127.0.0.1:{}", proxy.port);
    let e = connect_with(&s.url("/echo"), &via(&none)).unwrap_err();
    assert!(matches!(e, Error::Proxy(_)), "{e:?}");
    // The destination refuses: pproxy has already said "succeeded", then closes the
    // tunnel.
    let good = format!("socks5h://wisp:s3cret@127.0.0.1:{}", proxy.port);
    let dead = free_port();
    let e = connect_with(&format!("ws://127.0.0.1:{dead}/"), &via(&good)).unwrap_err();
    assert!(
        matches!(e, Error::Proxy(ProxyError::Closed(Stage::Tunnel))),
        "{e:?}"
    );
    let out = client()
        .args([&format!("ws://127.0.0.1:{dead}/"), "--send", "x"])
        .args(["--proxy", &good])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = one_line_stderr(&out);
    assert!(
        err.contains("the proxy closed the connection before the WebSocket handshake"),
        "{err}"
    );
    let out = client()
        .args([&s.url("/echo"), "--send", "x", "--proxy", &wrong])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(one_line_stderr(&out).contains("refused them"), "{out:?}");
}

/// socks5:// resolves the name here and sends an address (ATYP 1); socks5h:// sends
/// the name (ATYP 3) for the proxy to resolve. pproxy logs each request's
/// destination as it arrived.
#[test]
fn socks5_sends_an_address_and_socks5h_the_name() {
    let proxy = RealProxy::pproxy_socks5("wisp", "s3cret");
    let s = Server::start(&[]);
    let url = format!("ws://localhost:{}/echo", s.port);
    echo(
        &url,
        &via(&format!("socks5h://wisp:s3cret@127.0.0.1:{}", proxy.port)),
    );
    let log = proxy.wait_log(&format!("-> localhost:{}", s.port));
    assert!(!log.contains(&format!("-> 127.0.0.1:{}", s.port)), "{log}");
    echo(
        &url,
        &via(&format!("socks5://wisp:s3cret@127.0.0.1:{}", proxy.port)),
    );
    proxy.wait_log(&format!("-> 127.0.0.1:{}", s.port));
    // A name nobody resolves: socks5 fails here, by name, before the proxy is asked.
    let e = connect_with(
        "ws://wisp-no-such-host.invalid/",
        &via(&format!("socks5://wisp:s3cret@127.0.0.1:{}", proxy.port)),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Dns { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("cannot resolve the host name \"wisp-no-such-host.invalid\""),
        "{e}"
    );
    // socks5h hands the name to the proxy, which logs it.
    let _ = connect_with(
        "ws://wisp-no-such-host.invalid/",
        &via(&format!("socks5h://wisp:s3cret@127.0.0.1:{}", proxy.port)),
    )
    .unwrap_err();
    proxy.wait_log("-> wisp-no-such-host.invalid:80");
}

#[test]
fn the_environment_as_curl_reads_it() {
    let http = RealProxy::tinyproxy(None);
    let socks = RealProxy::pproxy_socks5("wisp", "s3cret");
    let plain = Server::start(&[]);
    let pki = Pki::localhost();
    let tls = Server::start_tls(&pki, &[]);
    let http_url = format!("http://127.0.0.1:{}", http.port);
    let socks_url = format!("socks5h://wisp:s3cret@127.0.0.1:{}", socks.port);
    let dead = format!("http://127.0.0.1:{}", free_port());
    let run = |url: &str, env: &[(&str, &str)], extra: &[&str]| {
        let out = client()
            .arg(url)
            .args(["--send", "env", "--ca", Pki::path(&pki.ca)])
            .args(extra)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(out.status.success(), "{env:?} {extra:?}: {out:?}");
    };
    let ws = format!("ws://localhost:{}/echo", plain.port);
    let wss = format!("wss://localhost:{}/echo", tls.port);
    // ws:// takes HTTP_PROXY (upper case), wss:// https_proxy (lower case).
    run(
        &ws,
        &[("HTTP_PROXY", &http_url), ("HTTPS_PROXY", &dead)],
        &[],
    );
    http.wait_log(&format!("CONNECT localhost:{}", plain.port));
    run(
        &wss,
        &[("https_proxy", &socks_url), ("HTTP_PROXY", &dead)],
        &[],
    );
    socks.wait_log(&format!("-> localhost:{}", tls.port));
    // Lower case wins over upper case.
    run(
        &ws,
        &[("http_proxy", &socks_url), ("HTTP_PROXY", &dead)],
        &[],
    );
    socks.wait_log(&format!("-> localhost:{}", plain.port));
    // ALL_PROXY when the scheme's variable is unset.
    run(&wss, &[("ALL_PROXY", &http_url)], &[]);
    http.wait_log(&format!("CONNECT localhost:{}", tls.port));
    // NO_PROXY: names, suffixes, addresses and ranges go direct (the proxy named is
    // dead, so only a direct connection works); --no-proxy ignores every variable.
    for no in ["localhost", ".localhost", "example.com, localhost", "*"] {
        run(&ws, &[("HTTP_PROXY", &dead), ("NO_PROXY", no)], &[]);
    }
    for no in ["127.0.0.1", "127.0.0.0/8"] {
        run(
            &plain.url("/echo"),
            &[("all_proxy", &dead), ("no_proxy", no)],
            &[],
        );
    }
    run(&wss, &[("HTTPS_PROXY", &dead)], &["--no-proxy"]);
    // An entry that does not match leaves the proxy in use: the dead one fails.
    let out = client()
        .args([&ws, "--send", "x"])
        .envs([("HTTP_PROXY", dead.as_str()), ("NO_PROXY", "notlocalhost")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(one_line_stderr(&out).contains("cannot connect to the proxy"));
}

/// wisp-server named as the proxy: a typed error for each kind, within the connect
/// timeout, never a hang.
#[test]
fn a_server_that_is_not_a_proxy() {
    let s = Server::start(&["--handshake-timeout", "2"]);
    let target = "ws://127.0.0.1:1/";
    let options = |url: &str| Options {
        connect_timeout: std::time::Duration::from_secs(5),
        ..via(url)
    };
    // CONNECT is no WebSocket upgrade: its refusal, with status and body.
    let e = connect_with(target, &options(&format!("http://127.0.0.1:{}", s.port))).unwrap_err();
    assert!(
        matches!(e, Error::Proxy(ProxyError::Refused { status, .. }) if (400..500).contains(&status)),
        "{e:?}"
    );
    // SOCKS5's greeting is no HTTP head: the server answers HTTP, which is no SOCKS.
    let e = connect_with(target, &options(&format!("socks5://127.0.0.1:{}", s.port))).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Proxy(ProxyError::Socks5Version(b'H') | ProxyError::Closed(_))
        ) || matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut),
        "{e:?}"
    );
    assert!(!e.to_string().is_empty());
}

#[test]
fn cli_bad_proxy_arguments_exit_2() {
    for args in [
        &["--proxy", "ftp://127.0.0.1:1"][..],
        &["--proxy", "socks5://:1080"],
        &["--proxy", "socks5://h:1", "--no-proxy"],
    ] {
        let out = client()
            .arg("ws://127.0.0.1:1/")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        one_line_stderr(&out);
    }
}
