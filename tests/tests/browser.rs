//! The demo page in a real browser: runs `tests/browser/demo.mjs` (playwright-core driving
//! Debian's Chromium) against a wisp-server serving `web/`.
//!
//! It builds the binaries if needed (the shared harness does) and fails with the command to
//! run when anything else is missing: the wasm in `web/pkg`,
//! `web/pkg-nomod` and `web/wasm_b64.js` (`scripts/build-web.sh`), `node`,
//! `node_modules/playwright-core` and `/usr/bin/chromium` (`scripts/setup.sh`).
//! CI installs all of them, so a missing piece is a failure, never a skip.
//!
//! What the script checks (any console error on any page fails it): the page served by
//! wisp-server; a §5.7 example composed and its fields; a live message whose browser frame
//! decodes with MASK=1 and the right opcode, length and payload, and whose server frame
//! has MASK=0; the stepper run to the end of a frame; the error presets' close codes and
//! RFC sentences; labels and keyboard use; phone width; file:// loading with a working
//! composer and a live connection (`Origin: null`); a clear status when no server
//! answers. The conversation: the timeline fed by `/inspect?watch=ID` (the fragments
//! scenario with the browser's pongs and one reassembled message; a close 4000 "bye" from
//! the page and a close 1001 from the server, both close frames decoded, then the end of
//! TCP); a composed fragmented message decoded into one message by the stepper; the
//! handshake explained header by header; and one check per defect of issue 17 (a message
//! over 64 KiB, a 200-character echo at 390 px, the stepper after an error and between
//! frames, focus, the hex field while typing, the broken-frame gallery's bytes, RFC
//! wording). permessage-deflate: Chromium negotiates it with wisp-server (the handshake
//! panel shows the server's Sec-WebSocket-Extensions answer and the parameters the codec
//! read from it), live frames show RSV1 = 1 with their compressed and inflated sizes, the
//! server's compressed frames equal the page's prediction, a frame cut at 64 KiB is
//! inflated as far as shown, the composer's compression switch, and the broken-frame
//! preset with RSV1 on a continuation frame. Issue 30, with deflate agreed: the live
//! prediction leaves RSV1 and the length unknown; the timeline's hand-offs (stepper and
//! composer) decode the browser's compressed frames, a back-reference into an earlier message
//! included; the RSV1-on-continuation preset fails at byte 10 in the stepper; composed
//! compressed fragments carry RSV1 on the first only and inflate back; verdict and Fields table
//! agree; the close form's rules and their sources; the response's Upgrade row; a URL that is
//! no WebSocket route (status and body, served and from file://); live regions that say one
//! line per event and unique labels; 390 px (no element wider than the viewport, a 200-byte
//! message card under 1,500 px); "Save as pcap" read back by `tshark` (the same frames,
//! opcodes and payload lengths). Screenshots are saved under `target/browser-screenshots/`.

use std::process::Command;
use std::time::Instant;

use wisp_tests::{browser_prerequisites, root, Server};

#[test]
fn demo_page_in_chromium() {
    let root = root();
    let chromium = browser_prerequisites();

    let web = root.join("web");
    let server = Server::start(&["--web", &web.to_string_lossy()]);
    let url = format!("http://127.0.0.1:{}/", server.port);

    let start = Instant::now();
    let status = Command::new("node")
        .arg(root.join("tests/browser/demo.mjs"))
        .current_dir(&root)
        .env("WISP_URL", &url)
        .env("CHROMIUM", &chromium)
        .status()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run scripts/setup.sh"));
    eprintln!("browser tests took {:.1} s", start.elapsed().as_secs_f64());
    assert!(
        status.success(),
        "tests/browser/demo.mjs failed ({status}); its output is above"
    );
    drop(server);
}
