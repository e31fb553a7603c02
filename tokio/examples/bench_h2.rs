//! The 64 x 1 KiB lockstep case over HTTP/2 (RFC 8441) and over HTTP/1.1, against a
//! running echo server (the echo example built with feature `http2`): 64 sockets each
//! send 1 KiB, wait for its echo, and again, for a fixed time. A benchmark, not a
//! test: it prints msg/s and, given the server's PID, the server's CPU time per message
//! (from /proc, Linux).
//!
//! ```text
//! cargo build --release -p wisp-tokio --features http2 --examples
//! taskset -c 0 target/release/examples/echo 127.0.0.1:9001 --current-thread &
//! taskset -c 1 target/release/examples/bench_h2 127.0.0.1:9001 --pid $! --secs 3 --rounds 3
//! ```
//! Each round runs the three modes in turn: `h2-1conn` (64 streams on one connection),
//! `h2-64conn` (64 connections, one stream each), `h1-64conn` (64 HTTP/1.1 upgrades).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use wisp_tokio::http2::{Http2, Http2Connection};
use wisp_tokio::{ClientOptions, Message, WebSocketStream};

const SOCKETS: usize = 64;

/// Sends 1 KiB and waits for its echo until `end`; the count of round trips.
async fn lockstep<S>(mut ws: WebSocketStream<S>, end: Instant) -> u64
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let payload = Message::Binary(vec![0x5a; 1024]);
    let mut n = 0;
    while Instant::now() < end {
        if ws.send(payload.clone()).await.is_err() {
            break;
        }
        match ws.next().await {
            Some(Ok(Message::Binary(_))) => n += 1,
            _ => break,
        }
    }
    let _ = ws.close().await;
    n
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

async fn run(addr: &str, mode: &str, secs: u64) -> Result<u64, Box<dyn std::error::Error>> {
    let url = format!("ws://{addr}/bench");
    let options = ClientOptions::default().with_deflate(false);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    match mode {
        "h2-1conn" => {
            let mut conn =
                Http2Connection::connect(&url, &options.clone().with_http2(Http2::Only)).await?;
            for _ in 0..SOCKETS {
                tasks.push(tokio::spawn(lockstep(conn.open("/bench").await?, end)));
            }
        }
        "h2-64conn" | "h1-64conn" => {
            let http2 = if mode == "h2-64conn" {
                Http2::Only
            } else {
                Http2::Never
            };
            let options = options.clone().with_http2(http2);
            for _ in 0..SOCKETS {
                let ws = wisp_tokio::connect_async_with(&url, &options).await?;
                tasks.push(tokio::spawn(lockstep(ws, end)));
            }
        }
        _ => return Err(format!("unknown mode {mode}").into()),
    }
    let mut total = 0;
    for t in tasks {
        total += t.await?;
    }
    Ok(total)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let addr = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let pid: Option<u32> = value("--pid").and_then(|p| p.parse().ok());
    let secs: u64 = value("--secs").and_then(|s| s.parse().ok()).unwrap_or(3);
    let rounds: usize = value("--rounds").and_then(|s| s.parse().ok()).unwrap_or(3);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!("mode       round  msg/s     server µs CPU/msg");
    for round in 1..=rounds {
        for mode in ["h2-1conn", "h2-64conn", "h1-64conn"] {
            let cpu0 = pid.and_then(cpu_secs);
            let start = Instant::now();
            let n = rt.block_on(run(&addr, mode, secs))?;
            let elapsed = start.elapsed().as_secs_f64();
            let cpu = match (cpu0, pid.and_then(cpu_secs)) {
                (Some(a), Some(b)) if n > 0 => format!("{:.2}", (b - a) * 1e6 / n as f64),
                _ => "-".into(),
            };
            println!("{mode:<10} {round:>5}  {:>8.0}  {cpu}", n as f64 / elapsed);
        }
    }
    Ok(())
}
