//! The logger: env_logger (RUST_LOG as users know it), its text lines by default, or
//! with `--log-format json` one JSON object per line for log shippers: `ts`, `level`,
//! `target`, `msg`, and the record's key-values as fields of their own (a connection's
//! end line carries `peer`, `route`, `duration_ms`, the messages and bytes each way, the
//! close code and reason).

use std::io::Write;

use log::kv::{self, Key, Value, VisitSource};
use serde_json::{Map, Number, Value as Json};

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// env_logger's lines: `[time LEVEL target] message`.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Starts the logger: RUST_LOG, or `info`.
pub fn init(format: LogFormat) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    builder.format_timestamp_millis();
    if format == LogFormat::Json {
        builder.format(|buf, record| {
            let mut line = Map::new();
            line.insert("ts".into(), buf.timestamp_millis().to_string().into());
            line.insert("level".into(), record.level().as_str().into());
            line.insert("target".into(), record.target().into());
            line.insert("msg".into(), record.args().to_string().into());
            let _ = record.key_values().visit(&mut Fields(&mut line));
            writeln!(buf, "{}", Json::Object(line))
        });
    }
    builder.init();
}

/// Copies a record's key-values into the JSON object: numbers as numbers, booleans as
/// booleans, anything else as its text.
struct Fields<'a>(&'a mut Map<String, Json>);

impl<'kvs> VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), kv::Error> {
        let v = if let Some(n) = value.to_u64() {
            Json::Number(n.into())
        } else if let Some(n) = value.to_i64() {
            Json::Number(n.into())
        } else if let Some(n) = value.to_f64().and_then(Number::from_f64) {
            Json::Number(n)
        } else if let Some(b) = value.to_bool() {
            Json::Bool(b)
        } else {
            Json::String(value.to_string())
        };
        self.0.insert(key.as_str().to_string(), v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::kv::Source;

    #[test]
    fn key_values_keep_their_types() {
        let mut line = Map::new();
        let pairs: [(&str, Value<'_>); 3] = [
            ("n", Value::from(7u64)),
            ("s", Value::from("a \"quoted\"\nline")),
            ("b", Value::from(true)),
        ];
        let _ = pairs.as_slice().visit(&mut Fields(&mut line));
        let text = Json::Object(line).to_string();
        assert_eq!(text, r#"{"b":true,"n":7,"s":"a \"quoted\"\nline"}"#);
    }
}
