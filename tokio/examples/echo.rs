//! An echo server on wisp-tokio: every text and binary message on every path comes
//! back, permessage-deflate accepted (as wisp-server does), until Ctrl-C.
//!
//! ```text
//! cargo run --release -p wisp-tokio --example echo -- 127.0.0.1:9001 [--current-thread | --workers N]
//! ```
//! Prints `listening on ws://ADDR` once bound (port 0 picks a free port).

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use wisp_tokio::{Error, Message};

/// Echoes one connection until it ends.
async fn echo(tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    let Ok(mut ws) = wisp_tokio::accept_async(tcp).await else {
        return;
    };
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
