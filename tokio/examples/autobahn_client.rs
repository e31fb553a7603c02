//! The Autobahn|Testsuite agent on `connect_async`: runs every case of a
//! `wstest -m fuzzingserver` against wisp-tokio's client (permessage-deflate offered).
//!
//! ```text
//! cargo run -p wisp-tokio --example autobahn_client -- ws://127.0.0.1:9001 [AGENT]
//! ```
//! 1. `/getCaseCount` answers the number of cases N;
//! 2. for i in 1..=N, `/runCase?case=i&agent=AGENT`: echo every message until closed;
//! 3. `/updateReports?agent=AGENT` writes the reports.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use wisp_tokio::{connect_async, Error, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/').to_string();
    let agent = args.next().unwrap_or_else(|| "wisp-tokio".into());
    let mut ws = connect_async(&format!("{base}/getCaseCount")).await?;
    let count: u32 = match ws.next().await {
        Some(Ok(Message::Text(t))) => t.trim().parse()?,
        other => return Err(format!("getCaseCount answered {other:?}").into()),
    };
    let _ = ws.close().await;
    for i in 1..=count {
        eprint!("\rcase {i}/{count}");
        let url = format!("{base}/runCase?case={i}&agent={agent}");
        // A case may fail the connection on purpose: that is the case's business.
        let Ok(mut ws) = connect_async(&url).await else {
            continue;
        };
        let case = async {
            while let Some(next) = ws.next().await {
                match next {
                    Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                        if ws.send(m).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    // Its close frame goes out as the stream is polled on.
                    Err(Error::Protocol(_)) => {}
                    Err(_) => break,
                }
            }
        };
        // Every case ends well within this; a hung case must not hang the run.
        let _ = tokio::time::timeout(Duration::from_secs(120), case).await;
    }
    let mut ws = connect_async(&format!("{base}/updateReports?agent={agent}")).await?;
    let _ = ws.close().await;
    while let Some(Ok(_)) = ws.next().await {}
    eprintln!();
    println!("{count} cases");
    Ok(())
}
