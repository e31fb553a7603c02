//! The `wisp-server` binary: see `wisp-server --help`.

mod cli;
mod health;
mod logging;
mod monitor;
mod signal;
mod values;

use std::io::Write as _;
use std::time::Duration;

use log::{info, warn};
use wisp_server::Server;

fn main() {
    std::process::exit(run());
}

/// Parses the command line, serves until SIGINT or SIGTERM, and returns the exit
/// status: 0 after a graceful shutdown (or `--help`, `--version`), 2 for a bad
/// argument or an unreachable `--redis` (without `--redis-optional`), 1 when the
/// server cannot start.
fn run() -> i32 {
    // Each connection is a file descriptor: take all the process may have, before the
    // command line is checked against it.
    let limits = signal::raise_fd_limit();
    if let Ok(l) = &limits {
        cli::set_fd_limit(l.soft);
    }
    let cli::Settings {
        server: config,
        demo,
        drain_delay,
        metrics,
        log_format,
    } = match cli::parse(std::env::args_os()) {
        Ok(cli::Parsed::Run(c)) => *c,
        Ok(cli::Parsed::Print(text)) => {
            print!("{text}");
            return 0;
        }
        Err(line) => {
            eprintln!("wisp-server: {line}");
            return 2;
        }
    };
    if let (Some(url), false) = (&demo.redis, demo.redis_optional) {
        if let Err(e) = wisp_server::demo::redis_reachable(url) {
            eprintln!(
                "wisp-server: cannot reach Redis at {url}: {e} \
                 (start it, or pass --redis-optional to serve alone until it is reachable)"
            );
            return 2;
        }
    }
    logging::init(log_format);
    if let Err(e) = signal::install() {
        eprintln!("wisp-server: cannot install signal handlers: {e}");
        return 1;
    }
    match limits {
        Ok(l) => info!(
            "open files: soft limit {} (was {}), hard limit {}; up to {} connections",
            l.soft, l.was, l.hard, config.max_connections
        ),
        Err(e) => warn!("cannot raise the open file limit: {e}"),
    }
    let server = match Server::bind(config.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wisp-server: cannot listen on {}: {e}", config.listen);
            return 1;
        }
    };
    let web = demo.web.clone();
    let redis_required = !demo.redis_optional;
    let health = health::Health::default();
    health.install(&server);
    let metrics_port = match metrics.install(&server) {
        Ok(port) => port,
        Err(e) => {
            eprintln!("wisp-server: {e}");
            return 1;
        }
    };
    let demo = match demo.install(&server) {
        Ok(running) => running,
        Err(e) => {
            eprintln!("wisp-server: {e}");
            return 2;
        }
    };
    if let (Some(link), true) = (demo.redis(), redis_required) {
        health.require(link);
    }
    let handle = server.shutdown_handle();
    let watcher = std::thread::Builder::new()
        .name("signals".into())
        .stack_size(64 * 1024)
        .spawn(move || loop {
            if signal::received() {
                health.drain();
                if !drain_delay.is_zero() {
                    info!("signal received: /readyz says 503, shutting down in {drain_delay:?}");
                    std::thread::sleep(drain_delay);
                }
                info!("signal received: shutting down gracefully");
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
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let _ = writeln!(out, "listening on {scheme}://{}/", server.local_addr());
    let _ = out.flush();
    drop(out);
    info!(
        "serving {} (web root {}), max {} connections ({} per address), {} worker(s), \
         memory budget {} MiB{}",
        server.local_addr(),
        web.as_ref()
            .map_or("none".into(), |w| w.display().to_string()),
        config.max_connections,
        config.max_connections_per_ip,
        config.workers,
        config.memory_budget >> 20,
        if config.tls.is_some() { ", TLS" } else { "" }
    );
    let served = server.run();
    if let Some(port) = metrics_port {
        port.stop();
    }
    match served {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("wisp-server: {e}");
            1
        }
    }
}
