//! The demo page over https:// in a real browser: runs `tests/browser/tls.mjs`
//! (playwright-core driving Debian's Chromium) against `wisp-server --tls-cert
//! --tls-key` serving `web/`, with a certificate from a CA made at test time. Chromium
//! trusts the server's key through `--ignore-certificate-errors-spki-list`; the page's
//! live panel must connect with wss:// to its own host and echo; a second Chromium without
//! that flag must refuse the certificate. Like `browser.rs`, a
//! missing piece (the wasm build, node, playwright-core, Chromium) is a failure with the
//! command to run, never a skip.

use std::process::Command;

use wisp_tests::tls::Pki;
use wisp_tests::{browser_prerequisites, root, Server};

#[test]
fn demo_page_over_https_in_chromium() {
    let root = root();
    let chromium = browser_prerequisites();
    let pki = Pki::localhost();
    let web = root.join("web");
    let server = Server::start_tls(&pki, &["--web", &web.to_string_lossy()]);
    let status = Command::new("node")
        .arg(root.join("tests/browser/tls.mjs"))
        .current_dir(&root)
        .env("WISP_URL", format!("https://127.0.0.1:{}/", server.port))
        .env("WISP_SPKI", &pki.spki_sha256)
        .env("CHROMIUM", &chromium)
        .status()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run scripts/setup.sh"));
    assert!(
        status.success(),
        "tests/browser/tls.mjs failed ({status}); its output is above"
    );
    let logs = server.logs();
    assert!(
        logs.iter().any(|l| l.contains("open /inspect")),
        "no wss:// session in the server's log:\n{}",
        logs.join("\n")
    );
}
