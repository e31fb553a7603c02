//! The benchmark's other echo servers, on the same tokio runtimes as the echo example:
//! fastwebsockets 0.10 and tokio-tungstenite 0.30, each as in its upstream echo example.
//!
//! ```text
//! cargo build --release -p wisp-tokio --examples
//! target/release/examples/bench_peers fastws|tokio-tung 127.0.0.1:PORT [--current-thread | --workers N]
//! ```
//! The measurement itself is wisp-server's load bench, which runs external servers in
//! its interleaved rounds (`LOAD_EXTERNAL`); the README says how ("Using Wisp with
//! tokio / axum"). Not a test: nothing here measures or asserts a time.

use tokio::net::{TcpListener, TcpStream};

mod fastws {
    use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
    use http_body_util::Empty;
    use hyper::body::{Bytes, Incoming};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response};

    async fn handle_client(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
        let mut ws = FragmentCollector::new(fut.await?);
        loop {
            let frame = ws.read_frame().await?;
            match frame.opcode {
                OpCode::Close => break,
                OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
                _ => {}
            }
        }
        Ok(())
    }

    async fn server_upgrade(
        mut req: Request<Incoming>,
    ) -> Result<Response<Empty<Bytes>>, WebSocketError> {
        let (response, fut) = upgrade::upgrade(&mut req)?;
        tokio::task::spawn(async move {
            let _ = tokio::task::unconstrained(handle_client(fut)).await;
        });
        Ok(response)
    }

    pub async fn serve(stream: tokio::net::TcpStream) {
        let io = hyper_util::rt::TokioIo::new(stream);
        let conn = http1::Builder::new()
            .serve_connection(io, service_fn(server_upgrade))
            .with_upgrades();
        let _ = conn.await;
    }
}

async fn tokio_tung(stream: TcpStream) {
    use futures_util::{future, StreamExt, TryStreamExt};
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (write, read) = ws.split();
    let _ = read
        .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
        .forward(write)
        .await;
}

async fn serve(which: String, addr: String) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let _ = tcp.set_nodelay(true);
        match which.as_str() {
            "fastws" => tokio::spawn(fastws::serve(tcp)),
            _ => tokio::spawn(tokio_tung(tcp)),
        };
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().cloned().unwrap_or_default();
    assert!(
        which == "fastws" || which == "tokio-tung",
        "usage: bench_peers fastws|tokio-tung ADDR [--current-thread | --workers N]"
    );
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9002".into());
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
    builder.enable_all().build()?.block_on(serve(which, addr))
}
