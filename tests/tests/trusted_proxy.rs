//! `--trusted-proxy`: the client's real address from a trusted proxy's PROXY header
//! (real nginx `proxy_protocol on`, real HAProxy `send-proxy-v2`) or forwarded
//! headers, used by the per-address limits and the log; forgeries from anyone else
//! counted under the sender's own address; malformed PROXY headers refused while the
//! server keeps serving.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wisp_tests::redis::free_port;
use wisp_tests::*;

/// Writes `bytes` from the source address `src` and reads the response head (empty when
/// the server dropped the connection without an answer). The stream stays open.
fn exchange(src: Ipv4Addr, port: u16, bytes: &[u8]) -> (String, TcpStream) {
    let mut s = connect_from_source(src, port).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => out.push(b[0]),
            _ => break,
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), s)
}

fn v2_header(ver_cmd: u8, src: [u8; 4], len: u16, block_len: usize) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[ver_cmd, 0x11]);
    h.extend_from_slice(&len.to_be_bytes());
    let mut block = src.to_vec();
    block.extend_from_slice(&[127, 0, 0, 1, 0x9c, 0x40, 0x23, 0x29]);
    h.extend_from_slice(&block[..block_len.min(12)]);
    h
}

/// Log lines until one contains `needle` (at most 10 s); every line read so far.
fn wait_log(s: &Server, seen: &mut Vec<String>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.iter().any(|l| l.contains(needle)) {
        assert!(
            Instant::now() < deadline,
            "no log line with {needle:?}: {seen:#?}"
        );
        if let Ok(l) = s.stderr.recv_timeout(Duration::from_millis(100)) {
            seen.push(l);
        }
    }
}

#[test]
fn forgeries_are_counted_under_the_senders_address_and_bad_headers_refused() {
    let s = Server::start(&[
        "--trusted-proxy",
        "127.0.0.2",
        "--max-connections-per-ip",
        "2",
    ]);
    let port = s.port;
    let me = Ipv4Addr::new(127, 0, 0, 1);
    let mut logs = Vec::new();
    let mut held = Vec::new();
    // Untrusted: X-Forwarded-For and Forwarded are ignored; the third is over the
    // limit of the sender's own address.
    for extra in ["X-Forwarded-For: 9.9.9.1\r\n", "Forwarded: for=9.9.9.2\r\n"] {
        let (head, ws) = exchange(me, port, &upgrade_request(port, "/echo", extra));
        assert_eq!(status(&head), 101, "{head}");
        held.push(ws);
    }
    let (head, _) = exchange(
        me,
        port,
        &upgrade_request(port, "/echo", "X-Forwarded-For: 9.9.9.3\r\n"),
    );
    assert_eq!(status(&head), 503, "{head}");
    drop(held);
    // A PROXY header from an untrusted peer: dropped, one clear line.
    let forged = [
        b"PROXY TCP4 9.9.9.9 127.0.0.1 1 2\r\n".to_vec(),
        v2_header(0x21, [9, 9, 9, 9], 12, 12),
    ];
    for f in &forged {
        let mut req = f.clone();
        req.extend(upgrade_request(port, "/echo", ""));
        let (head, _) = exchange(Ipv4Addr::new(127, 0, 0, 3), port, &req);
        assert_eq!(head, "", "a forged PROXY header is dropped");
    }
    wait_log(&s, &mut logs, "not a trusted proxy");
    // Malformed PROXY headers from the trusted proxy: refused, each costing only its
    // connection.
    let trusted = Ipv4Addr::new(127, 0, 0, 2);
    let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 300]].concat();
    let malformed: Vec<(Vec<u8>, bool)> = vec![
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n".to_vec(), false),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n".to_vec(), false),
        (b"PROXY TCP9 1.2.3.4 5.6.7.8 1 1\r\n".to_vec(), false),
        (long, false),
        (v2_header(0x31, [1, 2, 3, 4], 12, 12), false),
        (v2_header(0x21, [1, 2, 3, 4], 0xffff, 12), false),
        (v2_header(0x21, [1, 2, 3, 4], 4, 4), false),
        // Truncated: the header says 12 bytes, 5 come, then the client ends.
        (v2_header(0x21, [1, 2, 3, 4], 12, 5), true),
        (b"PROXY TCP4 1.2.3.4".to_vec(), true),
    ];
    for (bytes, truncated) in &malformed {
        let mut s2 = connect_from_source(trusted, port).unwrap();
        s2.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s2.write_all(bytes).unwrap();
        if *truncated {
            s2.shutdown(Shutdown::Write).unwrap();
        } else {
            let _ = s2.write_all(&upgrade_request(port, "/echo", ""));
        }
        let mut out = Vec::new();
        let _ = s2.read_to_end(&mut out);
        assert!(
            out.is_empty(),
            "{bytes:?} -> {}",
            String::from_utf8_lossy(&out)
        );
    }
    wait_log(&s, &mut logs, "malformed PROXY header");
    // A wrong v2 signature is no PROXY header: an HTTP request that does not parse.
    let mut bad_sig = v2_header(0x21, [1, 2, 3, 4], 12, 12);
    bad_sig[10] = b'X';
    let (head, _) = exchange(trusted, port, &bad_sig);
    assert_eq!(status(&head), 400, "{head}");
    // Well-formed from the trusted proxy: the named client, in the log.
    let mut v1 = b"PROXY TCP4 127.0.0.77 127.0.0.1 5555 9001\r\n".to_vec();
    v1.extend(upgrade_request(port, "/echo", ""));
    let (head, _a) = exchange(trusted, port, &v1);
    assert_eq!(status(&head), 101, "{head}");
    wait_log(&s, &mut logs, "127.0.0.77:5555 open /echo");
    let mut v2 = v2_header(0x21, [127, 0, 0, 78], 12, 12);
    v2.extend(upgrade_request(port, "/echo", ""));
    let (head, _b) = exchange(trusted, port, &v2);
    assert_eq!(status(&head), 101, "{head}");
    wait_log(&s, &mut logs, "127.0.0.78:40000 open /echo");
    // No PROXY header: the last untrusted hop of X-Forwarded-For.
    let xff = upgrade_request(port, "/echo", "X-Forwarded-For: 6.6.6.6, 127.0.0.79\r\n");
    let (head, _c) = exchange(trusted, port, &xff);
    assert_eq!(status(&head), 101, "{head}");
    wait_log(&s, &mut logs, "127.0.0.79:0 open /echo");
    let bad = upgrade_request(port, "/echo", "Forwarded: for=\"1.2.3.4\r\n");
    let (head, _) = exchange(trusted, port, &bad);
    assert_eq!(status(&head), 400, "{head}");
    // Still serving.
    let (head, mut ws) = exchange(
        Ipv4Addr::new(127, 0, 0, 4),
        port,
        &upgrade_request(port, "/echo", ""),
    );
    assert_eq!(status(&head), 101, "{head}");
    ws.write_all(&client_frame(0x81, b"still here")).unwrap();
    let mut b = [0u8; 12];
    ws.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"\x81\x0astill here");
}

