//! An echo route in axum, upgraded through hyper and run on wisp-tokio.
//!
//! ```text
//! cargo run -p wisp-tokio --example axum -- 127.0.0.1:3000   # then ws://127.0.0.1:3000/ws
//! ```
//! Prints `listening on ws://ADDR/ws` once bound (port 0 picks a free port).

use axum::{extract::Request, response::Response, routing::get, Router};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use wisp_tokio::{Message, ServerOptions, Upgrade};

// --- the route: what axum's `WebSocketUpgrade` does, on wisp-tokio ---------------
async fn ws(mut req: Request) -> Response {
    let up = match Upgrade::from_request(&req, &ServerOptions::default()) {
        Ok(up) => up,
        Err(e) => return Upgrade::refusal(&e),
    };
    let response = up.response();
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(io) = on_upgrade.await {
            echo(up.into_stream(TokioIo::new(io))).await;
        }
    });
    response
}
// ----------------------------------------------------------------------------------

async fn echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut ws: wisp_tokio::WebSocketStream<S>,
) {
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(_) | Message::Binary(_) = m {
            if ws.send(m).await.is_err() {
                break;
            }
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on ws://{}/ws", listener.local_addr()?);
    let app = Router::new().route("/ws", get(ws));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
