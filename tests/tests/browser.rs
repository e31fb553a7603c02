//! The demo page in a real browser: runs `tests/browser/demo.mjs` (playwright-core driving
//! Debian's Chromium) against a wisp-server serving `web/`.
//!
//! This test builds nothing. It needs, and fails with the command to run when missing:
//! `target/debug/wisp-server` (`cargo build --workspace --bins`), the wasm in `web/pkg`,
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
//! answers. Screenshots are saved under `target/browser-screenshots/`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// wisp-server on an ephemeral port, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(web: &Path) -> Server {
        // Next to this test executable (target/debug/deps/..): follows CARGO_TARGET_DIR.
        let exe = std::env::current_exe().expect("current_exe");
        let bin = exe
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .join("wisp-server");
        require(&bin, "run cargo build --workspace --bins");
        let mut child = Command::new(&bin)
            .args(["--listen", "127.0.0.1:0", "--web"])
            .arg(web)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("no ready line from wisp-server, got {line:?}"))
            .to_string();
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn require(path: &Path, fix: &str) {
    assert!(
        path.exists(),
        "{} is missing: {fix} (the browser tests never skip)",
        path.display()
    );
}

#[test]
fn demo_page_in_chromium() {
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

    let web = root.join("web");
    let server = Server::start(&web);

    let start = Instant::now();
    let status = Command::new("node")
        .arg(root.join("tests/browser/demo.mjs"))
        .current_dir(&root)
        .env("WISP_URL", &server.url)
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
