//! The server's settings and the command line that sets them.

use std::path::PathBuf;
use std::time::Duration;

/// Everything the server can be told, with the defaults of [`Config::default`].
///
/// ```
/// let c = wisp_server::Config::default();
/// assert_eq!(c.listen, "127.0.0.1:9001");
/// assert_eq!(c.max_connections, 10_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on (`--listen`).
    pub listen: String,
    /// Directory of the demo page and its files (`--web`); may not exist (then 404).
    pub web: PathBuf,
    /// Largest message accepted, in bytes (`--max-message-size`); more is closed with 1009.
    pub max_message_size: u64,
    /// Largest frame accepted, in bytes (`--max-frame-size`); more is closed with 1009.
    pub max_frame_size: u64,
    /// Connections served at once, handshakes included (`--max-connections`); more get 503.
    pub max_connections: usize,
    /// Time for the whole request head to arrive (`--handshake-timeout`).
    pub handshake_timeout: Duration,
    /// A ping goes out after this much silence from the peer (`--ping-interval`).
    pub ping_interval: Duration,
    /// A peer that completes no frame (not even a pong) and sends less than 64 KiB of
    /// one for this long is dropped (`--idle-timeout`): silence and a frame dribbled a
    /// byte at a time are treated alike.
    pub idle_timeout: Duration,
    /// Allowed `Origin` values (`--origin`, repeatable); empty: any origin, `null` included.
    pub origins: Vec<String>,
    /// Subprotocols the server speaks, in no order (`--subprotocol`, repeatable).
    pub subprotocols: Vec<String>,
    /// Messages queued for one /chat member before it counts as too slow (closed with 1008).
    pub chat_queue: usize,
    /// Stack size of each connection thread, in bytes.
    pub thread_stack: usize,
    /// Time the graceful shutdown waits for close handshakes.
    pub shutdown_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:9001".into(),
            web: PathBuf::from("web"),
            max_message_size: 64 << 20,
            max_frame_size: 16 << 20,
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            origins: Vec::new(),
            subprotocols: Vec::new(),
            chat_queue: 256,
            thread_stack: 128 * 1024,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve with this configuration.
    Run(Config),
    /// Print [`help`] and exit 0.
    Help,
}

/// The `--help` text, with every default.
///
/// ```
/// assert!(wisp_server::config::help().contains("--max-message-size SIZE"));
/// ```
pub fn help() -> String {
    let d = Config::default();
    format!(
        "wisp-server: an RFC 6455 WebSocket server (std::net, one thread per connection)

usage: wisp-server [OPTIONS]

options:
  --listen ADDR               address to listen on [default: {listen}]
  --web DIR                   files served under GET / [default: {web}]
  --max-message-size SIZE     largest message, e.g. 64MiB, 16KiB, 100 [default: 64MiB]
  --max-frame-size SIZE       largest frame [default: 16MiB]
  --max-connections N         connections at once; more get HTTP 503 [default: {maxc}]
  --handshake-timeout DUR     time for the whole request head, e.g. 10s, 500ms, 2m [default: 10s]
  --ping-interval DUR         ping a peer silent this long [default: 30s]
  --idle-timeout DUR          drop a peer that completes no frame (pongs count) this long [default: 60s]
  --origin URL                allowed Origin (repeatable; `null` must be listed to allow
                              file:// pages) [default: any origin]
  --subprotocol NAME          a subprotocol the server speaks (repeatable) [default: none]
  -h, --help                  this text

routes:
  GET /          the demo page and the files under --web
  ws  /echo      every message back, same type
  ws  /chat      every text message to every member; join and leave notices
  ws  /inspect   echo, plus the raw wire bytes of every frame in and out (JSON)

RUST_LOG=error|warn|info|debug|trace sets the log level (stderr) [default: info]
",
        listen = d.listen,
        web = d.web.display(),
        maxc = d.max_connections,
    )
}

/// Parses a size: a number with an optional unit `B`, `KiB`, `MiB`, `GiB` (powers of
/// 1024) or `KB`, `MB`, `GB` (powers of 1000), case-insensitive.
///
/// ```
/// use wisp_server::config::parse_size;
/// assert_eq!(parse_size("64MiB"), Ok(64 << 20));
/// assert_eq!(parse_size("16KiB"), Ok(16 << 10));
/// assert_eq!(parse_size("100"), Ok(100));
/// assert!(parse_size("12 parsecs").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?} (expected e.g. 64MiB, 16KiB, 100)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(format!("invalid size unit in {s:?} (use B, KiB, MiB, GiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Parses a duration: a number with a unit `ms`, `s`, `m` or `h` (a bare number is
/// seconds).
///
/// ```
/// use std::time::Duration;
/// use wisp_server::config::parse_duration;
/// assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
/// assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (expected e.g. 10s, 500ms, 2m)"))?;
    let ms = match unit.trim() {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1_000),
        "m" | "min" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(format!("invalid duration unit in {s:?} (use ms, s, m, h)")),
    };
    ms.map(Duration::from_millis)
        .ok_or_else(|| format!("duration {s:?} is too large"))
}

/// Parses the arguments after the program name.
///
/// ```
/// use wisp_server::config::{parse_args, Command};
/// let Ok(Command::Run(c)) = parse_args(["--listen", "127.0.0.1:0", "--origin", "null"]) else { panic!() };
/// assert_eq!((c.listen.as_str(), c.origins.len()), ("127.0.0.1:0", 1));
/// assert!(parse_args(["--max-frame-size", "huge"]).is_err());
/// assert_eq!(parse_args(["--help"]), Ok(Command::Help));
/// ```
pub fn parse_args<I, S>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut c = Config::default();
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if name == "-h" || name == "--help" {
            return Ok(Command::Help);
        }
        let known = [
            "--listen",
            "--web",
            "--max-message-size",
            "--max-frame-size",
            "--max-connections",
            "--handshake-timeout",
            "--ping-interval",
            "--idle-timeout",
            "--origin",
            "--subprotocol",
        ];
        if !known.contains(&name.as_str()) {
            return Err(format!("unknown argument {arg:?} (see --help)"));
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("{name} needs a value (see --help)")),
        };
        let nonzero = |d: Duration, what: &str| {
            if d.is_zero() {
                Err(format!("{what} must be more than 0"))
            } else {
                Ok(d)
            }
        };
        match name.as_str() {
            "--listen" => c.listen = value,
            "--web" => c.web = PathBuf::from(value),
            "--max-message-size" => {
                c.max_message_size = parse_size(&value).map_err(|e| format!("{name}: {e}"))?
            }
            "--max-frame-size" => {
                c.max_frame_size = parse_size(&value).map_err(|e| format!("{name}: {e}"))?
            }
            "--max-connections" => {
                c.max_connections = match value.parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("{name}: invalid count {value:?}")),
                }
            }
            "--handshake-timeout" => {
                c.handshake_timeout = nonzero(parse_duration(&value)?, &name)?;
            }
            "--ping-interval" => c.ping_interval = nonzero(parse_duration(&value)?, &name)?,
            "--idle-timeout" => c.idle_timeout = nonzero(parse_duration(&value)?, &name)?,
            "--origin" => c.origins.push(value),
            _ => c.subprotocols.push(value),
        }
    }
    if c.max_frame_size > c.max_message_size {
        c.max_frame_size = c.max_message_size;
    }
    Ok(Command::Run(c))
}
