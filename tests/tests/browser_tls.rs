//! The demo page over https:// in a real browser: runs `tests/browser/tls.mjs`
//! (playwright-core driving Debian's Chromium) against `wisp-server --tls-cert
//! --tls-key` serving `web/`, with a certificate from a CA made at test time. Chromium
//! trusts the server's key through `--ignore-certificate-errors-spki-list`; the page's
//! live panel must connect with wss:// to its own host and echo; a second Chromium without
//! that flag must refuse the certificate. Like `browser.rs`, a
//! missing piece (the wasm build, node, playwright-core, Chromium) is a failure with the
//! command to run, never a skip.

mod server_harness;

use std::path::Path;
use std::process::Command;

use server_harness::tls::Pki;
use server_harness::{root, Server};

fn require(path: &Path, fix: &str) {
    assert!(
        path.exists(),
        "{} is missing: {fix} (the browser tests never skip)",
        path.display()
    );
}

#[test]
fn demo_page_over_https_in_chromium() {
    let root = root();
    for f in [
        "web/pkg/wisp_codec.js",
        "web/pkg-nomod/wisp_codec.js",
        "web/wasm_b64.js",
    ] {
        require(&root.join(f), "run scripts/build-web.sh");
    }
    require(
        &root.join("node_modules/playwright-core/package.json"),
        "run scripts/setup.sh (npm ci installs playwright-core)",
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    require(
        Path::new(&chromium),
        "run scripts/setup.sh (apt-get install chromium)",
    );
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
