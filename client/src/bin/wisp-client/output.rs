//! How messages are printed: plain lines (text as it is, binary as hex), with
//! `--timestamps` the UTC time first, or with `--jsonl` one JSON object per message.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use wisp_client::Message;

/// The output settings.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub jsonl: bool,
    pub timestamps: bool,
    pub ping_pong: bool,
}

impl Output {
    /// A message received.
    pub fn incoming(&self, m: &Message) {
        self.print(m, "in");
    }

    /// A message sent: only JSON lines show them.
    pub fn outgoing(&self, m: &Message) {
        if self.jsonl {
            self.print(m, "out");
        }
    }

    fn print(&self, m: &Message, direction: &str) {
        let control = matches!(m, Message::Ping(_) | Message::Pong(_));
        if matches!(m, Message::Close(_)) || (control && !self.ping_pong) {
            return;
        }
        let line = if self.jsonl {
            json_line(&now(), direction, m)
        } else {
            let body = match m {
                Message::Text(t) => t.clone(),
                Message::Binary(b) => hex(b),
                Message::Ping(p) => format!("[ping] {}", String::from_utf8_lossy(p)),
                Message::Pong(p) => format!("[pong] {}", String::from_utf8_lossy(p)),
                Message::Close(_) => return,
            };
            if self.timestamps {
                format!("{} {body}", now())
            } else {
                body
            }
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

fn hex(b: &[u8]) -> String {
    let hex: Vec<String> = b.iter().take(64).map(|x| format!("{x:02x}")).collect();
    let more = if b.len() > 64 { " ..." } else { "" };
    format!("binary({}): {}{more}", b.len(), hex.join(" "))
}

/// One JSON object: `{"time":..,"direction":"in"|"out","type":..,"text"|"base64":..}`.
pub fn json_line(time: &str, direction: &str, m: &Message) -> String {
    let (kind, field, value) = match m {
        Message::Text(t) => ("text", "text", json_string(t)),
        Message::Binary(b) => ("binary", "base64", json_string(&base64(b))),
        Message::Ping(p) => ("ping", "base64", json_string(&base64(p))),
        Message::Pong(p) => ("pong", "base64", json_string(&base64(p))),
        Message::Close(_) => ("close", "text", json_string("")),
    };
    format!(
        "{{\"time\":{},\"direction\":\"{direction}\",\"type\":\"{kind}\",\"{field}\":{value}}}",
        json_string(time)
    )
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Now, UTC, as `2026-12-07T20:13:00.123Z`.
pub fn now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs(), d.subsec_millis())
}

fn rfc3339(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_796_645_580, 7), "2026-12-07T12:13:00.007Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000Z");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(
            json_line("t", "in", &Message::Text("a\"b\n\u{1}".into())),
            r#"{"time":"t","direction":"in","type":"text","text":"a\"b\n\u0001"}"#
        );
        assert_eq!(
            json_line("t", "out", &Message::Binary(vec![0xff])),
            r#"{"time":"t","direction":"out","type":"binary","base64":"/w=="}"#
        );
    }
}
