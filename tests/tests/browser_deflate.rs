//! permessage-deflate's modes with a real browser as the client: Chromium (through
//! `tests/browser/deflate_modes.mjs`) echoes text and binary messages of 0 B to 1 MiB,
//! each repeating the last, against wisp-server in shared mode (the default: no window
//! kept either way), dedicated mode (context takeover both ways) and dedicated mode with
//! a 10-bit window. Chromium inflates every message the server compressed with its own
//! zlib, which refuses a distance beyond the agreed window or into a context it was told
//! not to keep, so a stream that broke either would fail the connection here.

use std::process::Command;

use wisp_tests::{browser_prerequisites, root, Server};

/// Runs the script against `args`' server; returns the extensions Chromium agreed.
fn chromium_echoes(chromium: &str, args: &[&str]) -> String {
    let server = Server::start(args);
    let out = Command::new("node")
        .arg(root().join("tests/browser/deflate_modes.mjs"))
        .current_dir(root())
        .env("WISP_WS", server.url("/echo"))
        .env("CHROMIUM", chromium)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run scripts/setup.sh"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "deflate_modes.mjs against {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("echoed 45 messages"), "{args:?}: {stdout}");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("extensions "))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn chromium_echoes_through_each_deflate_mode() {
    let chromium = browser_prerequisites();
    let shared = chromium_echoes(&chromium, &[]);
    assert!(shared.starts_with("permessage-deflate"), "{shared}");
    assert!(shared.contains("server_no_context_takeover"), "{shared}");
    assert!(shared.contains("client_no_context_takeover"), "{shared}");

    let dedicated = chromium_echoes(&chromium, &["--deflate", "dedicated"]);
    assert!(dedicated.starts_with("permessage-deflate"), "{dedicated}");
    assert!(!dedicated.contains("no_context_takeover"), "{dedicated}");

    let small = chromium_echoes(
        &chromium,
        &["--deflate", "dedicated", "--deflate-window", "10"],
    );
    assert!(small.contains("server_max_window_bits=10"), "{small}");
    assert!(!small.contains("no_context_takeover"), "{small}");
}
