//! The command line: clap's derive, every default taken from [`Config::default`] so
//! `--help` shows what the library really uses.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::Parser;
use wisp_codec::extension::ServerDeflate;
use wisp_server::demo::Demo;
use wisp_server::Config;

use crate::values::{count, duration, listen_addr, redis_url, size, Dur, Size};

const AFTER_HELP: &str = "\
Routes:
  GET /          the demo page and the files under --web
  ws  /echo      every message back, same type
  ws  /chat      every text message to every member of its room (?room=NAME,
                 default lobby; with --redis, on every instance); join and leave notices
  ws  /inspect   echo, plus the raw wire bytes of every frame in and out (JSON)

Logs go to stderr; RUST_LOG sets what is shown, as in env_logger
(e.g. RUST_LOG=debug or RUST_LOG=wisp_server=debug) [default: info].
Exit status: 0 after a graceful shutdown (SIGINT, SIGTERM), 1 if the server cannot
start, 2 for a bad argument, an unusable --tls-cert/--tls-key, or (without
--redis-optional) an unreachable --redis.";

/// An RFC 6455 WebSocket server (std::net; worker threads, each an event loop).
#[derive(Parser, Debug)]
#[command(name = "wisp-server", version, after_help = AFTER_HELP)]
struct Args {
    /// Address to listen on
    #[arg(long, value_name = "ADDR", value_parser = listen_addr,
          default_value_t = Config::default().listen)]
    listen: String,

    /// Files served under GET /
    #[arg(long, value_name = "DIR", default_value = "web")]
    web: String,

    /// Largest message, e.g. 64MiB, 16KiB, 100
    #[arg(long, value_name = "SIZE", value_parser = size,
          default_value_t = Size(Config::default().codec.max_message_size))]
    max_message_size: Size,

    /// Largest frame (at most the message size)
    #[arg(long, value_name = "SIZE", value_parser = size,
          default_value_t = Size(Config::default().codec.max_frame_size))]
    max_frame_size: Size,

    /// Connections at once, handshakes included; more get HTTP 503. At most the
    /// open-file limit less 64 (listener, poller, files)
    #[arg(long, value_name = "N", value_parser = count,
          default_value_t = max_connections_allowed())]
    max_connections: usize,

    /// Connections open at once from one IP address; more get HTTP 503
    #[arg(long, value_name = "N", value_parser = count,
          default_value_t = Config::default().max_connections_per_ip)]
    max_connections_per_ip: usize,

    /// Request heads arriving at once from one IP address; more get HTTP 503
    #[arg(long, value_name = "N", value_parser = count,
          default_value_t = Config::default().max_handshakes_per_ip)]
    max_handshakes_per_ip: usize,

    /// Memory peers can make the server hold, all connections together (buffers and
    /// messages in progress); a connection that would pass it gets close 1009 or 1013.
    /// Default: a quarter of this machine's memory
    #[arg(long, value_name = "SIZE", value_parser = size,
          default_value_t = Size(Config::default().memory_budget))]
    memory_budget: Size,

    /// Worker threads, each an event loop over its share of the connections
    #[arg(long, value_name = "N", value_parser = count,
          default_value_t = std::thread::available_parallelism().map_or(1, |n| n.get()))]
    workers: usize,

    /// Time for the whole request head, e.g. 10s, 500ms, 2m
    #[arg(long, value_name = "DUR", value_parser = duration,
          default_value_t = Dur(Config::default().handshake_timeout))]
    handshake_timeout: Dur,

    /// Ping a peer silent this long
    #[arg(long, value_name = "DUR", value_parser = duration,
          default_value_t = Dur(default_timer(Config::default().codec.ping_interval)))]
    ping_interval: Dur,

    /// Drop a peer that completes no frame (pongs count) this long
    #[arg(long, value_name = "DUR", value_parser = duration,
          default_value_t = Dur(default_timer(Config::default().codec.idle_timeout)))]
    idle_timeout: Dur,

    /// Allowed Origin (repeatable; list `null` to allow file:// pages) [default: any origin]
    #[arg(long = "origin", value_name = "URL")]
    origins: Vec<String>,

    /// Trust this proxy's word on the client's address (repeatable; 10.0.0.0/8, ::1/128
    /// or an address): from it, a PROXY protocol header (v1/v2) or else the last
    /// untrusted hop of Forwarded / X-Forwarded-For; from anyone else a PROXY header
    /// is refused and those headers are ignored [default: none]
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    trusted_proxies: Vec<wisp_server::Cidr>,

    /// A subprotocol the server speaks (repeatable) [default: none]
    #[arg(long = "subprotocol", value_name = "NAME")]
    subprotocols: Vec<String>,

    /// Share /chat rooms with other instances through this Redis (pub/sub; delivery
    /// across instances is at most once). Unreachable at start: exit 2
    #[arg(long, value_name = "redis://HOST:PORT[/DB]", value_parser = redis_url)]
    redis: Option<String>,

    /// With --redis: start even if Redis is unreachable, serving alone until it is
    #[arg(long, requires = "redis")]
    redis_optional: bool,
    /// permessage-deflate (RFC 7692): shared (no window kept either way: one compressor
    /// and one inflater per worker serve every connection, an idle one holds none),
    /// dedicated (context takeover both ways, as offered: a window per connection,
    /// charged to the memory budget; a better ratio), or off (decline every offer)
    #[arg(long, value_name = "shared|dedicated|off", default_value = "shared")]
    deflate: DeflateMode,

    /// The largest window (9-15 bits) the server compresses with, in either mode
    #[arg(long, value_name = "BITS", default_value_t = 15,
          value_parser = clap::value_parser!(u8).range(9..=15))]
    deflate_window: u8,

    /// The same as --deflate off
    #[arg(long, conflicts_with = "deflate")]
    no_deflate: bool,

    /// The workers' IO engine: epoll, uring (io_uring), or auto (io_uring where the
    /// kernel allows it, else epoll; the log says which and why)
    #[arg(long, value_name = "uring|epoll|auto", default_value_t = Config::default().io)]
    io: wisp_server::IoEngine,

    /// Serve GET /stats: connections, memory held against the budget, the largest
    /// holders and refusals by reason, as JSON (it shows peer addresses)
    #[arg(long)]
    stats: bool,

    /// Serve GET /metrics (Prometheus text format: connections, messages and bytes by
    /// type, refusals, memory, handshake latency) on the listening port
    #[arg(long)]
    metrics: bool,

    /// Log lines as text, or as one JSON object per line (a connection's end line with
    /// its fields: peer, route, duration_ms, messages and bytes each way, close code)
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = crate::logging::LogFormat::Text)]
    log_format: crate::logging::LogFormat,

    /// Serve GET /metrics on this address instead, a port of its own that need not be
    /// public (e.g. 127.0.0.1:9100) [default: none]
    #[arg(long, value_name = "ADDR", value_parser = listen_addr)]
    metrics_listen: Option<String>,

    /// On SIGTERM, answer GET /readyz with 503 (GET /healthz stays 200) and keep
    /// serving this long before the graceful shutdown, so a load balancer stops sending
    /// new connections first [default: none]
    #[arg(long, value_name = "DUR", value_parser = duration)]
    drain_delay: Option<Dur>,
    /// Serve https:// and wss:// with this PEM certificate chain (server certificate
    /// first); needs --tls-key
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// File descriptors kept for the listener, the pollers and their wakers, files being
/// served and the log: the rest is for connections.
pub const RESERVED_FDS: u64 = 64;

