//! The values of the command line's options: sizes with binary or decimal units,
//! durations, Redis URLs, counts and listening addresses, each parsed to one line of
//! error (a leaf: `cli.rs` imports it).

use std::fmt;
use std::net::ToSocketAddrs;
use std::time::Duration;

/// A size in bytes, shown with the largest binary unit that divides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Size(pub(crate) u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
            if self.0 != 0 && self.0 % (1 << shift) == 0 {
                return write!(f, "{}{unit}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}

/// A duration, shown in hours, seconds or milliseconds: the largest that divides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dur(pub(crate) Duration);

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        match ms {
            _ if ms % 3_600_000 == 0 && ms > 0 => write!(f, "{}h", ms / 3_600_000),
            _ if ms % 1_000 == 0 => write!(f, "{}s", ms / 1_000),
            _ => write!(f, "{ms}ms"),
        }
    }
}

/// Splits `64MiB` into `(64, "MiB")`.
fn number_and_unit(s: &str) -> Option<(u64, &str)> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    Some((num.parse().ok()?, unit.trim()))
}

/// A size: a number with an optional unit `B`, `KiB`, `MiB`, `GiB` (powers of 1024)
/// or `KB`, `MB`, `GB` (powers of 1000), case-insensitive.
pub(crate) fn size(s: &str) -> Result<Size, String> {
    let (n, unit) =
        number_and_unit(s).ok_or_else(|| "expected e.g. 64MiB, 16KiB, 100".to_string())?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(format!("unknown unit {unit:?} (use B, KiB, MiB, GiB)")),
    };
    match n.checked_mul(mult) {
        Some(0) => Err("must be more than 0".into()),
        Some(v) => Ok(Size(v)),
        None => Err("too large".into()),
    }
}

/// A duration: a number with a unit `ms`, `s`, `m` or `h` (a bare number is seconds);
/// more than zero.
pub(crate) fn duration(s: &str) -> Result<Dur, String> {
    let (n, unit) = number_and_unit(s).ok_or_else(|| "expected e.g. 10s, 500ms, 2m".to_string())?;
    let ms = match unit {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1_000),
        "m" | "min" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(format!("unknown unit {unit:?} (use ms, s, m, h)")),
    };
    match ms {
        Some(0) => Err("must be more than 0".into()),
        Some(ms) => Ok(Dur(Duration::from_millis(ms))),
        None => Err("too large".into()),
    }
}

/// A Redis URL: `redis://HOST:PORT[/DB]` (or `redis://HOST` for port 6379).
pub(crate) fn redis_url(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("redis://")
        .ok_or_else(|| "expected redis://HOST:PORT[/DB]".to_string())?;
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, ""));
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    if hostport.is_empty() || (!db.is_empty() && db.parse::<u32>().is_err()) {
        return Err("expected redis://HOST:PORT[/DB] (DB a number)".into());
    }
    if let Some((_, port)) = hostport.rsplit_once(':') {
        if port.parse::<u16>().is_err() {
            return Err(format!("bad port {port:?} in redis://HOST:PORT[/DB]"));
        }
    }
    Ok(s.to_string())
}

/// A count of at least 1.
pub(crate) fn count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("expected a whole number of at least 1".into()),
    }
}

/// An address the OS can resolve to a socket address (`127.0.0.1:9001`,
/// `[::1]:9001`, `localhost:9001`); binding it is tried later (exit 1 if that fails).
pub(crate) fn listen_addr(s: &str) -> Result<String, String> {
    match s.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(_)) => Ok(s.to_string()),
        Ok(None) => Err("resolves to no address".into()),
        Err(e) => Err(format!("expected HOST:PORT, e.g. 127.0.0.1:9001 ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(size("64MiB"), Ok(Size(64 << 20)));
        assert_eq!(size("16kib"), Ok(Size(16 << 10)));
        assert_eq!(size("100"), Ok(Size(100)));
        assert_eq!(size("2MB"), Ok(Size(2_000_000)));
        assert!(size("12 parsecs").is_err());
        assert!(size("99999999999999GiB").is_err());
        assert_eq!(duration("10s"), Ok(Dur(Duration::from_secs(10))));
        assert_eq!(duration("500ms"), Ok(Dur(Duration::from_millis(500))));
        assert_eq!(duration("2m"), Ok(Dur(Duration::from_secs(120))));
        assert!(duration("soon").is_err());
        assert_eq!(Size(64 << 20).to_string(), "64MiB");
        assert_eq!(Size(1000).to_string(), "1000");
        assert_eq!(Dur(Duration::from_secs(90)).to_string(), "90s");
        assert_eq!(Dur(Duration::from_secs(7200)).to_string(), "2h");
        assert_eq!(Dur(Duration::from_millis(1500)).to_string(), "1500ms");
    }
}
