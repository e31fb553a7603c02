//! The Autobahn|Testsuite agent: runs every case of a `wstest -m fuzzingserver` against
//! this client (`tests/tests/autobahn.rs` drives it; `scripts/install-autobahn.sh`
//! installs `wstest`).
//!
//! 1. `/getCaseCount` answers the number of cases N;
//! 2. for i in 1..=N, `/runCase?case=i&agent=AGENT`: echo every message until closed;
//! 3. `/updateReports?agent=AGENT` writes the reports.

use std::time::Duration;

use wisp_client::http2::Http2;
use wisp_client::{connect_with, Error, Message, Options};

/// Runs the whole suite against `base` (e.g. `ws://127.0.0.1:9001`) as `agent`, calling
/// `progress(i, n)` before each case, each connection opened as `http2` says. Returns
/// the number of cases run.
pub fn run(
    base: &str,
    agent: &str,
    http2: Http2,
    mut progress: impl FnMut(u32, u32),
) -> Result<u32, Error> {
    let base = base.trim_end_matches('/');
    let options = Options {
        http2,
        ..Options::default()
    };
    let mut c = connect_with(&format!("{base}/getCaseCount"), &options)?;
    let count: u32 = match c.receive()? {
        Message::Text(t) => t.trim().parse().map_err(|_| {
            Error::Io(std::io::Error::other(format!(
                "getCaseCount answered {t:?}"
            )))
        })?,
        m => {
            return Err(Error::Io(std::io::Error::other(format!(
                "getCaseCount answered {m:?}"
            ))))
        }
    };
    let _ = c.close(wisp_client::CloseCode::NORMAL, "");
    for i in 1..=count {
        progress(i, count);
        let url = format!("{base}/runCase?case={i}&agent={agent}");
        // A case may fail the connection on purpose: that is the case's business.
        if let Ok(mut c) = connect_with(&url, &options) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(120)));
            loop {
                let r = match c.receive() {
                    Ok(m @ (Message::Text(_) | Message::Binary(_))) => c.send(m),
                    Ok(_) => Ok(()),
                    Err(_) => break,
                };
                if r.is_err() {
                    break;
                }
            }
        }
    }
    let url = format!("{base}/updateReports?agent={agent}");
    if let Ok(mut c) = connect_with(&url, &options) {
        let _ = c.close(wisp_client::CloseCode::NORMAL, "");
    }
    Ok(count)
}
