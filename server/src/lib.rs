//! # wisp-server
//!
//! A threaded `std::net` WebSocket server around [`wisp_codec`]: one thread per
//! connection with a small stack, the demo page's static files, and the routes
//! `/echo`, `/chat` and `/inspect` (see [`routes`] for what each sends, including the
//! JSON formats). Limits, timeouts and graceful shutdown are in [`server`].
//!
//! ## What bad input gets
//! | input | answer |
//! |---|---|
//! | not a valid upgrade request to a WebSocket route | HTTP 400 with the reason in the body |
//! | `Sec-WebSocket-Version` other than 13 | HTTP 426 + `Sec-WebSocket-Version: 13` |
//! | an `Origin` not in `--origin` (when given) | HTTP 403 |
//! | a request head over 8 KiB | HTTP 431 |
//! | a head not complete within `--handshake-timeout` | dropped |
//! | more than `--max-connections` connections | HTTP 503 + `Retry-After: 1` |
//! | an upgrade to an unknown path | HTTP 404 |
//! | a protocol error after the handshake | close 1002, 1007 or 1009 (from the codec) |
//! | a handler that panics | close 1011 `internal error`; the server keeps serving |
//! | silence (not even a pong) for `--idle-timeout` | dropped (close 1001 attempted) |
//!
//! ```no_run
//! use wisp_server::{Config, Server};
//! let server = Server::bind(Config { listen: "127.0.0.1:0".into(), ..Config::default() })?;
//! println!("listening on http://{}/", server.local_addr());
//! server.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod config;
pub mod http;
pub mod log;
pub mod routes;
pub mod server;
pub mod signal;
mod stream;

pub use config::{Command, Config};
pub use routes::Handler;
pub use server::{HandlerFactory, Server, ShutdownHandle};

use std::io::Write as _;
use std::time::Duration;

/// The whole `wisp-server` program: parses `args` (without the program name), serves
/// until SIGINT or SIGTERM, and returns the exit status (0 after a graceful shutdown,
/// 2 for a bad argument, 1 when the server cannot start).
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> i32 {
    let config = match config::parse_args(args) {
        Ok(Command::Run(c)) => c,
        Ok(Command::Help) => {
            print!("{}", config::help());
            return 0;
        }
        Err(e) => {
            eprintln!("wisp-server: {e}");
            return 2;
        }
    };
    log::init_from_env();
    if let Err(e) = signal::install() {
        eprintln!("wisp-server: cannot install signal handlers: {e}");
        return 1;
    }
    if let Err(e) = signal::raise_fd_limit() {
        log::warning!("cannot raise the open file limit: {e}");
    }
    let server = match Server::bind(config.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wisp-server: cannot listen on {}: {e}", config.listen);
            return 1;
        }
    };
    let handle = server.shutdown_handle();
    let watcher = std::thread::Builder::new()
        .name("signals".into())
        .stack_size(64 * 1024)
        .spawn(move || loop {
            if signal::received() {
                log::info!("signal received: shutting down gracefully");
                handle.shutdown();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        });
    if let Err(e) = watcher {
        eprintln!("wisp-server: cannot start the signal watcher: {e}");
        return 1;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on http://{}/", server.local_addr());
    let _ = out.flush();
    drop(out);
    log::info!(
        "serving {} (web root {}), max {} connections",
        server.local_addr(),
        config.web.display(),
        config.max_connections
    );
    match server.run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("wisp-server: {e}");
            1
        }
    }
}