/// The open-file limit the server runs with (set once by `main`, after raising it).
static FD_LIMIT: OnceLock<u64> = OnceLock::new();

/// Sets the open-file limit that `--max-connections` is checked against.
pub fn set_fd_limit(limit: u64) {
    let _ = FD_LIMIT.set(limit);
}

/// The most connections the open-file limit allows (the default).
fn max_connections_allowed() -> usize {
    let limit = FD_LIMIT
        .get()
        .copied()
        .unwrap_or(RESERVED_FDS + Config::default().max_connections as u64);
    usize::try_from(limit.saturating_sub(RESERVED_FDS).max(1)).unwrap_or(usize::MAX)
}

/// A codec timer's default (the server's are all on).
fn default_timer(t: Option<Duration>) -> Duration {
    t.unwrap_or(Duration::MAX)
}

/// What to serve: the server's configuration and the demo's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub server: Config,
    pub demo: Demo,
    /// After SIGTERM, /readyz says 503 this long before the graceful shutdown starts.
    pub drain_delay: Duration,
    /// Where GET /metrics is served.
    pub metrics: crate::monitor::Where,
    /// `--log-format`.
    pub log_format: crate::logging::LogFormat,
}

/// What the command line asks for.
pub enum Parsed {
    /// Serve with these settings.
    Run(Box<Settings>),
    /// Print this (`--help`, `--version`) and exit 0.
    Print(String),
}