/// 300 clients, each from its own 127.0.x.y, through the proxy at `proxy_port` in
/// front of `s`: every one gets its 101 and an echo, and the log names each address.
fn three_hundred_through(s: &Server, proxy_port: u16) {
    let sources: Vec<Ipv4Addr> = (0..300u32)
        .map(|i| Ipv4Addr::new(127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8))
        .collect();
    let mut open = Vec::new();
    for src in &sources {
        let (head, ws) = exchange(*src, proxy_port, &upgrade_request(proxy_port, "/echo", ""));
        assert_eq!(status(&head), 101, "client {src}: {head}");
        open.push(ws);
    }
    // Each connection echoes (all 300 still open).
    for ws in &mut open {
        ws.write_all(&client_frame(0x81, b"hi")).unwrap();
        let mut b = [0u8; 4];
        ws.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"\x81\x02hi");
    }
    let mut logs = Vec::new();
    for src in &sources {
        wait_log(s, &mut logs, &format!(" {src}:"));
    }
    assert!(
        !logs.iter().any(|l| l.contains("refused")),
        "{:#?}",
        logs.iter()
            .filter(|l| l.contains("refused"))
            .collect::<Vec<_>>()
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wisp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn wait_port(port: u16) {
    wait_until(10, "the proxy's port", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

#[test]
fn three_hundred_clients_through_nginx_proxy_protocol() {
    let module = "/usr/lib/nginx/modules/ngx_stream_module.so";
    assert!(
        std::path::Path::new(module).exists(),
        "nginx's stream module is missing: bash scripts/setup.sh test"
    );
    let s = Server::start(&[
        "--trusted-proxy",
        "127.0.0.1",
        "--max-connections-per-ip",
        "256",
    ]);
    let dir = temp_dir("nginx-pp");
    let port = free_port();
    let conf = format!(
        "load_module {module};\ndaemon off;\nmaster_process off;\nworker_processes 1;\n\
         pid {d}/nginx.pid;\nerror_log {d}/nginx.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         stream {{ server {{ listen 127.0.0.1:{port}; proxy_pass 127.0.0.1:{up}; \
         proxy_protocol on; }} }}\n",
        d = dir.display(),
        up = s.port
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("nginx.log"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _nginx = Guard(child);
    wait_port(port);
    three_hundred_through(&s, port);
}

#[test]
fn three_hundred_clients_through_haproxy_send_proxy_v2() {
    let s = Server::start(&[
        "--trusted-proxy",
        "127.0.0.1",
        "--max-connections-per-ip",
        "256",
    ]);
    let dir = temp_dir("haproxy-pp");
    let port = free_port();
    let conf = format!(
        "global\n  maxconn 4096\ndefaults\n  mode tcp\n  timeout connect 5s\n  \
         timeout client 60s\n  timeout server 60s\nfrontend f\n  bind 127.0.0.1:{port}\n  \
         default_backend b\nbackend b\n  server s1 127.0.0.1:{up} send-proxy-v2\n",
        up = s.port
    );
    std::fs::write(dir.join("haproxy.cfg"), conf).unwrap();
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(dir.join("haproxy.cfg"))
        .stdout(Stdio::null())
        .spawn()
        .expect("haproxy (bash scripts/setup.sh test)");
    let _haproxy = Guard(child);
    wait_port(port);
    three_hundred_through(&s, port);
}
