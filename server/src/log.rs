//! A tiny stderr logger: one line per event, level from `RUST_LOG`.
//!
//! `RUST_LOG` may be a level (`debug`) or a list in the usual `env_logger` style; the
//! entry for `wisp_server` wins, then a bare level, else `info`.

use std::io::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How much to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Nothing at all.
    Off = 0,
    /// Failures of the server itself.
    Error = 1,
    /// Peers misbehaving, limits reached.
    Warn = 2,
    /// One line per connection opened and closed.
    Info = 3,
    /// Handshake and route details.
    Debug = 4,
    /// Everything.
    Trace = 5,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

impl Level {
    fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "off" => Level::Off,
            "error" => Level::Error,
            "warn" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Level::Off => "OFF",
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }
}

/// The level a `RUST_LOG` value asks for.
///
/// ```
/// use wisp_server::log::{level_from, Level};
/// assert_eq!(level_from("debug"), Level::Debug);
/// assert_eq!(level_from("warn,wisp_server=trace"), Level::Trace);
/// assert_eq!(level_from("nonsense"), Level::Info);
/// ```
pub fn level_from(spec: &str) -> Level {
    let mut bare = None;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some((target, level)) if target.trim() == "wisp_server" => {
                if let Some(l) = Level::parse(level) {
                    return l;
                }
            }
            Some(_) => {}
            None => bare = Level::parse(part).or(bare),
        }
    }
    bare.unwrap_or(Level::Info)
}

/// Sets the level from `RUST_LOG`.
pub fn init_from_env() {
    set_level(level_from(&std::env::var("RUST_LOG").unwrap_or_default()));
}

/// Sets the level.
///
/// ```
/// wisp_server::log::set_level(wisp_server::log::Level::Warn);
/// assert!(!wisp_server::log::enabled(wisp_server::log::Level::Info));
/// wisp_server::log::set_level(wisp_server::log::Level::Info);
/// ```
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// True when messages of `level` are written.
pub fn enabled(level: Level) -> bool {
    level != Level::Off && level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one line (use the `error!` ... `debug!` macros of this crate instead).
pub fn write(level: Level, args: std::fmt::Arguments<'_>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let line = format!(
        "{}.{:03} {:5} wisp_server: {args}\n",
        now.as_secs(),
        now.subsec_millis(),
        level.name()
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

macro_rules! log_at {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::write($level, format_args!($($arg)*));
        }
    };
}
macro_rules! error { ($($arg:tt)*) => { $crate::log::log_at!($crate::log::Level::Error, $($arg)*) }; }
macro_rules! warning { ($($arg:tt)*) => { $crate::log::log_at!($crate::log::Level::Warn, $($arg)*) }; }
macro_rules! info { ($($arg:tt)*) => { $crate::log::log_at!($crate::log::Level::Info, $($arg)*) }; }
macro_rules! debug { ($($arg:tt)*) => { $crate::log::log_at!($crate::log::Level::Debug, $($arg)*) }; }
pub(crate) use {debug, error, info, log_at, warning};
