//! An echo server on wisp-tokio: every text and binary message on every path comes
//! back, permessage-deflate accepted (as wisp-server does), until Ctrl-C.
//!
//! ```text
//! cargo run --release -p wisp-tokio --example echo -- 127.0.0.1:9001 [--current-thread | --workers N]
//! ```
//! Prints `listening on ws://ADDR` once bound (port 0 picks a free port).
//!
//! With feature `http2` it also speaks HTTP/2 by prior knowledge (h2c) on the same
//! port: a connection that opens with the HTTP/2 preface is served by hyper
//! ([`wisp_tokio::http2::serve_connection`]), where an extended CONNECT (RFC 8441) on
//! any path is a socket and any other request is answered with what the connection
//! carried so far (`2 sockets, 1 requests on this connection`), so a test can check
//! from the server's side that they shared it. Other connections take the HTTP/1.1
//! upgrade as before.

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use wisp_tokio::{Error, Message};

/// Echoes one connection until it ends.
async fn echo(tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    #[cfg(feature = "http2")]
    if http2::is_preface(&tcp).await {
        http2::serve(tcp).await;
        return;
    }
    let Ok(ws) = wisp_tokio::accept_async(tcp).await else {
        return;
    };
    echo_socket(ws).await;
}

/// Echoes one socket until it ends.
async fn echo_socket<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut ws: wisp_tokio::WebSocketStream<S>,
) {
    while let Some(next) = ws.next().await {
        match next {
            // Queued; written before the stream waits for more input.
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.feed(m).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            // Its close frame goes out as the stream is polled on, then it ends.
            Err(Error::Protocol(_)) => {}
            Err(_) => break,
        }
    }
}

#[cfg(feature = "http2")]
mod http2 {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::net::TcpStream;

    /// The client preface of HTTP/2 (RFC 9113 §3.4).
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    /// The connection opens with the HTTP/2 preface (looked at, not read). Gives up,
    /// as HTTP/1.1, after 10 s or at a byte that differs.
    pub async fn is_preface(tcp: &TcpStream) -> bool {
        let mut buf = [0u8; PREFACE.len()];
        let look = async {
            loop {
                let n = match tcp.peek(&mut buf).await {
                    Ok(n) if n > 0 => n,
                    _ => return false,
                };
                if buf[..n] != PREFACE[..n] {
                    return false;
                }
                if n == PREFACE.len() {
                    return true;
                }
                // Part of it: wait for more (peek returns at once while bytes are there).
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), look)
            .await
            .unwrap_or(false)
    }

    /// Serves an h2c connection: sockets echo, other requests learn what it carried.
    pub async fn serve(tcp: TcpStream) {
        let sockets = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&sockets);
        let on_socket = move |ws, _| {
            counted.fetch_add(1, Ordering::Relaxed);
            super::echo_socket(ws)
        };
        let on_request = move |_: &http::Request<_>| {
            let n = requests.fetch_add(1, Ordering::Relaxed) + 1;
            let s = sockets.load(Ordering::Relaxed);
            http::Response::new(format!("{s} sockets, {n} requests on this connection\n"))
        };
        let options = wisp_tokio::ServerOptions::default();
        if let Err(e) =
            wisp_tokio::http2::serve_connection(tcp, options, on_socket, on_request).await
        {
            eprintln!("echo: HTTP/2 connection: {e}");
        }
    }
}

async fn serve(addr: String) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    tokio::spawn(echo(tcp));
                }
                // Out of file descriptors, say: the connections served go on, and
                // accepting is tried again a little later.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--") && a.contains(':'))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9001".to_string());
    let mut builder = if args.iter().any(|a| a == "--current-thread") {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if let Some(n) = args
            .iter()
            .position(|a| a == "--workers")
            .and_then(|i| args.get(i + 1))
            .and_then(|n| n.parse().ok())
        {
            b.worker_threads(n);
        }
        b
    };
    builder.enable_all().build()?.block_on(serve(addr))
}