/// Parses the whole command line (program name first). A bad argument is one line,
/// without the `error: ` prefix, for `wisp-server: {line}`.
pub fn parse<I, T>(args: I) -> Result<Parsed, String>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            return Ok(Parsed::Print(e.render().to_string()));
        }
        Err(e) => return Err(one_line(&e)),
    };
    let max_message_size = args.max_message_size.0;
    let codec = wisp_codec_config(
        max_message_size,
        // A frame cannot be larger than a message.
        args.max_frame_size.0.min(max_message_size),
        args.ping_interval.0,
        args.idle_timeout.0,
    );
    let mut c = Config::default()
        .listen(args.listen)
        .codec(codec)
        .max_connections(args.max_connections)
        .max_connections_per_ip(args.max_connections_per_ip)
        .max_handshakes_per_ip(args.max_handshakes_per_ip)
        .workers(args.workers)
        .memory_budget(args.memory_budget.0)
        .handshake_timeout(args.handshake_timeout.0)
        .origins(args.origins)
        .subprotocols(args.subprotocols)
        .trusted_proxies(args.trusted_proxies)
        .deflate(server_deflate(
            args.deflate,
            args.deflate_window,
            args.no_deflate,
        ))
        .io(args.io);
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        // Read and checked now, before the port is bound.
        c.tls = Some(wisp_server::TlsConfig::from_pem_files(cert, key).map_err(|e| e.to_string())?);
    }
    let demo = Demo::all()
        .web(Some(PathBuf::from(args.web)))
        .redis(args.redis)
        .redis_optional(args.redis_optional)
        .stats(args.stats);
    let allowed = max_connections_allowed();
    if c.max_connections > allowed {
        return Err(format!(
            "--max-connections {} is more than the open-file limit allows: {allowed} \
             ({} less {RESERVED_FDS} kept for the server; raise `ulimit -n` first)",
            c.max_connections,
            allowed as u64 + RESERVED_FDS
        ));
    }
    Ok(Parsed::Run(Box::new(Settings {
        server: c,
        demo,
        drain_delay: args.drain_delay.map_or(Duration::ZERO, |d| d.0),
        metrics: crate::monitor::Where {
            main_port: args.metrics,
            listen: args.metrics_listen,
        },
        log_format: args.log_format,
    })))
}

/// The server's codec settings from the command line's.
fn wisp_codec_config(
    max_message_size: u64,
    max_frame_size: u64,
    ping_interval: Duration,
    idle_timeout: Duration,
) -> wisp_server::codec::Config {
    wisp_server::codec::Config {
        max_message_size,
        max_frame_size,
        ping_interval: Some(ping_interval),
        idle_timeout: Some(idle_timeout),
        ..Config::default().codec
    }
}

/// clap's error as one line: its first paragraph, without `error: `, plus a pointer
/// to `--help`.
/// How `--deflate` answers permessage-deflate offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DeflateMode {
    /// No window kept either way (the server adds both `*_no_context_takeover`).
    Shared,
    /// Context takeover both ways where the offer allows it.
    Dedicated,
    /// Every offer declined.
    Off,
}

/// The server's permessage-deflate policy for `--deflate`, `--deflate-window` and
/// `--no-deflate`.
fn server_deflate(mode: DeflateMode, window: u8, no_deflate: bool) -> Option<ServerDeflate> {
    let no_takeover = match mode {
        _ if no_deflate => return None,
        DeflateMode::Off => return None,
        DeflateMode::Shared => true,
        DeflateMode::Dedicated => false,
    };
    Some(ServerDeflate {
        server_no_context_takeover: no_takeover,
        client_no_context_takeover: no_takeover,
        server_max_window_bits: window,
        ..ServerDeflate::default()
    })
}

fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first: Vec<&str> = text
        .lines()
        .take_while(|l| !l.is_empty())
        .map(str::trim)
        .collect();
    let first = first.join(" ");
    let first = first.strip_prefix("error: ").unwrap_or(&first);
    format!("{first} (see --help)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Settings, String> {
        let all = std::iter::once("wisp-server").chain(args.iter().copied());
        match parse(all)? {
            Parsed::Run(c) => Ok(*c),
            Parsed::Print(t) => Err(format!("printed {t}")),
        }
    }

    #[test]
    fn defaults_are_the_library_demo_defaults() {
        let Settings {
            server: c, demo, ..
        } = run(&[]).unwrap();
        assert_eq!(c.max_connections, max_connections_allowed());
        assert!(c.workers >= 1);
        let d = Config::default();
        assert_eq!(
            c.clone()
                .max_connections(d.max_connections)
                .workers(d.workers),
            d
        );
        assert_eq!(demo, Demo::all());
    }

    #[test]
    fn more_connections_than_file_descriptors_is_refused() {
        let too_many = (max_connections_allowed() + 1).to_string();
        let e = run(&["--max-connections", &too_many]).unwrap_err();
        assert!(e.contains("open-file limit"), "{e}");
    }

    #[test]
    fn values_inline_or_separate() {
        let c = run(&[
            "--listen=127.0.0.1:0",
            "--origin",
            "null",
            "--max-message-size=1MiB",
            "--max-frame-size",
            "4MiB",
            "--ping-interval=500ms",
        ])
        .unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:0");
        assert_eq!(c.server.origins, ["null"]);
        assert!(c.server.trusted_proxies.is_empty());
        let t = run(&["--trusted-proxy", "10.0.0.0/8", "--trusted-proxy=::1"]).unwrap();
        assert_eq!(t.server.trusted_proxies.len(), 2);
        assert!(run(&["--trusted-proxy", "10.0.0.0/33"]).is_err());
        assert_eq!(c.server.codec.max_message_size, 1 << 20);
        // A frame cannot be larger than a message.
        assert_eq!(c.server.codec.max_frame_size, 1 << 20);
        assert_eq!(
            c.server.codec.ping_interval,
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn deflate_modes_and_windows() {
        let policy = |args: &[&str]| run(args).unwrap().server.deflate;
        let shared = policy(&[]).expect("on by default");
        assert_eq!(shared, ServerDeflate::default());
        let dedicated = policy(&["--deflate", "dedicated", "--deflate-window=10"]).unwrap();
        assert!(!dedicated.server_no_context_takeover && !dedicated.client_no_context_takeover);
        assert_eq!(dedicated.server_max_window_bits, 10);
        let small = policy(&["--deflate-window", "9"]).unwrap();
        assert!(small.server_no_context_takeover && small.client_no_context_takeover);
        assert_eq!(small.server_max_window_bits, 9);
        assert_eq!(policy(&["--deflate", "off"]), None);
        assert_eq!(policy(&["--no-deflate"]), None);
    }

    #[test]
    fn bad_values_are_one_line() {
        for bad in [
            &["--max-message-size", "lots"][..],
            &["--max-frame-size", "12parsecs"],
            &["--handshake-timeout", "soon"],
            &["--idle-timeout", "0s"],
            &["--max-connections", "0"],
            &["--listen", "nonsense"],
            &["--listen"],
            &["--frobnicate"],
            &["--redis", "http://localhost:6379"],
            &["--redis", "redis://localhost:http"],
            &["--redis", "redis://localhost:6379/zero"],
            &["--redis-optional"],
            &["--tls-cert", "cert.pem"],
            &["--tls-key", "key.pem"],
            &["--deflate", "sometimes"],
            &["--deflate-window", "8"],
            &["--deflate-window", "16"],
            &["--deflate", "off", "--no-deflate"],
        ] {
            let e = run(bad).unwrap_err();
            assert_eq!(e.lines().count(), 1, "{bad:?}: {e}");
            assert!(e.ends_with("(see --help)"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn unreadable_tls_files_are_one_line() {
        let e = run(&[
            "--tls-cert",
            "/nonexistent/c.pem",
            "--tls-key",
            "/nonexistent/k.pem",
        ])
        .unwrap_err();
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            e.contains("cannot read the TLS certificate /nonexistent/c.pem"),
            "{e}"
        );
        assert_eq!(run(&[]).unwrap().server.tls, None);
    }

    #[test]
    fn redis_options() {
        let c = run(&["--redis", "redis://127.0.0.1:6380/2"]).unwrap();
        assert_eq!(c.demo.redis.as_deref(), Some("redis://127.0.0.1:6380/2"));
        assert!(!c.demo.redis_optional);
        let c = run(&["--redis=redis://localhost", "--redis-optional"]).unwrap();
        assert_eq!(c.demo.redis.as_deref(), Some("redis://localhost"));
        assert!(c.demo.redis_optional);
        assert_eq!(run(&[]).unwrap().demo.redis, None);
    }

    #[test]
    fn help_and_version_are_printed() {
        let Ok(Parsed::Print(help)) = parse(["wisp-server", "--help"]) else {
            panic!("--help")
        };
        assert!(help.contains("[default: 64MiB]"), "{help}");
        let Ok(Parsed::Print(v)) = parse(["wisp-server", "-V"]) else {
            panic!("-V")
        };
        assert_eq!(
            v.trim(),
            format!("wisp-server {}", env!("CARGO_PKG_VERSION"))
        );
    }
}
